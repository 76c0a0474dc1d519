"""What routes depend on: the settings and the served model (both overridable in tests)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from prodcat import __version__
from prodcat.categorizer import Categorizer, Prediction
from prodcat.explanation import Explanation
from prodcat.service.batching import MicroBatcher
from prodcat.service.settings import Settings

WARM_UP_TEXT = "prodcat warm up"


@dataclass
class ServedModel:
    """A loaded ``Categorizer`` plus what the service says about it.

    Every model call goes through one ``MicroBatcher`` thread: requests that arrive together share a
    call, and no model family (Keras included) is ever called from two threads at once.
    """

    categorizer: Categorizer
    created: str | None = None
    batcher: MicroBatcher = field(init=False)

    def __post_init__(self) -> None:
        self._model_lock = threading.Lock()  # the batcher's calls and explain's never run at once
        self.batcher = MicroBatcher(self._categorize_now)

    def _categorize_now(self, texts: list[str], top_k: int) -> list[Prediction]:
        with self._model_lock:
            return self.categorizer.categorize(texts, top_k=top_k)

    def explain(self, text: str, top: int) -> Explanation:
        """Why ``text`` gets its category (several model calls, outside the micro-batches)."""
        with self._model_lock:
            return self.categorizer.explain(text, top=top)

    @classmethod
    def load(cls, settings: Settings) -> "ServedModel":
        categorizer = Categorizer.load(settings.model)
        served = cls(categorizer, categorizer.created_)
        served.categorize([WARM_UP_TEXT], top_k=1)  # the first call builds lazy state; keep it off the clock
        return served

    def categorize(self, texts: Sequence[str], top_k: int) -> list[Prediction]:
        """Predictions for ``texts``, possibly computed in one model call with other requests' texts."""
        return self.batcher.categorize(texts, top_k)

    def close(self) -> None:
        self.batcher.close()

    def info(self) -> dict:
        return {
            "name": self.categorizer.metadata.get("name"),
            "family": self.categorizer.family,
            "created": self.created,
            "prodcat_version": __version__,
        }

    def describe(self) -> dict:
        description = {key: value for key, value in self.categorizer.describe().items() if key != "path"}
        return {**description, "created": self.created}


async def get_settings(request: Request) -> Settings:
    """The settings the app was made with."""
    return request.app.state.settings


async def get_served_model(request: Request) -> ServedModel:
    """The loaded model; 503 while it is still loading."""
    served = getattr(request.app.state, "served", None)
    if served is None:
        raise HTTPException(status_code=503, detail="the model is not loaded yet; retry when /readyz answers 200")
    return served
