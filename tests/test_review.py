"""`airspec review`: what a change grants, by meaning, on pairs of compiled trees and through
the CLI in a git repository."""

from __future__ import annotations

import copy
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from airspec.emit import render_tree
from airspec.pipeline import compile_spec
from airspec.review import MARKER, Review, review_trees, to_json, to_markdown, to_text
from conftest import GKE_MINIMAL, MINIMAL, ROOT, write_spec

BIN = Path(sys.executable).parent
POLICY = "aws/iam-policy.json"
TRUST = "aws/trust-policy.json"
BINDINGS = "gcp/iam-bindings.json"
LOGS = "arn:aws:s3:::demo-bucket/logs/*"
ROLE = "IAM role DemoRole"


def tree(tmp_path: Path, text: str) -> dict[str, bytes]:
    """The files of out/<name>/ a spec compiles to (in memory)."""
    folder = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    result = compile_spec(write_spec(folder, text), "x", "specs/demo.airspec.yaml")
    assert result.resolved is not None, result.diagnostics
    return render_tree(result.resolved.name, result.artifacts, "specs/demo.airspec.yaml")


def edited(files: dict[str, bytes], path: str, change: Any) -> dict[str, bytes]:
    """`files` with the JSON document at `path` changed by `change(doc)` (a hand edit)."""
    doc = json.loads(files[path])
    change(doc)
    return {**files, path: (json.dumps(doc, indent=2) + "\n").encode()}


def statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    st_: dict[str, Any] = next(s for s in doc["Statement"] if s.get("Sid") == sid)
    return st_


def review(base: dict[str, bytes], head: dict[str, bytes]) -> Review:
    return review_trees({"demo": base}, {"demo": head})


def lines(r: Review) -> list[tuple[bool, str, str, str]]:
    return [(c.broadening, c.change, c.identity, c.text) for c in r.changes]


def test_added_action_is_broadening(tmp_path: Path) -> None:
    base = tree(tmp_path, MINIMAL)
    head = edited(base, POLICY, lambda d: statement(d, "ReadWriteTaskLogs")["Action"].append("s3:DeleteObject"))
    assert lines(review(base, head)) == [(True, "added", ROLE, f"s3:DeleteObject on {LOGS}")]


def test_removed_action_is_narrowing(tmp_path: Path) -> None:
    base = tree(tmp_path, MINIMAL)
    head = edited(base, POLICY, lambda d: statement(d, "ReadWriteTaskLogs")["Action"].remove("s3:PutObject"))
    assert lines(review(base, head)) == [(False, "removed", ROLE, f"s3:PutObject on {LOGS}")]


def test_get_object_to_s3_star_is_one_wider_grant(tmp_path: Path) -> None:
    base = tree(tmp_path, MINIMAL)

    def widen(doc: dict[str, Any]) -> None:
        actions = statement(doc, "ReadWriteTaskLogs")["Action"]
        actions[actions.index("s3:GetObject")] = "s3:*"

    (change,) = review(base, edited(base, POLICY, widen)).changes
    assert (change.broadening, change.change, change.text) == (True, "added", f"s3:* on {LOGS}")
    assert change.related == (f"s3:GetObject on {LOGS}",)  # what it replaced; nothing removed


def test_a_new_trusted_service_account(tmp_path: Path) -> None:
    base = tree(tmp_path, MINIMAL)
    more = MINIMAL.replace("  namespace: agents\n", "  namespace: agents\n  cloudAccess: [workers, triggerer, dagProcessor]\n")
    r = review(base, tree(tmp_path, more))
    (change,) = r.changes
    assert change.broadening and change.kind == "assume" and change.identity == ROLE
    assert change.text.startswith("service account agents/astro-agent-dag-processor (IRSA")
    assert "may be assumed by service account agents/astro-agent-dag-processor" in to_text(r)


def test_a_narrowed_prefix_is_narrowing_only(tmp_path: Path) -> None:
    base = tree(tmp_path, MINIMAL)
    r = review(base, tree(tmp_path, MINIMAL.replace("prefix: logs}", "prefix: logs/2024}")))
    assert r.broadening == [] and r.narrowing
    put = next(c for c in r.narrowing if c.text == f"s3:PutObject on {LOGS}")
    assert put.related == ("s3:PutObject on arn:aws:s3:::demo-bucket/logs/2024/*",)


def test_a_gcp_member_added(tmp_path: Path) -> None:
    base = tree(tmp_path, GKE_MINIMAL)

    def add_member(doc: dict[str, Any]) -> None:
        bucket = next(r for r in doc["resources"] if r["type"] == "storage.bucket")
        bucket["bindings"][0]["members"].append("user:Mallory@example.com")

    (change,) = review(base, edited(base, BINDINGS, add_member)).changes
    assert change.broadening and change.identity == "member user:mallory@example.com"
    assert change.text == "roles/storage.bucketViewer on projects/_/buckets/demo-bucket (unconditioned)"


def test_a_gcp_condition_dropped_is_broadening_and_a_ksa_removed_narrowing(tmp_path: Path) -> None:
    base = tree(tmp_path, GKE_MINIMAL)

    def change(doc: dict[str, Any]) -> None:
        for res in doc["resources"]:
            for b in res["bindings"]:
                if res["type"] == "storage.bucket":
                    b.pop("condition", None)
                elif b["role"] == "roles/iam.workloadIdentityUser":
                    b["members"] = [m for m in b["members"] if "triggerer" not in m]

    r = review(base, edited(base, BINDINGS, change))
    assert [c.text for c in r.broadening] == [
        "roles/storage.objectUser on projects/_/buckets/demo-bucket (unconditioned)"
    ]
    (gone,) = r.narrowing
    assert gone.kind == "assume" and "astro-agent-triggerer" in gone.text


def test_a_deny_removed_is_broadening(tmp_path: Path) -> None:
    deny = {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}
    head = tree(tmp_path, MINIMAL)
    base = edited(head, POLICY, lambda d: d["Statement"].append(deny))
    (change,) = review(base, head).changes
    assert (change.broadening, change.kind, change.change) == (True, "deny", "removed")


def _reshaped(doc: dict[str, Any], order: list[int], split: bool) -> dict[str, Any]:
    """The same grants written differently: statements reordered, Sids dropped, lists
    reordered or split into one statement per action, strings for one-element lists."""
    out = []
    for st_ in doc["Statement"]:
        st_ = copy.deepcopy(st_)
        st_.pop("Sid", None)
        actions = st_["Action"] if isinstance(st_["Action"], list) else [st_["Action"]]
        if split and len(actions) > 1:
            out += [{**st_, "Action": a} for a in actions]
        else:
            st_["Action"] = list(reversed(actions)) if len(actions) > 1 else actions[0]
            out.append(st_)
    ordered = [out[i % len(out)] for i in order] + out  # duplicates grant nothing new
    return {"Version": doc["Version"], "Statement": ordered}


@settings(max_examples=25, deadline=None)
@given(order=st.lists(st.integers(0, 20), max_size=6), split=st.booleans())
def test_rewriting_the_same_grants_is_no_change(order: list[int], split: bool) -> None:
    policy = json.loads((ROOT / "out" / "remote-exec-demo" / POLICY).read_text())
    trust = json.loads((ROOT / "out" / "remote-exec-demo" / TRUST).read_text())
    base = {POLICY: json.dumps(policy).encode(), TRUST: json.dumps(trust).encode()}
    head = {
        POLICY: json.dumps(_reshaped(policy, order, split)).encode(),
        TRUST: json.dumps(_reshaped(trust, order, split)).encode(),
    }
    assert review_trees({"t": base}, {"t": head}).changes == ()


# --- the CLI in a git repository ------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    got = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return got.stdout.strip()


def _airspec(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["airspec", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300)


def _repo(tmp_path: Path, spec: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "ci@example.com")
    _git(repo, "config", "user.name", "ci")
    (repo / "specs" / "demo.airspec.yaml").write_text(spec)
    assert _airspec(repo, "compile", "specs/").returncode == 0
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    return repo


WIDE_AND_NARROW = (
    MINIMAL.replace("prefix: logs}", "prefix: logs/2024}"),
    MINIMAL.replace("prefix: xcom}", "prefix: xcom/v2}"),
)


def test_review_cli_widens_one_grant_narrows_another(tmp_path: Path) -> None:
    """The base branch grants logs/2024 and xcom; the change grants logs (wider) and
    xcom/v2 (narrower). The merge base with main is found on its own."""
    before, after = WIDE_AND_NARROW
    repo = _repo(tmp_path, before)
    (repo / "specs" / "demo.airspec.yaml").write_text(after)
    assert _airspec(repo, "compile", "specs/").returncode == 0
    _git(repo, "commit", "-q", "-am", "widen logs, narrow xcom")
    md = _airspec(repo, "review", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith(MARKER + "\n")
    assert "merge base with main" in md.stdout
    body = md.stdout
    assert body.index("#### ⚠️ Broadening") < body.index("#### Narrowing")
    assert "s3:PutObject on arn:aws:s3:::demo-bucket/logs/*" in body.split("#### Narrowing")[0]
    assert "s3:PutObject on arn:aws:s3:::demo-bucket/xcom/*" in body.split("#### Narrowing")[1]
    assert "HAND EDIT" not in body
    doc = json.loads(_airspec(repo, "review", "--format", "json").stdout)
    assert doc["version"] == "airspec.review/v1" and doc["counts"]["handEdits"] == 0
    assert doc["counts"]["broadening"] > 0 and doc["counts"]["narrowing"] > 0
    assert [c["broadening"] for c in doc["changes"]] == sorted(
        (c["broadening"] for c in doc["changes"]), reverse=True
    )  # broadening first
    assert _airspec(repo, "review", "--fail-on-broadening").returncode == 3
    assert _airspec(repo, "review", "main", "--fail-on-broadening").returncode == 3
    (tmp_path / "comment.md").write_text(body)  # what the PR comment shows (see the note)


def test_review_calls_out_a_hand_edit_of_out(tmp_path: Path) -> None:
    repo = _repo(tmp_path, MINIMAL)
    policy = repo / "out" / "demo" / POLICY
    doc = json.loads(policy.read_text())
    statement(doc, "ReadWriteTaskLogs")["Action"].append("s3:DeleteObject")
    policy.write_text(json.dumps(doc, indent=2) + "\n")
    result = _airspec(repo, "review", "--format", "json")
    (change,) = json.loads(result.stdout)["changes"]
    assert change["broadening"] and change["handEdit"] == POLICY
    text = _airspec(repo, "review").stdout
    assert "HAND EDIT of out/demo/aws/iam-policy.json" in text


def test_review_outside_git_or_with_an_unknown_revision_exits_1(tmp_path: Path) -> None:
    alone = tmp_path / "alone"
    alone.mkdir()
    result = _airspec(alone, "review")
    assert result.returncode == 1 and "git work tree" in result.stderr
    repo = _repo(tmp_path, MINIMAL)
    result = _airspec(repo, "review", "no-such-branch")
    assert result.returncode == 1 and "Traceback" not in result.stderr


def test_the_workflow_posts_the_review_as_one_updated_comment(tmp_path: Path) -> None:
    """The example workflow's review line runs as written in a consumer repository, and the
    comment step finds its earlier comment by the marker the review writes."""
    workflow = (ROOT / "examples" / "github-actions" / "airspec.yml").read_text()
    job = YAML(typ="safe").load(workflow)["jobs"]["review"]
    runs = [step.get("run", "") for step in job["steps"]]
    (line,) = [r for r in runs if r.startswith("airspec review")]
    (post,) = [r for r in runs if "gh api" in r]
    assert f'startswith("{MARKER}")' in post and "--method PATCH" in post
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    repo = _repo(tmp_path, MINIMAL)
    _git(repo, "branch", "-q", "origin/main", "main")  # what actions/checkout fetches
    (repo / "specs" / "demo.airspec.yaml").write_text(MINIMAL.replace("prefix: xcom}", "prefix: x}"))
    assert _airspec(repo, "compile", "specs/").returncode == 0
    argv = shlex.split(line.split(">")[0].replace("${BASE_REF}", "main"))
    result = _airspec(repo, *argv[1:])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(MARKER) and "s3:PutObject on arn:aws:s3:::demo-bucket/x/*" in result.stdout
    assert to_markdown(review_trees({}, {})).startswith(MARKER)
    assert json.loads(to_json(review_trees({}, {})))["changes"] == []
