"""What a catalog holds before anything is trained on it: labels, gaps, duplicates, text lengths and,
for category paths, the shape of the tree.

``inspect_catalog`` returns plain JSON-ready data, so the CLI, a notebook and tests share it.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from prodcat.data.reading import PATH_SEPARATOR, Catalog
from prodcat.data.text import duplicate_key, near_duplicate_key

EXAMPLES = 5
RARE_LEAF_ROWS = 10


def inspect_catalog(catalog: Catalog, *, examples: int = EXAMPLES, rare_leaf_rows: int = RARE_LEAF_ROWS) -> dict:
    """A report on ``catalog``: its size, labels, empty cells, duplicates, text lengths and label tree.

    Row numbers are the catalog's own (1-based data rows of the file). ``examples`` caps every list of
    examples; leaves of a category tree with fewer than ``rare_leaf_rows`` rows are reported as rare.
    Duplicates are judged on non-empty texts only (``duplicate_key``: same words up to case and
    punctuation; ``near_duplicate_key``: same product in another size, colour or pack).
    """
    texts, labels, rows = catalog.texts, catalog.labels, catalog.row_numbers
    label_counts = Counter(label for label in labels or [] if label)
    report = {
        "source": catalog.source,
        "rows": len(texts),
        "text_columns": list(catalog.text_columns),
        "label_columns": list(catalog.label_columns),
        "labels": None if labels is None else dict(label_counts.most_common()),
        "empty_texts": _empty(texts, rows, examples),
        "empty_labels": None if labels is None else _empty(labels, rows, examples),
        "exact_duplicates": exact_duplicates(texts, labels, rows, examples=examples),
        "near_duplicates": near_duplicates(texts, labels, examples=examples),
        "text_length": {
            "characters": _stats([len(text) for text in texts]),
            "words": _stats([len(text.split()) for text in texts]),
        },
        "hierarchy": None,
    }
    if catalog.label_paths:  # paths come from --path-sep or several label columns, never from a label's text
        report["hierarchy"] = category_tree(label_counts, examples=examples, rare_leaf_rows=rare_leaf_rows)
    return report


def _empty(values: list[str], rows: list[int], examples: int) -> dict:
    empty_rows = [row for row, value in zip(rows, values) if not value]
    return {"count": len(empty_rows), "rows": empty_rows[:examples]}


def exact_duplicates(texts: list[str], labels: list[str] | None, rows: list[int], *, examples: int = EXAMPLES) -> dict:
    """Rows whose text repeats an earlier row's text (up to case, punctuation and white space).

    ``rows`` counts the repeats (what de-duplication would remove), ``groups`` the texts that occur
    more than once, ``conflicting_groups`` those among them with more than one label (and
    ``conflicting_rows`` the rows of those groups).
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        if text:
            members[duplicate_key(text)].append(i)
    repeated = [positions for positions in members.values() if len(positions) > 1]
    conflicting = [p for p in repeated if labels is not None and len({labels[i] for i in p}) > 1]
    conflicting.sort(key=len, reverse=True)
    return {
        "rows": sum(len(p) - 1 for p in repeated),
        "groups": len(repeated),
        "conflicting_groups": len(conflicting),
        "conflicting_rows": sum(len(p) for p in conflicting),
        "conflicting_examples": [
            {
                "text": _short(texts[p[0]]),
                "rows": [rows[i] for i in p[:examples]],
                "labels": dict(Counter(labels[i] for i in p).most_common()),
            }
            for p in conflicting[:examples]
        ],
    }


def near_duplicates(texts: list[str], labels: list[str] | None, *, examples: int = EXAMPLES) -> dict:
    """Groups of different texts that are probably one product in another size, colour or pack.

    A group is a ``near_duplicate_key`` shared by at least two distinct exact-duplicate keys;
    ``rows`` counts the rows in groups, ``conflicting_groups`` the groups with more than one label.
    """
    variants: dict[str, dict[str, int]] = defaultdict(dict)  # near key → exact key → first position
    rows_per_near: Counter = Counter()
    labels_per_near: dict[str, set] = defaultdict(set)
    for i, text in enumerate(texts):
        near = near_duplicate_key(text) if text else ""
        if not near:
            continue
        variants[near].setdefault(duplicate_key(text), i)
        rows_per_near[near] += 1
        if labels is not None:
            labels_per_near[near].add(labels[i])
    groups = {near: exact for near, exact in variants.items() if len(exact) > 1}
    largest = sorted(groups, key=lambda near: (-len(groups[near]), near))[:examples]
    report = {
        "groups": len(groups),
        "rows": sum(rows_per_near[near] for near in groups),
        "largest": [
            {"key": near, "variants": len(groups[near]), "examples": [_short(texts[i]) for i in list(groups[near].values())[:3]]}
            for near in largest
        ],
    }
    if labels is not None:
        report["conflicting_groups"] = sum(len(labels_per_near[near]) > 1 for near in groups)
    return report


def category_tree(label_counts: dict[str, int], *, examples: int = EXAMPLES, rare_leaf_rows: int = RARE_LEAF_ROWS) -> dict:
    """The shape of a tree of category paths (``A > B > C``) weighted by rows per path.

    ``nodes_per_level`` counts distinct path prefixes at each depth; ``mean_branching`` is the mean
    number of children of a node that has children (the top level not counted as anyone's children);
    leaves are the paths no other path extends, with the rows labelled exactly so.
    """
    paths = {label: tuple(part.strip() for part in label.split(PATH_SEPARATOR)) for label in label_counts}
    depth = max(len(p) for p in paths.values())
    levels = [{p[: level + 1] for p in paths.values() if len(p) > level} for level in range(depth)]
    children: dict[tuple, set] = defaultdict(set)
    for level in levels[1:]:
        for node in level:
            children[node[:-1]].add(node)
    leaf_rows = _rows_per_leaf(paths, label_counts, children)
    rare = sorted((n, label) for label, n in leaf_rows.items() if n < rare_leaf_rows)
    return {
        "depth": depth,
        "min_depth": min(len(p) for p in paths.values()),
        "nodes_per_level": [len(level) for level in levels],
        "mean_branching": round(float(np.mean([len(c) for c in children.values()])), 2) if children else 0.0,
        "leaves": len(leaf_rows),
        "rare_leaves": {
            "threshold": rare_leaf_rows,
            "count": len(rare),
            "examples": {label: n for n, label in rare[:examples]},
        },
    }


def _rows_per_leaf(paths: dict[str, tuple], label_counts: dict[str, int], children: dict[tuple, set]) -> dict[str, int]:
    return {label: label_counts[label] for label, path in paths.items() if path not in children}


def _stats(values: list[int]) -> dict:
    if not values:
        return {"min": 0, "median": 0, "mean": 0.0, "p95": 0, "max": 0}
    array = np.asarray(values)
    return {
        "min": int(array.min()),
        "median": float(np.median(array)),
        "mean": round(float(array.mean()), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "max": int(array.max()),
    }


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
