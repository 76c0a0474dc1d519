"""``prodcat evaluate``: evaluate any model on any labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from prodcat.cli.options import resolve_model, refuse_to_overwrite, Encoding, Format, Header, LabelCol, ModelDir, Overwrite, PathSep, TextCol, reading_options


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
    force: Overwrite = False,
) -> None:
    """Evaluate a model on every labelled row of FILE and write a report directory.

    Without --text-col and --label-col, the model's own columns are used when FILE has them."""
    from prodcat.evaluation import evaluate_file

    refuse_to_overwrite(report, "--report", force)
    metrics = evaluate_file(resolve_model(model), file, report_dir=report, **reading_options(text_col, label_col, fmt, header, encoding, path_sep))
    typer.echo(f"report: {report}")
    columns = metrics.get("columns") or {}
    if columns:
        typer.echo(f"columns: text {', '.join(columns['text'])}; label {', '.join(columns['label'])}")
    unknown = metrics.get("rows_with_unknown_labels", 0)
    if unknown:
        named = ", ".join(repr(label) for label in metrics["unknown_labels"][:3]) + (", ..." if len(metrics["unknown_labels"]) > 3 else "")
        typer.secho(f"warning: {unknown:,} of {metrics['rows']:,} rows have labels the model does not know ({named}); "
                    "they count as errors. Is this the right model and --label-col?", err=True, fg="yellow")
    typer.echo(f"{metrics['rows']} rows: accuracy {metrics['accuracy']:.4f}, weighted F1 {metrics['weighted_f1']:.4f}, macro F1 {metrics['macro_f1']:.4f}")
    if metrics.get("skipped"):
        typer.echo("rows not evaluated: " + ", ".join(f"{n} {reason}" for reason, n in metrics["skipped"].items()))
