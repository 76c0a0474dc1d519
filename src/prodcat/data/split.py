"""Train / validation / test splits that do not leak.

The default split collapses exact duplicates (same text up to case, punctuation and white space,
same label) and keeps near-duplicates (the same product in another size or colour) in one group, so
a product seen in training never comes back in the test split. Groups are dealt to folds by
``group_folds`` (stratified by label, vectorized, near-linear in rows), seeded, so the same data and
seed always give the same split.
``strategy="random"`` is the plain stratified random split most published numbers use; it leaks, and
``Split.leakage`` says how much.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
    near_keys = [near_duplicate_key(t) for t in texts]  # computed once: grouping and the leakage count use them
    info: dict = {"input_rows": len(texts)}
    if strategy == "grouped":
        keep = _first_of_each_duplicate(keys, labels)
        info["exact_duplicates_removed"] = int(len(texts) - len(keep))
        groups = _near_duplicate_groups([keys[i] for i in keep], [near_keys[i] for i in keep])
        info["near_duplicate_groups"] = int(groups.max() + 1) if len(groups) else 0
        test, rest = _group_fold(keep, labels_array[keep], groups, test_size, seed)
        rest_groups = groups[np.searchsorted(keep, rest)]
        validation, train = _group_fold(rest, labels_array[rest], rest_groups, validation_size / (1 - test_size), seed + 1)
    else:
        everything = np.arange(len(texts))
        rest, test = _stratified_random(everything, labels_array, test_size, seed)
        train, validation = _stratified_random(rest, labels_array[rest], validation_size / (1 - test_size), seed + 1)
    info.update(_leakage(keys, near_keys, train, test))
    return Split(np.sort(train), np.sort(validation), np.sort(test), strategy, seed, info)


def _first_of_each_duplicate(keys: list[str], labels: list[str]) -> np.ndarray:
    seen: set[tuple[str, str]] = set()
    keep = []
    for i, pair in enumerate(zip(keys, labels)):
        if pair not in seen:
            seen.add(pair)
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def product_groups(texts: list[str]) -> np.ndarray:
    """A group id per text: texts that are exact duplicates (``duplicate_key``) or near-duplicates
    (``near_duplicate_key``) of each other, directly or through others, share one id."""
    return _near_duplicate_groups([duplicate_key(t) for t in texts], [near_duplicate_key(t) for t in texts])


def _near_duplicate_groups(keys: list[str], near_keys: list[str]) -> np.ndarray:
    """Connected components of rows that share an exact key or a near-duplicate key."""
    n = len(keys)
    node_ids: dict[str, int] = {}
    rows, cols = [], []
    for i, (key, near_key) in enumerate(zip(keys, near_keys)):
        for node in ("d:" + key, "n:" + near_key):
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
    n_folds = max(2, round(1 / size))
    n_groups = len(np.unique(groups))
    if n_groups < n_folds:
        raise DataError(f"too few distinct products ({n_groups} among {len(rows)} rows; titles that differ only in "
                        "numbers, sizes or colours are one product) to split; give a larger catalog")
    held = group_folds(labels, groups, n_folds, seed) == 0
    return rows[held], rows[~held]


def group_folds(labels, groups, n_folds: int, seed: int) -> np.ndarray:
    """Assign every row to one of ``n_folds`` folds: whole groups, each label spread evenly over the folds.

    Each group counts under its most common label. Groups of several rows go first, largest first, each
    to the fold that holds the fewest rows of its label so far (one round per rank, all labels at once);
    then each label's single-row groups fill its folds (counting every row of those groups under its
    own label) up to an equal share (largest remainder, ties
    broken at random). Seeded; sorting and NumPy only. Returns the fold (0 .. n_folds - 1) of each row.
    """
    if n_folds < 1:
        raise ValueError(f"n_folds must be at least 1; got {n_folds}")
    _, label_of_row = np.unique(np.asarray(labels), return_inverse=True)
    _, group_of_row = np.unique(np.asarray(groups), return_inverse=True)
    label_of_row, group_of_row = label_of_row.ravel(), group_of_row.ravel()
    if len(label_of_row) == 0:
        return np.zeros(0, dtype=np.int64)
    n_groups, n_labels = int(group_of_row.max()) + 1, int(label_of_row.max()) + 1
    group_label = _most_common_label(group_of_row, label_of_row, n_labels)
    group_size = np.bincount(group_of_row, minlength=n_groups)
    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(n_groups)
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    rows_in_fold = np.zeros((n_labels, n_folds))
    several = np.flatnonzero(group_size > 1)
    _deal_largest_first(several, group_label, group_size, shuffle, rows_in_fold, fold_of_group, rng)
    in_several = np.isin(group_of_row, several)  # count their rows under their own labels, not the group's
    rows_in_fold[:] = 0
    np.add.at(rows_in_fold, (label_of_row[in_several], fold_of_group[group_of_row[in_several]]), 1)
    single = np.flatnonzero(group_size == 1)
    single = single[np.lexsort((shuffle[single], group_label[single]))]
    share = _equal_share(rows_in_fold, np.bincount(group_label[single], minlength=n_labels), rng)
    fold_of_group[single] = np.repeat(np.tile(np.arange(n_folds), n_labels), share.ravel())
    return fold_of_group[group_of_row]


def _deal_largest_first(chosen, group_label, group_size, shuffle, rows_in_fold, fold_of_group, rng) -> None:
    """Give each of the ``chosen`` groups the fold with the fewest rows of its label, largest groups first."""
    order = chosen[np.lexsort((shuffle[chosen], -group_size[chosen], group_label[chosen]))]
    labels_in_order = group_label[order]
    first_of_label = np.searchsorted(labels_in_order, labels_in_order)
    rank = np.arange(len(order)) - first_of_label
    by_rank = order[np.argsort(rank, kind="stable")]
    bounds = np.searchsorted(np.sort(rank), np.arange(rank.max() + 2 if len(rank) else 1))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        batch = by_rank[start:stop]  # at most one group per label
        label = group_label[batch]
        jitter = rng.random((len(batch), rows_in_fold.shape[1])) * 0.5
        fold = np.argmin(rows_in_fold[label] + jitter, axis=1)
        rows_in_fold[label, fold] += group_size[batch]
        fold_of_group[batch] = fold


def _equal_share(rows_in_fold: np.ndarray, singles: np.ndarray, rng) -> np.ndarray:
    """How many of each label's ``singles`` each fold gets, to bring the label's folds nearest to equal."""
    n_folds = rows_in_fold.shape[1]
    target = (rows_in_fold.sum(axis=1) + singles) / n_folds
    need = np.maximum(target[:, None] - rows_in_fold, 0.0)
    total_need = need.sum(axis=1, keepdims=True)
    want = np.where(total_need > 0, need * singles[:, None] / np.where(total_need > 0, total_need, 1), singles[:, None] / n_folds)
    share = np.floor(want + 1e-9).astype(np.int64)
    missing = singles - share.sum(axis=1)
    remainder = want - share + rng.random(want.shape) * 1e-6
    rank = np.argsort(np.argsort(-remainder, axis=1, kind="stable"), axis=1, kind="stable")
    return share + (rank < missing[:, None])


def _most_common_label(group_of_row: np.ndarray, label_of_row: np.ndarray, n_labels: int) -> np.ndarray:
    """The most common label of each group (the smallest label code on a tie)."""
    pairs, counts = np.unique(group_of_row.astype(np.int64) * n_labels + label_of_row, return_counts=True)
    pair_group, pair_label = pairs // n_labels, pairs % n_labels
    order = np.lexsort((pair_label, -counts, pair_group))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pair_group[order][1:] != pair_group[order][:-1]
    return pair_label[order][first]


def _stratified_random(rows: np.ndarray, labels: np.ndarray, size: float, seed: int):
    from sklearn.model_selection import train_test_split  # only this strategy needs scikit-learn

    counts = Counter(labels.tolist())
    held_out = int(np.ceil(size * len(rows)))
    # Stratifying needs two rows of every label and a row of each in both parts: not so in a small catalog.
    stratifiable = min(counts.values()) >= 2 and min(held_out, len(rows) - held_out) >= len(counts)
    return train_test_split(rows, test_size=size, random_state=seed, stratify=labels if stratifiable else None)


def _leakage(keys: list[str], near_keys: list[str], train: np.ndarray, test: np.ndarray) -> dict:
    train_keys = {keys[i] for i in train}
    train_near = {near_keys[i] for i in train if near_keys[i]}
    return {
        "test_rows_with_exact_duplicate_in_train": int(sum(keys[i] in train_keys for i in test)),
        "test_rows_with_near_duplicate_in_train": int(sum(near_keys[i] in train_near for i in test)),
    }
