"""The pieces the no-op `compile` (airspec.launch) is made of, checked against the plain
definitions they replace for speed: `expand_specs` against `Path.rglob`, `real_path` against
`Path.resolve`, `Naming` against path arithmetic on each spec, and the records of
airspec.records against `typing.NamedTuple`."""

from __future__ import annotations

import os
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airspec.records import NamedTuple
from airspec.spec_paths import SPEC_GLOB, Naming, NoSpecs, expand_specs, real_path

NAMES = st.sampled_from(
    ["a", "b", ".hidden", "x.airspec.yaml", ".x.airspec.yaml", "y.airspec.yaml", "n.yaml", "Z.AIRSPEC.YAML"]
)
# an entry: (folder path as names, name, kind)
ENTRY = st.tuples(
    st.lists(NAMES, max_size=3), NAMES, st.sampled_from(["file", "dir", "link-file", "link-dir", "broken"])
)


def reference(paths: list[Path]) -> list[Path]:
    """expand_specs as it was written before the fast path: rglob, is_file, resolve."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob(SPEC_GLOB)
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                raise NoSpecs(str(path))
            out += found
        else:
            out.append(path)
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def build(root: Path, entries: list[tuple[list[str], str, str]]) -> None:
    (root / "target-dir").mkdir(parents=True)
    (root / "target-dir" / "t.airspec.yaml").write_text("x")
    (root / "target.airspec.yaml").write_text("x")
    tree = root / "tree"
    tree.mkdir()
    for folders, name, kind in entries:
        folder = tree.joinpath(*folders)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            if path.exists() or path.is_symlink():
                continue
            if kind == "file":
                path.write_text("x")
            elif kind == "dir":
                path.mkdir()
            elif kind == "link-file":
                path.symlink_to(root / "target.airspec.yaml")
            elif kind == "link-dir":
                path.symlink_to(root / "target-dir")
            else:
                path.symlink_to(root / "nowhere")
        except (FileExistsError, NotADirectoryError):
            continue  # a file where a folder was asked for: that entry is dropped


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRY, max_size=12))
def test_expand_specs_finds_what_rglob_finds(tmp_path_factory: pytest.TempPathFactory, entries: list) -> None:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("specs")
    build(root, entries)
    given_paths = [root / "tree", root / "tree", root / "target.airspec.yaml"]
    try:
        want = reference(given_paths)
    except NoSpecs:
        with pytest.raises(NoSpecs):
            expand_specs(given_paths)
        return
    assert expand_specs(given_paths) == want


def test_real_path_is_resolve_also_after_a_change_of_directory(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name / "specs").mkdir(parents=True)
        (tmp_path / name / "specs" / "s.airspec.yaml").write_text("x")
    (tmp_path / "two" / "specs" / "link.airspec.yaml").symlink_to(tmp_path / "one" / "specs" / "s.airspec.yaml")
    cwd = os.getcwd()
    try:
        for name in ("one", "two"):  # the same relative path names two files
            os.chdir(tmp_path / name)
            for spec in (Path("specs/s.airspec.yaml"), Path("specs/../specs/s.airspec.yaml"), Path("specs/nope.yaml")):
                assert real_path(spec) == spec.resolve()
        assert real_path(Path("specs/link.airspec.yaml")) == tmp_path / "one" / "specs" / "s.airspec.yaml"
        # `..` after a symlinked folder is the target's parent, not the link's
        (tmp_path / "two" / "away").symlink_to(tmp_path / "one" / "specs")
        for spec in (Path("away/../specs/s.airspec.yaml"), Path("away/../nope.yaml")):
            assert real_path(spec) == spec.resolve()
        assert real_path(Path("away/../specs/s.airspec.yaml")) == tmp_path / "one" / "specs" / "s.airspec.yaml"
    finally:
        os.chdir(cwd)


def test_naming_is_the_spec_relative_to_the_project_and_to_its_tree(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    for folder in ("specs/team", "out", "elsewhere"):
        (root / folder).mkdir(parents=True)
    outside = tmp_path / "outside.airspec.yaml"
    naming = Naming(root, root / "out")
    cwd = os.getcwd()
    try:
        os.chdir(root / "elsewhere")
        for spec in (root / "specs/team/a.airspec.yaml", root / "specs/b.airspec.yaml", root / "c.airspec.yaml"):
            rel = spec.relative_to(root).as_posix()
            assert naming.source(spec) == rel
            assert naming.runbook(spec) == "../" + Path(os.path.relpath(spec, root / "out")).as_posix()
        assert naming.source(Path("../specs/b.airspec.yaml")) == "specs/b.airspec.yaml"
        assert naming.source(outside) == "outside.airspec.yaml"
        assert naming.runbook(outside) is None
        os.chdir(tmp_path)  # outside the project, below the working directory
        assert naming.source(outside) == "outside.airspec.yaml"
        (tmp_path / "sub").mkdir()
        assert Naming(root, root / "out").source(tmp_path / "sub" / "d.airspec.yaml") == "sub/d.airspec.yaml"
    finally:
        os.chdir(cwd)


class Light(NamedTuple):
    """A record."""

    path: str
    count: int


class Typed(typing.NamedTuple):
    path: str
    count: int


def test_records_are_the_named_tuples_typing_makes() -> None:
    a, b = Light("p", 1), Typed("p", 1)
    assert a == b == ("p", 1)
    assert a._fields == b._fields == ("path", "count")
    assert (a.path, a.count) == (b.path, b.count)
    assert repr(a) == "Light(path='p', count=1)"
    assert Light.__doc__ == "A record."
    assert Light.__module__ == __name__
    assert sorted([Light("b", 2), Light("a", 3)]) == [("a", 3), ("b", 2)]


def test_a_record_with_more_than_fields_is_refused() -> None:
    with pytest.raises(TypeError, match="only annotated fields"):

        class WithDefault(NamedTuple):
            path: str = "x"

    with pytest.raises(TypeError, match="only annotated fields"):

        class WithMethod(NamedTuple):
            path: str

            def shout(self) -> str:
                return self.path.upper()
