"""``prodcat predict``: categorize texts given on the command line, or a whole file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import ModelDir


def predict_command(
    texts: Annotated[Optional[list[str]], typer.Argument(help="Product texts (title and description).", show_default=False)] = None,
    model: ModelDir = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=0, help="Also show the next K categories.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of text.")] = False,
) -> None:
    """Print the category of each TEXT with its probability."""
    import json

    from prodcat.categorizer import Categorizer
    from prodcat.errors import DataError

    if not texts:
        raise DataError("no text given; write: prodcat predict --model DIR \"product title and description\"")
    if model is None:
        raise DataError("no model given; pass --model DIR (a directory made by 'prodcat train')")
    categorizer = Categorizer.load(model)
    for text, prediction in zip(texts, categorizer.categorize(texts, top_k=top_k + 1)):
        if as_json:
            typer.echo(json.dumps({"text": text, **prediction.to_dict()}, ensure_ascii=False))
            continue
        if prediction.category is None:
            typer.echo(f"(no category)\t{prediction.reason}")
            continue
        review = "\tneeds review" if prediction.needs_review else ""
        typer.echo(f"{prediction.category}\t{prediction.confidence:.4f}{review}")
        for category, confidence in prediction.top_k[1:]:
            typer.echo(f"  {category}\t{confidence:.4f}")
