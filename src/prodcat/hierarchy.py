"""Category trees: labels that are paths (``"Electronics > Audio > Headphones"``).

The tree is learned from the training labels. Probabilities over full paths are summed up the tree,
so every node has a probability; decoding walks from the root to the most probable child at each
level, so a prediction is always a path that exists in the tree, and it can stop at the deepest
level that is confident enough.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prodcat.data.reading import PATH_SEPARATOR


def split_path(label: str) -> list[str]:
    return [part.strip() for part in label.split(PATH_SEPARATOR)]


def is_hierarchical(labels: Sequence[str]) -> bool:
    """Whether any of ``labels`` contains `` > ``: the guess used only where nothing says whether labels
    are paths (``Categorizer.fit`` without ``label_paths``, a model saved without it). Catalogs read
    from files say it: paths come from ``--path-sep`` or several label columns, never from the text."""
    return any(PATH_SEPARATOR in label for label in labels)


class Tree:
    """The tree spanned by full-path ``labels`` (the columns of ``predict_proba``).

    ``prefixes[d]`` lists the distinct paths of depth ``d + 1``; ``membership[d]`` maps each label
    column to its ancestor at that depth (-1 where the label is shallower).
    """

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        parts = [split_path(label) for label in self.labels]
        self.depth = max(len(p) for p in parts)
        self.prefixes: list[list[str]] = []
        self.membership: list[np.ndarray] = []
        for d in range(self.depth):
            names = sorted({PATH_SEPARATOR.join(p[: d + 1]) for p in parts if len(p) > d})
            index = {name: i for i, name in enumerate(names)}
            self.prefixes.append(names)
            self.membership.append(
                np.array([index[PATH_SEPARATOR.join(p[: d + 1])] if len(p) > d else -1 for p in parts])
            )
        # For a node that is itself a label (a path that stops there), that label's column; else -1.
        column = {label: i for i, label in enumerate(self.labels)}
        self.own_label = [np.array([column.get(name, -1) for name in names]) for names in self.prefixes]

    def level_probabilities(self, probs: np.ndarray, depth: int) -> np.ndarray:
        """Probabilities of the nodes at ``depth`` (0 = top level): sums over their leaves."""
        members = self.membership[depth]
        out = np.zeros((probs.shape[0], len(self.prefixes[depth])))
        valid = members >= 0
        np.add.at(out.T, members[valid], probs[:, valid].T)
        return out

    def decode(self, probs: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
        """Top-down decoding: at each level the most probable child of the node chosen above.

        Returns, per row, the node names chosen at each level (a full path) and their probabilities,
        shape ``(rows, depth)`` (0 where a path ends early).
        """
        rows = probs.shape[0]
        allowed = np.ones_like(probs, dtype=bool)  # leaves still below the chosen node
        paths: list[list[str]] = [[] for _ in range(rows)]
        confidences = np.zeros((rows, self.depth))
        stop_mass = np.zeros(rows)  # probability that the path ends at the node chosen above
        for d in range(self.depth):
            members = self.membership[d]
            masked = np.where(allowed & (members >= 0), probs, 0.0)
            level = np.zeros((rows, len(self.prefixes[d])))
            valid = members >= 0
            np.add.at(level.T, members[valid], masked[:, valid].T)
            best = level.argmax(axis=1)
            has_child = level.max(axis=1) > stop_mass
            for r in np.flatnonzero(has_child):
                paths[r].append(self.prefixes[d][best[r]])
            confidences[has_child, d] = level[has_child, best[has_child]]
            allowed &= (members == best[:, None]) & has_child[:, None]
            own = self.own_label[d][best]
            own_mass = np.where(own >= 0, probs[np.arange(rows), np.maximum(own, 0)], 0.0)
            stop_mass = np.where(has_child, own_mass, np.inf)  # a path that ended stays ended
        return paths, confidences

    def describe(self, counts: dict[str, int] | None = None) -> dict:
        """Depth, nodes per level, mean branching and (with row ``counts`` per label) rare leaves."""
        branching = []
        for d in range(1, self.depth):
            parents = {PATH_SEPARATOR.join(split_path(p)[:d]) for p in self.prefixes[d]}
            branching.append(len(self.prefixes[d]) / max(1, len(parents)))
        info = {
            "depth": self.depth,
            "nodes_per_level": [len(p) for p in self.prefixes],
            "mean_branching_per_level": [round(b, 2) for b in branching],
        }
        if counts is not None:
            rare = sorted((n, label) for label, n in counts.items() if n < 10)
            info["leaves_with_fewer_than_10_rows"] = len(rare)
        return info
