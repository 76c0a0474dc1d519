"""``prodcat predict``: categorize texts given on the command line, or a whole file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import resolve_model, Encoding, Format, Header, ModelDir, Quiet, TextCol

DEFAULT_CHUNK_ROWS = 20_000  # the same as prodcat.batch.DEFAULT_CHUNK_ROWS, which loads pandas
EXPLAINED_TERMS = 5  # terms shown on each side by --explain


def predict_command(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Product texts (title and description).", show_default=False)] = None,
    model: ModelDir = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=0, help="Also show the next K categories.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of text.")] = False,
    explain: Annotated[bool, typer.Option("--explain", help=f"Also show the {EXPLAINED_TERMS} words and n-grams that pushed each text most towards its category and towards the runner-up.")] = False,
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Catalog file to categorize row by row (CSV, TSV, JSON Lines, Parquet); - for stdin (CSV unless --format).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="File to write: the input's columns plus the predictions; - for stdout (CSV unless --output-format).", show_default=False)] = None,
    text_col: TextCol = None,
    fmt: Format = None,
    header: Header = None,
    encoding: Encoding = "utf-8",
    output_format: Annotated[Optional[str], typer.Option("--output-format", help="csv, tsv, jsonl or parquet (default: from the extension).")] = None,
    keep: Annotated[Optional[str], typer.Option("--keep", help="Input columns to copy to the output, comma-separated (default: all).")] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Rows read and categorized at a time.")] = DEFAULT_CHUNK_ROWS,
    quiet: Quiet = False,
    engine: Annotated[str, typer.Option("--engine", help="local (one process, streamed) or dask (--input may be a glob or folder of files; --output is a folder of part files with _SUCCESS).")] = "local",
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="Dask: address of a running scheduler, e.g. tcp://HOST:8786 (default: a local cluster).", show_default=False)] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Dask: worker processes of the local cluster (default: one per core).", show_default=False)] = None,
) -> None:
    """Print the category of each TEXT with its probability, or categorize every row of --input into --output."""
    from prodcat.errors import DataError

    if input is not None or output is not None:
        if texts:
            raise DataError("give texts or --input FILE, not both")
        if input is None or output is None:
            raise DataError("file mode needs both --input FILE and --output FILE")
        if as_json:
            raise DataError("--json is for texts on the command line; with --input the format comes from --output (or --output-format)")
        if explain:
            raise DataError("--explain is for texts on the command line, not for --input files")
        if engine not in ("local", "dask"):
            raise DataError(f"--engine {engine!r} is not known; use local or dask")
        if engine == "dask":
            from prodcat.cli.predict_dask import predict_dataset

            predict_dataset(resolve_model(model), str(input), output, top_k + 1, text_col, fmt, header, encoding, output_format, keep, quiet, scheduler, workers)
            return
        if scheduler or workers:
            raise DataError("--scheduler and --workers are for --engine dask")
        _predict_file(resolve_model(model), input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet)
        return
    if not texts:
        raise DataError("no text given; write: prodcat predict --model DIR \"product title and description\" (or --input FILE --output FILE)")
    _predict_texts(resolve_model(model), texts, top_k, as_json, explain)


def _predict_texts(model: Path, texts: list[str], top_k: int, as_json: bool, explain: bool = False) -> None:
    import json

    from prodcat.categorizer import Categorizer

    categorizer = Categorizer.load(model)
    for text, prediction in zip(texts, categorizer.categorize(texts, top_k=top_k + 1)):
        explanation = categorizer.explain(text, top=EXPLAINED_TERMS) if explain and prediction.category is not None else None
        if as_json:
            extra = {"explanation": explanation.to_dict()} if explanation is not None else {}
            typer.echo(json.dumps({"text": text, **prediction.to_dict(), **extra}, ensure_ascii=False))
            continue
        if prediction.category is None:
            typer.echo(f"(no category)\t{prediction.reason}")
            continue
        review = "\tneeds review" if prediction.needs_review else ""
        typer.echo(f"{prediction.category}\t{prediction.confidence:.4f}{review}")
        for category, confidence in prediction.top_k[1:]:
            typer.echo(f"  {category}\t{confidence:.4f}")
        if explanation is not None:
            _print_explanation(explanation)


def _print_explanation(explanation) -> None:
    """The terms for the category (+) and for the runner-up (-), strongest first, indented."""
    e = explanation
    if e.method == "linear":
        what = f"exact contributions to the decision value {e.category} minus {e.runner_up} ({e.margin:+.3f}; intercepts {e.baseline:+.3f}, unlisted terms {e.rest:+.3f})"
    else:
        what = f"how much P({e.category}) minus P({e.runner_up}) ({e.margin:+.3f}) drops without each word"
    typer.echo(f"  why {e.category}, not {e.runner_up}: {what}")
    width = max((len(term) for term, _ in e.supporting + e.opposing), default=0)
    for term, contribution in e.supporting + e.opposing:
        typer.echo(f"    {term:<{width}}  {contribution:+.3f}")
    if not e.supporting and not e.opposing:
        typer.echo("    (no word changes it)")
    if e.untested_words:
        typer.echo(f"    ({e.untested_words} further distinct words not tried)")


class _Terminated(BaseException):
    """SIGTERM (``kill``, ``timeout``, ``docker stop``), raised where the program is, like Ctrl-C."""


def _terminate(signum, frame) -> None:
    raise _Terminated


def _predict_file(model, input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet) -> None:
    import signal

    to_stdout = str(output) == "-"
    streamed = to_stdout or (output.exists() and not output.is_file())  # the summary must not go into the data
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with _input_file(input, fmt) as (source, fmt):
            summary = _run_batch(model, source, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet)
    except (KeyboardInterrupt, _Terminated) as exc:  # exit here: Typer turns KeyboardInterrupt into a return value that main() ignores
        written = "the output is incomplete" if to_stdout else f"{output} was not written"
        typer.echo(f"{'terminated' if isinstance(exc, _Terminated) else 'interrupted'}: {written}", err=True)
        sys.exit(143 if isinstance(exc, _Terminated) else 130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    rate = summary["rows"] / summary["seconds"] if summary["seconds"] else 0.0
    no_text = f", {summary['rows_with_reason']:,} without usable text (see 'reason')" if summary["rows_with_reason"] else ""
    source = "stdin" if str(input) == "-" else summary["input"]
    header_row = " after the header row" if summary["header"] else ""
    typer.echo(
        f"read {summary['rows_in']:,} rows{header_row} from {source}; wrote {summary['rows']:,} rows to "
        f"{'stdout' if to_stdout else summary['output']}{no_text} in {summary['seconds']:.1f} s ({rate:,.0f} rows/s)",
        err=streamed,
    )


def _run_batch(model, input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet) -> dict:
    from prodcat.batch import predict_file
    from prodcat.categorizer import Categorizer

    categorizer = Categorizer.load(model)
    with _progress_bar(quiet) as advance:
        return predict_file(
            categorizer, input, output, text_cols=text_col, fmt=fmt, header=header, encoding=encoding,
            output_fmt=output_format, keep=keep, top_k=top_k + 1, chunk_rows=chunk_rows, progress=advance,
            notify=lambda line: typer.echo(line, err=True),
        )


def _input_file(input: Path, fmt: str | None):
    """``input`` and its format; for ``-``, stdin copied to a temporary file (the reader reads the
    start twice to detect a header), removed afterwards."""
    import shutil
    import tempfile
    from contextlib import contextmanager

    @contextmanager
    def spooled():
        if str(input) != "-":
            yield input, fmt
            return
        with tempfile.TemporaryDirectory(prefix="prodcat-stdin-") as folder:
            path = Path(folder) / f"stdin.{fmt or 'csv'}"
            with open(path, "wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy)
            yield path, fmt or "csv"

    return spooled()


def _progress_bar(quiet: bool):
    """A rich progress display on stderr; yields the function that advances it by n rows."""
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed or 0:,.0f} rows/s")

    @contextmanager
    def bar():
        columns = (SpinnerColumn(), TextColumn("{task.completed:,.0f} rows"), RowsPerSecond(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), disable=quiet) as progress:
            task = progress.add_task("predict", total=None)
            yield lambda rows: progress.advance(task, rows)

    return bar()
