"""Damaged model directories: ``prodcat predict``, ``evaluate`` and ``serve`` refuse each kind of
damage with one line on stderr and exit code 2, quickly (a command that hangs fails at ``TIMEOUT``).

The bundled model (linear) and a tiny bag model (Keras) are copied and damaged one way each: a
manifest that disagrees with the arrays or holds impossible numbers, truncated or empty files,
links out of the directory, a pipe, a file over the size bound. In-process tests check that every
family reports how many labels it scores, and that report files get the usual permissions.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE, TINY_BAG, TINY_LINEAR

from prodcat import artifacts
from prodcat.categorizer import Categorizer
from prodcat.data.reading import read_catalog
from prodcat.errors import ModelError

BUNDLED = ROOT / "src" / "prodcat" / "bundled" / "ecommerce"
TIMEOUT = 60  # seconds for one command; a hang fails the test instead of blocking the suite
MEMORY = 4 * 2**30  # address space of a command on the linear model: reading /dev/zero fails, not the machine


def _manifest(directory: Path, **changes) -> None:
    """Change manifest fields: a value, or a function of the manifest."""
    path = directory / artifacts.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    for key, change in changes.items():
        manifest[key] = change(manifest) if callable(change) else change
    path.write_text(json.dumps(manifest), encoding="utf-8")  # NaN is written as NaN, which json reads back


def _truncate(name: str, size: int):
    def damage(directory: Path) -> None:
        content = (directory / name).read_bytes()
        (directory / name).write_bytes(content[:size])
    return damage


def _link(name: str, target):
    def damage(directory: Path) -> None:
        to = target(directory) if callable(target) else target
        (directory / name).unlink()
        (directory / name).symlink_to(to)
    return damage


def _outside_copy(directory: Path) -> Path:
    """The manifest, copied next to the model directory (a link to it leaves the directory)."""
    copy = directory.parent / f"{directory.name}-outside.json"
    shutil.copyfile(directory / artifacts.MANIFEST, copy)
    return copy


def _fifo(name: str):
    def damage(directory: Path) -> None:
        (directory / name).unlink()
        os.mkfifo(directory / name)
    return damage


def _huge_manifest(directory: Path) -> None:
    with open(directory / artifacts.MANIFEST, "r+b") as file:  # sparse: nothing is written
        file.truncate(artifacts.MAX_MANIFEST_BYTES + 1)


def _junk_keras(directory: Path) -> None:
    """A zip, as a .keras file is, whose configuration is not JSON."""
    with zipfile.ZipFile(directory / "model.keras", "w") as archive:
        archive.writestr("config.json", "{not json")
        archive.writestr("metadata.json", "{}")


# name -> (model to damage, damage, fragments the one error line must contain)
DAMAGES = {
    "too few labels": ("linear", lambda d: _manifest(d, labels=lambda m: m["labels"][:-1]), ["prodcat.json", "'labels'", "4 outputs"]),
    "extra label": ("linear", lambda d: _manifest(d, labels=lambda m: m["labels"] + ["Toys"]), ["prodcat.json", "'labels'", "5 categories"]),
    "duplicate label": ("linear", lambda d: _manifest(d, labels=lambda m: m["labels"][:-1] + m["labels"][:1]), ["'labels'", "twice"]),
    "empty label": ("linear", lambda d: _manifest(d, labels=lambda m: m["labels"][:-1] + [""]), ["'labels'", "non-empty"]),
    "negative temperature": ("linear", lambda d: _manifest(d, temperature=-1), ["prodcat.json", "'temperature'"]),
    "NaN temperature": ("linear", lambda d: _manifest(d, temperature=math.nan), ["'temperature'"]),
    "threshold 1.5": ("linear", lambda d: _manifest(d, threshold=1.5), ["'threshold'"]),
    "level threshold -1": ("linear", lambda d: _manifest(d, level_thresholds=[-1]), ["'level_thresholds'"]),
    "unknown family": ("linear", lambda d: _manifest(d, family="svm"), ["'family'", "'svm'"]),
    "empty npz": ("linear", _truncate("linear.npz", 0), ["linear.npz", "damaged"]),
    "truncated npz": ("linear", _truncate("linear.npz", 100_000), ["linear.npz", "damaged"]),
    "truncated vocabulary": ("linear", _truncate("vocabulary.json", 1000), ["vocabulary.json", "damaged"]),
    "manifest linked to /dev/zero": ("linear", _link(artifacts.MANIFEST, "/dev/zero"), ["prodcat.json", "outside the model directory"]),
    "manifest linked outside": ("linear", _link(artifacts.MANIFEST, _outside_copy), ["prodcat.json", "outside the model directory"]),
    "npz is a pipe": ("linear", _fifo("linear.npz"), ["linear.npz", "pipe"]),
    "manifest over the size bound": ("linear", _huge_manifest, ["prodcat.json", "bytes"]),
    "truncated keras file": ("bag", _truncate("model.keras", 2000), ["model.keras", "damaged"]),
    "keras file of junk": ("bag", _junk_keras, ["model.keras", "damaged"]),
    "bag with too few labels": ("bag", lambda d: _manifest(d, labels=lambda m: m["labels"][:-1]), ["'labels'", "outputs"]),
}
# Run as a separate process under ``timeout``: damages that could hang or exhaust memory, and each
# command once or twice; the other damages run ``prodcat predict`` in this process (the same ``main``).
IN_A_PROCESS = [("predict", "npz is a pipe"), ("predict", "manifest linked to /dev/zero"), ("predict", "manifest over the size bound"),
                ("predict", "empty npz"), ("predict", "truncated keras file"), ("evaluate", "too few labels"), ("evaluate", "npz is a pipe"),
                ("serve", "too few labels"), ("serve", "npz is a pipe"), ("serve", "keras file of junk")]
IN_THIS_PROCESS = [("predict", name) for name in DAMAGES if ("predict", name) not in IN_A_PROCESS]


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory) -> Path:
    from prodcat.training import train

    out = tmp_path_factory.mktemp("bag") / "bag"
    train(SAMPLE, out=out, family="bag", params={**TINY_BAG, "epochs": 2}, refit=False, verbose=0)
    return out


@pytest.fixture(scope="module")
def damaged(bag_dir, tmp_path_factory):
    """A function of (command, damage): the arguments of that command on a fresh damaged copy."""
    folder = tmp_path_factory.mktemp("damaged")
    titles = folder / "titles.csv"
    titles.write_text("text\nusb c charging cable\ncotton t-shirt for men\npaperback novel\n", encoding="utf-8")
    sources = {"linear": BUNDLED, "bag": bag_dir}

    def arguments(command: str, name: str) -> list[str]:
        base, damage, _ = DAMAGES[name]
        model = folder / f"{command}-{name.replace(' ', '_').replace('/', '_')}"
        shutil.copytree(sources[base], model, ignore=shutil.ignore_patterns("report"))
        damage(model)
        return {
            "predict": ["predict", "-m", str(model), "-i", str(titles), "-o", str(folder / f"{model.name}.csv")],
            # --no-header: evaluate reads the file before it loads the model, and would note its guess
            "evaluate": ["evaluate", str(SAMPLE), "--no-header", "-m", str(model), "--report", str(folder / f"{model.name}-report")],
            "serve": ["serve", "-m", str(model), "--port", "1"],  # never bound: the model is refused first
        }[command]

    return arguments


@pytest.fixture(scope="module")
def process_results(damaged) -> dict[tuple[str, str], tuple[int, str]]:
    """(exit code, stderr) of each run in ``IN_A_PROCESS``, a few at a time."""
    def run(key: tuple[str, str]) -> tuple[int, str]:
        # SIGKILL 10 s after the SIGTERM: a server whose start blocks (on a pipe) may not stop on SIGTERM
        command = ["timeout", "-k", "10", str(TIMEOUT), sys.executable, "-m", "prodcat", *damaged(*key)]
        if DAMAGES[key[1]][0] == "linear" and shutil.which("prlimit"):  # TensorFlow reserves more
            command = ["prlimit", f"--as={MEMORY}", *command]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
        return done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(IN_A_PROCESS, pool.map(run, IN_A_PROCESS)))


def _check_refusal(name: str, code: int, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, f"exit {code} (124: it hung), stderr:\n{stderr}"
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for fragment in DAMAGES[name][2]:
        assert fragment in lines[0]
    assert "unexpected" not in lines[0]


@pytest.mark.parametrize("command, name", IN_A_PROCESS, ids=[f"{c}: {n}" for c, n in IN_A_PROCESS])
def test_damage_is_refused_in_one_line(process_results, command, name):
    _check_refusal(name, *process_results[(command, name)])


@pytest.mark.parametrize("name", [name for _, name in IN_THIS_PROCESS])
def test_predict_refuses_damage_in_one_line(damaged, name, capsys):
    from prodcat.cli.app import main

    arguments = damaged("predict", name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    _check_refusal(name, exited.value.code, capsys.readouterr().err)


@pytest.fixture(scope="module")
def hierarchical_dir(tmp_path_factory) -> Path:
    catalog = read_catalog(SAMPLE)
    labels = [f"{'Goods' if label != 'Books' else 'Media'} > {label}" for label in catalog.labels]
    model = Categorizer("hierarchical", params={"base": "linear", "base_params": TINY_LINEAR})
    return model.fit(catalog.texts, labels, verbose=0).save(tmp_path_factory.mktemp("hierarchical") / "model")


@pytest.fixture(scope="module")
def transformer_dir(tiny_encoder_dir, tmp_path_factory) -> Path:
    catalog = read_catalog(SAMPLE)
    params = {"encoder": str(tiny_encoder_dir), "max_tokens": 16, "epochs": 1, "batch_size": 32}
    model = Categorizer("transformer", params=params)
    return model.fit(catalog.texts, catalog.labels, verbose=0).save(tmp_path_factory.mktemp("transformer") / "model")


FAMILY_DIRS = {"linear": "linear_model_dir", "lstm": "lstm_model_dir", "bag": "bag_dir", "neighbors": "neighbors_model_dir",
               "ensemble": "ensemble_model_dir", "hierarchical": "hierarchical_dir", "transformer": "transformer_dir"}


@pytest.mark.parametrize("family", sorted(FAMILY_DIRS))
def test_every_family_checks_the_labels_against_its_outputs(family, request, tmp_path):
    model = tmp_path / family
    shutil.copytree(request.getfixturevalue(FAMILY_DIRS[family]), model)
    loaded = Categorizer.load(model)
    assert loaded.model_.n_outputs == len(loaded.labels) and loaded.family == family
    _manifest(model, labels=lambda m: m["labels"][:-1])
    with pytest.raises(ModelError, match="'labels' names"):
        Categorizer.load(model)


def test_a_member_linked_out_of_an_ensemble_is_refused(ensemble_model_dir, tmp_path):
    model, elsewhere = tmp_path / "ensemble", tmp_path / "elsewhere"
    shutil.copytree(ensemble_model_dir, model)
    shutil.move(model / "linear", elsewhere)
    (model / "linear").symlink_to(elsewhere)
    with pytest.raises(ModelError, match="outside the model directory"):
        Categorizer.load(model)


def test_an_ensemble_temperature_below_zero_is_refused(ensemble_model_dir, tmp_path):
    model = shutil.copytree(ensemble_model_dir, tmp_path / "ensemble")
    _manifest(model, params=lambda m: {**m["params"], "temperatures": [-1.0] * len(m["params"]["members"])})
    with pytest.raises(ModelError, match="'params.temperatures'"):
        Categorizer.load(model)


def test_an_array_file_over_the_bound_is_refused(tmp_path, monkeypatch):
    model = shutil.copytree(BUNDLED, tmp_path / "model")
    monkeypatch.setattr(artifacts, "MAX_ARRAY_BYTES", (model / "linear.npz").stat().st_size - 1)
    with pytest.raises(ModelError, match="linear.npz: is .* bytes, more than"):
        Categorizer.load(model)


def test_links_inside_the_model_directory_are_followed(tmp_path):
    """A model directory reached through a link, or a file linked to another inside it, loads."""
    model = shutil.copytree(BUNDLED, tmp_path / "model")
    (model / "linear.npz").rename(model / "arrays.npz")
    (model / "linear.npz").symlink_to("arrays.npz")
    (tmp_path / "current").symlink_to(model)
    assert Categorizer.load(tmp_path / "current").predict(["paperback novel"])


def test_report_files_get_the_usual_permissions(tmp_path):
    from prodcat.evaluation import evaluate
    from prodcat.reporting import write_report

    catalog = read_catalog(SAMPLE)
    metrics = evaluate(Categorizer.load(BUNDLED), catalog.texts, catalog.labels)
    umask = os.umask(0o022)
    try:
        write_report(tmp_path / "report", metrics, context={"title": "sample"})
    finally:
        os.umask(umask)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "report").iterdir()}
    assert {"metrics.json", "report.md"} <= set(modes)
    assert set(modes.values()) == {0o644}, modes
