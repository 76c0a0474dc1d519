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
FEW_TEXTS = 32  # calls with fewer texts are scored term by term (see ``_TermScorer``)


class LinearModel(ModelFamily):
    """TF-IDF word n-grams (``word_ngrams``) and character n-grams (``char_ngrams``; ``(0, 0)`` turns
    them off) of the first ``max_chars`` characters (title first, so the title and the start of the
    description), weighted by a linear SVM with regularization strength ``C``.

    ``char_analyzer="char_wb"`` keeps character n-grams within words, ``"char"`` lets them span words.
    With ``title_features``, texts of several lines (title, description and other columns, one per
    line) also get the same n-grams of their first line on their own, so a word in the title counts
    more than the same word in a description. They are used only when the training texts have such
    lines; the model records whether it used them.
    """

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
        self.params = {
            "word_ngrams": list(word_ngrams),
            "char_ngrams": list(char_ngrams),
            "char_analyzer": char_analyzer,
            "title_features": title_features,
            "max_chars": max_chars,
            "min_df": min_df,
            "max_features": max_features,
            "C": C,
        }
        self._scorers = None  # the few-texts scorers, made on the first small call

    def _analyzers(self) -> list[tuple[str, tuple[int, int]]]:
        p = self.params
        analyzers = [("word", tuple(p["word_ngrams"]))]
        if p["char_ngrams"][1] > 0:
            analyzers.append((p["char_analyzer"], tuple(p["char_ngrams"])))
        return analyzers

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[TfidfVectorizer]:
        """One vectorizer per analyzer over the whole text, then (with title features) one per analyzer
        over the title line."""
        p = self.params
        analyzers = self._analyzers() * (2 if p["title_features"] else 1)
        vectorizers = []
        for i, (analyzer, ngrams) in enumerate(analyzers):
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

    def _inputs(self, texts: list[str]) -> list[list[str]]:
        """The texts each vectorizer reads: the first ``max_chars`` characters, then the title lines
        ('' for a text of one line, which has no title apart from its description)."""
        limit = self.params["max_chars"]
        cut = [t[:limit] for t in texts] if limit else list(texts)
        n = len(self._analyzers())
        if not self.params["title_features"]:
            return [cut] * n
        titles = [t.split("\n", 1)[0] if "\n" in t else "" for t in texts]
        return [cut] * n + [titles] * n

    def _fit_features(self, texts: list[str]) -> sp.csr_matrix:
        try:
            self.vectorizers_ = self._vectorizers()
            return sp.hstack([v.fit_transform(x) for v, x in zip(self.vectorizers_, self._inputs(texts))], format="csr")
        except ValueError:  # an empty vocabulary: without title features when there are too few titles
            if not self.params["title_features"]:
                raise
            self.params["title_features"] = False
            return self._fit_features(texts)

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        inputs = self._inputs(texts)
        return sp.hstack([v.transform(x) for v, x in zip(self.vectorizers_, inputs)], format="csr")

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
            blocks = np.cumsum([0] + [len(_vocabulary_of(v)) for v in self.vectorizers_])
            self._scorers = [_TermScorer(v, self.coef_[:, start:stop]) for v, start, stop in zip(self.vectorizers_, blocks, blocks[1:])]
        logits = np.tile(self.intercept_, (len(texts), 1))
        for scorer, inputs in zip(self._scorers, self._inputs(texts)):
            for row, text in enumerate(inputs):
                logits[row] += scorer.score(text)
        return logits

    def save(self, directory: Path) -> None:
        vocabularies = [v.get_feature_names_out().tolist() for v in self.vectorizers_]
        (directory / _VOCABULARY).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
        idfs = {f"idf_{i}": v.idf_.astype(np.float32) for i, v in enumerate(self.vectorizers_)}
        np.savez_compressed(directory / _ARRAYS, coef=self.coef_, intercept=self.intercept_, **idfs)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LinearModel":
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        vocabularies = json.loads((directory / _VOCABULARY).read_text(encoding="utf-8"))
        # The saved vocabularies say whether this model learned title features (settings shared by
        # several models, such as a hierarchical model's levels, may not).
        model.params["title_features"] = len(vocabularies) > len(model._analyzers())
        with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
            model.vectorizers_ = model._vectorizers(vocabularies)
            for i, vectorizer in enumerate(model.vectorizers_):
                vectorizer.idf_ = arrays[f"idf_{i}"]
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        return model


def _vocabulary_of(vectorizer: TfidfVectorizer) -> dict[str, int]:
    # A fitted vectorizer has ``vocabulary_``; one rebuilt from saved vocabularies has only ``vocabulary``
    # until its first ``transform``.
    return getattr(vectorizer, "vocabulary_", None) or vectorizer.vocabulary


class _TermScorer:
    """One vectorizer's share of the linear model's scores, for one text, without scikit-learn's call.

    ``TfidfVectorizer.transform`` checks its input and builds sparse matrices on every call: for one
    product that costs several times the work itself. This scores the same terms (the vectorizer's own
    analyzer) with the same weighting: sublinear term frequency, idf, l2 norm.
    """

    def __init__(self, vectorizer: TfidfVectorizer, coef: np.ndarray):
        self.analyze = vectorizer.build_analyzer()
        self.term_id = _vocabulary_of(vectorizer).get
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
