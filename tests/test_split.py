"""split_catalog: reproducible, stratified, and without leakage of duplicates or near-duplicates."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE

from prodcat.data.reading import read_catalog
from prodcat.data.split import group_folds, product_groups, split_catalog
from prodcat.data.text import duplicate_key, near_duplicate_key
from prodcat.errors import DataError

REPEATED = 60  # rows of the sample that come back as duplicates and variants


@pytest.fixture(scope="module")
def real_rows() -> tuple[list[str], list[str]]:
    catalog = read_catalog(SAMPLE)
    return catalog.texts, catalog.labels


@pytest.fixture(scope="module")
def duplicated_rows(real_rows) -> tuple[list[str], list[str]]:
    """The sample plus, for its first rows: an exact repeat, an upper-case copy, a copy with other
    punctuation, and two size/colour variants (near-duplicates)."""
    texts, labels = list(real_rows[0]), list(real_rows[1])
    for text, label in zip(real_rows[0][:REPEATED], real_rows[1][:REPEATED]):
        for copy in (text, text.upper(), text.replace(" ", " , ") + "!!", text + " - Black, XL", text + " (Red, M)"):
            texts.append(copy)
            labels.append(label)
    return texts, labels


def _keys(texts, rows):
    return {duplicate_key(texts[i]) for i in rows}


def test_same_seed_same_split(duplicated_rows):
    first = split_catalog(*duplicated_rows, seed=7)
    second = split_catalog(*duplicated_rows, seed=7)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(getattr(first, part), getattr(second, part))
    assert first.info == second.info


def test_different_seed_different_split(duplicated_rows):
    first = split_catalog(*duplicated_rows, seed=1)
    second = split_catalog(*duplicated_rows, seed=2)
    assert set(first.test.tolist()) != set(second.test.tolist())


def test_grouped_split_shares_no_duplicate_or_variant_between_train_and_test(duplicated_rows):
    texts, labels = duplicated_rows
    split = split_catalog(texts, labels, seed=3)
    assert split.strategy == "grouped" and not split.leaks
    test_keys = _keys(texts, split.test)
    assert not test_keys & _keys(texts, split.train)
    assert not test_keys & _keys(texts, split.validation)
    test_near = {near_duplicate_key(texts[i]) for i in split.test} - {""}
    assert not test_near & {near_duplicate_key(texts[i]) for i in split.train}
    assert split.info["test_rows_with_exact_duplicate_in_train"] == 0
    assert split.info["test_rows_with_near_duplicate_in_train"] == 0


def test_grouped_split_collapses_exact_duplicates(duplicated_rows):
    texts, labels = duplicated_rows
    split = split_catalog(texts, labels, seed=3)
    distinct = {(duplicate_key(t), label) for t, label in zip(texts, labels)}
    removed = len(texts) - len(distinct)
    assert removed >= 3 * REPEATED  # repeat, upper case and punctuation copies
    assert split.info["exact_duplicates_removed"] == removed
    used = np.concatenate([split.train, split.validation, split.test])
    assert len(used) == len(set(used.tolist())) == len(distinct)
    assert len({(duplicate_key(texts[i]), labels[i]) for i in used}) == len(distinct)


def test_grouped_split_keeps_near_duplicates_together(duplicated_rows):
    texts, labels = duplicated_rows
    split = split_catalog(texts, labels, seed=5)
    part_of = {int(i): name for name in ("train", "validation", "test") for i in getattr(split, name)}
    for original in range(REPEATED):
        variants = [i for i, t in enumerate(texts) if t.startswith(texts[original]) and i in part_of]
        assert len(variants) >= 3  # the original and its two variants (the copies were collapsed)
        assert len({part_of[i] for i in variants}) == 1


def test_every_label_is_in_the_test_split(duplicated_rows):
    texts, labels = duplicated_rows
    for seed in (0, 1):
        split = split_catalog(texts, labels, seed=seed)
        assert {labels[i] for i in split.test} == set(labels)
        assert {labels[i] for i in split.train} == set(labels)


def test_split_sizes_follow_the_fractions(real_rows):
    split = split_catalog(*real_rows, test_size=0.2, validation_size=0.2, seed=0)
    n = len(real_rows[0])
    assert abs(len(split.test) - 0.2 * n) <= 0.05 * n
    assert abs(len(split.validation) - 0.2 * n) <= 0.05 * n
    described = split.describe()
    assert described["train_rows"] + described["validation_rows"] + described["test_rows"] == n


def test_random_split_on_duplicated_data_reports_its_leakage(duplicated_rows):
    texts, labels = duplicated_rows
    split = split_catalog(texts, labels, strategy="random", seed=3)
    assert split.leaks
    leaked = sum(duplicate_key(texts[i]) in _keys(texts, split.train) for i in split.test)
    assert split.info["test_rows_with_exact_duplicate_in_train"] == leaked > 0
    assert split.info["test_rows_with_near_duplicate_in_train"] >= leaked
    assert len(split.train) + len(split.validation) + len(split.test) == len(texts)  # nothing collapsed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategy": "shuffled"}, "unknown split strategy 'shuffled'"),
        ({"test_size": 0.7}, "test_size must be a fraction"),
        ({"validation_size": 0.0}, "validation_size must be a fraction"),
    ],
)
def test_bad_split_settings(real_rows, options, message):
    with pytest.raises(DataError, match=message):
        split_catalog(*real_rows, **options)


def test_too_few_products_to_split(real_rows):
    texts, labels = real_rows
    with pytest.raises(DataError, match="too few distinct products"):
        split_catalog(texts[:4] * 5, labels[:4] * 5)


def test_group_folds_keeps_groups_whole_and_is_seeded():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 400, size=2000)
    labels = groups % 7  # one label per group
    folds = group_folds(labels, groups, 5, seed=3)
    assert folds.shape == (2000,) and set(folds.tolist()) == set(range(5))
    for group in np.unique(groups):
        assert len(set(folds[groups == group].tolist())) == 1
    np.testing.assert_array_equal(folds, group_folds(labels, groups, 5, seed=3))
    assert not np.array_equal(folds, group_folds(labels, groups, 5, seed=4))


def _label_share_error(labels: np.ndarray, held_out: np.ndarray, fraction: float) -> float:
    """Mean over labels of |held-out rows of the label - fraction x its rows|, in rows."""
    names, totals = np.unique(labels, return_counts=True)
    held = np.array([np.sum(labels[held_out] == name) for name in names])
    return float(np.mean(np.abs(held - fraction * totals)))


def test_group_folds_stratify_at_least_as_well_as_stratified_group_k_fold(duplicated_rows):
    from sklearn.model_selection import StratifiedGroupKFold

    texts, labels = duplicated_rows
    labels = np.asarray(labels)
    groups = np.asarray([near_duplicate_key(t) or duplicate_key(t) for t in texts])
    new, old = [], []
    for seed in range(5):
        new.append(_label_share_error(labels, group_folds(labels, groups, 10, seed=seed) == 0, 0.1))
        folder = StratifiedGroupKFold(10, shuffle=True, random_state=seed)
        _, old_held = next(folder.split(texts, labels, groups))
        old.append(_label_share_error(labels, np.isin(np.arange(len(labels)), old_held), 0.1))
    print(new, old)
    assert np.mean(new) <= np.mean(old) + 0.25  # rows of a label off its share, as good as before
    assert max(new) < 3.0  # within a group (the sample's largest hold 3 rows)


def test_small_catalog_with_fewer_rows_per_label_than_folds_splits():
    def word(number: int) -> str:
        return "zq" + "".join("bcdfghjklmnpqrstvwxz"[int(digit)] for digit in str(number))

    texts = [f"gadget {word(label)} {word(100 + row)}" for label in range(30) for row in range(9)]
    labels = [f"category {label}" for label in range(30) for _ in range(9)]
    split = split_catalog(texts, labels, seed=0)
    assert len(split.train) + len(split.validation) + len(split.test) == 270
    assert 15 <= len(split.test) <= 40 and 15 <= len(split.validation) <= 40
    assert {labels[i] for i in split.train} == set(labels)


def test_product_groups_join_duplicates_and_variants(duplicated_rows):
    texts, _ = duplicated_rows
    groups = product_groups(texts)
    assert groups.shape == (len(texts),)
    for original in range(REPEATED):
        copies = [i for i, t in enumerate(texts) if t.startswith(texts[original]) or t == texts[original].upper()]
        assert len(copies) >= 4 and len({int(groups[i]) for i in copies}) == 1
