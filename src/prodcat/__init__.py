"""prodcat: learn a shop's product categories from a labelled catalog and categorize new products.

    >>> import prodcat
    >>> result = prodcat.train("catalog.csv", out="models/shop")       # doctest: +SKIP
    >>> categorizer = prodcat.load("models/shop")                        # doctest: +SKIP
    >>> categorizer.predict(["Sony WH-1000XM4 wireless headphones"])     # doctest: +SKIP
    ['Electronics']
"""

from importlib import import_module

__version__ = "0.1.0"

_PUBLIC = {
    "Categorizer": "prodcat.categorizer",
    "Prediction": "prodcat.categorizer",
    "train": "prodcat.training",
    "evaluate": "prodcat.evaluation",
    "read_catalog": "prodcat.data.reading",
    "split_catalog": "prodcat.data.split",
    "ProdcatError": "prodcat.errors",
    "DataError": "prodcat.errors",
    "ModelError": "prodcat.errors",
}

__all__ = [*_PUBLIC, "load", "__version__"]


def load(path=None):
    """Load the model directory at ``path``; without one, the bundled default model (four e-commerce categories)."""
    from prodcat.categorizer import Categorizer

    return Categorizer.load(path)


def __getattr__(name):  # imports stay lazy so that ``prodcat --help`` is instant
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'prodcat' has no attribute {name!r}")
