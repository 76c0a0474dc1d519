"""``prodcat serve``: the HTTP service."""

from __future__ import annotations


def serve_command() -> None:
    """Serve a model over HTTP (not built yet)."""
    from prodcat.errors import ProdcatError

    raise ProdcatError("prodcat serve is not available in this version")
