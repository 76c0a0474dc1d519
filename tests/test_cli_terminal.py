"""``prodcat`` on a real terminal (a tmux pane): the progress display leaves nothing behind, neither
before the closing summary nor before an error line."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import NORMALIZED, ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
SOCKET = f"prodcat-test-{os.getpid()}"  # a tmux server of this test run alone


def on_terminal(args: list, tmp_path, timeout: float = 180) -> list[str]:
    """The lines left on a 160x50 terminal after ``python -m prodcat ARGS`` has run in it."""
    done = tmp_path / "exit-code"
    command = " ".join(shlex.quote(str(a)) for a in [sys.executable, "-m", "prodcat", *args])
    script = f"cd {shlex.quote(str(ROOT))} && {command}; echo $? > {shlex.quote(str(done))}; sleep 600"
    subprocess.run(["tmux", "-L", SOCKET, "new-session", "-d", "-s", "run", "-x", "160", "-y", "50", "bash", "-c", script], check=True)
    try:
        deadline = time.monotonic() + timeout
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(0.5)
        screen = subprocess.run(["tmux", "-L", SOCKET, "capture-pane", "-p", "-J", "-t", "run"], capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    assert done.exists(), screen
    return [line.rstrip() for line in screen.splitlines() if line.strip()]


def test_a_finished_run_leaves_only_its_summary(linear_model_dir, tmp_path):
    lines = on_terminal(["predict", "-m", linear_model_dir, "-i", NORMALIZED, "-o", tmp_path / "out.csv", "--chunk-rows", "500"], tmp_path)
    assert lines[-2].startswith("read 8,555 rows from ") and lines[-2].endswith(" rows/s)")
    assert lines[-1].startswith("accuracy on the input's label column 0: ")
    assert not [line for line in lines if "━" in line or " 0 rows/s" in line]  # no progress frame left


def test_an_error_line_is_not_preceded_by_a_progress_frame(linear_model_dir, tmp_path):
    rows = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False).head(3000)
    rows.to_csv(tmp_path / "in.csv", header=False, index=False)
    with open(tmp_path / "in.csv", "ab") as handle:
        handle.write(b"Books,caf\xe9 cr\xe8me\n")  # not UTF-8, in the last chunk
    lines = on_terminal(["predict", "-m", linear_model_dir, "-i", tmp_path / "in.csv", "-o", tmp_path / "out.csv", "--chunk-rows", "100"], tmp_path)
    assert lines[-1].startswith("error: ") and "not valid utf-8" in lines[-1]
    assert not [line for line in lines if "━" in line or "rows/s" in line]


def test_training_leaves_its_results_and_no_spinner(small_catalog_file, tmp_path):
    lines = on_terminal(["train", small_catalog_file, "--family", "linear", "--param", "char_ngrams=0,0", "--out", tmp_path / "m"], tmp_path)
    assert lines[0].startswith("treating row 1 as data, not a header")  # said above the spinner, not glued to it
    assert f"model: {tmp_path / 'm'}" in lines and lines[-1].startswith("shipped model: ")
    assert not [line for line in lines if "linear: " in line or "0:00:" in line]
