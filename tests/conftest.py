"""Shared fixtures: small real data from ../shared/data and tiny trained models (trained once per session)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NORMALIZED = SHARED / "ecommerce" / "ecommerce_normalized.csv"
SAMPLE = SHARED / "ecommerce" / "ecommerce_sample.csv"
MWPD_TRAIN = SHARED / "mwpd2020" / "train.jsonl"
BIGBASKET = SHARED / "bigbasket" / "bigbasket_products.csv"

TINY_LSTM = {"epochs": 5, "max_tokens": 5000, "sequence_length": 60, "embedding_dim": 32, "lstm_units": 16, "batch_size": 32, "learning_rate": 5e-3, "patience": 5}
TINY_LINEAR = {"char_ngrams": [2, 4], "max_features": 50_000}
TINY_NEIGHBORS = {"char_ngrams": [2, 4], "max_features": 50_000, "k": 5}
TINY_BAG = {"epochs": 6, "max_tokens": 20_000, "sequence_length": 80, "embedding_dim": 16, "learning_rate": 1e-2, "patience": 6}


def pytest_collection_modifyitems(items):
    if not NORMALIZED.exists():
        raise pytest.UsageError(f"the test data are missing: {NORMALIZED} (../shared must sit beside the repository)")


@pytest.fixture(scope="session")
def small_catalog_file(tmp_path_factory) -> Path:
    """1,200 rows of the normalized reference data, every category present, same headerless format."""
    import pandas as pd

    frame = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)
    small = frame.groupby(0).sample(300, random_state=0)
    path = tmp_path_factory.mktemp("data") / "small.csv"
    small.sample(frac=1.0, random_state=0).to_csv(path, header=False, index=False)
    return path


def _trained(tmp_path_factory, catalog: Path, family: str, params: dict, log_dir: bool = False) -> Path:
    from prodcat.training import train

    out = tmp_path_factory.mktemp("models") / family
    logs = tmp_path_factory.mktemp("logs") if log_dir else None
    train(catalog, out=out, family=family, params=params, log_dir=logs, verbose=0)
    return out


@pytest.fixture(scope="session")
def linear_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    return _trained(tmp_path_factory, small_catalog_file, "linear", TINY_LINEAR)


@pytest.fixture(scope="session")
def lstm_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    return _trained(tmp_path_factory, small_catalog_file, "lstm", TINY_LSTM, log_dir=True)


@pytest.fixture(scope="session")
def bag_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    return _trained(tmp_path_factory, small_catalog_file, "bag", TINY_BAG)


@pytest.fixture(scope="session")
def neighbors_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    return _trained(tmp_path_factory, small_catalog_file, "neighbors", TINY_NEIGHBORS)


@pytest.fixture(scope="session")
def ensemble_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    params = {"members": ["bag", "linear", "neighbors"],
              "member_params": {"bag": TINY_BAG, "linear": TINY_LINEAR, "neighbors": TINY_NEIGHBORS}}
    return _trained(tmp_path_factory, small_catalog_file, "ensemble", params)
