"""Model families. Each turns normalized texts into one score (a logit) per label and saves itself
into a directory of plain files: no pickle, nothing in the file that runs code when loaded."""

from prodcat.models.registry import FAMILIES, family_class

__all__ = ["FAMILIES", "family_class"]
