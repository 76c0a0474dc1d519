"""``prodcat predict``: texts on the command line, and whole files with --input/--output."""

from __future__ import annotations

import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import NORMALIZED, ROOT, run_cli
from prodcat.categorizer import EMPTY_TEXT_REASON, Categorizer


def write_catalog(path, rows: int = 30) -> pd.DataFrame:
    """Real texts with ids, a quoted multi-line text and an empty one."""
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1].head(rows - 2).tolist()
    texts[5:5] = ['wireless "noise cancelling" headphones,\nblack', ""]
    frame = pd.DataFrame({"id": [str(i) for i in range(rows)], "title": texts})
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False)
    return frame


def values(column: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in column]


def files_in(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_single_text_mode_still_works(capsys, linear_model_dir):
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, "sony wireless headphones", "", "-k", "2")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split("\t")[0] in Categorizer.load(linear_model_dir).labels
    assert lines[1].startswith("  ") and lines[2] == f"(no category)\t{EMPTY_TEXT_REASON}"
    code, out, _ = run_cli(capsys, "predict", "--model", linear_model_dir, "--json", "cotton kurta")
    assert code == 0 and json.loads(out)["text"] == "cotton kurta"


def test_csv_to_parquet_with_top_k_and_small_chunks(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.csv", tmp_path / "out" / "predictions.parquet"
    frame = write_catalog(source)
    code, out, err = run_cli(
        capsys, "predict", "-m", linear_model_dir, "--input", source, "--output", target, "--top-k", "3", "--chunk-rows", "7"
    )
    assert code == 0, err
    result = pq.read_table(target).to_pandas()
    categorizer = Categorizer.load(linear_model_dir)
    expected = categorizer.categorize(frame["title"].tolist(), top_k=3)
    assert result["id"].tolist() == frame["id"].tolist()
    assert result["title"].tolist() == frame["title"].tolist()
    assert values(result["predicted_category"]) == [p.category for p in expected]
    assert values(result["predicted_category_3"]) == [p.top_k[2][0] if p.top_k else None for p in expected]
    assert "predicted_category_4" not in result.columns  # --top-k 3: three categories in all
    assert values(result["predicted_reason"]) == [p.reason for p in expected]
    assert f"wrote {len(frame)} rows to {target}, 1 without usable text" in out and "rows/s)" in out
    assert "rows/s" not in err  # not a terminal: no progress frames on stderr


def test_jsonl_to_csv_with_keep_and_quiet(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.jsonl", tmp_path / "predictions.csv"
    frame = write_catalog(source)
    code, _, err = run_cli(
        capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--keep", "id", "--chunk-rows", "7", "--quiet"
    )
    assert code == 0 and err == ""
    result = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(result.columns[:3]) == ["id", "predicted_category", "predicted_confidence"]
    assert "title" not in result.columns and result.columns[-1] == "predicted_reason"
    assert result["id"].tolist() == frame["id"].tolist()


def test_formats_can_be_given_explicitly(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.txt", tmp_path / "predictions.out"
    frame = write_catalog(tmp_path / "catalog.csv")
    (tmp_path / "catalog.csv").rename(source)
    args = ["predict", "-m", linear_model_dir, "-i", source, "-o", target, "-q"]
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and "pass --output-format" in err
    code, _, err = run_cli(capsys, *args, "--output-format", "tsv")
    assert code == 2 and "pass --format" in err
    code, _, err = run_cli(capsys, *args, "--format", "csv", "--output-format", "tsv", "--text-col", "title")
    assert code == 0, err
    assert pd.read_csv(target, sep="\t", dtype=str)["id"].tolist() == frame["id"].tolist()


def test_non_utf8_input_is_one_line_exit_2_and_no_output(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.csv", tmp_path / "predictions.csv"
    write_catalog(source)
    source.write_bytes(source.read_bytes() + b"30,caf\xe9 cr\xe8me\n")
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--chunk-rows", "7", "-q")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "not valid utf-8" in err and "--encoding" in err
    assert files_in(tmp_path) == ["catalog.csv"]


def test_missing_text_column_is_a_clear_error(capsys, linear_model_dir, tmp_path):
    source = tmp_path / "catalog.csv"
    write_catalog(source)
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", tmp_path / "p.csv", "--text-col", "name")
    assert code == 2 and "--text-col 'name' is not a column; the columns are 'id', 'title'" in err
    assert files_in(tmp_path) == ["catalog.csv"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["text", "--input", "x.csv", "--output", "y.csv"], "not both"),
        (["--input", "x.csv"], "needs both --input FILE and --output FILE"),
        (["--input", "x.csv", "--output", "y.csv", "--json"], "--json is for texts"),
        ([], "no text given"),
    ],
)
def test_mode_mistakes_are_explained(capsys, linear_model_dir, args, message):
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, *args)
    assert code == 2 and message in err


def _big_prediction_run(model_dir, tmp_path):
    """A catalog of about 25,000 rows, its output path, and the ``prodcat predict`` command between them."""
    source, target = tmp_path / "big.csv", tmp_path / "predictions.csv"
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1]
    big = pd.concat([texts] * 3, ignore_index=True)
    pd.DataFrame({"id": range(len(big)), "text": big}).to_csv(source, index=False)
    command = [sys.executable, "-m", "prodcat", "predict", "-m", str(model_dir), "-i", str(source), "-o", str(target),
               "--chunk-rows", "500", "-q"]
    return source, target, command


def _partial_output_has_rows(folder) -> bool:
    """Whether the run's partial output file exists and holds some rows."""
    try:
        return any(part.stat().st_size > 0 for part in folder.glob(".predictions.csv.*.part"))
    except FileNotFoundError:  # renamed or removed between the listing and the stat
        return False


def test_ctrl_c_leaves_no_output_and_no_temp_file(linear_model_dir, tmp_path):
    source, target, command = _big_prediction_run(linear_model_dir, tmp_path)
    child = subprocess.Popen(  # a shell's background job ignores SIGINT; a terminal's Ctrl-C does not
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60  # interrupted once it has written rows, not after a fixed wait it may outrun
    while not _partial_output_has_rows(tmp_path) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "prodcat predict ended before it was interrupted; make the file bigger"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert f"interrupted: {target} was not written" in err
    assert files_in(tmp_path) == ["big.csv"]
    assert os.stat(source).st_size > 0


# -- headerless files, rows in = rows out ------------------------------------------------------
def test_a_headerless_file_of_titles_loses_no_row(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "titles.csv", tmp_path / "out.csv"
    source.write_text("usb cable\nsony headphones\ncotton kurta\nharry potter book\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "-q")
    assert code == 0, err
    assert pd.read_csv(target, dtype=str)["0"].tolist() == ["usb cable", "sony headphones", "cotton kurta", "harry potter book"]
    assert "treating row 1 as data, not a header: usb cable; pass --header if it is a header" in err
    assert f"read 4 rows from {source}; wrote 4 rows to {target}" in out


def test_a_headerless_id_title_file_with_text_col_loses_no_row(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "ids.csv", tmp_path / "out.jsonl"
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1].str.slice(0, 30)
    pd.DataFrame({"id": range(1000), "title": texts[:1000]}).to_csv(source, header=False, index=False)
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--text-col", "1", "-q")
    assert code == 0, err
    assert [row["0"] for row in map(json.loads, target.read_text(encoding="utf-8").splitlines())] == [str(i) for i in range(1000)]
    assert "treating row 1 as data" in err and "read 1,000 rows from" in out and "wrote 1,000 rows to" in out
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "--text-col", "1", "--header", "-q")
    assert code == 0 and "treating row 1" not in err and "read 999 rows after the header row" in out



def test_blank_lines_are_rows_without_text_so_that_rows_stay_in_line(capsys, linear_model_dir, tmp_path):
    """A pasted list of titles with gaps: each line keeps its place in the output, a blank one with a reason."""
    source, target = tmp_path / "pasted.csv", tmp_path / "out.csv"
    source.write_text("\n\nusb cable\n\n   \ncotton kurta\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target)
    assert code == 0, err
    result = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert result["0"].tolist() == ["usb cable", "", "   ", "cotton kurta"]
    assert result["predicted_reason"].tolist() == ["", EMPTY_TEXT_REASON, EMPTY_TEXT_REASON, ""]
    assert f"skipping 2 blank line(s) at the top of {source}" in err
    assert f"read 4 rows from {source}; wrote 4 rows to {target}, 2 without usable text" in out
    with_header = tmp_path / "with_header.csv"
    with_header.write_text("\ntitle,id\nusb cable,1\n\ncotton kurta,3\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", with_header, "-o", target, "-q", "--text-col", "title")
    assert code == 0, err
    assert pd.read_csv(target, dtype=str, keep_default_na=False)["id"].tolist() == ["1", "", "3"]

# -- where the output goes ---------------------------------------------------------------------
def test_output_paths_that_cannot_be_files_are_one_line_exit_2(capsys, linear_model_dir, tmp_path, monkeypatch):
    source = tmp_path / "catalog.csv"
    write_catalog(source)
    (tmp_path / "folder").mkdir()
    for output, message in [
        (tmp_path / "folder", "is a directory; give a file name for --output"),
        (source / "out.csv", f"{source} is a file, not a directory"),
        ("/dev/full", "/dev/full: cannot write (No space left on device); not every row was written"),
        (tmp_path / "plain" / "sub" / "out.csv", None),
    ]:
        if message is None:  # the directory is read-only (as root, permissions do not stop writes: fake it)
            import tempfile

            def read_only(*args, **kwargs):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "mkstemp", read_only)
            message = "cannot write in"
        code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", output, "--header", "-q")
        assert code == 2 and out == "", err
        assert err.startswith("error: ") and err.count("\n") == 1 and message in err and "unexpected" not in err


def test_a_symlinked_output_stays_a_link_to_the_file_written(capsys, linear_model_dir, tmp_path):
    source, real, link = tmp_path / "catalog.csv", tmp_path / "real.csv", tmp_path / "link.csv"
    frame = write_catalog(source)
    link.symlink_to(real)
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", link, "-q")
    assert code == 0, err
    assert link.is_symlink() and pd.read_csv(real, dtype=str)["id"].tolist() == frame["id"].tolist()


def test_a_named_pipe_output_is_written_not_replaced(capsys, linear_model_dir, tmp_path):
    import threading

    source, pipe = tmp_path / "catalog.csv", tmp_path / "pipe.csv"
    frame = write_catalog(source)
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(open(pipe, encoding="utf-8").read()), daemon=True)
    reader.start()
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", pipe, "-q")
    reader.join(timeout=30)
    assert code == 0, err
    assert os.path.exists(pipe) and not os.path.isfile(pipe)  # still the pipe, not a regular file put in its place
    from io import StringIO

    assert received and pd.read_csv(StringIO(received[0]), dtype=str)["id"].tolist() == frame["id"].tolist()
    assert files_in(tmp_path) == ["catalog.csv", "pipe.csv"]


def test_stdin_to_stdout(linear_model_dir, tmp_path):
    source = tmp_path / "catalog.csv"
    frame = write_catalog(source)
    command = [sys.executable, "-m", "prodcat", "predict", "-m", str(linear_model_dir), "-i", "-", "-o", "-", "-q"]
    with open(source, "rb") as stdin:
        done = subprocess.run(command, cwd=ROOT, stdin=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    from io import StringIO

    result = pd.read_csv(StringIO(done.stdout), dtype=str, keep_default_na=False)
    assert result["id"].tolist() == frame["id"].tolist() and "predicted_category" in result.columns
    assert f"read {len(frame)} rows after the header row from stdin; wrote {len(frame)} rows to stdout" in done.stderr
    assert files_in(tmp_path) == ["catalog.csv"]


# -- interrupted runs --------------------------------------------------------------------------
def test_sigterm_leaves_no_output_and_no_temp_file_exit_143(linear_model_dir, tmp_path):
    source, target, command = _big_prediction_run(linear_model_dir, tmp_path)
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".predictions.csv.*.part")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "prodcat predict ended before it was terminated; make the file bigger"
    child.terminate()
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert f"terminated: {target} was not written" in err
    assert files_in(tmp_path) == ["big.csv"]


def test_a_partial_file_left_by_a_killed_run_is_removed_by_the_next(capsys, linear_model_dir, tmp_path):
    source, target = tmp_path / "catalog.csv", tmp_path / "predictions.csv"
    write_catalog(source)
    from prodcat.batch import partial_prefix

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / partial_prefix(target).replace(f"-{os.getpid()}.", f"-{dead.pid}.k1ll3d.part")
    stale.write_text("id,title,category\n0,half a row", encoding="utf-8")
    unknown = tmp_path / ".predictions.csv.abc123.part"  # no process id in the name: reported, left alone
    unknown.write_text("id,title", encoding="utf-8")
    elsewhere = tmp_path / f".predictions.csv.otherhost-{dead.pid}.xyz789.part"  # another machine's run
    elsewhere.write_text("id,title", encoding="utf-8")
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", target, "-q")
    assert code == 0, err
    assert f"removed {stale}, a partial output left by an interrupted run" in err
    assert f"found {unknown}, probably a partial output left by an interrupted run" in err
    assert f"found {elsewhere}, probably a partial output left by a run on otherhost" in err
    assert files_in(tmp_path) == [unknown.name, elsewhere.name, "catalog.csv", "predictions.csv"]


# -- labels: missing values are skipped, paths only from the options ---------------------------
def test_train_skips_missing_labels_and_a_label_with_an_arrow_stays_flat(capsys, tmp_path):
    from conftest import TINY_LINEAR

    frame = pd.read_csv(NORMALIZED, header=None, names=["category", "title"], dtype=str, keep_default_na=False)
    frame = frame.groupby("category").head(60).reset_index(drop=True)
    frame.loc[frame["category"] == "Books", "category"] = "Books > Fiction"  # a name with an arrow, one column
    missing = pd.DataFrame({"category": ["NaN", "null", "None", ""] * 3, "title": frame["title"].head(12).tolist()})
    catalog, model = tmp_path / "catalog.csv", tmp_path / "model"
    pd.concat([frame, missing]).to_csv(catalog, index=False)
    code, out, err = run_cli(
        capsys, "train", catalog, "--family", "linear", "--out", model, "--param", f"char_ngrams={','.join(map(str, TINY_LINEAR['char_ngrams']))}",
        "--param", "max_features=50000",
    )
    assert code == 0, err
    assert "12 empty label" in out
    labels = Categorizer.load(model).labels
    assert "Books > Fiction" in labels and not {"NaN", "null", "None", ""} & set(labels)
    assert json.loads((model / "prodcat.json").read_text(encoding="utf-8"))["label_paths"] is False
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    write_catalog(source, rows=10)
    code, _, err = run_cli(capsys, "predict", "-m", model, "-i", source, "-o", target, "-q")
    assert code == 0, err
    assert not [c for c in pd.read_csv(target, dtype=str).columns if c.endswith("depth")]  # a flat model: no tree columns


def test_a_read_only_directory_is_one_line_exit_2(capsys, linear_model_dir, tmp_path):
    source, locked = tmp_path / "catalog.csv", tmp_path / "locked"
    write_catalog(source)
    if os.geteuid() == 0:  # root writes into a 0555 directory; not into sysfs, which refuses even root
        locked = Path("/sys")
    else:
        locked.mkdir()
        locked.chmod(0o555)
    try:
        code, out, err = run_cli(capsys, "predict", "-m", linear_model_dir, "-i", source, "-o", locked / "out.csv", "--header", "-q")
    finally:
        if locked != Path("/sys"):
            locked.chmod(0o755)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"cannot write in {locked} (Permission denied); choose another --output" in err
