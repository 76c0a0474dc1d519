"""The bag and LSTM families size their sequences to the training texts, so short titles carry little
padding, and the bag's own inference (a saved model: NumPy; a model trained in this process: NumPy for
a few texts, one folded TensorFlow graph for batches) gives the same probabilities as the Keras
network it was trained as."""

from __future__ import annotations

import json

import numpy as np

import prodcat
from prodcat.categorizer import Categorizer
from prodcat.data.text import normalize_text
from prodcat.models.bag import MAX_SEQUENCE_LENGTH

from conftest import BIGBASKET, SAMPLE

SMALL_BAG = {"epochs": 2, "max_tokens": 5_000, "embedding_dim": 8}


def keras_probabilities(model, texts: list[str]) -> np.ndarray:
    """The Keras network's own output (standardization included) on normalized ``texts``: the one
    trained in this process, or for a loaded model its file, loaded by Keras in safe mode."""
    import tensorflow as tf

    from prodcat.models.keras_family import import_keras

    network = model.model_
    if network is None:
        network = import_keras().models.load_model(model.source_, safe_mode=True, compile=False)
    return network(tf.constant(np.asarray(model._cut(texts), dtype=object).reshape(-1, 1)), training=False).numpy()


def assert_both_paths_match_keras(model, texts: list[str]) -> None:
    """The NumPy path (calls of fewer than ``NUMPY_BELOW_ROWS`` texts, or any call of a loaded model) and
    the graph (bigger calls of a model trained in this process) give the Keras network's probabilities;
    their logits may differ from its log output by a constant per row."""
    from prodcat.calibration import probabilities
    from prodcat.models.bag import NUMPY_BELOW_ROWS

    expected = keras_probabilities(model, texts)
    assert len(texts) >= NUMPY_BELOW_ROWS
    np.testing.assert_allclose(probabilities(model.logits(texts)), expected, atol=1e-5)
    for start in range(0, len(texts), NUMPY_BELOW_ROWS - 1):
        chunk = texts[start : start + NUMPY_BELOW_ROWS - 1]
        np.testing.assert_allclose(probabilities(model.logits(chunk)), expected[start : start + len(chunk)], atol=1e-5)


def test_sequence_length_is_the_longest_training_title_and_is_saved(tmp_path):
    catalog = prodcat.read_catalog(BIGBASKET, text_cols="product", label_cols="category")
    texts, labels = catalog.texts[:400], catalog.labels[:400]
    categorizer = Categorizer("bag", params=SMALL_BAG, seed=42).fit(texts, labels, verbose=0)
    words = max(len(normalize_text(t).split()) for t in texts) + 1  # and the start token
    expected = min(2 * words - 1, MAX_SEQUENCE_LENGTH)  # words and word bigrams
    assert categorizer.model_.params["sequence_length"] == expected < 100
    path = categorizer.save(tmp_path / "bag")
    assert json.loads((path / "prodcat.json").read_text())["params"]["sequence_length"] == expected
    longer = " ".join(texts[:20])  # longer than any training text: cut, not refused
    np.testing.assert_allclose(Categorizer.load(path).predict_proba([longer, texts[0]]), categorizer.predict_proba([longer, texts[0]]), rtol=1e-5, atol=1e-6)


def test_a_saved_bag_predicts_in_numpy_as_its_keras_network(bag_model_dir):
    from prodcat.models.bag import NUMPY_BELOW_ROWS

    categorizer = Categorizer.load(bag_model_dir)
    sample = prodcat.read_catalog(SAMPLE)
    texts = [normalize_text(t) for t in sample.texts[: 2 * NUMPY_BELOW_ROWS]]
    texts += ["", "zzqx unknownword", normalize_text("\n".join(sample.texts[:30]))]  # empty, unknown words, too long
    # Not ASCII: both paths take the normalized words as they are, the network lowercases them again.
    texts += [normalize_text("Crème BRÛLÉE İstanbul ΣΟΦΙΑ Straße ＬＥＤ ｌａｍｐ Ǆemal"), normalize_text("LED lamp, Cotton SHIRT")]
    model = categorizer.model_
    assert model.model_ is None and model._graph is None  # read as data: no Keras network
    assert_both_paths_match_keras(model, texts)
    assert model._graph is None and model._numpy.kernel is None and model._numpy.rows.shape[1] == len(categorizer.labels)  # rows folded with the kernel


def test_inference_without_the_folded_rows_matches_the_keras_network():
    """With more labels than embedding dimensions both paths average whole embeddings, then apply
    the kernel."""
    catalog = prodcat.read_catalog(BIGBASKET, text_cols="product", label_cols="category")
    categorizer = Categorizer("bag", params=SMALL_BAG, seed=42).fit(catalog.texts[:400], catalog.labels[:400], verbose=0)
    model = categorizer.model_
    assert len(categorizer.labels) > SMALL_BAG["embedding_dim"]
    texts = [normalize_text(t) for t in catalog.texts[400:450]] + [""]
    assert_both_paths_match_keras(model, texts)
    assert model._numpy.kernel is not None  # the whole embeddings, then the kernel


def test_the_lstm_pads_only_to_the_longest_training_title(tmp_path):
    catalog = prodcat.read_catalog(BIGBASKET, text_cols="product", label_cols="category")
    texts, labels = catalog.texts[:300], catalog.labels[:300]
    tiny = {"epochs": 1, "max_tokens": 2_000, "embedding_dim": 8, "lstm_units": 4}
    categorizer = Categorizer("lstm", params=tiny, seed=42).fit(texts, labels, verbose=0)
    longest = max(len(normalize_text(t).split()) for t in texts)
    vectorize = categorizer.model_.model_.get_layer("vectorize")
    assert vectorize.get_config()["output_sequence_length"] == longest < 120
    assert categorizer.params["sequence_length"] == 120  # the setting stays the most tokens kept
    longer = " ".join(texts[:20])  # longer than any training text: cut, not refused
    loaded = Categorizer.load(categorizer.save(tmp_path / "lstm"))
    np.testing.assert_allclose(loaded.predict_proba([longer, texts[0]]), categorizer.predict_proba([longer, texts[0]]), rtol=1e-5, atol=1e-6)


def test_inference_of_single_words_and_word_triples_matches_the_keras_network():
    """Word pairs (the default) are looked up word by word; other n-gram lengths token by token."""
    catalog = prodcat.read_catalog(BIGBASKET, text_cols="product", label_cols="category")
    for ngrams in (1, 3):
        params = {**SMALL_BAG, "ngrams": ngrams}
        categorizer = Categorizer("bag", params=params, seed=42).fit(catalog.texts[:400], catalog.labels[:400], verbose=0)
        model = categorizer.model_
        texts = [normalize_text(t) for t in catalog.texts[400:440]] + ["", normalize_text(" ".join(catalog.texts[:40]))]  # empty, too long
        assert_both_paths_match_keras(model, texts)
        assert model._numpy.words is None


def test_word_entries_hold_each_word_id_and_pair_ids_with_one_string_per_word():
    from prodcat.models.bag import _words_and_pairs

    vocabulary = ["", "[UNK]", "red", "shirt", "red shirt", "cotton shirt", "shirt red"]
    words = _words_and_pairs(vocabulary)
    assert words["red"] == {"": 2, "shirt": 4}
    assert words["cotton"] == {"": 1, "shirt": 5}  # a pair's first word that is no token of its own: unknown
    assert words["shirt"] == {"": 3, "red": 6}
    key_of = {key: key for key in words}
    pair_keys = [second for entry in words.values() for second in entry if second]
    assert sorted(pair_keys) == ["red", "shirt", "shirt"]
    for second in pair_keys:
        assert second is key_of[second]  # the outer key's own object, not a copy
