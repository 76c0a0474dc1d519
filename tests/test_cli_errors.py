"""The real ``prodcat`` command on bad input: exit code 2 and one line on stderr naming the culprit.

Every case runs ``python -m prodcat`` in a subprocess; they are started together (a few at a time)
once per module, and each test then checks its own result.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from prodcat.data.reading import read_catalog

TRAIN = ["train", "--family", "linear", "-q"]


def _write(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Bad inputs made from real rows of the reference sample."""
    catalog = read_catalog(SAMPLE)
    rows = list(zip(catalog.labels, catalog.texts))
    folder = tmp_path_factory.mktemp("bad")
    latin = folder / "latin.csv"
    good = [f"{label},{text.split(',')[0]}\n".encode() for label, text in rows[:30]]
    latin.write_bytes(b"".join(good[:7]) + "Books,Café crème cookbook\n".encode("latin-1") + b"".join(good[7:]))
    (folder / "not_a_model").mkdir()
    (folder / "not_a_model" / "weights.bin").write_bytes(b"\0" * 16)
    (folder / "prodcat.json").write_text("{}", encoding="utf-8")
    return {
        "good": _write(folder / "good.csv", rows),
        "header": _write(folder / "header.csv", [("category", "text"), *rows]),
        "empty": _write(folder / "empty.csv", []),
        "one_label": _write(folder / "one_label.csv", [row for row in rows if row[0] == rows[0][0]]),
        "swapped": _write(folder / "swapped.csv", [(text, label) for label, text in rows]),
        "one_product": _write(folder / "one_product.csv", [(label, f"{text.split()[0]} {i}") for i, (label, text) in enumerate(rows[:4] * 20)]),
        "latin": latin,
        "not_a_model": folder / "not_a_model",
        "folder": folder,
    }


def _cases(f: dict[str, Path]) -> dict[str, tuple[list[str], list[str]]]:
    """name → (arguments, fragments the one error line must contain)."""
    out = str(f["folder"] / "model-out")
    return {
        "missing file": ([*TRAIN, str(f["folder"] / "nowhere.csv"), "-o", out], ["nowhere.csv", "no such file"]),
        "unknown column": ([*TRAIN, str(f["header"]), "--text-col", "titel", "-o", out], ["header.csv", "--text-col 'titel'", "'text'"]),
        "empty file": ([*TRAIN, str(f["empty"]), "-o", out], ["empty.csv", "empty"]),
        "one label": ([*TRAIN, str(f["one_label"]), "-o", out], ["one_label.csv", "only one label"]),
        "swapped columns": ([*TRAIN, str(f["swapped"]), "-o", out], ["swapped.csv", "labels occur once", "--text-col and --label-col"]),
        "few products": ([*TRAIN, str(f["one_product"]), "-o", out], ["one_product.csv", "too few distinct products (4 among 80 rows"]),
        "too few calibration folds": ([*TRAIN, str(f["good"]), "--calibration-folds", "1", "-o", out], ["--calibration-folds", "at least 2"]),
        "non-utf8": ([*TRAIN, str(f["latin"]), "-o", out], ["latin.csv", "line 8", "--encoding"]),
        "predict not a model": (["predict", "--model", str(f["not_a_model"]), "a cotton shirt"], ["not_a_model", "not a prodcat model"]),
        "model is a file": (["predict", "--model", str(f["good"]), "a cotton shirt"], ["good.csv", "is a file, not a model directory"]),
        "model is its manifest": (["predict", "--model", str(f["folder"] / "prodcat.json"), "a cotton shirt"],
                                  ["prodcat.json", f"the directory that holds it, {f['folder']}"]),
        "evaluate not a model": (["evaluate", str(f["good"]), "--model", str(f["not_a_model"]), "-r", out], ["not_a_model", "not a prodcat model"]),
        "bad param": ([*TRAIN, str(f["good"]), "--param", "C", "-o", out], ["--param 'C'", "KEY=VALUE"]),
        "time budget without auto": ([*TRAIN, str(f["good"]), "--time-budget", "5m", "-o", out], ["--time-budget", "--family auto"]),
        "bad time budget": (["train", str(f["good"]), "--family", "auto", "--time-budget", "soon", "-o", out], ["--time-budget 'soon'", "5m"]),
        "param with auto": (["train", str(f["good"]), "--family", "auto", "--param", "C=1", "-o", out], ["--param C", "named --family"]),
        "bad JSON param": ([*TRAIN, str(f["good"]), "--param", "member_params={linear: 1}", "-o", out], ["--param member_params", "not valid JSON"]),
        "unknown encoder": (["fetch-encoder", "MiniLM"], ["unknown encoder 'MiniLM'", "all-MiniLM-L6-v2"]),
        "inspect unknown column": (["data", "inspect", str(f["header"]), "--label-col", "categorie"], ["header.csv", "--label-col 'categorie'"]),
        "debug missing file": (["--debug", *TRAIN, str(f["folder"] / "nowhere.csv")], []),
    }


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRODCAT_CACHE": str(ROOT / "nonexistent-cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "prodcat", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)


@pytest.fixture(scope="module")
def results(files) -> dict[str, subprocess.CompletedProcess]:
    cases = _cases(files)
    assert set(cases) == {*USER_ERRORS, "debug missing file"}
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(cases, pool.map(_run, [args for args, _ in cases.values()])))
    assert not (files["folder"] / "model-out").exists()  # no failed command leaves a model behind
    return done


USER_ERRORS = [
    "missing file", "unknown column", "empty file", "one label", "few products", "swapped columns", "too few calibration folds", "non-utf8", "predict not a model",
    "evaluate not a model", "model is a file", "model is its manifest", "bad param", "bad JSON param", "unknown encoder", "inspect unknown column",
    "time budget without auto", "bad time budget", "param with auto",
]


@pytest.mark.parametrize("case", USER_ERRORS)
def test_user_error_is_one_line_with_exit_code_2(results, files, case):
    result = results[case]
    fragments = _cases(files)[case][1]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # The error is one line, the last; before it only the reader's one-line notice of how it read the
    # file's first row (a header or data) may come, never a progress frame or a log line.
    *notices, error = result.stderr.splitlines()
    assert result.stderr.endswith("\n"), result.stderr
    assert error.startswith("error: ") and all(line.startswith("treating row 1 as ") for line in notices), result.stderr
    assert len(notices) <= 1, result.stderr
    for fragment in fragments:
        assert fragment in error


def test_debug_shows_the_traceback(results):
    result = results["debug missing file"]
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "prodcat.errors.DataError: " in result.stderr and "nowhere.csv" in result.stderr
