"""The one reader of a plain `airspec compile` command line, without typer: airspec.launch
answers a no-op compile with it, airspec.cli runs a plain compile with it; every other form
goes to typer (airspec.commands). tests/test_cli.py checks it against click's parse."""

from __future__ import annotations

from pathlib import Path

from airspec.records import NamedTuple

_FLAGS = {
    "--check": "check",
    "--diff": "diff",
    "--force": "force",
    "-v": "verbose",
    "--verbose": "verbose",
}
_VALUES = {"-o": "out", "--out": "out", "-f": "fmt", "--format": "fmt"}
_FORMATS = ("text", "github", "json")


class PlainCompile(NamedTuple):
    """A plain `compile` command line, as click reads it (`fmt`: the format's name)."""

    paths: list[Path]
    out: Path | None
    check: bool
    diff: bool
    force: bool
    fmt: str
    verbose: bool


def plain_compile(argv: list[str]) -> PlainCompile | None:
    """A plain `compile` command line, else None: typer reads every other form
    (`--out=DIR`, `-vf`, `--`, `-h`, an option given twice, a value or a spec path starting
    with '-')."""
    if not argv or argv[0] != "compile":
        return None
    paths: list[Path] = []
    flags: set[str] = set()
    values: dict[str, str] = {}
    args = iter(argv[1:])
    for arg in args:
        if arg in _FLAGS:
            flags.add(_FLAGS[arg])
        elif arg in _VALUES:
            key, value = _VALUES[arg], next(args, None)
            if key in values or not value or value.startswith("-"):
                return None
            if key == "fmt" and value not in _FORMATS:
                return None
            values[key] = value
        elif not arg or arg.startswith("-"):
            return None
        else:
            paths.append(Path(arg))
    if not paths:
        return None
    out = values.get("out")
    return PlainCompile(
        paths,
        None if out is None else Path(out),
        "check" in flags,
        "diff" in flags,
        "force" in flags,
        values.get("fmt", "text"),
        "verbose" in flags,
    )
