"""A linear model that learns in one streaming pass: hashed word and character n-grams, SGD.

Nothing is fitted to the vocabulary (``HashingVectorizer`` maps each n-gram to a column by its hash),
so chunks of a catalog can be learned one after another (``SGDClassifier.partial_fit``) and the
memory needed does not grow with the rows: ``prodcat train --family streaming`` reads the file in
chunks (``prodcat.stream_training``). Saved as plain arrays (``streaming.npz``, loaded with
``allow_pickle=False``); the vectorizers are rebuilt from the settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier

from prodcat import artifacts
from prodcat.models.base import FitData, ModelFamily

_ARRAYS = "streaming.npz"
LEARNING_BATCH = 10_000  # rows whose features are made at once (learning and scoring)


class StreamingModel(ModelFamily):
    """Hashed word n-grams (``word_ngrams``, ``2**word_bits`` columns) and character n-grams
    (``char_ngrams``, ``2**char_bits`` columns) of the first ``max_chars`` characters, each block of
    unit length, weighted by a linear classifier trained with SGD (``loss``, regularization
    ``alpha``, averaged weights). The weights take labels × (2**word_bits + 2**char_bits) × 4 bytes.
    """

    name = "streaming"
    streams = True  # ``prodcat train`` feeds it the catalog in chunks

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        char_analyzer: str = "char_wb",
        word_bits: int = 18,
        char_bits: int = 18,
        max_chars: int | None = 500,
        loss: str = "modified_huber",
        alpha: float = 1e-6,
        chunk_rows: int = 50_000,
    ):
        self.params = {
            "word_ngrams": list(word_ngrams), "char_ngrams": list(char_ngrams), "char_analyzer": char_analyzer,
            "word_bits": word_bits, "char_bits": char_bits, "max_chars": max_chars, "loss": loss, "alpha": alpha,
            "chunk_rows": chunk_rows,
        }
        self._vectorizers = self._make_vectorizers()
        self._classifier = None

    def _make_vectorizers(self) -> list[HashingVectorizer]:
        p = self.params
        common = {"alternate_sign": False, "norm": "l2", "lowercase": False, "dtype": np.float32}
        vectorizers = [HashingVectorizer(analyzer="word", ngram_range=tuple(p["word_ngrams"]), n_features=2 ** p["word_bits"],
                                         token_pattern=r"(?u)\b\w+\b", **common)]
        if p["char_ngrams"][1] > 0:
            vectorizers.append(HashingVectorizer(analyzer=p["char_analyzer"], ngram_range=tuple(p["char_ngrams"]),
                                                 n_features=2 ** p["char_bits"], **common))
        return vectorizers

    def features(self, texts: list[str]) -> sp.csr_matrix:
        """The hashed n-grams of normalized ``texts``, one row each."""
        limit = self.params["max_chars"]
        cut = [t[:limit] for t in texts] if limit else list(texts)
        return sp.hstack([v.transform(cut) for v in self._vectorizers], format="csr")

    # -- learning in chunks -----------------------------------------------------------------------
    def begin(self, n_labels: int, seed: int = 42) -> "StreamingModel":
        """Start learning ``n_labels`` labels (ids ``0 .. n_labels-1``) from chunks given to ``learn``."""
        self._labels = np.arange(n_labels)
        self._classifier = SGDClassifier(loss=self.params["loss"], alpha=self.params["alpha"], average=True, random_state=seed)
        return self

    def learn(self, texts: list[str], y: np.ndarray, sample_weight: np.ndarray | None = None) -> None:
        """One SGD pass over a chunk of normalized texts and their label ids (shuffled by the classifier)."""
        for start in range(0, len(texts), LEARNING_BATCH):  # bounded memory: the features of one batch at a time
            part = slice(start, start + LEARNING_BATCH)
            self._classifier.partial_fit(self.features(texts[part]), y[part], classes=self._labels,
                                         sample_weight=None if sample_weight is None else sample_weight[part])

    def finish(self) -> "StreamingModel":
        """Keep the learned weights as float32 arrays, one row per label."""
        if self._classifier is None or not hasattr(self._classifier, "coef_"):
            raise ValueError("the streaming model saw no training rows")
        coef, intercept = self._classifier.coef_, self._classifier.intercept_
        if len(self._labels) == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_, self.intercept_ = coef.astype(np.float32), intercept.astype(np.float32)
        self._classifier = None
        return self

    # -- the family contract ----------------------------------------------------------------------
    def fit(self, data: FitData) -> "StreamingModel":
        """Learn from texts held in memory, in shuffled batches, as from a stream."""
        self.begin(data.n_labels, data.seed)
        order = np.random.default_rng(data.seed).permutation(len(data.texts))
        weights = None
        if data.class_weight:
            weights = np.array([data.class_weight[int(label)] for label in data.y[order]], dtype=np.float64)
        self.learn([data.texts[i] for i in order], data.y[order], weights)
        return self.finish()

    def logits(self, texts: list[str]) -> np.ndarray:
        batches = [self.features(texts[i : i + LEARNING_BATCH]) @ self.coef_.T for i in range(0, len(texts), LEARNING_BATCH)]
        return (np.vstack(batches) if batches else np.zeros((0, len(self.intercept_)), np.float32)) + self.intercept_

    @property
    def n_outputs(self) -> int:
        return int(self.coef_.shape[0])

    def save(self, directory: Path) -> None:
        np.savez_compressed(directory / _ARRAYS, coef=self.coef_, intercept=self.intercept_)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "StreamingModel":
        model = cls(**params)
        with artifacts.open_model_file(directory, _ARRAYS) as file, np.load(file, allow_pickle=False) as arrays:
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        width = sum(v.n_features for v in model._vectorizers)
        if model.coef_.ndim != 2 or model.coef_.shape[1] != width:
            raise ValueError(f"{_ARRAYS} has weights for {model.coef_.shape[-1]} features, the settings make {width}")
        return model
