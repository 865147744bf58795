"""The git work tree a path lies in: what "the project" and "the spec's repository" mean."""

from __future__ import annotations

from pathlib import Path


def git_work_tree(path: Path) -> Path | None:
    """The nearest folder at or above `path` (symlinks resolved) holding `.git`, else None."""
    start = path.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None
