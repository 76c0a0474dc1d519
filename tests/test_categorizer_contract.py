"""One contract, checked for every model family: fit, predict, predict_proba, categorize, save, load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prodcat.categorizer import Categorizer
from prodcat.errors import DataError, ModelError, NotFittedError

from conftest import SAMPLE, TINY_LINEAR

FAMILIES = ("bag", "ensemble", "linear", "lstm", "neighbors")


@pytest.fixture(params=FAMILIES)
def model_dir(request):
    return request.getfixturevalue(f"{request.param}_model_dir")


def test_saved_model_is_self_contained_and_loads(model_dir):
    manifest = json.loads((model_dir / "prodcat.json").read_text())
    assert manifest["labels"] == sorted(manifest["labels"]) and len(manifest["labels"]) == 4
    for key in ("params", "training", "metrics", "versions", "created", "seed", "calibration"):
        assert key in manifest, key
    assert manifest["training"]["fingerprint"].startswith("sha256:")
    assert not list(model_dir.rglob("*.pkl")) and not list(model_dir.rglob("*.pickle"))
    categorizer = Categorizer.load(model_dir)
    assert categorizer.labels == manifest["labels"]


def test_predict_proba_rows_are_probabilities_in_label_order(model_dir):
    categorizer = Categorizer.load(model_dir)
    texts = ["Samsung Galaxy smartphone 128GB, black", "Cotton T-shirt for men, slim fit", "A novel by Jane Austen"]
    probs = categorizer.predict_proba(texts)
    assert probs.shape == (3, len(categorizer.labels))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert categorizer.predict(texts) == [categorizer.labels[i] for i in probs.argmax(axis=1)]
    assert categorizer.predict(texts[0]) == categorizer.predict([texts[0]])


def test_raw_text_is_categorized_better_than_chance(model_dir):
    import prodcat

    sample = prodcat.read_catalog(SAMPLE)
    predicted = Categorizer.load(model_dir).predict(sample.texts)
    accuracy = np.mean([p == t for p, t in zip(predicted, sample.labels)])
    assert accuracy > 0.6  # tiny models on 1,200 rows; chance is about 0.38


def test_categorize_keeps_every_row_and_explains_empty_ones(model_dir):
    categorizer = Categorizer.load(model_dir)
    predictions = categorizer.categorize(["wireless mouse", "", "   ", "cotton saree"], top_k=3)
    assert len(predictions) == 4
    assert predictions[1].category is None and predictions[1].reason
    assert predictions[2].category is None
    assert len(predictions[0].top_k) == 3 and predictions[0].top_k[0][0] == predictions[0].category
    assert predictions[0].confidence == pytest.approx(predictions[0].top_k[0][1])


def test_review_flag_follows_the_stored_threshold(model_dir):
    categorizer = Categorizer.load(model_dir)
    assert categorizer.threshold_ is not None
    categorizer.threshold_ = 1.01
    assert all(p.needs_review for p in categorizer.categorize(["wireless mouse"]))
    categorizer.threshold_ = 0.0
    assert not any(p.needs_review for p in categorizer.categorize(["wireless mouse"]))


def test_unfitted_categorizer_says_what_to_do():
    with pytest.raises(NotFittedError, match="fit"):
        Categorizer("linear").predict(["x"])


def test_one_label_only_is_refused():
    with pytest.raises(DataError, match="at least 2"):
        Categorizer("linear").fit(["a b", "c d"], ["x", "x"])


def test_unknown_family_is_refused():
    with pytest.raises(DataError, match="unknown model family"):
        Categorizer("forest").fit(["a b", "c d"], ["x", "y"])


def test_a_directory_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ModelError, match="not a prodcat model"):
        Categorizer.load(tmp_path)
    (tmp_path / "prodcat.json").write_text("{not json")
    with pytest.raises(ModelError, match="damaged"):
        Categorizer.load(tmp_path)


def test_same_seed_same_data_same_model(small_catalog_file, tmp_path):
    from prodcat.training import train

    # What is compared: the split and the evaluated model's scores, which the refit does not change
    first = train(small_catalog_file, family="linear", params=TINY_LINEAR, log_dir=None, refit=False, verbose=0)
    second = train(small_catalog_file, family="linear", params=TINY_LINEAR, log_dir=None, refit=False, verbose=0)
    assert first.split.test.tolist() == second.split.test.tolist()
    assert first.metrics["weighted_f1"] == pytest.approx(second.metrics["weighted_f1"], abs=1e-9)


def test_ensemble_weights_are_chosen_on_validation_and_stored(ensemble_model_dir):
    manifest = json.loads((ensemble_model_dir / "prodcat.json").read_text())
    weights = manifest["params"]["weights"]
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    assert all(t > 0 for t in manifest["params"]["temperatures"])
    assert {p.name for p in ensemble_model_dir.iterdir() if p.is_dir()} >= {"bag", "linear", "neighbors"}


@pytest.mark.parametrize("family", ["bag", "lstm"])
def test_texts_that_normalize_to_nothing_do_not_break_training(family, small_catalog_file):
    from conftest import TINY_BAG, TINY_LSTM

    import prodcat

    catalog = prodcat.read_catalog(small_catalog_file)
    texts = catalog.texts[:400] + ["the", "!!!", "a an of"] * 5  # stop words and punctuation only
    labels = catalog.labels[:400] + [catalog.labels[0]] * 15
    params = {"bag": TINY_BAG, "lstm": TINY_LSTM}[family]
    categorizer = Categorizer(family, params=params).fit(texts, labels, validation=(texts[:100], labels[:100]), verbose=0)
    probs = categorizer.predict_proba(catalog.texts[400:500] + ["the"])
    assert np.isfinite(probs).all()
    assert np.mean(categorizer.predict(catalog.texts[:400]) == np.asarray(catalog.labels[:400])) > 0.5


@pytest.mark.parametrize("n_labels", [2, 4, 32, 33])
def test_one_rows_probabilities_match_the_batch_softmax(n_labels):
    from prodcat import calibration

    logits = np.random.default_rng(n_labels).normal(scale=6.0, size=(3, n_labels)).astype(np.float32)
    batch = calibration.probabilities(logits, 1.7)
    for row in range(3):
        one = calibration.probabilities(logits[row : row + 1], 1.7)
        assert one.shape == (1, n_labels)
        np.testing.assert_allclose(one[0], batch[row], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)
