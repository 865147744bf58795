"""`airspec compile` as the command line runs it: what it prints and its exit code
(`run_compile`). The typer command (airspec.commands.compile_) and airspec.cli's plain path
(the command line read by airspec.command_line.plain_compile) both run `run_compile`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

from airspec.diagnostics import (
    Diagnostic,
    format_github,
    format_json,
    format_stale_github,
    format_text,
    has_errors,
)
from airspec.exits import exit_code


class DiagFormat(StrEnum):
    text = "text"
    github = "github"
    json = "json"


def _say(message: str) -> None:
    """Progress and summaries go to stderr, so stdout stays parseable."""
    print(message, file=sys.stderr)


def _print_diagnostics(
    diags: list[Diagnostic], fmt: DiagFormat, *, stale: list[tuple[str, str]] | None = None
) -> None:
    """Diagnostics, and for `compile --check` the stale files (path, reason), in one format:
    json is one document, github makes each stale file an annotation."""
    if fmt is DiagFormat.json:
        print(format_json(diags, stale=stale))
        return
    for d in sorted(diags):
        print(format_github(d) if fmt is DiagFormat.github else format_text(d))
    for path, reason in stale or []:
        print(
            format_stale_github(path, reason) if fmt is DiagFormat.github else f"{path}: {reason}"
        )


def _summary(diags: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    parts = [f"{errors} error(s)"] + ([f"{warnings} warning(s)"] if warnings else [])
    return ", ".join(parts)


def run_compile(
    paths: list[Path],
    out: Path | None = None,
    *,
    check: bool = False,
    diff: bool = False,
    force: bool = False,
    fmt: DiagFormat = DiagFormat.text,
    verbose: bool = False,
) -> int:
    """`airspec compile`: what it prints, and its exit code (airspec.commands.compile_ has
    the documentation). A file or folder that cannot be read or written (no permission, a
    disk error) is a message and exit 1, never a traceback; the lines printed before it say
    which trees were written."""
    try:
        return _compile(paths, out, check=check, diff=diff, force=force, fmt=fmt, verbose=verbose)
    except BrokenPipeError:
        raise  # the reader of the output went away: quiet, as the callers handle it
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _say(f"airspec: cannot read or write{where}: {exc.strerror or exc}")
        return exit_code(error=True)


def _compile(
    paths: list[Path],
    out: Path | None,
    *,
    check: bool,
    diff: bool,
    force: bool,
    fmt: DiagFormat,
    verbose: bool,
) -> int:
    from airspec.emit import EmitError, unified_diff
    from airspec.incremental import compile_trees
    from airspec.repo import out_folder
    from airspec.spec_paths import NoSpecs, expand_specs

    try:
        specs = expand_specs(paths)
    except NoSpecs as exc:
        _say(f"airspec: {exc}")
        return exit_code(error=True)
    out = out_folder(out, specs)
    trees = compile_trees(specs, out, force=force)
    diags = trees.diagnostics
    if has_errors(diags):
        _print_diagnostics(diags, fmt)
        _say(f"airspec: {_summary(diags)}; nothing written")
        return exit_code(error=True)
    if check:
        found = trees.stale()
        stale = [(f"{out.as_posix()}/{s.path}", s.reason) for s in found]
        _print_diagnostics(diags, fmt, stale=stale)
        if diff and fmt is not DiagFormat.json:
            for s in found:
                print(unified_diff(out, s, trees.compiled), end="")
        if stale:
            folders = sum(path.endswith("/") for path, _ in stale)  # leftovers, orphans
            plain = len(stale) - folders
            parts = [f"{plain} file(s)"] if plain else []
            parts += [f"{folders} folder(s)"] if folders else []
            counted = " and ".join(parts)
            _say(f"airspec: {counted} in {out} are stale; run 'airspec compile' and commit")
            return exit_code(pending=True)
        _say(f"airspec: {out} is up to date ({len(trees.names)} spec(s))")
        return exit_code()
    _print_diagnostics(diags, fmt)
    written = 0
    for name in trees.names:
        removed = trees.removed(name)
        try:
            changed, count = trees.write(name)
        except EmitError as exc:
            _say(
                f"airspec: {exc}; {(out / name).as_posix()}/ and the trees after it were not written"
            )
            return exit_code(error=True)
        written += changed
        for path in removed:
            _say(f"removed {(out / name / path).as_posix()} (airspec does not generate it)")
        if changed or verbose:
            _say(
                f"{'wrote' if changed else 'unchanged'} {(out / name).as_posix()}/ ({count} files)"
            )
    _say(
        f"airspec: {len(trees.names)} spec(s) compiled into {out.as_posix()}/: {written} written, "
        f"{len(trees.names) - written} unchanged" + (f" ({_summary(diags)})" if diags else "")
    )
    for orphan in trees.orphans():
        _say(f"airspec: {out.as_posix()}/{orphan.path} is {orphan.reason}; remove it")
    return exit_code()
