"""``prodcat predict --engine dask``: a partitioned dataset in, a folder of partitioned predictions out."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer


def predict_dataset(model: Path, input: str, output: Path, top_k: int, text_col, fmt, header, encoding, output_format,
                    keep, quiet: bool, scheduler: str | None, workers: int | None, prefix: str = "predicted_") -> None:
    """Categorize every file ``input`` names on a Dask cluster into the folder ``output``."""
    from prodcat.errors import DataError

    try:
        import dask.dataframe  # noqa: F401
        import distributed as _  # noqa: F401
    except ImportError:
        raise DataError("--engine dask needs Dask; install it with: pip install 'prodcat[dask]'") from None
    from prodcat import distributed

    output_fmt = (output_format or "parquet").lower()
    distributed.check_output(output, output_fmt)  # before starting a cluster
    started = time.perf_counter()
    ddf = distributed.read_dataset(input, fmt=fmt, header=header, encoding=encoding)
    predictions = distributed.predict_dask(ddf, model, text_cols=text_col, top_k=top_k, prefix=prefix)
    if keep:
        from prodcat.data.reading import column_list, find_column

        kept = [str(find_column(Path(input), list(ddf.columns), c, "--keep")) for c in column_list(keep)]
        inputs = {str(c) for c in ddf.columns}
        predictions = predictions[kept + [c for c in predictions.columns if c not in inputs]]
    client = distributed.local_client(workers, scheduler)
    try:
        if not quiet:
            typer.echo(f"dask: {len(client.scheduler_info()['workers'])} workers, dashboard {client.dashboard_link}", err=True)
        distributed.write_dataset(predictions, output, fmt=output_fmt, client=client, progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: {output} was not written", err=True)
        sys.exit(130)
    finally:
        _close(client, own_cluster=scheduler is None)
    seconds = time.perf_counter() - started
    rows = _parquet_rows(output) if output_fmt == "parquet" else None
    counted = f"{rows:,} rows " if rows is not None else ""
    rate = f" ({rows / seconds:,.0f} rows/s)" if rows and seconds else ""
    typer.echo(f"wrote {counted}to {output} ({output_fmt} part files and {distributed.SUCCESS_MARKER}) in {seconds:.1f} s{rate}")


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(part).metadata.num_rows for part in folder.glob("part-*.parquet"))


def _close(client, own_cluster: bool) -> None:
    cluster = client.cluster if own_cluster else None
    client.close()
    if cluster is not None:
        cluster.close()
