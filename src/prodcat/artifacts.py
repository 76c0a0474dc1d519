"""A model directory: ``prodcat.json`` (the manifest: family, labels, settings, calibration,
training data fingerprint, metrics, library versions) next to the family's own files.

Directories are written atomically: into a temporary sibling, then renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from prodcat.errors import ModelError

MANIFEST = "prodcat.json"
FORMAT = "prodcat-model"
FORMAT_VERSION = 1


def write_model_dir(path: str | Path, manifest: dict, write_files: Callable[[Path], None]) -> Path:
    """Write ``manifest`` and the files ``write_files(directory)`` creates, then move them to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not (path / MANIFEST).exists() and any(path.iterdir()):
        raise ModelError(f"{path}: exists and is not a prodcat model; choose an empty or new --out directory")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a model directory is not
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
    if not path.is_dir():
        raise ModelError(f"{path}: no such model directory; pass --model DIR of a model made by 'prodcat train'")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: not a prodcat model (no {MANIFEST}); pass a directory made by 'prodcat train'") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError(f"{path}/{MANIFEST}: is damaged (not JSON); retrain or restore the model") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelError(f"{path}/{MANIFEST}: is not a prodcat model manifest; pass a directory made by 'prodcat train'")
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{path}: was made by a newer prodcat (format {manifest['format_version']}); upgrade prodcat")
    for key in ("family", "labels"):
        if key not in manifest:
            raise ModelError(f"{path}/{MANIFEST}: lacks {key!r}; retrain or restore the model")
    return manifest


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
