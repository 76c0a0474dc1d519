"""BENCHMARKS.md is a reference a user can check: short, no diary, every command runnable, its tables
equal to the results it names."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT

BENCHMARKS = ROOT / "BENCHMARKS.md"
TEXT = BENCHMARKS.read_text(encoding="utf-8")
COMMANDS = sorted(set(re.findall(r"`python (benchmarks/\w+\.py)([^`\n]*)`", TEXT)))


def test_benchmarks_document_is_a_short_reference_without_a_diary():
    assert len(TEXT.encode()) < 32_000
    for document in (BENCHMARKS, ROOT / "README.md", ROOT / "benchmarks" / "README.md"):
        assert not re.search(r"\bsessions?\b", document.read_text(encoding="utf-8"), re.IGNORECASE), document


@pytest.mark.parametrize("script, arguments", COMMANDS, ids=[f"{s} {a.strip()}"[:60] for s, a in COMMANDS])
def test_every_benchmark_command_names_a_script_and_options_that_exist(script, arguments):
    assert (ROOT / script).is_file(), script
    options = set(re.findall(r"(--[a-z][a-z-]*)", arguments))
    if not options:
        return
    shown = subprocess.run([sys.executable, script, *arguments.split()[:1], "--help"] if arguments.split()[:1] and not arguments.split()[0].startswith("-")
                           else [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert options <= set(re.findall(r"(--[a-z][a-z-]*)", shown.stdout)), (script, options)


def test_the_family_tables_are_the_recorded_results():
    results = json.loads((ROOT / "benchmarks" / "results" / "full" / "models.json").read_text(encoding="utf-8"))
    recorded = {(test, model["model"]): round(model["tests"][test]["weighted_f1"], 3)
                for dataset in results["datasets"].values() for model in dataset["models"] for test in model.get("tests", {})}
    section = TEXT.split("## Model families side by side", 1)[1].split("\n## ", 1)[0]
    headings = {"ecommerce (": "ecommerce", "ecommerce raw-text": "ecommerce-raw-sample", "MWPD2020 lvl1": "mwpd-lvl1",
                "MWPD2020 lvl2": "mwpd-lvl2", "MWPD2020 lvl3": "mwpd-lvl3", "BigBasket category": "bigbasket-category",
                "BigBasket sub_category": "bigbasket-sub_category", "BigBasket type": "bigbasket-type"}
    checked = 0
    for block in section.split("#### ")[1:]:
        test = next(name for start, name in headings.items() if block.startswith(start))
        for model, f1 in re.findall(r"^\| ((?:prodcat-|fasttext|tfidf)[\w-]*) \| \**([0-9.]+)\**", block, re.MULTILINE):
            assert float(f1) == pytest.approx(recorded[(test, model)], abs=5e-4), (test, model)
            checked += 1
    assert checked == 8 * 8  # 8 test sets x (4 prodcat families + 4 peers)
