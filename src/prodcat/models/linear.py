"""A linear model over TF-IDF word n-grams and character n-grams (scikit-learn): the fast workhorse.

Optionally also over a pretrained sentence encoder's vector of each text (``encoder``), which knows
words the catalog's own n-grams have not seen, at the cost of running a network for every text.

Saved as plain arrays (``linear.npz``, loaded with ``allow_pickle=False``) and the vocabularies as
JSON, never as a pickled scikit-learn object; the encoder's files are copied into ``encoder/``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prodcat import artifacts
from prodcat.data.text import label_text
from prodcat.errors import ModelError
from prodcat.models.base import FitData
from prodcat.models.tfidf import FEW_TEXTS, TermWeighting, TfidfFamily

if TYPE_CHECKING:  # SciPy is imported where features are made for many texts: a few need none
    import scipy.sparse as sp

_ARRAYS = "linear.npz"
# liblinear keeps (features + 1) x labels weights as doubles and crashes past 2**31 of them: one problem
# gets at most this many (1 GiB), more labels are trained one-vs-rest in chunks, with the same result.
CHUNK_WEIGHTS = 2**27
# The model keeps features x labels float32 coefficients: past this many (2 GiB), the rarest features go.
MAX_COEFFICIENTS = 2**29
PARALLEL_ROWS = 20_000  # from this many training rows on, label chunks are trained in parallel processes
_ENCODER = "encoder"  # the folder of the model's copy of its sentence encoder


class LinearModel(TfidfFamily):
    """The TF-IDF features (see ``TfidfFamily`` for their settings) weighted by a linear SVM with
    regularization strength ``C``.

    The defaults (``C=1``, ``char_wb`` 2-5-grams, ``min_df=1``) had the best mean cross-validated F1
    over the training rows of four catalogs (``benchmarks/lodo.py``, BENCHMARKS.md).

    With ``label_name_rows``, every label's name (its words, numbers left out) is one more training
    text of that label: a label of few rows learns the words of its own name.

    ``encoder`` (a known encoder's name, such as ``"all-MiniLM-L6-v2"``, or a folder; see
    ``sentence_encoder``) adds the encoder's unit-length vector of each text's first
    ``encoder_tokens`` tokens to the features, beside the TF-IDF blocks, which have unit length too.

    The SVM is one-vs-rest (liblinear's dual solver); with many labels or rows it is trained in chunks
    of labels, in up to ``n_jobs`` processes (``None``: one per CPU, at most 4; memory permitting).
    """

    name = "linear"

    def __init__(
        self,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        char_analyzer: str = "char_wb",
        title_features: bool = True,
        max_chars: int | None = 500,
        min_df: int = 1,
        max_features: int | None = 400_000,
        C: float = 1.0,
        label_name_rows: bool = True,
        encoder: str | None = None,
        encoder_tokens: int = 32,
        n_jobs: int | None = None,
    ):
        super().__init__(word_ngrams=word_ngrams, char_ngrams=char_ngrams, char_analyzer=char_analyzer,
                         title_features=title_features, max_chars=max_chars, min_df=min_df, max_features=max_features)
        self.params.update(C=C, label_name_rows=label_name_rows, encoder=encoder, encoder_tokens=encoder_tokens, n_jobs=n_jobs)
        self._scorers = None  # the few-texts scorers, made on the first small call
        self.encoder_ = None

    def fit(self, data: FitData) -> "LinearModel":
        import scipy.sparse as sp

        self._scorers, self.encoder_ = None, None
        if self.params["label_name_rows"]:
            data = with_label_name_rows(data)
        if self.params["encoder"]:  # first, so that a missing encoder stops training at once
            from prodcat.models.sentence_encoder import SentenceEncoder, encoder_directory

            self.encoder_ = SentenceEncoder(encoder_directory(self.params["encoder"]), self.params["encoder_tokens"])
        features = self._fit_features(data.texts)
        if features.shape[1] * data.n_labels > MAX_COEFFICIENTS:
            features = self._keep_frequent_terms(data.texts, features, MAX_COEFFICIENTS // data.n_labels)
        if self.encoder_ is not None:
            features = sp.hstack([features, self.encoder_.encode(data.texts)], format="csr")
        self.coef_, self.intercept_ = _one_vs_rest(features, data, self.params["C"], self.params["n_jobs"])
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        if len(texts) >= FEW_TEXTS:
            import scipy.sparse as sp

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

    @property
    def n_outputs(self) -> int:
        return int(self.intercept_.shape[0])

    @classmethod
    def load(cls, directory: Path, params: dict) -> "LinearModel":
        with artifacts.open_model_file(directory, _ARRAYS) as file, np.load(file, allow_pickle=False) as arrays:
            model = cls._with_features(directory, params, arrays)
            model.coef_, model.intercept_ = arrays["coef"], arrays["intercept"]
        if model.params["encoder"]:  # the model's own copy, never the folder it was trained with
            from prodcat.models.sentence_encoder import ENCODER_FILES, SentenceEncoder

            encoder = artifacts.model_subdir(directory, _ENCODER)
            for name in ENCODER_FILES:
                artifacts.model_file(encoder, name)
            model.encoder_ = SentenceEncoder(encoder, model.params["encoder_tokens"])
        features = model._feature_blocks()[-1][1] + (model.encoder_.dim if model.encoder_ is not None else 0)
        if model.intercept_.ndim != 1 or model.coef_.shape != (model.n_outputs, features):
            raise ModelError(f"{directory / _ARRAYS}: coef has shape {model.coef_.shape} and intercept {model.intercept_.shape}, "
                             f"not ({model.n_outputs}, {features}) and ({model.n_outputs},); retrain or restore the model")
        return model


def with_label_name_rows(data: FitData) -> FitData:
    """``data`` with one more training row per label whose name has words: the name, as a text."""
    names = [label_text(name) for name in data.label_names]
    named = [label for label, name in enumerate(names) if name]
    return replace(data, texts=data.texts + [names[label] for label in named],
                   y=np.concatenate([data.y, np.asarray(named, dtype=data.y.dtype)]))


def _one_vs_rest(features: sp.csr_matrix, data: FitData, C: float, n_jobs: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The linear SVM's (coef, intercept) as float32, one row per label, trained in chunks of labels
    where one liblinear problem would be too big, and in parallel where that pays."""
    n_rows, n_features = features.shape
    chunks = _label_chunks(data.n_labels, n_features, _workers(features, n_jobs) if n_rows >= PARALLEL_ROWS else 1)
    settings = {"C": C, "class_weight": data.class_weight, "seed": data.seed}
    if len(chunks) == 1:
        return _fit_labels(features, data.y, None, **settings)
    from joblib import Parallel, delayed

    workers = min(len(chunks), _workers(features, n_jobs)) if n_rows >= PARALLEL_ROWS else 1
    parts = Parallel(n_jobs=workers, backend="loky")(delayed(_fit_labels)(features, data.y, labels, **settings) for labels in chunks)
    coef = np.empty((data.n_labels, n_features), dtype=np.float32)
    intercept = np.empty(data.n_labels, dtype=np.float32)
    for labels, (chunk_coef, chunk_intercept) in zip(chunks, parts):
        coef[labels], intercept[labels] = chunk_coef, chunk_intercept
    return coef, intercept


def _label_chunks(n_labels: int, n_features: int, workers: int) -> list[np.ndarray]:
    """Label ids in chunks of at least 2 (so that no chunk is a two-class problem, which liblinear
    solves differently), small enough for liblinear and, with several workers, one per worker at least."""
    if n_labels <= 2 or (workers == 1 and (n_features + 1) * n_labels <= CHUNK_WEIGHTS):
        return [np.arange(n_labels)]
    size = max(2, min(CHUNK_WEIGHTS // (n_features + 1) - 1, -(-n_labels // workers)))
    chunks = [np.arange(start, min(start + size, n_labels)) for start in range(0, n_labels, size)]
    if len(chunks) > 1 and len(chunks[-1]) < 2:
        chunks[-2:] = [np.concatenate(chunks[-2:])]
    return chunks


def _workers(features: sp.csr_matrix, n_jobs: int | None) -> int:
    """Processes to train in: ``n_jobs``, or one per CPU (at most 4) that the free memory can hold
    (each copies the features, as liblinear's doubles, about 28 bytes per stored value)."""
    if n_jobs is not None:
        return max(1, n_jobs)
    by_memory = int(0.5 * available_memory() // max(1, 28 * features.nnz))
    return max(1, min(4, os.cpu_count() or 1, by_memory))


def available_memory() -> int:
    """Bytes of memory available to a new process (Linux's MemAvailable, page cache included), else
    the free pages; 0 when neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def _fit_labels(features, y: np.ndarray, labels: np.ndarray | None, *, C, class_weight, seed) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest weights of ``labels`` (``None``: every label) as float32 (coef, intercept).

    For a chunk, every row of another label is in one class "other": liblinear trains each class
    against all other rows anyway, so each label's weights are those the whole problem would give."""
    from sklearn.svm import LinearSVC

    if labels is not None:
        y = np.where(np.isin(y, labels), y, -1)
        class_weight = None if class_weight is None else {int(k): class_weight[int(k)] for k in labels}
    # dual=True: liblinear's dual coordinate descent, several times faster on TF-IDF features than the
    # primal solver that dual="auto" picks when there are fewer features than rows.
    classifier = LinearSVC(C=C, class_weight=class_weight, random_state=seed, dual=True)
    classifier.fit(features, y)
    coef, intercept = classifier.coef_, classifier.intercept_
    if labels is not None:
        coef, intercept = coef[1:], intercept[1:]  # the "other" class (-1) sorts first
    elif len(classifier.classes_) == 2:  # scikit-learn keeps one row for two classes
        coef, intercept = np.vstack([-coef, coef]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return coef.astype(np.float32), intercept.astype(np.float32)


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
