"""Errors prodcat raises on purpose. Each one is a single line that says what went wrong and what to do.

Every class also subclasses the builtin error it resembles, so ``except ValueError`` keeps working.
"""


class ProdcatError(Exception):
    """Base class for every error prodcat raises for a user to read."""


class DataError(ProdcatError, ValueError):
    """A catalog file, column, row or label cannot be used."""


class ModelError(ProdcatError, ValueError):
    """A model directory is missing, incomplete, or of a kind this version cannot load."""


class NotFittedError(ProdcatError, AttributeError):
    """A categorizer was used before ``fit``."""


class DependencyError(ProdcatError, ImportError):
    """An optional dependency that this feature needs is not installed."""


class DownloadError(ProdcatError, OSError):
    """A dataset could not be downloaded or failed verification."""
