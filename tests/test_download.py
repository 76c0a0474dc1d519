"""download(): against a local HTTP server serving real rows; verification, caching and network failures."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import stat
import subprocess
import sys
import threading
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from prodcat.data import download as dl
from prodcat.data.reading import read_catalog
from prodcat.errors import DataError, DownloadError


class _CountingHandler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):  # noqa: N802 (the http.server name)
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A server on 127.0.0.1 serving ``tmp_path/www``; yields (base url, www dir, list of requested paths)."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_CountingHandler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("PRODCAT_CACHE", str(path))
    return path


def _spec_for(data: bytes, url: str) -> dl.DatasetSpec:
    """What a correct copy of ``data`` holds, worked out independently of the module under test."""
    sha1 = hashlib.sha1(b"blob " + str(len(data)).encode() + b"\0" + data).hexdigest()
    import csv
    import io

    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return dl.DatasetSpec(url=url, filename="sample.csv", rows=len(rows), labels=dict(Counter(r[0] for r in rows)), git_blob_sha1=sha1)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_cache_dir_from_environment_or_home(cache, monkeypatch, tmp_path):
    assert dl.cache_dir() == cache
    monkeypatch.delenv("PRODCAT_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dl.cache_dir() == tmp_path / "home" / ".cache" / "prodcat"


def test_git_blob_id_matches_git(tmp_path):
    result = subprocess.run(["git", "hash-object", str(SAMPLE)], capture_output=True, text=True, check=True)
    assert dl.git_blob_sha1(SAMPLE) == result.stdout.strip()


def test_registry_describes_the_reference_dataset():
    spec = dl.DATASETS["ecommerce"]
    assert spec.rows == sum(spec.labels.values()) == 50425
    assert spec.url.startswith("https://zenodo.org/") and spec.filename == "ecommerceDataset.csv"


def test_download_verifies_and_then_reuses_the_cache(server, cache):
    base, www, requests = server
    data = SAMPLE.read_bytes()
    (www / "sample.csv").write_bytes(data)
    spec = _spec_for(data, f"{base}/sample.csv")
    path = dl.download("sample", spec=spec, progress=False)
    assert path == cache / "sample.csv" and path.read_bytes() == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()  # not mkstemp's private 0600
    assert len(read_catalog(path)) == spec.rows == 150
    assert requests == ["/sample.csv"]
    assert dl.download("sample", spec=spec, progress=False) == path
    assert len(requests) == 1  # the cached copy, no network
    assert _cache_files(cache) == ["sample.csv"]  # no temporary file left
    dl.download("sample", spec=spec, force=True, progress=True)
    assert len(requests) == 2


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda data: data.replace(b"Books,", b"Bookz,", 1), ["content hash", "label counts differ", "'Books' 34 instead of 35"]),
        (lambda data: data[: len(data) // 2].rsplit(b"\n", 1)[0] + b"\n", ["content hash", "rows instead of 150"]),
        (lambda data: b"\xff\xfe" + data, ["content hash", "cannot be read"]),
    ],
    ids=["wrong label", "truncated", "not text"],
)
def test_a_damaged_download_is_rejected_and_not_cached(server, cache, damage, says):
    base, www, _ = server
    data = SAMPLE.read_bytes()
    (www / "sample.csv").write_bytes(damage(data))
    spec = _spec_for(data, f"{base}/sample.csv")
    with pytest.raises(DownloadError) as excinfo:
        dl.download("sample", spec=spec, progress=False)
    message = str(excinfo.value)
    assert "\n" not in message and "failed verification" in message
    for part in says:
        assert part in message
    assert _cache_files(cache) == []


def test_a_failed_forced_download_keeps_the_verified_copy(server, cache):
    base, www, _ = server
    data = SAMPLE.read_bytes()
    (www / "sample.csv").write_bytes(data)
    spec = _spec_for(data, f"{base}/sample.csv")
    path = dl.download("sample", spec=spec, progress=False)
    (www / "sample.csv").write_bytes(data[:100])
    with pytest.raises(DownloadError):
        dl.download("sample", spec=spec, force=True, progress=False)
    assert path.read_bytes() == data and _cache_files(cache) == ["sample.csv"]


def test_unreachable_server_is_one_line_with_the_way_out(cache):
    url = f"http://127.0.0.1:{_closed_port()}/ecommerceDataset.csv"
    spec = dl.DatasetSpec(url=url, filename="ecommerceDataset.csv", rows=1)
    with pytest.raises(DownloadError) as excinfo:
        dl.download("ecommerce", spec=spec, progress=False, timeout=5)
    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach {url} (")
    assert message.endswith("and pass a local copy instead: prodcat train path/to/ecommerceDataset.csv")
    assert _cache_files(cache) == []


def test_http_error_is_reported(server, cache):
    base, _, _ = server
    spec = dl.DatasetSpec(url=f"{base}/missing.csv", filename="missing.csv", rows=1)
    with pytest.raises(DownloadError, match="HTTP 404"):
        dl.download("missing", spec=spec, progress=False)
    assert _cache_files(cache) == []


def test_cached_path(cache):
    with pytest.raises(DataError) as excinfo:
        dl.cached_path("ecommerce")
    assert "prodcat data download ecommerce" in str(excinfo.value) and "FILE" in str(excinfo.value)
    cache.mkdir()
    (cache / "ecommerceDataset.csv").write_bytes(SAMPLE.read_bytes())
    assert dl.cached_path("ecommerce") == cache / "ecommerceDataset.csv"
    with pytest.raises(DataError, match="unknown dataset 'nope'; the known datasets are ecommerce"):
        dl.cached_path("nope")


def _cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRODCAT_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "prodcat", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_cli_unreachable_url_exits_2_with_one_line(cache):
    url = f"http://127.0.0.1:{_closed_port()}/ecommerceDataset.csv"
    result = _cli("data", "download", "ecommerce", "--url", url, "-q", cache=cache)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: cannot reach {url}")
    assert "Traceback" not in result.stderr


def test_cli_mirror_with_other_content_is_rejected(server, cache):
    base, www, requests = server
    (www / "ecommerceDataset.csv").write_bytes(SAMPLE.read_bytes())
    result = _cli("data", "download", "ecommerce", "--url", f"{base}/ecommerceDataset.csv", "-q", cache=cache)
    assert result.returncode == 2, result.stderr
    assert "failed verification" in result.stderr and "150 rows instead of 50425" in result.stderr
    assert requests == ["/ecommerceDataset.csv"] and _cache_files(cache) == []


def test_cli_train_without_file_needs_the_download(cache):
    result = _cli("train", "--family", "linear", cache=cache)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the ecommerce dataset is not downloaded")
    assert "prodcat data download ecommerce" in result.stderr and result.stderr.count("\n") == 1


def test_unwritable_cache_is_named(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("PRODCAT_CACHE", str(blocker / "cache"))
    spec = dl.DatasetSpec(url="http://127.0.0.1:9/x.csv", filename="x.csv", rows=1)
    with pytest.raises(DownloadError, match="cannot write the download there.*PRODCAT_CACHE"):
        dl.download("x", spec=spec, progress=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
