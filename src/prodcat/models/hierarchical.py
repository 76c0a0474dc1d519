"""A model per level of a category tree, combined over the paths that exist in the tree.

Level ``d``'s model learns the level-``d`` ancestors of the training labels (an upper level has
more rows per class than the leaves below it). The score of a full path is the sum of its levels'
calibrated log-probabilities, so a rare leaf borrows strength from its parent: this is the
"model per level with parent masking" way of using the tree.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from prodcat import artifacts
from prodcat.calibration import fit_temperature, log_softmax
from prodcat.errors import ModelError
from prodcat.models.base import FitData, ModelFamily

_TREE = "tree.npz"


class HierarchicalModel(ModelFamily):
    """``base`` is the family of each level's model, ``base_params`` its settings."""

    name = "hierarchical"

    def __init__(self, *, base: str = "linear", base_params: dict | None = None, temperatures: list[float] | None = None):
        self.params = {"base": base, "base_params": dict(base_params or {}), "temperatures": temperatures}

    def _base(self):
        import inspect

        from prodcat.errors import DataError
        from prodcat.models.registry import family_class

        if self.params["base"] in (self.name, "ensemble"):
            raise DataError(f"--param base={self.params['base']}: a hierarchical model's levels need a single family, e.g. linear")
        base = family_class(self.params["base"])
        unknown = sorted(set(self.params["base_params"]) - set(inspect.signature(base).parameters))
        if unknown:
            raise DataError(f"base_params: {unknown[0]!r} is not a {self.params['base']} setting")
        return base

    def fit(self, data: FitData) -> "HierarchicalModel":
        from prodcat.hierarchy import Tree

        tree = Tree(data.label_names)
        self.membership_ = tree.membership
        self.levels_, temperatures = [], []
        for members, names in zip(self.membership_, tree.prefixes):
            level = self._level_data(data, members, names)
            if level.n_labels == 1:  # one node at this level: it is certain, nothing to learn
                self.levels_.append(None)
                temperatures.append(1.0)
                continue
            model = self._base()(**self.params["base_params"]).fit(level)
            self.levels_.append(model)
            has_val = level.validation_texts is not None and len(level.validation_texts) > 0
            temperatures.append(fit_temperature(model.logits(level.validation_texts), level.validation_y) if has_val else 1.0)
        self.params["temperatures"] = temperatures
        self.history = next((m.history for m in self.levels_ if m.history), None)
        return self

    @staticmethod
    def _level_data(data: FitData, members: np.ndarray, names: list[str]) -> FitData:
        y = members[data.y]
        rows = np.flatnonzero(y >= 0)
        n_labels = int(members.max()) + 1
        weights = None
        if data.class_weight is not None:
            present = np.unique(y[rows])
            values = compute_class_weight("balanced", classes=present, y=y[rows])
            weights = {int(c): float(w) for c, w in zip(present, values)}
        level = FitData(
            texts=[data.texts[i] for i in rows], y=y[rows], n_labels=n_labels, label_names=names, class_weight=weights,
            seed=data.seed, log_dir=None, verbose=data.verbose, extra=data.extra,
        )
        if data.validation_texts is not None:
            val_y = members[data.validation_y]
            keep = np.flatnonzero(val_y >= 0)
            level.validation_texts = [data.validation_texts[i] for i in keep]
            level.validation_y = val_y[keep]
        return level

    def logits(self, texts: list[str]) -> np.ndarray:
        total = np.zeros((len(texts), len(self.membership_[0])))
        for model, members, temperature in zip(self.levels_, self.membership_, self.params["temperatures"]):
            if model is None:
                continue
            level = log_softmax(model.logits(texts) / temperature, axis=1)
            valid = members >= 0
            total[:, valid] += level[:, members[valid]]
        return total

    def save(self, directory: Path) -> None:
        np.savez(directory / _TREE, **{f"level_{d}": m for d, m in enumerate(self.membership_)})
        for d, model in enumerate(self.levels_):
            if model is not None:
                (directory / f"level_{d}").mkdir()
                model.save(directory / f"level_{d}")

    @classmethod
    def load(cls, directory: Path, params: dict) -> "HierarchicalModel":
        model = cls(**params)
        with artifacts.open_model_file(directory, _TREE) as file, np.load(file, allow_pickle=False) as arrays:
            model.membership_ = [arrays[f"level_{d}"] for d in range(len(arrays.files))]
        base = model._base()
        model.levels_ = [
            base.load(artifacts.model_subdir(directory, f"level_{d}"), model.params["base_params"])
            if os.path.lexists(directory / f"level_{d}") else None
            for d in range(len(model.membership_))
        ]
        artifacts.check_family_numbers(directory, "temperatures", model.params["temperatures"], len(model.levels_))
        model._check_levels(directory)
        return model

    def _check_levels(self, directory: Path) -> None:
        """Refuse levels whose label counts do not match the tree's arrays."""
        leaves = len(self.membership_[0]) if self.membership_ else 0
        for d, (level, members) in enumerate(zip(self.levels_, self.membership_)):
            if members.shape != (leaves,) or members.dtype.kind not in "iu":
                raise ModelError(f"{directory / _TREE}: level_{d} does not map the {leaves} labels; retrain or restore the model")
            nodes = int(members.max()) + 1 if leaves else 0
            if level is None and nodes > 1:
                raise ModelError(f"{directory / f'level_{d}'}: is missing; retrain or restore the model")
            if level is not None and level.n_outputs != nodes:
                raise ModelError(f"{directory / f'level_{d}'}: scores {level.n_outputs} categories, the tree has {nodes} at that level; retrain or restore the model")

    @property
    def n_outputs(self) -> int:
        return len(self.membership_[0])
