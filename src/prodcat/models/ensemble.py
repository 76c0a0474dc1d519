"""An ensemble of model families: a weighted mean of their calibrated log-probabilities.

Each member is calibrated on the validation split first (its own temperature), then the member
weights are chosen on the same validation rows. Members are saved in sub-directories, each in its
family's own plain files.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from prodcat.calibration import fit_temperature, log_softmax
from prodcat.models.base import FitData, ModelFamily

_WEIGHT_STEPS = 11


class EnsembleModel(ModelFamily):
    """Members are family names (``members``) with their settings (``member_params``)."""

    name = "ensemble"

    def __init__(
        self,
        *,
        members: tuple[str, ...] = ("bag", "linear", "neighbors"),
        member_params: dict | None = None,
        weights: list[float] | None = None,
        temperatures: list[float] | None = None,
    ):
        self.params = {
            "members": list(members),
            "member_params": dict(member_params or {}),
            "weights": weights,
            "temperatures": temperatures,
        }

    def _members(self):
        from prodcat.models.registry import family_class

        names = self.params["members"]
        if len(set(names)) < len(names):
            raise ValueError(f"an ensemble has at most one member of each family; got {', '.join(names)}")
        for name in names:
            if name == self.name:
                raise ValueError("an ensemble cannot contain an ensemble")
            yield name, family_class(name)

    def fit(self, data: FitData) -> "EnsembleModel":
        members = [cls(**self.params["member_params"].get(name, {})).fit(data) for name, cls in self._members()]
        return self._combine(members, data.validation_texts, data.validation_y)

    @classmethod
    def of(cls, members: list[ModelFamily], validation_texts: list[str] | None, validation_y: np.ndarray | None) -> "EnsembleModel":
        """An ensemble of members that are already fitted (on the same labels), weighted on the validation rows."""
        model = cls(members=tuple(m.name for m in members))
        list(model._members())  # refuses an ensemble inside an ensemble
        return model._combine(members, validation_texts, validation_y)

    def _combine(self, members: list[ModelFamily], validation_texts: list[str] | None, validation_y: np.ndarray | None) -> "EnsembleModel":
        self.members_ = members
        self.params["member_params"] = {m.name: m.get_params() for m in members}
        self.history = next((m.history for m in members if m.history), None)
        if validation_texts:
            member_logits = [m.logits(validation_texts) for m in members]
            temperatures = [fit_temperature(logits, validation_y) for logits in member_logits]
            weights = _best_weights([log_softmax(l / t, axis=1) for l, t in zip(member_logits, temperatures)], validation_y)
        else:
            temperatures, weights = [1.0] * len(members), [1.0 / len(members)] * len(members)
        self.params["temperatures"], self.params["weights"] = temperatures, weights
        return self

    def logits(self, texts: list[str]) -> np.ndarray:
        total = 0.0
        for member, weight, temperature in zip(self.members_, self.params["weights"], self.params["temperatures"]):
            if weight > 0:
                total = total + weight * log_softmax(member.logits(texts) / temperature, axis=1)
        return np.asarray(total)

    def save(self, directory: Path) -> None:
        for member in self.members_:
            (directory / member.name).mkdir()
            member.save(directory / member.name)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "EnsembleModel":
        model = cls(**params)
        model.members_ = [
            family.load(directory / name, model.params["member_params"].get(name, {})) for name, family in model._members()
        ]
        return model


def _best_weights(member_log_probs: list[np.ndarray], y: np.ndarray) -> list[float]:
    """The convex weights (on a grid) with the lowest validation log-loss of the mixture."""
    rows = np.arange(len(y))
    grid = np.linspace(0.0, 1.0, _WEIGHT_STEPS)
    best, best_loss = None, np.inf
    for weights in itertools.product(grid, repeat=len(member_log_probs)):
        if not np.isclose(sum(weights), 1.0):
            continue
        mixed = log_softmax(sum(w * lp for w, lp in zip(weights, member_log_probs)), axis=1)
        loss = -mixed[rows, y].mean()
        if loss < best_loss:
            best, best_loss = [float(w) for w in weights], loss
    return best or [1.0 / len(member_log_probs)] * len(member_log_probs)
