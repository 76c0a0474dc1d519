"""``prodcat data``: look at catalogs and fetch the reference dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import Encoding, Force, Format, Header, LabelCol, PathSep, Quiet, TextCol, reading_options

SHOWN_LABELS = 25

app = typer.Typer(help="Inspect catalog files and download the reference dataset.", no_args_is_help=True)


@app.command("inspect")
def inspect_command(
    file: Annotated[Path, typer.Argument(help="Catalog file to inspect.")],
    text_col: TextCol = None,
    label_col: LabelCol = None,
    fmt: Format = None,
    header: Header = None,
    encoding: Encoding = "utf-8",
    path_sep: PathSep = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Report rows, labels, empty cells, duplicates, text lengths and the category tree of FILE."""
    import json

    from prodcat.data.inspection import inspect_catalog
    from prodcat.data.reading import read_catalog

    report = inspect_catalog(read_catalog(file, **reading_options(text_col, label_col, fmt, header, encoding, path_sep)))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_report(report)


@app.command("download")
def download_command(
    name: Annotated[str, typer.Argument(help="Dataset to fetch: ecommerce (the reference dataset).")] = "ecommerce",
    url: Annotated[Optional[str], typer.Option("--url", help="Download from this address instead (a mirror); the file is verified all the same.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Download a dataset into the cache (PRODCAT_CACHE, default ~/.cache/prodcat) and verify it."""
    from dataclasses import replace

    from prodcat.data.download import dataset_spec, download

    spec = dataset_spec(name)
    if url:
        spec = replace(spec, url=url)
    path = download(name, spec=spec, force=force, progress=not quiet)
    typer.echo(f"{name}: {path} ({spec.rows} rows, {len(spec.labels)} labels, verified)")


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    console.print(f"[bold]{report['source']}[/bold]: {report['rows']} rows; text {report['text_columns']}, label {report['label_columns']}")
    empty = report["empty_texts"]
    console.print(f"empty texts: {empty['count']}" + (f" (rows {_rows(empty['rows'], empty['count'])})" if empty["count"] else ""))
    if report["empty_labels"] is not None:
        empty = report["empty_labels"]
        console.print(f"empty labels: {empty['count']}" + (f" (rows {_rows(empty['rows'], empty['count'])})" if empty["count"] else ""))
    if report["labels"] is not None:
        table = Table("label", "rows", "share", title=f"{len(report['labels'])} labels")
        total = sum(report["labels"].values()) or 1
        for label, n in list(report["labels"].items())[:SHOWN_LABELS]:
            table.add_row(Text(label), str(n), f"{n / total:.1%}")
        if len(report["labels"]) > SHOWN_LABELS:
            table.add_row(f"... {len(report['labels']) - SHOWN_LABELS} more (see --json)", "", "")
        console.print(table)
    dup, near = report["exact_duplicates"], report["near_duplicates"]
    console.print(
        f"exact duplicates: {dup['rows']} rows repeat {dup['groups']} texts; "
        f"{dup['conflicting_groups']} texts ({dup['conflicting_rows']} rows) have conflicting labels"
    )
    for example in dup["conflicting_examples"]:
        console.print(f"  rows {_rows(example['rows'], sum(example['labels'].values()))}: {example['text']!r} → {example['labels']}", markup=False)
    console.print(f"near-duplicate groups: {near['groups']} ({near['rows']} rows)" + (f", {near['conflicting_groups']} with conflicting labels" if "conflicting_groups" in near else ""))
    for group in near["largest"]:
        console.print(f"  {group['variants']} variants of {group['key']!r}, e.g. {group['examples'][0]!r}", markup=False)
    table = Table("text length", "min", "median", "mean", "p95", "max")
    for unit, stats in report["text_length"].items():
        table.add_row(unit, *(str(stats[k]) for k in ("min", "median", "mean", "p95", "max")))
    console.print(table)
    if report["hierarchy"]:
        _print_tree(console, report["hierarchy"])


def _print_tree(console, tree: dict) -> None:
    levels = ", ".join(f"level {i + 1}: {n}" for i, n in enumerate(tree["nodes_per_level"]))
    console.print(f"category tree: depth {tree['depth']}; nodes {levels}; mean branching {tree['mean_branching']}; {tree['leaves']} leaves")
    rare = tree["rare_leaves"]
    console.print(f"leaves with fewer than {rare['threshold']} rows: {rare['count']}")
    for label, n in rare["examples"].items():
        console.print(f"  {n} rows: {label}", markup=False)


def _rows(rows: list[int], total: int = 0) -> str:
    return ", ".join(map(str, rows)) + (", ..." if total > len(rows) else "")
