"""Catalog files in, rows of (text, label) out.

Reads the reference dataset exactly as published (headerless ``category,text`` CSV with quoted
multi-line fields) and also CSV with a header, TSV, JSON Lines and Parquet. Columns are chosen by
name or by zero-based position; several text columns (title, description) are joined, several label
columns (top level first) become one category path.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from prodcat.errors import DataError

if TYPE_CHECKING:  # pandas is imported where a catalog is read: predicting needs none
    import pandas as pd

FORMATS = ("csv", "tsv", "jsonl", "parquet")
PATH_SEPARATOR = " > "
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_WORKBOOKS = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
# Column names found without --text-col / --label-col, in this order of preference; compared as
# ``_name_key`` writes them, so that "Product Name", "product-name" and "PRODUCT_NAME" are one name.
_TEXT_NAMES = ("text", "title", "name", "product", "product_name", "product_title", "item_name", "item_title", "description")
_LABEL_NAMES = ("category", "label", "class", "categories", "category_path", "category_name", "product_category",
                "target", "y")
_HEADERLESS_LABEL, _HEADERLESS_TEXT = 0, 1
# Column names common enough that a first row made of such names is a header.
_KNOWN_NAMES = {*_TEXT_NAMES, *_LABEL_NAMES, "id", "sku", "item_id", "product_id", "brand", "price", "url", "type",
                "sub_category", "subcategory", "lvl1", "lvl2", "lvl3", "index"}
# Label cells that mean "no label" (as pandas and spreadsheets write a missing value), in any case.
MISSING_LABELS = frozenset({"nan", "-nan", "null", "none", "na", "n/a", "#n/a", "<na>"})
_SEPARATORS = re.compile(r"[\s\-]+")
_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}
_NAME = re.compile(r"[^\W\d][\w .\-/()#&]{0,39}")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass
class Catalog:
    """Rows read from a catalog file.

    ``texts`` are the joined text columns ('' where all were empty), ``labels`` the category (a
    path joined with `` > `` for several label columns or with ``path_sep``; '' where missing:
    empty, ``NaN``, ``null``, ``None``) or ``None`` for an unlabelled file; ``label_paths`` says
    whether the labels are category paths (decided by the options, never by the label text);
    ``row_numbers`` are 1-based data rows of the file; ``frame`` holds every column as read;
    ``header`` is the header row's cells, ``None`` for a headerless file.
    """

    texts: list[str]
    labels: list[str] | None
    row_numbers: list[int]
    frame: pd.DataFrame
    source: str
    text_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    label_paths: bool = False
    header: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The file format: ``fmt`` when given, else from the extension (``.csv.gz`` counts as ``.csv``)."""
    if fmt:
        if fmt not in FORMATS:
            raise DataError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = [s for s in Path(path).suffixes if s not in (".gz", ".bz2", ".zip", ".xz")]
    found = _EXTENSIONS.get(suffixes[-1].lower()) if suffixes else None
    if found is None and suffixes and suffixes[-1].lower() in _WORKBOOKS:
        raise DataError(f"{path}: is a spreadsheet workbook, which prodcat does not read; save the sheet as CSV (UTF-8) and give that file")
    if found is None:
        raise DataError(f"{path}: cannot tell the format from the extension; pass --format ({', '.join(FORMATS)})")
    return found


def read_catalog(
    path: str | Path,
    *,
    text_cols: Sequence[str | int] | str | None = None,
    label_cols: Sequence[str | int] | str | None = None,
    fmt: str | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    require_labels: bool = True,
    path_sep: str | None = None,
    notify: Callable[[str], None] | None = None,
) -> Catalog:
    """Read a whole catalog file into memory. See ``iter_catalog_chunks`` for the options."""
    chunks = list(
        iter_catalog_chunks(
            path,
            text_cols=text_cols,
            label_cols=label_cols,
            fmt=fmt,
            header=header,
            encoding=encoding,
            require_labels=require_labels,
            path_sep=path_sep,
            notify=notify,
        )
    )
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise DataError(f"{path}: the file has no data rows; give a catalog with at least one product per row")
    if len(chunks) == 1:
        return chunks[0]
    import pandas as pd

    first = chunks[0]
    return Catalog(
        texts=[t for c in chunks for t in c.texts],
        labels=None if first.labels is None else [lab for c in chunks for lab in c.labels],
        row_numbers=[r for c in chunks for r in c.row_numbers],
        frame=pd.concat([c.frame for c in chunks], ignore_index=True),
        source=first.source,
        text_columns=first.text_columns,
        label_columns=first.label_columns,
        label_paths=first.label_paths,
        header=first.header,
    )


def iter_catalog_chunks(
    path: str | Path,
    *,
    text_cols: Sequence[str | int] | str | None = None,
    label_cols: Sequence[str | int] | str | None = None,
    fmt: str | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    require_labels: bool = False,
    path_sep: str | None = None,
    chunk_rows: int = 200_000,
    notify: Callable[[str], None] | None = None,
) -> Iterator[Catalog]:
    """Stream a catalog file in chunks of at most ``chunk_rows`` rows, with bounded memory.

    ``text_cols`` and ``label_cols`` are column names or zero-based positions, or a comma-separated
    string of them. Without them, a headerless two-column file is read as ``category,text`` (the
    reference format) and a file with a header by the usual names (``text``/``title``/``description``,
    ``category``/``label``). ``header=None`` detects whether a CSV or TSV has a header row, cautiously
    (see ``_detect_header``), and says which choice it made through ``notify`` (default: a line on
    stderr). ``path_sep`` splits a single label column into a category path (stored joined by
    `` > ``); labels are paths only with ``path_sep`` or several label columns.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a catalog file")
    fmt = detect_format(path, fmt)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r}; pass --encoding with e.g. utf-8, latin-1 or cp1252") from None
    text_cols, label_cols = column_list(text_cols), column_list(label_cols)
    encoding = without_byte_order_mark(encoding)
    if fmt in ("csv", "tsv") and header is None:
        header, first_row = _detect_header(path, fmt, encoding, [*text_cols, *label_cols])
    else:
        first_row = []
    row_offset = 0
    resolved: tuple[list, list] | None = None
    # Blank lines inside a CSV/TSV are rows without text (reported as such); those before its first line
    # of text are skipped and said, since the first line sets the columns.
    leading_blank_lines = _leading_blank_lines(path, encoding) if fmt in ("csv", "tsv") else 0
    for frame in _iter_frames(path, fmt, header, encoding, chunk_rows, leading_blank_lines):
        if resolved is None:
            resolved = _resolve_columns(path, frame, text_cols, label_cols, require_labels, headerless=header is False)
            if leading_blank_lines:
                (notify or _to_stderr)(f"skipping {leading_blank_lines} blank line(s) at the top of {path}")
            if first_row:  # said once the columns are known, so that an error stays the only line
                (notify or _to_stderr)(_header_notice(header, first_row))
        text_names, label_names = resolved
        catalog = _to_catalog(path, frame, text_names, label_names, row_offset, path_sep)
        catalog.header = [str(c) for c in frame.columns] if header and fmt in ("csv", "tsv") else None
        yield catalog
        row_offset += len(frame)
    if resolved is None:
        raise DataError(f"{path}: the file is empty; give a catalog with at least one product per row")


def without_byte_order_mark(encoding: str) -> str:
    """``utf-8-sig`` for UTF-8: the byte-order mark that Excel's "CSV UTF-8" starts a file with is not
    part of the first column's name (without it, the same as ``utf-8``)."""
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def column_list(cols: Sequence[str | int] | str | int | None) -> list[str | int]:
    if cols is None:
        return []
    if isinstance(cols, int):
        return [cols]
    if isinstance(cols, str):
        cols = [c.strip() for c in cols.split(",") if c.strip()]
    return [int(c) if isinstance(c, str) and c.isdigit() else c for c in cols]


def _detect_header(path: Path, fmt: str, encoding: str, wanted: list[str | int]) -> tuple[bool, list[str]]:
    """Whether a CSV/TSV file starts with a header row, and that first row.

    Cautious, since treating data as a header loses a row: the first row is a header only when it
    holds a column asked for by name, or when its cells all look like names (distinct, short, starting
    with a letter), none repeats in its column below, and either one is a well-known column name or a
    column below it holds only numbers.
    """
    names = {c.lower() for c in wanted if isinstance(c, str)}
    try:
        with _open_bytes(path) as raw, _large_csv_fields():
            handle = io.TextIOWrapper(raw, encoding=encoding, newline="")
            rows = [row for row in islice(csv.reader(handle, delimiter="\t" if fmt == "tsv" else ","), 1000) if row]
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding, exc) from None
    except csv.Error as exc:
        raise DataError(f"{path}: cannot parse as {fmt.upper()} ({_first_line(exc)}); check quoting or pass --format") from None
    except (OSError, EOFError) as exc:  # a damaged .gz, .bz2, .xz or .zip
        raise DataError(f"{path}: cannot read ({_first_line(exc)}); check the file") from None
    if not rows:
        return False, []
    first, below = rows[0], rows[1:]
    cells = [cell.strip().lower() for cell in first]
    if names & set(cells):
        return True, first
    if not all(_NAME.fullmatch(cell.strip()) for cell in first) or len(set(cells)) < len(cells):
        return False, first
    if any(row[i] == name for row in below for i, name in enumerate(first) if i < len(row)):
        return False, first
    known = bool(_KNOWN_NAMES & {_name_key(cell) for cell in cells})
    numbers_below = any(below and all(i < len(row) and _NUMBER.fullmatch(row[i].strip()) for row in below) for i in range(len(first)))
    return known or numbers_below, first


@contextmanager
def _large_csv_fields() -> Iterator[None]:
    """Lift the csv module's 131,072-character limit on a field (pandas' reader has none)."""
    previous = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _header_notice(header: bool, first_row: list[str]) -> str:
    shown = ",".join(_clip(cell, 24) for cell in first_row[:8]) + (",..." if len(first_row) > 8 else "")
    if header:
        return f"treating row 1 as a header: {shown}; pass --no-header if it is data"
    return f"treating row 1 as data, not a header: {shown}; pass --header if it is a header"


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _iter_frames(path: Path, fmt: str, header: bool | None, encoding: str, chunk_rows: int,
                 leading_blank_lines: int = 0) -> Iterator[pd.DataFrame]:
    import pandas as pd

    try:
        if fmt in ("csv", "tsv"):
            reader = pd.read_csv(
                path,
                sep="\t" if fmt == "tsv" else ",",
                header=0 if header else None,
                skiprows=leading_blank_lines,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                encoding=encoding,
                chunksize=chunk_rows,
                engine="c",
                on_bad_lines="error",
                quoting=csv.QUOTE_MINIMAL,
                skip_blank_lines=False,  # a blank line is a row without text, never silently skipped
            )
            with reader:
                yield from reader
        elif fmt == "jsonl":
            with pd.read_json(path, lines=True, dtype=False, chunksize=chunk_rows, encoding=encoding) as reader:
                for frame in reader:
                    yield frame.astype(object).where(frame.notna(), "")
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                frame = batch.to_pandas()
                yield frame.astype(object).where(frame.notna(), "")
    except pd.errors.EmptyDataError:
        return
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, encoding, exc) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: cannot parse as {fmt.upper()} ({_first_line(exc)}); check quoting or pass --format") from None
    except ValueError as exc:  # pandas' JSON reader and pyarrow raise ValueError subclasses
        line = _line_not_json(path, encoding) if fmt == "jsonl" else None
        where = f"line {line} is not a JSON object" if line else _first_line(exc)
        raise DataError(f"{path}: cannot read as {fmt.upper()} ({where}); check the file or pass --format") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _encoding_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    line = _line_of_bad_bytes(path, encoding)
    where = f"line {line}" if line else "somewhere"
    return DataError(
        f"{path}: {where} is not valid {'utf-8' if encoding == 'utf-8-sig' else encoding} text; re-save the file as UTF-8 or pass --encoding (e.g. latin-1)"
    )


def _open_bytes(path: Path):
    """The file's bytes, decompressed by its extension (``.gz``, ``.bz2``, ``.xz``, ``.zip`` of one file) as pandas does."""
    import importlib

    suffix = path.suffix.lower()
    if suffix in _COMPRESSIONS:
        return importlib.import_module(_COMPRESSIONS[suffix]).open(path, "rb")
    if suffix == ".zip":
        import zipfile

        try:
            archive = zipfile.ZipFile(path)
            return archive.open(archive.namelist()[0])
        except (zipfile.BadZipFile, IndexError):
            raise OSError("not a zip file of one catalog file") from None
    return open(path, "rb")


def _leading_blank_lines(path: Path, encoding: str) -> int:
    """How many lines before the first with anything but white space."""
    with _open_bytes(path) as raw:
        for number, line in enumerate(io.TextIOWrapper(raw, encoding=encoding, errors="replace")):
            if line.strip():
                return number
    return 0


def _line_not_json(path: Path, encoding: str) -> int | None:
    """The number of the first non-blank line of a JSON Lines file that is not one JSON object."""
    import json

    with _open_bytes(path) as raw:
        for number, line in enumerate(io.TextIOWrapper(raw, encoding=encoding, errors="replace"), start=1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    return number
            except ValueError:
                return number
    return None


def _line_of_bad_bytes(path: Path, encoding: str) -> int | None:
    with _open_bytes(path) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def _resolve_columns(
    path: Path,
    frame: pd.DataFrame,
    text_cols: list[str | int],
    label_cols: list[str | int],
    require_labels: bool,
    headerless: bool,
) -> tuple[list, list]:
    columns = list(frame.columns)
    for wanted, option in [*((c, "--text-col") for c in text_cols), *((c, "--label-col") for c in label_cols)]:
        find_column(path, columns, wanted, option)  # name a wrong explicit column before guessing the others
    if headerless and not text_cols and not label_cols and len(columns) >= 2:
        text_cols, label_cols = [_HEADERLESS_TEXT], [_HEADERLESS_LABEL]
    if headerless and not text_cols and len(columns) == 1:  # one title per line
        text_cols = [0]
    if not text_cols:
        found = [c for name in _TEXT_NAMES for c in columns if _name_key(c) == name][:1]
        if found and _name_key(found[0]) != "description":  # a title column: add the description too
            found += [c for c in columns if _name_key(c) == "description"]
        if not found:
            raise DataError(f"{path}: no text column found among {_show(columns)}; pass --text-col NAME (or position)")
        text_cols = found
    if not label_cols and require_labels:
        found = [c for name in _LABEL_NAMES for c in columns if _name_key(c) == name][:1]
        if not found:
            raise DataError(f"{path}: no label column found among {_show(columns)}; pass --label-col NAME (or position)")
        label_cols = found
    return [find_column(path, columns, c, "--text-col") for c in text_cols], [
        find_column(path, columns, c, "--label-col") for c in label_cols
    ]


def _name_key(column) -> str:
    """A column name as the well-known names are written: lowercase, runs of spaces and hyphens as ``_``."""
    return _SEPARATORS.sub("_", str(column).strip().lower())


def find_column(path: Path, columns: list, wanted: str | int, option: str):
    """The column of ``columns`` that ``wanted`` (a name, any case, or a 0-based position) names."""
    if wanted in columns:
        return wanted
    if isinstance(wanted, int):
        if 0 <= wanted < len(columns):
            return columns[wanted]
        raise DataError(f"{path}: {option} {wanted} is out of range; the file has {len(columns)} columns (0 to {len(columns) - 1})")
    matches = [c for c in columns if str(c).lower() == str(wanted).lower()]
    if len(matches) == 1:
        return matches[0]
    raise DataError(f"{path}: {option} {wanted!r} is not a column; the columns are {_show(columns)}")


def _show(columns: list) -> str:
    names = ", ".join(repr(_clip(c)) if isinstance(c, str) else str(c) for c in columns[:12])
    return names + (", ..." if len(columns) > 12 else "")


def _clip(name: str, limit: int = 30) -> str:
    name = " ".join(name.split())
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _to_catalog(
    path: Path, frame: pd.DataFrame, text_names: list, label_names: list, row_offset: int, path_sep: str | None
) -> Catalog:
    import pandas as pd

    parts = [frame[name].map(_cell) if name in frame.columns else pd.Series([""] * len(frame), index=frame.index) for name in text_names]
    texts = parts[0]
    for part in parts[1:]:
        texts = texts.str.cat(part, sep=" \n ").str.strip()
    labels = None
    label_paths = bool(label_names) and (len(label_names) > 1 or bool(path_sep))
    if label_names:
        levels = [frame[name].map(label_cell) if name in frame.columns else pd.Series([""] * len(frame), index=frame.index) for name in label_names]
        if path_sep and len(levels) == 1:
            labels = levels[0].map(lambda s: PATH_SEPARATOR.join(p for p in map(label_cell, s.split(path_sep)) if p))
        else:
            labels = [_join_levels(cells) for cells in zip(*levels)]
        labels = list(labels)
    return Catalog(
        texts=texts.tolist(),
        labels=labels,
        row_numbers=list(range(row_offset + 1, row_offset + len(frame) + 1)),
        frame=frame,
        source=str(path),
        text_columns=[str(n) for n in text_names],
        label_columns=[str(n) for n in label_names],
        label_paths=label_paths,
    )


def label_cell(value) -> str:
    """A label cell as text, '' where it is missing: empty, NaN, ``null``, ``None``, ``N/A`` (any case)."""
    text = _cell(value)
    return "" if text.lower() in MISSING_LABELS else text


def _join_levels(cells: tuple[str, ...]) -> str:
    """A category path from top to bottom; trailing empty levels shorten it, an empty level above a
    filled one makes the label empty (such rows are reported as having no label, not reshaped)."""
    depth = len(cells)
    while depth and not cells[depth - 1]:
        depth -= 1
    if not all(cells[:depth]):
        return ""
    return PATH_SEPARATOR.join(cells[:depth])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    return str(value).strip()


def texts_from_frame(frame: pd.DataFrame, text_cols: Sequence[str | int] | str | None = None, *, source: str = "<DataFrame>") -> list[str]:
    """The joined texts of ``frame``'s text columns, chosen as in ``read_catalog``."""
    text_names, _ = _resolve_columns(Path(source), frame, column_list(text_cols), [], False, headerless=False)
    return _to_catalog(Path(source), frame, text_names, [], 0, None).texts
