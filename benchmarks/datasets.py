"""The benchmark's datasets: one leakage-free split per dataset, shared by every model.

Every dataset is read with ``prodcat.read_catalog``, cleaned with ``prodcat.training.clean_rows``
(empty texts and labels with a single row are left out, and counted) and split once with
``prodcat.split_catalog(strategy="grouped", seed=42)``:

* ``ecommerce``: 80/10/10 of the normalized reference file; the 150 raw rows of
  ``ecommerce_sample.csv`` are a second test set, ``ecommerce-raw-sample``.
* ``mwpd-lvl1/2/3``: the challenge's ``validation.jsonl`` is the test set. ``train.jsonl`` is split
  80/10/10 and its test part is merged back into training (90/10 train/validation): the validation
  part is still group-disjoint from both, so early stopping and calibration see unseen products.
  The text is every field of a web offer, one per line: name, the shop's category text, URL and
  description (the challenge gives all four, and its participants used them).
* ``bigbasket-category/sub_category/type``: 80/10/10 of ``bigbasket_products.csv``, title only.

Texts stay raw here: prodcat normalizes inside its models, and the peers get the same raw text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from prodcat.data.reading import read_catalog
from prodcat.data.split import split_catalog
from prodcat.data.text import duplicate_key
from prodcat.training import clean_rows

SEED = 42
MWPD_TEXT_COLUMNS = "Name,CategoryText,URL,Description"
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass
class Rows:
    """Texts and their labels."""

    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, positions) -> "Rows":
        return Rows([self.texts[i] for i in positions], [self.labels[i] for i in positions])

    def capped(self, max_rows: int | None, seed: int = SEED) -> "Rows":
        """At most ``max_rows`` rows, drawn at random with ``seed`` (order kept); all when ``None``."""
        if max_rows is None or len(self) <= max_rows:
            return self
        chosen = np.sort(np.random.default_rng(seed).choice(len(self), size=max_rows, replace=False))
        return self.take(chosen)


@dataclass
class BenchmarkDataset:
    """Train and validation rows, and one or more named test sets, of one benchmark task."""

    name: str
    train: Rows
    validation: Rows
    tests: dict[str, Rows]
    info: dict = field(default_factory=dict)

    def describe(self) -> dict:
        return {
            **self.info,
            "train_rows": len(self.train),
            "validation_rows": len(self.validation),
            "test_rows": {name: len(rows) for name, rows in self.tests.items()},
            "train_labels": len(set(self.train.labels)),
        }


def _clean(path: Path, max_rows: int | None, **reading) -> tuple[Rows, dict]:
    """Rows with a text and a label of more than one row, at most ``max_rows`` of them."""
    catalog = read_catalog(path, **reading)
    keep, skipped = clean_rows(catalog, drop_rare_labels=True)
    rows = Rows([catalog.texts[i] for i in keep], [catalog.labels[i] for i in keep])
    return rows.capped(max_rows), skipped


def _labelled_rows(path: Path, max_rows: int | None, **reading) -> tuple[Rows, dict]:
    """Every row with a text and a label (for test files: no label is dropped for being rare)."""
    catalog = read_catalog(path, **reading)
    keep = [i for i, (t, lab) in enumerate(zip(catalog.texts, catalog.labels)) if t and lab]
    skipped = len(catalog) - len(keep)
    rows = Rows([catalog.texts[i] for i in keep], [catalog.labels[i] for i in keep])
    return rows.capped(max_rows), ({"empty text or label": skipped} if skipped else {})


def _exact_duplicates_in_train(test: Rows, train: Rows) -> int:
    seen = {duplicate_key(t) for t in train.texts}
    return sum(duplicate_key(t) in seen for t in test.texts)


def _split_three_ways(name: str, path: Path, max_rows: int | None, **reading) -> BenchmarkDataset:
    rows, skipped = _clean(path, max_rows, **reading)
    parts = split_catalog(rows.texts, rows.labels, strategy="grouped", seed=SEED)
    info = {"source": str(path), "skipped": skipped, "split": parts.describe()}
    return BenchmarkDataset(name, rows.take(parts.train), rows.take(parts.validation), {name: rows.take(parts.test)}, info)


def ecommerce(data_dir: Path, max_rows: int | None = None) -> BenchmarkDataset:
    dataset = _split_three_ways("ecommerce", data_dir / "ecommerce" / "ecommerce_normalized.csv", max_rows)
    sample_path = data_dir / "ecommerce" / "ecommerce_sample.csv"
    sample, skipped = _labelled_rows(sample_path, max_rows)
    dataset.tests["ecommerce-raw-sample"] = sample
    dataset.info["raw_sample"] = {
        "source": str(sample_path),
        "skipped": skipped,
        "rows_with_exact_duplicate_in_train": _exact_duplicates_in_train(sample, dataset.train),
    }
    return dataset


def mwpd(level: str, data_dir: Path, max_rows: int | None = None) -> BenchmarkDataset:
    name = f"mwpd-{level}"
    train_path, test_path = data_dir / "mwpd2020" / "train.jsonl", data_dir / "mwpd2020" / "validation.jsonl"
    reading = {"text_cols": MWPD_TEXT_COLUMNS, "label_cols": level}
    rows, skipped = _clean(train_path, max_rows, **reading)
    parts = split_catalog(rows.texts, rows.labels, strategy="grouped", seed=SEED)
    train = rows.take(np.sort(np.concatenate([parts.train, parts.test])))
    test, test_skipped = _labelled_rows(test_path, max_rows, **reading)
    info = {
        "source": str(train_path),
        "test_source": str(test_path),
        "skipped": skipped,
        "test_skipped": test_skipped,
        "split": {**parts.describe(), "note": "the split's test part is merged into training; the test set is validation.jsonl"},
        "test_rows_with_exact_duplicate_in_train": _exact_duplicates_in_train(test, train),
        "test_labels_unseen_in_train": len(set(test.labels) - set(train.labels)),
    }
    return BenchmarkDataset(name, train, rows.take(parts.validation), {name: test}, info)


def bigbasket(level: str, data_dir: Path, max_rows: int | None = None) -> BenchmarkDataset:
    path = data_dir / "bigbasket" / "bigbasket_products.csv"
    return _split_three_ways(f"bigbasket-{level}", path, max_rows, text_cols="product", label_cols=level)


DATASETS: dict[str, Callable[..., BenchmarkDataset]] = {
    "ecommerce": ecommerce,
    **{f"mwpd-{level}": partial(mwpd, level) for level in ("lvl1", "lvl2", "lvl3")},
    **{f"bigbasket-{level}": partial(bigbasket, level) for level in ("category", "sub_category", "type")},
}


def load_dataset(name: str, data_dir: Path = DATA_DIR, max_rows: int | None = None) -> BenchmarkDataset:
    """The dataset called ``name`` (one of ``DATASETS``), read from ``data_dir``.

    ``max_rows`` (for quick runs) caps the rows drawn, at random with the seed, from each file
    before the split, so a quick run is fast but does not use the full run's split.
    """
    dataset = DATASETS[name](data_dir, max_rows=max_rows)
    if max_rows is not None:
        dataset.info["max_rows_per_file"] = max_rows
    return dataset
