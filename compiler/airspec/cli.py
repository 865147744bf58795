"""The `airspec` command line's entry (after airspec.launch).

The commands, their options and help are airspec.commands (typer). A plain `compile` — spec
paths with `--out`/`-o DIR`, `--format`/`-f text|github|json` (each at most once), `--check`,
`--diff`, `--force`, `-v`/`--verbose` — is run here without importing typer: importing
typer (with its click) is about 25 ms of a cold compile of one spec. It runs
airspec.compile_command.run_compile, the body the typer command runs too, so the output and
the exit code are the same (tests/test_cli.py compares both); any other form, and every other
command, goes to typer. `from airspec.cli import app` (or any other name of airspec.commands)
still works.
"""

from __future__ import annotations

import sys
from contextlib import suppress
from typing import Any

from airspec.command_line import plain_compile
from airspec.compile_command import DiagFormat, run_compile
from airspec.exits import exit_code


def _completing() -> bool:
    """Whether the shell asks for completions (click's _<PROG>_COMPLETE variable)."""
    import os

    return any(k.startswith("_") and k.endswith("_COMPLETE") for k in os.environ)


class _PipeClosed:
    """stdout or stderr after the reader went away: flushing it is not an error (as click
    does for a broken pipe)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        with suppress(BrokenPipeError):
            self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def main() -> None:
    """Console entry point: a plain compile here, everything else through typer; no traceback
    reaches the user."""
    args = plain_compile(sys.argv[1:]) if not _completing() else None
    if args is None:
        from airspec.commands import main as commands

        commands()
        return
    # what typer's main does around a command: Ctrl-C is exit 130 without a message, a closed
    # pipe exit 1 with stdout and stderr quiet from then on
    try:
        code = run_compile(
            args.paths,
            args.out,
            check=args.check,
            diff=args.diff,
            force=args.force,
            fmt=DiagFormat(args.fmt),
            verbose=args.verbose,
        )
    except KeyboardInterrupt:
        code = exit_code(interrupted=True)
    except BrokenPipeError:
        sys.stdout = _PipeClosed(sys.stdout)
        sys.stderr = _PipeClosed(sys.stderr)
        code = 1
    sys.exit(code)


def __getattr__(name: str) -> Any:
    """The typer app and the commands, for `from airspec.cli import app` (tests, scripts)."""
    if name.startswith("__"):
        raise AttributeError(name)
    import airspec.commands

    return getattr(airspec.commands, name)
