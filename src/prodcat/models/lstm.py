"""The reference architecture: Keras 3 on TensorFlow, text vectorization inside the model.

Strings go into the saved ``model.keras`` and probabilities come out; its ``TextVectorization``
layer carries the vocabulary, so no tokenizer file can drift from the weights. Loaded with
``safe_mode=True``: nothing in the file can run code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from prodcat.errors import DependencyError
from prodcat.models.base import FitData, ModelFamily

_MODEL_FILE = "model.keras"


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
        import tensorflow  # noqa: F401  (the backend must be importable too)
    except ImportError:
        raise DependencyError(
            "the LSTM needs TensorFlow and Keras; install them with: pip install 'prodcat[lstm]'"
        ) from None
    return keras


class LSTMModel(ModelFamily):
    """Embedding, bidirectional LSTM, dropout and a softmax layer, trained with early stopping on
    the validation split."""

    name = "lstm"

    def __init__(
        self,
        *,
        max_tokens: int = 30_000,
        sequence_length: int = 120,
        embedding_dim: int = 128,
        lstm_units: int = 64,
        bidirectional: bool = True,
        dropout: float = 0.4,
        epochs: int = 10,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        patience: int = 2,
    ):
        self.params = {
            "max_tokens": max_tokens,
            "sequence_length": sequence_length,
            "embedding_dim": embedding_dim,
            "lstm_units": lstm_units,
            "bidirectional": bidirectional,
            "dropout": dropout,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "patience": patience,
        }

    def _build(self, keras, texts: list[str], n_labels: int):
        p = self.params
        vectorize = keras.layers.TextVectorization(
            max_tokens=p["max_tokens"],
            output_sequence_length=p["sequence_length"],
            standardize="lower_and_strip_punctuation",
            name="vectorize",
        )
        vectorize.adapt(np.asarray(texts, dtype=object))
        recurrent = keras.layers.LSTM(p["lstm_units"], name="lstm")
        if p["bidirectional"]:
            recurrent = keras.layers.Bidirectional(recurrent, name="bilstm")
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        x = vectorize(inputs)
        x = keras.layers.Embedding(vectorize.vocabulary_size(), p["embedding_dim"], mask_zero=True, name="embed")(x)
        x = keras.layers.SpatialDropout1D(p["dropout"] / 2, name="embed_dropout")(x)
        x = recurrent(x)
        x = keras.layers.Dropout(p["dropout"], name="dropout")(x)
        outputs = keras.layers.Dense(n_labels, activation="softmax", name="probabilities")(x)
        model = keras.Model(inputs, outputs, name="prodcat_lstm")
        model.compile(
            optimizer=keras.optimizers.Adam(p["learning_rate"]),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, data: FitData) -> "LSTMModel":
        keras = _keras()
        keras.utils.set_random_seed(data.seed)
        p = self.params
        self.model_ = self._build(keras, data.texts, data.n_labels)
        callbacks = list(data.extra.get("callbacks", []))
        validation = None
        if data.validation_texts is not None and len(data.validation_texts):
            validation = _dataset(data.validation_texts, data.validation_y, p["batch_size"])
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=p["patience"], restore_best_weights=True)
            )
        if data.log_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=data.log_dir))
        result = self.model_.fit(
            _dataset(data.texts, data.y, p["batch_size"], shuffle_seed=data.seed),
            validation_data=validation,
            epochs=p["epochs"],
            shuffle=False,  # the dataset is already shuffled, seeded
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=data.verbose,
        )
        self.history = {key: [float(v) for v in values] for key, values in result.history.items()}
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        import tensorflow as tf

        batches = [texts[i : i + 1024] for i in range(0, len(texts), 1024)]
        probabilities = np.concatenate(
            [self.model_(tf.constant(_strings(batch)), training=False).numpy() for batch in batches]
        )
        return np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))

    def save(self, directory: Path) -> None:
        keras = _keras()
        # A fresh, uncompiled view of the same layers: the file carries no optimizer state (a third of the size).
        inference = keras.Model(self.model_.inputs, self.model_.outputs, name=self.model_.name)
        inference.save(directory / _MODEL_FILE)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LSTMModel":
        keras = _keras()
        model = cls(**params)
        model.model_ = keras.models.load_model(directory / _MODEL_FILE, safe_mode=True, compile=False)
        return model


def _strings(texts: list[str]) -> np.ndarray:
    return np.asarray(texts, dtype=object).reshape(-1, 1)


def _dataset(texts: list[str], y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(_strings(texts)), y))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(texts), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
