"""Batch prediction on Dask (``--engine dask``, ``prodcat.distributed``) and the Spark recipe."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import NORMALIZED, TINY_LINEAR, run_cli
from prodcat.batch import predict_file
from prodcat.categorizer import Categorizer

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install 'prodcat[dask]')")

from prodcat import distributed  # noqa: E402



@pytest.fixture(scope="module")
def linear_model_dir(tmp_path_factory):
    """A tiny linear model (calibrated, with a review threshold), saved without a report."""
    frame = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False).sample(1500, random_state=1)
    texts, labels = frame[1].tolist(), frame[0].tolist()
    categorizer = Categorizer("linear", params=TINY_LINEAR).fit(texts[:1200], labels[:1200], validation=(texts[1200:], labels[1200:]))
    return categorizer.save(tmp_path_factory.mktemp("models") / "linear")


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    """600 real texts with ids, an empty text and a quoted multi-line one."""
    texts = pd.read_csv(NORMALIZED, header=None, dtype=str, keep_default_na=False)[1].iloc[::14].head(598).tolist()
    texts[10:10] = ['wireless "noise cancelling" headphones,\nblack', ""]
    return pd.DataFrame({"id": range(len(texts)), "title": texts})


def write_parts(catalog: pd.DataFrame, folder, parts: int, suffix: str = ".parquet") -> None:
    folder.mkdir()
    for i, part in enumerate(range(0, len(catalog), -(-len(catalog) // parts))):
        chunk = catalog.iloc[part : part + -(-len(catalog) // parts)]
        if suffix == ".parquet":
            chunk.to_parquet(folder / f"part-{i:02d}.parquet", index=False)
        else:
            chunk.to_csv(folder / f"part-{i:02d}.csv", index=False)


def single_process(model_dir, catalog: pd.DataFrame, tmp_path, top_k: int = 2) -> pd.DataFrame:
    """What ``batch.predict_file`` writes for the whole catalog in one process."""
    source, target = tmp_path / "whole.parquet", tmp_path / "single.parquet"
    catalog.to_parquet(source, index=False)
    predict_file(Categorizer.load(model_dir), source, target, text_cols="title", top_k=top_k)
    return pd.read_parquet(target)


def single_process_cli(capsys, tmp_path, *args) -> pd.DataFrame:
    """What ``prodcat predict ARGS`` writes for the whole catalog with the one-process engine."""
    target = tmp_path / "single-cli.parquet"
    code, _, err = run_cli(capsys, "predict", *args, "--output", target, "--engine", "local", "-q")
    assert code == 0, err
    return pd.read_parquet(target)


def assert_same_rows(result: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(result) == len(expected)
    assert result["id"].astype(int).tolist() == expected["id"].astype(int).tolist()
    assert result["title"].fillna("").tolist() == expected["title"].fillna("").tolist()
    added = [c for c in expected.columns if c not in ("id", "title")]
    assert list(result.columns) == ["id", "title", *added]
    for column in added:
        got, want = result[column].astype(object).where(result[column].notna(), None), expected[column].astype(object).where(expected[column].notna(), None)
        if expected[column].dtype.kind == "f":
            assert pd.Series(got, dtype="float64").round(9).equals(pd.Series(want, dtype="float64").round(9)), column
        else:
            assert got.tolist() == want.tolist(), column


def test_cli_dask_engine_matches_single_process_in_order(capsys, linear_model_dir, catalog, tmp_path):
    write_parts(catalog, tmp_path / "in", parts=4)
    catalog.to_parquet(tmp_path / "whole.parquet", index=False)
    target, options = tmp_path / "out", ["-m", linear_model_dir, "--text-col", "title", "--top-k", "2"]
    code, out, err = run_cli(capsys, "predict", *options, "--input", tmp_path / "in" / "*.parquet", "--output", target,
                             "--engine", "dask", "--workers", "2")
    assert code == 0, err
    assert "dashboard" in err and "100% Completed" in out and f"wrote {len(catalog)} rows to {target}" in out
    names = sorted(p.name for p in target.iterdir())
    assert names[0] == "_SUCCESS" and len(names) >= 5 and all(n.startswith("part-") for n in names[1:])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    assert_same_rows(pd.read_parquet(target), single_process_cli(capsys, tmp_path, *options, "--input", tmp_path / "whole.parquet"))


def test_csv_parts_to_csv_parts_and_existing_output(capsys, linear_model_dir, catalog, tmp_path):
    write_parts(catalog, tmp_path / "in", parts=3, suffix=".csv")
    catalog.to_csv(tmp_path / "whole.csv", index=False)
    target = tmp_path / "out"
    args = ["predict", "-m", linear_model_dir, "--input", tmp_path / "in", "--output", target, "--engine", "dask",
            "--prefix", "p_", "--workers", "1", "--output-format", "csv", "--top-k", "2", "-q"]
    assert run_cli(capsys, *args)[0] == 0
    assert run_cli(capsys, *args)[0] == 0  # an earlier output (with _SUCCESS) is replaced
    parts = sorted(target.glob("part-*.csv"))
    result = pd.concat([pd.read_csv(p, dtype={"title": str}, keep_default_na=False, na_values=[""]) for p in parts], ignore_index=True)
    assert "p_category" in result.columns  # --prefix names the columns on Dask as in one process
    assert_same_rows(result, single_process_cli(capsys, tmp_path, "-m", linear_model_dir, "--top-k", "2", "--prefix", "p_", "--input", tmp_path / "whole.csv"))

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, *args[:6], tmp_path / "other", *args[7:])
    assert code == 2 and "other files in it" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    code, _, err = run_cli(capsys, *args[:-5], "--output-format", "jsonl")
    assert code == 2 and "--output-format 'jsonl' is not supported with --engine dask" in err


def test_without_dask_the_engine_says_what_to_install(capsys, linear_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the dask extra were not installed
    code, _, err = run_cli(capsys, "predict", "-m", linear_model_dir, "--input", tmp_path / "*.parquet", "--output", tmp_path / "out",
                           "--engine", "dask")
    assert code == 2 and "pip install 'prodcat[dask]'" in err and len(err.strip().splitlines()) == 1


def test_a_killed_worker_is_replaced_and_the_output_is_complete(linear_model_dir, catalog, tmp_path):
    write_parts(catalog, tmp_path / "in", parts=12)
    client = distributed.local_client(workers=2)
    try:
        pids = client.run(os.getpid)
        predictions = distributed.predict_dask(distributed.read_dataset(tmp_path / "in" / "*.parquet"), linear_model_dir,
                                               text_cols="title", top_k=2)
        task = predictions.to_parquet(tmp_path / "out", name_function=lambda i: f"part-{i:05d}.parquet", write_index=False, compute=False)
        future = client.compute(task)
        victim = _first_busy_worker(client)
        assert not future.done(), "the run ended before a worker could be killed; use more partitions"
        os.kill(pids[victim], signal.SIGKILL)
        future.result(timeout=120)
        assert set(client.run(os.getpid).values()) != set(pids.values())  # the nanny started a new worker process
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert_same_rows(pd.read_parquet(tmp_path / "out"), single_process(linear_model_dir, catalog, tmp_path))


def _first_busy_worker(client, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [worker for worker, tasks in client.processing().items() if tasks]
        if busy:
            return busy[0]
        time.sleep(0.005)
    raise AssertionError("no worker started a task")


def _java_available() -> bool:
    try:
        return subprocess.run(["java", "-version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_spark_map_in_pandas_recipe_matches_single_process(linear_model_dir, catalog, tmp_path, monkeypatch):
    pytest.importorskip("pyspark", reason="pyspark is not installed (the Spark recipe's test runs where it is)")
    if not _java_available():
        pytest.skip("no Java runtime (Spark needs one, e.g. Debian's default-jre-headless)")
    from pyspark.sql import SparkSession

    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)  # the executors' Python: one with prodcat installed
    spark = SparkSession.builder.master("local[2]").appName("prodcat-test").config("spark.ui.enabled", "false").getOrCreate()
    try:
        frame = spark.createDataFrame(catalog.astype({"id": "int64"})).repartition(3, "id")
        schema = distributed.spark_schema(frame.schema, linear_model_dir, text_cols="title", top_k=2)
        result = frame.mapInPandas(distributed.spark_predict_udf(linear_model_dir, text_cols="title", top_k=2), schema=schema)
        rows = result.toPandas().sort_values("id", ignore_index=True)
    finally:
        spark.stop()
    assert_same_rows(rows, single_process(linear_model_dir, catalog, tmp_path))
