"""What every Keras model family shares: lazy import, training with early stopping and TensorBoard,
fast inference through one traced graph, and saving as a native ``.keras`` file loaded in safe mode.

A family only says how to build its network (``_build``). The network takes raw strings: its
``TextVectorization`` layer carries the vocabulary, so no tokenizer file can drift from the weights.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
import zipfile
from pathlib import Path

import numpy as np

from prodcat import artifacts
from prodcat.errors import DependencyError, ModelError
from prodcat.models.base import FitData, ModelFamily

MODEL_FILE = "model.keras"


def import_keras():
    """Keras on TensorFlow, or a one-line fix-it error when they are not installed.

    TensorFlow's native libraries log to stderr while they load (oneDNN notices, absl's "before
    InitializeLog" warning), whatever ``TF_CPP_MIN_LOG_LEVEL`` says; that is silenced unless
    ``TF_CPP_MIN_LOG_LEVEL`` is set to 0 or 1 (``prodcat --debug`` sets 0).
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        with tensorflow_import_silenced():
            import keras
            import tensorflow  # noqa: F401  (the backend must be importable too)
    except ImportError:
        raise DependencyError("this model family needs TensorFlow and Keras; install them with: pip install 'prodcat[lstm]'") from None
    return keras


@contextmanager
def tensorflow_import_silenced():
    """Import TensorFlow inside this block to keep its loading logs off stderr (see ``import_keras``);
    its Python loggers then report errors only."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("0", "1")
    if not quiet:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # file descriptor 2: what native code writes
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    if "tensorflow" in sys.modules:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")


UNTIL_STOPPED_MAX_EPOCHS = 100  # ``epochs=None`` with validation rows: until early stopping, at most this
WITHOUT_VALIDATION_EPOCHS = 15  # ``epochs=None`` without validation rows (nothing to stop on)


class KerasFamily(ModelFamily):
    """Subclasses set ``self.params`` (with ``epochs``, ``batch_size``, ``learning_rate``,
    ``patience`` and optionally ``max_chars``) and implement ``_build(keras, texts, n_labels)``.

    ``epochs`` caps the epochs; early stopping on the validation rows, when there are any, may end
    training before. ``None``: train until early stopping (at most ``UNTIL_STOPPED_MAX_EPOCHS``), or
    ``WITHOUT_VALIDATION_EPOCHS`` epochs without validation rows."""

    def _build(self, keras, texts: list[str], n_labels: int):
        raise NotImplementedError

    def _compile(self, keras, model):
        model.compile(
            optimizer=keras.optimizers.Adam(self.params["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def _trainer(self, keras, model):
        """The network that is trained: ``model`` itself, or another one over the same layers (and so
        the same weights) that trains faster; ``model`` is what is saved and predicts."""
        return model

    def _cut(self, texts: list[str]) -> list[str]:
        limit = self.params.get("max_chars")
        return [t[:limit] for t in texts] if limit else list(texts)

    def fit(self, data: FitData) -> "KerasFamily":
        keras = import_keras()
        keras.utils.set_random_seed(data.seed)
        p = self.params
        texts = self._cut(data.texts)
        self.model_ = self._build(keras, texts, data.n_labels)
        trainer = self._compile(keras, self._trainer(keras, self.model_))
        callbacks = list(data.extra.get("callbacks", []))
        validation = None
        if data.validation_texts is not None and len(data.validation_texts):
            validation = _dataset(self._cut(data.validation_texts), data.validation_y, p["batch_size"])
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=p["patience"], restore_best_weights=True))
        if data.log_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=data.log_dir))
        result = trainer.fit(
            _dataset(texts, data.y, p["batch_size"], shuffle_seed=data.seed),
            validation_data=validation,
            epochs=p["epochs"] or (UNTIL_STOPPED_MAX_EPOCHS if validation is not None else WITHOUT_VALIDATION_EPOCHS),
            shuffle=False,  # the dataset is already shuffled, seeded
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=data.verbose,
        )
        self.history = {key: [float(v) for v in values] for key, values in result.history.items()}
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        if getattr(self, "_infer", None) is None:  # one traced graph: calling the model eagerly runs op by op
            model = self.model_

            def infer(batch):
                return model(batch, training=False)

            self._infer = tf.function(infer, input_signature=[tf.TensorSpec([None, 1], tf.string)], reduce_retracing=True)
        probabilities = infer_in_batches(self._infer, self._cut(texts))
        return np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))  # the softmax output, as logits

    def save(self, directory: Path) -> None:
        keras = import_keras()
        # A fresh, uncompiled view of the same layers: the file carries no optimizer state.
        inference = keras.Model(self.model_.inputs, self.model_.outputs, name=self.model_.name)
        inference.save(directory / MODEL_FILE)

    @property
    def n_outputs(self) -> int:
        return int(self.model_.outputs[0].shape[-1])

    @classmethod
    def load(cls, directory: Path, params: dict) -> "KerasFamily":
        path = artifacts.model_file(directory, MODEL_FILE)
        if not zipfile.is_zipfile(path):  # Keras would call it "not found"
            raise ModelError(f"{directory / MODEL_FILE}: is damaged (not a .keras zip file); retrain or restore the model")
        keras = import_keras()
        model = cls(**params)
        model.model_ = keras.models.load_model(path, safe_mode=True, compile=False)
        return model


def infer_in_batches(infer, texts: list[str], batch_size: int = 1024) -> np.ndarray:
    """``infer`` (a traced graph over a column of strings) on ``texts``, ``batch_size`` at a time."""
    import tensorflow as tf

    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    return np.concatenate([infer(tf.constant(_strings(batch))).numpy() for batch in batches])


def _strings(texts: list[str]) -> np.ndarray:
    return np.asarray(texts, dtype=object).reshape(-1, 1)


def _dataset(texts: list[str], y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(_strings(texts)), y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
