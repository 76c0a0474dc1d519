"""A linear model over TF-IDF word n-grams and character n-grams (scikit-learn): the fast workhorse.

Saved as plain arrays (``linear.npz``, loaded with ``allow_pickle=False``) and the vocabularies as
JSON, never as a pickled scikit-learn object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from prodcat.models.base import FitData
from prodcat.models.tfidf import TfidfFamily, vocabulary_of

_ARRAYS = "linear.npz"
FEW_TEXTS = 32  # calls with fewer texts are scored term by term (see ``_TermScorer``)


class LinearModel(TfidfFamily):
    """The TF-IDF features (see ``TfidfFamily`` for their settings) weighted by a linear SVM with
    regularization strength ``C``."""

    name = "linear"

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
        C: float = 0.5,
    ):
        super().__init__(word_ngrams=word_ngrams, char_ngrams=char_ngrams, char_analyzer=char_analyzer,
                         title_features=title_features, max_chars=max_chars, min_df=min_df, max_features=max_features)
        self.params["C"] = C
        self._scorers = None  # the few-texts scorers, made on the first small call

    def fit(self, data: FitData) -> "LinearModel":
        self._scorers = None
        features = self._fit_features(data.texts)
        classifier = LinearSVC(C=self.params["C"], class_weight=data.class_weight, random_state=data.seed)
        classifier.fit(features, data.y)
        coef, intercept = classifier.coef_, classifier.intercept_
        if data.n_labels == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        if len(texts) < FEW_TEXTS:
            return self._few_logits(texts)
        return np.asarray(self._features(texts) @ self.coef_.T) + self.intercept_

    def _few_logits(self, texts: list[str]) -> np.ndarray:
        if self._scorers is None:
            self._scorers = [_TermScorer(v, self.coef_[:, start:stop]) for v, (start, stop) in zip(self.vectorizers_, self._feature_blocks())]
        logits = np.tile(self.intercept_, (len(texts), 1))
        for scorer, inputs in zip(self._scorers, self._inputs(texts)):
            for row, text in enumerate(inputs):
                logits[row] += scorer.score(text)
        return logits

    def save(self, directory: Path) -> None:
        idfs = self._save_features(directory)
        np.savez_compressed(directory / _ARRAYS, coef=self.coef_, intercept=self.intercept_, **idfs)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LinearModel":
        with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
            model = cls._with_features(directory, params, arrays)
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        return model


class _TermScorer:
    """One vectorizer's share of the linear model's scores, for one text, without scikit-learn's call.

    ``TfidfVectorizer.transform`` checks its input and builds sparse matrices on every call: for one
    product that costs several times the work itself. This scores the same terms (the vectorizer's own
    analyzer) with the same weighting: sublinear term frequency, idf, l2 norm.
    """

    def __init__(self, vectorizer: TfidfVectorizer, coef: np.ndarray):
        self.analyze = vectorizer.build_analyzer()
        self.term_id = vocabulary_of(vectorizer).get
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float32)
        # One row per term, copied: with many labels, gathering a few hundred rows is several times
        # faster than gathering the same columns of the model's coefficients.
        self.weights = np.ascontiguousarray(coef.T)

    def score(self, text: str) -> np.ndarray | float:
        """This vectorizer's contribution to each label's score (0.0 for a text without known terms)."""
        ids = [i for i in map(self.term_id, self.analyze(text)) if i is not None]
        if not ids:
            return 0.0
        terms, counts = np.unique(np.asarray(ids, dtype=np.intp), return_counts=True)
        tfidf = (np.log(counts, dtype=np.float32) + 1) * self.idf[terms]
        tfidf /= np.sqrt(tfidf @ tfidf)
        return tfidf @ self.weights[terms]
