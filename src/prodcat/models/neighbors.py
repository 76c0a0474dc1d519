"""Nearest neighbours over TF-IDF n-grams: a product is put where the most similar training products are.

Catalogs hold many near-copies (the same product in another size, colour or pack), which a neighbour
finds where a linear model may not; as a member of the ensemble it adds what the other families miss.
Saved as plain arrays (``neighbors.npz``, loaded with ``allow_pickle=False``) and JSON vocabularies.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from prodcat import artifacts
from prodcat.errors import DataError, ModelError
from prodcat.models.base import FitData
from prodcat.models.tfidf import FEW_TEXTS, TfidfFamily

_ARRAYS = "neighbors.npz"
_ROWS_PER_CHUNK = 256  # texts compared with the whole training set at once (bounds the memory)
_VOTE_FLOOR = 1e-3  # a label no neighbour votes for, relative to the nearest neighbour's vote


class NeighborsModel(TfidfFamily):
    """The ``k`` training texts most similar to a text (cosine of the TF-IDF features; see
    ``TfidfFamily`` for their settings) vote for their labels. A neighbour's vote is
    ``exp((similarity - best similarity) / similarity_scale)``, times its label's class weight, so
    a closer neighbour counts more; the logits are the log of the votes."""

    name = "neighbors"

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        char_analyzer: str = "char_wb",
        title_features: bool = True,
        max_chars: int | None = 500,
        min_df: int = 2,
        max_features: int | None = 400_000,
        k: int = 10,
        similarity_scale: float = 0.05,
    ):
        super().__init__(word_ngrams=word_ngrams, char_ngrams=char_ngrams, char_analyzer=char_analyzer,
                         title_features=title_features, max_chars=max_chars, min_df=min_df, max_features=max_features)
        if k < 1 or similarity_scale <= 0:
            raise DataError(f"k must be at least 1 and similarity_scale above 0; got k={k}, similarity_scale={similarity_scale}")
        self.params.update(k=k, similarity_scale=similarity_scale)

    def fit(self, data: FitData) -> "NeighborsModel":
        # Kept term by term (one row per n-gram, its training texts as columns): a text's similarities
        # then touch only the rows of its own n-grams.
        self.texts_by_term_ = unit_rows(self._fit_features(data.texts)).astype(np.float32).T.tocsr()
        self.train_y_ = np.asarray(data.y, dtype=np.int32)
        weights = np.ones(data.n_labels, dtype=np.float32)
        for label, weight in (data.class_weight or {}).items():
            weights[label] = weight
        self.label_weights_ = weights
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.label_weights_)), dtype=np.float32)
        features = unit_rows(self._few_features(texts) if len(texts) < FEW_TEXTS else self._features(texts))
        return np.vstack([self._vote(features[i:i + _ROWS_PER_CHUNK]) for i in range(0, len(texts), _ROWS_PER_CHUNK)])

    def _vote(self, features: sp.csr_matrix) -> np.ndarray:
        similarity = (features @ self.texts_by_term_).toarray()
        k = min(self.params["k"], similarity.shape[1])
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        closeness = np.take_along_axis(similarity, nearest, axis=1)
        best = closeness.max(axis=1, keepdims=True)
        votes = np.exp((closeness - best) / self.params["similarity_scale"]) * self.label_weights_[self.train_y_[nearest]]
        totals = np.zeros((len(nearest), len(self.label_weights_)), dtype=np.float64)
        np.add.at(totals, (np.arange(len(nearest))[:, None], self.train_y_[nearest]), votes)
        logits = np.log(totals + _VOTE_FLOOR * totals.max(axis=1, keepdims=True))
        logits[best[:, 0] <= 0] = 0.0  # shares no term with any training text: no opinion
        return logits.astype(np.float32)

    def save(self, directory: Path) -> None:
        idfs = self._save_features(directory)
        m = self.texts_by_term_
        np.savez_compressed(directory / _ARRAYS, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.array(m.shape),
                            train_y=self.train_y_, label_weights=self.label_weights_, **idfs)

    @property
    def n_outputs(self) -> int:
        return int(self.label_weights_.shape[0])

    @classmethod
    def load(cls, directory: Path, params: dict) -> "NeighborsModel":
        with artifacts.open_model_file(directory, _ARRAYS) as file, np.load(file, allow_pickle=False) as arrays:
            model = cls._with_features(directory, params, arrays)
            model.texts_by_term_ = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"]))
            model.train_y_, model.label_weights_ = arrays["train_y"], arrays["label_weights"]
        terms, texts = model.texts_by_term_.shape
        y = model.train_y_
        if (model.label_weights_.ndim != 1 or terms != model._feature_blocks()[-1][1] or y.shape != (texts,)
                or (len(y) and not 0 <= y.min() <= y.max() < model.n_outputs)):
            raise ModelError(f"{directory / _ARRAYS}: its arrays do not fit together (texts, terms, labels); retrain or restore the model")
        return model


def unit_rows(features: sp.spmatrix) -> sp.csr_matrix:
    """Each row scaled to unit length (a row of zeros stays zero): scikit-learn's ``normalize``, whose
    import (about 2 s) a prediction would otherwise wait for."""
    features = sp.csr_matrix(features)
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ features)
