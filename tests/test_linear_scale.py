"""The linear family with many labels: trained one-vs-rest in chunks of labels, with the result the
whole problem gives, and without keeping more coefficients than it can hold."""

from __future__ import annotations

import numpy as np
import pytest

from prodcat.categorizer import Categorizer
from prodcat.models import linear

SETTINGS = {"char_ngrams": [2, 4], "max_features": 20_000}


def _catalog(n_labels: int, rows_per_label: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts of made-up words: each label has its own words, and shares a common pool with all."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfghjklmnprstvz"))

    def word() -> str:
        return "".join(rng.choice(letters, 3)) + "".join(rng.choice(list("aeiou"), 2))

    common = [word() for _ in range(200)]
    texts, labels = [], []
    for label in range(n_labels):
        own = [word() for _ in range(6)]
        for _ in range(rows_per_label):
            words = list(rng.choice(own, 3)) + list(rng.choice(common, 4))
            rng.shuffle(words)
            texts.append(" ".join(words))
            labels.append(f"category {label:03d}")
    return texts, labels


@pytest.fixture(scope="module")
def catalog():
    return _catalog(40, 12)


def _fit(texts, labels, **settings) -> Categorizer:
    return Categorizer("linear", params={**SETTINGS, **settings}).fit(texts, labels, verbose=0)


def test_chunks_of_labels_give_the_whole_problem_s_predictions(catalog, monkeypatch):
    texts, labels = catalog
    whole = _fit(texts, labels, n_jobs=1)
    chunked_calls = []
    original = linear._fit_labels

    def counting(features, y, chunk, **settings):
        chunked_calls.append(None if chunk is None else len(chunk))
        return original(features, y, chunk, **settings)

    monkeypatch.setattr(linear, "_fit_labels", counting)
    features = whole.model_.coef_.shape[1]
    monkeypatch.setattr(linear, "CHUNK_WEIGHTS", (features + 1) * 7)  # 6 labels and "other" per problem
    chunked = _fit(texts, labels, n_jobs=1)
    assert len(chunked_calls) == 7 and all(2 <= size <= 6 for size in chunked_calls)
    assert sum(chunked_calls) == 40
    probe = texts[::3]
    np.testing.assert_allclose(chunked.model_.logits(probe), whole.model_.logits(probe), atol=0.02)
    assert np.mean(np.array(chunked.predict(probe)) == np.array(whole.predict(probe))) >= 0.98


def test_chunks_train_in_parallel_processes(catalog, monkeypatch):
    texts, labels = catalog
    monkeypatch.setattr(linear, "PARALLEL_ROWS", 100)
    parallel = _fit(texts, labels, n_jobs=2)
    serial = _fit(texts, labels, n_jobs=1)
    np.testing.assert_allclose(parallel.model_.logits(texts[:50]), serial.model_.logits(texts[:50]), atol=0.02)


def test_too_many_coefficients_drop_the_rarest_terms(catalog, monkeypatch):
    texts, labels = catalog
    monkeypatch.setattr(linear, "MAX_COEFFICIENTS", 40 * 3000)
    small = _fit(texts, labels, n_jobs=1)
    assert small.model_.coef_.shape == (40, 3000)
    features = small.model_._features(texts[:20])
    np.testing.assert_allclose(features.multiply(features).sum(axis=1), 2.0, rtol=1e-4)  # word and char blocks, unit length each
    assert np.mean(np.array(small.predict(texts)) == np.array(labels)) >= 0.9


def test_single_line_texts_fit_each_vectorizer_once(catalog, monkeypatch):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts, labels = catalog
    fits = []
    original = TfidfVectorizer.fit_transform

    def counting(self, raw, y=None):
        fits.append(self.analyzer)
        return original(self, raw, y)

    monkeypatch.setattr(TfidfVectorizer, "fit_transform", counting)
    model = _fit(texts, labels, n_jobs=1)
    assert sorted(fits) == ["char_wb", "word"] and model.model_.params["title_features"] is False
