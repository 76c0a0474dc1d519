"""The peers prodcat is compared with, behind one small interface: fit, predict, scores, save, load.

* ``fasttext`` / ``fasttext-nosubword``: fastText supervised (``fasttext-wheel``), word bigrams,
  25 epochs, learning rate 0.5, with character n-grams of 2 to 5 letters or without; other settings
  are fastText's defaults (dim 100, 2M hash buckets, so the .bin is about 800 MB). The learning rate
  is the one of fastText's text-classification tutorial: the default 0.1 underfits badly with
  subwords (weighted F1 0.40 against 0.89 on the quick ecommerce split). ``thread=2``: fastText is
  only deterministic with one thread, so its scores can move a little from run to run.
* ``tfidf-svm``: scikit-learn's usual baseline, TF-IDF over word 1-2 grams with sublinear TF and a
  ``LinearSVC(C=1)``.
* ``tfidf-word-char-svm``: the stronger ten-line script, TF-IDF word 1-2 grams and ``char_wb`` 2-5
  grams (sublinear TF, side by side) and a ``LinearSVC(C=1)``.

Peers get the raw texts prodcat gets, only lowercased (and, for fastText, on one line). They are not
normalized the way prodcat normalizes.
"""

from __future__ import annotations

import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SEED = 42


class Peer(ABC):
    """A model from another library, trained on raw texts and labels."""

    name: str = ""

    @abstractmethod
    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "Peer":
        """Learn from ``texts`` and ``labels``; return self."""

    @abstractmethod
    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """A score per text and label (columns in the order of ``labels_``); what a caller needs to
        rank categories, the counterpart of prodcat's ``predict_proba``."""

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The best label of each text."""
        return [self.labels_[i] for i in self.scores(texts).argmax(axis=1)]

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the model's files into the existing ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> "Peer":
        """Read a model written by ``save``."""


def _one_line(text: str) -> str:
    return " ".join(text.lower().split())


class FastTextPeer(Peer):
    """fastText supervised classification. Labels are written as ``__label__<index>`` so that any
    label text (spaces, underscores) maps back exactly; the labels are kept in ``labels.json``."""

    _MODEL, _LABELS = "model.bin", "labels.json"

    def __init__(self, name: str = "fasttext", *, subwords: bool = True, epoch: int = 25, lr: float = 0.5,
                 word_ngrams: int = 2, thread: int = 2):
        self.name = name
        self.settings = {
            "epoch": epoch,
            "lr": lr,
            "wordNgrams": word_ngrams,
            "minn": 2 if subwords else 0,
            "maxn": 5 if subwords else 0,
            "thread": thread,
            "seed": SEED,
            "verbose": 0,
        }

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "FastTextPeer":
        import fasttext

        self.labels_ = sorted(set(labels))
        index = {label: i for i, label in enumerate(self.labels_)}
        handle, path = tempfile.mkstemp(prefix="prodcat-bench-fasttext-", suffix=".txt")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                for text, label in zip(texts, labels):
                    out.write(f"__label__{index[label]} {_one_line(text)}\n")
            self.model_ = fasttext.train_supervised(input=path, **self.settings)
        finally:
            os.unlink(path)
        return self

    def _ranked(self, text: str) -> list[tuple[float, str]]:
        # fasttext-wheel 0.9.2 under NumPy 2: ``predict(str)`` fails on ``np.array(copy=False)`` and
        # ``predict(list)`` returns the top probability in every column; the binding's own
        # ``predict`` on one line is correct, so it is called text by text.
        return self.model_.f.predict(_one_line(text) + "\n", -1, 0.0, "strict")

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros((len(texts), len(self.labels_)), dtype=np.float32)
        for row, text in enumerate(texts):
            for probability, label in self._ranked(text):
                result[row, int(label.removeprefix("__label__"))] = probability
        return result

    def predict(self, texts: Sequence[str]) -> list[str]:
        best = [self.model_.f.predict(_one_line(t) + "\n", 1, 0.0, "strict") for t in texts]
        return [self.labels_[int(b[0][1].removeprefix("__label__"))] if b else "" for b in best]

    def save(self, directory: Path) -> None:
        self.model_.save_model(str(directory / self._MODEL))
        (directory / self._LABELS).write_text(json.dumps(self.labels_, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "FastTextPeer":
        import fasttext

        peer = cls()
        peer.model_ = fasttext.load_model(str(directory / cls._MODEL))
        peer.labels_ = json.loads((directory / cls._LABELS).read_text(encoding="utf-8"))
        return peer


class TfidfSvmPeer(Peer):
    """TF-IDF word 1-2 grams (sublinear TF) and ``LinearSVC(C=1)``. Saved as the vocabulary (JSON),
    the IDF weights and the SVM's coefficients (NumPy arrays, no pickle)."""

    name = "tfidf-svm"
    _ARRAYS, _VOCABULARY = "arrays.npz", "vocabulary.json"

    def _vectorizer(self, vocabulary: list[str] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        mapping = None if vocabulary is None else {term: i for i, term in enumerate(vocabulary)}
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, vocabulary=mapping, dtype=np.float32)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TfidfSvmPeer":
        from sklearn.svm import LinearSVC

        self.vectorizer_ = self._vectorizer()
        features = self.vectorizer_.fit_transform(texts)
        classifier = LinearSVC(C=1.0, random_state=SEED).fit(features, labels)
        self.labels_ = classifier.classes_.tolist()
        self.coef_, self.intercept_ = classifier.coef_.astype(np.float32), classifier.intercept_.astype(np.float32)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        decision = np.asarray(self.vectorizer_.transform(texts) @ self.coef_.T) + self.intercept_
        if len(self.labels_) == 2:  # scikit-learn keeps one column for two classes
            decision = np.hstack([-decision, decision])
        return decision

    def save(self, directory: Path) -> None:
        vocabulary = self.vectorizer_.get_feature_names_out().tolist()
        (directory / self._VOCABULARY).write_text(json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(
            directory / self._ARRAYS,
            idf=self.vectorizer_.idf_.astype(np.float32),
            coef=self.coef_,
            intercept=self.intercept_,
            labels=np.array(self.labels_, dtype=str),
        )

    @classmethod
    def load(cls, directory: Path) -> "TfidfSvmPeer":
        peer = cls()
        peer.vectorizer_ = peer._vectorizer(json.loads((directory / cls._VOCABULARY).read_text(encoding="utf-8")))
        with np.load(directory / cls._ARRAYS, allow_pickle=False) as arrays:
            peer.vectorizer_.idf_ = arrays["idf"]
            peer.coef_, peer.intercept_ = arrays["coef"], arrays["intercept"]
            peer.labels_ = arrays["labels"].tolist()
        return peer


class TfidfWordCharSvmPeer(Peer):
    """TF-IDF word 1-2 grams and char_wb 2-5 grams (sublinear TF), stacked, and ``LinearSVC(C=1)``.
    Saved as the two vocabularies (JSON) and plain arrays (no pickle)."""

    name = "tfidf-word-char-svm"
    _ARRAYS, _VOCABULARY = "arrays.npz", "vocabularies.json"
    _ANALYZERS = (("word", (1, 2)), ("char_wb", (2, 5)))

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return [TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams, sublinear_tf=True, lowercase=True, dtype=np.float32,
                                vocabulary=None if vocabularies is None else {t: i for i, t in enumerate(vocabularies[k])})
                for k, (analyzer, ngrams) in enumerate(self._ANALYZERS)]

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> "TfidfWordCharSvmPeer":
        import scipy.sparse as sp
        from sklearn.svm import LinearSVC

        self.vectorizers_ = self._vectorizers()
        features = sp.hstack([v.fit_transform(texts) for v in self.vectorizers_], format="csr")
        classifier = LinearSVC(C=1.0, random_state=SEED).fit(features, labels)
        self.labels_ = classifier.classes_.tolist()
        self.coef_, self.intercept_ = classifier.coef_.astype(np.float32), classifier.intercept_.astype(np.float32)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        import scipy.sparse as sp

        features = sp.hstack([v.transform(texts) for v in self.vectorizers_], format="csr")
        decision = np.asarray(features @ self.coef_.T) + self.intercept_
        if len(self.labels_) == 2:
            decision = np.hstack([-decision, decision])
        return decision

    def save(self, directory: Path) -> None:
        vocabularies = [v.get_feature_names_out().tolist() for v in self.vectorizers_]
        (directory / self._VOCABULARY).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
        idfs = {f"idf_{k}": v.idf_.astype(np.float32) for k, v in enumerate(self.vectorizers_)}
        np.savez_compressed(directory / self._ARRAYS, coef=self.coef_, intercept=self.intercept_,
                            labels=np.array(self.labels_, dtype=str), **idfs)

    @classmethod
    def load(cls, directory: Path) -> "TfidfWordCharSvmPeer":
        peer = cls()
        peer.vectorizers_ = peer._vectorizers(json.loads((directory / cls._VOCABULARY).read_text(encoding="utf-8")))
        with np.load(directory / cls._ARRAYS, allow_pickle=False) as arrays:
            for k, vectorizer in enumerate(peer.vectorizers_):
                vectorizer.idf_ = arrays[f"idf_{k}"]
            peer.coef_, peer.intercept_ = arrays["coef"], arrays["intercept"]
            peer.labels_ = arrays["labels"].tolist()
        return peer


PEERS = {
    "fasttext": lambda: FastTextPeer("fasttext", subwords=True),
    "fasttext-nosubword": lambda: FastTextPeer("fasttext-nosubword", subwords=False),
    "tfidf-svm": TfidfSvmPeer,
    "tfidf-word-char-svm": TfidfWordCharSvmPeer,
}
PEER_CLASSES = {"fasttext": FastTextPeer, "fasttext-nosubword": FastTextPeer, "tfidf-svm": TfidfSvmPeer,
                "tfidf-word-char-svm": TfidfWordCharSvmPeer}


def make_peer(name: str) -> Peer:
    """A new, unfitted peer called ``name`` (one of ``PEERS``)."""
    return PEERS[name]()


def load_peer(name: str, directory: Path) -> Peer:
    """The peer called ``name`` saved in ``directory``."""
    peer = PEER_CLASSES[name].load(directory)
    peer.name = name
    return peer
