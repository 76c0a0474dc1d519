"""``train``: catalog file → leakage-free split → fitted, calibrated ``Categorizer`` → report →
the shipped model, refit on every usable row.

The test split is used once, for the report; early stopping, calibration and the review threshold of
the evaluated model only ever see the validation split. The shipped model is the same recipe refit
on every usable row, calibrated on out-of-fold predictions (``prodcat.refit``), unless ``refit=False``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prodcat import artifacts
from prodcat.categorizer import Categorizer
from prodcat.data.reading import Catalog, read_catalog
from prodcat.data.split import Split, split_catalog
from prodcat.errors import DataError
from prodcat.evaluation import evaluate
from prodcat.models.registry import STREAMING_FAMILIES
from prodcat.models.sentence_encoder import remembered_encodings
from prodcat.reporting import write_report

RARE_ROWS = 2  # a label with at most this many rows is learned but not tested
AUTO = "auto"  # not a family: ``train`` chooses one by cross-validation


@dataclass
class TrainResult:
    """``categorizer`` is the shipped model; ``metrics`` are the evaluated model's scores on the test split
    (the same model without ``refit``)."""

    categorizer: Categorizer
    split: Split
    metrics: dict
    skipped: dict = field(default_factory=dict)
    model_dir: Path | None = None
    report_dir: Path | None = None
    evaluated: Categorizer | None = None
    refit: dict | None = None
    untested_labels: list[str] = field(default_factory=list)
    selection: dict | None = None  # with family "auto": how the family was chosen


def clean_rows(catalog: Catalog, *, drop_rare_labels: bool = False) -> tuple[list[int], dict]:
    """Positions of usable labelled rows, and how many rows were left out for which reason.

    A label with a single row can be learned but not tested; ``drop_rare_labels`` leaves such rows
    out (and says so).
    """
    skipped: Counter = Counter()
    keep = []
    for i, (text, label) in enumerate(zip(catalog.texts, catalog.labels)):
        if not text:
            skipped["empty text"] += 1
        elif not label:
            skipped["empty label"] += 1
        else:
            keep.append(i)
    counts = Counter(catalog.labels[i] for i in keep)
    if drop_rare_labels:
        single = [label for label, n in counts.items() if n == 1]
        keep = [i for i in keep if counts[catalog.labels[i]] > 1]
        if single:
            skipped["label with a single row"] += len(single)
        counts = Counter(catalog.labels[i] for i in keep)
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise DataError(f"{catalog.source}: only one label ({only!r}) has rows; a categorizer needs at least 2 labels")
    return keep, dict(skipped)


def split_rows(texts: list[str], labels: list[str], source: str = "the catalog", **split) -> tuple[Split, list[str]]:
    """``split_catalog`` of the rows whose label has more than ``RARE_ROWS`` rows; the rows of the
    other labels join the training part (learned, not tested). Returns the split and those labels."""
    counts = Counter(labels)
    untested = sorted(label for label, n in counts.items() if n <= RARE_ROWS)
    if not untested:
        return _split_of(source, texts, labels, **split), []
    tested = np.array([i for i, label in enumerate(labels) if counts[label] > RARE_ROWS], dtype=np.int64)
    rare = np.array([i for i, label in enumerate(labels) if counts[label] <= RARE_ROWS], dtype=np.int64)
    if len({labels[i] for i in tested}) < 2:
        swapped = len(counts) > len(labels) / 2  # labels as many as the rows: most likely the product texts
        raise DataError(f"{source}: only {len(tested)} rows belong to labels with more than {RARE_ROWS} rows; "
                        + ("most of its labels occur once: if that column holds the product texts, choose the columns "
                           "with --text-col and --label-col" if swapped else
                           "give at least 3 rows for each of 2 or more labels so that something can be tested"))
    parts = _split_of(source, [texts[i] for i in tested], [labels[i] for i in tested], **split)
    info = {**parts.info, "input_rows": len(texts), "rows_of_untested_labels": int(len(rare))}
    train = np.sort(np.concatenate([tested[parts.train], rare]))
    return Split(train, tested[parts.validation], tested[parts.test], parts.strategy, parts.seed, info), untested


def _split_of(source: str, texts: list[str], labels: list[str], **split) -> Split:
    """``split_catalog``, its refusal naming the file."""
    try:
        return split_catalog(texts, labels, **split)
    except DataError as exc:
        raise DataError(f"{source}: {exc}") from None


def train(
    data: str | Path | Catalog,
    *,
    out: str | Path | None = None,
    report_dir: str | Path | None = None,
    family: str = "lstm",
    params: dict | None = None,
    text_cols=None,
    label_cols=None,
    fmt: str | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    path_sep: str | None = None,
    split: str = "grouped",
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    class_weight: str | None = None,
    target_precision: float = 0.98,
    drop_rare_labels: bool = False,
    refit: bool = True,
    calibration_folds: int | None = None,
    time_budget: float | None = None,
    log_dir: str | Path | None = "logs",
    verbose: int = 1,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train a categorizer on a labelled catalog and evaluate it on a held-out test split; then (with
    ``refit``) train the same recipe on every usable row, calibrated on ``calibration_folds`` grouped
    folds (default: 5, or 3 for the slow families; for 100,000 rows or more, the evaluated model's
    validation rows instead), and return that one.

    ``family="auto"`` chooses the family (linear, bag, neighbors or their ensemble) by grouped
    cross-validation on the training split within ``time_budget`` seconds (``prodcat.selection``).

    With ``out``, the model is saved there and the report written to ``report_dir`` (default
    ``out/report``). ``progress(stage)`` is told each stage as it starts ("training on 8,000 rows").
    """
    progress = progress or (lambda stage: None)
    if family == AUTO and params:
        raise DataError(f"--param {next(iter(params))}=... needs a named --family; auto chooses among families with their defaults")
    if calibration_folds is not None and calibration_folds < 2:
        raise DataError(f"--calibration-folds must be at least 2; got {calibration_folds}")
    if family in STREAMING_FAMILIES and not isinstance(data, Catalog):  # a file larger than memory: read in chunks
        from prodcat.stream_training import train_streaming

        reading = {"text_cols": text_cols, "label_cols": label_cols, "fmt": fmt, "header": header, "encoding": encoding, "path_sep": path_sep}
        return train_streaming(data, out=out, report_dir=report_dir, family=family, split=split, params=params, reading=reading, seed=seed,
                               test_size=test_size, validation_size=validation_size, class_weight=class_weight,
                               target_precision=target_precision, drop_rare_labels=drop_rare_labels)
    progress(f"reading {data if not isinstance(data, Catalog) else data.source}")
    catalog = data if isinstance(data, Catalog) else read_catalog(
        data, text_cols=text_cols, label_cols=label_cols, fmt=fmt, header=header, encoding=encoding, path_sep=path_sep
    )
    if catalog.labels is None:
        raise DataError(f"{catalog.source}: has no label column; pass --label-col NAME")
    keep, skipped = clean_rows(catalog, drop_rare_labels=drop_rare_labels)
    texts = [catalog.texts[i] for i in keep]
    labels = [catalog.labels[i] for i in keep]
    parts, untested = split_rows(texts, labels, str(catalog.source), strategy=split, seed=seed, test_size=test_size, validation_size=validation_size)
    pick = lambda rows, values: [values[i] for i in rows]  # noqa: E731
    selection = None
    if family == AUTO:
        from prodcat.selection import DEFAULT_TIME_BUDGET, choose_family

        budget = time_budget or DEFAULT_TIME_BUDGET
        progress(f"choosing the family by cross-validation on {len(parts.train):,} training rows (budget {budget:.0f} s)")
        chosen = choose_family(pick(parts.train, texts), pick(parts.train, labels), time_budget=budget, seed=seed,
                               class_weight=class_weight, progress=progress)
        family, params, selection = chosen.family, chosen.params, chosen.describe()
    with remembered_encodings():  # a sentence encoder encodes each text once, not once per fit
        evaluated = Categorizer(family, params=params, class_weight=class_weight, target_precision=target_precision, seed=seed)
        progress(f"training on {len(parts.train):,} rows, validating on {len(parts.validation):,}")
        evaluated.fit(
            pick(parts.train, texts),
            pick(parts.train, labels),
            validation=(pick(parts.validation, texts), pick(parts.validation, labels)),
            log_dir=log_dir,
            verbose=verbose,
            label_paths=catalog.label_paths,
        )
        progress(f"testing on {len(parts.test):,} rows")
        metrics = evaluate(evaluated, pick(parts.test, texts), pick(parts.test, labels))
        shipped, refit_info = evaluated, None
        if refit:
            from prodcat.refit import HOLDOUT_ROWS, refit as refit_on

            rows = np.sort(np.concatenate([parts.train, parts.validation, parts.test]))
            progress(f"refitting on all {len(rows):,} rows, calibrated out of fold"
                     + (" (one training on all rows and one per fold)" if calibration_folds or len(rows) < HOLDOUT_ROWS else ""))
            validation = (pick(parts.validation, texts), pick(parts.validation, labels))
            shipped, refit_info = refit_on(evaluated, pick(rows, texts), pick(rows, labels), n_folds=calibration_folds,
                                           validation=validation, verbose=verbose)
    shipped.metadata = {
        "name": Path(out).name if out else f"prodcat-{family}",
        "training": {
            "source": str(catalog.source),
            "text_columns": catalog.text_columns,
            "label_columns": catalog.label_columns,
            "rows_used": len(texts),
            "rows_skipped": skipped,
            "fingerprint": artifacts.fingerprint(texts, labels),
            "split": parts.describe(),
            "untested_labels": untested,
            "refit": refit_info,
            "selection": selection,
        },
        "metrics": {"test": _summary(metrics)},
    }
    evaluated.metadata = shipped.metadata
    result = TrainResult(shipped, parts, metrics, skipped, evaluated=evaluated, refit=refit_info, untested_labels=untested,
                         selection=selection)
    if out is not None:
        progress("writing the model and its report")
        result.model_dir = shipped.save(out)
        context = report_context(evaluated, f"{catalog.source} (test split)", parts.describe(), skipped)
        context.update(refit=refit_info, untested_labels=untested, selection=selection)
        result.report_dir = write_report(
            Path(report_dir) if report_dir else Path(out) / "report", metrics, context=context, history=evaluated.history_,
        )
    return result


def report_context(categorizer: Categorizer, evaluated_on: str, split: dict | None = None, skipped: dict | None = None) -> dict:
    return {
        "title": f"prodcat {categorizer.family} model",
        "model": categorizer.metadata.get("name"),
        "family": categorizer.family,
        "data": categorizer.metadata.get("training", {}).get("source"),
        "evaluated_on": evaluated_on,
        "split": split,
        "skipped": skipped or {},
        "has_history": bool(categorizer.history_),
        "calibration": categorizer.calibration_,
    }


def _summary(metrics: dict) -> dict:
    keys = ("rows", "accuracy", "weighted_f1", "macro_f1")
    summary = {key: metrics[key] for key in keys}
    summary["per_class_f1"] = {label: row["f1"] for label, row in metrics["per_class"].items()}
    if "review" in metrics:
        summary["review"] = metrics["review"]
    return summary
