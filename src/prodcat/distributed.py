"""Batch prediction on Dask (and a Spark ``mapInPandas`` recipe): catalogs larger than one machine.

Each partition is categorized by ``batch.predict_frame``; the model is loaded once per worker
process, from a path every worker can read, and kept in a per-process cache keyed by that path, so
no task ever carries a pickled model. Partitions keep their order and every input column (ids
included). Needs the ``dask`` extra (``pip install 'prodcat[dask]'``); Spark needs ``pyspark``.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from prodcat.categorizer import Categorizer
from prodcat.data.reading import detect_format, without_byte_order_mark
from prodcat.errors import DataError
from prodcat.files import usual_mode

SUCCESS_MARKER = "_SUCCESS"
OUTPUT_FORMATS = ("parquet", "csv")
_loaded: dict[str, Categorizer] = {}  # this process's models, by path: loaded once per worker


def cached_categorizer(model_path: str) -> Categorizer:
    """The categorizer saved at ``model_path``, loaded on the first call in this process only."""
    if model_path not in _loaded:
        _loaded[model_path] = Categorizer.load(model_path)
    return _loaded[model_path]


def predict_partition(frame: pd.DataFrame, model_path: str, text_cols=None, top_k: int = 1, prefix: str = "predicted_") -> pd.DataFrame:
    """``frame``'s columns and the prediction columns, with ``frame``'s index (one partition's work)."""
    table = predict_frame_cached(frame, model_path, text_cols, top_k, prefix)
    _as_strings(table, list(table.columns[len(frame.columns) :]))
    table.index = frame.index
    return table


def predict_frame_cached(frame: pd.DataFrame, model_path: str, text_cols=None, top_k: int = 1, prefix: str = "predicted_") -> pd.DataFrame:
    from prodcat.batch import predict_frame

    return predict_frame(cached_categorizer(model_path), frame, text_cols, top_k=top_k, prefix=prefix)


def _as_strings(table: pd.DataFrame, added: list[str]) -> None:
    """Text prediction columns as strings and the review flag as booleans, so that a partition
    without a single category (all empty) has the same schema as the others."""
    for column in added:
        if column.endswith("needs_review"):
            table[column] = table[column].astype("boolean")
        elif table[column].dtype == object:
            table[column] = table[column].astype("string")


def predict_dask(ddf, model_path: str | Path, *, text_cols: Sequence[str | int] | str | None = None, top_k: int = 1,
                 prefix: str = "predicted_"):
    """A lazy Dask DataFrame: ``ddf``'s columns followed by the prediction columns, partition by partition.

    ``model_path`` must be readable at the same path on every worker (a shared disk, or the same
    files copied to each machine). ``text_cols``, ``top_k`` and ``prefix`` are those of ``batch.predict_frame``.
    """
    model_path = str(Path(model_path).absolute())
    meta = _output_meta(ddf._meta, model_path, text_cols, top_k, prefix)  # also checks the model and the columns here
    return ddf.map_partitions(predict_partition, model_path, text_cols, top_k, prefix, meta=meta, align_dataframes=False)


def _output_meta(meta: pd.DataFrame, model_path: str, text_cols, top_k: int, prefix: str) -> pd.DataFrame:
    """The empty frame of ``predict_partition``'s output: the prediction columns' types come from a
    one-row sample (no rows at all leave their types to chance)."""
    sample = predict_partition(meta.reindex(index=[0]), model_path, text_cols, top_k, prefix)
    inputs = meta.copy()
    inputs.columns = [str(c) for c in inputs.columns]
    return pd.concat([inputs, sample.iloc[:0, len(meta.columns) :]], axis=1)


def read_dataset(pattern: str | Path, *, fmt: str | None = None, header: bool | None = None, encoding: str = "utf-8"):
    """A Dask DataFrame of every file ``pattern`` (a glob, a file or a folder; or a URL such as
    ``s3://bucket/catalog/*.parquet``) names; all columns as read.

    CSV and JSON Lines files are one partition each (a quoted CSV field may span lines); Parquet
    files are split as Dask chooses. CSV files have a header row unless ``header=False``.
    """
    import dask.dataframe as dd

    files = _input_files(str(pattern))
    fmt, encoding = detect_format(files[0], fmt), without_byte_order_mark(encoding)
    if fmt == "parquet":
        return dd.read_parquet(files)
    if fmt in ("csv", "tsv"):
        return dd.read_csv(files, sep="\t" if fmt == "tsv" else ",", header=None if header is False else 0, dtype=str,
                           keep_default_na=False, na_values=[], encoding=encoding, blocksize=None,
                           skip_blank_lines=False)
    return dd.read_json(files, lines=True, blocksize=None, dtype=False, encoding=encoding)


def _input_files(pattern: str) -> list[str]:
    if "://" in pattern:  # s3://, gs://, ...: listed and read by Dask through fsspec (install its filesystem package)
        return [pattern]
    path = Path(pattern)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")))
    else:
        files = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else ([pattern] if path.exists() else [])
    if not files:
        raise DataError(f"{pattern}: no such file or no file matches; give a file, a folder or a glob such as 'data/*.parquet'")
    return files


def write_dataset(predictions, output: str | Path, *, fmt: str = "parquet", client=None, progress: bool = False) -> Path:
    """Compute ``predictions`` into the folder ``output``: ``part-00000.<fmt>``, ... in row order, and ``_SUCCESS``.

    The folder is written under a temporary sibling name and renamed into place when complete; an
    earlier prodcat output there (one with ``_SUCCESS``) is replaced, any other existing folder is
    an error.
    """
    output = Path(output)
    check_output(output, fmt)
    output.parent.mkdir(parents=True, exist_ok=True)
    part = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent))
    try:
        name = lambda i: f"part-{i:05d}.{fmt}"  # noqa: E731  (zero-padded: file name order is row order)
        if fmt == "parquet":
            task = predictions.to_parquet(part, name_function=name, write_index=False, compute=False)
        else:
            task = predictions.to_csv(str(part / f"part-*.{fmt}"), name_function=lambda i: f"{i:05d}", index=False, compute=False)
        _compute(task, client, progress)
        (part / SUCCESS_MARKER).touch()
        part.chmod(usual_mode(directory=True))
        _replace_folder(part, output)
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return output


def check_output(output: Path, fmt: str = "parquet") -> None:
    """Refuse an output format other than ``OUTPUT_FORMATS``, and an ``output`` that is a file or a
    folder with files other than an earlier prodcat output."""
    if fmt not in OUTPUT_FORMATS:
        raise DataError(f"--output-format {fmt!r} is not supported with --engine dask; use {' or '.join(OUTPUT_FORMATS)}")
    if output.exists() and not output.is_dir():
        raise DataError(f"{output}: is a file; with --engine dask, --output is a folder (one file per partition)")
    if output.is_dir() and any(output.iterdir()) and not (output / SUCCESS_MARKER).exists():
        raise DataError(f"{output}: is a folder with other files in it; give a new or empty folder as --output")


def _compute(task, client, progress: bool) -> None:
    if client is None:
        import dask

        dask.compute(task)
        return
    futures = client.compute(task)  # one future (Parquet) or a list of them (CSV)
    if progress:
        from distributed import progress as progress_bar

        progress_bar(futures)
    client.gather(futures)


def _replace_folder(part: Path, output: Path) -> None:
    old = None
    if output.exists():
        old = output.with_name(f".{output.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(output, old)
    os.replace(part, output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)



def local_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client of the cluster at ``scheduler``, or of a new local cluster with ``workers``
    single-threaded worker processes (default: one per core)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except OSError as exc:
            raise DataError(f"--scheduler {scheduler}: cannot connect ({exc}); check the address and that the scheduler runs") from None
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster)


def spark_predict_udf(model_path: str | Path, *, text_cols: Sequence[str | int] | str | None = None, top_k: int = 1):
    """A function for Spark's ``DataFrame.mapInPandas``: batches of rows in, the same rows with predictions out.

    ``spark_df.mapInPandas(spark_predict_udf("/shared/models/shop"), schema=spark_schema(...))``.
    The model is loaded once per Python worker process, from a path every executor can read.
    """
    model_path = str(Path(model_path).absolute())

    def categorize_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield predict_frame_cached(batch, model_path, text_cols, top_k)

    return categorize_batches


def spark_schema(input_schema, model_path: str | Path, *, text_cols: Sequence[str | int] | str | None = None, top_k: int = 1):
    """The Spark schema of ``spark_predict_udf``'s output: ``input_schema``'s fields and the prediction columns."""
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StringType, StructField, StructType

    empty_row = pd.DataFrame({field.name: [""] for field in input_schema.fields})
    sample = predict_frame_cached(empty_row, str(Path(model_path).absolute()), text_cols, top_k)
    kinds = {"f": DoubleType(), "b": BooleanType(), "i": LongType(), "u": LongType()}
    added = [StructField(c, kinds.get(sample[c].dtype.kind, StringType()), True) for c in sample.columns[len(empty_row.columns) :]]
    return StructType(list(input_schema.fields) + added)
