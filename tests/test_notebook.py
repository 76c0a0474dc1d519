"""The reference notebook runs end to end on small real data, in this environment's Python."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import NORMALIZED, ROOT, SAMPLE, TINY_LSTM

NOTEBOOK = ROOT / "notebooks" / "product_categorization.ipynb"
REPORT_FILES = ("metrics.json", "report.md", "confusion_matrix.png", "calibration.png", "epoch_loss.png", "epoch_accuracy.png")
WEIGHTED_F1 = re.compile(r"test split \(\d+ rows\): accuracy [01]\.\d{4}, weighted F1 ([01]\.\d{4})")


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def parameters_cell(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return tagged[0]


def text_outputs(cell: nbformat.NotebookNode) -> str:
    """Everything a code cell printed or displayed as plain text."""
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def cell_by_id(notebook: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook run on 800 stratified rows of the reference data with a tiny 2-epoch LSTM, not refit."""
    out_dir = tmp_path_factory.mktemp("notebook") / "model"
    notebook = read_notebook()
    parameters_cell(notebook).source = "\n".join([
        f"DATA_PATH = {str(NORMALIZED)!r}",
        f"SAMPLE_PATH = {str(SAMPLE)!r}",
        "EPOCHS = 2",
        'FAMILY = "lstm"',
        "MAX_ROWS = 800",
        f"OUT_DIR = {str(out_dir)!r}",
        f"PARAMS = {TINY_LSTM!r}",
        "REFIT = False",  # the refit is tested on its own (test_refit.py, test_cli_train.py)
        "SEED = 42",
    ])
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)", id="kernel-python"))
    with pytest.MonkeyPatch.context() as patch:  # the notebook would prefer these over its parameters
        patch.delenv("PRODCAT_NOTEBOOK_DATA", raising=False)
        patch.delenv("PRODCAT_NOTEBOOK_SAMPLE", raising=False)
        NotebookClient(
            notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        ).execute()
    return notebook, out_dir


def test_committed_notebook_is_clean_and_parameterized():
    notebook = read_notebook()
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code[0] is parameters_cell(notebook)
    assert all(not cell.outputs and cell.execution_count is None for cell in code)
    defaults = {}
    exec(code[0].source, {}, defaults)
    assert set(defaults) >= {"DATA_PATH", "SAMPLE_PATH", "EPOCHS", "FAMILY", "MAX_ROWS", "OUT_DIR", "PARAMS", "REFIT"}
    assert defaults["FAMILY"] == "lstm" and defaults["MAX_ROWS"] is None and defaults["REFIT"] is True
    assert (NOTEBOOK.parent / defaults["DATA_PATH"]).resolve() == NORMALIZED.resolve()
    assert (NOTEBOOK.parent / defaults["SAMPLE_PATH"]).resolve() == SAMPLE.resolve()


def test_notebook_uses_only_the_public_api():
    sources = "\n".join(cell.source for cell in read_notebook().cells if cell.cell_type == "code")
    imported = set(re.findall(r"^\s*(?:from|import) (prodcat[\w.]*)", sources, flags=re.MULTILINE))
    assert imported <= {"prodcat", "prodcat.evaluation", "prodcat.reporting", "prodcat.data.inspection"}, imported
    assert not re.search(r"\._\w", sources.replace("prodcat.__version__", "")), "the notebook reaches into private names"


def test_notebook_runs_in_this_environments_python(executed):
    notebook, _ = executed
    assert text_outputs(cell_by_id(notebook, "kernel-python")).strip() == sys.prefix


def test_notebook_trains_evaluates_and_writes_the_report(executed):
    notebook, out_dir = executed
    report_dir = out_dir / "report"
    for name in REPORT_FILES:
        assert (report_dir / name).stat().st_size > 0, name
    assert (out_dir / "prodcat.json").exists()
    metrics = json.loads((report_dir / "metrics.json").read_text())["metrics"]
    shown = WEIGHTED_F1.search(text_outputs(cell_by_id(notebook, "train")))
    assert shown, "the train cell must print the test split's weighted F1"
    assert float(shown.group(1)) == pytest.approx(metrics["weighted_f1"], abs=1e-4)
    assert metrics["rows"] < 800 * 0.2  # the 800-row subset was used, not the whole file
    again = re.search(r"test split, reloaded model \(the evaluated model\): weighted F1 ([01]\.\d{4})", text_outputs(cell_by_id(notebook, "evaluate")))
    assert again and float(again.group(1)) == pytest.approx(metrics["weighted_f1"], abs=1e-4)  # without the refit: the same model
    assert (out_dir.with_name("model-sample-report") / "metrics.json").exists()


def test_notebook_inspects_the_subset_it_trains_on(executed):
    notebook, _ = executed
    shown = text_outputs(cell_by_id(notebook, "inspect"))
    assert re.search(r"^rows\s+800$", shown, flags=re.MULTILINE)
    assert re.search(r"^exact duplicate rows\s+\d+$", shown, flags=re.MULTILINE)
    counts = re.findall(r"^(?:Books|Clothing & Accessories|Electronics|Household)\s+(\d+)$", shown, flags=re.MULTILINE)
    assert len(counts) == 4 and sum(map(int, counts)) == 800
    split = text_outputs(cell_by_id(notebook, "split"))
    assert re.search(r"^test_rows_with_exact_duplicate_in_train\s+0$", split, flags=re.MULTILINE)


def test_notebook_shows_the_plots_and_top3_predictions(executed):
    notebook, _ = executed
    images = [out for out in cell_by_id(notebook, "plots").outputs if "image/png" in out.get("data", {})]
    assert len(images) == 4
    predictions = text_outputs(cell_by_id(notebook, "predict"))
    assert "needs review" in predictions and "empty text" in predictions
    assert re.search(r"(Books|Clothing & Accessories|Electronics|Household) 0\.\d\d, \w", predictions)
