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
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="How many categories to show (or write) per product, best first.")] = 1,
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
    prefix: Annotated[str, typer.Option("--prefix", help="Start of the names of the prediction columns in --output.")] = "predicted_",
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

            predict_dataset(resolve_model(model), str(input), output, top_k, text_col, fmt, header, encoding, output_format, keep, quiet, scheduler, workers, prefix)
            return
        if scheduler or workers:
            raise DataError("--scheduler and --workers are for --engine dask")
        _predict_file(resolve_model(model), input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet, prefix)
        return
    if not texts:
        raise DataError("no text given; write: prodcat predict --model DIR \"product title and description\" (or --input FILE --output FILE)")
    _predict_texts(resolve_model(model), texts, top_k, as_json, explain)


def _predict_texts(model: Path, texts: list[str], top_k: int, as_json: bool, explain: bool = False) -> None:
    import json

    from prodcat.categorizer import Categorizer

    categorizer = Categorizer.load(model)
    for text, prediction in zip(texts, categorizer.categorize(texts, top_k=top_k)):
        explanation = categorizer.explain(text, top=EXPLAINED_TERMS) if explain and prediction.category is not None else None
        if as_json:
            extra = {"explanation": explanation.to_dict()} if explanation is not None else {}
            typer.echo(json.dumps({"text": text, **prediction.to_dict(), **extra}, ensure_ascii=False))
            continue
        if prediction.category is None:
            typer.echo(f"(no category)\t{prediction.reason}")
            continue
        if prediction.path:
            _print_path(prediction, categorizer.level_thresholds_)
        else:
            review = "\tneeds review" if prediction.needs_review else ""
            typer.echo(f"{prediction.category}\t{prediction.confidence:.4f}{review}")
        for category, confidence in prediction.top_k[1:]:
            typer.echo(f"  {category}\t{confidence:.4f}")
        if explanation is not None:
            _print_explanation(explanation)


def _print_path(prediction, thresholds: list[float] | None) -> None:
    """The decoded path down to a leaf and its confidence, then one line per level with that level's
    confidence and whether the prediction backed off above it (below the level's threshold)."""
    from prodcat.data.reading import PATH_SEPARATOR

    depth, levels = prediction.depth, len(prediction.path)
    review = ""
    if prediction.needs_review:
        review = "\tneeds review: " + (f"confident down to level {depth} of {levels}" if depth else "no level is confident enough")
    typer.echo(f"{prediction.path[-1]}\t{prediction.path_confidence[-1]:.4f}{review}")
    for level, (node, confidence) in enumerate(zip(prediction.path, prediction.path_confidence)):
        threshold = f" (threshold {thresholds[level]:.4f})" if thresholds and level < len(thresholds) else ""
        state = "" if level < depth else f"\tbacked off{threshold}"
        typer.echo(f"  level {level + 1}: {node.split(PATH_SEPARATOR)[-1]}\t{confidence:.4f}{state}")


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


def _predict_file(model, input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet, prefix="predicted_") -> None:
    import signal

    to_stdout = str(output) == "-"
    streamed = to_stdout or (output.exists() and not output.is_file())  # the summary must not go into the data
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with _input_file(input, fmt) as (source, fmt):
            summary = _run_batch(model, source, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet, prefix)
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
    if summary.get("labelled_rows"):
        accuracy = summary["correct"] / summary["labelled_rows"]
        unknown = f"; {summary['rows_with_unknown_labels']:,} of them with labels the model does not know" if summary["rows_with_unknown_labels"] else ""
        typer.echo(f"accuracy on the input's label column {summary['label_column']}: {accuracy:.4f} "
                   f"({summary['labelled_rows']:,} rows with a label{unknown})", err=streamed)


def _run_batch(model, input, output, top_k, text_col, fmt, header, encoding, output_format, keep, chunk_rows, quiet, prefix="predicted_") -> dict:
    from prodcat.batch import predict_file
    from prodcat.categorizer import Categorizer

    categorizer = Categorizer.load(model)
    with _progress_bar(quiet, input, fmt) as (advance, notify):
        return predict_file(
            categorizer, input, output, text_cols=text_col, fmt=fmt, header=header, encoding=encoding,
            output_fmt=output_format, keep=keep, top_k=top_k, chunk_rows=chunk_rows, progress=advance,
            notify=notify, prefix=prefix,
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


def _progress_bar(quiet: bool, input: Path | None = None, fmt: str | None = None):
    """A rich progress bar on stderr, only on a terminal: rows done of about how many the file holds,
    the mean rate since the start and the time; erased when done or on an error (the summary or the
    error line follows). Yields the function that advances it by n rows, and the one that prints a
    line on stderr above it."""
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.completed / task.elapsed if task.elapsed else 0:,.0f} rows/s")

    console = Console(stderr=True)

    @contextmanager
    def bar():
        if quiet or not console.is_terminal:
            yield (lambda rows: None), (lambda line: typer.echo(line, err=True))
            return
        total = _estimated_rows(input, fmt)
        of = " of about {task.total:,.0f}" if total else ""
        columns = (SpinnerColumn(), BarColumn(), TextColumn("{task.completed:,.0f}" + of + " rows"), RowsPerSecond(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("predict", total=total)

            def advance(rows: int) -> None:
                done = progress.tasks[0].completed + rows  # a file of multi-line fields has fewer rows than lines
                progress.update(task, advance=rows, total=max(total, done) if total else None)

            yield advance, lambda line: progress.console.print(line, markup=False, highlight=False, soft_wrap=True)

    return bar()


def _estimated_rows(input: Path | None, fmt: str | None) -> int | None:
    """The rows of a Parquet file (from its metadata), or the lines of a text file (an upper bound:
    a quoted field may span lines); None when it cannot be told cheaply."""
    if input is None or not Path(input).is_file():
        return None
    try:
        if (fmt or Path(input).suffix.lstrip(".")).lower() == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(input).metadata.num_rows
        with open(input, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b"")) or None
    except (OSError, ValueError):
        return None
