"""The incremental compile: a tree whose recorded inputs and outputs are unchanged is not
compiled again.

Each `manifest.json` records (see `provenance`) the digest of every input that shapes its
tree — the files the compile read (the spec, its lock file, the constraints file: whatever
`airspec.inputs.read` saw, absent ones included), airspec's version and the digest of its
code, the spec language version, and the two ways the tree names its spec (`source`, from
the project root, and `runbookPath`, from out/<name>/) — plus the sha256 of every file it
wrote, the warnings the compile printed, and a digest of the manifest itself.

`compile_trees` first looks for each spec's tree by its `source`; when every recorded input
still has its digest and every file of the tree (the manifest included) is as written, the
tree is current and the spec is neither loaded nor lowered. Anything else — one byte of an
input, a file edited, added or removed by hand, another airspec — compiles the spec as
before. This module imports only the standard library and airspec's light modules; the
compile pipeline (pydantic, jsonschema, ruamel, the rules) is imported only when a spec must
be compiled.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path

from airspec import SPEC_API_VERSION, __version__, inputs
from airspec.emit import (
    MANIFEST,
    Stale,
    hidden_folders,
    leftovers,
    manifest_intact,
    orphaned,
    recover,
    removed_files,
    stale_files,
    write_tree,
)
from airspec.records import TYPE_CHECKING, NamedTuple
from airspec.repo import git_work_tree, project_root
from airspec.spec_paths import Naming, absolute, real_folder, real_path

if TYPE_CHECKING:  # imported where a warning is recorded or printed again (dataclasses)
    from typing import Any

    from airspec.diagnostics import Diagnostic

# An input file the compile would refuse or never read whole is never current (the
# constraints file and the spec are each at most 1 MiB).
_MAX_INPUT_BYTES = 1 << 20


Claim = tuple[str, ...]  # a live object a spec claims for itself alone (airspec.claims)


def provenance(
    files: Mapping[str, str | None],
    runbook: str,
    diagnostics: Iterable[Diagnostic],
    display: str,
    claims: Iterable[Claim] = (),
) -> dict[str, Any] | None:
    """What manifest.json records of a compile: its inputs, the warnings it printed (to
    print them again when the tree is found current) and the live objects it claims (two
    specs claiming one is an error, AS225, also when neither changed). None — no fast path
    for this tree — when a diagnostic is about another file than the spec (`display`), which
    the manifest could not name the same way from every working directory."""
    warnings = []
    for d in sorted(diagnostics):
        if d.file != display or d.is_error:
            return None
        warnings.append(
            {"code": d.code, "line": d.line, "col": d.col, "message": d.message, "hint": d.hint}
        )
    return {
        "inputs": {
            "airspec": __version__,
            "code": inputs.code_digest(),
            "files": dict(sorted(files.items())),
            "runbookPath": runbook,
            "schema": SPEC_API_VERSION,
        },
        "warnings": warnings,
        "claims": sorted(list(c) for c in set(claims)),
    }


class Current(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect` (~10 ms)
    """A spec whose out/<name>/ is what compiling it would write, by the manifest's digests."""

    spec: Path
    name: str
    source: str
    files: int  # in the tree, manifest.json included
    warnings: tuple[Diagnostic, ...]
    claims: frozenset[Claim]


def claimed_twice(claims: Iterable[tuple[Path, Iterable[Claim]]]) -> bool:
    """Whether two of these specs claim one live object (what pipeline.shared_claims
    reports as AS225)."""
    owner: dict[Claim, Path] = {}
    for spec, keys in claims:
        for key in keys:
            if owner.setdefault(key, spec) != spec:
                return True
    return False


class Trees:
    """What `compile` and `compile --check` work on: for each spec, in order, its tree's
    name; the trees compiled now (name -> every file), and those found current."""

    def __init__(self, out: Path, root: Path) -> None:
        self.out = out
        self.root = root  # the project the specs are named relative to (repo.project_root)
        self.names: list[str] = []
        self.compiled: dict[str, dict[str, bytes]] = {}
        self.current: dict[str, Current] = {}
        self.sources: dict[str, str] = {}  # name -> source
        self.diagnostics: list[Diagnostic] = []
        self._hidden: list[str] | None = None  # out/'s hidden folders, listed once

    def stale(self) -> list[Stale]:
        """Everything `compile --check` reports: each compiled tree's differing files and
        leftovers, a current tree's leftovers, and trees no spec produces any more."""
        found: list[Stale] = []
        hidden = hidden_folders(self.out)
        for name in self.names:
            if name in self.compiled:
                found += stale_files(self.out, name, self.compiled[name])
            else:
                found += leftovers(self.out, name, hidden)
        return found + self.orphans()

    def orphans(self) -> list[Stale]:
        """Trees in out/ that no spec produces any more (never deleted: reported)."""
        return orphaned(self.out, self.root, self.sources)

    def removed(self, name: str) -> list[str]:
        """The files of out/<name>/ that writing it removes (none for a current tree: a file
        its manifest does not list makes it not current)."""
        if name in self.current:
            return []
        return removed_files(self.out, name, self.compiled[name])

    def write(self, name: str) -> tuple[bool, int]:
        """Write out/<name>/ (a current tree: only remove an interrupted write's leftovers);
        returns whether anything changed and the tree's number of files."""
        if name in self.current:
            if self._hidden is None:
                self._hidden = hidden_folders(self.out)
            if leftovers(self.out, name, self._hidden):
                recover(self.out, name)
            return False, self.current[name].files
        files = self.compiled[name]
        return write_tree(self.out, name, files), len(files)


def compile_trees(specs: Sequence[Path], out: Path, *, force: bool = False) -> Trees:
    """Each spec's tree for the out folder `out`: found current by its manifest's digests,
    else compiled (loaded, checked, lowered, rendered). `force` compiles every spec."""
    found = {} if force else current_trees(specs, out)
    todo = [s for s in specs if s not in found]
    trees = Trees(out, project_root(out))
    if todo:
        from airspec.pipeline import compile_specs

        batch = compile_specs(todo, out)
        taken = {c.name for c in found.values()}
        if found and (
            any(c.resolved is not None and c.resolved.name in taken for c in batch.compiled)
            or claimed_twice([*_claims(found), *((c.spec_path, _keys(c)) for c in batch.compiled)])
        ):
            # two specs name one tree or one live object: compile all, as without the fast
            # path, so that the error is reported at the later one
            batch, found = compile_specs(specs, out), {}
        trees.diagnostics += batch.diagnostics
        compiled = {c.spec_path: c for c in batch.compiled}
    elif claimed_twice(_claims(found)):
        return compile_trees(specs, out, force=True)
    else:
        compiled = {}
    for spec in specs:
        if spec in found:
            cur = found[spec]
            trees.current[cur.name] = cur
            trees.names.append(cur.name)
            trees.sources[cur.name] = cur.source
            trees.diagnostics += cur.warnings
        elif spec in compiled:
            trees.names.append(_render(trees, compiled[spec]))
    return trees


def _claims(found: Mapping[Path, Current]) -> list[tuple[Path, frozenset[Claim]]]:
    return [(spec, cur.claims) for spec, cur in found.items()]


def _keys(result: Any) -> list[Claim]:
    """What a compiled spec (pipeline.Compiled) claims."""
    from airspec.claims import claims

    return [c.key for c in claims(result.resolved, result.artifacts)]


def _render(trees: Trees, result: Any) -> str:
    """Render a compiled spec's tree (pipeline.Compiled) into `trees`; returns its name."""
    from airspec.emit import render_tree

    r = result.resolved
    kept = provenance(
        result.inputs,
        r.spec_from_runbook,
        result.diagnostics,
        str(result.spec_path),
        _keys(result),
    )
    trees.compiled[r.name] = render_tree(r.name, result.artifacts, r.source, kept)
    trees.sources[r.name] = r.source
    return str(r.name)


# --- the fast path -----------------------------------------------------------------------


def current_trees(specs: Sequence[Path], out: Path) -> dict[Path, Current]:
    """The specs whose tree in `out` is current: every input recorded in its manifest has
    the same digest now, and every file of the tree is as the manifest says."""
    naming = Naming(project_root(out), out)
    manifests = _manifests(out)
    found: dict[Path, Current] = {}
    seen: dict[tuple[Path, str], str | None] = {}
    for spec in specs:
        real = real_path(spec)
        source = naming.source(spec, real)
        if source not in manifests:
            continue
        runbook = naming.runbook(spec, real) or source
        for tree, manifest in manifests[source]:  # a renamed spec's old tree claims it too
            if _inputs_unchanged(spec, manifest["inputs"], runbook, seen) and _outputs_unchanged(
                tree, manifest
            ):
                found[spec] = Current(
                    spec,
                    tree.name,
                    source,
                    len(manifest["artifacts"]) + 1,
                    tuple(_warnings(manifest["warnings"], str(spec))),
                    frozenset(tuple(str(k) for k in key) for key in manifest["claims"]),
                )
                break
    return found


def _manifests(out: Path) -> dict[str, list[tuple[Path, dict[str, Any]]]]:
    """Trees of `out` whose manifest records provenance and is exactly as airspec wrote it,
    by source (the spec's name)."""
    found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
    try:
        folders = sorted(e.name for e in os.scandir(out) if not e.name.startswith("."))
    except OSError:
        return {}
    for name in folders:
        tree = out / name
        try:
            with open(os.path.join(out, name, MANIFEST), "rb") as f:
                raw = f.read()
            manifest = json.loads(raw)
        except (OSError, ValueError):
            continue
        if not manifest_intact(raw) or not _well_formed(manifest) or manifest["name"] != name:
            continue  # edited by hand, or written by an airspec without provenance
        found.setdefault(manifest["source"], []).append((tree, manifest))
    return found


def _well_formed(m: Any) -> bool:
    """The shape the fast path reads, every value of the type it uses: a manifest re-sealed
    by hand with anything else is not current (its spec is compiled), never a traceback."""
    if not isinstance(m, dict) or not isinstance(m.get("inputs"), dict):
        return False
    i = m["inputs"]
    return (
        all(isinstance(m.get(k), str) for k in ("name", "source"))
        and isinstance(m.get("artifacts"), list)
        and all(isinstance(a, dict) and isinstance(a.get("path"), str) for a in m["artifacts"])
        and isinstance(m.get("warnings"), list)
        and all(_warning_well_formed(w) for w in m["warnings"])
        and isinstance(m.get("claims"), list)
        and all(isinstance(k, list) and all(isinstance(p, str) for p in k) for k in m["claims"])
        and isinstance(i.get("files"), dict)
        and all(
            _plain_name(name) and (digest is None or isinstance(digest, str))
            for name, digest in i["files"].items()
        )
    )


def _warning_well_formed(w: Any) -> bool:
    return (
        isinstance(w, dict)
        and all(type(w.get(k, 1)) is int for k in ("line", "col"))
        and all(isinstance(w.get(k, ""), str) for k in ("code", "message", "hint"))
    )


def _plain_name(name: str) -> bool:
    """A recorded input's name as `inputs.read` writes one: a path, without a NUL."""
    return bool(name) and "\0" not in name


def _inputs_unchanged(
    spec: Path, recorded: dict[str, Any], runbook: str, seen: dict[tuple[Path, str], str | None]
) -> bool:
    """Every recorded input has its digest now (`seen`: the digests taken in this run, as
    specs share a constraints file)."""
    folder = spec.parent
    files = recorded["files"]
    if spec.name not in files:  # the spec itself is always read; else this is not its record
        return False
    return (
        recorded.get("airspec") == __version__
        and recorded.get("schema") == SPEC_API_VERSION
        and recorded.get("code") == inputs.code_digest()
        and recorded.get("runbookPath") == runbook
        and all(_seen(seen, folder, rel) == want for rel, want in files.items())
    )


def _seen(seen: dict[tuple[Path, str], str | None], folder: Path, relative: str) -> str | None:
    if (folder, relative) not in seen:
        seen[folder, relative] = _digest(folder, relative)
    return seen[folder, relative]


def _digest(folder: Path, relative: str) -> str | None:
    """What `inputs.read` (or `read_if_file`) would record for `folder / relative` now: its
    sha256, None when absent, NOT_A_FILE for a folder or the like; "" (never a recorded
    value) for a file the compile would refuse or not read whole, or one outside the spec's
    repository."""
    path = os.path.join(folder, relative)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return ""
    if not stat.S_ISREG(info.st_mode):
        return inputs.NOT_A_FILE
    if info.st_size > _MAX_INPUT_BYTES:
        return ""
    if not _in_repository(folder, relative):
        return ""
    try:
        with open(path, "rb") as f:
            return inputs.sha256(f.read())
    except OSError:
        return ""


def _in_repository(folder: Path, relative: str) -> bool:
    """As repo.in_spec_repository decides it, without resolving every path: a file right in
    the spec's folder that is not a symlink lies where the folder does."""
    here = absolute(folder)  # the caches below outlive a change of directory
    plain = "/" not in relative and os.sep not in relative and relative not in (".", "..")
    if plain and not os.path.islink(os.path.join(folder, relative)):
        return _folder_inside(here)
    return (folder / relative).resolve().is_relative_to(_repository(here))


@cache
def _folder_inside(folder: str) -> bool:
    return real_folder(folder).is_relative_to(_repository(folder))


@cache
def _repository(folder: str) -> Path:
    """The git work tree holding the spec's folder (absolute), else the folder, resolved."""
    return git_work_tree(Path(folder)) or real_folder(folder)


def _outputs_unchanged(tree: Path, manifest: dict[str, Any]) -> bool:
    """Every file of the tree is one the manifest lists, with the sha256 it records."""
    want = {a["path"]: a.get("sha256") for a in manifest["artifacts"]}
    want[MANIFEST] = None  # checked whole by manifest_intact
    seen = _files_match(str(tree), "", want)
    return seen == len(want)


def _files_match(folder: str, prefix: str, want: dict[str, Any]) -> int:
    """How many files under `folder` match `want` (relative path -> sha256); -1 as soon as
    one does not, or is not listed."""
    count = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return -1
    for entry in entries:
        rel = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            found = _files_match(entry.path, rel + "/", want)
            if found < 0:
                return -1
            count += found
            continue
        if rel not in want or not entry.is_file():
            return -1  # a file the compile would not write, or a FIFO, a device, a dead link
        count += 1
        if rel == MANIFEST:
            continue
        try:
            with open(entry.path, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != want[rel]:
                    return -1
        except OSError:
            return -1
    return count


def _warnings(recorded: list[dict[str, Any]], display: str) -> Iterable[Diagnostic]:
    if not recorded:
        return
    from airspec.diagnostics import Diagnostic, Severity

    for w in recorded:
        yield Diagnostic(
            display,
            int(w.get("line", 1)),
            int(w.get("col", 1)),
            str(w.get("code", "")),
            str(w.get("message", "")),
            str(w.get("hint", "")),
            Severity.WARNING,
        )
