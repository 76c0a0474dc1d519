"""inspect_catalog and ``prodcat data inspect`` on real rows with known gaps, duplicates and a category tree."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter

import pytest
from conftest import BIGBASKET, SAMPLE
from typer.testing import CliRunner

from prodcat.cli.app import app
from prodcat.data.inspection import category_tree, inspect_catalog
from prodcat.data.reading import read_catalog

TREE = {
    "Home > Kitchen > Pans": 12,
    "Home > Kitchen > Cups": 3,
    "Home > Garden": 10,
    "Books > Fiction": 2,
    "Books > Travel": 15,
    "Books > Poetry": 1,
}


@pytest.fixture(scope="module")
def sample_rows() -> list[tuple[str, str]]:
    catalog = read_catalog(SAMPLE)
    return list(zip(catalog.labels, catalog.texts))


def _write(path, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


@pytest.fixture(scope="module")
def messy_file(sample_rows, tmp_path_factory):
    """40 real rows, then: row 1 twice more (case and punctuation changed), row 2 once with another
    label, row 3 in two colour/size variants, an empty text (row 46) and an empty label (row 47)."""
    base = sample_rows[:40]
    (l1, t1), (l2, t2), (l3, t3) = base[0], base[1], base[2]
    other = next(label for label, _ in base if label != l2)
    extra = [(l1, t1.upper()), (l1, t1.replace(" ", "  ,") + "."), (other, t2), (l3, t3 + " - Black, XL"), (l3, t3 + " - White, M"),
             (l1, ""), ("", "Solar garden lamp, waterproof")]
    path = tmp_path_factory.mktemp("inspect") / "messy.csv"
    _write(path, base + extra)
    return path, base, other


def test_counts_rows_labels_and_empty_cells(messy_file):
    path, base, _ = messy_file
    report = inspect_catalog(read_catalog(path, header=False))
    assert report["rows"] == 47
    assert report["text_columns"] == ["1"] and report["label_columns"] == ["0"]
    catalog = read_catalog(path, header=False)
    expected = Counter(label for label in catalog.labels if label)
    assert report["labels"] == dict(expected)
    counts = list(report["labels"].values())
    assert counts == sorted(counts, reverse=True)
    assert report["empty_texts"] == {"count": 1, "rows": [46]}
    assert report["empty_labels"] == {"count": 1, "rows": [47]}


def test_exact_and_conflicting_duplicates(messy_file):
    path, base, other = messy_file
    report = inspect_catalog(read_catalog(path, header=False))
    duplicates = report["exact_duplicates"]
    assert duplicates["rows"] == 3  # two copies of row 1, one of row 2
    assert duplicates["groups"] == 2
    assert duplicates["conflicting_groups"] == 1 and duplicates["conflicting_rows"] == 2
    (example,) = duplicates["conflicting_examples"]
    assert example["rows"] == [2, 43]
    assert example["labels"] == {base[1][0]: 1, other: 1}


def test_near_duplicate_groups(messy_file):
    path, base, _ = messy_file
    near = inspect_catalog(read_catalog(path, header=False))["near_duplicates"]
    assert near["groups"] == 1 and near["rows"] == 3
    (group,) = near["largest"]
    assert group["variants"] == 3
    assert near["conflicting_groups"] == 0


def test_text_length_statistics(messy_file):
    path, _, _ = messy_file
    catalog = read_catalog(path, header=False)
    lengths = sorted(len(t) for t in catalog.texts)
    stats = inspect_catalog(catalog)["text_length"]
    assert stats["characters"]["min"] == lengths[0] == 0
    assert stats["characters"]["max"] == lengths[-1]
    assert stats["characters"]["median"] == (lengths[23] if len(lengths) % 2 else (lengths[22] + lengths[23]) / 2)
    assert stats["characters"]["min"] <= stats["characters"]["p95"] <= stats["characters"]["max"]
    assert stats["words"]["max"] == max(len(t.split()) for t in catalog.texts)


def test_flat_labels_have_no_tree(sample_rows):
    report = inspect_catalog(read_catalog(SAMPLE))
    assert report["rows"] == 150 and len(report["labels"]) == 4
    assert report["hierarchy"] is None


def test_category_tree_shape():
    tree = category_tree(TREE)
    assert tree["depth"] == 3 and tree["min_depth"] == 2
    assert tree["nodes_per_level"] == [2, 5, 2]  # Home, Books | Kitchen, Garden, Fiction, Travel, Poetry | Pans, Cups
    assert tree["mean_branching"] == round((2 + 3 + 2) / 3, 2)  # Home, Books, Home > Kitchen
    assert tree["leaves"] == 6
    rare = tree["rare_leaves"]
    assert rare["count"] == 3
    assert list(rare["examples"].items()) == [("Books > Poetry", 1), ("Books > Fiction", 2), ("Home > Kitchen > Cups", 3)]


def test_tree_from_a_file_with_path_labels(sample_rows, tmp_path):
    texts = iter(text for _, text in sample_rows)
    rows = [(label.replace(" > ", "/"), next(texts)) for label, n in TREE.items() for _ in range(n)]
    path = tmp_path / "tree.csv"
    _write(path, [("category", "text"), *rows])
    report = inspect_catalog(read_catalog(path, path_sep="/"))
    assert report["labels"] == dict(Counter(TREE).most_common())
    assert report["hierarchy"] == category_tree(TREE)


def test_bigbasket_is_inspected_quickly():
    catalog = read_catalog(BIGBASKET, text_cols="product", label_cols="category,sub_category,type")
    started = time.perf_counter()
    report = inspect_catalog(catalog)
    seconds = time.perf_counter() - started
    assert seconds < 10, f"inspecting 20,000 rows took {seconds:.1f} s"
    assert report["rows"] == 20_000
    assert report["empty_texts"]["count"] == 1  # as documented for this file
    tree = report["hierarchy"]
    assert tree["depth"] == 3 and tree["nodes_per_level"][0] == 11
    assert tree["leaves"] == tree["nodes_per_level"][2] == len(report["labels"])
    assert report["exact_duplicates"]["conflicting_groups"] > 0 and report["near_duplicates"]["groups"] > 0


def test_cli_json_and_tables(messy_file):
    path, _, _ = messy_file
    runner = CliRunner()
    result = runner.invoke(app, ["data", "inspect", str(path), "--no-header", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == inspect_catalog(read_catalog(path, header=False))
    result = runner.invoke(app, ["data", "inspect", str(path), "--no-header"])
    assert result.exit_code == 0, result.output
    assert "47 rows" in result.stdout and "empty texts: 1 (rows 46)" in result.stdout
    assert "exact duplicates: 3 rows" in result.stdout and "category tree" not in result.stdout


def test_cli_prints_the_tree(tmp_path, sample_rows):
    rows = [(label, text) for (label, text) in zip(TREE, (t for _, t in sample_rows)) for _ in range(TREE[label])]
    path = tmp_path / "tree.csv"
    _write(path, [("category", "text"), *rows])
    result = CliRunner().invoke(app, ["data", "inspect", str(path), "--path-sep", " > "])
    assert result.exit_code == 0, result.output
    assert "category tree: depth 3" in result.stdout and "leaves with fewer than 10 rows: 3" in result.stdout
    flat = CliRunner().invoke(app, ["data", "inspect", str(path)])  # " > " in a label is only text without --path-sep
    assert flat.exit_code == 0 and "category tree" not in flat.stdout
