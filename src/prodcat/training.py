"""``train``: catalog file → leakage-free split → fitted, calibrated ``Categorizer`` → report.

The test split is used once, at the end, for the report; early stopping, calibration and the review
threshold only ever see the validation split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prodcat import artifacts
from prodcat.categorizer import Categorizer
from prodcat.data.reading import Catalog, read_catalog
from prodcat.data.split import Split, split_catalog
from prodcat.errors import DataError
from prodcat.evaluation import evaluate
from prodcat.models.registry import STREAMING_FAMILIES
from prodcat.reporting import write_report


@dataclass
class TrainResult:
    categorizer: Categorizer
    split: Split
    metrics: dict
    skipped: dict = field(default_factory=dict)
    model_dir: Path | None = None
    report_dir: Path | None = None


def clean_rows(catalog: Catalog, *, drop_rare_labels: bool = False) -> tuple[list[int], dict]:
    """Positions of usable labelled rows, and how many rows were left out for which reason.

    A label with a single row cannot be both learned and tested: that is an error unless
    ``drop_rare_labels``, which leaves such rows out (and says so).
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
    if len(counts) < 2:
        only = next(iter(counts), "none")
        raise DataError(f"{catalog.source}: only one label ({only!r}) has rows; a categorizer needs at least 2 labels")
    single = [label for label, n in counts.items() if n == 1]
    if single:
        if not drop_rare_labels:
            row = catalog.row_numbers[next(i for i in keep if catalog.labels[i] == single[0])]
            more = f" and {len(single) - 1} more labels" if len(single) > 1 else ""
            raise DataError(
                f"{catalog.source}: label {single[0]!r} (row {row}){more} has a single row, too few to learn and test; "
                "add rows for it or pass --drop-rare-labels"
            )
        keep = [i for i in keep if counts[catalog.labels[i]] > 1]
        skipped["label with a single row"] += len(single)
    return keep, dict(skipped)


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
    log_dir: str | Path | None = "logs",
    verbose: int = 1,
) -> TrainResult:
    """Train a categorizer on a labelled catalog and evaluate it on a held-out test split.

    With ``out``, the model is saved there and the report written to ``report_dir`` (default
    ``out/report``).
    """
    if family in STREAMING_FAMILIES and not isinstance(data, Catalog):  # a file larger than memory: read in chunks
        from prodcat.stream_training import train_streaming

        reading = {"text_cols": text_cols, "label_cols": label_cols, "fmt": fmt, "header": header, "encoding": encoding, "path_sep": path_sep}
        return train_streaming(data, out=out, report_dir=report_dir, family=family, split=split, params=params, reading=reading, seed=seed,
                               test_size=test_size, validation_size=validation_size, class_weight=class_weight,
                               target_precision=target_precision, drop_rare_labels=drop_rare_labels)
    catalog = data if isinstance(data, Catalog) else read_catalog(
        data, text_cols=text_cols, label_cols=label_cols, fmt=fmt, header=header, encoding=encoding, path_sep=path_sep
    )
    if catalog.labels is None:
        raise DataError(f"{catalog.source}: has no label column; pass --label-col NAME")
    keep, skipped = clean_rows(catalog, drop_rare_labels=drop_rare_labels)
    texts = [catalog.texts[i] for i in keep]
    labels = [catalog.labels[i] for i in keep]
    parts = split_catalog(texts, labels, strategy=split, seed=seed, test_size=test_size, validation_size=validation_size)
    pick = lambda rows, values: [values[i] for i in rows]  # noqa: E731
    categorizer = Categorizer(family, params=params, class_weight=class_weight, target_precision=target_precision, seed=seed)
    categorizer.fit(
        pick(parts.train, texts),
        pick(parts.train, labels),
        validation=(pick(parts.validation, texts), pick(parts.validation, labels)),
        log_dir=log_dir,
        verbose=verbose,
        label_paths=catalog.label_paths,
    )
    metrics = evaluate(categorizer, pick(parts.test, texts), pick(parts.test, labels))
    categorizer.metadata = {
        "name": Path(out).name if out else f"prodcat-{family}",
        "training": {
            "source": str(catalog.source),
            "text_columns": catalog.text_columns,
            "label_columns": catalog.label_columns,
            "rows_used": len(texts),
            "rows_skipped": skipped,
            "fingerprint": artifacts.fingerprint(texts, labels),
            "split": parts.describe(),
        },
        "metrics": {"test": _summary(metrics)},
    }
    result = TrainResult(categorizer, parts, metrics, skipped)
    if out is not None:
        result.model_dir = categorizer.save(out)
        result.report_dir = write_report(
            Path(report_dir) if report_dir else Path(out) / "report",
            metrics,
            context=report_context(categorizer, f"{catalog.source} (test split)", parts.describe(), skipped),
            history=categorizer.history_,
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
