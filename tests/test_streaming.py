"""The streaming family: hashed n-grams and SGD, trained from a file read in chunks, held out by hash."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from conftest import NORMALIZED
from prodcat import stream_training, training
from prodcat.categorizer import Categorizer
from prodcat.cli.app import main
from prodcat.data.text import duplicate_key
from prodcat.models.streaming import StreamingModel

SMALL = {"word_bits": 16, "char_bits": 16}


@pytest.fixture(scope="module")
def repeated_catalog(tmp_path_factory):
    """2,000 real rows, each written three times (in another case, or as a size variant), shuffled; with a header."""
    frame = pd.read_csv(NORMALIZED, header=None, names=["category", "text"], dtype=str, keep_default_na=False).sample(2000, random_state=3)
    copies = pd.concat([frame, frame.assign(text=frame["text"].str.upper()), frame.assign(text=frame["text"] + " size xl")])
    path = tmp_path_factory.mktemp("data") / "repeated.csv"
    copies.sample(frac=1.0, random_state=4).to_csv(path, index=False)
    return path


def test_copies_and_near_copies_fall_on_one_side():
    share = stream_training.held_out_share
    assert share("Sony WH-1000XM4 Headphones!", 42) == share("sony wh 1000xm4 headphones", 42)
    assert share("Cotton Kurta for Women, Red, Size XL", 42) == share("cotton kurta for women blue size M", 42)
    assert share("Cotton Kurta for Women", 42) != share("Cotton Kurta for Women", 43)  # the seed moves the split
    shares = [share(f"product number {word}", 42) for word in ("alpha", "beta", "gamma", "delta", "kappa", "omega")]
    assert len(set(shares)) == len(shares) and all(0 <= s < 1 for s in shares)


def test_train_reads_the_file_in_chunks_and_never_whole(repeated_catalog, tmp_path, monkeypatch):
    def whole_file(*args, **kwargs):
        raise AssertionError("the streaming family must not read the whole catalog into memory")

    monkeypatch.setattr(training, "read_catalog", whole_file)
    learned = []
    original = StreamingModel.learn
    monkeypatch.setattr(StreamingModel, "learn", lambda self, texts, y, w=None: (learned.append(len(texts)), original(self, texts, y, w)))
    monkeypatch.setattr(stream_training, "CHUNK_ROWS", 700)
    result = training.train(repeated_catalog, out=tmp_path / "model", family="streaming", params=SMALL, verbose=0)
    assert len(learned) >= 6 and max(learned) <= 700  # learned chunk by chunk
    split = result.split.describe()
    assert split["strategy"] == "hashed" and split["input_rows"] == 6000
    assert split["train_rows"] == sum(learned)
    assert split["held_out_exact_duplicates_removed"] > 0  # the upper-case copies were not scored twice
    assert result.metrics["rows"] == split["test_rows"] and result.metrics["accuracy"] > 0.75
    assert (tmp_path / "model" / "report" / "metrics.json").exists()


def test_no_test_product_was_learned(repeated_catalog, monkeypatch):
    seen = []
    original = StreamingModel.learn
    monkeypatch.setattr(StreamingModel, "learn", lambda self, texts, y, w=None: (seen.extend(texts), original(self, texts, y, w)))
    categorizer, metrics, split, _, _ = stream_training.fit_streaming(repeated_catalog, family="streaming", params=SMALL, chunk_rows=1000)
    frame = pd.read_csv(repeated_catalog, dtype=str, keep_default_na=False)
    shares = frame["text"].map(lambda t: stream_training.held_out_share(t, 42))
    held_out = frame[shares < 0.2]
    learned_keys = {duplicate_key(t) for t in seen}
    assert not learned_keys & {duplicate_key(t) for t in held_out["text"]}
    assert not learned_keys & {duplicate_key(t.removesuffix(" size xl")) for t in held_out["text"]}  # near-copies too
    distinct_test = frame[shares < 0.1].assign(key=lambda f: f["text"].map(duplicate_key)).drop_duplicates(["key", "category"])
    assert metrics["rows"] == len(distinct_test)


def test_saved_as_plain_arrays_and_reloaded_identically(repeated_catalog, tmp_path):
    result = training.train(repeated_catalog, out=tmp_path / "model", family="streaming", params=SMALL, verbose=0)
    arrays = tmp_path / "model" / "streaming.npz"
    with zipfile.ZipFile(arrays) as archive:
        assert sorted(archive.namelist()) == ["coef.npy", "intercept.npy"]
    manifest = json.loads((tmp_path / "model" / "prodcat.json").read_text())
    assert manifest["family"] == "streaming" and manifest["params"]["word_bits"] == 16
    texts = ["sony wireless headphones", "cotton kurta for women", "the complete works of shakespeare"]
    loaded = Categorizer.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(texts), result.categorizer.predict_proba(texts), rtol=1e-5)
    assert loaded.predict(texts) == ["Electronics", "Clothing & Accessories", "Books"]


def test_fits_from_memory_like_any_family(small_catalog_file):
    frame = pd.read_csv(small_catalog_file, header=None, dtype=str, keep_default_na=False)
    texts, labels = frame[1].tolist(), frame[0].tolist()
    categorizer = Categorizer("streaming", params=SMALL, class_weight="balanced").fit(texts[:1000], labels[:1000], validation=(texts[1000:], labels[1000:]))
    assert np.mean(np.array(categorizer.predict(texts[1000:])) == np.array(labels[1000:])) > 0.75


def test_random_split_is_refused_in_one_line(repeated_catalog, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(repeated_catalog), "--family", "streaming", "--split", "random", "--out", str(tmp_path / "m"), "-q"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "--split random is not available for --family streaming" in err
    assert len(err.strip().splitlines()) == 1
