"""``prodcat train``: train a categorizer and report on its leakage-free test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from prodcat.cli.options import Encoding, Format, Header, LabelCol, Overwrite, PathSep, Quiet, TextCol, parse_params, reading_options, refuse_to_overwrite


def train_command(
    file: Annotated[Optional[Path], typer.Argument(help="Labelled catalog (default: the downloaded reference dataset).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Model directory to write (default: a folder in models/ named after the file and the family).")] = None,
    report: Annotated[Optional[Path], typer.Option("--report", "-r", help="Report directory (default: <out>/report).")] = None,
    family: Annotated[str, typer.Option("--family", help="Model family: lstm (the reference), linear, bag, neighbors, transformer, ensemble, hierarchical, streaming (the only one that streams: it reads the file in chunks, in bounded memory, for catalogs larger than memory), or auto (linear, bag, neighbors or their ensemble, chosen by cross-validation on the training rows within --time-budget).")] = "lstm",
    text_col: TextCol = None,
    label_col: LabelCol = None,
    fmt: Format = None,
    header: Header = None,
    encoding: Encoding = "utf-8",
    path_sep: PathSep = None,
    split: Annotated[str, typer.Option("--split", help="grouped (leakage-free) or random (leaks; only to compare with published numbers).")] = "grouped",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the training.")] = 42,
    test_size: Annotated[float, typer.Option("--test-size", help="Share of rows held out for the test report.")] = 0.1,
    validation_size: Annotated[float, typer.Option("--validation-size", help="Share of rows for early stopping and calibration.")] = 0.1,
    class_weight: Annotated[Optional[str], typer.Option("--class-weight", help="'balanced' weighs rare categories up.")] = None,
    target_precision: Annotated[float, typer.Option("--target-precision", help="Precision the review threshold must reach on validation.")] = 0.98,
    drop_rare_labels: Annotated[bool, typer.Option("--drop-rare-labels", help="Leave out labels with a single row (by default they are learned, not tested).")] = False,
    refit: Annotated[bool, typer.Option("--refit/--no-refit", help="Ship the model refit on every usable row after the evaluation (--no-refit: ship the evaluated model, trained on the training split).")] = True,
    calibration_folds: Annotated[Optional[int], typer.Option("--calibration-folds", help="Refit: grouped folds whose out-of-fold predictions set the calibration and review threshold; each costs one more training. [default: 5; 3 for lstm and transformer; none from 100,000 rows on: the validation rows set them]", show_default=False)] = None,
    time_budget: Annotated[Optional[str], typer.Option("--time-budget", help="--family auto: time for choosing the family, e.g. 300, 90s, 5m, 1h; training the chosen family comes after. [default: 5m]", show_default=False)] = None,
    log_dir: Annotated[Path, typer.Option("--log-dir", help="TensorBoard logs (LSTM).")] = Path("logs"),
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="LSTM: most epochs (early stopping may end sooner). [default: 10]", show_default=False)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="LSTM: rows per step. [default: 64]", show_default=False)] = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="LSTM: vocabulary size. [default: 30000]", show_default=False)] = None,
    sequence_length: Annotated[Optional[int], typer.Option("--sequence-length", help="LSTM: tokens kept per text. [default: 120]", show_default=False)] = None,
    embedding_dim: Annotated[Optional[int], typer.Option("--embedding-dim", help="LSTM: embedding width. [default: 128]", show_default=False)] = None,
    lstm_units: Annotated[Optional[int], typer.Option("--lstm-units", help="LSTM: units per direction. [default: 64]", show_default=False)] = None,
    bidirectional: Annotated[Optional[bool], typer.Option("--bidirectional/--unidirectional", help="LSTM: read both ways. [default: bidirectional]", show_default=False)] = None,
    dropout: Annotated[Optional[float], typer.Option("--dropout", help="LSTM: dropout rate. [default: 0.4]", show_default=False)] = None,
    learning_rate: Annotated[Optional[float], typer.Option("--learning-rate", help="LSTM: Adam learning rate. [default: 0.002]", show_default=False)] = None,
    patience: Annotated[Optional[int], typer.Option("--patience", help="LSTM: epochs without validation gain before stopping. [default: 2]", show_default=False)] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Any family setting as KEY=VALUE, e.g. --param C=0.5 (repeatable).")] = None,
    quiet: Quiet = False,
    force: Overwrite = False,
) -> None:
    """Train a categorizer on a labelled catalog; save it with a report on its leakage-free test split."""
    from prodcat.models.registry import STREAMING_FAMILIES
    from prodcat.selection import parse_duration
    from prodcat.training import AUTO, train

    _check_family(family)
    budget = parse_duration(time_budget) if time_budget is not None else None
    if budget is not None and family != AUTO:
        from prodcat.errors import DataError

        raise DataError(f"--time-budget is for --family auto; --family {family} trains one family")
    lstm_flags = {
        "epochs": epochs, "batch_size": batch_size, "max_tokens": max_tokens, "sequence_length": sequence_length,
        "embedding_dim": embedding_dim, "lstm_units": lstm_units, "bidirectional": bidirectional, "dropout": dropout,
        "learning_rate": learning_rate, "patience": patience,
    }
    params = {k: v for k, v in lstm_flags.items() if v is not None}
    if params and family != "lstm":
        from prodcat.errors import DataError

        raise DataError(f"--{next(iter(params)).replace('_', '-')} is an LSTM setting; for --family {family} use --param KEY=VALUE")
    params.update(parse_params(param))
    _check_settings(family, params, class_weight, target_precision, split)
    if file is None:
        file = _reference_dataset()
    out = out or Path("models") / f"{file.stem}-{family}"
    refuse_to_overwrite(out, "--out", force)
    if report is not None:
        refuse_to_overwrite(report, "--report", force)
    with _training_progress(family, params, quiet) as progress:
        result = train(
            file, out=out, report_dir=report, family=family, params=params, **reading_options(text_col, label_col, fmt, header, encoding, path_sep),
            split=split, seed=seed, test_size=test_size, validation_size=validation_size, class_weight=class_weight,
            target_precision=target_precision, drop_rare_labels=drop_rare_labels, refit=refit, calibration_folds=calibration_folds,
            time_budget=budget, log_dir=log_dir, verbose=0 if quiet else 1, progress=progress,
        )
    m = result.metrics
    if result.selection:
        tried = ", ".join(f"{name} {f1:.4f}" for name, f1 in result.selection["out_of_fold_weighted_f1"].items()) or "none in the budget"
        typer.echo(f"family chosen: {result.selection['chosen']} (out-of-fold weighted F1 on the training rows: {tried})")
    typer.echo(f"model: {result.model_dir}")
    typer.echo(f"report: {result.report_dir}")
    if result.skipped:
        typer.echo("rows not used: " + ", ".join(f"{n} {reason}" for reason, n in result.skipped.items()))
    if result.untested_labels:
        named = ", ".join(result.untested_labels[:5]) + (", ..." if len(result.untested_labels) > 5 else "")
        typer.echo(f"untested labels (at most 2 rows each, all in training): {len(result.untested_labels)} ({named})")
    leak = " (random split: LEAKS duplicates into the test rows)" if split == "random" else " (leakage-free split)"
    typer.echo(f"test{leak}: {m['rows']} rows, accuracy {m['accuracy']:.4f}, weighted F1 {m['weighted_f1']:.4f}, macro F1 {m['macro_f1']:.4f}")
    if "review" in m:
        r = m["review"]
        typer.echo(f"review threshold {r['threshold']:.3f}: {r['coverage']:.1%} categorized automatically at precision {r['precision'] or 0:.4f}")
    for level in m.get("hierarchy", {}).get("levels", []):
        r = level.get("review") or {}
        reach = f"; back-off keeps {r['coverage']:.1%} at precision {r['precision'] or 0:.4f}" if r else ""
        typer.echo(f"level {level['level']}: accuracy {level['accuracy']:.4f}, weighted F1 {level['weighted_f1']:.4f}{reach}")
    if result.refit:
        r = result.refit
        review = r["out_of_fold_review"]
        typer.echo(f"shipped model: refit on all {r['rows']} usable rows; calibrated on {r['calibration']}: "
                   f"ECE {r['out_of_fold_ece']:.4f}, review threshold {review['threshold']:.3f} keeps {review['coverage']:.1%} "
                   f"at precision {review['precision'] or 0:.4f}")
    else:
        streamed = family in STREAMING_FAMILIES  # learned in one pass over the file: never refit
        typer.echo(f"shipped model: the evaluated one, trained on the {result.split.describe()['train_rows']} training rows"
                   + ("" if streamed else " (--no-refit)"))


def _check_family(family: str) -> None:
    from prodcat.errors import DataError
    from prodcat.models.registry import FAMILIES

    if family not in FAMILIES and family != "auto":
        raise DataError(f"--family {family!r} is not a model family; use one of {', '.join(FAMILIES)}, or auto")


def _check_settings(family: str, params: dict, class_weight: str | None, target_precision: float, split: str) -> None:
    """The options that need no data, checked before any data is read."""
    from prodcat.categorizer import Categorizer
    from prodcat.errors import DataError

    if split not in ("grouped", "random"):
        raise DataError(f"--split {split!r} is not known; use grouped (leakage-free) or random")
    if family == "auto":
        Categorizer("linear", class_weight=class_weight, target_precision=target_precision).check_settings()
        return
    Categorizer(family, params=params, class_weight=class_weight, target_precision=target_precision).check_settings()


def _training_progress(family: str, params: dict, quiet: bool):
    """A context that yields the function ``train`` tells each stage to (or None with --quiet).

    On a terminal, for a family without Keras' own bars, the stage shows beside a spinner and the
    time since the start; otherwise each stage is one line on stderr (between Keras' epoch bars)."""
    from contextlib import contextmanager, nullcontext

    from rich.console import Console

    console = Console(stderr=True)
    if quiet:
        return nullcontext()
    if _uses_keras(family, params) or not console.is_terminal:
        return nullcontext(lambda stage: typer.echo(stage, err=True))
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    @contextmanager
    def spinner():
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"{family}: starting", total=None)
            yield lambda stage: bar.update(task, description=f"{family}: {stage}")

    return spinner()


def _uses_keras(family: str, params: dict) -> bool:
    import inspect

    from prodcat.models.registry import family_class

    keras_families = {"lstm", "bag", "transformer"}
    if family == "auto":  # it may choose the bag
        return True
    if family == "ensemble":
        members = params.get("members") or inspect.signature(family_class("ensemble")).parameters["members"].default
        return bool(keras_families & set(members if isinstance(members, (list, tuple)) else [members]))
    if family == "hierarchical":
        return params.get("base", "linear") in keras_families
    return family in keras_families


def _reference_dataset() -> Path:
    from prodcat.data.download import cached_path

    return cached_path("ecommerce")
