"""The fine-tuned transformer family, on the tiny random BERT of conftest (no download)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from prodcat import Categorizer
from prodcat.data.text import normalize_text
from prodcat.errors import ModelError

from conftest import TINY_LINEAR, bert_reference_means

TINY_TRANSFORMER = {"max_tokens": 48, "epochs": 8, "batch_size": 16, "learning_rate": 3e-3, "dropout": 0.0}


@pytest.fixture(scope="module")
def catalog(small_catalog_file):
    frame = pd.read_csv(small_catalog_file, header=None, dtype=str, keep_default_na=False)
    return frame[1].tolist(), frame[0].tolist()


@pytest.fixture(scope="module")
def trained(catalog, tiny_encoder_dir, tmp_path_factory):
    """A transformer fine-tuned from a copy of the tiny encoder, and that copy's folder."""
    texts, labels = catalog
    encoder = tmp_path_factory.mktemp("encoder") / "tiny"
    shutil.copytree(tiny_encoder_dir, encoder)
    model = Categorizer("transformer", params={**TINY_TRANSFORMER, "encoder": str(encoder)})
    model.fit(texts[:800], labels[:800], validation=(texts[800:1000], labels[800:1000]), verbose=0)
    return model, encoder


def test_fine_tuning_learns_the_categories(trained, catalog):
    model, _ = trained
    texts, labels = catalog
    history = model.history_
    assert len(history["loss"]) == TINY_TRANSFORMER["epochs"] and history["loss"][-1] < history["loss"][0]
    accuracy = np.mean(np.array(model.predict(texts[1000:1200])) == np.array(labels[1000:1200]))
    assert accuracy > 0.45, accuracy  # four balanced categories: chance is 0.25


def test_every_weight_but_the_word_embeddings_is_trained(trained, tiny_encoder_dir, tmp_path):
    model, _ = trained
    model.save(tmp_path / "model")
    before, after = load_file(str(tiny_encoder_dir / "model.safetensors")), load_file(str(tmp_path / "model" / "model.safetensors"))
    assert set(after) == {name for name in before if not name.endswith("position_ids")}
    for name, array in after.items():
        assert array.shape == before[name].shape, name
        if name == "embeddings.word_embeddings.weight":
            np.testing.assert_array_equal(array, before[name])
        elif name == "embeddings.token_type_embeddings.weight":  # only its first row is used
            assert not np.allclose(array[0], before[name][0])
            np.testing.assert_array_equal(array[1:], before[name][1:])
        else:
            assert not np.allclose(array, before[name]), name


def test_saved_model_is_self_contained_and_is_bert_plus_a_softmax_layer(trained, catalog, tmp_path):
    model, encoder = trained
    texts = catalog[0][1000:1040] + ["", "usb"]
    model.save(tmp_path / "model")
    saved = tmp_path / "model"
    assert {"config.json", "tokenizer.json", "model.safetensors", "head.safetensors"} <= {p.name for p in saved.iterdir()}
    shutil.rmtree(encoder)  # the model must not need the encoder it was trained from
    loaded = Categorizer.load(saved)
    probabilities = loaded.predict_proba(texts)
    np.testing.assert_allclose(probabilities, model.predict_proba(texts), atol=1e-5)
    # The same probabilities from the saved files by the NumPy BERT of conftest, text by text (normalized, as the categorizer does).
    head = load_file(str(saved / "head.safetensors"))
    logits = bert_reference_means(saved, [normalize_text(t) for t in texts], TINY_TRANSFORMER["max_tokens"]) @ head["kernel"] + head["bias"]
    scaled = logits / loaded.temperature_
    expected = np.exp(scaled - scaled.max(1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(1, keepdims=True), atol=1e-4)
    np.testing.assert_allclose(np.vstack([loaded.predict_proba(t) for t in texts[:5]]), probabilities[:5], atol=1e-5)


def test_ensemble_with_a_transformer_member(trained, catalog, tmp_path):
    model, encoder = trained
    texts, labels = catalog
    linear = Categorizer("linear", params=TINY_LINEAR).fit(texts[:800], labels[:800], verbose=0)
    ensemble = Categorizer.combine([linear, model], (texts[800:1000], labels[800:1000]))
    assert ensemble.params["members"] == ["linear", "transformer"]
    ensemble.save(tmp_path / "ensemble")
    loaded = Categorizer.load(tmp_path / "ensemble")
    np.testing.assert_allclose(loaded.predict_proba(texts[1000:1030]), ensemble.predict_proba(texts[1000:1030]), atol=1e-5)


def test_cli_trains_a_transformer_and_says_when_the_encoder_is_missing(small_catalog_file, tiny_encoder_dir, tmp_path, monkeypatch):
    def prodcat(*args):
        return subprocess.run([sys.executable, "-m", "prodcat", *map(str, args)], capture_output=True, text=True, timeout=600)

    out = tmp_path / "model"
    trained = prodcat("train", small_catalog_file, "--out", out, "--family", "transformer", "--class-weight", "balanced",
                      "--param", f"encoder={tiny_encoder_dir}", "--param", "epochs=1", "--param", "max_tokens=8",
                      "--no-refit")  # the refit path is the same for every Keras family: test_cli_train.py
    assert trained.returncode == 0, trained.stderr
    assert json.loads((out / "prodcat.json").read_text())["family"] == "transformer"
    predicted = prodcat("predict", "--model", out, "Men's cotton polo t-shirt, slim fit, navy blue")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.split("\t")[0] in {"Books", "Clothing & Accessories", "Electronics", "Household"}

    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path / "empty_cache"))
    with pytest.raises(ModelError, match="prodcat fetch-encoder all-MiniLM-L6-v2"):
        Categorizer("transformer").fit(["a b", "c d"], ["x", "y"], verbose=0)
