"""A saved LSTM (or bag) model predicts in NumPy, without TensorFlow: the same probabilities as its Keras network."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from conftest import ROOT, SAMPLE

from prodcat.categorizer import Categorizer
from prodcat.data.reading import read_catalog
from prodcat.data.text import normalize_text
from prodcat.errors import ModelError

EDGE_TEXTS = ["", "qqzx wordnoonesaw", "one", "cotton shirt\nslim fit navy",
              # not ASCII: NumPy takes the normalized words as they are, the network lowercases them again
              normalize_text("Crème BRÛLÉE İstanbul ΣΟΦΙΑ Straße ＬＥＤ ｌａｍｐ Ǆemal"),
              " ".join(["book novel"] * 150)]


def keras_probabilities(model_dir, texts: list[str]) -> np.ndarray:
    """The saved network, loaded by Keras in safe mode and run by TensorFlow."""
    from prodcat.models.keras_family import import_keras

    keras = import_keras()
    network = keras.models.load_model(model_dir / "model.keras", safe_mode=True, compile=False)
    return np.asarray(network(np.asarray(texts, dtype=object).reshape(-1, 1), training=False))


def texts_to_try() -> list[str]:
    return [normalize_text(t) for t in read_catalog(SAMPLE).texts] + EDGE_TEXTS


@pytest.fixture(scope="module")
def one_way_lstm_dir(small_catalog_file, tmp_path_factory):
    """A unidirectional LSTM (``--no-bidirectional``), tiny."""
    from prodcat.training import train

    out = tmp_path_factory.mktemp("one_way") / "lstm"
    params = {"epochs": 2, "max_tokens": 2000, "sequence_length": 30, "embedding_dim": 8, "lstm_units": 4, "bidirectional": False}
    train(small_catalog_file, out=out, family="lstm", params=params, refit=False, verbose=0)
    return out


@pytest.mark.parametrize("which", ["lstm_model_dir", "one_way_lstm_dir"])
def test_numpy_inference_matches_the_keras_network(which, request):
    model_dir = request.getfixturevalue(which)
    texts = texts_to_try()
    loaded = Categorizer.load(model_dir)
    ours = np.exp(loaded.model_.logits(texts))
    theirs = keras_probabilities(model_dir, texts)
    assert ours.shape == theirs.shape == (len(texts), len(loaded.labels))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)  # float32, summed in another order
    # Long texts are cut at the sequence length, as the vectorizer does: more words change nothing.
    longer = loaded.model_.logits([EDGE_TEXTS[-1] + " shirt" * 50])
    np.testing.assert_allclose(longer, loaded.model_.logits([EDGE_TEXTS[-1]]))


@pytest.mark.parametrize("which", ["lstm_model_dir", "bag_model_dir", "ensemble_model_dir"])
def test_predicting_with_a_saved_keras_model_needs_no_tensorflow(which, request):
    """In a process where TensorFlow cannot be imported, the model (an ensemble: with a bag member)
    loads and predicts as in this one."""
    model_dir = request.getfixturevalue(which)
    texts = ["Men's cotton polo t-shirt, slim fit", "The complete guide to gardening, paperback", ""] * 12  # a batch, too
    expected = Categorizer.load(model_dir).predict_proba(texts).round(5).tolist()
    script = (
        "import json, sys\n"
        "sys.modules['tensorflow'] = sys.modules['keras'] = None  # any import of them fails\n"
        "from prodcat.categorizer import Categorizer\n"
        f"model = Categorizer.load({str(model_dir)!r})\n"
        f"print(json.dumps(model.predict_proba({texts!r}).round(5).tolist()))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert np.allclose(json.loads(result.stdout), expected, atol=1e-5)


@pytest.mark.parametrize("which", ["lstm_model_dir", "bag_model_dir"])
def test_a_loaded_keras_model_saves_the_file_it_was_loaded_from(which, request, tmp_path):
    model_dir = request.getfixturevalue(which)
    loaded = Categorizer.load(model_dir)
    copy = loaded.save(tmp_path / "copy")
    assert (copy / "model.keras").read_bytes() == (model_dir / "model.keras").read_bytes()
    texts = texts_to_try()[:40]
    np.testing.assert_array_equal(Categorizer.load(copy).predict_proba(texts), loaded.predict_proba(texts))


@pytest.mark.parametrize("damage, fragment", [
    ("no weights", "damaged"),
    ("weights of another size", "do not fit together"),
    ("another network", "not prodcat's LSTM"),
    ("no vectorizer layer", "has no layer 'vectorize'"),
])
def test_a_damaged_lstm_file_is_refused_in_one_line(damage, fragment, lstm_model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(lstm_model_dir, model)
    with zipfile.ZipFile(lstm_model_dir / "model.keras") as source:
        members = {name: source.read(name) for name in source.namelist()}
    vocabulary = next(n for n in members if n.endswith("/text_vectorization/vocabulary.txt") and "_lookup_layer" not in n)
    if damage == "no weights":
        del members["model.weights.h5"]
    elif damage == "weights of another size":
        members[vocabulary] += b"\nextra"
    else:
        config = json.loads(members["config.json"])
        for layer in config["config"]["layers"]:
            if layer["name"] == "probabilities":
                layer["config"]["activation"] = "sigmoid"
        if damage == "no vectorizer layer":
            config["config"]["layers"] = [layer for layer in config["config"]["layers"] if layer["name"] != "vectorize"]
        members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(model / "model.keras", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelError) as error:
        Categorizer.load(model)
    message = str(error.value)
    assert "\n" not in message and str(model / "model.keras") in message and fragment in message
