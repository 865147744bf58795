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


def _comment_digest(comment: str) -> str:
    """The digest the plan comment pins, read as the apply job reads it (its grep)."""
    found = re.findall(r"^\*\*Plan `(sha256:[0-9a-f]{64})`\*\*", comment, flags=re.M)
    assert found, comment[:500]
    return found[0]


# A stand-in for the GitHub CLI on the runner: `gh api PATH [--jq EXPR] [--paginate]` answers
# the JSON stored for PATH (its query string recorded, not applied: the step must filter what
# it is given), through the real jq for --jq as gh does (gh's --jq prints strings raw).
FAKE_GH = """\
import json, os, subprocess, sys
args = sys.argv[1:]
assert args[0] == "api", args
path, jq = args[1], None
if "--jq" in args:
    jq = args[args.index("--jq") + 1]
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(path + "\\n")
routes = json.load(open(os.environ["FAKE_GH_ROUTES"]))
body = routes.get(path.split("?")[0])
if body is None:
    sys.stderr.write("gh: Not Found (HTTP 404)\\n")
    sys.exit(1)
text = json.dumps(body)
if jq is None:
    sys.stdout.write(text)
else:
    sys.stdout.write(subprocess.run(["jq", "-r", jq], input=text, capture_output=True,
                                    text=True, check=True).stdout)
"""

REPO = "acme/platform"
MERGE, HEAD = "m" * 40, "a" * 40
DIGEST = "sha256:" + "d" * 64


def _run_of(run_id: int, *, created: str, workflow_id: int = 55, event: str = "pull_request",
            head: str = HEAD, prs: tuple[int, ...] = (7,)) -> dict[str, Any]:
    return {
        "id": run_id,
        "workflow_id": workflow_id,
        "event": event,
        "head_sha": head,
        "created_at": created,
        "path": ".github/workflows/airspec.yml",
        "pull_requests": [{"number": n, "head": {"sha": head}} for n in prs],
    }


def _plan_comment(digest: str) -> str:
    return f"<!-- airspec-plan -->\n### airspec plan: `demo`\n\n**1 to apply**\n\n**Plan `{digest}`**\n"


def _routes(runs: list[dict[str, Any]], comments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        f"repos/{REPO}/commits/{MERGE}/pulls": [
            {"number": 9, "merged_at": None, "merge_commit_sha": "x" * 40, "head": {"sha": "b" * 40}},
            {"number": 7, "merged_at": "2026-11-28T10:10:00Z", "merge_commit_sha": MERGE,
             "head": {"sha": HEAD}},
        ],
        f"repos/{REPO}/actions/workflows/airspec.yml": {"id": 55, "path": ".github/workflows/airspec.yml"},
        f"repos/{REPO}/actions/workflows/airspec.yml/runs": {
            "total_count": len(runs), "workflow_runs": runs
        },
        f"repos/{REPO}/issues/7/comments": comments,
        **{f"repos/{REPO}/issues/comments/{c['id']}": c for c in comments},
    }


def _find_plan(tmp_path: Path, routes: dict[str, Any]) -> tuple[int, dict[str, str], list[str]]:
    """The apply job's `Find the reviewed plan` step, as written, with the fake gh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    gh = bin_dir / "gh"
    gh.write_text(f"#!{sys.executable}\n{FAKE_GH}")
    gh.chmod(0o755)
    (tmp_path / "routes.json").write_text(json.dumps(routes))
    log = tmp_path / "gh.log"
    log.write_text("")
    files = tmp_path / "runner"
    files.mkdir(exist_ok=True)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "FAKE_GH_ROUTES": str(tmp_path / "routes.json"),
        "FAKE_GH_LOG": str(log),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": MERGE,
        "GITHUB_WORKFLOW_REF": f"{REPO}/.github/workflows/airspec.yml@refs/heads/main",
        "GH_TOKEN": "t",
        "RUN": "",
        "RUN_DIGEST": "",
    }
    script = _step("Find the reviewed plan")
    output = files / "output"
    output.write_text("")
    argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
    got = subprocess.run(
        argv, cwd=tmp_path, env={**os.environ, **env, "GITHUB_OUTPUT": str(output)},
        capture_output=True, text=True, timeout=60,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return got.returncode, outputs, log.read_text().splitlines()


BOT = {"login": "github-actions[bot]"}


@pytest.mark.skipif(shutil.which("jq") is None, reason="the steps use jq, as on GitHub's runners")
def test_the_apply_job_takes_the_plan_of_this_workflows_run_for_this_pull_request(
    tmp_path: Path,
) -> None:
    """Runs uploaded later at the same commit - by another workflow file, by a push, by a
    second pull request from the same head branch, at another commit - are not the reviewed
    run: the step takes run 101, newest of the runs of this workflow file's pull_request
    event for pull request 7 at its last commit."""
    runs = [
        _run_of(101, created="2026-11-28T10:00:00Z"),
        _run_of(202, created="2026-11-28T10:05:00Z", workflow_id=66),  # another workflow file
        _run_of(303, created="2026-11-28T10:06:00Z", prs=(8,)),  # another PR, same head
        _run_of(404, created="2026-11-28T10:07:00Z", event="push"),
        _run_of(505, created="2026-11-28T10:08:00Z", head="c" * 40),
        _run_of(606, created="2026-11-28T10:09:00Z", prs=()),  # a fork's run: no PR listed
    ]
    comments = [{"id": 3, "user": BOT, "body": _plan_comment(DIGEST)}]
    code, outputs, calls = _find_plan(tmp_path, _routes(runs, comments))
    assert code == 0, outputs
    assert outputs == {"name": "airspec-plan-7", "run-id": "101", "digest": DIGEST}
    listing = next(c for c in calls if c.startswith(f"repos/{REPO}/actions/workflows/airspec.yml/runs"))
    assert "event=pull_request" in listing and f"head_sha={HEAD}" in listing
    # no run of this workflow planned pull request 7 at its last commit: nothing applied
    code, outputs, _ = _find_plan(tmp_path, _routes(runs[1:], comments))
    assert code == 1 and "run-id" not in outputs


@pytest.mark.skipif(shutil.which("jq") is None, reason="the steps use jq, as on GitHub's runners")
def test_the_apply_job_pins_the_plan_to_the_bots_reviewed_comment(tmp_path: Path) -> None:
    """The digest passed to --expect-digest is the one the bot's plan comment shows: not a
    person's comment that starts with the marker, not a digest written further down by a
    value; no bot comment, or no digest line in it: nothing applied."""
    runs = [_run_of(101, created="2026-11-28T10:00:00Z")]
    forged = "sha256:" + "e" * 64
    comments = [
        {"id": 1, "user": {"login": "mallory"}, "body": _plan_comment(forged)},
        {"id": 3, "user": BOT, "body": _plan_comment(DIGEST) + f"\n**Plan `{forged}`**\n"},
    ]
    code, outputs, _ = _find_plan(tmp_path, _routes(runs, comments))
    assert code == 0 and outputs["digest"] == DIGEST
    code, outputs, _ = _find_plan(tmp_path, _routes(runs, comments[:1]))
    assert code == 1 and "digest" not in outputs
    no_line = [{"id": 3, "user": BOT, "body": "<!-- airspec-plan -->\nPlan sha256:abc\n"}]
    code, outputs, _ = _find_plan(tmp_path, _routes(runs, no_line))
    assert code == 1 and "digest" not in outputs
    # the apply step passes it on
    apply = _step("Apply exactly the reviewed plan")
    assert '--expect-digest "$DIGEST"' in apply


@pytest.mark.skipif(shutil.which("jq") is None, reason="the steps use jq, as on GitHub's runners")
def test_the_apply_job_by_hand_needs_the_digest(tmp_path: Path) -> None:
    script = _step("Find the reviewed plan")
    code, outputs = _actions_step(script, tmp_path, {"RUN": "123", "RUN_DIGEST": ""}, tmp_path)
    assert code == 1 and "run-id" not in outputs
    code, outputs = _actions_step(script, tmp_path, {"RUN": "123", "RUN_DIGEST": DIGEST}, tmp_path)
    assert code == 0 and outputs == {"name": "airspec-plan-run", "run-id": "123", "digest": DIGEST}


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
        digest = _comment_digest(comment)
        assert digest == json.loads((repo / "plan.json").read_text())["digest"]
        code, _ = _actions_step(
            _step("Apply exactly the reviewed plan"), repo, {**env, "DIGEST": digest}, files
        )
        summary = (files / "summary").read_text()
        assert code == 0, summary
        assert "### airspec apply" in summary
        iam = aws_client(moto.url, "iam")
        assert {r["RoleName"] for r in iam.list_roles()["Roles"]} >= {"AirflowS3LoggerXComRole"}
        assert "/api/v1/namespaces/airflow-agents" in kube.objects
        assert "helm upgrade --install" in summary  # the chart's step is left to the user
        first_plan = (repo / "plan.json").read_text()
        # the next pull request is planned, but another one changes out/ and merges first
        spec.write_text(spec.read_text().replace("prefix: xcom,", "prefix: xcom-v2,"))
        assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
        assert _actions_step(_step("Plan"), repo, env, files)[0] == 0
        shutil.copy(repo / "plan.json", repo / "reviewed" / "plan.json")
        digest = _comment_digest((repo / "plan.md").read_text())
        # a plan that is not the reviewed one (here: the previous one) is refused
        moto.recorder.calls.clear()
        code, _ = _actions_step(
            _step("Apply exactly the reviewed plan"),
            repo,
            {**env, "DIGEST": json.loads(first_plan)["digest"]},
            files,
        )
        summary = (files / "summary").read_text()
        assert code == 1 and "this is not the reviewed plan" in summary, summary
        assert not [c for c in moto.recorder.calls if aws_call_mutates(c)]
        spec.write_text(spec.read_text().replace("prefix: xcom-v2,", "prefix: xcom-v3,"))
        assert _run(["airspec", "compile", "specs/"], repo).returncode == 0
        moto.recorder.calls.clear()
        code, _ = _actions_step(
            _step("Apply exactly the reviewed plan"), repo, {**env, "DIGEST": digest}, files
        )
        summary = (files / "summary").read_text()
        assert code == 1, summary
        assert "moved since the plan was made" in summary and "iam-policy.json" in summary
        assert not [c for c in moto.recorder.calls if aws_call_mutates(c)]
    finally:
        kube.__exit__(None, None, None)
        moto.stop()


def test_the_apply_job_downloads_the_plan_it_found_before_reading_it() -> None:
    """The plan `Find the reviewed plan` chose is the one downloaded (its name and run), into
    the folder every later step reads, before any of them reads it."""
    doc = YAML(typ="safe").load(WORKFLOW.read_text())
    steps = doc["jobs"]["apply"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    find = names.index("Find the reviewed plan")
    downloads = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    assert len(downloads) == 1, names
    (download,) = downloads
    given = steps[download]["with"]
    assert given["name"] == "${{ steps.find.outputs.name }}"
    assert given["run-id"] == "${{ steps.find.outputs.run-id }}"
    assert given["path"] == "reviewed"
    readers = [i for i, s in enumerate(steps) if "reviewed/plan.json" in str(s.get("run", ""))]
    assert readers and find < download < min(readers), names
    assert doc["jobs"]["apply"]["permissions"].get("actions") == "read"  # to download it
