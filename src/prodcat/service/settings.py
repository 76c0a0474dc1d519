"""The service's settings: which model to serve and the request limits.

``prodcat serve`` builds them from its options; with several workers uvicorn imports the app itself,
so the same settings travel through ``PRODCAT_*`` environment variables (``Settings.from_env``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

from prodcat.errors import ProdcatError

ENV_PREFIX = "PRODCAT_"
DEFAULT_MAX_ITEMS = 256
DEFAULT_MAX_TEXT_CHARS = 20_000
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """``model`` is a directory made by ``prodcat train``; the limits bound one request."""

    model: Path
    max_items: int = DEFAULT_MAX_ITEMS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        for name in ("max_items", "max_text_chars", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProdcatError(f"the service setting {name} must be a positive whole number; got {value!r}")

    def to_env(self) -> dict[str, str]:
        """These settings as ``PRODCAT_*`` environment variables, for worker processes."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Settings from ``PRODCAT_MODEL``, ``PRODCAT_MAX_ITEMS``, ``PRODCAT_MAX_TEXT_CHARS``, ``PRODCAT_MAX_BODY_BYTES``."""
        environ = os.environ if environ is None else environ
        model = environ.get(ENV_PREFIX + "MODEL")
        if not model:
            raise ProdcatError(f"{ENV_PREFIX}MODEL is not set; set it to a model directory made by 'prodcat train'")
        limits = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if f.name == "model" or raw is None:
                continue
            try:
                limits[f.name] = int(raw)
            except ValueError:
                raise ProdcatError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a whole number") from None
        return cls(model=Path(model), **limits)


@lru_cache(maxsize=1)
def settings_from_env() -> Settings:
    """The process's settings from its environment, read once."""
    return Settings.from_env()
