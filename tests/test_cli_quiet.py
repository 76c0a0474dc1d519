"""What the command line prints besides its answers: no TensorFlow log lines, options checked before
any data is read, a help text that fits 80 columns, no model or report directory replaced unasked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

from prodcat.cli.train import _training_progress, _uses_keras

ENV = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}  # conftest silences it


def prodcat(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "prodcat", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, cwd=ROOT, timeout=300)


def test_a_keras_model_prints_no_tensorflow_log_lines(bag_model_dir):
    quiet = prodcat("predict", "--model", bag_model_dir, "usb charger cable")
    assert quiet.returncode == 0 and len(quiet.stdout.splitlines()) == 1, quiet.stderr
    # before: absl's "WARNING: All log messages before absl::InitializeLog() ...", "I0000 ... oneDNN" lines
    assert quiet.stderr == ""


def test_the_sentence_encoder_imports_tensorflow_quietly():
    code = "from prodcat.models.sentence_encoder import import_encoder_libraries; import_encoder_libraries()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("options, expected", [
    (["--family", "lstmm"], "--family 'lstmm' is not a model family"),
    (["--family", "linear", "--param", "Cee=1"], "'Cee' is not a linear setting"),
    (["--family", "linear", "--split", "stratified"], "--split 'stratified' is not known"),
    (["--family", "linear", "--class-weight", "heavy"], "class_weight must be None or 'balanced'"),
])
def test_train_options_are_checked_before_the_file_is_read(capsys, tmp_path, options, expected):
    code, _, err = run_cli(capsys, "train", tmp_path / "nowhere.csv", "--out", tmp_path / "m", *options)
    assert code == 2 and expected in err and "nowhere.csv" not in err


def test_train_and_evaluate_replace_a_directory_only_with_force(capsys, tmp_path, small_catalog_file):
    out = tmp_path / "model"
    args = ["train", small_catalog_file, "--family", "linear", "--param", "char_ngrams=0,0", "--out", out, "-q"]
    code, _, err = run_cli(capsys, *args[:-1])  # not quiet: each stage on stderr (not a terminal: no spinner)
    assert code == 0
    stages = [line.split(" ")[0] for line in err.splitlines() if not line.startswith("treating")]
    assert stages == ["reading", "training", "testing", "refitting", "writing"], err
    (out / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and f"{out}: exists and is not empty; pass --force" in err and (out / "keep.txt").exists()
    assert run_cli(capsys, *args, "--force")[0] == 0 and not (out / "keep.txt").exists()
    report = tmp_path / "report"
    evaluate = ["evaluate", small_catalog_file, "--model", out, "--report", report]
    assert run_cli(capsys, *evaluate)[0] == 0
    code, _, err = run_cli(capsys, *evaluate)
    assert code == 2 and "pass --force" in err and "--report" in err
    assert run_cli(capsys, *evaluate, "--force")[0] == 0


@pytest.mark.parametrize("command", [["train"], ["evaluate"], ["predict"], ["serve"], ["data", "inspect"], ["fetch-encoder"], []])
def test_help_fits_80_columns_and_shows_no_type_for_flags(command):
    help_text = prodcat(*command, "--help", env={**ENV, "COLUMNS": "80", "TERM": "dumb"}).stdout
    assert "Usage" in help_text
    assert "<bool>" not in help_text  # flags take no value
    assert "…" not in help_text  # nothing cut, such as train's --out default


def test_training_progress_shows_only_where_keras_does_not():
    assert _uses_keras("lstm", {}) and _uses_keras("ensemble", {}) and _uses_keras("hierarchical", {"base": "bag"})
    assert not _uses_keras("linear", {}) and not _uses_keras("ensemble", {"members": ["linear", "neighbors"]})
    assert not _uses_keras("hierarchical", {})
    with _training_progress("linear", {}, quiet=True) as progress:
        assert progress is None
