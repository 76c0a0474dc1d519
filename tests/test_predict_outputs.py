"""What ``prodcat predict`` shows and writes: K categories in total everywhere, category paths with
their levels and back-off, prediction columns that never clash with a labelled file's, and the
accuracy on the file's own labels."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE, run_cli
from test_reports import grocery_file, path_model  # noqa: F401  (fixtures: a model of category paths)

from prodcat.categorizer import Categorizer
from prodcat.cli.predict import _estimated_rows, _progress_bar

HEADPHONES = "Sony wireless noise cancelling headphones"


def test_top_k_is_the_number_of_categories_in_total(capsys, linear_model_dir):
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, HEADPHONES, "--top-k", "3")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and lines[1].startswith("  ") and lines[2].startswith("  ")
    assert len(Categorizer.load(linear_model_dir).categorize([HEADPHONES], top_k=3)[0].top_k) == 3
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, HEADPHONES)
    assert code == 0 and len(out.splitlines()) == 1  # the default: the best category alone
    code, _, err = run_cli(capsys, "predict", "--model", linear_model_dir, HEADPHONES, "--top-k", "0")
    assert code == 2 and "--top-k" in err


def test_a_category_path_shows_the_path_each_level_and_where_it_backed_off(capsys, path_model):
    categorizer = Categorizer.load(path_model)
    texts = ["Tata tea gold 1kg", "Amul Butter 500 g", "Dettol original soap 125 g"]
    code, out, _ = run_cli(capsys, "predict", "--model", path_model, *texts, "--top-k", "2")
    assert code == 0
    blocks = out.split("\n")[:-1]
    for text, prediction in zip(texts, categorizer.categorize(texts, top_k=2)):
        head, level_1, level_2, runner_up, *rest = blocks
        blocks = rest
        leaf_line = f"{prediction.path[-1]}\t{prediction.path_confidence[-1]:.4f}"
        assert head.startswith(leaf_line)  # the decoded leaf, not the node it backed off to
        assert ("needs review" in head) == prediction.needs_review
        for level, line in enumerate((level_1, level_2)):
            name = prediction.path[level].split(" > ")[-1]
            assert line.startswith(f"  level {level + 1}: {name}\t{prediction.path_confidence[level]:.4f}")
            backed_off = level >= prediction.depth
            assert ("backed off (threshold " in line) == backed_off
        assert runner_up == f"  {prediction.top_k[1][0]}\t{prediction.top_k[1][1]:.4f}"
    assert blocks == []


def test_a_labelled_file_keeps_every_column_and_gets_its_accuracy(capsys, path_model, grocery_file, tmp_path):
    code, out, err = run_cli(capsys, "predict", "--model", path_model, "-i", grocery_file, "-o", tmp_path / "out.parquet")
    assert code == 0, err
    result = pq.read_table(tmp_path / "out.parquet").to_pandas()
    source = pd.read_csv(grocery_file, dtype=str, keep_default_na=False)
    assert list(result.columns[:4]) == list(source.columns) == ["product", "brand", "category", "sub_category"]
    assert result["category"].tolist() == source["category"].tolist()  # the labels stay as they were
    truth = source["category"] + " > " + source["sub_category"]
    accuracy = (result["predicted_path"] == truth).mean()
    assert f"accuracy on the input's label column category,sub_category: {accuracy:.4f} (1,600 rows with a label)" in out
    code, out, _ = run_cli(capsys, "predict", "--model", path_model, "-i", grocery_file, "-o", tmp_path / "o.csv", "--keep", "product")
    assert code == 0 and f"sub_category: {accuracy:.4f}" in out  # counted even when the labels are not copied


def test_a_headerless_file_is_scored_on_the_model_label_position(capsys, linear_model_dir, tmp_path):
    code, out, err = run_cli(capsys, "predict", "--model", linear_model_dir, "-i", SAMPLE, "-o", tmp_path / "out.csv")
    assert code == 0, err
    result = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    accuracy = (result["predicted_category"] == result["0"]).mean()
    assert f"accuracy on the input's label column 0: {accuracy:.4f} (150 rows with a label)" in out


def test_a_file_without_the_label_column_gets_no_accuracy_line(capsys, linear_model_dir, tmp_path):
    pd.DataFrame({"title": [HEADPHONES, "cotton kurta"]}).to_csv(tmp_path / "new.csv", index=False)
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, "-i", tmp_path / "new.csv", "-o", tmp_path / "o.csv")
    assert code == 0 and "accuracy" not in out


def test_the_progress_bar_knows_about_how_many_rows_and_stays_off_outside_a_terminal(tmp_path):
    frame = pd.DataFrame({"title": ["a", "b\nc", "d"]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet")
    assert _estimated_rows(tmp_path / "t.parquet", None) == 3
    assert _estimated_rows(tmp_path / "t.csv", None) == 5  # lines: an upper bound of the rows
    assert _estimated_rows(tmp_path / "missing.csv", None) is None
    with _progress_bar(quiet=False, input=tmp_path / "t.csv") as (advance, _):  # not a terminal here
        assert advance(3) is None
