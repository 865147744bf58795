"""`airspec compile` at the edges a hostile review found (helper-10, 2026-11-28), through the
installed console command: a spec replaced by a symlink to another spec leaves an orphan
that is reported; a FIFO in out/ is stale, not a hang; a file that cannot be read is a
message and exit 1; a manifest re-sealed by hand with values of the wrong type is compiled
again, not a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airspec.emit import seal_manifest

ROOT = Path(__file__).resolve().parent.parent
AIRSPEC = str(Path(sys.executable).parent / "airspec")
SPECS = ("remote-exec-eks.airspec.yaml", "software-gke.airspec.yaml")


def project(tmp_path: Path) -> Path:
    """A git work tree with two of the example specs, compiled into out/."""
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    (root / "specs").mkdir()
    for name in (*SPECS, "constraints.txt"):
        shutil.copy(ROOT / "specs" / name, root / "specs" / name)
    assert run(root, "compile", "specs").returncode == 0
    return root


def run(root: Path, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, AIRSPEC, *args], cwd=root, capture_output=True, text=True, timeout=120
    )


def tree_of(root: Path, spec: str) -> str:
    """The out/ tree compiled from `spec` (its manifest names it)."""
    for manifest in (root / "out").glob("*/manifest.json"):
        if json.loads(manifest.read_text())["source"] == f"specs/{spec}":
            return manifest.parent.name
    raise AssertionError(f"no tree for {spec}")


@pytest.mark.parametrize("force", [False, True])
def test_a_spec_replaced_by_a_symlink_to_another_leaves_a_reported_orphan(
    tmp_path: Path, force: bool
) -> None:
    root = project(tmp_path)
    eks = tree_of(root, SPECS[0])
    link = root / "specs" / SPECS[0]
    link.unlink()
    link.symlink_to(SPECS[1])  # the same file as the GKE spec now
    got = run(root, "compile", "specs", "--check", *(["--force"] if force else []))
    assert got.returncode == 2, got.stderr
    assert f"out/{eks}/: orphaned: specs/{SPECS[0]} is now the spec specs/{SPECS[1]}" in got.stdout
    written = run(root, "compile", "specs")
    assert written.returncode == 0
    assert f"out/{eks}/ is orphaned" in written.stderr  # compile names it, never deletes it
    assert (root / "out" / eks).is_dir()


def test_a_fifo_in_place_of_a_compiled_file_is_stale_not_a_hang(tmp_path: Path) -> None:
    root = project(tmp_path)
    graph = root / "out" / tree_of(root, SPECS[0]) / "GRAPH.md"
    graph.unlink()
    os.mkfifo(graph)
    got = run(root, "compile", "specs", "--check")  # times out (120 s) if it reads the FIFO
    assert got.returncode == 2, got.stderr
    assert f"{graph.relative_to(root).as_posix()}: missing" in got.stdout


def _without_root_override() -> tuple[str, ...]:
    """A prefix under which file permissions hold: none when not root, setpriv dropping the
    capabilities that let root read anything when root."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be taken away")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


@pytest.mark.parametrize("check", [True, False])
def test_a_compiled_file_that_cannot_be_read_is_a_message(tmp_path: Path, check: bool) -> None:
    root = project(tmp_path)
    graph = root / "out" / tree_of(root, SPECS[0]) / "GRAPH.md"
    graph.chmod(0)
    try:
        got = run(root, "compile", "specs", *(["--check"] if check else []), prefix=_without_root_override())
    finally:
        graph.chmod(0o644)
    assert got.returncode == 1, got.stderr
    assert "Traceback" not in got.stderr
    shown = graph.relative_to(root).as_posix()
    assert f"airspec: cannot read or write {shown}: Permission denied" in got.stderr


def test_an_out_folder_that_cannot_be_searched_is_a_message(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "out").chmod(0)
    try:
        got = run(root, "compile", "specs", "--check", prefix=_without_root_override())
    finally:
        (root / "out").chmod(0o755)
    assert got.returncode == 1, got.stderr
    assert "Traceback" not in got.stderr
    assert "Permission denied" in got.stderr


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.update(warnings=[{"line": "abc"}]),
        lambda m: m["inputs"]["files"].update({"a\x00b": None}),
        lambda m: m.update(claims=[[1, 2]]),
        lambda m: m["inputs"]["files"].update({"constraints.txt": 7}),
    ],
    ids=["warning-line", "nul-in-input", "claim-not-text", "digest-not-text"],
)
def test_a_manifest_resealed_with_wrong_types_is_compiled_again(tmp_path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    root = project(tmp_path)
    manifest = root / "out" / tree_of(root, SPECS[0]) / "manifest.json"
    data = json.loads(manifest.read_text())
    data.pop("digest")
    edit(data)
    manifest.write_bytes(seal_manifest(data))
    got = run(root, "compile", "specs", "--check")
    assert got.returncode == 2, got.stderr  # the spec is compiled: its manifest differs
    assert "Traceback" not in got.stderr
    assert f"{manifest.relative_to(root).as_posix()}: differs" in got.stdout
    assert run(root, "compile", "specs").returncode == 0
    assert run(root, "compile", "specs", "--check").returncode == 0


@pytest.mark.parametrize("out", [["-f", "json"], ["--format=json"]], ids=["plain", "typer"])
def test_a_reader_that_goes_away_is_not_an_error_message(tmp_path: Path, out: list[str]) -> None:
    """stdout closed before the report is printed (`airspec compile ... | head -0`): exit 1
    and stderr quiet, on the plain path and through typer, not a 'cannot read or write'."""
    root = project(tmp_path)
    (root / "specs" / "broken.airspec.yaml").write_text("x: [\n")  # a report to print
    child = subprocess.Popen(
        [AIRSPEC, "compile", "specs", *out],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=120) == 1
    assert err == ""
