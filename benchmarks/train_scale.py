"""Training time and peak memory as the catalog grows: prodcat's families and the peers, side by side.

    python benchmarks/train_scale.py --rows 20000,100000,300000,1000000
    python benchmarks/train_scale.py --rows 100000 --labels 10000 --models linear

For each size it writes a generated catalog (``benchmarks/out/train_scale_ROWS_LABELS.csv``,
git-ignored; header ``label,text``): BigBasket's products re-mixed into unique texts. Each text is
a product of the label with half of its words swapped for other words of the same label's products
and a random pack size; ``--labels`` more than BigBasket's 90 sub-categories split each of them
into several labels, each with two marker words of its own, one of which its texts carry.

Each model trains in a fresh process (``--worker``), one after another:

* prodcat families: ``prodcat.train(CSV, family=F, out=DIR, refit=False)``, as
  ``prodcat train --no-refit`` does: reading, the grouped split, training with calibration on the
  validation part, evaluation on the test part, saving; that model trains on the same rows as the
  peers. ``F+refit`` (``linear+refit``, ``bag+refit``) is ``prodcat train``'s default: the same, then
  the refit on every row (its F1 is still the evaluated model's, on the test part);
* peers (``peers.py``): reading, the same grouped split, ``fit`` on the training part (shuffled,
  seeded: the generated file lists its rows label by label, and fastText's SGD reads in file order),
  predicting the test part.

Reported per model and size: wall seconds, the process's peak RSS (``ru_maxrss``; the linear
family's worker processes, when it starts any, are reported apart: the largest one's peak, an upper
bound, as a forked process counts the memory it shared with its parent), weighted F1 on the test part,
and the growth exponent of time and memory between consecutive sizes and over the whole range
(log(t2 / t1) / log(n2 / n1)). A run past ``--timeout`` seconds is stopped and reported as such.
Results: ``--out`` (default ``benchmarks/results/train_scale``) ``/train_scale.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from models import write_atomically

ROOT = Path(__file__).resolve().parents[1]
BIGBASKET = ROOT.parent / "shared" / "data" / "bigbasket" / "bigbasket_products.csv"
OUT = ROOT / "benchmarks" / "out"
RESULTS = ROOT / "benchmarks" / "results" / "train_scale"
PRODCAT_FAMILIES = ("linear", "bag")
REFIT = "+refit"  # a family's name with this suffix: prodcat train's default, refit on all rows
PEERS = ("fasttext", "tfidf-svm")
SIZES = ("g", "kg", "ml", "l", "pcs", "pack")


def catalog_path(rows: int, labels: int) -> Path:
    return OUT / f"train_scale_{rows}_{labels}.csv"


def make_catalog(rows: int, n_labels: int, path: Path, seed: int = 0) -> Path:
    """Write ``rows`` generated products of ``n_labels`` labels (at least BigBasket's 90) to ``path``."""
    import pandas as pd

    frame = pd.read_csv(BIGBASKET, dtype=str, keep_default_na=False)
    frame = frame[(frame["product"] != "") & (frame["sub_category"] != "")]
    bases = sorted(frame["sub_category"].unique())
    words = {base: [re.findall(r"[a-z]+", t.lower()) for t in frame.loc[frame["sub_category"] == base, "product"]] for base in bases}
    pools = {base: [w for title in titles for w in title] for base, titles in words.items()}
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfghjklmnprstvz")), np.array(list("aeiou"))
    n_labels = max(n_labels, len(bases))
    markers = ["".join(rng.choice(letters[0], 3)) + "".join(rng.choice(letters[1], 2)) for _ in range(2 * n_labels)]
    label_of_row = np.sort(rng.integers(0, n_labels, rows))
    OUT.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.part")
    with open(part, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["label", "text"])
        for label in label_of_row.tolist():
            base = bases[label % len(bases)]
            title = list(words[base][rng.integers(len(words[base]))]) or ["product"]
            pool = pools[base]
            for i in np.flatnonzero(rng.random(len(title)) < 0.5).tolist():
                title[i] = pool[rng.integers(len(pool))]
            if n_labels > len(bases):
                title.insert(int(rng.integers(len(title) + 1)), markers[2 * label + int(rng.integers(2))])
            title.append(f"{int(rng.integers(1, 1000))} {SIZES[int(rng.integers(len(SIZES)))]}")
            name = base if n_labels == len(bases) else f"{base} / {label // len(bases)}"
            writer.writerow([name, " ".join(title).capitalize()])
    os.replace(part, path)
    return path


# -- one model in a fresh process -------------------------------------------------------------------
def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def train_prodcat(model: str, data: Path) -> dict:
    import prodcat
    from prodcat.training import train

    family, refit = model.removesuffix(REFIT), model.endswith(REFIT)
    with tempfile.TemporaryDirectory(prefix="prodcat-train-scale-") as out:
        options = {"refit": refit} if "refit" in inspect.signature(train).parameters else {}
        result = train(data, out=Path(out) / "model", family=family, log_dir=None, verbose=0, **options)
    return {"refit": result.refit and {k: result.refit[k] for k in ("rows", "folds", "calibration")}, "weighted_f1": result.metrics["weighted_f1"], "train_rows": int(len(result.split.train)),
            "split": {k: v for k, v in result.split.describe().items() if k != "seed"}, "prodcat": prodcat.__version__}


def train_peer(name: str, data: Path) -> dict:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from peers import FastTextPeer, TfidfSvmPeer

    from prodcat import evaluation, read_catalog, split_catalog

    catalog = read_catalog(data, header=True)
    split = split_catalog(catalog.texts, catalog.labels, seed=42)
    pick = lambda rows, values: [values[i] for i in rows]  # noqa: E731
    peer = FastTextPeer() if name == "fasttext" else TfidfSvmPeer()
    train = np.random.default_rng(42).permutation(split.train)  # the file is grouped by label: fastText's SGD needs them mixed
    peer.fit(pick(train, catalog.texts), pick(train, catalog.labels))
    truth, predicted = pick(split.test, catalog.labels), peer.predict(pick(split.test, catalog.texts))
    return {"weighted_f1": evaluation.scores(truth, predicted)["weighted_f1"], "train_rows": int(len(split.train))}


def worker(model: str, data: Path, result_path: Path) -> None:
    start = time.perf_counter()
    result = train_peer(model, data) if model in PEERS else train_prodcat(model, data)
    result["seconds"] = time.perf_counter() - start
    if model.startswith("linear"):  # its worker processes: ended, so that their peak memory counts
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    result.update(peak_rss_mb=_peak_rss_mb(resource.RUSAGE_SELF), worker_processes_peak_rss_mb=_peak_rss_mb(resource.RUSAGE_CHILDREN))
    result_path.write_text(json.dumps(result), encoding="utf-8")


def run_one(model: str, data: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="prodcat-train-scale-") as scratch:
        result_path = Path(scratch) / "result.json"
        command = [sys.executable, __file__, "--worker", model, "--data", str(data), "--result", str(result_path)]
        start = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"stopped after {timeout:.0f} s", "seconds": time.perf_counter() - start}
        if done.returncode != 0 or not result_path.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return {"error": f"exit {done.returncode}: {' | '.join(tail)}", "seconds": time.perf_counter() - start}
        return json.loads(result_path.read_text(encoding="utf-8"))


# -- the whole run -----------------------------------------------------------------------------------
def exponents(runs: dict[int, dict], key: str) -> dict:
    """Growth exponents of ``key`` between consecutive sizes and from the smallest to the largest."""
    runs = {int(n): r for n, r in runs.items()}
    sizes = sorted(n for n, r in runs.items() if key in r and "error" not in r)
    pairs = {f"{a}->{b}": math.log(runs[b][key] / runs[a][key]) / math.log(b / a) for a, b in zip(sizes, sizes[1:])}
    if len(sizes) > 2:
        pairs[f"{sizes[0]}->{sizes[-1]}"] = math.log(runs[sizes[-1]][key] / runs[sizes[0]][key]) / math.log(sizes[-1] / sizes[0])
    return pairs


def markdown(results: dict) -> str:
    sizes = results["rows"]
    commands = ", ".join(f"`{c}`" for c in results.get("commands", [results["command"]]))
    lines = [f"Generated catalogs ({results['labels']} labels), {commands}, {results['date']}.", "",
             "| model | " + " | ".join(f"{n:,} rows: s / peak MB / F1" for n in sizes) + " | time exponent | memory exponent |",
             "|---|" + "---|" * (len(sizes) + 2)]
    for model, runs in results["models"].items():
        cells = []
        for n in sizes:
            run = runs.get(n) or runs.get(str(n)) or {}
            workers = (run.get("worker_processes_peak_rss_mb") or 0) if model.startswith("linear") else 0
            memory = f"{run.get('peak_rss_mb', 0):,.0f}" + (f" (+{workers:,.0f} per worker)" if workers > 100 else "")
            cells.append(run["error"] if "error" in run else
                         f"{run['seconds']:,.0f} / {memory} / {run['weighted_f1']:.3f}" if run else "not run")
        overall = lambda key: next(reversed(results["exponents"][model][key].values()), None)  # noqa: E731
        fmt = lambda v: "" if v is None else f"{v:.2f}"  # noqa: E731
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {fmt(overall('seconds'))} | {fmt(overall('peak_rss_mb'))} |")
    return "\n".join(lines) + "\n"


def run(sizes: list[int], models: list[str], n_labels: int, timeout: float, out: Path, command: str) -> dict:
    results = {"command": command, "commands": [command], "rows": sizes, "labels": n_labels, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average_at_start": os.getloadavg()},
               "models": {m: {} for m in models}, "exponents": {}}
    name = "train_scale" if n_labels <= 90 else f"train_scale_{n_labels}_labels"
    earlier = out / f"{name}.json"
    if earlier.exists():  # another run's models stay; this run's replace theirs size by size
        previous = json.loads(earlier.read_text(encoding="utf-8"))
        results["commands"] = previous.get("commands", [previous.get("command")]) + [command]
        results["rows"] = sorted(set(previous["rows"]) | set(sizes))
        for model, runs in previous["models"].items():
            results["models"].setdefault(model, {}).update({int(n): r for n, r in runs.items() if not (model in models and int(n) in sizes)})
    for n in sizes:
        path = catalog_path(n, n_labels)
        if not path.exists():
            make_catalog(n, n_labels, path)
        for model in models:
            print(f"{n:,} rows: {model} ...", file=sys.stderr, flush=True)
            results["models"][model][n] = run_one(model, path, timeout)
            results["models"][model][n]["load_average_after"] = os.getloadavg()
            print(f"  {results['models'][model][n]}", file=sys.stderr, flush=True)
            for m in results["models"]:
                results["exponents"][m] = {k: exponents(results["models"][m], k) for k in ("seconds", "peak_rss_mb")}
            write_atomically(out / f"{name}.json", json.dumps(results, indent=1, default=str))
            write_atomically(out / f"{name}.md", markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="20000,100000,300000,1000000", help="comma list of catalog sizes")
    parser.add_argument("--models", default=",".join(PRODCAT_FAMILIES + PEERS), help="comma list: linear, bag, fasttext, tfidf-svm, linear+refit, bag+refit")
    parser.add_argument("--labels", type=int, default=90, help="labels of the generated catalogs (default BigBasket's 90)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one model may train (default 1800)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.data, args.result)
        return 0
    sizes = [int(n) for n in args.rows.split(",")]
    models = [m for m in args.models.split(",") if m]
    command = "python benchmarks/train_scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = run(sizes, models, args.labels, args.timeout, args.out, command.strip())
    print(markdown(results))
    return int(any("error" in r for runs in results["models"].values() for r in runs.values()))


if __name__ == "__main__":
    sys.exit(main())
