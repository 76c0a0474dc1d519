"""The nearest-neighbours family, and ensembles combined from categorizers that are already fitted."""

from __future__ import annotations

import numpy as np
import pytest

import prodcat
from prodcat.categorizer import Categorizer
from prodcat.data.text import normalize_text
from prodcat.errors import DataError

from conftest import TINY_LINEAR, TINY_NEIGHBORS


@pytest.fixture(scope="module")
def rows(small_catalog_file):
    catalog = prodcat.read_catalog(small_catalog_file)
    texts, labels = catalog.texts, catalog.labels
    return (texts[:800], labels[:800]), (texts[800:1000], labels[800:1000]), (texts[1000:], labels[1000:])


def test_a_training_text_is_put_in_its_own_category(rows):
    (texts, labels), validation, _ = rows
    categorizer = Categorizer("neighbors", params=TINY_NEIGHBORS).fit(texts, labels, validation=validation)
    assert np.mean(np.array(categorizer.predict(texts[:200])) == np.array(labels[:200])) > 0.97


def test_a_few_texts_get_the_votes_they_get_in_a_batch(rows):
    from prodcat.models.tfidf import FEW_TEXTS

    (texts, labels), _, (test_texts, _) = rows
    model = Categorizer("neighbors", params=TINY_NEIGHBORS).fit(texts, labels).model_
    few = [normalize_text(t) for t in test_texts[:5]] + ["", "zzqx unknownword"]
    in_a_batch = model.logits(few + [""] * FEW_TEXTS)[: len(few)]
    np.testing.assert_allclose(model.logits(few), in_a_batch, rtol=1e-5, atol=1e-5)
    assert model.logits([]).shape == (0, len(set(labels)))


def test_a_text_sharing_no_term_with_training_gets_no_opinion(rows):
    (texts, labels), _, _ = rows
    categorizer = Categorizer("neighbors", params={**TINY_NEIGHBORS, "char_ngrams": [0, 0]}).fit(texts, labels)
    np.testing.assert_allclose(categorizer.predict_proba(["zzqxv"]), 0.25)


def test_class_weights_move_the_votes_towards_a_rare_label(rows):
    (texts, labels), _, (test_texts, _) = rows
    rare = labels[0]
    keep = [i for i, label in enumerate(labels) if label != rare][:600] + [i for i, label in enumerate(labels) if label == rare][:40]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    plain = Categorizer("neighbors", params=TINY_NEIGHBORS).fit(texts, labels)
    balanced = Categorizer("neighbors", params=TINY_NEIGHBORS, class_weight="balanced").fit(texts, labels)
    column = plain.labels.index(rare)
    assert balanced.predict_proba(test_texts)[:, column].mean() > plain.predict_proba(test_texts)[:, column].mean()


def test_saved_and_loaded_neighbors_give_the_same_probabilities(rows, tmp_path):
    (texts, labels), validation, (test_texts, _) = rows
    categorizer = Categorizer("neighbors", params=TINY_NEIGHBORS).fit(texts, labels, validation=validation)
    loaded = Categorizer.load(categorizer.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(test_texts), categorizer.predict_proba(test_texts), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "model" / "neighbors.npz").exists()


def test_combining_fitted_members_equals_fitting_the_ensemble(rows, tmp_path):
    (texts, labels), validation, (test_texts, _) = rows
    member_params = {"linear": TINY_LINEAR, "neighbors": TINY_NEIGHBORS}
    members = [Categorizer(f, params=p).fit(texts, labels, validation=validation) for f, p in member_params.items()]
    combined = Categorizer.combine(members, validation)
    fitted = Categorizer("ensemble", params={"members": list(member_params), "member_params": member_params}).fit(
        texts, labels, validation=validation)
    assert combined.family == "ensemble"
    assert combined.params["weights"] == fitted.params["weights"]
    np.testing.assert_allclose(combined.predict_proba(test_texts), fitted.predict_proba(test_texts), rtol=1e-5, atol=1e-6)
    assert combined.threshold_ == pytest.approx(fitted.threshold_)
    loaded = Categorizer.load(combined.save(tmp_path / "combined"))
    np.testing.assert_allclose(loaded.predict_proba(test_texts), combined.predict_proba(test_texts), rtol=1e-5, atol=1e-6)


def test_combining_refuses_other_labels_and_a_family_twice(rows):
    (texts, labels), validation, _ = rows
    linear = Categorizer("linear", params=TINY_LINEAR).fit(texts, labels)
    other = Categorizer("neighbors", params=TINY_NEIGHBORS).fit(texts, ["x" if l == labels[0] else l for l in labels])
    with pytest.raises(DataError, match="other labels"):
        Categorizer.combine([linear, other], validation)
    with pytest.raises(DataError, match="at most one member of each family"):
        Categorizer.combine([linear, Categorizer("linear", params=TINY_LINEAR).fit(texts, labels)], validation)
    with pytest.raises(DataError, match="at least 2"):
        Categorizer.combine([linear], validation)


def test_out_of_range_settings_are_refused_in_one_line(rows):
    (texts, labels), _, _ = rows
    with pytest.raises(DataError, match="k must be at least 1"):
        Categorizer("neighbors", params={"k": 0}).fit(texts, labels)


def test_unit_rows_is_scikit_learns_l2_normalize():
    """Neighbors scales its TF-IDF rows itself (predicting imports no scikit-learn): the same numbers."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    from prodcat.models.neighbors import unit_rows

    for dtype in (np.float32, np.float64):
        features = sp.random(40, 200, density=0.05, random_state=0, format="lil", dtype=dtype)
        features[3] = 0  # a text without known terms: stays all zero
        features = features.tocsr()
        scaled = unit_rows(features)
        assert scaled.dtype == dtype and scaled.shape == features.shape
        np.testing.assert_allclose(scaled.toarray(), normalize(features).toarray(), rtol=1e-6, atol=1e-7)
        assert not scaled[3].count_nonzero()
