"""``train`` for the families that stream (``registry.STREAMING_FAMILIES``): a catalog file larger than memory.

The file is read twice, in chunks, never whole: once to count the labels, once to learn. The
held-out rows are chosen by a hash of each row's near-duplicate key (its first content words; the
exact-duplicate key where it has none): every copy and near-copy of a product falls on the same side,
so none leaks into the test rows, and the split needs no memory. Held-out rows are kept (at most
``max_held_out_rows`` each for validation and test, deduplicated); the training rows are learned
chunk by chunk and dropped. Calibration and the review threshold use the validation rows; the
test rows are used once, for the report. The shipped model is the evaluated one (no refit).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from prodcat import artifacts
from prodcat.categorizer import Categorizer
from prodcat.data.reading import iter_catalog_chunks
from prodcat.data.split import Split
from prodcat.data.text import duplicate_key, near_duplicate_key, normalize_text
from prodcat.errors import DataError
from prodcat.evaluation import evaluate
from prodcat.hierarchy import is_hierarchical
from prodcat.models.registry import family_class

CHUNK_ROWS = 50_000
MAX_HELD_OUT_ROWS = 100_000


@dataclass
class _HeldOut:
    """Validation or test rows kept in memory: one row per exact duplicate."""

    limit: int
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    keys: set = field(default_factory=set)
    duplicates: int = 0
    over_limit: int = 0  # held-out rows beyond ``limit``: neither learned nor scored (reported in the split)

    def add(self, text: str, label: str, key: str) -> None:
        if (key, label) in self.keys:
            self.duplicates += 1
        elif len(self.texts) >= self.limit:
            self.over_limit += 1
        else:
            self.keys.add((key, label))
            self.texts.append(text)
            self.labels.append(label)


def held_out_share(text: str, seed: int) -> float:
    """Where ``text``'s product falls in [0, 1): the same for all its copies and near-copies."""
    key = near_duplicate_key(text) or duplicate_key(text)
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def train_streaming(path: str | Path, *, out: str | Path | None = None, report_dir: str | Path | None = None,
                    family: str, split: str = "grouped", **options):
    """``training.train`` for a streaming family on the catalog file ``path``: fit, evaluate on the
    held-out test rows, save to ``out`` with a report. ``options`` are ``fit_streaming``'s."""
    from prodcat.reporting import write_report
    from prodcat.training import TrainResult, _summary, report_context

    if split != "grouped":
        raise DataError(f"--split {split} is not available for --family {family}: it holds out rows by a hash of each product's near-duplicate key")
    categorizer, metrics, parts, skipped, source = fit_streaming(path, family=family, **options)
    categorizer.metadata = {
        "name": Path(out).name if out else f"prodcat-{family}",
        "training": {**source, "split": parts.describe()},
        "metrics": {"test": _summary(metrics)},
    }
    result = TrainResult(categorizer, parts, metrics, skipped)
    if out is not None:
        result.model_dir = categorizer.save(out)
        context = report_context(categorizer, f"{path} (test rows)", parts.describe(), skipped)
        result.report_dir = write_report(Path(report_dir) if report_dir else Path(out) / "report", metrics, context=context)
    return result


def fit_streaming(
    path: str | Path,
    *,
    family: str,
    params: dict | None = None,
    reading: dict | None = None,
    seed: int = 42,
    test_size: float = 0.1,
    validation_size: float = 0.1,
    class_weight: str | None = None,
    target_precision: float = 0.98,
    drop_rare_labels: bool = False,
    chunk_rows: int | None = None,
    max_held_out_rows: int = MAX_HELD_OUT_ROWS,
):
    """Fit the streaming ``family`` on the catalog file ``path`` in bounded memory; returns
    ``(categorizer, metrics, split, skipped, source_info)``. ``reading`` holds ``iter_catalog_chunks``'s
    column and format options."""
    for name, value in (("test_size", test_size), ("validation_size", validation_size)):
        if not 0.0 < value < 0.5:
            raise DataError(f"{name} must be a fraction between 0 and 0.5; got {value}")
    reading = dict(reading or {})
    chunk_rows = chunk_rows or CHUNK_ROWS
    chunks = lambda: iter_catalog_chunks(path, **reading, require_labels=True, chunk_rows=chunk_rows)  # noqa: E731
    counts, skipped, rows, digest, first = _count_labels(chunks(), drop_rare_labels)
    if reading.get("header") is None and hasattr(first, "header"):  # detected once: the second pass reads the same way
        reading["header"] = first.header is not None
    labels = sorted(counts)
    categorizer = Categorizer(family, params=params, class_weight=class_weight, target_precision=target_precision, seed=seed)
    categorizer._check_settings()
    model = family_class(family)(**categorizer.params).begin(len(labels), seed)
    weights = _class_weights(counts, labels) if class_weight == "balanced" else None
    test_share = min(test_size, max_held_out_rows / rows)
    validation_share = min(validation_size, max_held_out_rows / rows)
    limit = int(max_held_out_rows * 1.1) + 100  # the shares aim at max_held_out_rows; the hash may give a few more
    test, validation = _HeldOut(limit), _HeldOut(limit)
    index, trained = {label: i for i, label in enumerate(labels)}, 0
    for chunk in chunks():
        train_texts, train_y = [], []
        for text, label in zip(chunk.texts, chunk.labels):
            if not text or label not in index:
                continue
            share = held_out_share(text, seed)
            if share < test_share:
                test.add(text, label, duplicate_key(text))
            elif share < test_share + validation_share:
                validation.add(text, label, duplicate_key(text))
            else:
                train_texts.append(normalize_text(text))
                train_y.append(index[label])
        y = np.asarray(train_y, dtype=np.int64)
        model.learn(train_texts, y, None if weights is None else weights[y])
        trained += len(train_texts)
    if not test.texts or not validation.texts:
        raise DataError(f"{path}: too few distinct products ({rows}) to hold out validation and test rows; give a larger catalog")
    categorizer.labels_, categorizer.model_ = labels, model.finish()  # what Categorizer.fit sets, then the same calibration
    paths = getattr(first, "label_paths", None)
    categorizer.label_paths_ = is_hierarchical(labels) if paths is None else bool(paths)
    categorizer._fitted(*categorizer._validation_rows((validation.texts, validation.labels)))
    metrics = evaluate(categorizer, test.texts, test.labels)
    split = _describe_split(seed, rows, trained, validation, test, test_share, validation_share)
    source = {"source": str(path), "text_columns": first.text_columns, "label_columns": first.label_columns,
              "rows_used": rows, "rows_skipped": skipped, "fingerprint": "sha256:" + digest.hexdigest()}
    return categorizer, metrics, split, skipped, source


def _count_labels(chunks, drop_rare_labels: bool):
    """Rows per label among usable rows, rows left out by reason, usable rows, their fingerprint
    (as ``artifacts.fingerprint``) and the first chunk."""
    counts, skipped, digest, first = Counter(), Counter(), hashlib.sha256(), None
    for chunk in chunks:
        first = first or chunk
        for text, label in zip(chunk.texts, chunk.labels):
            if not text:
                skipped["empty text"] += 1
            elif not label:
                skipped["empty label"] += 1
            else:
                counts[label] += 1
                digest.update(label.encode("utf-8") + b"\x1f" + text.encode("utf-8") + b"\x1e")
    if drop_rare_labels:
        single = [label for label, n in counts.items() if n == 1]
        for label in single:
            del counts[label]
        if single:
            skipped["label with a single row"] += len(single)
    if len(counts) < 2:
        raise DataError(f"{first.source if first else 'the file'}: fewer than 2 labels have rows; a categorizer needs at least 2 labels")
    return counts, dict(skipped), sum(counts.values()), digest, first


def _class_weights(counts: Counter, labels: list[str]) -> np.ndarray:
    """``"balanced"`` weights (as scikit-learn's), by label id."""
    n = np.array([counts[label] for label in labels], dtype=np.float64)
    return n.sum() / (len(labels) * n)


def _describe_split(seed, rows, trained, validation: _HeldOut, test: _HeldOut, test_share, validation_share) -> Split:
    info = {
        "input_rows": rows,
        "train_rows": trained,
        "validation_rows": len(validation.texts),
        "test_rows": len(test.texts),
        "held_out_shares": {"test": test_share, "validation": validation_share},
        "held_out_exact_duplicates_removed": validation.duplicates + test.duplicates,
        "held_out_rows_over_limit": validation.over_limit + test.over_limit,
        "held_out_by": "hash of each row's near-duplicate key (copies and near-copies of a product stay on one side)",
    }
    empty = np.empty(0, dtype=np.int64)
    return Split(empty, empty, empty, "hashed", seed, info)
