"""Fetch the reference dataset once, verify it, and keep it in a cache directory.

A download goes to a temporary file beside its final place and is renamed there only after its
content hash, row count and label counts all match the registry; anything else is deleted and
reported. A verified copy in the cache is reused without touching the network.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from prodcat.errors import DataError, DownloadError
from prodcat.files import usual_mode

CACHE_ENV = "PRODCAT_CACHE"
TRAIN_COMMAND_ENV = "PRODCAT_TRAIN_COMMAND"  # the command a download error tells to run with a local copy
TIMEOUT_S = 30.0
_BLOCK = 1 << 16


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset lives and what a correct copy of it holds (headerless ``category,text`` CSV)."""

    url: str
    filename: str
    rows: int
    labels: dict[str, int] = field(default_factory=dict)
    git_blob_sha1: str = ""
    published: str = ""  # where a person can get the file by hand


DATASETS = {
    "ecommerce": DatasetSpec(
        url="https://zenodo.org/record/3355823/files/ecommerceDataset.csv?download=1",
        filename="ecommerceDataset.csv",
        rows=50425,
        labels={"Household": 19313, "Books": 11820, "Electronics": 10621, "Clothing & Accessories": 8671},
        git_blob_sha1="c66b3e4716ab40ef4caf0831a87165496bfbe784",
        published="https://doi.org/10.5281/zenodo.3355823, also on Kaggle as saurabhshahane/ecommerce-text-classification",
    )
}


def cache_dir() -> Path:
    """The cache directory: ``$PRODCAT_CACHE``, else ``~/.cache/prodcat``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "prodcat").expanduser()


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; a ``DataError`` naming the known datasets otherwise."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; the known datasets are {', '.join(DATASETS)}")
    return DATASETS[name]


def cached_path(name: str) -> Path:
    """The verified cached copy of dataset ``name``; a ``DataError`` saying how to get it if there is none."""
    spec = dataset_spec(name)
    path = cache_dir() / spec.filename
    if not path.is_file():
        raise DataError(
            f"the {name} dataset is not downloaded ({path} does not exist); "
            f"run 'prodcat data download {name}' or pass a catalog FILE"
        )
    return path


def download(name: str, *, spec: DatasetSpec | None = None, force: bool = False, progress: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Download dataset ``name`` (described by ``spec``, default: the registry) into the cache and verify it.

    Returns the path of the verified file. An existing cached copy is reused unless ``force``.
    Raises ``DownloadError`` when the server cannot be reached or the file fails verification; a
    failed download leaves nothing behind.
    """
    spec = spec or dataset_spec(name)
    target = cache_dir() / spec.filename
    if target.is_file() and not force:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".part")
    except OSError as exc:
        raise DownloadError(f"{target.parent}: cannot write the download there ({exc.strerror or exc}); set {CACHE_ENV} to a writable folder") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            fetch_url(spec.url, out, label=spec.filename, hint=_local_hint(spec), progress=progress, timeout=timeout)
        verify(temp, spec)
        temp.chmod(usual_mode())  # mkstemp makes it private; a downloaded dataset is not
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def fetch_url(url: str, out, *, label: str, hint: str, progress: bool = True, timeout: float = TIMEOUT_S) -> None:
    """Stream ``url`` into the open binary file ``out``; network failures become ``DownloadError``
    (one line, ending with ``hint``: what the user can do instead)."""
    from prodcat import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"prodcat/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = int(response.headers.get("Content-Length") or 0) or None
            received = _copy(response, out, expected, progress, label)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: the server answered HTTP {exc.code} {exc.reason}; {hint}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", None) or exc or type(exc).__name__
        raise DownloadError(f"cannot reach {url} ({_one_line(reason)}); {hint}") from None
    except http.client.HTTPException as exc:
        raise DownloadError(f"download of {url} broke off ({type(exc).__name__}); try again or {hint}") from None
    if expected is not None and received != expected:
        raise DownloadError(f"download of {url} is incomplete: got {received} of {expected} bytes; try again")


def _copy(response, out, expected: int | None, progress: bool, label: str) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    received = 0
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not progress) as bar:
        task = bar.add_task(label, total=expected)
        while block := response.read(_BLOCK):
            out.write(block)
            received += len(block)
            bar.update(task, advance=len(block))
    return received


def verify(path: Path, spec: DatasetSpec) -> None:
    """Check ``path`` against ``spec``: git blob id, rows and rows per label. ``DownloadError`` lists what differs."""
    from prodcat.data.reading import read_catalog

    problems = []
    digest = git_blob_sha1(path)
    if spec.git_blob_sha1 and digest != spec.git_blob_sha1:
        problems.append(f"content hash {digest} is not the expected {spec.git_blob_sha1}")
    try:
        catalog = read_catalog(path, fmt="csv", header=False, text_cols=[1], label_cols=[0])
    except DataError as exc:
        problems.append(f"cannot be read as a headerless category,text CSV ({exc})")
    else:
        if len(catalog) != spec.rows:
            problems.append(f"{len(catalog)} rows instead of {spec.rows}")
        counts = Counter(catalog.labels)
        wrong = {label: counts.get(label, 0) for label in spec.labels if counts.get(label, 0) != spec.labels[label]}
        extra = sorted(set(counts) - set(spec.labels))
        if spec.labels and (wrong or extra):
            shown = ", ".join(f"{label!r} {n} instead of {spec.labels[label]}" for label, n in wrong.items())
            shown += (", " if shown and extra else "") + (f"unexpected labels {extra[:3]}" if extra else "")
            problems.append(f"label counts differ ({shown})")
    if problems:
        raise DownloadError(f"{spec.url}: the downloaded file failed verification and was deleted: {'; '.join(problems)}")


def git_blob_sha1(path: Path) -> str:
    """The git blob id of a file (what ``git hash-object`` prints): sha1 of ``blob <size>\\0`` + content."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _local_hint(spec: DatasetSpec) -> str:
    """What to do without the network: get the file where it is published and pass it to the command
    that asked for it (``$PRODCAT_TRAIN_COMMAND``, which scripts/train.sh sets; else ``prodcat train``)."""
    command = os.environ.get(TRAIN_COMMAND_ENV) or "prodcat train"
    where = f" (published at {spec.published})" if spec.published else ""
    return f"get {spec.filename}{where} and pass a local copy instead: {command} path/to/{spec.filename}"


def _one_line(reason) -> str:
    return " ".join(str(reason).split()) or type(reason).__name__
