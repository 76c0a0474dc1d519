"""The bag trains until its validation loss stops falling (``epochs=None``), not for a fixed count."""

from __future__ import annotations

import functools

import pandas as pd

from conftest import NORMALIZED, TINY_BAG
from prodcat import Categorizer
from prodcat.models import keras_family


@functools.cache
def reference_rows() -> pd.DataFrame:
    return pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)


def rows(n_per_label: int, offset: int = 0) -> tuple[list[str], list[str]]:
    chosen = reference_rows().groupby(0).nth(list(range(offset, offset + n_per_label)))
    return chosen[1].tolist(), chosen[0].tolist()


def test_without_a_cap_early_stopping_ends_training_and_without_validation_a_fixed_count_does(monkeypatch):
    monkeypatch.setattr(keras_family, "UNTIL_STOPPED_MAX_EPOCHS", 40)
    monkeypatch.setattr(keras_family, "WITHOUT_VALIDATION_EPOCHS", 3)
    params = {**TINY_BAG, "epochs": None, "patience": 1, "learning_rate": 5e-2}
    texts, labels = rows(60)
    stopped = Categorizer("bag", params=params).fit(texts, labels, validation=rows(20, offset=60), verbose=0)
    epochs = len(stopped.history_["loss"])
    # It stopped on its own: one epoch after the lowest validation loss, before the cap.
    assert 2 <= epochs < 40
    assert epochs == 1 + min(range(epochs), key=stopped.history_["val_loss"].__getitem__) + params["patience"]
    unvalidated = Categorizer("bag", params=params).fit(texts, labels, verbose=0)
    assert len(unvalidated.history_["loss"]) == 3
    capped = Categorizer("bag", params={**params, "epochs": 2}).fit(texts, labels, validation=rows(20, offset=60), verbose=0)
    assert len(capped.history_["loss"]) <= 2


def test_the_bag_defaults_leave_the_epochs_to_early_stopping():
    from prodcat.models.bag import BagModel

    assert BagModel().params["epochs"] is None
