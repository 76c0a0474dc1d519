"""What the TF-IDF families share: word and character n-grams of the text and of its title line.

Saved as JSON vocabularies and plain idf arrays, never as a pickled scikit-learn object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prodcat import artifacts
from prodcat.errors import ModelError
from prodcat.models.base import ModelFamily

if TYPE_CHECKING:  # scikit-learn and SciPy are imported where features are made for many texts
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

_VOCABULARY = "vocabulary.json"
FEW_TEXTS = 32  # calls with fewer texts are weighted term by term (see ``TermWeighting``)


class TfidfFamily(ModelFamily):
    """TF-IDF word n-grams (``word_ngrams``) and character n-grams (``char_ngrams``; ``(0, 0)`` turns
    them off) of the first ``max_chars`` characters (title first, so the title and the start of the
    description). Subclasses add their own settings and what they learn from the features.

    ``char_analyzer="char_wb"`` keeps character n-grams within words, ``"char"`` lets them span words.
    With ``title_features``, texts of several lines (title, description and other columns, one per
    line) also get the same n-grams of their first line on their own, so a word in the title counts
    more than the same word in a description. They are used only when the training texts have such
    lines; the model records whether it used them.
    """

    _built = None  # the vectorizers, once fitted or built from a loaded model's ``_saved`` state
    _saved = None  # a loaded model's (vocabularies, idf arrays) until its vectorizers are built

    def __init__(self, **features):
        """``features`` are the settings above. Each subclass names them, with their defaults, in its
        own signature: ``Categorizer`` checks a family's settings against that signature."""
        self.params = {**features, "word_ngrams": list(features["word_ngrams"]), "char_ngrams": list(features["char_ngrams"])}
        self._weightings = None  # the few-texts weighting, made on the first small call

    @property
    def vectorizers_(self) -> list[TfidfVectorizer]:
        """The fitted scikit-learn vectorizers. A loaded model builds them on first use (a call of
        ``FEW_TEXTS`` texts or more), so that a few texts are weighed without importing scikit-learn."""
        if self._built is None and self._saved is not None:
            vocabularies, idfs = self._saved
            vectorizers = self._vectorizers(vocabularies)
            for vectorizer, idf in zip(vectorizers, idfs):
                vectorizer.idf_ = idf
            self._built, self._saved = vectorizers, None
        if self._built is None:
            raise AttributeError("vectorizers_: the model is not fitted")
        return self._built

    @vectorizers_.setter
    def vectorizers_(self, vectorizers: list[TfidfVectorizer]) -> None:
        self._built, self._saved = vectorizers, None

    def _analyzers(self) -> list[tuple[str, tuple[int, int]]]:
        p = self.params
        analyzers = [("word", tuple(p["word_ngrams"]))]
        if p["char_ngrams"][1] > 0:
            analyzers.append((p["char_analyzer"], tuple(p["char_ngrams"])))
        return analyzers

    def _vectorizers(self, vocabularies: list[list[str]] | None = None) -> list[TfidfVectorizer]:
        """One vectorizer per analyzer over the whole text, then (with title features) one per analyzer
        over the title line."""
        from sklearn.feature_extraction.text import TfidfVectorizer

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
        """Fit the vectorizers on ``texts`` and return their features; title features only where some
        texts have a title line and their terms make a vocabulary (each vectorizer is fitted once)."""
        self._weightings = None
        if self.params["title_features"] and not any("\n" in t for t in texts):
            self.params["title_features"] = False
        import scipy.sparse as sp

        vectorizers, inputs = self._vectorizers(), self._inputs(texts)
        blocks = [vectorizers[i].fit_transform(inputs[i]) for i in range(len(self._analyzers()))]
        try:
            blocks += [v.fit_transform(x) for v, x in zip(vectorizers[len(blocks):], inputs[len(blocks):])]
        except ValueError:  # an empty vocabulary: too few titles
            self.params["title_features"] = False
        self.vectorizers_ = vectorizers[: len(blocks)]
        return sp.hstack(blocks, format="csr")

    def _keep_frequent_terms(self, texts: list[str], features: sp.csr_matrix, n_terms: int) -> sp.csr_matrix:
        """Keep the ``n_terms`` terms found in the most ``texts`` (over all vectorizers; ``features`` are
        the texts' features) and return the texts' features over those terms alone."""
        in_texts = np.bincount(features.indices, minlength=features.shape[1])
        keep = np.sort(np.argsort(-in_texts, kind="stable")[:n_terms])
        vocabularies, idfs = [], []
        for vectorizer, (start, stop) in zip(self.vectorizers_, self._feature_blocks()):
            kept = keep[(keep >= start) & (keep < stop)] - start
            vocabularies.append(vectorizer.get_feature_names_out()[kept].tolist())
            idfs.append(vectorizer.idf_[kept])
        self.vectorizers_ = self._vectorizers(vocabularies)  # as a saved model's are rebuilt
        for vectorizer, idf in zip(self.vectorizers_, idfs):
            vectorizer.idf_ = idf
        self._weightings = None
        return self._features(texts)  # each row's weights normalized again over the terms kept

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        import scipy.sparse as sp

        inputs = self._inputs(texts)
        return sp.hstack([v.transform(x) for v, x in zip(self.vectorizers_, inputs)], format="csr")

    def _few_features(self, texts: list[str]) -> sp.csr_matrix:
        """``_features(texts)`` computed term by term: the same numbers, for a call of a few texts."""
        import scipy.sparse as sp

        blocks = self._feature_blocks()
        weighed = [[weigh(text) for text in inputs] for weigh, inputs in zip(self._term_weightings(), self._inputs(texts))]
        indices, data, indptr = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.float32)], [0]
        for row in range(len(texts)):
            count = indptr[-1]
            for (start, _), by_text in zip(blocks, weighed):
                terms, weights = by_text[row]
                indices.append(terms + start)
                data.append(weights)
                count += len(terms)
            indptr.append(count)
        return sp.csr_matrix((np.concatenate(data), np.concatenate(indices), indptr), shape=(len(texts), blocks[-1][1]))

    def _term_weightings(self) -> list["TermWeighting"]:
        """One ``TermWeighting`` per vectorizer, made on the first call of a few texts."""
        if self._weightings is None:
            analyzers = self._analyzers() * (2 if self.params["title_features"] else 1)
            if self._saved is not None:  # a loaded model, vectorizers not built yet
                vocabularies = [{term: i for i, term in enumerate(terms)} for terms in self._saved[0]]
                idfs = self._saved[1]
            else:
                vocabularies, idfs = [vocabulary_of(v) for v in self.vectorizers_], [v.idf_ for v in self.vectorizers_]
            self._weightings = [TermWeighting(term_analyzer(*analyzer), vocabulary, idf)
                                for analyzer, vocabulary, idf in zip(analyzers, vocabularies, idfs)]
        return self._weightings

    def _feature_blocks(self) -> list[tuple[int, int]]:
        """Each vectorizer's columns in the features, as (start, stop)."""
        sizes = [len(terms) for terms in self._saved[0]] if self._saved is not None else [len(vocabulary_of(v)) for v in self.vectorizers_]
        blocks = np.cumsum([0] + sizes)
        return list(zip(blocks[:-1].tolist(), blocks[1:].tolist()))

    def _save_features(self, directory: Path) -> dict[str, np.ndarray]:
        """Write the vocabularies; returns the idf arrays, for the subclass's own array file."""
        vocabularies = [v.get_feature_names_out().tolist() for v in self.vectorizers_]
        (directory / _VOCABULARY).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
        return {f"idf_{i}": v.idf_.astype(np.float32) for i, v in enumerate(self.vectorizers_)}

    @classmethod
    def _with_features(cls, directory: Path, params: dict, arrays) -> "TfidfFamily":
        """A model with its vectorizers rebuilt from the saved vocabularies and the idf ``arrays``."""
        model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
        vocabularies = artifacts.read_model_json(directory, _VOCABULARY)
        if not isinstance(vocabularies, list) or len(vocabularies) not in (len(model._analyzers()), 2 * len(model._analyzers())):
            raise ModelError(f"{directory / _VOCABULARY}: does not hold this model's {len(model._analyzers())} vocabularies; retrain or restore the model")
        # The saved vocabularies say whether this model learned title features (settings shared by
        # several models, such as a hierarchical model's levels, may not).
        model.params["title_features"] = len(vocabularies) > len(model._analyzers())
        idfs = [arrays[f"idf_{i}"] for i in range(len(vocabularies))]
        for i, idf in enumerate(idfs):
            if idf.shape != (len(vocabularies[i]),):
                raise ModelError(f"{directory}: idf_{i} has {idf.shape} weights for {len(vocabularies[i])} terms; retrain or restore the model")
        model._saved = (vocabularies, idfs)  # the vectorizers are built on first use
        return model


class TermWeighting:
    """One vectorizer's TF-IDF weights of one text, without scikit-learn's call.

    ``TfidfVectorizer.transform`` checks its input and builds sparse matrices on every call: for one
    product that costs several times the work itself. This weighs the same terms (``term_analyzer``,
    the vectorizer's own n-grams) the same way: sublinear term frequency, idf, l2 norm.
    """

    _NONE = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32))

    def __init__(self, analyze: Callable[[str], list[str]], vocabulary: dict[str, int], idf: np.ndarray):
        self.analyze = analyze
        self.term_id = vocabulary.get
        self.idf = np.asarray(idf, dtype=np.float32)

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's term ids (sorted) and their weights; both empty for a text without known terms."""
        ids = [i for i in map(self.term_id, self.analyze(text)) if i is not None]
        if not ids:
            return self._NONE
        terms, counts = np.unique(np.asarray(ids, dtype=np.intp), return_counts=True)
        weights = (np.log(counts, dtype=np.float32) + 1) * self.idf[terms]
        weights /= np.sqrt(weights @ weights)
        return terms, weights


_WHITE_SPACES = re.compile(r"\s\s+")
_WORD = re.compile(r"(?u)\b\w+\b")


def term_analyzer(analyzer: str, ngrams: tuple[int, int]) -> Callable[[str], list[str]]:
    r"""The n-grams scikit-learn's ``TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams,
    lowercase=False, token_pattern=r"(?u)\b\w+\b")`` makes of a text, without importing it (a test
    compares the two): ``"word"``, ``"char_wb"`` or ``"char"``."""
    low, high = ngrams

    def words(text: str) -> list[str]:
        tokens = _WORD.findall(text)
        grams = list(tokens) if low == 1 else []
        for n in range(max(low, 2), min(high, len(tokens)) + 1):
            grams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def chars_within_words(text: str) -> list[str]:
        grams = []
        for word in _WHITE_SPACES.sub(" ", text).split():
            word = f" {word} "
            for n in range(low, high + 1):
                grams += [word[i : i + n] for i in range(max(1, len(word) - n + 1))]
                if len(word) <= n:  # a short word counts once
                    break
        return grams

    def chars(text: str) -> list[str]:
        text = _WHITE_SPACES.sub(" ", text)
        return [text[i : i + n] for n in range(low, min(high, len(text)) + 1) for i in range(len(text) - n + 1)]

    return {"word": words, "char_wb": chars_within_words, "char": chars}[analyzer]


def vocabulary_of(vectorizer: TfidfVectorizer) -> dict[str, int]:
    # A fitted vectorizer has ``vocabulary_``; one rebuilt from saved vocabularies has only ``vocabulary``
    # until its first ``transform``.
    return getattr(vectorizer, "vocabulary_", None) or vectorizer.vocabulary
