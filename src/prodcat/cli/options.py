"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
import typer.core


def _flags_show_no_type() -> None:
    """Typer's help lists every on/off flag (``--quiet``, ``--help``) as taking a ``<bool>`` value,
    which it does not; the patched method leaves the type column of flags empty."""
    shown = typer.core.TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    typer.core.TyperOption.display_type_rich = display_type_rich


if hasattr(typer.core, "TyperOption") and hasattr(typer.core.TyperOption, "display_type_rich"):
    _flags_show_no_type()

TextCol = Annotated[Optional[str], typer.Option("--text-col", help="Text column name(s) or 0-based position(s), comma-separated; joined in order.")]
LabelCol = Annotated[Optional[str], typer.Option("--label-col", help="Label column name or position; several (top level first) form a category path.")]
Format = Annotated[Optional[str], typer.Option("--format", help="csv, tsv, jsonl or parquet (default: from the extension).")]
Header = Annotated[Optional[bool], typer.Option("--header/--no-header", help="Whether a CSV/TSV has a header row (default: detect).", show_default=False)]
Encoding = Annotated[str, typer.Option("--encoding", help="Text encoding of CSV/TSV/JSONL files.")]
PathSep = Annotated[Optional[str], typer.Option("--path-sep", help="Separator inside a single label column holding a category path, e.g. ' > '.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
Force = Annotated[bool, typer.Option("--force", help="Download again even if a verified copy is cached.")]
Overwrite = Annotated[bool, typer.Option("--force", help="Replace the model or report directory if it exists.")]
ModelDir = Annotated[Optional[Path], typer.Option("--model", "-m", help="A model directory made by 'prodcat train'.")]


def reading_options(text_col, label_col, fmt, header, encoding, path_sep=None) -> dict:
    return {"text_cols": text_col, "label_cols": label_col, "fmt": fmt, "header": header, "encoding": encoding, "path_sep": path_sep}


def parse_params(pairs: list[str] | None) -> dict:
    """``["C=0.5", "word_ngrams=1,3"]`` → ``{"C": 0.5, "word_ngrams": [1, 3]}``; a value that starts
    with ``{`` or ``[`` is JSON (``member_params={"linear": {"C": 1}}``)."""
    import json

    from prodcat.errors import DataError

    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise DataError(f"--param {pair!r} is not KEY=VALUE; write e.g. --param C=0.5")
        value = value.strip()
        if value[:1] in ("{", "["):
            try:
                params[key.strip()] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise DataError(f"--param {key.strip()}: {value!r} is not valid JSON ({exc.msg} at character {exc.pos}); quote it for the shell, e.g. --param '{key.strip()}={{\"linear\": {{\"C\": 1}}}}'") from None
        else:
            params[key.strip()] = _value(value)
    return params


def _value(text: str):
    if "," in text:
        return [_value(part) for part in text.split(",")]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def refuse_to_overwrite(directory: Path, option: str, force: bool) -> None:
    """A directory that exists and holds files is replaced only with ``--force``."""
    if force or not directory.is_dir() or not any(directory.iterdir()):
        return
    from prodcat.errors import DataError

    raise DataError(f"{directory}: exists and is not empty; pass --force to replace it, or choose another {option}")


def resolve_model(model: Path | None) -> Path:
    """``--model`` when given, else the bundled default model (and say so once, on stderr)."""
    if model is not None:
        return model
    from prodcat.bundled import NOTICE, default_model_path

    path = default_model_path()
    typer.echo(NOTICE, err=True)
    return path
