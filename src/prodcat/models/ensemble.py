"""An ensemble of model families: a weighted mean of their calibrated log-probabilities.

Each member is calibrated on rows none of the members trained on (the validation split, or the
out-of-fold predictions of a refit) first, with its own temperature; then the member weights are
chosen on the same rows. Members are saved in sub-directories, each in its family's own plain files.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from prodcat import artifacts
from prodcat.calibration import fit_temperature, log_softmax
from prodcat.errors import ModelError
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
            self.weigh([m.logits(validation_texts) for m in members], validation_y)
        else:
            self.params["temperatures"], self.params["weights"] = [1.0] * len(members), [1.0 / len(members)] * len(members)
        return self

    def weigh(self, member_logits: list[np.ndarray], y: np.ndarray) -> "EnsembleModel":
        """Choose each member's temperature, then the member weights, on the members' logits of rows
        (label ids ``y``) that none of them trained on."""
        temperatures = [fit_temperature(logits, y) for logits in member_logits]
        weights = _best_weights([log_softmax(l / t, axis=1) for l, t in zip(member_logits, temperatures)], y)
        self.params["temperatures"], self.params["weights"] = temperatures, weights
        return self

    def mix(self, member_logits: list[np.ndarray | None]) -> np.ndarray:
        """The ensemble's logits from its members' logits (``None`` for a member of weight 0)."""
        total = 0.0
        for logits, weight, temperature in zip(member_logits, self.params["weights"], self.params["temperatures"]):
            if weight > 0:
                total = total + weight * log_softmax(logits / temperature, axis=1)
        return np.asarray(total)

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.mix([m.logits(texts) if w > 0 else None for m, w in zip(self.members_, self.params["weights"])])

    def save(self, directory: Path) -> None:
        for member in self.members_:
            (directory / member.name).mkdir()
            member.save(directory / member.name)

    @classmethod
    def load(cls, directory: Path, params: dict) -> "EnsembleModel":
        model = cls(**params)
        model.members_ = [
            family.load(artifacts.model_subdir(directory, name), model.params["member_params"].get(name, {}))
            for name, family in model._members()
        ]
        artifacts.check_family_numbers(directory, "temperatures", model.params["temperatures"], len(model.members_))
        artifacts.check_family_numbers(directory, "weights", model.params["weights"], len(model.members_), positive=False)
        outputs = {m.name: m.n_outputs for m in model.members_}
        if len(set(outputs.values())) > 1:
            raise ModelError(f"{directory}: the members score different numbers of labels ({outputs}); retrain or restore the model")
        return model

    @property
    def n_outputs(self) -> int:
        return self.members_[0].n_outputs


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
