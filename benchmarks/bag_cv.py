"""Choose the bag family's training settings by cross-validation on training rows only.

    python benchmarks/bag_cv.py --datasets ecommerce,bigbasket-category,bigbasket-type,mwpd-lvl1 --max-rows 20000

For each dataset (``datasets.py``; its test rows are never read), the training part (at most
``--max-rows`` rows, drawn at random) is dealt into ``--folds`` grouped folds
(``prodcat.data.split.group_folds`` over ``product_groups``: copies and variants stay in one fold).
Each setting trains once per fold, on the other folds (a tenth of them, again grouped, for early
stopping), and is scored on the fold: weighted F1 as ``prodcat.evaluate`` computes it. Reported per
setting: the mean and each fold's F1, the epochs each fold trained, and the mean training seconds.
Results: ``--out`` (default ``benchmarks/results/bag_cv``) ``/bag_cv.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

SETTINGS = {
    "adam-32": {"sparse_updates": False, "batch_size": 32},
    "sparse-adam-32": {"sparse_updates": True, "batch_size": 32},
    "adam-256": {"sparse_updates": False, "batch_size": 256},
    "sparse-adam-256": {"sparse_updates": True, "batch_size": 256},
    # The same batches with a larger step, and early stopping (not the epoch cap) ending training.
    "sparse-adam-256-lr1e-2-e50": {"sparse_updates": True, "batch_size": 256, "learning_rate": 1e-2, "epochs": 50},
    "sparse-adam-256-lr2e-2-e50": {"sparse_updates": True, "batch_size": 256, "learning_rate": 2e-2, "epochs": 50},
    "sparse-adam-256-lr5e-3-e100": {"sparse_updates": True, "batch_size": 256, "learning_rate": 5e-3, "epochs": 100},
    # The previous default, spelled out (so that it stays comparable if the defaults change).
    "adam-32-lr5e-3-e15": {"sparse_updates": False, "batch_size": 32, "learning_rate": 5e-3, "epochs": 15},
    "sparse-adam-256-lr5e-3-e15": {"sparse_updates": True, "batch_size": 256, "learning_rate": 5e-3, "epochs": 15},
}


def cross_validate(texts: list[str], labels: list[str], params: dict, n_folds: int, seed: int = 42) -> dict:
    from prodcat import Categorizer, evaluate
    from prodcat.data.split import group_folds, product_groups

    groups = product_groups(texts)
    folds = group_folds(np.asarray(labels, dtype=object), groups, n_folds, seed)
    scores, seconds, epochs = [], [], []
    for fold in range(n_folds):
        rest = np.flatnonzero(folds != fold)
        rest_labels = np.asarray(labels, dtype=object)[rest]
        stopping = group_folds(rest_labels, groups[rest], 10, seed + 1) == 0
        pick = lambda rows: ([texts[i] for i in rows], [labels[i] for i in rows])  # noqa: E731
        start = time.perf_counter()
        model = Categorizer("bag", params=params, seed=seed).fit(*pick(rest[~stopping]), validation=pick(rest[stopping]), verbose=0)
        seconds.append(time.perf_counter() - start)
        epochs.append(len(model.history_["loss"]))
        scores.append(evaluate(model, *pick(np.flatnonzero(folds == fold)))["weighted_f1"])
        print(f"    fold {fold}: F1 {scores[-1]:.4f} in {seconds[-1]:.0f} s, {epochs[-1]} epochs", file=sys.stderr, flush=True)
    return {"weighted_f1": float(np.mean(scores)), "fold_weighted_f1": scores, "train_seconds": float(np.mean(seconds)), "epochs": epochs}


def main(argv: list[str] | None = None) -> int:
    from datasets import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="ecommerce,bigbasket-category")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--max-rows", type=int, default=20_000)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bag_cv")
    args = parser.parse_args(argv)
    results = {"command": "python benchmarks/bag_cv.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_average_at_start": os.getloadavg(),
               "settings": {name: SETTINGS[name] for name in args.settings.split(",")}, "datasets": {}}
    for name in args.datasets.split(","):
        train = load_dataset(name).train.capped(args.max_rows)
        results["datasets"][name] = {"rows": len(train)}
        for setting in args.settings.split(","):
            print(f"{name} ({len(train):,} training rows): {setting}", file=sys.stderr, flush=True)
            results["datasets"][name][setting] = cross_validate(train.texts, train.labels, SETTINGS[setting], args.folds)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "bag_cv.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
