"""``--family auto``: the family is chosen by grouped cross-validation on the training rows alone,
within a time budget, and the report and manifest say how."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import BIGBASKET, run_cli

import prodcat.selection as selection
from prodcat.categorizer import Categorizer
from prodcat.data.reading import read_catalog
from prodcat.data.text import normalize_text
from prodcat.errors import DataError
from prodcat.training import train


@pytest.fixture(scope="module")
def grocery_file(tmp_path_factory):
    """360 BigBasket titles of 6 categories."""
    import pandas as pd

    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    frame = frame[frame["product"].str.strip() != ""]
    keep = frame["category"].value_counts().index[:6]
    rows = pd.concat([frame[frame["category"] == c].head(60) for c in keep])
    path = tmp_path_factory.mktemp("grocery") / "grocery.csv"
    rows[["product", "category"]].to_csv(path, index=False)
    return path


def test_auto_chooses_on_training_rows_only_and_scores_the_ensemble_without_training_one(grocery_file, tmp_path, monkeypatch):
    fitted = []
    fit = Categorizer.fit

    def recording_fit(self, texts, labels, **kwargs):
        fitted.append((self.family, {normalize_text(t) for t in texts}, kwargs.get("validation")))
        return fit(self, texts, labels, **kwargs)

    monkeypatch.setattr(Categorizer, "fit", recording_fit)
    out = tmp_path / "model"
    result = train(grocery_file, text_cols="product", label_cols="category", family="auto", refit=False, out=out, log_dir=None, verbose=0)
    chosen = result.selection
    choice_fits = fitted[: 3 * len(selection.CANDIDATES)]
    assert [family for family, _, _ in choice_fits] == [f for f in selection.CANDIDATES for _ in range(3)]
    assert all(family != "ensemble" for family, _, _ in choice_fits)  # the ensemble is scored from its members' logits
    catalog = read_catalog(grocery_file, text_cols="product", label_cols="category")
    held_out = {normalize_text(catalog.texts[i]) for i in np.concatenate([result.split.validation, result.split.test])}
    training = {normalize_text(catalog.texts[i]) for i in result.split.train}
    for _, texts, validation in choice_fits:
        assert texts <= training and not texts & held_out  # neither validation nor test rows
        assert {normalize_text(t) for t in validation[0]} <= training - texts  # early stopping on other training rows
    assert set(chosen["out_of_fold_weighted_f1"]) == {*selection.CANDIDATES, "ensemble"}
    scores = chosen["out_of_fold_weighted_f1"]
    assert chosen["chosen"] == max(scores, key=scores.get) and result.categorizer.family == chosen["chosen"]
    assert fitted[-1][0] == chosen["chosen"]  # then the chosen family is trained and evaluated as usual
    manifest = json.loads((out / "prodcat.json").read_text())
    assert manifest["training"]["selection"]["chosen"] == chosen["chosen"]
    assert f"Family chosen by cross-validation: {chosen['chosen']}" in (out / "report" / "report.md").read_text()


def test_the_time_budget_stops_the_candidates_that_would_not_finish(monkeypatch):
    clock = [0.0]

    def ten_seconds_per_fold(family, texts, labels, folds, fold, normalized, column, class_weight, seed):
        clock[0] += 10.0
        return np.random.default_rng(fold).normal(size=(int((folds == fold).sum()), len(column)))

    monkeypatch.setattr(selection.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(selection, "_fold_logits", ten_seconds_per_fold)
    texts = [f"product {i} {'abcdefghij'[i % 10]}" for i in range(60)]
    labels = ["A", "B", "C"] * 20
    # linear's 3 folds end at 30 s; bag's first fold, assumed SLOWER x 10 s, would end past 45 s
    chosen = selection.choose_family(texts, labels, time_budget=45)
    assert chosen.family == "linear" and list(chosen.scores) == ["linear"] and chosen.not_tried == ["bag", "neighbors"]
    clock[0] = 0.0
    nothing = selection.choose_family(texts, labels, time_budget=5)  # not even one fold: linear, untested
    assert nothing.family == "linear" and nothing.scores == {} and nothing.not_tried == list(selection.CANDIDATES)


@pytest.mark.parametrize("text, seconds", [("300", 300), ("90s", 90), ("5m", 300), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert selection.parse_duration(text) == seconds


def test_a_bad_duration_is_refused():
    with pytest.raises(DataError, match="not a duration"):
        selection.parse_duration("5 minutes")


def test_the_cli_says_which_family_it_chose(grocery_file, tmp_path, capsys):
    out = tmp_path / "model"
    code, stdout, err = run_cli(capsys, "train", grocery_file, "--text-col", "product", "--label-col", "category", "--family", "auto",
                                "--time-budget", "2m", "--no-refit", "-q", "-o", out)
    assert code == 0, err
    assert "family chosen: " in stdout and "out-of-fold weighted F1 on the training rows: linear 0." in stdout
    manifest = json.loads((out / "prodcat.json").read_text())
    assert manifest["family"] in (*selection.CANDIDATES, "ensemble")
    assert manifest["training"]["selection"]["time_budget_s"] == 120


def test_folds_side_by_side_score_the_candidates_as_one_after_another(monkeypatch):
    import pandas as pd

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False).head(2_400)
    texts, labels = frame["product"].tolist(), frame["category"].tolist()
    stages = []
    side_by_side = selection.choose_family(texts, labels, candidates=("linear", "neighbors"), progress=stages.append)
    assert "choosing the family: linear, 3 folds side by side" in stages
    monkeypatch.setattr(selection, "side_by_side_workers", lambda *args: 1)
    alone = selection.choose_family(texts, labels, candidates=("linear", "neighbors"))
    assert side_by_side.scores == pytest.approx(alone.scores, abs=1e-9) and side_by_side.family == alone.family
    assert set(side_by_side.scores) == {"linear", "neighbors", "ensemble"}
