"""The reference architecture: Keras 3 on TensorFlow, text vectorization inside the model.

Embedding, bidirectional LSTM, dropout and a softmax layer, trained with early stopping on the
validation split. Strings go into the saved ``model.keras`` and probabilities come out; it is
loaded with ``safe_mode=True``, so nothing in the file can run code.
"""

from __future__ import annotations

import numpy as np

from prodcat.models.keras_family import KerasFamily


class LSTMModel(KerasFamily):
    """The reference LSTM. Every setting has a ``prodcat train`` flag of the same name.

    ``sequence_length`` is the most tokens kept per text. When the longest training text has fewer,
    texts are padded only to its length: the padding is masked either way, so the model computes
    the same function, but short titles (a grocery catalog's) train and predict several times faster.
    """

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
        longest = max((len(t.split()) for t in texts), default=p["sequence_length"])
        vectorize = keras.layers.TextVectorization(
            max_tokens=p["max_tokens"],
            output_sequence_length=max(1, min(p["sequence_length"], longest)),
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
        return keras.Model(inputs, outputs, name="prodcat_lstm")
