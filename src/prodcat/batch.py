"""Streaming prediction: a catalog file (or a DataFrame, or any iterable of texts) in, one
prediction per row out, in input order, with bounded memory.

``top_k`` follows ``Categorizer.categorize``: the number of best categories per row (1: only the
best). Rows without usable text get no category and a ``reason``; no row is ever dropped. Output
files are written to a temporary sibling (``.NAME.HOST-PID.XXXX.part``) and renamed into place only when
complete; a sibling left by a run that was killed is removed by the next run. An output that is not
a regular file (``-`` for stdout, a device, a pipe) is written directly.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import re
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from prodcat.categorizer import Categorizer, Prediction
from prodcat.data import reading
from prodcat.data.reading import FORMATS, detect_format, iter_catalog_chunks
from prodcat.errors import DataError, ProdcatError
from prodcat.files import usual_mode

DEFAULT_CHUNK_ROWS = 20_000
DEFAULT_BATCH_SIZE = 1024
STDOUT = "-"
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40]


def predict_texts(
    categorizer: Categorizer, texts: Iterable[str], *, top_k: int = 1, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[Prediction]:
    """One ``Prediction`` per text, in order; reads ``texts`` lazily, ``batch_size`` at a time."""
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1; got {batch_size}")
    texts = iter(texts)
    while batch := list(itertools.islice(texts, batch_size)):
        yield from categorizer.categorize(batch, top_k=top_k)


PREFIX = "predicted_"  # of every prediction column, so that none has the name of an input column


def prediction_columns(top_k: int = 1, *, needs_review: bool = True, hierarchical: bool = False, prefix: str = PREFIX) -> list[str]:
    """The columns prediction adds to each row, in order, each name starting with ``prefix``.

    ``category`` and ``confidence``, ``needs_review`` (for a model with a review threshold), then
    ``category_2``/``confidence_2`` up to ``top_k`` categories in total, and ``reason`` (why a row
    has no category). A model of category paths (``hierarchical``) gives ``category`` as the deepest
    node confident enough (empty when not even the top level is, ``depth`` 0), then ``depth``,
    ``path`` (the decoded path down to a leaf), ``path_confidence`` (each level's confidence, joined
    like the path), ``leaf`` and ``leaf_confidence``; its runners-up are full paths (``path_2``).
    """
    columns = ["category", "confidence"] + (["needs_review"] if needs_review else [])
    if hierarchical:
        columns += ["depth", "path", "path_confidence", "leaf", "leaf_confidence"]
    runner_up = "path" if hierarchical else "category"
    for rank in range(2, top_k + 1):
        columns += [f"{runner_up}_{rank}", f"confidence_{rank}"]
    return [prefix + column for column in columns + ["reason"]]


def predict_frame(
    categorizer: Categorizer, frame: pd.DataFrame, text_cols: Sequence[str | int] | str | None = None, *, top_k: int = 1,
    prefix: str = PREFIX,
) -> pd.DataFrame:
    """``frame``'s columns (names as strings) followed by the prediction columns, one row per row.

    ``text_cols`` picks the text columns as in ``read_catalog`` (names or positions, joined in
    order; by default ``text``/``title`` (+ ``description``) and the like). The prediction columns
    are those of ``prediction_columns``, named with ``prefix``.
    """
    texts = reading.texts_from_frame(frame, text_cols)
    return _with_predictions(categorizer, frame, texts, top_k, prefix)


def _with_predictions(categorizer: Categorizer, frame: pd.DataFrame, texts: list[str], top_k: int, prefix: str = PREFIX) -> pd.DataFrame:
    """The rows of ``frame`` with the predictions of ``texts`` (one per row) appended as columns."""
    kept = frame.reset_index(drop=True)
    kept.columns = [str(c) for c in kept.columns]
    needs_review, hierarchical = categorizer.threshold_ is not None, _is_hierarchical(categorizer)
    columns = prediction_columns(top_k, needs_review=needs_review, hierarchical=hierarchical, prefix=prefix)
    clashes = [c for c in kept.columns if c in columns]
    if clashes:
        raise DataError(f"input column {clashes[0]!r} has the name of a prediction column; name the prediction columns "
                        f"otherwise with --prefix, e.g. --prefix {prefix or 'predicted_'}new_")
    predictions = categorizer.categorize(texts, top_k=top_k)
    added = {
        "category": [p.category if p.depth != 0 else None for p in predictions],
        "confidence": pd.array([p.confidence if p.depth != 0 else None for p in predictions], dtype="float64"),
        **({"needs_review": [p.needs_review for p in predictions]} if needs_review else {}),
        **(_path_columns(predictions) if hierarchical else {}),
        **_runner_up_columns(predictions, top_k, "path" if hierarchical else "category"),
        "reason": [p.reason for p in predictions],
    }
    added = pd.DataFrame({prefix + name: values for name, values in added.items()}, columns=columns)
    typed = typed_columns(columns, prefix)  # the others hold text, even when empty (no row, or no category)
    added = added.astype({c: object for c in columns if c not in typed and added[c].dtype != object})
    return pd.concat([kept, added], axis=1)


def _is_hierarchical(categorizer: Categorizer) -> bool:
    return getattr(categorizer, "tree_", None) is not None


def _path_columns(predictions: list[Prediction]) -> dict:
    """``depth`` (nullable integers), the decoded ``path`` down to a leaf and each level's confidence
    (joined like the path), the ``leaf``'s own name and its confidence."""
    from prodcat.data.reading import PATH_SEPARATOR

    paths = [p.path or [] for p in predictions]
    return {
        "depth": pd.array([p.depth for p in predictions], dtype="Int64"),
        "path": [path[-1] if path else None for path in paths],
        "path_confidence": [PATH_SEPARATOR.join(f"{c:.4f}" for c in p.path_confidence) if p.path_confidence else None for p in predictions],
        "leaf": [path[-1].split(PATH_SEPARATOR)[-1] if path else None for path in paths],
        "leaf_confidence": pd.array([p.path_confidence[-1] if p.path_confidence else None for p in predictions], dtype="float64"),
    }


def _runner_up_columns(predictions: list[Prediction], top_k: int, name: str = "category") -> dict[str, list]:
    columns = {}
    for rank in range(2, top_k + 1):
        ranked = [p.top_k[rank - 1] if len(p.top_k) >= rank else (None, None) for p in predictions]
        columns[f"{name}_{rank}"] = [category for category, _ in ranked]
        columns[f"confidence_{rank}"] = pd.array([confidence for _, confidence in ranked], dtype="float64")
    return columns


def predict_file(
    categorizer: Categorizer,
    input: str | Path,
    output: str | Path,
    *,
    text_cols: Sequence[str | int] | str | None = None,
    fmt: str | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    output_fmt: str | None = None,
    keep: Sequence[str] | str | None = None,
    top_k: int = 1,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    prefix: str = PREFIX,
) -> dict:
    """Categorize every row of the catalog ``input`` into ``output``, streaming ``chunk_rows`` at a time.

    ``output`` keeps ``input``'s columns (only those named in ``keep``, if given) and adds the
    prediction columns. A regular file appears only when complete; ``"-"`` writes to stdout, and a
    device or a pipe is written directly (CSV unless ``output_fmt`` or the name's extension says
    otherwise). ``progress(n)`` is called after each chunk with the rows just written;
    ``notify(line)`` gets what the user should know (header detection, stale partial files; default:
    stderr). Returns a summary: rows read (``rows_in``) and written (``rows``), whether row 1 was a
    header, rows with a reason, seconds; and when the input has the model's label column(s), their
    name (``label_column``), the rows with a label and those predicted right (``labelled_rows``,
    ``correct``). The prediction columns are named with ``prefix``.
    """
    input, to_stdout = Path(input), str(output) == STDOUT
    output = Path(output)
    if not to_stdout and output.is_dir():
        raise DataError(f"{output}: is a directory; give a file name for --output, e.g. {output / 'predictions.csv'}")
    streamed = to_stdout or (output.exists() and not output.is_file())  # stdout, a device, a pipe
    output_fmt = "csv" if streamed and output_fmt is None and not output.suffix else _output_format(output, output_fmt)
    if chunk_rows < 1:
        raise DataError(f"--chunk-rows must be at least 1; got {chunk_rows}")
    if not to_stdout and output.exists() and input.exists() and output.resolve() == input.resolve():
        raise DataError(f"{output}: is the input file; write the predictions to another --output")
    keep = reading.column_list(keep) if isinstance(keep, str) else keep
    started, rows_in, rows, with_reason, had_header = time.perf_counter(), 0, 0, 0, False
    chunks = iter_catalog_chunks(input, text_cols=text_cols, fmt=fmt, header=header, encoding=encoding, chunk_rows=chunk_rows, notify=notify)
    typed = typed_columns(prediction_columns(top_k, hierarchical=_is_hierarchical(categorizer), prefix=prefix), prefix)
    scoring = LabelScore(categorizer)
    with _output_target(output, to_stdout, notify) as target, _writer(output_fmt, target, typed) as write:
        columns = None
        for chunk in chunks:
            rows_in += len(chunk.frame)
            had_header = chunk.header is not None
            frame = _aligned(chunk, keep, columns)
            columns = list(frame.columns)
            table = _with_predictions(categorizer, frame, chunk.texts, top_k, prefix)
            scoring.add(chunk, table, prefix)
            write(table)
            rows += len(table)
            with_reason += int(table[prefix + "reason"].notna().sum())
            if progress is not None:
                progress(len(table))
        if rows != rows_in:  # never expected: stop before the output appears
            raise DataError(f"{input}: read {rows_in} rows but produced {rows}; nothing was written")
    seconds = time.perf_counter() - started
    return {"input": str(input), "output": str(output), "rows_in": rows_in, "rows": rows, "header": had_header,
            "rows_with_reason": with_reason, "seconds": seconds, **scoring.summary()}


class LabelScore:
    """Accuracy on the input's copy of the model's label column(s), when it has them (by name; by
    position only in a file without a header, as the model was trained on)."""

    def __init__(self, categorizer: Categorizer):
        training = categorizer.metadata.get("training") or {}
        self.columns = [str(c) for c in training.get("label_columns") or []]
        self.known = set(categorizer.labels)
        self.labelled = self.correct = self.unknown = 0
        self.found: list | None = None

    def add(self, chunk: reading.Catalog, table: pd.DataFrame, prefix: str) -> None:
        frame = chunk.frame
        if self.found is None:
            by_name = [c for c in self.columns if c in [str(name) for name in frame.columns]]
            by_position = chunk.header is None and all(c.isdigit() and int(c) < frame.shape[1] for c in self.columns)
            self.found = by_name if self.columns and len(by_name) == len(self.columns) else (
                [frame.columns[int(c)] for c in self.columns] if self.columns and by_position else [])
        if not self.found:
            return
        from prodcat.data.reading import PATH_SEPARATOR

        parts = frame[[c for c in frame.columns if str(c) in map(str, self.found)]].fillna("").astype(str)
        truths = parts.apply(lambda row: PATH_SEPARATOR.join(v.strip() for v in row if v.strip()), axis=1).tolist()
        predicted = table[prefix + ("path" if prefix + "path" in table.columns else "category")].tolist()
        for truth, guess in zip(truths, predicted):
            if truth:
                self.labelled += 1
                self.correct += truth == guess
                self.unknown += truth not in self.known

    def summary(self) -> dict:
        if not self.found:
            return {}
        return {"label_column": ",".join(map(str, self.found)), "labelled_rows": self.labelled,
                "correct": self.correct, "rows_with_unknown_labels": self.unknown}


def _output_format(output: Path, output_fmt: str | None) -> str:
    if output_fmt is None and output.suffix.lower() in (".gz", ".bz2", ".zip", ".xz"):
        raise DataError(f"{output}: compressed output is not supported; write an uncompressed file and compress it afterwards")
    try:
        return detect_format(output, output_fmt)
    except DataError:
        raise DataError(
            f"{output}: cannot tell the output format from the extension; pass --output-format ({', '.join(FORMATS)})"
        ) from None


def _aligned(chunk: reading.Catalog, keep: Sequence[str | int] | None, columns: list | None) -> pd.DataFrame:
    """The chunk's columns to keep, in the first chunk's order (JSON Lines rows may vary)."""
    frame = chunk.frame
    if keep is not None:
        frame = frame[[reading.find_column(Path(chunk.source), list(frame.columns), c, "--keep") for c in keep]]
    if columns is None:
        return frame
    extra = [c for c in frame.columns if c not in columns]
    if extra:
        raise DataError(
            f"{chunk.source}: row {chunk.row_numbers[0]} or later has field {str(extra[0])!r}, absent from the first rows; "
            "choose the columns with --keep"
        )
    return frame.reindex(columns=columns, fill_value="")


@contextmanager
def _output_target(output: Path, to_stdout: bool, notify: Callable[[str], None] | None) -> Iterator[Path | int]:
    """Where to write: stdout's descriptor, a device or pipe as it is, else a temporary sibling of the
    file (of a symlink's target, so the link stays) that replaces it when complete."""
    if to_stdout or (output.exists() and not output.is_file()):  # /dev/stdout, a pipe: no rename
        sys.stdout.flush()
        try:
            yield sys.stdout.fileno() if to_stdout else output
        except OSError as exc:  # the reader went away (| head), a full device
            if isinstance(exc, ProdcatError):
                raise
            raise DataError(f"{output}: cannot write ({exc.strerror or exc}); not every row was written") from None
        return
    with _atomic_file(Path(os.path.realpath(output)), notify) as part:
        yield part


@contextmanager
def _atomic_file(path: Path, notify: Callable[[str], None] | None = None) -> Iterator[Path]:
    """A temporary sibling of ``path`` that replaces ``path`` on success and is removed otherwise."""
    _make_parent(path)
    _remove_stale_parts(path, notify or (lambda line: print(line, file=sys.stderr)))
    try:
        handle, name = tempfile.mkstemp(prefix=partial_prefix(path), suffix=".part", dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path}: cannot write in {path.parent} ({exc.strerror or exc}); choose another --output") from None
    os.close(handle)
    part = Path(name)
    try:
        yield part
        part.chmod(usual_mode())  # mkstemp makes it private; give it the usual permissions
        os.replace(part, path)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ProdcatError):  # a full disk, a lost mount
            raise DataError(f"{path}: cannot write ({exc.strerror or exc}); nothing was written, free space or choose another --output") from None
        raise


def _make_parent(path: Path) -> None:
    for folder in (path.parent, *path.parent.parents):
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{path}: {folder} is a file, not a directory; choose another --output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot create the directory {path.parent} ({exc.strerror or exc}); choose another --output") from None


def partial_prefix(path: Path) -> str:
    """The start of the name of ``path``'s partial files written by this process: ``.NAME.HOST-PID.``."""
    return f".{path.name}.{_HOST}-{os.getpid()}."


def _remove_stale_parts(path: Path, notify: Callable[[str], None]) -> None:
    """Remove the partial files of ``path`` whose writing process, on this machine, is gone (killed
    before it could clean up); name those whose process cannot be told."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:([A-Za-z0-9]*)-(\d+)\.)?[^.]+\.part")
    for part in sorted(path.parent.glob(f".{glob.escape(path.name)}.*.part")):
        found = pattern.fullmatch(part.name)
        if found is None:
            continue
        host, pid = found.group(1), int(found.group(2)) if found.group(2) else None
        if host == _HOST and pid is not None:
            if pid != os.getpid() and not _process_alive(pid):
                part.unlink(missing_ok=True)
                notify(f"removed {part}, a partial output left by an interrupted run")
        else:
            writer = f"a run on {host or 'another machine'}" if pid is not None else "an interrupted run"
            notify(f"found {part}, probably a partial output left by {writer}; remove it if no run writes {path} now")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True



@contextmanager
def _writer(fmt: str, path: Path | int, typed: dict[str, str]) -> Iterator[Callable[[pd.DataFrame], None]]:
    """A function that appends a frame of predictions to ``path`` (or an open file descriptor) in format ``fmt``.

    Parquet columns are strings except those in ``typed`` (name → ``"float"``, ``"bool"`` or ``"int"``).
    """
    if fmt == "parquet":
        with open(path, "wb", closefd=not isinstance(path, int)) as binary:
            yield from _parquet_writer(binary, typed)
        return
    with open(path, "w", encoding="utf-8", newline="", closefd=not isinstance(path, int)) as handle:
        if fmt == "jsonl":
            yield lambda frame: _write_jsonl(frame, handle)
            return
        first = [True]

        def write_delimited(frame: pd.DataFrame) -> None:
            frame.to_csv(handle, sep="\t" if fmt == "tsv" else ",", index=False, header=first[0], lineterminator="\n")
            first[0] = False

        yield write_delimited


def _write_jsonl(frame: pd.DataFrame, handle) -> None:
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    handle.writelines(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)


def typed_columns(columns: list[str], prefix: str = PREFIX) -> dict[str, str]:
    """The prediction columns (of ``prediction_columns``) that are not strings: name → ``"float"``,
    ``"bool"`` or ``"int"``."""
    kinds = {"needs_review": "bool", "depth": "int"}
    bare = {c: c[len(prefix):] for c in columns}
    return {c: kinds.get(b, "float") for c, b in bare.items() if b in kinds or b.startswith("confidence") or b == "leaf_confidence"}


def _parquet_writer(path, typed: dict[str, str]) -> Iterator[Callable[[pd.DataFrame], None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    state: dict = {}

    def write(frame: pd.DataFrame) -> None:
        if "writer" not in state:
            types = {"float": pa.float64(), "bool": pa.bool_(), "int": pa.int64()}
            schema = pa.schema([(c, types.get(typed.get(c), pa.string())) for c in frame.columns])
            state["writer"], state["schema"] = pq.ParquetWriter(path, schema), schema
        schema = state["schema"]
        strings = {c: frame[c].map(_as_text) for c in frame.columns if schema.field(c).type == pa.string()}
        table = pa.Table.from_pandas(frame.assign(**strings), schema=schema, preserve_index=False)
        state["writer"].write_table(table)

    try:
        yield write
    finally:
        if "writer" in state:
            state["writer"].close()


def _as_text(value) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value if isinstance(value, str) else str(value)
