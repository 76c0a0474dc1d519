"""Category trees: ``Tree`` itself, both ways of training on category paths (a flat ``linear`` model
over full paths and the ``hierarchical`` family), back-off, per-level metrics and report, save/load,
and the command line, on a small three-level BigBasket catalog."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import BIGBASKET, TINY_LINEAR
from prodcat.categorizer import Categorizer
from prodcat.data.reading import PATH_SEPARATOR, read_catalog
from prodcat.hierarchy import Tree, is_hierarchical, split_path
from prodcat.training import train

LEVELS = ["category", "sub_category", "type"]
LABEL_COLS = ",".join(LEVELS)
TOP_CATEGORIES = 3
TRAIN_ROWS = 2000
UNSEEN_ROWS = 300
GARLIC_OIL = "Garlic Oil - Vegetarian Capsule 500 mg"  # row 1 of BigBasket: Beauty & Hygiene > Hair Care > Hair Oil & Serum
FAMILIES = {
    "linear": dict(TINY_LINEAR),
    "hierarchical": {"base": "linear", "base_params": dict(TINY_LINEAR)},
}


# -- data -----------------------------------------------------------------------------------------
@functools.cache
def _bigbasket_top_rows() -> pd.DataFrame:
    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    top = frame["category"].value_counts().index[:TOP_CATEGORIES]
    return frame[frame["category"].isin(top)].reset_index(drop=True)


def bigbasket_rows() -> pd.DataFrame:
    """BigBasket's rows in the TOP_CATEGORIES largest top-level categories, in file order (a copy)."""
    return _bigbasket_top_rows().copy()


def write_bigbasket_sample(path: Path, rows: int = TRAIN_ROWS) -> Path:
    """The first ``rows`` of ``bigbasket_rows`` (row 1, the garlic oil, among them) as a CSV with a header:
    ``index, product`` and the three label columns."""
    bigbasket_rows().head(rows)[["index", "product", *LEVELS]].to_csv(path, index=False)
    return path


def unseen_texts() -> list[str]:
    """Titles of the same categories that the sample leaves out."""
    return bigbasket_rows().iloc[TRAIN_ROWS : TRAIN_ROWS + UNSEEN_ROWS]["product"].tolist()


def prefixes_of(label: str) -> list[str]:
    parts = label.split(PATH_SEPARATOR)
    return [PATH_SEPARATOR.join(parts[: d + 1]) for d in range(len(parts))]


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory) -> Path:
    return write_bigbasket_sample(tmp_path_factory.mktemp("bigbasket") / "bigbasket.csv")


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request, sample_file, tmp_path_factory):
    """(TrainResult, model directory) of each family, trained on the three-level sample."""
    out = tmp_path_factory.mktemp("models") / request.param
    result = train(
        sample_file, out=out, family=request.param, params=FAMILIES[request.param], text_cols="product",
        label_cols=LABEL_COLS, drop_rare_labels=True, log_dir=None, verbose=0,
    )
    return result, out


# -- Tree on a hand-made tree -------------------------------------------------------------------
HAND_LABELS = ["A > A1 > a", "A > A1 > b", "A > A2 > c", "B > B1 > d", "B > B2 > e", "B > B2 > f"]


def test_tree_prefixes_and_membership_per_level():
    tree = Tree(HAND_LABELS)
    assert tree.depth == 3
    assert tree.prefixes == [["A", "B"], ["A > A1", "A > A2", "B > B1", "B > B2"], HAND_LABELS]
    assert tree.membership[0].tolist() == [0, 0, 0, 1, 1, 1]
    assert tree.membership[1].tolist() == [0, 0, 1, 2, 3, 3]
    assert tree.membership[2].tolist() == [0, 1, 2, 3, 4, 5]
    assert tree.describe() == {"depth": 3, "nodes_per_level": [2, 4, 6], "mean_branching_per_level": [2.0, 1.5]}


def test_path_helpers():
    assert split_path("A > A1 > a") == ["A", "A1", "a"]
    assert is_hierarchical(["flat", "A > B"]) and not is_hierarchical(["Books", "Electronics"])


def test_level_probabilities_are_sums_over_the_leaves_below():
    tree = Tree(HAND_LABELS)
    probs = np.random.default_rng(0).dirichlet(np.ones(len(HAND_LABELS)), size=50)
    for depth in range(3):
        level = tree.level_probabilities(probs, depth)
        assert level.shape == (50, len(tree.prefixes[depth]))
        np.testing.assert_allclose(level.sum(axis=1), 1.0)
    np.testing.assert_allclose(tree.level_probabilities(probs, 0)[:, 0], probs[:, :3].sum(axis=1))
    np.testing.assert_allclose(tree.level_probabilities(probs, 1)[:, 3], probs[:, 4] + probs[:, 5])
    np.testing.assert_allclose(tree.level_probabilities(probs, 2), probs)


def test_decode_follows_the_heavier_parent_not_the_best_leaf():
    tree = Tree(HAND_LABELS)
    #                  A>A1>a A>A1>b A>A2>c B>B1>d B>B2>e B>B2>f
    probs = np.array([[0.40, 0.00, 0.00, 0.15, 0.25, 0.20]])
    assert HAND_LABELS[probs.argmax()] == "A > A1 > a"  # the best single leaf is under A ...
    paths, confidences = tree.decode(probs)  # ... but B holds 0.6 of the mass
    assert paths == [["B", "B > B2", "B > B2 > e"]]
    np.testing.assert_allclose(confidences, [[0.60, 0.45, 0.25]])


def test_decode_always_returns_an_existing_path_with_shrinking_confidence():
    tree = Tree(HAND_LABELS)
    probs = np.random.default_rng(1).dirichlet(np.full(len(HAND_LABELS), 0.3), size=200)
    paths, confidences = tree.decode(probs)
    for path, confidence in zip(paths, confidences):
        assert path[-1] in HAND_LABELS and path == prefixes_of(path[-1])
        assert np.all(np.diff(confidence) <= 1e-12)


# -- training on category paths -------------------------------------------------------------------
def test_labels_are_the_paths_of_the_tree(trained):
    result, _ = trained
    categorizer = result.categorizer
    assert categorizer.tree_ is not None and categorizer.tree_.depth == 3
    assert all(len(split_path(label)) == 3 for label in categorizer.labels)
    assert categorizer.describe()["hierarchy"]["nodes_per_level"][0] == TOP_CATEGORIES
    assert result.skipped.get("label with a single row", 0) > 0  # the sample has singleton leaves, dropped and counted


def test_predict_returns_training_labels_and_agrees_with_categorize(trained):
    categorizer = trained[0].categorizer
    texts = unseen_texts()
    predicted = categorizer.predict(texts)
    assert set(predicted) <= set(categorizer.labels)
    assert [p.path[-1] for p in categorizer.categorize(texts)] == predicted


def test_categorize_backs_off_to_the_deepest_confident_level(trained):
    categorizer = trained[0].categorizer
    thresholds = categorizer.level_thresholds_
    assert len(thresholds) == 3 and all(0.0 < t <= 1.0 for t in thresholds)
    assert categorizer.threshold_ == thresholds[-1]
    predictions = categorizer.categorize(unseen_texts(), top_k=2)
    for p in predictions:
        assert p.path[-1] in categorizer.labels and p.path == prefixes_of(p.path[-1])
        assert 0 <= p.depth <= 3 and p.needs_review == (p.depth < 3)
        confident = 0
        while confident < 3 and p.path_confidence[confident] >= thresholds[confident]:
            confident += 1
        assert p.depth == confident
        shown = max(p.depth, 1) - 1
        assert p.category == p.path[shown] and p.confidence == pytest.approx(p.path_confidence[shown])
        assert np.all(np.diff(p.path_confidence) <= 1e-9)
        assert len(p.top_k) == 2 and all(label in categorizer.labels for label, _ in p.top_k)
    depths = {p.depth for p in predictions}
    assert 3 in depths and depths & {0, 1, 2}, f"expected both full and backed-off predictions, got depths {depths}"


def test_per_level_metrics(trained):
    result, _ = trained
    hierarchy = result.metrics["hierarchy"]
    levels = hierarchy["levels"]
    assert [level["level"] for level in levels] == [1, 2, 3]
    assert all(level["rows"] == result.metrics["rows"] for level in levels)
    accuracies = [level["accuracy"] for level in levels]
    assert accuracies == sorted(accuracies, reverse=True), "a right leaf implies right ancestors when decoding top-down"
    for key in ("accuracy", "weighted_f1", "macro_f1"):  # the leaf level is the flat task
        assert levels[-1][key] == pytest.approx(result.metrics[key]), key
    assert 0.0 < hierarchy["hierarchical_f1"] <= 1.0
    assert hierarchy["hierarchical_f1"] == pytest.approx(np.mean(accuracies))  # every path is full depth
    assert hierarchy["mean_level_weighted_f1"] == pytest.approx(np.mean([level["weighted_f1"] for level in levels]))
    for level, threshold in zip(levels, result.evaluated.level_thresholds_):  # the model the test rows scored
        assert level["review"]["threshold"] == threshold and 0.0 <= level["review"]["coverage"] <= 1.0


def test_save_and_load_give_the_same_predictions(trained):
    result, out = trained
    loaded = Categorizer.load(out)
    texts = unseen_texts()[:100] + [GARLIC_OIL]
    np.testing.assert_array_equal(loaded.predict_proba(texts), result.categorizer.predict_proba(texts))
    assert loaded.tree_ is not None and loaded.tree_.prefixes == result.categorizer.tree_.prefixes
    assert loaded.level_thresholds_ == result.categorizer.level_thresholds_
    assert [p.to_dict() for p in loaded.categorize(texts, top_k=3)] == [p.to_dict() for p in result.categorizer.categorize(texts, top_k=3)]


def test_report_has_the_per_level_table(trained):
    result, out = trained
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Per level" in report and "Back-off" in report
    rows = [line for line in report.splitlines() if line.startswith(("| 1 |", "| 2 |", "| 3 |"))]
    assert len(rows) == 3
    for row, level in zip(rows, result.metrics["hierarchy"]["levels"]):
        assert f"| {level['accuracy']:.4f} |" in row and f"{level['review']['coverage']:.1%}" in row
    assert f"Hierarchical F1 (over each path's ancestors): {result.metrics['hierarchy']['hierarchical_f1']:.4f}" in report


def test_a_flat_report_has_no_per_level_table(linear_model_dir):
    report = (linear_model_dir / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Summary" in report and "Per level" not in report


# -- reading category paths -------------------------------------------------------------------------
@pytest.mark.parametrize("separator", [" > ", "|"])
def test_path_sep_in_one_column_gives_the_labels_of_three_columns(tmp_path, separator):
    frame = bigbasket_rows().head(500)
    frame = frame.assign(path=frame[LEVELS].agg(separator.join, axis=1))[["product", *LEVELS, "path"]]
    frame.to_csv(tmp_path / "paths.csv", index=False)
    three = read_catalog(tmp_path / "paths.csv", text_cols="product", label_cols=LABEL_COLS)
    one = read_catalog(tmp_path / "paths.csv", text_cols="product", label_cols="path", path_sep=separator)
    assert one.labels == three.labels
    assert all(len(split_path(label)) == 3 for label in one.labels)


# -- the command line -----------------------------------------------------------------------------------
def prodcat(*args):
    return subprocess.run([sys.executable, "-m", "prodcat", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_train_predict_and_inspect_a_category_tree(tmp_path):
    catalog = write_bigbasket_sample(tmp_path / "bigbasket.csv", rows=1500)
    out = tmp_path / "model"
    trained = prodcat(
        "train", catalog, "--family", "linear", "--text-col", "product", "--label-col", LABEL_COLS, "--drop-rare-labels",
        "--param", "char_ngrams=2,4", "--param", "max_features=50000", "--out", out, "--quiet",
    )
    assert trained.returncode == 0, trained.stderr
    assert "label with a single row" in trained.stdout
    assert "## Per level" in (out / "report" / "report.md").read_text(encoding="utf-8")

    predicted = prodcat("predict", "--model", out, GARLIC_OIL, "--json")
    assert predicted.returncode == 0, predicted.stderr
    answer = json.loads(predicted.stdout)
    assert answer["text"] == GARLIC_OIL
    assert len(answer["path"]) == 3 and answer["path"] == prefixes_of(answer["path"][-1])
    assert answer["path"][0] == "Beauty & Hygiene"
    assert 0 <= answer["depth"] <= 3 and answer["needs_review"] == (answer["depth"] < 3)
    assert answer["category"] == answer["path"][max(answer["depth"], 1) - 1]
    assert len(answer["path_confidence"]) == 3

    inspected = prodcat("data", "inspect", catalog, "--text-col", "product", "--label-col", LABEL_COLS)
    assert inspected.returncode == 0, inspected.stderr
    assert f"category tree: depth 3; nodes level 1: {TOP_CATEGORIES}, level 2:" in inspected.stdout
