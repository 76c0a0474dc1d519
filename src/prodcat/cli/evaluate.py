"""``prodcat evaluate``: evaluate any model on any labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodcat.cli.options import resolve_model, Encoding, Format, Header, LabelCol, ModelDir, PathSep, TextCol, reading_options


def evaluate_command(
    file: Annotated[Path, typer.Argument(help="Labelled catalog to evaluate on.")],
    model: ModelDir = None,
    report: Annotated[Path, typer.Option("--report", "-r", help="Report directory to write.")] = Path("reports/evaluation"),
    text_col: TextCol = None,
    label_col: LabelCol = None,
    fmt: Format = None,
    header: Header = None,
    encoding: Encoding = "utf-8",
    path_sep: PathSep = None,
) -> None:
    """Evaluate a model on every labelled row of FILE and write a report directory."""
    from prodcat.evaluation import evaluate_file

    metrics = evaluate_file(resolve_model(model), file, report_dir=report, **reading_options(text_col, label_col, fmt, header, encoding, path_sep))
    typer.echo(f"report: {report}")
    typer.echo(f"{metrics['rows']} rows: accuracy {metrics['accuracy']:.4f}, weighted F1 {metrics['weighted_f1']:.4f}, macro F1 {metrics['macro_f1']:.4f}")
    if metrics.get("skipped"):
        typer.echo("rows not evaluated: " + ", ".join(f"{n} {reason}" for reason, n in metrics["skipped"].items()))
