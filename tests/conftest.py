"""Shared fixtures: small real data from ../shared/data and tiny trained models (trained once per session)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
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
    # The longest tests first: with two workers (pytest-xdist, scripts/test.sh) the others run beside them
    # instead of after them.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def small_catalog_file(tmp_path_factory) -> Path:
    """1,200 rows of the normalized reference data, every category present, same headerless format."""
    import pandas as pd

    frame = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)
    small = frame.groupby(0).sample(300, random_state=0)
    path = tmp_path_factory.mktemp("data") / "small.csv"
    small.sample(frac=1.0, random_state=0).to_csv(path, header=False, index=False)
    return path


def _trained(tmp_path_factory, catalog: Path, family: str, params: dict, log_dir: bool = False, refit: bool = True) -> Path:
    from prodcat.training import train

    out = tmp_path_factory.mktemp("models") / family
    logs = tmp_path_factory.mktemp("logs") if log_dir else None
    train(catalog, out=out, family=family, params=params, log_dir=logs, refit=refit, verbose=0)
    return out


@pytest.fixture(scope="session")
def linear_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    return _trained(tmp_path_factory, small_catalog_file, "linear", TINY_LINEAR)


@pytest.fixture(scope="session")
def lstm_model_dir(small_catalog_file, tmp_path_factory) -> Path:
    # Not refit: the refit of Keras families is tested through the CLI (test_cli_train.py); here the four
    # extra trainings would only slow the tests that use this model.
    return _trained(tmp_path_factory, small_catalog_file, "lstm", TINY_LSTM, log_dir=True, refit=False)


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
    return _trained(tmp_path_factory, small_catalog_file, "ensemble", params, refit=False)  # refit: test_refit.py


HIDDEN, LAYERS, HEADS, INTERMEDIATE = 16, 2, 4, 24
WORDS = ("men cotton shirt slim fit navy blue book novel story paperback author laptop usb charger cable phone "
         "kitchen steel pan bottle water cover case black white set pack").split()


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A random BERT in Hugging Face's layout: WordPiece vocabulary of the words above and their pieces."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    directory = tmp_path_factory.mktemp("tiny_encoder")
    pieces = sorted({w for w in WORDS} | {"##" + w[i:] for w in WORDS for i in range(1, len(w))} | set("abcdefghijklmnopqrstuvwxyz0123456789"))
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *pieces])}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute", "hidden_size": HIDDEN,
              "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": INTERMEDIATE,
              "layer_norm_eps": 1e-12, "max_position_embeddings": 64, "vocab_size": len(vocab), "type_vocab_size": 2}
    (directory / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.normal(0, 0.5, shape).astype(np.float32)

    weights = {"embeddings.word_embeddings.weight": normal(len(vocab), HIDDEN),
               "embeddings.position_embeddings.weight": normal(64, HIDDEN),
               "embeddings.token_type_embeddings.weight": normal(2, HIDDEN),
               "embeddings.LayerNorm.weight": 1 + normal(HIDDEN) / 5, "embeddings.LayerNorm.bias": normal(HIDDEN) / 5}
    for layer in range(LAYERS):
        p = f"encoder.layer.{layer}."
        for name, (out, inp) in {"attention.self.query": (HIDDEN, HIDDEN), "attention.self.key": (HIDDEN, HIDDEN),
                                 "attention.self.value": (HIDDEN, HIDDEN), "attention.output.dense": (HIDDEN, HIDDEN),
                                 "intermediate.dense": (INTERMEDIATE, HIDDEN), "output.dense": (HIDDEN, INTERMEDIATE)}.items():
            weights[p + name + ".weight"], weights[p + name + ".bias"] = normal(out, inp), normal(out) / 5
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            weights[p + name + ".weight"], weights[p + name + ".bias"] = 1 + normal(HIDDEN) / 5, normal(HIDDEN) / 5
    save_file(weights, str(directory / "model.safetensors"))
    return directory


def bert_reference_means(directory: Path, texts: list[str], max_tokens: int) -> np.ndarray:
    """BERT's forward pass, text by text, in NumPy, from the files (no batching, no padding): the
    mean of the last layer over each text's tokens."""
    from safetensors.numpy import load_file
    from scipy.special import erf
    from tokenizers import Tokenizer

    w = load_file(str(directory / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(max_tokens)

    def norm(x, p):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

    def dense(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    vectors = []
    for text in texts:
        ids = tokenizer.encode(text).ids
        x = norm(w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][: len(ids)]
                 + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        for layer in range(LAYERS):
            p = f"encoder.layer.{layer}."
            heads = [dense(x, p + "attention.self." + n).reshape(len(ids), HEADS, -1).transpose(1, 0, 2) for n in ("query", "key", "value")]
            scores = heads[0] @ heads[1].transpose(0, 2, 1) / np.sqrt(HIDDEN // HEADS)
            attention = np.exp(scores - scores.max(-1, keepdims=True))
            attention /= attention.sum(-1, keepdims=True)
            context = (attention @ heads[2]).transpose(1, 0, 2).reshape(len(ids), HIDDEN)
            x = norm(x + dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = dense(x, p + "intermediate.dense")
            x = norm(x + dense(0.5 * hidden * (1 + erf(hidden / np.sqrt(2))), p + "output.dense"), p + "output.LayerNorm")
        vectors.append(x.mean(0))
    return np.array(vectors)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``prodcat ARGS`` run in this process (errors included)."""
    from prodcat.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
