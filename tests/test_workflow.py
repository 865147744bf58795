"""airspec in a team's workflow: the pre-commit hooks run as pre-commit runs them, and the GitHub
Actions example checked by GitHub's workflow schema (check-jsonschema) and zizmor, offline."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import MINIMAL, ROOT

BIN = Path(sys.executable).parent
HOOKS = ROOT / ".pre-commit-hooks.yaml"
WORKFLOW = ROOT / "examples" / "github-actions" / "airspec.yml"


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _hooks() -> dict[str, dict[str, Any]]:
    return {h["id"]: h for h in YAML(typ="safe").load(HOOKS.read_text())}


def _run_hook(hook: dict[str, Any], repo: Path, changed: list[str]) -> int | None:
    """What `pre-commit run` does with a hook: filter the changed files with `files`, skip the
    hook when none match, else run `entry` + `args` (+ the files unless pass_filenames is
    false) from the repository root. Returns the exit code, or None when skipped."""
    files = [f for f in changed if re.search(hook.get("files", ""), f)]
    if not files and not hook.get("always_run", False):
        return None
    argv = shlex.split(hook["entry"]) + list(hook.get("args", []))
    if hook.get("pass_filenames", True):
        argv += files
    return _run(argv, repo).returncode


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A consumer repository: one spec in specs/, its out/ compiled."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "demo.airspec.yaml").write_text(MINIMAL)
    assert _run(["airspec", "compile", "specs/"], tmp_path).returncode == 0
    return tmp_path


def test_the_hooks_file_is_a_valid_pre_commit_manifest() -> None:
    result = _run([str(BIN / "pre-commit"), "validate-manifest", str(HOOKS)], ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(_hooks()) == {"airspec-validate", "airspec-compile-check"}


def test_pre_commit_refuses_a_broken_manifest(tmp_path: Path) -> None:
    broken = tmp_path / "hooks.yaml"
    broken.write_text(
        HOOKS.read_text().replace("entry: airspec validate", "entyr: airspec validate")
    )
    assert _run([str(BIN / "pre-commit"), "validate-manifest", str(broken)], ROOT).returncode != 0


def test_validate_hook(repo: Path) -> None:
    hook = _hooks()["airspec-validate"]
    assert _run_hook(hook, repo, ["README.md"]) is None  # not a spec: skipped
    assert _run_hook(hook, repo, ["specs/demo.airspec.yaml", "README.md"]) == 0
    spec = repo / "specs" / "demo.airspec.yaml"
    spec.write_text(MINIMAL.replace('accountId: "123456789012"', 'accountId: "12345"'))
    assert _run_hook(hook, repo, ["specs/demo.airspec.yaml"]) == 1


def test_compile_check_hook(repo: Path) -> None:
    hook = _hooks()["airspec-compile-check"]
    assert _run_hook(hook, repo, ["README.md"]) is None
    for changed in (
        "specs/demo.airspec.yaml",
        "out/demo/RUNBOOK.md",
        "specs/demo.airspec.lock.json",
    ):
        assert _run_hook(hook, repo, [changed]) == 0, changed
    # a spec edited without compiling: the hook fails (exit 2, stale), and passes once compiled
    spec = repo / "specs" / "demo.airspec.yaml"
    spec.write_text(MINIMAL.replace("prefix: logs", "prefix: task-logs"))
    assert _run_hook(hook, repo, ["specs/demo.airspec.yaml"]) == 2
    assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
    assert _run_hook(hook, repo, ["specs/demo.airspec.yaml", "out/demo/helm/values.yaml"]) == 0
    # a hand edit under out/ is caught too
    (repo / "out" / "demo" / "RUNBOOK.md").write_text("edited\n")
    assert _run_hook(hook, repo, ["out/demo/RUNBOOK.md"]) == 2


def _check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)]
    return _run(argv, ROOT)


def _zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    return _run([str(BIN / "zizmor"), "--offline", "--no-progress", str(path)], ROOT)


def test_workflow_passes_github_schema_and_zizmor() -> None:
    result = _check_workflow(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    result = _zizmor(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_checkers_fail_on_a_broken_workflow(tmp_path: Path) -> None:
    """Both checks can fail: a misspelt key breaks the schema; an unpinned action, kept
    checkout credentials and a PR title expanded into a shell break zizmor's audits."""
    bad_schema = tmp_path / "schema.yml"
    bad_schema.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:", 1))
    assert _check_workflow(bad_schema).returncode != 0
    bad_audit = tmp_path / "audit.yml"
    bad_audit.write_text(
        WORKFLOW.read_text()
        .replace(
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2",
            "actions/checkout@v4",
            1,
        )
        .replace("          persist-credentials: false\n", "          fetch-depth: 1\n", 1)
        .replace(
            "run: airspec compile specs/ --check --format github",
            "run: echo ${{ github.event.pull_request.title }} && airspec compile specs/ --check",
        )
    )
    assert _check_workflow(bad_audit).returncode == 0  # still a valid workflow
    result = _zizmor(bad_audit)
    assert result.returncode != 0
    for audit in ("template-injection", "artipacked", "unpinned-uses"):
        assert audit in result.stdout + result.stderr, audit


def test_the_workflow_runs_real_airspec_commands(repo: Path) -> None:
    """Each `airspec …` line of the workflow, run as written in a consumer repository."""
    doc = YAML(typ="safe").load(WORKFLOW.read_text())
    lines = [
        line.strip()
        for job in doc["jobs"].values()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if line.strip().startswith("airspec ")
    ]
    assert any("compile specs/ --check --format github" in line for line in lines)
    check = next(line for line in lines if "--check" in line)
    assert _run(shlex.split(check), repo).returncode == 0
    dry = next(line for line in lines if "--dry-run" in line).split(">")[0]
    assert "--format markdown" in dry
    # the dry run's arguments parse (no credentials here: it stops before reading, exit 1)
    result = _run([*shlex.split(dry), "--help"], repo)
    assert result.returncode == 0


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_offers_commands_and_options() -> None:
    env = {**os.environ, "_AIRSPEC_COMPLETE": "complete_bash", "COMP_CWORD": "1"}
    result = subprocess.run(
        [str(BIN / "airspec")],
        env={**env, "COMP_WORDS": "airspec comp"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["compile"]
    result = subprocess.run(
        [str(BIN / "airspec")],
        env={**env, "COMP_WORDS": "airspec apply x --tar", "COMP_CWORD": "3"},
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["--target"]
