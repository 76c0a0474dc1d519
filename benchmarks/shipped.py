"""The model `prodcat train` ships, against the peers trained on the same rows, as a new user meets them.

    python benchmarks/shipped.py                                   # every dataset, linear
    python benchmarks/shipped.py --datasets ecommerce --families linear,ensemble

For each benchmark dataset (``datasets.py``: one leakage-free split, seed 42) the training and
validation parts are written to one input file (``label,text``) and each test set to a file of its own.
Then, as a user would:

* ``prodcat train INPUT --text-col text --label-col label --family F --out M --quiet``: prodcat's own
  evaluation split of the input, then the refit on every usable input row (the default);
* ``prodcat predict --model M --input TEST --text-col text --output P --quiet``, scored against the test
  file's labels;
* each peer (``peers.py``: fastText, TF-IDF word SVM, TF-IDF word + char_wb SVM) fitted on every row of
  the same input file (shuffled with seed 42, as fastText's SGD wants) and scored on the same test files.

The test files never reach ``prodcat train`` or a peer. Reported per test set: weighted F1 of each
model, training seconds, and the error (1 - weighted F1) that the best prodcat family cuts from the
best peer's. Results: ``--out`` (default ``benchmarks/results/shipped``) ``/shipped.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATA_DIR, DATASETS, Rows  # noqa: E402
from models import write_atomically  # noqa: E402
from peers import PEERS, make_peer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "shipped"
DEFAULT_PEERS = ("fasttext", "tfidf-svm", "tfidf-word-char-svm")
SEED = 42


def write_rows(rows: Rows, path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["label", "text"])
        writer.writerows(zip(rows.labels, rows.texts))
    return path


def weighted_f1(truth: list[str], predicted: list[str]) -> float:
    from prodcat.evaluation import scores

    return scores(truth, predicted)["weighted_f1"]


def prodcat_cli(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "prodcat", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"prodcat {args[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return done


def run_family(family: str, train_file: Path, tests: dict[str, tuple[Path, Rows]], scratch: Path, extra: list[str]) -> dict:
    model = scratch / f"model-{family}"
    start = time.perf_counter()
    prodcat_cli("train", str(train_file), "--text-col", "text", "--label-col", "label", "--family", family,
                "--out", str(model), "--quiet", "--force", "--log-dir", str(scratch / "logs"), *extra)
    seconds = time.perf_counter() - start
    manifest = json.loads((model / "prodcat.json").read_text(encoding="utf-8"))
    refit = manifest["training"].get("refit") or {}
    selection = manifest["training"].get("selection") or {}
    result = {"train_seconds": seconds, "family": manifest["family"], "chosen_by": selection.get("out_of_fold_weighted_f1"),
              "refit_rows": refit.get("rows"), "calibration": manifest.get("calibration", {}).get("method"),
              "held_out_weighted_f1": manifest["metrics"]["test"]["weighted_f1"], "tests": {}}
    for name, (path, rows) in tests.items():
        predictions = scratch / f"predictions-{family}-{name}.csv"
        prodcat_cli("predict", "--model", str(model), "--input", str(path), "--text-col", "text", "--output", str(predictions),
                    "--quiet")
        with open(predictions, encoding="utf-8", newline="") as handle:
            predicted = [row["predicted_category"] for row in csv.DictReader(handle)]
        if len(predicted) != len(rows):
            raise RuntimeError(f"{family}: {len(predicted)} predictions for {len(rows)} rows of {name}")
        result["tests"][name] = weighted_f1(rows.labels, predicted)
    return result


def run_peer(name: str, train: Rows, tests: dict[str, tuple[Path, Rows]]) -> dict:
    order = np.random.default_rng(SEED).permutation(len(train))
    start = time.perf_counter()
    peer = make_peer(name).fit([train.texts[i] for i in order], [train.labels[i] for i in order])
    result = {"train_seconds": time.perf_counter() - start, "tests": {}}
    for test_name, (_, rows) in tests.items():
        result["tests"][test_name] = weighted_f1(rows.labels, peer.predict(rows.texts))
    return result


def run(dataset_names: list[str], families: list[str], peer_names: list[str], data_dir: Path, out: Path, command: str,
        extra: list[str]) -> dict:
    results = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_at_start": os.getloadavg()},
               "families": families, "peers": peer_names, "datasets": {}}
    started = time.perf_counter()
    for name in dataset_names:
        dataset = DATASETS[name](data_dir)
        train = Rows(dataset.train.texts + dataset.validation.texts, dataset.train.labels + dataset.validation.labels)
        entry = {"train_rows": len(train), "test_rows": {}, "models": {}}
        with tempfile.TemporaryDirectory(prefix="prodcat-shipped-") as scratch_name:
            scratch = Path(scratch_name)
            train_file = write_rows(train, scratch / f"{name}-input.csv")
            tests = {}
            for test_name, rows in dataset.tests.items():
                tests[test_name] = (write_rows(rows, scratch / f"{test_name}-test.csv"), rows)
                entry["test_rows"][test_name] = len(rows)
            for family in families:
                print(f"{name}: prodcat {family} ...", file=sys.stderr, flush=True)
                entry["models"][f"prodcat-{family}"] = _guarded(run_family, family, train_file, tests, scratch, extra)
            for peer in peer_names:
                print(f"{name}: {peer} ...", file=sys.stderr, flush=True)
                entry["models"][peer] = _guarded(run_peer, peer, train, tests)
        results["datasets"][name] = entry
        results["minutes"] = (time.perf_counter() - started) / 60
        write_atomically(out / "shipped.json", json.dumps(results, indent=1))
        write_atomically(out / "shipped.md", markdown(results))
    return results


def _guarded(run_one, *args) -> dict:
    try:
        return run_one(*args)
    except Exception as exc:  # one failed model is reported, the others still run
        return {"error": f"{type(exc).__name__}: {exc}"}


def comparison(results: dict) -> list[dict]:
    """One row per test set: the best shipped prodcat model, the best peer, and the error cut."""
    rows = []
    for entry in results["datasets"].values():
        for test_name, n_rows in entry["test_rows"].items():
            scored = {model: r["tests"][test_name] for model, r in entry["models"].items() if "tests" in r}
            ours = {m: f1 for m, f1 in scored.items() if m.startswith("prodcat-")}
            theirs = {m: f1 for m, f1 in scored.items() if not m.startswith("prodcat-")}
            if not ours or not theirs:
                continue
            best_ours, best_theirs = max(ours, key=ours.get), max(theirs, key=theirs.get)
            cut = 1 - (1 - ours[best_ours]) / (1 - theirs[best_theirs]) if theirs[best_theirs] < 1 else 0.0
            rows.append({"test": test_name, "rows": n_rows, "train_rows": entry["train_rows"], "prodcat": best_ours,
                         "prodcat_f1": ours[best_ours], "peer": best_theirs, "peer_f1": theirs[best_theirs], "error_cut": cut,
                         "all": scored})
    return rows


def markdown(results: dict) -> str:
    models = [f"prodcat-{f}" for f in results["families"]] + list(results["peers"])
    lines = [f"`{results['command']}` ({results.get('minutes', 0):.1f} min, {results['date']}, "
             f"{results['machine']['cpus']} CPUs, load {results['machine']['load_average_at_start'][0]:.1f} at start).", "",
             "| test set | train rows | " + " | ".join(models) + " | error cut (best prodcat vs best peer) |",
             "|---|---:|" + "---:|" * len(models) + "---:|"]
    for row in comparison(results):
        best = max(row["all"].values())
        cells = [("**{:.3f}**" if f1 == best else "{:.3f}").format(f1) if (f1 := row["all"].get(m)) is not None else "failed"
                 for m in models]
        lines.append(f"| {row['test']} ({row['rows']:,}) | {row['train_rows']:,} | " + " | ".join(cells) + f" | {row['error_cut']:.0%} |")
    seconds = []
    for name, entry in results["datasets"].items():
        times = ", ".join(f"{m} {r['train_seconds']:.0f}" for m, r in entry["models"].items() if "train_seconds" in r)
        errors = "; ".join(f"{m}: {r['error']}" for m, r in entry["models"].items() if "error" in r)
        seconds.append(f"- {name}: training seconds {times}" + (f"; failed {errors}" if errors else ""))
    return "\n".join(lines + ["", *seconds]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--families", default="linear", help="comma list of prodcat families to train (default linear)")
    parser.add_argument("--peers", default=",".join(DEFAULT_PEERS), help=f"comma list of {', '.join(PEERS)}; 'none' for none")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--train-option", action="append", default=[], help="one more option for prodcat train (repeatable), e.g. --train-option=--param --train-option=encoder=all-MiniLM-L6-v2")
    args = parser.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    unknown = [n for n in names if n not in DATASETS]
    peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    if unknown or any(p not in PEERS for p in peers):
        parser.error(f"unknown dataset or peer: {', '.join(unknown + [p for p in peers if p not in PEERS])}")
    command = "python benchmarks/shipped.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(names, [f for f in args.families.split(",") if f], peers, args.data_dir, args.out, command.strip(),
                  args.train_option)
    print(markdown(results))
    return int(any("error" in r for e in results["datasets"].values() for r in e["models"].values()))


if __name__ == "__main__":
    sys.exit(main())
