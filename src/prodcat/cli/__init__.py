"""The ``prodcat`` command: thin wrappers over importable functions."""

from prodcat.cli.app import app, main

__all__ = ["app", "main"]
