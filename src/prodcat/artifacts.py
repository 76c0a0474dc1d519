"""A model directory: ``prodcat.json`` (the manifest: family, labels, settings, calibration,
training data fingerprint, metrics, library versions) next to the family's own files.

Directories are written atomically: into a temporary sibling, then renamed into place. Their files
are read only through ``model_file``: a regular file of bounded size inside the directory (no link
out of it, no device or pipe).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from prodcat.errors import ModelError
from prodcat.files import usual_mode

MANIFEST = "prodcat.json"
FORMAT = "prodcat-model"
FORMAT_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 2**20
MAX_JSON_BYTES = 2**30  # a vocabulary, a tokenizer, a configuration
MAX_ARRAY_BYTES = 16 * 2**30  # weights and arrays


def write_model_dir(path: str | Path, manifest: dict, write_files: Callable[[Path], None]) -> Path:
    """Write ``manifest`` and the files ``write_files(directory)`` creates, then move them to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise ModelError(f"{path}: exists and is not a prodcat model; choose an empty or new --out directory")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staging.chmod(usual_mode(directory=True))  # mkdtemp makes it private; a model directory is not
        write_files(staging)
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _replace_dir(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _replace_dir(staging: Path, path: Path) -> None:
    if not path.exists():
        os.replace(staging, path)
        return
    retired = path.with_name(f".{path.name}.old-{os.getpid()}")
    os.replace(path, retired)
    os.replace(staging, path)
    shutil.rmtree(retired, ignore_errors=True)


def read_manifest(path: str | Path) -> dict:
    """The manifest of the model directory at ``path``; a ``ModelError`` if it is not one."""
    path = Path(path)
    if path.is_file():
        hint = f"the directory that holds it, {path.parent}" if path.name == MANIFEST else "DIR of a model made by 'prodcat train'"
        raise ModelError(f"{path}: is a file, not a model directory; pass --model {hint}")
    if not path.is_dir():
        raise ModelError(f"{path}: no such model directory; pass --model DIR of a model made by 'prodcat train'")
    if not os.path.lexists(path / MANIFEST):
        raise ModelError(f"{path}: not a prodcat model (no {MANIFEST}); pass a directory made by 'prodcat train'")
    manifest = read_model_json(path, MANIFEST, MAX_MANIFEST_BYTES)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path}/{MANIFEST}: is not a prodcat model manifest; pass a directory made by 'prodcat train'")
    if not isinstance(manifest.get("format_version", 0), int):
        raise ModelError(f"{path}/{MANIFEST}: field 'format_version' is not a number; retrain or restore the model")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: was made by a newer prodcat (format {manifest['format_version']}); upgrade prodcat")
    for key in ("family", "labels"):
        if key not in manifest:
            raise ModelError(f"{path}/{MANIFEST}: lacks {key!r}; retrain or restore the model")
    return manifest


def check_manifest(path: str | Path, manifest: dict) -> None:
    """Refuse, with one line naming the field, a manifest whose family, labels, temperature or
    thresholds cannot be those of a model ``prodcat train`` made."""
    from prodcat.models.registry import FAMILIES

    def refuse(field: str, problem: str) -> None:
        raise ModelError(f"{Path(path) / MANIFEST}: field {field!r} {problem}; retrain or restore the model")

    if manifest["family"] not in FAMILIES:
        refuse("family", f"is {manifest['family']!r}, not one of {', '.join(FAMILIES)}")
    labels = manifest["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        refuse("labels", "must be a list of non-empty strings")
    if len(set(labels)) < len(labels):
        twice = next(label for i, label in enumerate(labels) if label in labels[:i])
        refuse("labels", f"names {twice!r} twice")
    if len(labels) < 2:
        refuse("labels", f"has {len(labels)} label(s); a model has at least 2")
    temperature = manifest.get("temperature")
    if temperature is not None and not (_is_number(temperature) and math.isfinite(temperature) and temperature > 0):
        refuse("temperature", f"is {temperature!r}; it must be a number above 0")
    threshold = manifest.get("threshold")
    if threshold is not None and not _is_probability(threshold):
        refuse("threshold", f"is {threshold!r}; it must be a number from 0 to 1")
    levels = manifest.get("level_thresholds")
    if levels is not None and not (isinstance(levels, list) and all(map(_is_probability, levels))):
        refuse("level_thresholds", f"is {levels!r}; it must be a list of numbers from 0 to 1")
    if not isinstance(manifest.get("params") or {}, dict):
        refuse("params", "must be an object of settings")


def check_family_numbers(path: str | Path, field: str, values, count: int, positive: bool = True) -> None:
    """Refuse a family's list setting (``params.<field>`` in the manifest) unless it holds ``count``
    finite numbers, each above 0 (``positive``) or at least 0."""
    low_ok = (lambda v: v > 0) if positive else (lambda v: v >= 0)
    if not (isinstance(values, list) and len(values) == count
            and all(_is_number(v) and math.isfinite(v) and low_ok(v) for v in values)):
        bound = "above 0" if positive else "of at least 0"
        raise ModelError(f"{Path(path) / MANIFEST}: field 'params.{field}' is {values!r}; it must be {count} numbers {bound}; retrain or restore the model")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_probability(value) -> bool:
    # NaN compares false; the slack takes a confidence of 1 plus rounding error, as a softmax may give
    return _is_number(value) and -1e-9 <= value <= 1.0 + 1e-9


def model_file(directory: str | Path, name: str, max_bytes: int | None = None) -> Path:
    """The real path of the file ``name`` in the model directory ``directory``, once it is known to be
    a regular file inside the directory of at most ``max_bytes`` bytes; else a one-line ``ModelError``.

    Links are followed only while they stay inside the directory: a model's files never pull in a
    file from elsewhere, a device (``/dev/zero``) or a pipe. ``None``: ``MAX_ARRAY_BYTES``.
    """
    path = Path(directory) / name
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(directory)):
        raise ModelError(f"{path}: links to {real}, outside the model directory; copy the file into the model directory")
    try:
        info = os.stat(real)
    except OSError as exc:
        reason = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
        raise ModelError(f"{path}: {reason}; retrain or restore the model") from None
    _check_regular(path, info, MAX_ARRAY_BYTES if max_bytes is None else max_bytes)
    return real


def model_subdir(directory: str | Path, name: str) -> Path:
    """The real path of the sub-directory ``name`` of a model directory (an ensemble member, a level of a
    hierarchy), once it is known to be a directory inside it; else a one-line ``ModelError``."""
    path = Path(directory) / name
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(directory)):
        raise ModelError(f"{path}: links to {real}, outside the model directory; copy it into the model directory")
    if not real.is_dir():
        raise ModelError(f"{path}: is missing or not a directory; retrain or restore the model")
    return real


@contextmanager
def open_model_file(directory: str | Path, name: str, max_bytes: int | None = None) -> Iterator:
    """``model_file``'s file, open for reading in binary (never blocking on a pipe swapped in meanwhile).

    Any error raised while it is open (the reading library's, on a damaged file) becomes one
    ``ModelError`` line naming the file.
    """
    shown = Path(directory) / name
    max_bytes = MAX_ARRAY_BYTES if max_bytes is None else max_bytes
    path = model_file(directory, name, max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        handle = os.open(path, flags)
    except OSError as exc:
        raise ModelError(f"{shown}: cannot be read ({exc.strerror}); retrain or restore the model") from None
    with os.fdopen(handle, "rb") as file:
        _check_regular(shown, os.fstat(file.fileno()), max_bytes)
        try:
            yield file
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{shown}: is damaged ({one_line(exc)}); retrain or restore the model") from None


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an error's message (its type's name if it has none), at most ``limit`` characters."""
    line = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def read_model_json(directory: str | Path, name: str, max_bytes: int | None = None):
    """The JSON document in the model file ``name`` (of at most ``max_bytes``; ``None``:
    ``MAX_JSON_BYTES``); a one-line ``ModelError`` if it is not one."""
    max_bytes = MAX_JSON_BYTES if max_bytes is None else max_bytes
    with open_model_file(directory, name, max_bytes) as file:
        content = file.read(max_bytes + 1)
    try:
        return json.loads(content.decode("utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ModelError(f"{Path(directory) / name}: is damaged (not JSON); retrain or restore the model") from None


def _check_regular(path: Path, info: os.stat_result, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{path}: is not a regular file (a {_kind(info.st_mode)}); retrain or restore the model")
    if info.st_size > max_bytes:
        raise ModelError(f"{path}: is {info.st_size:,} bytes, more than the {max_bytes:,} a model file may have; retrain or restore the model")


def _kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "directory", stat.S_ISFIFO: "pipe", stat.S_ISCHR: "character device",
             stat.S_ISBLK: "block device", stat.S_ISSOCK: "socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "special file")


def fingerprint(texts: list[str], labels: list[str]) -> str:
    """A SHA-256 over the training rows, to tell which data a model saw."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(label.encode("utf-8") + b"\x1f" + text.encode("utf-8") + b"\x1e")
    return "sha256:" + digest.hexdigest()


def library_versions() -> dict:
    versions = {}
    for name in ("prodcat", "numpy", "scikit-learn", "keras", "tensorflow", "tensorflow-cpu"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
