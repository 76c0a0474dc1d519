"""The contract every model family fulfils. ``Categorizer`` wraps a family; users never see one directly."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class FitData:
    """What a family trains on: normalized texts, label ids in ``range(n_labels)``, optional validation."""

    texts: list[str]
    y: np.ndarray
    n_labels: int
    label_names: list[str] = field(default_factory=list)
    validation_texts: list[str] | None = None
    validation_y: np.ndarray | None = None
    class_weight: dict[int, float] | None = None
    seed: int = 42
    log_dir: str | None = None
    verbose: int = 1
    extra: dict = field(default_factory=dict)


class ModelFamily(ABC):
    """A family's settings are keyword arguments of ``__init__``; what it learns is set by ``fit``."""

    name: str = ""

    @abstractmethod
    def fit(self, data: FitData) -> "ModelFamily":
        """Learn from ``data``; return self."""

    @abstractmethod
    def logits(self, texts: list[str]) -> np.ndarray:
        """Unnormalized log-probabilities, shape ``(len(texts), n_labels)``."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the learned state into ``directory`` (which exists and is empty of this family's files)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, params: dict) -> "ModelFamily":
        """Rebuild from ``save``'s files and the settings stored in the manifest."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """How many labels the learned arrays score: the width of ``logits``."""

    def get_params(self) -> dict:
        """The settings given to ``__init__``, JSON-serializable."""
        return dict(self.params)

    history: dict | None = None
