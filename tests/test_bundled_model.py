"""The default model ships inside the installed package and works with no model path and no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE

HEADPHONES = "Sony WH-1000XM4 wireless noise cancelling headphones"


def test_python_api_uses_the_default_model_when_no_path_is_given():
    import prodcat

    categorizer = prodcat.load()
    assert set(categorizer.labels) == {"Books", "Clothing & Accessories", "Electronics", "Household"}
    assert categorizer.predict([HEADPHONES]) == ["Electronics"]


def test_default_model_is_small_and_documented():
    from prodcat.bundled import default_model_path

    path = default_model_path()
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    assert size <= 15 * 1024 * 1024
    card = (path.parent / "MODEL_CARD.md").read_text()
    assert "CC BY 4.0" in card and "3355823" in card


def test_default_model_on_raw_text_it_never_trained_on():
    import prodcat
    from prodcat.evaluation import evaluate

    sample = prodcat.read_catalog(SAMPLE)
    assert evaluate(prodcat.load(), sample.texts, sample.labels)["weighted_f1"] >= 0.95


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory):
    """A fresh virtual environment with ``pip install .`` (dependencies from the test environment)."""
    env_dir = tmp_path_factory.mktemp("venv") / "fresh"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # The dependencies come from the test environment's site-packages, added as a plain path: its
    # editable install of prodcat (a .pth hook there) is not processed, so only the new install is seen.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dependencies = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    (Path(site) / "test_dependencies.pth").write_text(dependencies + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-build-isolation", str(ROOT)],
        check=True, timeout=300,
    )
    return env_dir


def test_installed_package_finds_and_loads_the_default_model(installed_venv, tmp_path):
    python = installed_venv / "bin" / "python"
    code = "import prodcat, json; from prodcat.bundled import default_model_path; c = prodcat.load(); " \
           "print(json.dumps([prodcat.__file__, str(default_model_path()), c.predict(['" + HEADPHONES + "'])[0]]))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    module, model, category = json.loads(result.stdout)
    assert str(installed_venv) in module and str(ROOT / "src") not in module
    assert str(installed_venv) in model
    assert category == "Electronics"


def test_installed_cli_predicts_offline_without_a_model_path(installed_venv, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"no_proxy": "*", "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    result = subprocess.run([str(installed_venv / "bin" / "prodcat"), "predict", HEADPHONES], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    category, confidence = result.stdout.splitlines()[0].split("\t")[:2]
    assert category == "Electronics" and 0.5 < float(confidence) <= 1.0
    assert "bundled default model" in result.stderr
