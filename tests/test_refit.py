"""The shipped model is refit on every usable row; its calibration, review threshold and ensemble
weights come from out-of-fold predictions, never from rows the predicting model trained on."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import BIGBASKET, TINY_LINEAR, TINY_NEIGHBORS

from prodcat import calibration
from prodcat.categorizer import Categorizer
from prodcat.data.reading import read_catalog
from prodcat.data.split import product_groups
from prodcat.data.text import near_duplicate_key, normalize_text
from prodcat.errors import DataError
from prodcat.models.ensemble import EnsembleModel
from prodcat.models.linear import LinearModel
from prodcat import refit as refit_module
from prodcat.refit import fixed_epochs
from prodcat.training import train


@pytest.fixture(scope="module")
def grocery_file(tmp_path_factory):
    """480 real BigBasket titles of 6 categories, many of them variants of one product (sizes, packs)."""
    import pandas as pd

    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    frame = frame[frame["product"].str.strip() != ""]
    frame["key"] = frame["product"].map(near_duplicate_key)
    variant = frame["key"].map(frame["key"].value_counts()) > 1
    keep = frame["category"].value_counts().index[:6]
    rows = pd.concat([pd.concat([frame[variant & (frame["category"] == c)].sort_values("key").head(40),
                                 frame[~variant & (frame["category"] == c)].head(40)]) for c in keep])
    path = tmp_path_factory.mktemp("grocery") / "grocery.csv"
    rows[["product", "category"]].to_csv(path, index=False)
    return path


def _train(path, **kwargs):
    settings = dict(text_cols="product", label_cols="category", family="linear", params=TINY_LINEAR, log_dir=None, verbose=0)
    return train(path, **{**settings, **kwargs})


def test_no_prediction_during_training_comes_from_a_model_that_trained_on_that_product(grocery_file, monkeypatch):
    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    group_of = dict(zip((normalize_text(t) for t in catalog.texts), product_groups(catalog.texts)))
    assert len(group_of) - len(set(group_of.values())) > 20, "the data should hold near-duplicates"
    trained_on, predictions, temperature_rows = {}, [], []
    fit, logits, fit_temperature = LinearModel.fit, LinearModel.logits, calibration.fit_temperature

    def recording_fit(self, data):
        trained_on[id(self)] = set(data.texts)
        return fit(self, data)

    def recording_logits(self, texts):
        predictions.append((id(self), list(texts)))
        return logits(self, texts)

    def recording_temperature(scores, y):
        temperature_rows.append(len(y))
        return fit_temperature(scores, y)

    monkeypatch.setattr(LinearModel, "fit", recording_fit)
    monkeypatch.setattr(LinearModel, "logits", recording_logits)
    monkeypatch.setattr(calibration, "fit_temperature", recording_temperature)
    result = _train(grocery_file)
    n_rows = result.refit["rows"]
    assert len(trained_on) == 1 + 5 + 1  # the evaluated model, 5 fold models, the shipped one
    assert len(predictions) >= 1 + 1 + 5  # validation, test, each fold's held-out rows
    for model, texts in predictions:
        assert model in trained_on, "the shipped model predicted during training"
        assert not set(texts) & trained_on[model], "a model predicted rows it trained on"
        seen_groups = {group_of[t] for t in trained_on[model]}
        assert not {group_of[t] for t in texts} & seen_groups, "a model predicted a near-duplicate of its training rows"
    fold_predicted = [texts for model, texts in predictions[2:]]
    assert sum(len(texts) for texts in fold_predicted) == n_rows  # every usable row once, out of fold
    assert temperature_rows[-1] == n_rows - result.refit["rows_of_labels_unseen_by_their_fold"]


def test_a_large_catalog_is_calibrated_on_the_evaluated_model_s_validation_rows_without_fold_trainings(grocery_file, monkeypatch, tmp_path):
    import prodcat.refit

    monkeypatch.setattr(prodcat.refit, "HOLDOUT_ROWS", 100)  # the grocery file's 480 rows count as large
    trained_on, temperature_rows = [], []
    fit, fit_temperature = LinearModel.fit, calibration.fit_temperature
    monkeypatch.setattr(LinearModel, "fit", lambda self, data: trained_on.append(set(data.texts)) or fit(self, data))
    monkeypatch.setattr(calibration, "fit_temperature", lambda scores, y: temperature_rows.append(len(y)) or fit_temperature(scores, y))
    result = _train(grocery_file, out=tmp_path / "model")
    assert len(trained_on) == 2  # the evaluated model and the shipped one: no fold models
    validation = len(result.split.validation)
    assert temperature_rows == [validation, validation]  # the evaluated model's calibration, then the shipped one's
    assert result.refit["folds"] is None and result.refit["out_of_fold_scores"]["rows"] == validation
    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    assert not {normalize_text(catalog.texts[i]) for i in result.split.validation} & trained_on[0]
    assert f"{validation} validation rows it never trained on" in result.categorizer.calibration_["method"]
    report = (tmp_path / "model" / "report" / "report.md").read_text()
    assert f"On those {validation} validation rows: accuracy" in report and "Held-out expected calibration error" in report
    # an explicit number of folds still cross-fits
    trained_on.clear()
    assert _train(grocery_file, calibration_folds=2).refit["folds"] == 2 and len(trained_on) == 1 + 2 + 1


def test_the_shipped_model_has_learned_every_usable_row_and_the_report_says_so(grocery_file, tmp_path):
    out = tmp_path / "model"
    result = _train(grocery_file, out=out)
    split = result.split
    usable = len(split.train) + len(split.validation) + len(split.test)
    manifest = json.loads((out / "prodcat.json").read_text())
    assert manifest["training"]["refit"]["rows"] == usable == result.refit["rows"]
    assert f"5 grouped folds over {usable} rows" in manifest["calibration"]["method"]
    assert 0 <= manifest["training"]["refit"]["out_of_fold_ece"] < 1
    assert manifest["metrics"]["test"]["rows"] == len(split.test)  # the held-out scores are kept
    report = (out / "report" / "report.md").read_text()
    assert f"The shipped model was refit on all {usable} usable rows" in report and f"over {usable} rows" in report
    assert json.loads((out / "report" / "metrics.json").read_text())["refit"]["rows"] == usable

    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    test_texts = [catalog.texts[i] for i in split.test]
    test_labels = [catalog.labels[i] for i in split.test]
    held_out = np.mean(np.array(result.evaluated.predict(test_texts)) == test_labels)
    shipped = np.mean(np.array(Categorizer.load(out).predict(test_texts)) == test_labels)
    # The test products, unseen by the evaluated model (0.46 of them right), were learned by the shipped one (0.92).
    assert shipped > 0.85 and shipped > held_out + 0.3


def test_no_refit_ships_the_evaluated_model_calibrated_on_validation(grocery_file):
    result = _train(grocery_file, refit=False)
    assert result.categorizer is result.evaluated and result.refit is None
    assert result.categorizer.metadata["training"]["refit"] is None
    assert result.categorizer.calibration_["method"].startswith("temperature scaling on the validation split")
    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    pick = lambda rows, values: [values[i] for i in rows]  # noqa: E731
    split = result.split
    before = Categorizer("linear", params=TINY_LINEAR).fit(
        pick(split.train, catalog.texts), pick(split.train, catalog.labels),
        validation=(pick(split.validation, catalog.texts), pick(split.validation, catalog.labels)), verbose=0,
    )
    np.testing.assert_allclose(result.categorizer.predict_proba(catalog.texts[:50]), before.predict_proba(catalog.texts[:50]))
    assert result.categorizer.threshold_ == before.threshold_


def test_ensemble_weights_are_chosen_on_out_of_fold_rows(grocery_file, monkeypatch):
    weighed = []
    weigh = EnsembleModel.weigh

    def recording_weigh(self, member_logits, y):
        weighed.append(len(y))
        return weigh(self, member_logits, y)

    monkeypatch.setattr(EnsembleModel, "weigh", recording_weigh)
    params = {"members": ["linear", "neighbors"], "member_params": {"linear": TINY_LINEAR, "neighbors": TINY_NEIGHBORS}}
    result = _train(grocery_file, family="ensemble", params=params, calibration_folds=3)
    assert weighed == [len(result.split.validation), result.refit["rows"] - result.refit["rows_of_labels_unseen_by_their_fold"]]
    assert result.categorizer.params["weights"] == result.categorizer.model_.params["weights"]
    assert "3 grouped folds" in result.categorizer.calibration_["method"]


def test_keras_families_refit_for_the_best_epoch_of_the_evaluated_fit():
    history = {"loss": [1.0, 0.5, 0.3, 0.2], "val_loss": [0.9, 0.6, 0.7, 0.8]}
    lstm = SimpleNamespace(family="lstm", params={"epochs": 10, "patience": 2}, history_=history)
    assert fixed_epochs(lstm) == {"epochs": 2, "patience": 2}
    linear = SimpleNamespace(family="linear", params={"C": 0.5}, history_=None)
    assert fixed_epochs(linear) == {"C": 0.5}
    members = [SimpleNamespace(name="bag", history=history), SimpleNamespace(name="linear", history=None)]
    ensemble = SimpleNamespace(
        family="ensemble", model_=SimpleNamespace(members_=members), history_=history,
        params={"members": ["bag", "linear"], "member_params": {"bag": {"epochs": 15, "patience": 2}, "linear": {"C": 1}},
                "weights": [0.5, 0.5], "temperatures": [1.0, 2.0]},
    )
    refit_params = fixed_epochs(ensemble)
    assert refit_params["member_params"] == {"bag": {"epochs": 2, "patience": 2}, "linear": {"C": 1}}
    assert refit_params["weights"] is None and ensemble.params["member_params"]["bag"]["epochs"] == 15


def test_labels_with_one_or_two_rows_are_learned_not_tested(grocery_file, tmp_path):
    rare = tmp_path / "rare.csv"
    rows = grocery_file.read_text(encoding="utf-8").splitlines()
    rows += ["Stainless steel garden hose nozzle,Garden Tools", "Pruning shears for roses,Garden Tools", "Dog chew bone toy,Pet Toys"]
    rare.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = _train(rare, out=out, calibration_folds=3)
    assert result.untested_labels == ["Garden Tools", "Pet Toys"]
    assert {"Garden Tools", "Pet Toys"} <= set(result.categorizer.labels) and {"Garden Tools", "Pet Toys"} <= set(result.evaluated.labels)
    assert result.metrics["per_class"]["Pet Toys"]["support"] == 0  # not tested
    assert result.split.info["rows_of_untested_labels"] == 3
    assert "## Labels learned but not tested" in (out / "report" / "report.md").read_text()
    assert json.loads((out / "prodcat.json").read_text())["training"]["untested_labels"] == ["Garden Tools", "Pet Toys"]

    dropped = _train(rare, drop_rare_labels=True, refit=False)
    assert "Pet Toys" not in dropped.categorizer.labels and dropped.skipped == {"label with a single row": 1}
    assert dropped.untested_labels == ["Garden Tools"]


def test_calibration_folds_below_two_are_refused(grocery_file):
    with pytest.raises(DataError, match="--calibration-folds must be at least 2"):
        _train(grocery_file, calibration_folds=1)


def test_a_catalog_with_nothing_to_test_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("text,label\nred apple,Fruit\ngreen apple,Fruit\nbanana,Fruit\nclaw hammer,Tools\nhand saw,Tools\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"tiny\.csv: only 3 rows belong to labels with more than 2 rows"):
        train(path, text_cols="text", label_cols="label", family="linear", log_dir=None, verbose=0)


def test_fold_trainings_side_by_side_give_the_models_trained_one_after_another(grocery_file):
    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    texts, labels = catalog.texts, catalog.labels

    def recipe():
        return Categorizer("linear", params=TINY_LINEAR, seed=7)

    on_all = refit_module._Training(recipe, texts, labels)
    alone, shipped_alone = refit_module.out_of_fold(recipe, texts, labels, 4, 7, workers=1, also=on_all)
    side_by_side, shipped_side_by_side = refit_module.out_of_fold(recipe, texts, labels, 4, 7, workers=2, also=on_all)
    assert np.array_equal(alone.y, side_by_side.y) and np.array_equal(alone.folds, side_by_side.folds)
    assert np.allclose(alone.member_logits[0], side_by_side.member_logits[0], atol=1e-6)
    assert np.allclose(shipped_alone.predict_proba(texts), shipped_side_by_side.predict_proba(texts), atol=1e-6)


def test_only_one_thread_families_on_mid_sized_catalogs_train_side_by_side(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.setattr("prodcat.models.linear.available_memory", lambda: 64 * 2**30)
    mid, small, large = ["tea bags green"] * 5_000, ["tea bags green"] * 500, ["tea bags green"] * 50_000
    workers = refit_module.side_by_side_workers
    assert workers("linear", {}, mid, 6) == 4
    assert workers("linear", {}, mid, 3) == 3
    assert workers("ensemble", {"members": ["linear", "neighbors"]}, mid, 6) == 4
    assert workers("hierarchical", {"base": "linear"}, mid, 6) == 4
    for family, params in [("lstm", {}), ("bag", {}), ("ensemble", {"members": ["bag", "linear"]}), ("hierarchical", {"base": "bag"})]:
        assert workers(family, params, mid, 6) == 1, family
    assert workers("linear", {}, small, 6) == 1 and workers("linear", {}, large, 6) == 1
    monkeypatch.setattr("prodcat.models.linear.available_memory", lambda: 2**20)
    assert workers("linear", {}, mid, 6) == 1
