"""Leave-one-dataset-out check of a family's defaults: settings chosen on the other catalogs, scored on the held-out one.

    python benchmarks/lodo.py                                  # linear's C
    python benchmarks/lodo.py --family linear --grid '{"C": [0.25, 0.5, 1, 2]}' --cv-rows 10000

1. For every benchmark dataset (``datasets.py``, the same leakage-free split, seed 42) and every
   setting of the grid: grouped 3-fold cross-validation (``prodcat.data.split.group_folds`` over
   ``product_groups``, near-duplicates in one fold) on its training and validation rows only, at most
   ``--cv-rows`` of them drawn at random; the mean weighted F1 over the folds. No test row is read here.
   A family that stops early (the Keras ones: ``lstm``, ``bag``) stops on validation rows, as
   in ``prodcat train``: a grouped tenth of each fold's training rows, and the dataset's validation
   rows in step 3.
2. For each source (ecommerce, MWPD2020, BigBasket: the three MWPD levels share their texts, and so do
   the three BigBasket levels, so a source is held out whole), the setting with the best mean
   cross-validated F1 over the *other* sources' datasets is the one chosen for it.
3. Each setting is trained on all training and validation rows of each dataset (or, stopping early,
   on the training rows with the validation rows to stop on) and scored once on its test set; reported: the test F1 of the setting chosen elsewhere, of the family's default, and of the
   best setting in hindsight (which no one could have picked without the test set).

Results: ``--out`` (default ``benchmarks/results/lodo``) ``/lodo_FAMILY.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from datasets import DATA_DIR, DATASETS, Rows  # noqa: E402
from models import write_atomically  # noqa: E402

from prodcat.categorizer import Categorizer  # noqa: E402
from prodcat.data.split import group_folds, product_groups  # noqa: E402
from prodcat.evaluation import scores  # noqa: E402
from prodcat.models.keras_family import KerasFamily  # noqa: E402
from prodcat.models.registry import family_class  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "lodo"
SEED, FOLDS = 42, 3
DEFAULT_GRID = {"linear": {"C": [0.25, 0.5, 1.0, 2.0]}}


def source_of(dataset: str) -> str:
    return dataset.split("-")[0]


def settings_of(grid: dict) -> list[dict]:
    keys = sorted(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def key_of(setting: dict) -> str:
    return json.dumps(setting, sort_keys=True)


def stops_early(family: str) -> bool:
    return issubclass(family_class(family), KerasFamily)


def fit_score(family: str, setting: dict, train: Rows, test: Rows, validation: Rows | None = None) -> float:
    model = Categorizer(family, params=setting, seed=SEED).fit(
        train.texts, train.labels, verbose=0, validation=(validation.texts, validation.labels) if validation else None)
    return scores(test.labels, model.predict(test.texts))["weighted_f1"]


def folds_of(rows: Rows, n_folds: int) -> np.ndarray:
    return group_folds(np.asarray(rows.labels, dtype=object), product_groups(rows.texts), n_folds, SEED)


def cross_validated(family: str, setting: dict, rows: Rows) -> float:
    folds, results = folds_of(rows, FOLDS), []
    for k in range(FOLDS):
        train, validation = rows.take(np.flatnonzero(folds != k)), None
        if stops_early(family):  # a grouped tenth of the fold's training rows to stop on
            tenths = folds_of(train, 10)
            train, validation = train.take(np.flatnonzero(tenths != 0)), train.take(np.flatnonzero(tenths == 0))
        results.append(fit_score(family, setting, train, rows.take(np.flatnonzero(folds == k)), validation))
    return float(np.mean(results))


def run(family: str, grid: dict, names: list[str], cv_rows: int, data_dir: Path, command: str) -> dict:
    defaults = {k: v.default for k, v in inspect.signature(family_class(family)).parameters.items() if k in grid}
    settings = settings_of(grid)
    if key_of(defaults) not in map(key_of, settings):
        settings.append(defaults)
    results = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "family": family,
               "default": defaults, "cv_rows": cv_rows, "folds": FOLDS, "seed": SEED,
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
               "datasets": {}}
    started = time.perf_counter()
    for name in names:
        dataset = DATASETS[name](data_dir)
        train = Rows(dataset.train.texts + dataset.validation.texts, dataset.train.labels + dataset.validation.labels)
        (test_name, test), = list(dataset.tests.items())[:1]
        entry = results["datasets"][name] = {"cv": {}, "test": {}, "test_set": test_name}
        for setting in settings:
            print(f"{name}: {setting} ...", file=sys.stderr, flush=True)
            entry["cv"][key_of(setting)] = cross_validated(family, setting, train.capped(cv_rows))
            entry["test"][key_of(setting)] = (fit_score(family, setting, dataset.train, test, dataset.validation)
                                              if stops_early(family) else fit_score(family, setting, train, test))
        results["minutes"] = (time.perf_counter() - started) / 60
    results["held_out"] = held_out(results)
    return results


def held_out(results: dict) -> dict:
    """Per dataset: the setting chosen on the other sources' cross-validation, and its test score."""
    data = results["datasets"]
    out = {}
    for name, entry in data.items():
        others = [n for n in data if source_of(n) != source_of(name)]
        if not others:
            continue
        mean_cv = {k: float(np.mean([data[n]["cv"][k] for n in others])) for k in entry["cv"]}
        chosen = max(mean_cv, key=mean_cv.get)
        hindsight = max(entry["test"], key=entry["test"].get)
        out[name] = {"chosen_elsewhere": chosen, "chosen_test_f1": entry["test"][chosen],
                     "default_test_f1": entry["test"][key_of(results["default"])], "hindsight": hindsight,
                     "hindsight_test_f1": entry["test"][hindsight], "own_cv_choice": max(entry["cv"], key=entry["cv"].get)}
    return out


def markdown(results: dict) -> str:
    default = key_of(results["default"])
    settings = list(next(iter(results["datasets"].values()))["cv"])
    lines = [f"`{results['command']}` ({results.get('minutes', 0):.1f} min, {results['date']}); family {results['family']}, "
             f"default {default}; cross-validation: {results['folds']} grouped folds over at most {results['cv_rows']:,} "
             "training rows per dataset.", "",
             "Cross-validated weighted F1 (training rows only):", "",
             "| dataset | " + " | ".join(settings) + " |", "|---|" + "---:|" * len(settings)]
    for name, entry in results["datasets"].items():
        lines.append(f"| {name} | " + " | ".join(f"{entry['cv'][s]:.4f}" for s in settings) + " |")
    lines += ["", "Held out (chosen on the other sources' cross-validation, scored once on the test set):", "",
              "| test set | chosen elsewhere | its test F1 | default's test F1 | best in hindsight |", "|---|---|---:|---:|---|"]
    for name, row in results["held_out"].items():
        lines.append(f"| {results['datasets'][name]['test_set']} | {row['chosen_elsewhere']} | {row['chosen_test_f1']:.4f} | "
                     f"{row['default_test_f1']:.4f}{' (same setting)' if row['chosen_elsewhere'] == default else ''} | "
                     f"{row['hindsight']} {row['hindsight_test_f1']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="linear")
    parser.add_argument("--grid", type=json.loads, help="JSON object: setting -> list of values (default: linear's C)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    parser.add_argument("--cv-rows", type=int, default=10_000, help="at most this many training rows per dataset in the cross-validation")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    grid = args.grid or DEFAULT_GRID.get(args.family)
    if not grid:
        parser.error(f"give --grid for the {args.family} family")
    names = [n for n in args.datasets.split(",") if n]
    command = shlex.join(["python", "benchmarks/lodo.py", *(argv if argv is not None else sys.argv[1:])])  # quoted as typed
    results = run(args.family, grid, names, args.cv_rows, args.data_dir, command.strip())
    write_atomically(args.out / f"lodo_{args.family}.json", json.dumps(results, indent=1))
    write_atomically(args.out / f"lodo_{args.family}.md", markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
