"""A linear model over TF-IDF word n-grams and character n-grams (scikit-learn): the fast workhorse.

Saved as plain arrays (``linear.npz``, loaded with ``allow_pickle=False``) and the vocabularies as
JSON, never as a pickled scikit-learn object.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from prodcat.models.base import FitData, ModelFamily

_ARRAYS = "linear.npz"
_VOCABULARY = "vocabulary.json"


class LinearModel(ModelFamily):
    """TF-IDF word n-grams (``word_ngrams``) and character n-grams within words (``char_ngrams``;
    ``(0, 0)`` turns them off) of the first ``max_chars`` characters (title first, so the title and the
    start of the description), weighted by a linear SVM with regularization strength ``C``."""

    name = "linear"

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        max_chars: int | None = 500,
        min_df: int = 2,
        max_features: int | None = 400_000,
        C: float = 0.5,
    ):
        self.params = {
            "word_ngrams": list(word_ngrams),
            "char_ngrams": list(char_ngrams),
            "max_chars": max_chars,
            "min_df": min_df,
            "max_features": max_features,
            "C": C,
        }

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[TfidfVectorizer]:
        p = self.params
        specs = [("word", tuple(p["word_ngrams"]))]
        if p["char_ngrams"][1] > 0:
            specs.append(("char_wb", tuple(p["char_ngrams"])))
        vectorizers = []
        for i, (analyzer, ngrams) in enumerate(specs):
            vocabulary = None if vocabularies is None else {term: j for j, term in enumerate(vocabularies[i])}
            vectorizers.append(
                TfidfVectorizer(
                    analyzer=analyzer,
                    ngram_range=ngrams,
                    min_df=1 if vocabulary else p["min_df"],
                    max_features=None if vocabulary else p["max_features"],
                    sublinear_tf=True,
                    lowercase=False,
                    token_pattern=r"(?u)\b\w+\b" if analyzer == "word" else None,
                    vocabulary=vocabulary,
                    dtype=np.float32,
                )
            )
        return vectorizers

    def _cut(self, texts: list[str]) -> list[str]:
        limit = self.params["max_chars"]
        return [t[:limit] for t in texts] if limit else texts

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        texts = self._cut(texts)
        return sp.hstack([v.transform(texts) for v in self.vectorizers_], format="csr")

    def fit(self, data: FitData) -> "LinearModel":
        self.vectorizers_ = self._vectorizers()
        texts = self._cut(data.texts)
        features = sp.hstack([v.fit_transform(texts) for v in self.vectorizers_], format="csr")
        classifier = LinearSVC(C=self.params["C"], class_weight=data.class_weight, random_state=data.seed)
        classifier.fit(features, data.y)
        coef, intercept = classifier.coef_, classifier.intercept_
        if data.n_labels == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._features(texts) @ self.coef_.T) + self.intercept_

    def save(self, directory: Path) -> None:
        vocabularies = [v.get_feature_names_out().tolist() for v in self.vectorizers_]
        (directory / _VOCABULARY).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
        idfs = {f"idf_{i}": v.idf_.astype(np.float32) for i, v in enumerate(self.vectorizers_)}
        np.savez_compressed(directory / _ARRAYS, coef=self.coef_, intercept=self.intercept_, **idfs)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LinearModel":
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        vocabularies = json.loads((directory / _VOCABULARY).read_text(encoding="utf-8"))
        with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
            model.vectorizers_ = model._vectorizers(vocabularies)
            for i, vectorizer in enumerate(model.vectorizers_):
                vectorizer.idf_ = arrays[f"idf_{i}"]
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        return model
