"""The default model that ships inside the package: four e-commerce categories (Electronics,
Household, Books, Clothing & Accessories). See MODEL_CARD.md beside it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from prodcat.errors import ModelError

DEFAULT_MODEL = "ecommerce"
NOTICE = "using the bundled default model (Electronics, Household, Books, Clothing & Accessories); pass --model DIR for your own"


def default_model_path() -> Path:
    """Where the installed package keeps the default model directory."""
    path = Path(str(resources.files(__name__).joinpath(DEFAULT_MODEL)))
    if not (path / "prodcat.json").exists():
        raise ModelError(f"the bundled default model is missing from {path}; reinstall prodcat or pass --model DIR")
    return path
