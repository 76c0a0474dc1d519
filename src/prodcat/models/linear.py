"""A linear model over TF-IDF word n-grams and character n-grams (scikit-learn): the fast workhorse.

Optionally also over a pretrained sentence encoder's vector of each text (``encoder``), which knows
words the catalog's own n-grams have not seen, at the cost of running a network for every text.

Saved as plain arrays (``linear.npz``, loaded with ``allow_pickle=False``) and the vocabularies as
JSON, never as a pickled scikit-learn object; the encoder's files are copied into ``encoder/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.svm import LinearSVC

from prodcat.models.base import FitData
from prodcat.models.tfidf import FEW_TEXTS, TermWeighting, TfidfFamily

_ARRAYS = "linear.npz"
_ENCODER = "encoder"  # the folder of the model's copy of its sentence encoder


class LinearModel(TfidfFamily):
    """The TF-IDF features (see ``TfidfFamily`` for their settings) weighted by a linear SVM with
    regularization strength ``C``.

    ``encoder`` (a known encoder's name, such as ``"all-MiniLM-L6-v2"``, or a folder; see
    ``sentence_encoder``) adds the encoder's unit-length vector of each text's first
    ``encoder_tokens`` tokens to the features, beside the TF-IDF blocks, which have unit length too.
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
        encoder: str | None = None,
        encoder_tokens: int = 32,
    ):
        super().__init__(word_ngrams=word_ngrams, char_ngrams=char_ngrams, char_analyzer=char_analyzer,
                         title_features=title_features, max_chars=max_chars, min_df=min_df, max_features=max_features)
        self.params.update(C=C, encoder=encoder, encoder_tokens=encoder_tokens)
        self._scorers = None  # the few-texts scorers, made on the first small call
        self.encoder_ = None

    def fit(self, data: FitData) -> "LinearModel":
        self._scorers, self.encoder_ = None, None
        if self.params["encoder"]:  # first, so that a missing encoder stops training at once
            from prodcat.models.sentence_encoder import SentenceEncoder, encoder_directory

            self.encoder_ = SentenceEncoder(encoder_directory(self.params["encoder"]), self.params["encoder_tokens"])
        features = self._fit_features(data.texts)
        if self.encoder_ is not None:
            features = sp.hstack([features, self.encoder_.encode(data.texts)], format="csr")
        classifier = LinearSVC(C=self.params["C"], class_weight=data.class_weight, random_state=data.seed)
        classifier.fit(features, data.y)
        coef, intercept = classifier.coef_, classifier.intercept_
        if data.n_labels == 2:  # scikit-learn keeps one row for two classes
            coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
        self.coef_ = coef.astype(np.float32)
        self.intercept_ = intercept.astype(np.float32)
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        if len(texts) >= FEW_TEXTS:
            features = self._features(texts)
            if self.encoder_ is not None:
                features = sp.hstack([features, self.encoder_.encode(texts)], format="csr")
            return np.asarray(features @ self.coef_.T) + self.intercept_
        logits = self._few_logits(texts)
        if self.encoder_ is not None:
            logits += self.encoder_.encode(texts) @ self.coef_[:, -self.encoder_.dim :].T
        return logits

    def _few_logits(self, texts: list[str]) -> np.ndarray:
        if self._scorers is None:
            blocks = self._feature_blocks()
            self._scorers = [_TermScorer(w, self.coef_[:, start:stop]) for w, (start, stop) in zip(self._term_weightings(), blocks)]
        logits = np.tile(self.intercept_, (len(texts), 1))
        for scorer, inputs in zip(self._scorers, self._inputs(texts)):
            for row, text in enumerate(inputs):
                logits[row] += scorer.score(text)
        return logits

    def save(self, directory: Path) -> None:
        idfs = self._save_features(directory)
        np.savez_compressed(directory / _ARRAYS, coef=self.coef_, intercept=self.intercept_, **idfs)
        if self.encoder_ is not None:
            self.encoder_.save(directory / _ENCODER)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LinearModel":
        with np.load(directory / _ARRAYS, allow_pickle=False) as arrays:
            model = cls._with_features(directory, params, arrays)
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        if model.params["encoder"]:  # the model's own copy, never the folder it was trained with
            from prodcat.models.sentence_encoder import SentenceEncoder

            model.encoder_ = SentenceEncoder(directory / _ENCODER, model.params["encoder_tokens"])
        return model


class _TermScorer:
    """One vectorizer's share of the linear model's scores, for one text, from its terms' weights."""

    def __init__(self, weighting: TermWeighting, coef: np.ndarray):
        self.weigh = weighting
        # One row per term, copied: with many labels, gathering a few hundred rows is several times
        # faster than gathering the same columns of the model's coefficients.
        self.weights = np.ascontiguousarray(coef.T)

    def score(self, text: str) -> np.ndarray | float:
        """This vectorizer's contribution to each label's score (0.0 for a text without known terms)."""
        terms, tfidf = self.weigh(text)
        return tfidf @ self.weights[terms] if len(terms) else 0.0
