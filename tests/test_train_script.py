"""``bash scripts/train.sh`` without the network: the hint names the script and where the file is published."""

from __future__ import annotations

import socket
import subprocess

import pytest
from conftest import ROOT

from prodcat.data import download as dl
from prodcat.errors import DownloadError


def test_the_download_hint_names_the_script_that_asked_and_where_the_file_is_published(monkeypatch, tmp_path):
    monkeypatch.setenv(dl.CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(dl.TRAIN_COMMAND_ENV, "bash scripts/train.sh")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registered = dl.dataset_spec("ecommerce")
    spec = dl.DatasetSpec(url=f"http://127.0.0.1:{port}/x.csv", filename=registered.filename, rows=1, published=registered.published)
    with pytest.raises(DownloadError) as excinfo:
        dl.download("ecommerce", spec=spec, progress=False, timeout=5)
    message = str(excinfo.value)
    assert message.endswith("pass a local copy instead: bash scripts/train.sh path/to/ecommerceDataset.csv")
    assert "https://doi.org/10.5281/zenodo.3355823" in message and "Kaggle" in message


def test_train_sh_tells_the_download_which_command_to_suggest():
    script = (ROOT / "scripts" / "train.sh").read_text()
    assert 'PRODCAT_TRAIN_COMMAND="bash scripts/train.sh" .venv/bin/prodcat data download ecommerce' in script
    assert subprocess.run(["bash", "-n", str(ROOT / "scripts" / "train.sh")]).returncode == 0
