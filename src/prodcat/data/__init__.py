"""Reading catalogs, normalizing text and splitting without leakage."""

from importlib import import_module

_PUBLIC = {
    "Catalog": "prodcat.data.reading",
    "iter_catalog_chunks": "prodcat.data.reading",
    "read_catalog": "prodcat.data.reading",
    "Split": "prodcat.data.split",
    "split_catalog": "prodcat.data.split",
}

__all__ = ["Catalog", "Split", "iter_catalog_chunks", "read_catalog", "split_catalog"]


def __getattr__(name):  # imports stay lazy: normalizing text for a prediction needs neither module
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'prodcat.data' has no attribute {name!r}")
