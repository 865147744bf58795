"""The CLI as a user runs it: exit codes, --check, atomic writes, determinism, schema, explain."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airspec.model import spec_json_schema
from airspec.rules import all_rules
from conftest import EXAMPLES, MINIMAL, ROOT, invoke, write_spec


def test_validate_ok_and_error_exit_codes(tmp_path: Path, runner: CliRunner) -> None:
    good = write_spec(tmp_path, MINIMAL)
    assert invoke(runner, "validate", str(good)).exit_code == 0
    bad = write_spec(
        tmp_path, MINIMAL.replace("namespace: agents", "namespce: agents"), "bad.airspec.yaml"
    )
    result = invoke(runner, "validate", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:7:3: AS101 unknown key 'namespce'" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_validate_github_and_json_formats(tmp_path: Path, runner: CliRunner) -> None:
    bad = write_spec(tmp_path, MINIMAL.replace("namespace: agents", "namespce: agents"))
    gh = invoke(runner, "validate", str(bad), "--format", "github").stdout
    assert gh.startswith("::error file=") and ",line=7,col=3,title=AS101::" in gh
    rows = json.loads(invoke(runner, "validate", str(bad), "--format", "json").stdout)[
        "diagnostics"
    ]
    assert [(r["code"], r["line"], r["col"]) for r in rows] == [("AS101", 7, 3)]


def test_compile_check_detects_stale_and_names_files(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    assert invoke(runner, "compile", str(spec), "--out", str(out), "--check").exit_code == 0
    (out / "demo" / "aws" / "iam-policy.json").write_text("{}\n")
    (out / "demo" / "stray.txt").write_text("x")
    (out / "demo" / "RUNBOOK.md").unlink()
    result = invoke(runner, "compile", str(spec), "--out", str(out), "--check")
    assert result.exit_code == 2
    assert f"{out.as_posix()}/demo/aws/iam-policy.json: differs" in result.stdout
    assert f"{out.as_posix()}/demo/stray.txt: not generated" in result.stdout
    assert f"{out.as_posix()}/demo/RUNBOOK.md: missing" in result.stdout
    # --check writes nothing
    assert (out / "demo" / "aws" / "iam-policy.json").read_text() == "{}\n"


def test_failing_compile_leaves_previous_tree_untouched(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    invoke(runner, "compile", str(spec), "--out", str(out))
    before = {p: p.read_bytes() for p in sorted((out / "demo").rglob("*")) if p.is_file()}
    spec.write_text(
        MINIMAL.replace("prefix: xcom", "prefix: xcom2").replace(
            "region: us-east-1", "region: nowhere"
        )
    )
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 1
    after = {p: p.read_bytes() for p in sorted((out / "demo").rglob("*")) if p.is_file()}
    assert after == before
    assert sorted(p.name for p in out.iterdir()) == ["demo"]  # no temp dirs left behind


def test_one_bad_spec_means_nothing_is_written(tmp_path: Path, runner: CliRunner) -> None:
    good = write_spec(tmp_path, MINIMAL)
    bad = write_spec(
        tmp_path,
        MINIMAL.replace("name: demo\n", "name: other\n", 1).replace(
            "kind: AirflowDeployment", "kind: X"
        ),
        "b.airspec.yaml",
    )
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(good), str(bad), "--out", str(out)).exit_code == 1
    assert not out.exists()


def test_recompile_is_a_no_op(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    invoke(runner, "compile", str(spec), "--out", str(out))
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "demo").rglob("*")}
    result = invoke(runner, "compile", str(spec), "--out", str(out))
    assert "unchanged" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in (out / "demo").rglob("*")} == mtimes


def _compile_with_seed(seed: str, workdir: Path) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "airspec",
            "compile",
            *[f"specs/{p.name}" for p in EXAMPLES],
            "--out",
            "o",
        ],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
    )
    return {
        p.relative_to(workdir / "o").as_posix(): p.read_bytes()
        for p in sorted((workdir / "o").rglob("*"))
        if p.is_file()
    }


def test_output_is_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    outs = []
    for seed in ("0", "1", "12345"):
        work = tmp_path / f"w{seed}"
        shutil.copytree(ROOT / "specs", work / "specs")
        outs.append(_compile_with_seed(seed, work))
    assert outs[0] and outs[0] == outs[1] == outs[2]


def test_compile_as_installed_matches_checked_in_out() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airspec",
            "compile",
            *[f"specs/{p.name}" for p in EXAMPLES],
            "--check",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_command_matches_checked_in_schema(runner: CliRunner) -> None:
    printed = json.loads(invoke(runner, "schema").stdout)
    assert printed == spec_json_schema()
    checked_in = json.loads((ROOT / "schemas" / "airspec.schema.json").read_text())
    assert printed == checked_in, "run: airspec schema > schemas/airspec.schema.json"
    # the copy the schema stage validates with, shipped in the package
    shipped = (ROOT / "compiler" / "airspec" / "spec.schema.json").read_text()
    assert shipped == invoke(runner, "schema").stdout, (
        "run: airspec schema > compiler/airspec/spec.schema.json"
    )


def test_explain_every_code(runner: CliRunner) -> None:
    rules = all_rules()
    assert len(rules) >= 25
    listing = invoke(runner, "explain").stdout
    for code, rule in rules.items():
        assert code in listing
        shown = invoke(runner, "explain", code.lower())
        assert shown.exit_code == 0 and rule.doc.splitlines()[0] in shown.stdout
    assert invoke(runner, "explain", "AS999").exit_code == 1


@pytest.mark.parametrize("args", [["--help"], ["compile", "--help"], ["validate", "-h"]])
def test_help(runner: CliRunner, args: list[str]) -> None:
    result = invoke(runner, *args)
    assert result.exit_code == 0 and "Usage" in result.stdout


@pytest.mark.parametrize("command", ["validate", "compile", "apply", "review", "init", "explain"])
def test_help_paragraphs_are_reflowed_not_broken_where_the_source_wraps(command: str) -> None:
    """Each paragraph of a command's description is laid out by the terminal's width, not by
    the docstring's line breaks (typer keeps those; rich then wraps again: ragged help)."""
    import inspect
    import re

    from airspec.cli import app

    (info,) = [
        i
        for i in app.registered_commands
        if (i.name or i.callback.__name__) in (command, f"{command}_")
    ]
    doc = inspect.getdoc(info.callback) or ""
    got = subprocess.run(
        [sys.executable, "-m", "airspec", command, "--help"],
        env={**os.environ, "COLUMNS": "5000", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
    )
    lines = [re.sub(r"\s+", " ", line).strip(" │") for line in got.stdout.splitlines()]
    for paragraph in doc.split("\n\n"):
        one_line = " ".join(part.strip() for part in paragraph.splitlines())
        assert any(one_line in line for line in lines), (one_line, got.stdout[:2000])


# --- a plain `compile` runs without typer (airspec.cli), as the typer command would --------

PLAIN = [
    ["compile", "specs"],
    ["compile", "specs/demo.airspec.yaml", "--check", "-o", "out", "--format", "github"],
    ["compile", "--check", "specs", "--out", "out", "--verbose", "-f", "json", "--diff"],
    ["compile", "specs", "--force", "-v", "--check", "--check"],
    ["compile", "a.airspec.yaml", "specs", "-o", "x/y", "-f", "text"],
    ["compile", "specs", "-v"],
    ["compile", "--check", "specs", "--out", "out", "--verbose", "-f", "text"],
    ["compile", "specs", "--check", "--format", "github"],
    ["compile", "--diff", "specs/demo.airspec.yaml"],
]


@pytest.mark.parametrize("argv", PLAIN, ids=[" ".join(a) for a in PLAIN])
def test_a_plain_compile_is_read_as_click_reads_it(argv: list[str]) -> None:
    """The parse of the forms airspec.cli runs without typer, and airspec.launch answers
    when nothing changed, is click's, defaults included: if compile's options change, this
    fails until launch.plain_compile follows."""
    from typer.main import get_command

    from airspec.cli import app
    from airspec.command_line import plain_compile

    parsed = plain_compile(argv)
    assert parsed is not None
    command = get_command(app).commands["compile"]  # type: ignore[attr-defined]
    params = command.make_context("compile", argv[1:]).params
    clicks = {
        "paths": [Path(s) for s in params["specs"]],
        "out": None if params["out"] is None else Path(params["out"]),  # typer's Path
        "check": params["check"],
        "diff": params["diff"],
        "force": params["force"],
        "fmt": params["fmt"],
        "verbose": params["verbose"],
    }
    assert parsed._asdict() == clicks


@pytest.mark.parametrize(
    "argv",
    [
        ["compile"],
        ["compile", "specs", "--help"],
        ["compile", "specs", "-h"],
        ["compile", "specs", "--out=out"],
        ["compile", "specs", "-vf", "json"],
        ["compile", "specs", "-f", "yaml"],
        ["compile", "specs", "--out"],
        ["compile", "specs", "--out", "a", "-o", "b"],
        ["compile", "specs", "--out", "--check"],
        ["compile", "specs", "--", "x"],
        ["compile", "specs", "--out", "-o"],
        ["compile", "specs", ""],
        ["compile", "-", "specs"],
        ["--version"],
        ["validate", "specs"],
        [],
    ],
)
def test_every_other_form_goes_to_typer(argv: list[str]) -> None:
    from airspec.command_line import plain_compile

    assert plain_compile(argv) is None


_ENTRY = """\
import atexit, sys
atexit.register(lambda: print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["airspec", *sys.argv[2:]]
if sys.argv[1:] and sys.argv[1] == "compile" and __import__("os").environ.get("VIA") == "typer":
    from airspec.commands import main
else:
    from airspec.cli import main
main()
"""


def _session(folder: Path, via: str) -> list[tuple[int, str, str]]:
    """A session of plain compiles in a new project at `folder` (every outcome: errors in
    three formats, nothing compiled yet, a first compile, a hand edit found with --diff, a
    forced compile, no spec at all), run through airspec.cli or through typer."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "specs").mkdir(parents=True)
    write_spec(folder / "specs", MINIMAL)
    bad = MINIMAL.replace("namespace: agents", "namespce: agents")
    write_spec(folder, bad, "bad.airspec.yaml")
    steps: list[list[str]] = [
        ["compile", "bad.airspec.yaml"],
        ["compile", "bad.airspec.yaml", "-f", "github"],
        ["compile", "bad.airspec.yaml", "--format", "json"],
        ["compile", "specs", "--check"],
        ["compile", "specs", "--check", "-f", "json"],
        ["compile", "specs", "-o", "built"],
        ["compile", "specs", "--out", "built", "-v"],
        ["edit"],
        ["compile", "specs", "--out", "built", "--check", "--diff"],
        ["compile", "specs", "--out", "built", "--check", "-f", "github"],
        ["compile", "specs", "--out", "built", "--force", "--verbose"],
        ["compile", "specs", "--out", "built", "--check"],
        ["compile", "nothing-here"],
    ]
    results = []
    env = {**os.environ, "VIA": via}
    for argv in steps:
        if argv == ["edit"]:
            (folder / "built" / "demo" / "RUNBOOK.md").write_text("edited\n")
            (folder / "built" / "demo" / "stray.txt").write_text("x\n")
            continue
        done = subprocess.run(
            [sys.executable, "-c", _ENTRY, "x", *argv],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        err, _, modules = done.stderr.rpartition("MODULES ")
        assert ("typer" in modules.split()) is (via == "typer"), (argv, via)
        results.append((done.returncode, done.stdout, err))
    return results


def test_a_plain_compile_without_typer_answers_as_typer_does(tmp_path: Path) -> None:
    """The same session of compiles through airspec.cli (typer never imported) and through
    the typer command: the same exit codes, stdout and stderr, byte for byte."""
    plain = _session(tmp_path / "p", "cli")
    assert [code for code, _, _ in plain] == [1, 1, 1, 2, 2, 0, 0, 2, 2, 0, 0, 1]
    assert plain == _session(tmp_path / "p", "typer")
