"""The `airspec` console entry point.

`airspec compile SPEC… [--check]` when nothing changed — the common case of a pre-commit hook
or a CI check — is answered here, before the command line framework is imported: typer's
import and option parsing alone take longer than reading and hashing a hundred specs' files.
Only the plainest form is answered here: spec paths, `--out`/`-o DIR` (by default the
project's out/, found as the CLI finds it: `repo.out_folder`), `--check`, `--diff` (nothing
to show when nothing is stale), `-v`/`--verbose`, `--format`/`-f text|github`; every tree
current, with no warning, no leftover and no orphan beside it. Anything else, and every other
command, runs the CLI (airspec.cli), which gives the same answer (tests/test_incremental.py
checks both agree; tests/test_cli.py that `plain_compile` reads a command line as click does).
"""

from __future__ import annotations

import sys

from airspec.command_line import plain_compile


def _unchanged(argv: list[str]) -> int | None:
    """Answer `compile` when every tree is current and clean; None to let the CLI run."""
    args = plain_compile(argv)
    if args is None or args.force or args.fmt == "json":
        return None  # json prints a document even when there is no diagnostic
    paths, given, check, verbose = args.paths, args.out, args.check, args.verbose
    if not all(p.exists() for p in paths):
        return None
    from airspec.emit import hidden_folders, orphaned
    from airspec.incremental import claimed_twice, current_trees
    from airspec.repo import out_folder, project_root
    from airspec.spec_paths import NoSpecs, expand_specs

    try:
        specs = expand_specs(paths)
    except NoSpecs:
        return None
    out = out_folder(given, specs)
    found = current_trees(specs, out)
    if len(found) != len(specs) or any(c.warnings for c in found.values()):
        return None
    if claimed_twice((s, c.claims) for s, c in found.items()):
        return None  # AS225: the CLI reports it
    names = [found[s].name for s in specs]
    left = tuple(f".{n}.{kind}-" for n in names for kind in ("new", "old"))
    if any(h.startswith(left) for h in hidden_folders(out)):
        return None  # an interrupted write to report or undo
    if orphaned(out, project_root(out), {c.name: c.source for c in found.values()}):
        return None
    if check:
        print(f"airspec: {out} is up to date ({len(names)} spec(s))", file=sys.stderr)
        return 0
    if verbose:
        for spec in specs:
            c = found[spec]
            print(f"unchanged {(out / c.name).as_posix()}/ ({c.files} files)", file=sys.stderr)
    print(
        f"airspec: {len(names)} spec(s) compiled into {out.as_posix()}/: 0 written, "
        f"{len(names)} unchanged",
        file=sys.stderr,
    )
    return 0


def main() -> None:
    """Console entry point: the no-op compile here, everything else in airspec.cli."""
    try:
        code = _unchanged(sys.argv[1:])
    except (OSError, ValueError):
        code = None  # whatever went wrong, the CLI reports it properly
    except KeyboardInterrupt:
        code = 130  # as the CLI: Ctrl-C is exit 130, without a traceback
    if code is not None:
        sys.exit(code)
    from airspec.cli import main as cli

    cli()
