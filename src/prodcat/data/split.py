"""Train / validation / test splits that do not leak.

The default split collapses exact duplicates (same text up to case, punctuation and white space,
same label) and keeps near-duplicates (the same product in another size or colour) in one group, so
a product seen in training never comes back in the test split. Groups are assigned with scikit-learn's
``StratifiedGroupKFold``, seeded, so the same data and seed always give the same split.
``strategy="random"`` is the plain stratified random split most published numbers use; it leaks, and
``Split.leakage`` says how much.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from prodcat.data.text import duplicate_key, near_duplicate_key
from prodcat.errors import DataError

STRATEGIES = ("grouped", "random")


@dataclass
class Split:
    """Row positions (into the texts that were split) of each part, and how the split was made."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    strategy: str
    seed: int
    info: dict = field(default_factory=dict)

    @property
    def leaks(self) -> bool:
        return self.info.get("test_rows_with_exact_duplicate_in_train", 0) > 0

    def describe(self) -> dict:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "train_rows": int(len(self.train)),
            "validation_rows": int(len(self.validation)),
            "test_rows": int(len(self.test)),
            **self.info,
        }


def split_catalog(
    texts: list[str],
    labels: list[str],
    *,
    strategy: str = "grouped",
    test_size: float = 0.1,
    validation_size: float = 0.1,
    seed: int = 42,
) -> Split:
    """Split rows into train, validation and test parts. Rows with an empty text must be removed first."""
    if strategy not in STRATEGIES:
        raise DataError(f"unknown split strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    for name, value in (("test_size", test_size), ("validation_size", validation_size)):
        if not 0.0 < value < 0.5:
            raise DataError(f"{name} must be a fraction between 0 and 0.5; got {value}")
    labels_array = np.asarray(labels, dtype=object)
    keys = [duplicate_key(t) for t in texts]
    info: dict = {"input_rows": len(texts)}
    if strategy == "grouped":
        keep = _first_of_each_duplicate(keys, labels)
        info["exact_duplicates_removed"] = int(len(texts) - len(keep))
        groups = _near_duplicate_groups([texts[i] for i in keep], [keys[i] for i in keep])
        info["near_duplicate_groups"] = int(groups.max() + 1) if len(groups) else 0
        test, rest = _group_fold(keep, labels_array[keep], groups, test_size, seed)
        rest_groups = groups[np.searchsorted(keep, rest)]
        validation, train = _group_fold(rest, labels_array[rest], rest_groups, validation_size / (1 - test_size), seed + 1)
    else:
        everything = np.arange(len(texts))
        rest, test = _stratified_random(everything, labels_array, test_size, seed)
        train, validation = _stratified_random(rest, labels_array[rest], validation_size / (1 - test_size), seed + 1)
    info.update(_leakage(keys, [near_duplicate_key(t) for t in texts], train, test))
    return Split(np.sort(train), np.sort(validation), np.sort(test), strategy, seed, info)


def _first_of_each_duplicate(keys: list[str], labels: list[str]) -> np.ndarray:
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, pair in enumerate(zip(keys, labels)):
        if pair not in seen:
            seen.add(pair)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def _near_duplicate_groups(texts: list[str], keys: list[str]) -> np.ndarray:
    """Connected components of rows that share an exact key or a near-duplicate key."""
    n = len(texts)
    node_ids: dict[str, int] = {}
    rows, cols = [], []
    for i, (text, key) in enumerate(zip(texts, keys)):
        for node in ("d:" + key, "n:" + near_duplicate_key(text)):
            if node == "n:":  # no content words left: only the exact key groups it
                continue
            rows.append(i)
            cols.append(n + node_ids.setdefault(node, len(node_ids)))
    size = n + len(node_ids)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    _, groups = np.unique(component[:n], return_inverse=True)
    return groups


def _group_fold(rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, size: float, seed: int):
    """Hold out about ``size`` of ``rows`` as whole groups, stratified by label. Returns (held_out, rest)."""
    n_splits = max(2, round(1 / size))
    if len(np.unique(groups)) < n_splits:
        raise DataError(f"too few distinct products ({len(np.unique(groups))}) to split; give a larger catalog")
    folder = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class has fewer members than n_splits"
        rest, held_out = next(folder.split(rows, labels, groups))
    return rows[held_out], rows[rest]


def _stratified_random(rows: np.ndarray, labels: np.ndarray, size: float, seed: int):
    counts = Counter(labels.tolist())
    stratify = labels if min(counts.values()) >= 2 else None
    return train_test_split(rows, test_size=size, random_state=seed, stratify=stratify)


def _leakage(keys: list[str], near_keys: list[str], train: np.ndarray, test: np.ndarray) -> dict:
    train_keys = {keys[i] for i in train}
    train_near = {near_keys[i] for i in train if near_keys[i]}
    return {
        "test_rows_with_exact_duplicate_in_train": int(sum(keys[i] in train_keys for i in test)),
        "test_rows_with_near_duplicate_in_train": int(sum(near_keys[i] in train_near for i in test)),
    }
