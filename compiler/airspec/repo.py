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


def project_root(out_dir: Path) -> Path:
    """The folder spec paths in headers are relative to: the git work tree that holds the out
    folder, else the out folder's parent (so the header does not depend on the cwd)."""
    return git_work_tree(out_dir) or out_dir.resolve().parent
