"""End to end through the real ``prodcat`` command: train, evaluate, predict, and the report files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import BIGBASKET, SAMPLE

REPORT_FILES = {"metrics.json", "report.md", "confusion_matrix.png", "calibration.png"}
EPOCH_PLOTS = {"epoch_loss.png", "epoch_accuracy.png"}


def prodcat(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "prodcat", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_train_evaluate_predict_linear(small_catalog_file, tmp_path):
    out = tmp_path / "model"
    trained = prodcat("train", small_catalog_file, "--out", out, "--family", "linear", "--param", "char_ngrams=2,4")
    assert trained.returncode == 0, trained.stderr
    assert "leakage-free" in trained.stdout and "weighted F1" in trained.stdout
    assert REPORT_FILES <= {p.name for p in (out / "report").iterdir()}
    metrics = json.loads((out / "report" / "metrics.json").read_text())["metrics"]
    assert 0.7 < metrics["weighted_f1"] <= 1.0
    assert set(metrics["per_class"]) == {"Books", "Clothing & Accessories", "Electronics", "Household"}
    assert "review" in metrics and 0 < metrics["review"]["coverage"] <= 1
    report_md = (out / "report" / "report.md").read_text()
    assert "Leakage-free" in report_md and "| Household |" in report_md
    assert "on the validation split (" in report_md and "expected calibration error there" in report_md
    assert "The shipped model was refit on all" in report_md and "shipped model: refit on all" in trained.stdout

    evaluated = prodcat("evaluate", SAMPLE, "--model", out, "--report", tmp_path / "raw")
    assert evaluated.returncode == 0, evaluated.stderr
    raw = json.loads((tmp_path / "raw" / "metrics.json").read_text())["metrics"]
    assert raw["rows"] == 150 and raw["weighted_f1"] > 0.7

    predicted = prodcat("predict", "--model", out, "--top-k", "2", "Men's cotton polo t-shirt, slim fit, navy blue")
    assert predicted.returncode == 0, predicted.stderr
    lines = predicted.stdout.strip().splitlines()
    assert lines[0].split("\t")[0] == "Clothing & Accessories"
    assert len(lines) == 2 and float(lines[0].split("\t")[1]) > float(lines[1].split("\t")[1])  # --top-k 2: two in all


def test_train_lstm_writes_tensorboard_logs_and_epoch_plots(small_catalog_file, tmp_path):
    out, logs = tmp_path / "lstm", tmp_path / "logs"
    trained = prodcat(
        "train", small_catalog_file, "--out", out, "--log-dir", logs, "--epochs", "2", "--max-tokens", "3000",
        "--sequence-length", "40", "--embedding-dim", "16", "--lstm-units", "8", "--quiet",
        "--calibration-folds", "2",
    )
    assert trained.returncode == 0, trained.stderr
    assert (REPORT_FILES | EPOCH_PLOTS) <= {p.name for p in (out / "report").iterdir()}
    assert list(logs.rglob("events.out.tfevents.*")), "no TensorBoard event files"
    manifest = json.loads((out / "prodcat.json").read_text())
    assert manifest["params"]["lstm_units"] == 8
    best_epoch = 1 + min(range(len(manifest["history"]["val_loss"])), key=manifest["history"]["val_loss"].__getitem__)
    assert manifest["params"]["epochs"] == manifest["training"]["refit"]["epochs"] == best_epoch <= 2  # refit for the best epoch
    assert len(manifest["history"]["loss"]) >= 1 and "val_loss" in manifest["history"]


def test_random_split_report_says_it_leaks(small_catalog_file, tmp_path):
    out = tmp_path / "random"
    trained = prodcat("train", small_catalog_file, "--out", out, "--family", "linear", "--split", "random", "--no-refit")
    assert trained.returncode == 0, trained.stderr
    assert "LEAKS" in trained.stdout
    assert "This split leaks" in (out / "report" / "report.md").read_text()
    # --no-refit ships the evaluated model, calibrated on the validation split, as before the refit existed
    assert "shipped model: the evaluated one" in trained.stdout and "refit on all" not in (out / "report" / "report.md").read_text()
    manifest = json.loads((out / "prodcat.json").read_text())
    assert manifest["training"]["refit"] is None and manifest["calibration"]["method"].startswith("temperature scaling on the validation split")


def test_lstm_settings_refused_for_other_families(small_catalog_file, tmp_path):
    result = prodcat("train", small_catalog_file, "--family", "linear", "--epochs", "3", "--out", tmp_path / "m")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "--param" in result.stderr


def test_param_values_in_json():
    from prodcat.cli.options import parse_params

    params = parse_params(["member_params={\"linear\": {\"C\": 1, \"encoder\": \"all-MiniLM-L6-v2\"}}", "word_ngrams=1,3", "members=[\"bag\", \"linear\"]"])
    assert params == {"member_params": {"linear": {"C": 1, "encoder": "all-MiniLM-L6-v2"}}, "word_ngrams": [1, 3], "members": ["bag", "linear"]}


@pytest.fixture(scope="module")
def nine_per_label_file(tmp_path_factory):
    """270 real BigBasket titles: 30 sub-categories x 9 rows, a small shop's catalog."""
    import pandas as pd

    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    frame = frame[frame["product"].str.strip() != ""].drop_duplicates("product")
    counts = frame["sub_category"].value_counts()
    chosen = sorted(counts[counts >= 9].index)[:30]
    rows = pd.concat([frame[frame["sub_category"] == name].sample(9, random_state=0) for name in chosen])
    path = tmp_path_factory.mktemp("small_shop") / "shop.csv"
    rows[["product", "sub_category"]].to_csv(path, index=False)
    return path


@pytest.mark.parametrize("family, split", [("linear", "grouped"), ("linear", "random"), ("neighbors", "grouped")])
def test_a_catalog_of_nine_rows_per_label_gets_a_model_and_an_honest_report(nine_per_label_file, tmp_path, family, split):
    out = tmp_path / "model"
    trained = prodcat("train", nine_per_label_file, "--text-col", "product", "--label-col", "sub_category", "--family", family,
                      "--split", split, "--out", out, "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert "shipped model: refit on all 270 usable rows" in trained.stdout
    report = (out / "report" / "report.md").read_text()
    assert "Cross-validated over all 270 rows" in report and "steadier than the" in report
    assert len(json.loads((out / "prodcat.json").read_text())["labels"]) == 30
