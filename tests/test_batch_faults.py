"""Fault injection: a 40,000-row ``prodcat predict`` run killed at random points (SIGINT, SIGTERM,
SIGKILL) never leaves an output that looks complete, and a rerun writes the same bytes as a run
that was never interrupted.

Each run is the real CLI (``prodcat.cli.app.main``) in a process forked from a helper that has
already imported prodcat, so that twenty runs do not pay twenty interpreter start-ups.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import NORMALIZED, ROOT

ROWS = 40_000  # 10 chunks of --chunk-rows 4000: kills land before, between and inside chunk writes
KILLS = 10  # each CI run draws a new seed (printed on failure), so the kill points differ from run to run
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)

# Reads one JSON argv per line; forks a child that runs the CLI on it; answers the child's pid,
# then its exit code (negative: the signal that killed it).
FORK_SERVER = """
import json, os, signal, sys
import pandas, sklearn.feature_extraction.text, rich.progress
import prodcat.batch, prodcat.categorizer, prodcat.cli.predict, prodcat.models.linear
from prodcat.cli.app import main

for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1), os.dup2(quiet, 2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            main(json.loads(line))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        os._exit(code)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class Runs:
    """``prodcat predict`` runs on one input, started by the fork server."""

    def __init__(self, folder):
        self.folder, self.source, self.target = folder, folder / "in.csv", folder / "out.csv"
        self.server = subprocess.Popen(
            [sys.executable, "-c", FORK_SERVER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )

    def parts(self) -> set:
        return set(self.folder.glob(".out.csv.*.part"))

    def start(self) -> int:
        self.parts_before = self.parts()
        argv = ["predict", "-i", str(self.source), "-o", str(self.target), "--chunk-rows", "4000", "-q"]
        self.server.stdin.write(json.dumps(argv) + "\n")
        self.server.stdin.flush()
        return int(self.server.stdout.readline())

    def exit_code(self) -> int:
        return int(self.server.stdout.readline())

    def new_part(self):
        """The partial file of the run started last (not one left by a run before it)."""
        found = self.parts() - self.parts_before
        return found.pop() if found else None

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(timeout=30)


def write_input(path) -> None:
    """Short real titles (their first two words), cycled, each with its row number."""
    titles = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1].str.split().str[:2].str.join(" ")
    titles = titles[titles != ""].tolist()
    pd.DataFrame({"id": range(ROWS), "title": [f"{titles[i % len(titles)]} {i}" for i in range(ROWS)]}).to_csv(path, index=False)


def kill_point(rng: random.Random, attempt: int) -> tuple[str, float]:
    """When to kill: a random moment of the start-up, of the first part of the writing, or of its
    end (a share of the finished file's size)."""
    if attempt % 4 == 0:
        return "seconds", rng.uniform(0.0, 0.4)
    if attempt % 7 == 6:
        return "share", rng.uniform(0.9, 1.0)
    return "share", rng.uniform(0.0, 0.35)


def wait_for(runs: Runs, point: tuple[str, float], size: int) -> None:
    kind, value = point
    if kind == "seconds":
        time.sleep(value)
        return
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not runs.target.exists():
        part = runs.new_part()
        try:
            if part is not None and part.stat().st_size >= value * size:
                return
        except FileNotFoundError:  # renamed into place in between
            return
        time.sleep(0.002)


def test_killed_runs_never_leave_a_complete_looking_output_and_a_rerun_is_identical(tmp_path):
    seed = int(os.environ.get("PRODCAT_FAULT_SEED", random.SystemRandom().randrange(1_000_000)))
    rng, runs = random.Random(seed), Runs(tmp_path)
    write_input(runs.source)
    try:
        runs.start()
        assert runs.exit_code() == 0, "the uninterrupted run failed"
        reference = runs.target.read_bytes()
        assert reference.count(b"\n") == ROWS + 1
        runs.target.unlink()
        for attempt in range(KILLS):
            sig, point = SIGNALS[attempt % 3], kill_point(rng, attempt)
            where = f"seed {seed}, kill {attempt + 1} ({sig.name} at {point[1]:.3f} {point[0]})"
            pid = runs.start()
            wait_for(runs, point, len(reference))
            try:
                os.kill(pid, sig)
            except ProcessLookupError:  # it finished first
                pass
            code = runs.exit_code()
            if runs.target.exists():  # the run got to the end before the signal: then it is complete
                assert runs.target.read_bytes() == reference, f"{where}: an incomplete output was put in place"
                runs.target.unlink()
            else:
                expected = {signal.SIGINT: {130}, signal.SIGTERM: {143, -signal.SIGTERM}, signal.SIGKILL: {-signal.SIGKILL}}[sig]
                assert code in expected, f"{where}: exit code {code}"
            if sig != signal.SIGKILL:
                assert runs.new_part() is None, f"{where}: the partial file was left behind"
            others = {p.name for p in tmp_path.iterdir()} - {"in.csv"}
            assert all(name.startswith(".out.csv.") and name.endswith(".part") for name in others), f"{where}: {others}"
        runs.start()
        assert runs.exit_code() == 0
        assert runs.target.read_bytes() == reference, f"seed {seed}: the rerun differs from the uninterrupted run"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"], "a partial file was not cleaned up"
    finally:
        runs.close()
