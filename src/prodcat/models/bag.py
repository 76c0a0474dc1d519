"""A bag of word and word-bigram embeddings, averaged (the fastText architecture), in Keras.

The fastest family: tokenizing, n-grams and the vocabulary lookup run inside TensorFlow's own
string kernels, and the network is one embedding average and one softmax layer. Both are linear, so
at prediction each token's embedding is multiplied by the softmax layer's kernel once, at load, and a
text's scores are the average of its tokens' rows. A saved model runs that in NumPy, from the
``.keras`` file's vocabulary and weights read as data (``SavedNetwork``), without TensorFlow; a model
trained in this process runs batches in one TensorFlow graph and a few texts at a time in NumPy.
Training uses the Keras network as built; tests check every path against it.
"""

from __future__ import annotations

from itertools import repeat
from pathlib import Path

import numpy as np

from prodcat.errors import ModelError
from prodcat.models.keras_family import KerasFamily, SavedNetwork, infer_in_batches

START_TOKEN = "xxstart"
OUT_OF_VOCABULARY_ID = 1  # TextVectorization's id for "[UNK]"
MAX_SEQUENCE_LENGTH = 200
NUMPY_BELOW_ROWS = 32  # a model trained in this process: calls with fewer texts run in NumPy, bigger ones in TensorFlow


class BagModel(KerasFamily):
    """Averaged embeddings of the words and ``ngrams``-grams in the first ``max_chars`` characters.

    ``sequence_length`` caps the tokens (words and n-grams) per text. ``None`` sets it at fit to the
    longest training text's count, at most ``MAX_SEQUENCE_LENGTH``: short titles then carry little
    padding and predict several times faster (the padding is masked out of the average either way).

    ``sparse_updates``: Adam updates only the embedding rows each batch touches (``_sparse_adam``);
    Keras's Adam updates every row of the vocabulary every step.

    Batches of 256, a step (``learning_rate``) of 5e-3, and early stopping on the validation rows
    ending training (``epochs=None``: see ``KerasFamily``). With a cap of 15 epochs, catalogs of many
    labels and few rows per label stopped at the cap still learning (grouped 3-fold cross-validation
    on training rows, ``benchmarks/bag_cv.py``: BigBasket type 0.642 against 0.663 without the cap,
    MWPD lvl1 0.861 against 0.874); catalogs that stop earlier train the same with or without it. A step of 1e-2
    scored 0.1 points more on the mean of the four cross-validated catalogs, but 1.3 points less on
    a generated catalog of 300,000 rows (``benchmarks/train_scale.py``). Several times faster than
    Keras's Adam with batches of 32.
    """

    name = "bag"

    def __init__(
        self,
        *,
        max_tokens: int = 200_000,
        ngrams: int = 2,
        max_chars: int | None = 500,
        sequence_length: int | None = None,
        embedding_dim: int = 64,
        dropout: float = 0.2,
        epochs: int | None = None,
        batch_size: int = 256,
        learning_rate: float = 5e-3,
        patience: int = 2,
        sparse_updates: bool = True,
    ):
        self.params = {
            "max_tokens": max_tokens,
            "ngrams": ngrams,
            "max_chars": max_chars,
            "sequence_length": sequence_length,
            "embedding_dim": embedding_dim,
            "dropout": dropout,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "patience": patience,
            "sparse_updates": sparse_updates,
        }
        self._numpy = None  # the NumPy inference, made on the first small call
        self._graph = None  # the TensorFlow inference, made on the first batch
        self._rows = None  # what both share: ``_token_rows`` of the trained network
        self.model_ = None  # the Keras network, once trained (a loaded model has only ``_rows`` and ``_numpy``)

    def _compile(self, keras, model):
        """Adam; with ``sparse_updates``, one that updates only the embedding rows a batch touches."""
        if not self.params["sparse_updates"]:
            return super()._compile(keras, model)
        model.compile(optimizer=_sparse_adam(keras)(self.params["learning_rate"]), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def _trainer(self, keras, model):
        """With ``sparse_updates``, the same layers with the embedding looked up by a sparse gather
        from its variable. Keras's ``Embedding`` reads the whole variable, and once the optimizer has
        updated rows of it in place, TensorFlow copies all of it on every read: 45 ms a step of 256
        rows with a 200,000-row vocabulary against 12 ms with the gather (same weights, same outputs)."""
        if not self.params["sparse_updates"]:
            return model
        x = model.get_layer("vectorize")(model.inputs[0])
        x = _sparse_lookup(keras)(model.get_layer("embed"))(x)
        for name in ("average", "dropout", "probabilities"):
            x = model.get_layer(name)(x)
        return keras.Model(model.inputs, x, name="prodcat_bag_training")

    def _cut(self, texts: list[str]) -> list[str]:
        # Every text starts with one fixed token, so no row is all padding (its average would be 0 / 0).
        return [f"{START_TOKEN} {text}" for text in super()._cut(texts)]

    def _build(self, keras, texts: list[str], n_labels: int):
        self._numpy = self._graph = self._rows = self.source_ = None
        p = self.params
        if p["sequence_length"] is None:
            longest = max((len(_tokens(t, p["ngrams"])) for t in texts), default=MAX_SEQUENCE_LENGTH)
            p["sequence_length"] = max(1, min(longest, MAX_SEQUENCE_LENGTH))
        vectorize = keras.layers.TextVectorization(
            max_tokens=p["max_tokens"],
            ngrams=p["ngrams"],
            output_sequence_length=p["sequence_length"],
            standardize="lower_and_strip_punctuation",
            name="vectorize",
        )
        vectorize.adapt(np.asarray(texts, dtype=object))
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        x = vectorize(inputs)
        x = keras.layers.Embedding(vectorize.vocabulary_size(), p["embedding_dim"], mask_zero=True, name="embed")(x)
        x = keras.layers.GlobalAveragePooling1D(name="average")(x)
        x = keras.layers.Dropout(p["dropout"], name="dropout")(x)
        outputs = keras.layers.Dense(n_labels, activation="softmax", name="probabilities")(x)
        return keras.Model(inputs, outputs, name="prodcat_bag")

    def logits(self, texts: list[str]) -> np.ndarray:
        """The softmax layer's input (not its log output, as for other Keras families)."""
        if self._rows is None:
            self._rows = _token_rows(*(np.asarray(w, dtype=np.float32) for w in (
                self.model_.get_layer("embed").get_weights()[0], *self.model_.get_layer("probabilities").get_weights())))
        if len(texts) >= NUMPY_BELOW_ROWS and self.model_ is not None:
            if self._graph is None:
                self._graph = _GraphBag(self.model_, *self._rows)
            return self._graph.logits(self._cut(texts))
        if self._numpy is None:
            # Plain ``str``: the layer returns ``numpy.str_``, which keeps a dictionary off CPython's fast
            # path for string keys (every lookup about a third slower).
            vocabulary = [str(token) for token in self.model_.get_layer("vectorize").get_vocabulary()]
            self._numpy = _NumpyBag(vocabulary, *self._rows, self.params["ngrams"], self.params["sequence_length"])
        return self._numpy.logits(self._cut(texts))

    @property
    def n_outputs(self) -> int:
        return super().n_outputs if self.model_ is not None else int(self._rows[2].shape[0])

    @classmethod
    def load(cls, directory: Path, params: dict) -> "BagModel":
        """The saved network in NumPy, read without Keras or TensorFlow."""
        network = SavedNetwork.read(directory)
        vectorize = network.layer("vectorize")
        found = {"standardize": vectorize.get("standardize"), "split": vectorize.get("split"), "ngrams": vectorize.get("ngrams") or 1,
                 "output_sequence_length": vectorize.get("output_sequence_length"), "mask_zero": network.layer("embed").get("mask_zero"),
                 "softmax": network.layer("probabilities").get("activation"), "average": "average" in network.layers}
        network.check({"standardize": "lower_and_strip_punctuation", "split": "whitespace", "ngrams": params.get("ngrams", 2),
                       "output_sequence_length": params.get("sequence_length"), "mask_zero": True, "softmax": "softmax", "average": True},
                      found, "bag")
        model = cls(**params)
        embeddings, kernel, bias = (network.weight(f"layers/{w}") for w in ("embedding/vars/0", "dense/vars/0", "dense/vars/1"))
        if embeddings.shape[0] != len(network.vocabulary) or kernel.shape[0] != embeddings.shape[1] or kernel.shape[1] != bias.shape[0]:
            raise ModelError(f"{network.file}: its vocabulary ({len(network.vocabulary)} tokens) and weights do not fit "
                                       "together; retrain or restore the model")
        model._rows = _token_rows(embeddings, kernel, bias)
        model._numpy = _NumpyBag(network.vocabulary, *model._rows, model.params["ngrams"], model.params["sequence_length"])
        model.source_ = network.path
        return model


def _sparse_lookup(keras):
    """A layer that looks token ids up in an ``Embedding``'s weights with a sparse gather (and masks
    id 0, as ``mask_zero`` does); used in training only, never saved."""
    import tensorflow as tf

    class SparseLookup(keras.layers.Layer):
        def __init__(self, embedding, **kwargs):
            super().__init__(**kwargs)
            self.embedding = embedding

        def call(self, ids):
            return tf.gather(self.embedding.embeddings.value, ids)

        def compute_mask(self, ids, mask=None):
            return keras.ops.not_equal(ids, 0)

    return SparseLookup


def _sparse_adam(keras):
    """Adam that updates, for an embedding's gradient (rows of a few tokens), only those rows and their
    moments ("lazy" Adam, as TensorFlow Addons' LazyAdam): Keras's Adam updates all of a 200,000-row
    embedding on every step. Other weights get Keras's Adam as it is."""
    import tensorflow as tf

    class SparseAdam(keras.optimizers.Adam):
        def update_step(self, gradient, variable, learning_rate):
            if not isinstance(gradient, tf.IndexedSlices):
                return super().update_step(gradient, variable, learning_rate)
            step = tf.cast(self.iterations + 1, variable.dtype)
            alpha = tf.cast(learning_rate, variable.dtype) * tf.sqrt(1 - self.beta_2**step) / (1 - self.beta_1**step)
            rows, position = tf.unique(gradient.indices)
            values = tf.math.unsorted_segment_sum(tf.cast(gradient.values, variable.dtype), position, tf.shape(rows)[0])
            m = self._momentums[self._get_variable_index(variable)]
            v = self._velocities[self._get_variable_index(variable)]
            m_rows = self.beta_1 * tf.gather(m.value, rows) + (1 - self.beta_1) * values
            v_rows = self.beta_2 * tf.gather(v.value, rows) + (1 - self.beta_2) * tf.square(values)
            self.assign(m, tf.IndexedSlices(m_rows, rows))
            self.assign(v, tf.IndexedSlices(v_rows, rows))
            self.assign_sub(variable, tf.IndexedSlices(alpha * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))
            return None

    return SparseAdam


def _token_rows(embeddings: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The network's embeddings and softmax layer as ``(rows, kernel, bias)``: a text's logits are the
    average of its tokens' ``rows`` (then times ``kernel``, when it is not ``None``) plus ``bias``.

    The average and the softmax layer's product are both linear, so with fewer labels than embedding
    dimensions each token's embedding is multiplied by the kernel once, here, and a text then averages a
    few numbers per token instead of a whole embedding. Row 0 (padding) is zero.
    """
    rows, kernel = (embeddings @ kernel, None) if kernel.shape[1] < embeddings.shape[1] else (embeddings.copy(), kernel)
    rows[0] = 0.0  # on a copy: the network's own weights stay as they are
    return rows, kernel, bias


class _GraphBag:
    """The bag network's inference for batches, as one TensorFlow graph over the saved vectorizer's
    token ids and ``_token_rows``: about twice as fast as the Keras network on the ecommerce texts.
    """

    def __init__(self, model, rows: np.ndarray, kernel: np.ndarray | None, bias: np.ndarray):
        import tensorflow as tf

        vectorize = model.get_layer("vectorize")
        rows, kernel, bias = (None if w is None else tf.constant(w) for w in (rows, kernel, bias))

        def infer(batch):
            ids = vectorize(batch)
            counts = tf.reduce_sum(tf.cast(ids > 0, tf.float32), axis=1, keepdims=True)
            averages = tf.reduce_sum(tf.gather(rows, ids), axis=1) / counts
            if kernel is not None:
                averages = tf.matmul(averages, kernel)
            return averages + bias

        self._infer = tf.function(infer, input_signature=[tf.TensorSpec([None, 1], tf.string)])

    def logits(self, texts: list[str]) -> np.ndarray:
        return infer_in_batches(self._infer, texts)


class _NumpyBag:
    """The bag network's inference in NumPy, from its vocabulary (plain ``str``) and ``_token_rows``.

    It mirrors the saved graph on normalized text (already lowercase, without punctuation): words
    split on white space, then their n-grams, cut to the sequence length, looked up (unknown: 1),
    averaged, and the softmax layer, whose input it returns as the logits. One product's whole
    budget is tens of microseconds, most of it in looking tokens up.
    """

    def __init__(self, vocabulary: list[str], rows: np.ndarray, kernel: np.ndarray | None, bias: np.ndarray, ngrams: int, sequence_length: int):
        if ngrams == 2:
            self.words, self.token_id = _words_and_pairs(vocabulary), None
        else:
            self.words, self.token_id = None, dict(zip(vocabulary, range(len(vocabulary)))).get
        self.rows, self.kernel, self.bias = rows, kernel, bias
        self.ngrams, self.sequence_length = ngrams, sequence_length

    def logits(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:  # one product: no stacking, the fewest NumPy calls
            averages = self._average(texts[0])[None]
        else:  # every text's tokens in one array, each text's rows summed by one reduceat
            ids = [self._token_ids(text) for text in texts]
            counts = np.fromiter(map(len, ids), dtype=np.intp, count=len(ids))
            if not counts.all():  # reduceat cannot sum nothing (``_cut`` gives every text a token)
                raise ValueError("a text without tokens has no average")
            starts = np.zeros(len(ids), dtype=np.intp)
            np.cumsum(counts[:-1], out=starts[1:])
            averages = np.add.reduceat(self.rows.take(np.concatenate(ids), axis=0), starts, axis=0)
            averages /= counts[:, None]
        if self.kernel is not None:
            averages = averages @ self.kernel
        averages += self.bias
        return averages

    def _average(self, text: str) -> np.ndarray:
        ids = self._token_ids(text)
        return np.add.reduce(self.rows.take(ids, axis=0), axis=0) * (1.0 / len(ids))

    def _token_ids(self, text: str) -> np.ndarray:
        """The ids of ``_tokens(text, ngrams)[:sequence_length]``, in that order."""
        if self.words is None:
            tokens = _tokens(text, self.ngrams)[: self.sequence_length]
            return np.fromiter(map(self.token_id, tokens, repeat(OUT_OF_VOCABULARY_ID)), dtype=np.intp, count=len(tokens))
        # Word pairs without making their strings: a word's entry is one small dictionary with its own
        # id (key "") and the ids of the pairs it starts (keys: their second words), so a pair is found
        # there instead of in the whole vocabulary. Every step maps a C function over the words: no
        # Python code runs per token, and each word touches few objects (most lookups miss the caches).
        words = text.split()
        entries = list(map(self.words.get, words, repeat(_UNKNOWN_WORD)))
        ids = list(map(dict.__getitem__, entries, repeat(_OWN_ID)))
        ids += map(dict.get, entries, words[1:], repeat(OUT_OF_VOCABULARY_ID))
        if len(ids) > self.sequence_length:
            del ids[self.sequence_length :]
        return np.array(ids, dtype=np.intp)


_OWN_ID = ""  # the key of a word's own id in its entry (no word is empty)
_UNKNOWN_WORD = {_OWN_ID: OUT_OF_VOCABULARY_ID}  # shared, never changed


def _words_and_pairs(vocabulary: list[str]) -> dict[str, dict[str, int]]:
    """Each first word of the vocabulary's tokens with its entry: its own id under ``_OWN_ID``
    (unknown: 1) and the ids of the word pairs it starts, by their second word.

    Every word is one string object, whether it keys the outer dictionary or a pair in an entry: a
    lookup that finds its key compares the strings, and far fewer distinct objects then have to be
    reached in memory (timed among the other ecommerce models, about 5% faster a call).
    """
    words: dict[str, dict[str, int]] = {}
    # Each word's single string object. ``sys.intern`` would do the same job, but timed it lost the gain
    # (0-1% against 4-9% in the same harness), so the objects are kept here.
    one_object = {}
    for token_id, token in enumerate(vocabulary):
        first, space, second = token.partition(" ")
        first, second = one_object.setdefault(first, first), one_object.setdefault(second, second)
        entry = words.get(first)
        if entry is None:
            entry = words[first] = {_OWN_ID: OUT_OF_VOCABULARY_ID}
        entry[second if space else _OWN_ID] = token_id
    return words


def _tokens(text: str, ngrams: int) -> list[str]:
    """The tokens the vectorizer makes of normalized ``text``, in its order: the words, then the
    word n-grams of each length up to ``ngrams``."""
    words = text.split()
    if ngrams == 2:  # the default, and the common case: pairs without slicing
        return words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    tokens = list(words)
    for n in range(2, ngrams + 1):
        tokens += [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    return tokens
