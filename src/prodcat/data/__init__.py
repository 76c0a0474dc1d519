"""Reading catalogs, normalizing text and splitting without leakage."""

from prodcat.data.reading import Catalog, iter_catalog_chunks, read_catalog
from prodcat.data.split import Split, split_catalog

__all__ = ["Catalog", "Split", "iter_catalog_chunks", "read_catalog", "split_catalog"]
