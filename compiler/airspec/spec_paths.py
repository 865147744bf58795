"""Which files are specs, and how a compiled tree names its spec: light enough for the fast
path (`airspec.incremental`), which decides from these names whether a tree is current."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import cache, cached_property
from pathlib import Path

SPEC_GLOB = "*.airspec.yaml"
_SPEC_SUFFIX = SPEC_GLOB[1:]


class NoSpecs(ValueError):
    """A folder given as a spec holds no `*.airspec.yaml`."""


def expand_specs(paths: Sequence[Path]) -> list[Path]:
    """Spec files as given, with each folder replaced by the `*.airspec.yaml` files under
    it (recursively, sorted; hidden files and folders skipped, symlinked folders not
    entered, as `Path.rglob` does). A path given twice counts once."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(Path(p) for p in _spec_files(str(path)))
            if not found:
                raise NoSpecs(f"no {SPEC_GLOB} under {path}")
            out += found
        else:
            out.append(path)
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(real_path(p), p)
    return list(unique.values())


def _spec_files(folder: str) -> Iterator[str]:
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:  # unreadable: skipped, as rglob skips it
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _spec_files(entry.path)
        elif entry.name.endswith(_SPEC_SUFFIX) and entry.is_file():
            yield entry.path


def real_path(path: Path) -> Path:
    """`path.resolve()`, resolving each folder once: a spec that is not itself a symlink
    lies where its folder does (the fast path names a hundred specs of one folder)."""
    if path.name in ("", ".", "..") or os.path.islink(path):
        return path.resolve()
    return real_folder(absolute(path.parent)) / path.name


def absolute(path: Path) -> str:
    """`path` made absolute, not normalized: `link/..` is where the link's target's parent
    is, which only resolving tells (os.path.abspath would drop both parts)."""
    return str(path) if path.is_absolute() else os.path.join(os.getcwd(), path)


@cache
def real_folder(folder: str) -> Path:
    """An absolute folder (`absolute`), resolved; absolute, as the cache outlives a change
    of directory."""
    return Path(folder).resolve()


class Naming:
    """How the trees compiled into `out` name their specs (the paths resolved once)."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root  # the project: repo.project_root(out)
        self.out = out
        self._folders: dict[Path, tuple[str | None, str | None]] = {}

    @cached_property
    def _root(self) -> Path:
        return self.root.resolve()

    @cached_property
    def _out(self) -> Path:
        return self.out.resolve()

    def source(self, spec: Path, real: Path | None = None) -> str:
        """The spec as headers name it: relative to the project root (the repository
        holding out/), else to the working directory, else its file name, so that neither
        the cwd nor a machine-specific path changes an artifact."""
        real = real or real_path(spec)
        folder = self._folder(real.parent)[0]
        return spec.name if folder is None else _child(folder, real.name)

    def runbook(self, spec: Path, real: Path | None = None) -> str | None:
        """The spec relative to out/<name>/ (whatever the name), when both are in the
        project; else None (the runbook then names it as the header does)."""
        real = real or real_path(spec)
        folder = self._folder(real.parent)[1]
        return None if folder is None else "../" + _child(folder, real.name)

    def _folder(self, folder: Path) -> tuple[str | None, str | None]:
        """A spec folder's part of `source` and of `runbook` (None where the spec has no
        such name), worked out once per folder: specs are many, their folders few."""
        if folder not in self._folders:
            source = runbook = None
            if folder.is_relative_to(self._root):
                source = folder.relative_to(self._root).as_posix()
                runbook = Path(os.path.relpath(folder, self._out)).as_posix()
            else:
                cwd = Path.cwd().resolve()
                if folder.is_relative_to(cwd):
                    source = folder.relative_to(cwd).as_posix()
            self._folders[folder] = (source, runbook)
        return self._folders[folder]


def _child(folder: str, name: str) -> str:
    """`folder/name` in posix form ("." is the folder itself)."""
    return name if folder == "." else f"{folder}/{name}"


def source_name(spec: Path, root: Path) -> str:
    """Naming.source for one spec."""
    return Naming(root, root).source(spec)


def runbook_path(spec: Path, root: Path, out: Path) -> str | None:
    """Naming.runbook for one spec."""
    return Naming(root, out).runbook(spec)
