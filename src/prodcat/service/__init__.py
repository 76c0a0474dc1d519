"""The HTTP service: ``create_app(settings)`` builds the FastAPI app that ``prodcat serve`` runs.

Imports stay lazy so that ``prodcat --help`` does not load FastAPI.
"""

from importlib import import_module

_PUBLIC = {
    "create_app": "prodcat.service.app",
    "app_from_env": "prodcat.service.app",
    "Settings": "prodcat.service.settings",
}

__all__ = list(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'prodcat.service' has no attribute {name!r}")
