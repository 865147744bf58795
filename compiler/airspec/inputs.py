"""What a compiled tree depends on, recorded while it is compiled, so that a later `compile`
can tell an unchanged tree without loading and lowering its spec again.

Every file of the user's project that the compile reads (the spec, its lock file, the
constraints file, and any data file a pass reads in the future) is read through `read`,
which records its sha256 (or that it is absent) in the record of the spec being compiled.
So the list of inputs is whatever the compile actually read, never a list kept by hand.
Files shipped inside the airspec package (code and vendored data) are covered as a whole by
`code_digest`.

This module and `airspec.incremental` are the fast path: they import only the standard
library, never pydantic, jsonschema, ruamel or the rules.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

# Modules of the package that never shape a tree: the command line (options and output),
# `init`, `review` (reads compiled trees), the fast path itself, and the live stages, which
# the compile never imports (tests/test_incremental.py checks that). Everything else in the
# package, data files included (regions.json, spec.schema.json), is part of the code digest;
# a new module is included unless listed here.
NOT_LOWERING = frozenset(
    {
        "cli.py",
        "command_line.py",
        "commands.py",
        "compile_command.py",
        "launch.py",
        "__main__.py",
        "starter.py",
        "review.py",
        "incremental.py",
        "apply",
        "live",
    }
)

_record: ContextVar[dict[str, str | None] | None] = ContextVar("airspec_inputs", default=None)
_folder: ContextVar[Path | None] = ContextVar("airspec_inputs_folder", default=None)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def recording(spec: Path) -> Iterator[dict[str, str | None]]:
    """Record the files read while compiling `spec`: their path relative to the spec's
    folder (as the compile opened it) -> sha256, or None for a file that was absent."""
    files: dict[str, str | None] = {}
    token, folder = _record.set(files), _folder.set(spec.parent)
    try:
        yield files
    finally:
        _record.reset(token)
        _folder.reset(folder)


def _key(folder: Path, relative: str) -> str:
    """`relative` (a path below `folder`) as the record names it: relative to the folder of
    the spec being recorded, written as the compile wrote it (not normalized: `a/..` with a
    symlinked `a` is another file than `.`)."""
    base = _folder.get()
    if base is None or Path(os.path.abspath(folder)) == Path(os.path.abspath(base)):
        return Path(relative).as_posix()
    return Path(os.path.relpath(folder / relative, base)).as_posix()


def read(folder: Path, relative: str) -> bytes:
    """The bytes of `folder / relative`, recorded as an input of the tree being compiled.
    Raises OSError as `Path.read_bytes` does; a missing file is recorded as absent."""
    record = _record.get()
    try:
        data = (folder / relative).read_bytes()
    except FileNotFoundError:
        if record is not None:
            record[_key(folder, relative)] = None
        raise
    if record is not None:
        record[_key(folder, relative)] = sha256(data)
    return data


NOT_A_FILE = "not a file"  # recorded for an optional file's path holding something else


def read_if_file(folder: Path, relative: str) -> bytes | None:
    """The bytes of an optional file (`read`), None when there is none: absent (recorded
    as absent) or something else than a file there, a folder say (recorded as NOT_A_FILE),
    so that a file appearing there later is a change."""
    path = folder / relative
    if path.exists() and not path.is_file():
        record = _record.get()
        if record is not None:
            record[_key(folder, relative)] = NOT_A_FILE
        return None
    try:
        return read(folder, relative)
    except FileNotFoundError:
        return None


def package_files() -> list[Path]:
    """Every file of the installed package that shapes a tree (see NOT_LOWERING), sorted."""
    return [Path(path) for _, path in _package_files()]


def _package_files() -> list[tuple[str, str]]:
    """(name in the package, as posix; path) of each file of `package_files`, sorted by
    name: strings, not Paths, as the fast path takes the code digest on every run."""
    package = os.path.dirname(os.path.realpath(__file__))
    found = []
    for folder, dirs, files in os.walk(package):
        top = folder == package
        prefix = "" if top else os.path.relpath(folder, package).replace(os.sep, "/") + "/"
        dirs[:] = [
            d
            for d in dirs
            if d != "__pycache__"
            and not d.startswith(".")
            and not (top and d in NOT_LOWERING)
        ]
        found += [
            (prefix + f, os.path.join(folder, f))
            for f in files
            if not f.startswith(".")
            and not f.endswith((".pyc", ".pyo"))
            and not (top and f in NOT_LOWERING)
        ]
    return sorted(found)


@cache
def code_digest() -> str:
    """sha256 over the package's files that shape a tree (name and bytes of each): the
    compiler itself is an input, also between two releases of the same version."""
    h = hashlib.sha256()
    for name, path in _package_files():
        with open(path, "rb") as f:
            data = f.read()
        h.update(name.encode() + b"\0")
        h.update(data + b"\0")
    return h.hexdigest()
