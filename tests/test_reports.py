"""Report directories and ``prodcat evaluate``: readable confusion matrices of category paths, embedded
pictures, what comes from training said so, and a loud refusal of a file whose labels the model lacks."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from conftest import BIGBASKET, SAMPLE, run_cli

from prodcat.evaluation import evaluate_file
from prodcat.reporting import level_confusions, most_confused, tick_names
from prodcat.training import train

TINY_LINEAR = {"char_ngrams": [0, 0], "max_features": 20_000}


@pytest.fixture(scope="module")
def grocery_file(tmp_path_factory):
    """1,600 BigBasket products of 4 categories, with their sub-categories (paths of 2 levels)."""
    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    frame = frame[frame["category"].isin(["Beverages", "Snacks & Branded Foods", "Cleaning & Household", "Beauty & Hygiene"])]
    path = tmp_path_factory.mktemp("grocery") / "grocery.csv"
    frame.sample(1600, random_state=0)[["product", "brand", "category", "sub_category"]].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def path_model(grocery_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "grocery"
    train(grocery_file, out=out, family="linear", params=TINY_LINEAR, text_cols="product", label_cols="category,sub_category", verbose=0)
    return out


def test_path_report_has_readable_matrices_the_most_confused_pairs_and_embedded_pictures(path_model):
    report = path_model / "report"
    text = (report / "report.md").read_text()
    assert (report / "confusion_matrix_level1.png").stat().st_size > 10_000
    for picture in ("confusion_matrix.png", "confusion_matrix_level1.png", "calibration.png"):
        assert f"]({picture})" in text and (report / picture).exists()
    assert "Plots: `" not in text
    table = text.split("## Most confused categories")[1].split("\n\n")[1].splitlines()
    assert table[0] == "| true category | predicted as | rows | share of its rows |"
    counts = [int(row.split(" | ")[2]) for row in table[2:]]
    assert counts and counts == sorted(counts, reverse=True) and all(" > " in row for row in table[2:])


def test_tick_names_are_distinct_leaves_and_keep_the_leaf_when_cut():
    labels = ["Foods > Snacks > Chips", "Foods > Drinks > Chips", "Home > Kitchen", "Books", "Home > " + "x" * 40 + " tail"]
    names = tick_names(labels)
    assert names[:4] == ["Snacks > Chips", "Drinks > Chips", "Kitchen", "Books"]
    assert names[4].startswith("…") and names[4].endswith(" tail") and len(names[4]) == 32
    assert len(set(tick_names(["A > B > x", "A > C > x", "D > B > x"]))) == 3


def test_level_confusions_sum_paths_by_their_ancestors_and_pairs_rank_the_errors():
    confusion = {"labels": ["A > x", "A > y", "B > x"], "matrix": [[5, 1, 2], [0, 3, 0], [1, 0, 4]]}
    assert level_confusions(confusion) == {1: {"labels": ["A", "B"], "matrix": [[9, 2], [1, 4]]}}
    assert most_confused(confusion, n=2) == [("A > x", "B > x", 2, 0.25), ("A > x", "A > y", 1, 0.125)]


def test_an_evaluation_report_says_what_comes_from_training(bag_model_dir, tmp_path):
    evaluate_file(bag_model_dir, SAMPLE, report_dir=tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## The model's training split (not these rows)" in text and "\n## Split\n" not in text
    training_split = text.split("## The model's training split (not these rows)")[1].split("\n## ")[0]
    assert "- strategy: grouped" in training_split and "- train rows: " in training_split
    refit_rows = json.loads((bag_model_dir / "prodcat.json").read_text())["training"]["refit"]["rows"]
    assert f"refit on all {refit_rows} usable rows" in training_split
    assert "Training curves, from the model's training (not these rows):" in text
    assert "](epoch_loss.png)" in text and (tmp_path / "report" / "epoch_loss.png").exists()


def test_evaluate_refuses_a_file_whose_labels_the_model_does_not_know(capsys, linear_model_dir, grocery_file, tmp_path):
    code, out, err = run_cli(capsys, "evaluate", grocery_file, "--model", linear_model_dir, "--text-col", "product",
                             "--label-col", "category", "--report", tmp_path / "r")
    assert code == 2 and out == ""
    assert re.search(r"grocery\.csv: none of the labels in column category \('Beauty & Hygiene'.*is one the model knows", err)
    assert not (tmp_path / "r").exists()


def test_a_file_of_unknown_labels_is_refused_before_the_model_is_loaded(capsys, lstm_model_dir, grocery_file, tmp_path):
    import shutil

    model = shutil.copytree(lstm_model_dir, tmp_path / "model")
    (model / "model.keras").write_bytes(b"not a keras file")  # loading it would fail: the check comes first
    code, out, err = run_cli(capsys, "evaluate", grocery_file, "--model", model, "--text-col", "product",
                             "--label-col", "category", "--report", tmp_path / "r")
    assert code == 2 and "none of the labels in column category" in err and "model.keras" not in err
    code, out, err = run_cli(capsys, "evaluate", SAMPLE, "--model", model, "--report", tmp_path / "r")
    assert code == 2 and "model.keras" in err  # a file worth scoring loads the model, and finds the damage


def test_evaluate_warns_about_rows_of_unknown_labels(capsys, linear_model_dir, tmp_path):
    frame = pd.read_csv(SAMPLE, header=None, dtype=str, keep_default_na=False)
    frame.loc[:9, 0] = "Toys"
    frame.to_csv(tmp_path / "mixed.csv", header=False, index=False)
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "mixed.csv", "--model", linear_model_dir, "--report", tmp_path / "r")
    assert code == 0 and "150 rows: accuracy" in out
    assert "warning: 10 of 150 rows have labels the model does not know ('Toys'); they count as errors" in err


def test_evaluate_reads_the_model_columns_when_the_file_has_them(capsys, path_model, grocery_file, tmp_path):
    code, out, err = run_cli(capsys, "evaluate", grocery_file, "--model", path_model, "--report", tmp_path / "r")
    assert code == 0, err
    assert "columns: text product; label category, sub_category" in out
    accuracy = float(re.search(r"1600 rows: accuracy (\S+),", out).group(1))
    assert accuracy > 0.5
