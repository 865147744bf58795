"""The git work tree a path lies in: what "the project" and "the spec's repository" mean."""

from __future__ import annotations

from pathlib import Path


def git_work_tree(path: Path) -> Path | None:
    """The nearest folder at or above `path` (symlinks resolved) holding `.git`, else None."""
    start = path.resolve()
    for folder in (start, *start.parents):
        try:
            if (folder / ".git").exists():
                return folder
        except OSError:  # a folder that cannot be searched (no permission) holds no .git we can use
            continue
    return None


def project_root(out_dir: Path) -> Path:
    """The folder spec paths in headers are relative to: the git work tree that holds the out
    folder, else the out folder's parent (so the header does not depend on the cwd)."""
    return git_work_tree(out_dir) or out_dir.resolve().parent


def default_out(specs: list[Path]) -> Path:
    """The default out folder: `out/` at the root of the git work tree holding the specs,
    wherever the command runs (so `cd specs && airspec compile .` writes the project's out/,
    not a second tree in specs/); `out` in the working directory when the specs are in no
    git work tree."""
    for spec in specs:
        tree = git_work_tree(spec.parent if spec.is_file() or not spec.exists() else spec)
        if tree is not None:
            return tree / "out"
    return Path("out")


def out_folder(given: Path | None, specs: list[Path]) -> Path:
    """The out folder of `compile` and `apply`: --out as given, else the project's out/
    (`default_out` of the expanded specs) as messages show it. One function for the CLI and
    the console entry point (airspec.launch), so both name the same folder."""
    return given if given is not None else Path(shown(default_out(specs)))


def shown(path: Path) -> str:
    """A path as messages show it: relative to the working directory when that is short."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path.as_posix()
    return Path(rel).as_posix() if not rel.startswith("../../..") else path.as_posix()


def in_spec_repository(spec_dir: Path, path: Path) -> bool:
    """Whether `path` (symlinks resolved) lies in the git work tree holding the spec's folder
    (without git: in the spec's folder). Files a spec names may only come from there."""
    root = git_work_tree(spec_dir) or spec_dir.resolve()
    return path.resolve().is_relative_to(root)
