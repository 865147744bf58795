"""`airspec init`, compiling folders of specs, and `--help` that ends with an example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airspec.cli import app
from conftest import MINIMAL, invoke, variant


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("platform", ["astro-remote-execution", "astronomer-software"])
@pytest.mark.parametrize("cloud", ["aws", "gcp"])
def test_init_writes_a_spec_that_validates_and_compiles_as_written(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, platform: str, cloud: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(
        runner, "init", "--platform", platform, "--cloud", cloud, "specs/orders.airspec.yaml"
    )
    assert result.exit_code == 0, result.output
    spec = tmp_path / "specs" / "orders.airspec.yaml"
    text = spec.read_text()
    assert text.startswith("# yaml-language-server: $schema=../schemas/airspec.schema.json\n")
    assert "name: orders" in text and "# yours" in text
    # the schema the modeline names exists and is the one `airspec schema` prints
    schema = json.loads((tmp_path / "schemas" / "airspec.schema.json").read_text())
    assert schema == json.loads(invoke(runner, "schema").stdout)
    validated = invoke(runner, "validate", str(spec))
    assert validated.exit_code == 0 and "AS" not in validated.output, validated.output
    assert invoke(runner, "compile", "specs/").exit_code == 0
    assert (tmp_path / "out" / "orders" / "RUNBOOK.md").exists()


def test_init_never_overwrites(tmp_path: Path, runner: CliRunner) -> None:
    spec = tmp_path / "mine.airspec.yaml"
    spec.write_text("my work\n")
    result = invoke(runner, "init", str(spec))
    assert result.exit_code == 1 and "not overwritten" in result.stderr
    assert spec.read_text() == "my work\n"


def test_init_refuses_an_unknown_platform(tmp_path: Path, runner: CliRunner) -> None:
    result = invoke(runner, "init", "--cloud", "azure", str(tmp_path / "x.airspec.yaml"))
    assert result.exit_code == 1 and not (tmp_path / "x.airspec.yaml").exists()


def test_init_names_the_spec_after_its_file_or_the_option(
    tmp_path: Path, runner: CliRunner
) -> None:
    assert invoke(runner, "init", str(tmp_path / "Not_A_Label.airspec.yaml")).exit_code == 0
    assert "name: airflow  #" in (tmp_path / "Not_A_Label.airspec.yaml").read_text()
    assert (
        invoke(runner, "init", "--name", "billing", str(tmp_path / "b.airspec.yaml")).exit_code == 0
    )
    assert "name: billing  #" in (tmp_path / "b.airspec.yaml").read_text()


def _specs_tree(root: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        folder = root / "specs" / ("team-a" if i % 2 else "team-b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.airspec.yaml").write_text(
            variant(MINIMAL, i).replace(f"name: demo-{i}\n", f"name: {name}\n")
        )
    hidden = root / "specs" / ".drafts"
    hidden.mkdir()
    (hidden / "draft.airspec.yaml").write_text("not: a spec\n")
    (root / "specs" / "notes.yaml").write_text("not: a spec either\n")


def test_compile_a_folder_recursively_with_one_summary_line(
    tmp_path: Path, runner: CliRunner
) -> None:
    names = [f"svc{i}" for i in range(12)]
    _specs_tree(tmp_path, names)
    out = tmp_path / "out"
    result = invoke(runner, "compile", str(tmp_path / "specs"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert f"12 spec(s) compiled into {out.as_posix()}/: 12 written, 0 unchanged" in result.stderr
    # one spec changes: its tree and the summary are printed, not the 11 unchanged ones
    spec = tmp_path / "specs" / "team-b" / "svc4.airspec.yaml"
    spec.write_text(spec.read_text().replace("prefix: logs", "prefix: logs2"))
    result = invoke(runner, "compile", str(tmp_path / "specs"), "--out", str(out))
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"wrote {out.as_posix()}/svc4/ (9 files)",
        f"airspec: 12 spec(s) compiled into {out.as_posix()}/: 1 written, 11 unchanged",
    ]
    verbose = invoke(runner, "compile", str(tmp_path / "specs"), "--out", str(out), "-v")
    assert verbose.stderr.count("unchanged ") == 12
    assert (
        invoke(runner, "compile", str(tmp_path / "specs"), "--out", str(out), "--check").exit_code
        == 0
    )
    assert invoke(runner, "validate", str(tmp_path / "specs")).exit_code == 0


def test_every_diagnostic_of_every_spec_in_a_folder(tmp_path: Path, runner: CliRunner) -> None:
    _specs_tree(tmp_path, ["one", "two", "three"])
    for name in ("one", "three"):
        (spec,) = (tmp_path / "specs").rglob(f"{name}.airspec.yaml")
        spec.write_text(spec.read_text().replace('"123456789012"', '"1"'))
    result = invoke(runner, "validate", str(tmp_path / "specs"))
    assert result.exit_code == 1
    assert result.stdout.count("AS106") == 2


def test_a_folder_without_specs_is_an_error(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "empty").mkdir()
    for command in ("validate", "compile"):
        result = invoke(runner, command, str(tmp_path / "empty"))
        assert result.exit_code == 1 and "no *.airspec.yaml under" in result.stderr


def test_the_same_spec_twice_is_compiled_once(tmp_path: Path, runner: CliRunner) -> None:
    _specs_tree(tmp_path, ["only"])
    (spec,) = (tmp_path / "specs").rglob("only.airspec.yaml")
    result = invoke(
        runner, "compile", str(spec), str(tmp_path / "specs"), "--out", str(tmp_path / "out")
    )
    assert result.exit_code == 0 and "1 spec(s) compiled" in result.stderr


def _commands() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [*_commands(), None])
def test_every_help_ends_with_an_example(runner: CliRunner, command: str | None) -> None:
    args = [command, "--help"] if command else ["--help"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    last = [line.strip() for line in result.stdout.splitlines() if line.strip()][-1]
    assert last.startswith("Example: airspec"), (command, last)
