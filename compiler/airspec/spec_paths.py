"""Which files are specs, and how a compiled tree names its spec: light enough for the fast
path (`airspec.incremental`), which decides from these names whether a tree is current."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

SPEC_GLOB = "*.airspec.yaml"


class NoSpecs(ValueError):
    """A folder given as a spec holds no `*.airspec.yaml`."""


def expand_specs(paths: Sequence[Path]) -> list[Path]:
    """Spec files as given, with each folder replaced by the `*.airspec.yaml` files under
    it (recursively, sorted; hidden folders skipped). A path given twice counts once."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob(SPEC_GLOB)
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise NoSpecs(f"no {SPEC_GLOB} under {path}")
            out += found
        else:
            out.append(path)
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


class Naming:
    """How the trees compiled into `out` name their specs (the paths resolved once)."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root  # the project: repo.project_root(out)
        self.out = out

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
        real = real or spec.resolve()
        if real.is_relative_to(self._root):
            return real.relative_to(self._root).as_posix()
        cwd = Path.cwd().resolve()
        return real.relative_to(cwd).as_posix() if real.is_relative_to(cwd) else spec.name

    def runbook(self, spec: Path, real: Path | None = None) -> str | None:
        """The spec relative to out/<name>/ (whatever the name), when both are in the
        project; else None (the runbook then names it as the header does)."""
        real = real or spec.resolve()
        if not real.is_relative_to(self._root):
            return None
        return "../" + Path(os.path.relpath(real, self._out)).as_posix()


def source_name(spec: Path, root: Path) -> str:
    """Naming.source for one spec."""
    return Naming(root, root).source(spec)


def runbook_path(spec: Path, root: Path, out: Path) -> str | None:
    """Naming.runbook for one spec."""
    return Naming(root, out).runbook(spec)
