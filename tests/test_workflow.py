"""airspec in a team's workflow: the pre-commit hooks run as pre-commit runs them, and the GitHub
Actions example checked by GitHub's workflow schema (check-jsonschema) and zizmor, offline."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import MINIMAL, ROOT, git_repo

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


def _step(name: str) -> str:
    """The `run` script of the workflow step named `name`."""
    doc = YAML(typ="safe").load(WORKFLOW.read_text())
    return next(
        step["run"]
        for job in doc["jobs"].values()
        for step in job["steps"]
        if step.get("name") == name
    )


def _actions_step(script: str, cwd: Path, env: dict[str, str], files: Path) -> tuple[int, dict[str, str]]:
    """Run a step's script as the runner does (bash -eo pipefail), with its GITHUB_OUTPUT and
    GITHUB_STEP_SUMMARY files; returns the exit code and the outputs it set."""
    output, summary = files / "output", files / "summary"
    output.write_text("")
    summary.touch()
    full = {
        **os.environ,
        **env,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    got = subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=300)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return got.returncode, outputs


@pytest.mark.skipif(shutil.which("jq") is None, reason="the steps use jq, as on GitHub's runners")
def test_the_plan_and_apply_jobs_as_a_consumer_repository_runs_them(tmp_path: Path) -> None:
    """The `plan` job's step in a consumer repository (against moto): a plan file and the
    comment; after the merge, the `apply` job's steps on the reviewed plan: the session policy
    the role is narrowed to, and the apply of exactly that plan. A second pull request merged
    first (out/ moved) makes the apply refuse, changing nothing."""
    from live_servers import FakeKube, RecordingMotoServer, aws_call_mutates, aws_client, moto_env

    moto = RecordingMotoServer()
    moto.start()
    kube = FakeKube().__enter__()
    try:
        # moto's backends are one per process: start from an empty account
        reset = urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset).close()
        env = {**moto_env(moto.url), "KUBECONFIG": str(kube.kubeconfig(tmp_path))}
        aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
        repo = git_repo(tmp_path / "consumer")
        (repo / "specs").mkdir()
        spec = repo / "specs" / "remote-exec-eks.airspec.yaml"
        spec.write_text((ROOT / "specs" / "remote-exec-eks.airspec.yaml").read_text())
        (repo / "specs" / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
        assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
        files = tmp_path / "runner"
        files.mkdir()
        # the pull request: the plan job
        moto.recorder.calls.clear()
        code, outputs = _actions_step(_step("Plan"), repo, env, files)
        assert code == 0 and outputs["code"] == "0", outputs
        comment = (repo / "plan.md").read_text()
        assert comment.startswith("<!-- airspec-plan -->\n") and "to apply" in comment
        assert (files / "summary").read_text() == comment
        assert not [c for c in moto.recorder.calls if aws_call_mutates(c)]
        # the merge: the apply job gets the artifact as reviewed/plan.json
        (repo / "reviewed").mkdir()
        shutil.copy(repo / "plan.json", repo / "reviewed" / "plan.json")
        code, outputs = _actions_step(_step("Narrow the apply role to this plan"), repo, env, files)
        assert code == 0
        policy = json.loads(outputs["policy"])
        assert policy == json.loads((repo / "plan.json").read_text())["aws_session_policy"]
        assert any("iam:CreateRole" in st["Action"] for st in policy["Statement"])
        code, _ = _actions_step(_step("Apply exactly the reviewed plan"), repo, env, files)
        summary = (files / "summary").read_text()
        assert code == 0, summary
        assert "### airspec apply" in summary
        iam = aws_client(moto.url, "iam")
        assert {r["RoleName"] for r in iam.list_roles()["Roles"]} >= {"AirflowS3LoggerXComRole"}
        assert "/api/v1/namespaces/airflow-agents" in kube.objects
        assert "helm upgrade --install" in summary  # the chart's step is left to the user
        # the next pull request is planned, but another one changes out/ and merges first
        spec.write_text(spec.read_text().replace("prefix: xcom,", "prefix: xcom-v2,"))
        assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
        assert _actions_step(_step("Plan"), repo, env, files)[0] == 0
        shutil.copy(repo / "plan.json", repo / "reviewed" / "plan.json")
        spec.write_text(spec.read_text().replace("prefix: xcom-v2,", "prefix: xcom-v3,"))
        assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
        moto.recorder.calls.clear()
        code, _ = _actions_step(_step("Apply exactly the reviewed plan"), repo, env, files)
        summary = (files / "summary").read_text()
        assert code == 1, summary
        assert "moved since the plan was made" in summary and "iam-policy.json" in summary
        assert not [c for c in moto.recorder.calls if aws_call_mutates(c)]
    finally:
        kube.__exit__(None, None, None)
        moto.stop()
