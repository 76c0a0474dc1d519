"""``prodcat data``: look at catalogs and fetch the reference dataset."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect catalog files and download the reference dataset.", no_args_is_help=True)
