"""Model families by name. Heavy families (the LSTM) are imported only when asked for."""

from __future__ import annotations

from importlib import import_module

from prodcat.errors import ModelError

FAMILIES = {
    "lstm": "prodcat.models.lstm:LSTMModel",
    "linear": "prodcat.models.linear:LinearModel",
    "bag": "prodcat.models.bag:BagModel",
    "neighbors": "prodcat.models.neighbors:NeighborsModel",
    "transformer": "prodcat.models.transformer:TransformerModel",
    "ensemble": "prodcat.models.ensemble:EnsembleModel",
    "hierarchical": "prodcat.models.hierarchical:HierarchicalModel",
    "streaming": "prodcat.models.streaming:StreamingModel",
}
DEFAULT_FAMILY = "lstm"


STREAMING_FAMILIES = ("streaming",)  # ``prodcat train`` feeds these the catalog in chunks, in bounded memory


def family_class(name: str):
    """The class of the family called ``name``."""
    if name not in FAMILIES:
        raise ModelError(f"unknown model family {name!r}; use one of {', '.join(FAMILIES)}")
    module, _, attribute = FAMILIES[name].partition(":")
    return getattr(import_module(module), attribute)
