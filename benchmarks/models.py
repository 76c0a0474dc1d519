"""Side-by-side benchmark of every prodcat model family and two peers (fastText, TF-IDF + SVM).

For each dataset (see ``datasets.py``) one leakage-free split is made, and every model is trained on
its training part, calibrated / early-stopped on its validation part and scored on its test set(s):
weighted F1, macro F1, accuracy, training seconds, prediction throughput (a batch of 1,000 texts and
single texts), peak memory while predicting and model size on disk. Batches and memory are
measured in a fresh Python process that loads the saved model, so memory and load time are those a
user would see. Single texts are timed in one more process that loads every model of the dataset and
takes them in turn, round after round: this machine's speed drifts by up to two times within an hour,
and alternating makes every model share the drift, so their rates compare.

    python benchmarks/models.py                      # everything (under an hour on 2 cores)
    python benchmarks/models.py --quick              # small caps, for development
    python benchmarks/models.py --datasets ecommerce --families linear --peers tfidf-svm
    python benchmarks/models.py --encoder all-MiniLM-L6-v2   # linear (and ensemble) with a sentence encoder
    python benchmarks/models.py --datasets bigbasket-category --families lstm,linear,bag,neighbors,transformer,ensemble \
        --ensemble-members bag,linear,neighbors,transformer      # with the fine-tuned transformer, in the ensemble too

Writes ``models.json`` (every number and the machine) and ``models.md`` (tables for BENCHMARKS.md)
into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
BATCH_SIZE = 1000
SINGLE_BUDGET_S = 30.0  # single calls stop early past this, so one slow model cannot take the hour
SEED = 42
LIBRARIES = ("prodcat", "numpy", "scipy", "scikit-learn", "tensorflow", "tensorflow-cpu", "keras", "fasttext-wheel", "pandas")


@dataclass
class Settings:
    """How much to run: the full benchmark, or ``quick`` caps for development and the smoke test."""

    quick: bool = False
    max_rows: int | None = None
    throughput_runs: int = 5
    single_calls: int = 200  # per model, in ``single_rounds`` rounds that alternate the dataset's models
    single_rounds: int = 10
    family_params: dict = field(default_factory=dict)
    encoder: str | None = None  # the linear model's sentence encoder, in the ensemble's too
    ensemble_members: list[str] | None = None  # None: the ensemble's default members

    @classmethod
    def make(cls, quick: bool, encoder: str | None = None, ensemble_members: list[str] | None = None) -> "Settings":
        settings = cls() if not quick else cls(
            quick=True,
            max_rows=1900,  # about 1,500 training rows after the split
            throughput_runs=1,
            single_calls=20,
            single_rounds=4,
            family_params={"lstm": {"epochs": 2}, "ensemble": {"member_params": {"lstm": {"epochs": 2}}}},
        )
        if encoder:
            settings.encoder = encoder
            settings.family_params.setdefault("linear", {})["encoder"] = encoder
            ensemble = settings.family_params.setdefault("ensemble", {})
            ensemble.setdefault("member_params", {}).setdefault("linear", {})["encoder"] = encoder
        if ensemble_members:
            settings.ensemble_members = list(ensemble_members)
            settings.family_params.setdefault("ensemble", {})["members"] = list(ensemble_members)
        return settings


# -- measuring prediction in a fresh process ---------------------------------------------------------
def _peak_rss_mb() -> float:
    """This process's peak resident memory. ``VmHWM`` where Linux has it: ``ru_maxrss`` of a child
    starts at its parent's resident size at fork, so it would count the benchmark's own memory."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _load_for_prediction(kind: str, name: str, path: Path):
    """The loaded model and its ``(texts) -> scores`` function."""
    if kind == "prodcat":
        import prodcat

        model = prodcat.load(path)
        return model, model.predict_proba
    from peers import load_peer

    model = load_peer(name, path)
    return model, model.scores


def measure_worker(spec_path: Path) -> None:
    """Run inside the fresh process: load, warm up, time batch predictions, record memory."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    texts = spec["texts"]
    batch = [texts[i % len(texts)] for i in range(BATCH_SIZE)]
    start = time.perf_counter()
    _, predict = _load_for_prediction(spec["kind"], spec["name"], Path(spec["path"]))
    load_seconds = time.perf_counter() - start
    rss_after_load = _peak_rss_mb()
    predict(batch[:10])  # warm-up: graph tracing, lazy imports
    batch_seconds = []
    for _ in range(spec["runs"]):
        start = time.perf_counter()
        predict(batch)
        batch_seconds.append(time.perf_counter() - start)
    batch_median = statistics.median(batch_seconds)
    result = {
        "load_seconds": load_seconds,
        "batch_size": BATCH_SIZE,
        "batch_runs": spec["runs"],
        "batch_seconds_median": batch_median,
        "batch_items_per_s": BATCH_SIZE / batch_median,
        "peak_rss_after_load_mb": rss_after_load,
        "peak_rss_mb": _peak_rss_mb(),
    }
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


def measure_prediction(kind: str, name: str, path: Path, texts: list[str], settings: Settings) -> dict:
    """Prediction speed and memory of the model saved at ``path``, measured in a new process."""
    with tempfile.TemporaryDirectory(prefix="prodcat-bench-measure-") as scratch:
        spec_path, result_path = Path(scratch) / "spec.json", Path(scratch) / "result.json"
        spec = {"kind": kind, "name": name, "path": str(path), "texts": texts, "runs": settings.throughput_runs,
                "result": str(result_path)}
        return _run_worker("--measure-worker", spec, spec_path, result_path, f"the prediction measurement of {name}")


def single_calls_worker(spec_path: Path) -> None:
    """Run inside a fresh process: load every model of one dataset, warm each up, then time single
    calls in rounds, each round taking every model in turn (and a different one first), on the same
    texts in the same order."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    texts, rounds = spec["texts"], spec["rounds"]
    predictors = {}
    for model in spec["models"]:
        _, predict = _load_for_prediction(model["kind"], model["name"], Path(model["path"]))
        predict(texts[:10])  # warm-up: graph tracing, lazy imports
        predict(texts[:1])  # and the single-text paths' own tables
        predictors[model["label"]] = predict
    per_round = max(1, spec["calls"] // rounds)
    seconds = {label: [] for label in predictors}
    labels = list(predictors)
    for round_number in range(rounds):
        first = round_number % len(labels)
        for label in labels[first:] + labels[:first]:
            if sum(seconds[label]) > SINGLE_BUDGET_S and len(seconds[label]) >= 5:
                continue
            predict, timings = predictors[label], seconds[label]
            for i in range(round_number * per_round, (round_number + 1) * per_round):
                text = [texts[i % len(texts)]]
                start = time.perf_counter()
                predict(text)
                timings.append(time.perf_counter() - start)
    result = {label: _single_call_summary(timings, rounds, per_round) for label, timings in seconds.items()}
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


def _single_call_summary(seconds: list[float], rounds: int, per_round: int) -> dict:
    """Latencies, and the throughput the issue asks for: products per second in each round of
    ``per_round`` calls, median over the rounds (as a batch's rate is the median over its runs).
    ``1 / median latency`` is a different number: it ignores the long texts that make the mean."""
    median = statistics.median(seconds)
    round_rates = [len(chunk) / sum(chunk) for chunk in (seconds[i : i + per_round] for i in range(0, len(seconds), per_round))]
    return {
        "single_calls": len(seconds),
        "single_rounds": rounds,
        "single_rounds_timed": len(round_rates),
        "single_latency_ms_median": median * 1000,
        "single_latency_ms_mean": statistics.fmean(seconds) * 1000,
        "single_latency_ms_p95": sorted(seconds)[int(0.95 * (len(seconds) - 1))] * 1000,
        "single_items_per_s": statistics.median(round_rates),
        "single_items_per_s_at_median_latency": 1 / median,
    }


def measure_single_calls(models: list[dict], texts: list[str], settings: Settings) -> dict:
    """Single-call timings of every saved model in ``models`` (``label``, ``kind``, ``name``, ``path``),
    measured side by side in one new process; by label."""
    if not models:
        return {}
    with tempfile.TemporaryDirectory(prefix="prodcat-bench-single-") as scratch:
        spec_path, result_path = Path(scratch) / "spec.json", Path(scratch) / "result.json"
        spec = {"models": models, "texts": texts, "calls": settings.single_calls, "rounds": settings.single_rounds,
                "result": str(result_path)}
        return _run_worker("--single-calls-worker", spec, spec_path, result_path, "the single-call measurement")


def _run_worker(option: str, spec: dict, spec_path: Path, result_path: Path, what: str) -> dict:
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), option, str(spec_path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr.strip()[-2000:]}")
    return json.loads(result_path.read_text(encoding="utf-8"))


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# -- scoring -----------------------------------------------------------------------------------------
def score(known_labels: list[str], true: list[str], predicted: list[str]) -> dict:
    """Scored exactly as ``prodcat.evaluate`` scores, so peers and prodcat are compared alike."""
    from prodcat.evaluation import scores

    return scores(true, predicted)


# -- one model on one dataset ------------------------------------------------------------------------
def bench_family(family: str, dataset, settings: Settings, models_dir: Path, fitted: dict | None = None) -> dict:
    """Train, evaluate and measure the prodcat family ``family`` on ``dataset``.

    ``fitted`` collects the categorizers trained on this dataset so far, by family, with their
    settings and training seconds: an ensemble whose members are all there is combined from them
    instead of training them again (which gives the same model, see ``Categorizer.combine``). Its
    training seconds are then its members' plus the combining. The model is saved under
    ``models_dir``, its path kept in ``saved_at`` for the single-call timing of the whole dataset's
    models (``run_benchmark`` takes it out of the results).
    """
    import prodcat
    from prodcat.models.registry import family_class

    entry = {"model": model_label(family, settings), "kind": "prodcat", "family": family}
    try:
        family_class(family)
    except (ImportError, AttributeError, prodcat.ModelError) as exc:
        _say(f"  prodcat family {family!r} cannot be imported ({type(exc).__name__}: {exc}); skipped")
        return {**entry, "status": "skipped", "error": f"{type(exc).__name__}: {exc}"}
    fitted = {} if fitted is None else fitted
    params = settings.family_params.get(family, {})
    members = _fitted_members(params, fitted) if family == "ensemble" else None
    start = time.perf_counter()
    validation = (dataset.validation.texts, dataset.validation.labels)
    if members:
        categorizer = prodcat.Categorizer.combine([fitted[m]["categorizer"] for m in members], validation)
        entry["combine_seconds"] = time.perf_counter() - start
        entry["members_trained_in_this_run"] = members
        entry["train_seconds"] = entry["combine_seconds"] + sum(fitted[m]["train_seconds"] for m in members)
    else:
        categorizer = prodcat.Categorizer(family, params=params, seed=SEED)
        categorizer.fit(dataset.train.texts, dataset.train.labels, validation=validation, verbose=0, log_dir=None)
        entry["train_seconds"] = time.perf_counter() - start
        fitted[family] = {"categorizer": categorizer, "params": params, "train_seconds": entry["train_seconds"]}
    entry["params"] = categorizer.params
    if categorizer.history_ and "loss" in categorizer.history_:
        entry["epochs_run"] = len(categorizer.history_["loss"])
    entry["tests"] = {}
    for test_name, rows in dataset.tests.items():
        metrics = prodcat.evaluate(categorizer, rows.texts, rows.labels)
        entry["tests"][test_name] = {key: metrics[key] for key in ("rows", "weighted_f1", "macro_f1", "accuracy")}
        if "review" in metrics:  # the share categorized automatically at the review threshold, and its precision
            entry["tests"][test_name]["review"] = metrics["review"]
    path = categorizer.save(models_dir / entry["model"])
    entry["size_bytes"] = directory_bytes(path)
    entry["prediction"] = measure_prediction("prodcat", family, path, _sample_texts(dataset), settings)
    return {**entry, "status": "ok", "saved_at": str(path)}


def model_label(family: str, settings: Settings) -> str:
    """The family's row name, which says how it differs from the default model: ``prodcat-linear+ENCODER``,
    ``prodcat-ensemble+transformer`` (a member added), ``prodcat-ensemble-bag`` (a member left out)."""
    from prodcat.models.registry import family_class

    label = f"prodcat-{family}"
    if settings.encoder and family in ("linear", "ensemble"):
        label += f"+{settings.encoder}"
    if family == "ensemble" and settings.ensemble_members:
        default = family_class("ensemble")().params["members"]
        label += "".join(f"+{m}" for m in settings.ensemble_members if m not in default)
        label += "".join(f"-{m}" for m in default if m not in settings.ensemble_members)
    return label


def _fitted_members(params: dict, fitted: dict) -> list[str] | None:
    """The ensemble's member families, when each was trained in this run with the settings the
    ensemble would give it; otherwise None (the ensemble then trains its own members)."""
    from prodcat.models.registry import family_class

    if set(params) - {"members", "member_params"}:
        return None
    members = params.get("members") or family_class("ensemble")().params["members"]
    member_params = params.get("member_params", {})
    if all(m in fitted and fitted[m]["params"] == member_params.get(m, {}) for m in members):
        return list(members)
    return None


def bench_peer(name: str, dataset, settings: Settings, models_dir: Path) -> dict:
    """Train, evaluate and measure the peer ``name`` on ``dataset`` (saved as ``bench_family`` saves)."""
    from peers import make_peer

    entry = {"model": name, "kind": "peer"}
    try:
        peer = make_peer(name)
        start = time.perf_counter()
        peer.fit(dataset.train.texts, dataset.train.labels)
    except ImportError as exc:
        _say(f"  peer {name!r} cannot be imported ({exc}); skipped")
        return {**entry, "status": "skipped", "error": f"{type(exc).__name__}: {exc}"}
    entry["train_seconds"] = time.perf_counter() - start
    entry["settings"] = getattr(peer, "settings", {"ngram_range": [1, 2], "sublinear_tf": True, "C": 1.0})
    entry["tests"] = {
        test_name: score(peer.labels_, rows.labels, peer.predict(rows.texts)) for test_name, rows in dataset.tests.items()
    }
    path = models_dir / name
    path.mkdir()
    peer.save(path)
    entry["size_bytes"] = directory_bytes(path)
    entry["prediction"] = measure_prediction("peer", name, path, _sample_texts(dataset), settings)
    return {**entry, "status": "ok", "saved_at": str(path)}


def _guarded_single_calls(models: list[dict], dataset, settings: Settings) -> None:
    """Add the single-call timings to each saved model's ``prediction``; a failure is recorded."""
    saved = [m for m in models if "saved_at" in m]
    specs = [{"label": m["model"], "kind": m["kind"], "name": m.get("family", m["model"]), "path": m.pop("saved_at")}
             for m in saved]
    try:
        timings = measure_single_calls(specs, _sample_texts(dataset), settings)
    except Exception as exc:  # noqa: BLE001 - the batch numbers and scores are kept
        traceback.print_exc()
        _say(f"  single-call timing FAILED: {type(exc).__name__}: {exc}")
        timings = {}
    for model in saved:
        model["prediction"].update(timings.get(model["model"], {"single_items_per_s": None}))


def _sample_texts(dataset) -> list[str]:
    """The texts prediction is timed on: the first test set's, at most a batch of them."""
    return next(iter(dataset.tests.values())).texts[:BATCH_SIZE]


def _guarded(run, label: str, *args) -> dict:
    """Run one benchmark; a failure is recorded (and printed) instead of ending the whole run."""
    start = time.perf_counter()
    try:
        entry = run(*args)
    except Exception as exc:  # noqa: BLE001 - one broken model must not lose an hour of results
        traceback.print_exc()
        _say(f"  {label} FAILED: {type(exc).__name__}: {exc}")
        return {"model": label, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    if entry["status"] == "ok":
        best = next(iter(entry["tests"].values()))
        _say(f"  {entry['model']}: weighted F1 {best['weighted_f1']:.3f}, trained in {entry['train_seconds']:.1f} s "
             f"({time.perf_counter() - start:.0f} s with evaluation and measurement)")
    return entry


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the whole run -----------------------------------------------------------------------------------
def machine_info() -> dict:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    cpu_model = None
    if Path("/proc/cpuinfo").exists():
        lines = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")]
        cpu_model = lines[0].split(":", 1)[1].strip() if lines else None
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "libraries": versions,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def run_benchmark(dataset_names: list[str], families: list[str], peer_names: list[str], settings: Settings,
                  data_dir: Path | None = None) -> dict:
    """Every model on every dataset; returns the results as JSON-ready data."""
    from datasets import DATA_DIR, load_dataset

    started = time.perf_counter()
    results = {"datasets": {}}
    for name in dataset_names:
        _say(f"[{name}] reading and splitting")
        dataset_start = time.perf_counter()
        dataset = load_dataset(name, data_dir or DATA_DIR, max_rows=settings.max_rows)
        fitted = {}  # this dataset's categorizers, which the ensemble can be combined from
        ordered = sorted(families, key=lambda family: family == "ensemble")  # its members first
        with tempfile.TemporaryDirectory(prefix="prodcat-bench-models-") as models_dir:
            models = [_guarded(bench_family, f"prodcat-{family}", family, dataset, settings, Path(models_dir), fitted)
                      for family in ordered]
            fitted.clear()
            models += [_guarded(bench_peer, peer, peer, dataset, settings, Path(models_dir)) for peer in peer_names]
            _say(f"  timing single calls of {len(models)} models side by side")
            _guarded_single_calls(models, dataset, settings)
        results["datasets"][name] = {
            "data": dataset.describe(),
            "test_sets": list(dataset.tests),
            "models": models,
            "seconds": time.perf_counter() - dataset_start,
        }
    results["total_seconds"] = time.perf_counter() - started
    return results


# -- writing the results -----------------------------------------------------------------------------
def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cell(value, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(results: dict) -> str:
    """The BENCHMARKS.md section: the command, the machine, and one table per dataset and test set."""
    machine, settings = results["machine"], results["settings"]
    lines = [
        "## Model families side by side" + (" (quick run: capped rows, not for citing)" if settings["quick"] else ""),
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {machine['cpu_model'] or machine['machine']}, {machine['cpus_usable']} usable CPUs, "
        f"{machine['memory_gb']} GB, {machine['platform']}, Python {machine['python']}; {machine['date']}. "
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items()) + ".",
        "",
        "Weighted and macro F1 and accuracy on the test set; training time includes calibration. A batch of "
        f"{BATCH_SIZE:,} texts is timed (median of {settings['throughput_runs']}) in a fresh process that loads the "
        "saved model; peak RSS is that process's maximum resident memory, imports and model included. Single "
        f"texts are timed in one process that loads all of a dataset's models and takes them in turn, in "
        f"{settings.get('single_rounds', 1)} rounds, so they share the machine's changing speed alike: each "
        f"round's calls per second, median over the rounds ({settings['single_calls']} calls per model, fewer for "
        f"a model whose calls pass {SINGLE_BUDGET_S:.0f} s in all). Best weighted F1 in bold.",
        "",
    ]
    for name, data in results["datasets"].items():
        for test_name in data["test_sets"]:
            lines += _table(name, test_name, data)
    lines += [f"Total time: {results['total_seconds'] / 60:.1f} min.", ""]
    return "\n".join(lines)


def _table(name: str, test_name: str, data: dict) -> list[str]:
    info = data["data"]
    rows_note = f"{info['train_rows']:,} training, {info['validation_rows']:,} validation, {info['test_rows'][test_name]:,} test rows, {info['train_labels']} labels"
    lines = [f"### {test_name}", "", f"{rows_note}.", "",
             "| model | weighted F1 | macro F1 | accuracy | automatic (precision) | training s | batch items/s | single items/s | peak RSS MB | size MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    scored = [m for m in data["models"] if m["status"] == "ok"]
    best = max((round(m["tests"][test_name]["weighted_f1"], 3) for m in scored), default=None)
    for model in data["models"]:
        if model["status"] != "ok":
            lines.append(f"| {model['model']} | {model['status']}: {model['error'][:80]} | | | | | | | | |")
            continue
        test, prediction = model["tests"][test_name], model["prediction"]
        f1 = _cell(test["weighted_f1"], 3)
        lines.append(
            f"| {model['model']} | {f'**{f1}**' if round(test['weighted_f1'], 3) == best else f1} | {_cell(test['macro_f1'], 3)} "
            f"| {_cell(test['accuracy'], 3)} | {_review_cell(test.get('review'))} | {_cell(model['train_seconds'], 1)} | {_cell(prediction['batch_items_per_s'], 0)} "
            f"| {_cell(prediction['single_items_per_s'], 0)} | {_cell(prediction['peak_rss_mb'], 0)} | {_cell(model['size_bytes'] / 1e6, 1)} |"
        )
    return lines + [""]


def _review_cell(review: dict | None) -> str:
    """The share of the test set categorized automatically at the stored review threshold (chosen on
    validation for the target precision), with the precision it reached; empty for peers."""
    if not review or review.get("coverage") is None:
        return ""
    return f"{review['coverage']:.1%} ({review['precision']:.3f})" if review.get("precision") is not None else f"{review['coverage']:.1%}"


# -- command line ------------------------------------------------------------------------------------
def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip() and part.strip() != "none"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from datasets import DATASETS
    from peers import PEERS

    from prodcat.models.registry import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small row caps, LSTM epochs 2, one throughput run")
    parser.add_argument("--datasets", type=_comma_list, default=list(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    # The hierarchical family is for category trees: benchmarks/hierarchy.py compares it on them. The
    # transformer needs a fetched encoder and takes about ten minutes a dataset here: it is asked for.
    # The streaming family is for catalogs larger than memory: benchmarks/scale.py measures it.
    default_families = [name for name in FAMILIES if name not in ("hierarchical", "transformer", "streaming")]
    parser.add_argument("--families", type=_comma_list, default=default_families, help=f"comma list of prodcat families ({', '.join(FAMILIES)}; default: all but hierarchical, transformer and streaming); 'none' for none")
    parser.add_argument("--peers", type=_comma_list, default=list(PEERS), help=f"comma list of {', '.join(PEERS)}; 'none' for none")
    parser.add_argument("--encoder", default=None, help="give the linear model (and the ensemble's linear member) this sentence encoder, e.g. all-MiniLM-L6-v2 (fetched with 'prodcat fetch-encoder')")
    parser.add_argument("--ensemble-members", type=_comma_list, default=None, help="the ensemble's member families (default: its own, bag,linear,neighbors), e.g. bag,linear,neighbors,transformer")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="directory for models.json and models.md")
    parser.add_argument("--data-dir", type=Path, default=None, help="the shared data directory (default ../shared/data)")
    parser.add_argument("--measure-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--single-calls-worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for option, chosen, known in (("--datasets", args.datasets, DATASETS), ("--families", args.families, FAMILIES), ("--peers", args.peers, PEERS),
                                  ("--ensemble-members", args.ensemble_members or [], [f for f in FAMILIES if f not in ("ensemble", "hierarchical")])):
        unknown = [c for c in chosen if c not in known]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)}; use a comma list of {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.measure_worker:
        measure_worker(args.measure_worker)
        return 0
    if args.single_calls_worker:
        single_calls_worker(args.single_calls_worker)
        return 0
    settings = Settings.make(args.quick, args.encoder, args.ensemble_members)
    results = {
        "command": "python benchmarks/models.py" + "".join(f" {shlex.quote(a)}" for a in argv),
        "machine": machine_info(),
        "settings": {"quick": settings.quick, "max_rows_per_file": settings.max_rows, "throughput_runs": settings.throughput_runs,
                     "single_calls": settings.single_calls, "single_rounds": settings.single_rounds, "batch_size": BATCH_SIZE, "family_params": settings.family_params, "seed": SEED},
        **run_benchmark(args.datasets, args.families, args.peers, settings, args.data_dir),
    }
    write_atomically(args.out / "models.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    write_atomically(args.out / "models.md", markdown(results))
    _say(f"wrote {args.out / 'models.json'} and {args.out / 'models.md'} in {results['total_seconds'] / 60:.1f} min")
    failed = [f"{name}/{m['model']}" for name, d in results["datasets"].items() for m in d["models"] if m["status"] == "failed"]
    if failed:
        _say(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
