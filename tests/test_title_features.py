"""Text columns stay one per line through normalization, and the linear family weighs the title line
on its own when the catalog has several text columns."""

from __future__ import annotations

import json

import numpy as np
import pytest

import prodcat
from prodcat.categorizer import Categorizer
from prodcat.data.text import normalize_text

from conftest import MWPD_TRAIN, NORMALIZED, TINY_LINEAR

ROWS = 1500


def test_normalization_keeps_one_line_per_field_and_drops_empty_ones():
    assert normalize_text("The Sony WH-1000XM4 \n\n  Noise-cancelling, over the ear!\r\nhttp://x.com/a_b") == (
        "sony wh 1000xm4\nnoise cancelling ear\nhttp x com b"
    )
    assert normalize_text("the of and\nSony") == "sony"
    assert normalize_text("") == ""


@pytest.fixture(scope="module")
def mwpd_rows():
    catalog = prodcat.read_catalog(MWPD_TRAIN, text_cols="Name,CategoryText,URL,Description", label_cols="lvl1")
    return catalog.texts[:ROWS], catalog.labels[:ROWS]


@pytest.fixture(scope="module")
def titled_model(mwpd_rows, tmp_path_factory):
    texts, labels = mwpd_rows
    categorizer = Categorizer("linear", params=TINY_LINEAR, seed=42).fit(texts[:1300], labels[:1300], validation=(texts[1300:], labels[1300:]))
    return categorizer, categorizer.save(tmp_path_factory.mktemp("titled") / "model")


def test_several_text_columns_give_title_features_that_survive_save_and_load(titled_model, mwpd_rows):
    categorizer, path = titled_model
    manifest = json.loads((path / "prodcat.json").read_text())
    assert manifest["params"]["title_features"] is True
    vocabularies = json.loads((path / "vocabulary.json").read_text())
    assert len(vocabularies) == 4  # word and character n-grams of the whole text, then of the title
    texts = mwpd_rows[0][1300:]
    np.testing.assert_allclose(Categorizer.load(path).predict_proba(texts), categorizer.predict_proba(texts), rtol=1e-5, atol=1e-6)


def test_a_word_in_the_title_counts_more_than_in_the_description(titled_model):
    categorizer, _ = titled_model
    name, description = "Sterling Silver Angel Charm Necklace", "Men's cotton t-shirt, short sleeves"
    as_title = categorizer.predict_proba(f"{name}\n{description}")[0]
    as_description = categorizer.predict_proba(f"{description}\n{name}")[0]
    jewellery = next(i for i, label in enumerate(categorizer.labels) if "Personal Accessories" in label)
    assert as_title[jewellery] > as_description[jewellery]


def test_one_line_texts_get_no_title_features():
    catalog = prodcat.read_catalog(NORMALIZED)
    texts, labels = catalog.texts[::10][:600], catalog.labels[::10][:600]
    categorizer = Categorizer("linear", params=TINY_LINEAR, seed=42).fit(texts, labels)
    assert categorizer.model_.params["title_features"] is False
    assert len(categorizer.model_.vectorizers_) == 2


def test_a_few_texts_are_scored_as_in_a_batch(titled_model, mwpd_rows):
    """Calls of fewer than ``FEW_TEXTS`` texts skip scikit-learn's transform; the scores must not change."""
    from prodcat.models.tfidf import FEW_TEXTS

    categorizer, path = titled_model
    texts = [normalize_text(t) for t in mwpd_rows[0][1300 : 1300 + FEW_TEXTS - 3]] + ["", "zzqx unknownword", "only\ntitle"]
    for model in (categorizer.model_, Categorizer.load(path).model_):
        assert model.params["title_features"]
        in_a_batch = model.logits(texts + [""] * FEW_TEXTS)[: len(texts)]
        one_by_one = np.vstack([model.logits([text]) for text in texts])
        np.testing.assert_allclose(one_by_one, in_a_batch, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(model.logits(texts), in_a_batch, rtol=1e-5, atol=1e-5)
        few, batch = model._few_features(texts), model._features(texts)  # what the neighbors family uses
        assert few.shape == batch.shape
        np.testing.assert_allclose(few.toarray(), batch.toarray(), rtol=1e-5, atol=1e-6)
