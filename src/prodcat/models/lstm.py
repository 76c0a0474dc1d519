"""The reference architecture: Keras 3 on TensorFlow, text vectorization inside the model.

Embedding, bidirectional LSTM, dropout and a softmax layer, trained with early stopping on the
validation split. Strings go into the saved ``model.keras`` and probabilities come out.

A saved model predicts without TensorFlow: ``load`` reads the ``.keras`` file's vocabulary and weights
as data (its JSON, a text file and an HDF5 file, with ``h5py``; nothing in it can run code) and
``NumpyLSTM`` runs the network in NumPy, step by step as Keras does. Importing TensorFlow takes
seconds, so a ``prodcat predict`` or a server start with an LSTM model is that much faster, and a
machine that only predicts needs no TensorFlow. Tests check it against the Keras network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prodcat.errors import ModelError
from prodcat.models.keras_family import KerasFamily, SavedNetwork


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
        self._numpy = None  # a loaded model's network, in NumPy (``NumpyLSTM``)

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

    def fit(self, data) -> "LSTMModel":
        self._numpy = self.source_ = None
        return super().fit(data)

    def logits(self, texts: list[str]) -> np.ndarray:
        if self._numpy is not None:
            return self._numpy.logits(texts)
        return super().logits(texts)

    @property
    def n_outputs(self) -> int:
        return self._numpy.n_outputs if self._numpy is not None else super().n_outputs

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LSTMModel":
        model = cls(**params)
        network = SavedNetwork.read(directory)
        model._numpy, model.source_ = NumpyLSTM.of(network), network.path
        return model


class NumpyLSTM:
    """The saved LSTM network's inference in NumPy: the vectorizer on normalized text (already lowercase,
    without punctuation: words split on white space, the first ``sequence_length``, looked up, unknown
    1, padding 0 and masked), the embedding, the LSTM in each direction over a text's own tokens (as
    Keras's masking does: the forward one ends at its last token, the backward one starts there), and
    the softmax layer, whose output's logarithm it returns, as ``KerasFamily.logits`` does."""

    BATCH = 512  # texts run together, sorted by length so that a batch holds little padding

    def __init__(self, vocabulary: list[str], sequence_length: int, embeddings: np.ndarray,
                 directions: list[tuple[np.ndarray, np.ndarray, np.ndarray]], kernel: np.ndarray, bias: np.ndarray):
        self.token_id = dict(zip(vocabulary, range(len(vocabulary)))).get
        self.sequence_length = sequence_length
        self.embeddings, self.directions, self.kernel, self.bias = embeddings, directions, kernel, bias

    @property
    def n_outputs(self) -> int:
        return int(self.bias.shape[0])

    @classmethod
    def of(cls, network: SavedNetwork) -> "NumpyLSTM":
        """The saved ``network``'s LSTM; a one-line ``ModelError`` if it is not prodcat's LSTM."""
        vectorize, embed, dense = network.layer("vectorize"), network.layer("embed"), network.layer("probabilities")
        bidirectional = "bilstm" in network.layers
        recurrent = network.layer("bilstm").get("layer", {}).get("config", {}) if bidirectional else network.layer("lstm")
        expected = {"standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": None, "mask_zero": True,
                    "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "return_sequences": False,
                    "merge_mode": "concat", "softmax": "softmax"}
        found = {**{k: vectorize.get(k) for k in ("standardize", "split", "ngrams")}, "mask_zero": embed.get("mask_zero"),
                 **{k: recurrent.get(k) for k in ("activation", "recurrent_activation", "use_bias", "return_sequences")},
                 "merge_mode": network.layer("bilstm").get("merge_mode") if bidirectional else "concat",
                 "softmax": dense.get("activation"), "sequence_length": isinstance(vectorize.get("output_sequence_length"), int)}
        network.check({**expected, "sequence_length": True}, found, "LSTM")
        cells = ["bidirectional/forward_layer", "bidirectional/backward_layer"] if bidirectional else ["lstm"]
        directions = [tuple(network.weight(f"layers/{cell}/cell/vars/{i}") for i in range(3)) for cell in cells]
        embeddings = network.weight("layers/embedding/vars/0")
        kernel, bias = network.weight("layers/dense/vars/0"), network.weight("layers/dense/vars/1")
        if len(network.vocabulary) != embeddings.shape[0] or kernel.shape[0] != len(cells) * directions[0][1].shape[0]:
            raise ModelError(f"{network.file}: its vocabulary ({len(network.vocabulary)} tokens) and weights do not fit together; "
                             "retrain or restore the model")
        return cls(network.vocabulary, int(vectorize["output_sequence_length"]), embeddings, directions, kernel, bias)

    def logits(self, texts: list[str]) -> np.ndarray:
        ids = [np.fromiter((self.token_id(w, 1) for w in text.split()[: self.sequence_length]), dtype=np.intp) for text in texts]
        order = np.argsort([len(row) for row in ids], kind="stable")
        probabilities = np.empty((len(texts), self.n_outputs), dtype=np.float32)
        for start in range(0, len(texts), self.BATCH):
            rows = order[start : start + self.BATCH]
            probabilities[rows] = self._probabilities([ids[i] for i in rows])
        return np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0))

    def _probabilities(self, ids: list[np.ndarray]) -> np.ndarray:
        """The softmax output for texts' token ids, given shortest first."""
        lengths = np.array([len(row) for row in ids])
        steps = max(1, int(lengths.max()))
        forward, backward = np.zeros((len(ids), steps), dtype=np.intp), np.zeros((len(ids), steps), dtype=np.intp)
        for i, row in enumerate(ids):
            forward[i, : len(row)], backward[i, : len(row)] = row, row[::-1]
        states = []
        for sequence, (kernel, recurrent, bias) in zip((forward, backward), self.directions):
            # Each distinct token's embedding times the input kernel once, not once per occurrence.
            tokens, where = np.unique(sequence, return_inverse=True)
            projected = (self.embeddings[tokens] @ kernel + bias)[where.reshape(sequence.shape)]
            states.append(_run_lstm(projected, lengths, recurrent))
        scores = np.concatenate(states, axis=1) @ self.kernel + self.bias
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)


def _run_lstm(projected: np.ndarray, lengths: np.ndarray, recurrent: np.ndarray) -> np.ndarray:
    """Keras's LSTM cell (gates input, forget, cell, output; sigmoid and tanh) over texts' projected
    inputs, shape (texts, steps, 4 x units), shortest text first. A text's steps past its length are
    padding: its state stays, as under Keras's mask. Returns the last state of each text."""
    units = recurrent.shape[0]
    state = np.zeros((projected.shape[0], units), dtype=np.float32)
    cell = np.zeros_like(state)
    # sigmoid(x) = (1 + tanh(x / 2)) / 2: one tanh over all four gates, halved but for the cell's.
    halves = np.full(4 * units, 0.5, dtype=np.float32)
    halves[2 * units : 3 * units] = 1.0
    first_active = np.searchsorted(lengths, np.arange(projected.shape[1]), side="right")  # texts are sorted by length
    for step, k in enumerate(first_active):
        gates = projected[k:, step] + state[k:] @ recurrent
        gates *= halves
        np.tanh(gates, out=gates)
        write, forget, output = (0.5 + 0.5 * gates[:, i * units : (i + 1) * units] for i in (0, 1, 3))
        cell[k:] = forget * cell[k:] + write * gates[:, 2 * units : 3 * units]
        state[k:] = output * np.tanh(cell[k:])
    return state
