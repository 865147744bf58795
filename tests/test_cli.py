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
