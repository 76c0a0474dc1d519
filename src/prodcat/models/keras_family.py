"""What every Keras model family shares: lazy import, training with early stopping and TensorBoard,
fast inference through one traced graph, and saving as a native ``.keras`` file.

A family only says how to build its network (``_build``) and how to predict from a saved one
(``load``): each reads its file as data (``SavedNetwork``: JSON, a vocabulary and HDF5 weights, no
Keras, nothing that runs) and predicts in NumPy. The network takes raw strings: its
``TextVectorization`` layer carries the vocabulary, so no tokenizer file can drift from the weights.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass
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
        if getattr(self, "model_", None) is None and getattr(self, "source_", None) is not None:
            shutil.copyfile(self.source_, directory / MODEL_FILE)  # loaded, not trained: its file as it is
            return
        keras = import_keras()
        # A fresh, uncompiled view of the same layers: the file carries no optimizer state.
        inference = keras.Model(self.model_.inputs, self.model_.outputs, name=self.model_.name)
        inference.save(directory / MODEL_FILE)

    @property
    def n_outputs(self) -> int:
        return int(self.model_.outputs[0].shape[-1])


@dataclass
class SavedNetwork:
    """A saved ``.keras`` file read as data, without Keras: each layer's configuration by its name, the
    text vectorizer's vocabulary, and every weight by its path in the weights file (such as
    ``layers/embedding/vars/0``). ``file`` is the path to name in errors, ``path`` the file's real path
    (a loaded model saved again copies it)."""

    file: Path
    path: Path
    layers: dict[str, dict]
    vocabulary: list[str]
    weights: dict[str, np.ndarray]

    @classmethod
    def read(cls, directory: Path) -> "SavedNetwork":
        """``directory``'s ``model.keras``; a one-line ``ModelError`` if it is damaged. Its JSON, its
        vocabulary (a text file) and its HDF5 weights are only read: nothing in the file runs."""
        try:
            import h5py
        except ImportError:
            raise DependencyError("reading a Keras model's weights needs h5py; install it with: pip install h5py") from None
        shown, weights = Path(directory) / MODEL_FILE, {}
        with artifacts.open_model_file(directory, MODEL_FILE) as file, zipfile.ZipFile(file) as archive:
            layers = {layer["name"]: layer["config"] for layer in json.loads(archive.read("config.json"))["config"]["layers"]}
            found = [n for n in archive.namelist() if n.startswith("assets/") and n.endswith("/text_vectorization/vocabulary.txt")]
            if len(found) != 1:
                raise ModelError(f"{shown}: has no single vectorizer vocabulary (found {len(found)}); retrain or restore the model")
            vocabulary = archive.read(found[0]).decode("utf-8").split("\n")
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as h5:
                h5.visititems(lambda name, item: weights.__setitem__(name, np.asarray(item, dtype=np.float32)) if isinstance(item, h5py.Dataset) else None)
        return cls(shown, artifacts.model_file(directory, MODEL_FILE), layers, vocabulary, weights)

    def layer(self, name: str) -> dict:
        if not isinstance(self.layers.get(name), dict):
            raise ModelError(f"{self.file}: has no layer {name!r}; retrain or restore the model")
        return self.layers[name]

    def weight(self, path: str) -> np.ndarray:
        if path not in self.weights:
            raise ModelError(f"{self.file}: has no weight {path}; retrain or restore the model")
        return self.weights[path]

    def check(self, expected: dict, found: dict, family: str) -> None:
        """One line naming the settings of the file's network that ``family``'s inference does not run."""
        differ = {k: found.get(k) for k in expected if found.get(k) != expected[k]}
        if differ:
            raise ModelError(f"{self.file}: its network is not prodcat's {family} ({differ}); retrain the model")


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
