"""The Typer application, its sub-commands, and the one place where errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from prodcat.cli import data, encoder, evaluate, predict, serve, train

app = typer.Typer(
    name="prodcat",
    help="Learn a shop's product categories from a labelled catalog and categorize new products.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train.train_command)
app.command("evaluate")(evaluate.evaluate_command)
app.command("predict")(predict.predict_command)
app.command("serve")(serve.serve_command)
app.command("fetch-encoder")(encoder.fetch_encoder_command)
app.add_typer(data.app, name="data")

USER_ERROR = 2


def _print_version(value: bool) -> None:
    if value:
        from prodcat import __version__

        typer.echo(f"prodcat {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors."),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
) -> None:
    """Global options."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. User errors print one line to stderr and exit with code 2 (tracebacks with --debug)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:  # TensorFlow's native logs too (prodcat.models.keras_family silences them otherwise)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    from prodcat.errors import ProdcatError

    try:
        code = app(args=argv, prog_name="prodcat", standalone_mode=False)
    except ProdcatError as exc:
        if debug:
            raise
        typer.echo(f"error: {' '.join(str(exc).splitlines())}", err=True)
        sys.exit(USER_ERROR)
    except (KeyboardInterrupt, typer.Abort) as exc:
        if isinstance(exc.__cause__, EOFError):  # click turns any EOFError into Abort, as if Ctrl-D
            _unexpected(exc.__cause__, debug)
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, bad value
        if debug:
            raise
        if hasattr(exc, "show"):
            exc.show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(USER_ERROR)
    except Exception as exc:
        _unexpected(exc, debug)
    sys.exit(code if isinstance(code, int) else 0)


def _unexpected(exc: BaseException, debug: bool) -> None:
    """A bug, not a user's error: one line and exit 1 (the traceback with --debug)."""
    if debug:
        raise exc
    from prodcat.artifacts import one_line

    typer.echo(f"error: unexpected {type(exc).__name__}: {one_line(exc, 500)} (rerun with --debug for the traceback)", err=True)
    sys.exit(1)
