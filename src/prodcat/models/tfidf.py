"""What the TF-IDF families share: word and character n-grams of the text and of its title line.

Saved as JSON vocabularies and plain idf arrays, never as a pickled scikit-learn object.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from prodcat.models.base import ModelFamily

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

    def __init__(self, **features):
        """``features`` are the settings above. Each subclass names them, with their defaults, in its
        own signature: ``Categorizer`` checks a family's settings against that signature."""
        self.params = {**features, "word_ngrams": list(features["word_ngrams"]), "char_ngrams": list(features["char_ngrams"])}
        self._weightings = None  # the few-texts weighting, made on the first small call

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
        """Fit the vectorizers on ``texts`` and return their features; title features only where some
        texts have a title line and their terms make a vocabulary (each vectorizer is fitted once)."""
        self._weightings = None
        if self.params["title_features"] and not any("\n" in t for t in texts):
            self.params["title_features"] = False
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
        inputs = self._inputs(texts)
        return sp.hstack([v.transform(x) for v, x in zip(self.vectorizers_, inputs)], format="csr")

    def _few_features(self, texts: list[str]) -> sp.csr_matrix:
        """``_features(texts)`` computed term by term: the same numbers, for a call of a few texts."""
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
            self._weightings = [TermWeighting(v) for v in self.vectorizers_]
        return self._weightings

    def _feature_blocks(self) -> list[tuple[int, int]]:
        """Each vectorizer's columns in the features, as (start, stop)."""
        blocks = np.cumsum([0] + [len(vocabulary_of(v)) for v in self.vectorizers_])
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
        vocabularies = json.loads((directory / _VOCABULARY).read_text(encoding="utf-8"))
        # The saved vocabularies say whether this model learned title features (settings shared by
        # several models, such as a hierarchical model's levels, may not).
        model.params["title_features"] = len(vocabularies) > len(model._analyzers())
        model.vectorizers_ = model._vectorizers(vocabularies)
        for i, vectorizer in enumerate(model.vectorizers_):
            vectorizer.idf_ = arrays[f"idf_{i}"]
        return model


class TermWeighting:
    """One vectorizer's TF-IDF weights of one text, without scikit-learn's call.

    ``TfidfVectorizer.transform`` checks its input and builds sparse matrices on every call: for one
    product that costs several times the work itself. This weighs the same terms (the vectorizer's own
    analyzer) the same way: sublinear term frequency, idf, l2 norm.
    """

    _NONE = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32))

    def __init__(self, vectorizer: TfidfVectorizer):
        self.analyze = vectorizer.build_analyzer()
        self.term_id = vocabulary_of(vectorizer).get
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float32)

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The text's term ids (sorted) and their weights; both empty for a text without known terms."""
        ids = [i for i in map(self.term_id, self.analyze(text)) if i is not None]
        if not ids:
            return self._NONE
        terms, counts = np.unique(np.asarray(ids, dtype=np.intp), return_counts=True)
        weights = (np.log(counts, dtype=np.float32) + 1) * self.idf[terms]
        weights /= np.sqrt(weights @ weights)
        return terms, weights


def vocabulary_of(vectorizer: TfidfVectorizer) -> dict[str, int]:
    # A fitted vectorizer has ``vocabulary_``; one rebuilt from saved vocabularies has only ``vocabulary``
    # until its first ``transform``.
    return getattr(vectorizer, "vocabulary_", None) or vectorizer.vocabulary
