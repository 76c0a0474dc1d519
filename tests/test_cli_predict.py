"""``prodcat predict``: texts on the command line, and whole files with --input/--output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import NORMALIZED, ROOT
from prodcat.categorizer import EMPTY_TEXT_REASON, Categorizer
from prodcat.cli.app import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``prodcat ARGS`` run in this process."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def write_catalog(path, rows: int = 30) -> pd.DataFrame:
    """Real texts with ids, a quoted multi-line text and an empty one."""
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1].head(rows - 2).tolist()
    texts[5:5] = ['wireless "noise cancelling" headphones,\nblack', ""]
    frame = pd.DataFrame({"id": [str(i) for i in range(rows)], "title": texts})
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False)
    return frame


def values(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column]


def files_in(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_single_text_mode_still_works(capsys, linear_model_dir):
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, "sony wireless headphones", "", "-k", "1")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split("\t")[0] in Categorizer.load(linear_model_dir).labels
    assert lines[1].startswith("  ") and lines[2] == f"(no category)\t{EMPTY_TEXT_REASON}"
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, "--json", "cotton kurta")
    assert code == 0 and json.loads(out)["text"] == "cotton kurta"


def test_csv_to_parquet_with_top_k_and_small_chunks(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.csv", tmp_path / "out" / "predictions.parquet"
    frame = write_catalog(source)
    code, out, err = run_cli(
        capsys, "predict", "-m", linear_model_dir, "--input", source, "--output", target, "--top-k", "2", "--chunk-rows", "7"
    )
    assert code == 0, err
    result = pq.read_table(target).to_pandas()
    categorizer = Categorizer.load(linear_model_dir)
    expected = categorizer.categorize(frame["title"].tolist(), top_k=3)
    assert result["id"].tolist() == frame["id"].tolist()
    assert result["title"].tolist() == frame["title"].tolist()
    assert values(result["category"]) == [p.category for p in expected]
    assert values(result["category_3"]) == [p.top_k[2][0] if p.top_k else None for p in expected]
    assert values(result["reason"]) == [p.reason for p in expected]
    assert f"wrote {len(frame)} rows to {target}, 1 without usable text" in out
    assert "rows/s" in err  # the progress display is on stderr


def test_jsonl_to_csv_with_keep_and_quiet(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.jsonl", tmp_path / "predictions.csv"
    frame = write_catalog(source)
    code, _, err = run_cli(
        capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--keep", "id", "--chunk-rows", "7", "--quiet"
    )
    assert code == 0 and err == ""
    result = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(result.columns[:3]) == ["id", "category", "confidence"]
    assert "title" not in result.columns and result.columns[-1] == "reason"
    assert result["id"].tolist() == frame["id"].tolist()


def test_formats_can_be_given_explicitly(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.txt", tmp_path / "predictions.out"
    frame = write_catalog(tmp_path / "catalog.csv")
    (tmp_path / "catalog.csv").rename(source)
    args = ["predict", "-m", linear_model_dir, "-i", source, "-o", target, "-q"]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "pass --output-format" in err
    code, _, err = run_cli(capsys, *args, "--output-format", "tsv")
    assert code == 2 and "pass --format" in err
    code, _, err = run_cli(capsys, *args, "--format", "csv", "--output-format", "tsv", "--text-col", "title")
    assert code == 0, err
    assert pd.read_csv(target, sep="\t", dtype=str)["id"].tolist() == frame["id"].tolist()


def test_non_utf8_input_is_one_line_exit_2_and_no_output(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.csv", tmp_path / "predictions.csv"
    write_catalog(source)
    source.write_bytes(source.read_bytes() + b"30,caf\xe9 cr\xe8me\n")
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--chunk-rows", "7", "-q")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "not valid utf-8" in err and "--encoding" in err
    assert files_in(tmp_path) == ["catalog.csv"]


def test_missing_text_column_is_a_clear_error(capsys, linear_model_dir, tmp_path):
    source = tmp_path / "catalog.csv"
    write_catalog(source)
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", tmp_path / "p.csv", "--text-col", "name")
    assert code == 2 and "--text-col 'name' is not a column; the columns are 'id', 'title'" in err
    assert files_in(tmp_path) == ["catalog.csv"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["text", "--input", "x.csv", "--output", "y.csv"], "not both"),
        (["--input", "x.csv"], "needs both --input FILE and --output FILE"),
        (["--input", "x.csv", "--output", "y.csv", "--json"], "--json is for texts"),
        ([], "no text given"),
    ],
)
def test_mode_mistakes_are_explained(capsys, linear_model_dir, args, message):
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, *args)
    assert code == 2 and message in err


def test_ctrl_c_leaves_no_output_and_no_temp_file(linear_model_dir, tmp_path):
    source, target = tmp_path / "big.csv", tmp_path / "predictions.csv"
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1]
    big = pd.concat([texts] * 3, ignore_index=True)
    pd.DataFrame({"id": range(len(big)), "text": big}).to_csv(source, index=False)
    command = [sys.executable, "-m", "prodcat", "predict", "-m", str(linear_model_dir), "-i", str(source), "-o", str(target),
               "--chunk-rows", "500", "-q"]
    child = subprocess.Popen(  # a shell's background job ignores SIGINT; a terminal's Ctrl-C does not
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".predictions.csv.*.part")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "prodcat predict ended before it was interrupted; make the file bigger"
    time.sleep(1.5)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert f"interrupted: {target} was not written" in err
    assert files_in(tmp_path) == ["big.csv"]
    assert os.stat(source).st_size > 0
