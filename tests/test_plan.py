"""Saved plans: `apply SPECS --plan-out plan.json` changes nothing and writes every action with
its calls, the out/ trees' digests and the version of every live object read;
`apply plan.json --yes` makes exactly those calls, or refuses (exit 1, no mutating request)
when an out/ tree, a live object it acts on, or the actions moved, when the plan expired, or
when it came from another airspec or was edited.

Against moto (AWS), FakeKube (Kubernetes) and FakeGcp (GCP) over HTTP with the real clients,
every request recorded.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import jsonschema
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airspec.apply.findings import (
    Finding,
    PlanCall,
    PlanDocument,
    PlanRequest,
    PlanStep,
    Status,
    Tree,
)
from airspec.apply.planfile import AWS_READS
from airspec.apply.render_plan import plan_markdown
from conftest import ROOT, SpecCli, git_repo
from live_servers import (
    FakeGcp,
    FakeKube,
    RecordingMotoServer,
    aws_call_mutates,
    aws_client,
    gcp_call_mutates,
    moto_env,
)
from test_converge import POLICY_ARN, ROLE, Account, _policy_document, actions
from test_converge_gcp import LOGS, OTHER, Project
from test_converge_kube import NS, Cluster

AWS = ("-t", "iam", "-t", "s3")


def plan_out(cli: SpecCli, plan: Path, *args: str) -> tuple[int, str, str, list[Any]]:
    """apply --plan-out; (exit code, stdout, stderr, mutating requests)."""
    cli.requests().clear()
    code, out, err = cli.run(
        "apply",
        str(cli.spec),
        "--out",
        str(cli.out),
        *cli._targets(),
        "--plan-out",
        str(plan),
        *args,
    )
    return code, out, err, [r for r in cli.requests() if cli.mutates(r)]


def apply_plan(cli: SpecCli, plan: Path, *args: str) -> tuple[int, str, str, list[Any]]:
    cli.requests().clear()
    code, out, err = cli.run("apply", str(plan), "--yes", *args)
    return code, out, err, [r for r in cli.requests() if cli.mutates(r)]


def planned_calls(plan: Path) -> list[dict[str, Any]]:
    return [c for step in json.loads(plan.read_text())["actions"] for c in step["calls"]]


@pytest.fixture
def account(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[Account]:
    yield Account(tmp_path, moto)


# --- plan, then apply the plan -----------------------------------------------------------------


def test_plan_changes_nothing_and_applying_it_sends_exactly_its_calls(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    code, out, err, mutating = plan_out(account, plan)
    assert (code, mutating) == (0, []), out + err
    assert "plan written to" in err and "nothing was changed" in err
    doc = json.loads(plan.read_text())
    jsonschema.validate(doc, json.loads((ROOT / "schemas" / "plan.schema.json").read_text()))
    assert doc["version"] == "airspec.plan/v1"
    # every object read is there with its version: the bucket (in sync) and what is missing
    reads = {r["target"]: r["version"] for r in doc["reads"]}
    assert reads["s3/bucket/my-airflow-bucket"]["settings"].startswith("sha256:")
    assert reads[f"iam/policy/{POLICY_ARN}"]["state"] == "absent"
    assert set(doc["trees"]) == {"remote-exec-demo"}
    assert doc["trees"]["remote-exec-demo"]["files"]["aws/iam-policy.json"]
    calls = planned_calls(plan)
    assert [c["op"] for c in calls] == [
        "aws:iam:CreateOpenIDConnectProvider",
        "aws:iam:CreatePolicy",
        "aws:iam:CreateRole",
        "aws:iam:CreateRole",
        "aws:iam:AttachRolePolicy",
        "aws:iam:PutRolePolicy",
    ]
    code, out, err, _ = apply_plan(account, plan)
    assert code == 0, out + err
    sent = [
        (a, body) for m, p, a, body in account.moto.recorder.sent if aws_call_mutates((m, p, a))
    ]
    # exactly the planned calls, in order, with the planned arguments
    assert [a for a, _ in sent[-len(calls) :]] == [c["op"].rsplit(":", 1)[1] for c in calls]
    for (action, body), call in zip(sent[-len(calls) :], calls, strict=True):
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        for key in ("PolicyName", "RoleName", "PolicyArn", "Url"):
            if key in call["args"]:
                assert form[key] == call["args"][key], (action, key)
        if "PolicyDocument" in call["args"]:
            assert json.loads(form["PolicyDocument"]) == json.loads(call["args"]["PolicyDocument"])
    assert f"plan {doc['digest'][:19]}" in err and "nothing moved since" in err
    assert account.dry_run()[0] == 0


def test_a_plan_with_nothing_to_do(account: Account) -> None:
    assert account.apply("--yes")[0] == 0
    plan = account.out.parent / "plan.json"
    code, out, _, mutating = plan_out(account, plan, "-f", "markdown")
    assert (code, mutating) == (0, [])
    assert out.startswith("<!-- airspec-plan -->\n")
    assert "Nothing to do" in out
    code, out, err, mutating = apply_plan(account, plan)
    assert (code, mutating) == (0, []), out + err
    assert "nothing to do" in err


# --- refusals: the world moved -----------------------------------------------------------------


def _broaden_policy(account: Account) -> None:
    broader = _policy_document(account)
    broader["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    account.iam.create_policy_version(
        PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(broader), SetAsDefault=True
    )


def test_a_new_policy_version_after_the_plan_is_refused(account: Account) -> None:
    assert account.apply("--yes")[0] == 0
    _broaden_policy(account)  # v2: the drift the plan corrects
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    assert [c["op"] for c in planned_calls(plan)] == ["aws:iam:CreatePolicyVersion"]
    # --dry-run checks the plan against live state and prints it, changing nothing
    account.requests().clear()
    code, out, err = account.run("apply", str(plan), "--dry-run", "-f", "markdown")
    assert code == 0 and "the plan still applies" in err, out + err
    assert out.startswith("<!-- airspec-plan -->") and "CreatePolicyVersion" in out
    assert not [r for r in account.requests() if account.mutates(r)]
    _broaden_policy(account)  # someone else: v3, between the review and the merge
    code, out, err = account.run("apply", str(plan), "--dry-run")
    assert code == 1 and "moved since the plan" in err
    code, out, err, mutating = apply_plan(account, plan, "-f", "json")
    assert code == 1, out + err
    assert mutating == []
    assert f"iam/policy/{POLICY_ARN} (remote-exec-demo): default version, versions: " in err
    assert "default version v2, versions sha256:" in err
    assert "-> default version v3, versions sha256:" in err
    doc = json.loads(out)
    assert doc["error"]["kind"] == "plan" and "nothing was changed" in doc["error"]["message"]
    moved = doc["plan_file"]["moved"]
    assert moved[0]["planned"].startswith("default version v2, versions sha256:")
    assert moved[0]["now"].startswith("default version v3, versions sha256:")
    assert doc["result"] is None
    versions = account.iam.list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]
    assert len(versions) == 3  # nothing was written


def test_a_changed_annotation_after_the_plan_is_refused(tmp_path: Path) -> None:
    with FakeKube() as kube:
        cluster = Cluster(tmp_path, kube)
        assert cluster.apply()[0] == 0
        # drift the plan will correct: a label changed on the namespace airspec applied
        _merge_patch(kube, NS, {"metadata": {"labels": {"team": "someone-else"}}})
        plan = tmp_path / "plan.json"
        assert plan_out(cluster, plan)[0] == 0
        assert [c["op"] for c in planned_calls(plan)] == ["kube:apply"]
        seen = next(
            r
            for r in json.loads(plan.read_text())["reads"]
            if r["target"] == "kubernetes/namespace/airflow-agents"
        )
        # someone annotates the namespace (kubectl annotate: a merge patch)
        _merge_patch(kube, NS, {"metadata": {"annotations": {"owner": "payments"}}})
        now = kube.objects[NS]["metadata"]["resourceVersion"]
        code, out, err, mutating = apply_plan(cluster, plan)
        assert code == 1, out + err
        assert mutating == []
        planned = seen["version"]["resourceVersion"]
        assert (
            f"kubernetes/namespace/airflow-agents (remote-exec-demo): resourceVersion: "
            f"resourceVersion {planned} -> resourceVersion {now}"
        ) in err
        assert kube.objects[NS]["metadata"]["labels"]["team"] == "someone-else"


def _merge_patch(kube: FakeKube, path: str, patch: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{kube.url}{path}?fieldManager=kubectl-annotate",
        data=json.dumps(patch).encode(),
        method="PATCH",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def test_a_new_etag_after_the_plan_is_refused(tmp_path: Path) -> None:
    with FakeGcp() as gcp:
        project = Project(tmp_path, gcp)
        assert project.apply()[0] == 0
        gcp.write(LOGS, [OTHER])  # airspec's binding removed out of band: the plan restores it
        plan = tmp_path / "plan.json"
        assert plan_out(project, plan)[0] == 0
        assert [c["op"] for c in planned_calls(plan)] == ["gcp:setIamPolicy"]
        planned = gcp.etag(LOGS)
        theirs = {"role": "roles/storage.legacyBucketReader", "members": ["group:ops@example.com"]}
        gcp.write(LOGS, [OTHER, theirs])  # another team writes the bucket policy: a new etag
        code, out, err, mutating = apply_plan(project, plan)
        assert code == 1, out + err
        assert mutating == []
        assert (
            f"gcp-iam/storage.bucket/{LOGS} (gke-agents): etag: etag {planned} -> etag {gcp.etag(LOGS)}"
            in err
        )
        assert gcp.policies[LOGS]["bindings"] == [OTHER, theirs]


def test_a_write_between_the_check_and_the_call_stops_a_plan_instead_of_merging_again(
    tmp_path: Path,
) -> None:
    """A direct apply merges again after an etag conflict; a saved plan does not decide
    again: the call fails, naming the policy, and the other writer's binding stays."""
    with FakeGcp() as gcp:
        project = Project(tmp_path, gcp)
        assert project.apply()[0] == 0
        gcp.write(LOGS, [OTHER])
        plan = tmp_path / "plan.json"
        assert plan_out(project, plan)[0] == 0
        theirs = {"role": "roles/storage.legacyBucketReader", "members": ["group:ops@example.com"]}

        def concurrent_writer(at: str) -> None:
            gcp.write(at, [*gcp.policies[at]["bindings"], theirs])

        gcp.before_set = concurrent_writer
        code, out, err, mutating = apply_plan(project, plan)
        assert code == 1, out + err
        assert [(m, p) for m, p, _ in mutating] == [("PUT", "/storage/v1/b/acme-airflow-logs/iam")]
        assert f"the IAM policy of {LOGS} changed since the plan (HTTP 412" in out + err
        assert gcp.policies[LOGS]["bindings"] == [OTHER, theirs]


def test_an_edit_to_out_after_the_plan_is_refused(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    policy = account.out / "remote-exec-demo" / "aws" / "iam-policy.json"
    policy.write_text(policy.read_text().replace('"s3:GetObject"', '"s3:*"'))
    code, out, err, mutating = apply_plan(account, plan)
    assert code == 1, out + err
    assert mutating == []
    assert f"{account.out.as_posix()}/remote-exec-demo/aws/iam-policy.json: sha256 " in err
    assert "nothing was changed" in err


def test_an_expired_plan_is_refused(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    time.sleep(2.1)
    code, out, err, mutating = apply_plan(account, plan, "--max-age", "2s")
    assert (code, mutating) == (1, []), out + err
    assert "the plan expired" in err and "--max-age is 2s" in err
    code, out, err, mutating = apply_plan(account, plan, "--max-age", "1h")
    assert code == 0, out + err


def test_a_plan_from_another_airspec_or_edited_is_refused(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    doc = json.loads(plan.read_text())
    other = account.out.parent / "other.json"
    other.write_text(json.dumps({**doc, "airspec": "0.0.9"}))
    code, out, err, mutating = apply_plan(account, other)
    assert (code, mutating) == (1, []), out + err
    assert "was made by airspec 0.0.9; this is airspec" in err
    other.write_text(json.dumps({**doc, "version": "airspec.plan/v2"}))
    code, _, err, _ = apply_plan(account, other)
    assert code == 1 and "a plan of format airspec.plan/v2" in err
    doc["actions"][1]["calls"][0]["args"]["PolicyName"] = "Renamed"
    other.write_text(json.dumps(doc))
    code, _, err, mutating = apply_plan(account, other)
    assert (code, mutating) == (1, [])
    assert "was changed after airspec wrote it" in err
    other.write_text("not json")
    code, _, err, _ = apply_plan(account, other)
    assert code == 1 and "is not an airspec plan" in err and "Traceback" not in err


def test_options_that_shape_a_plan_are_refused_with_one(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    code, out, err = account.run("apply", str(plan), "--yes", "--prune", "-t", "iam")
    assert code == 1
    assert "--target, --prune: a plan file records the specs and options" in out + err
    code, out, err = account.run(
        "apply", str(account.spec), "--out", str(account.out), "--plan-out", str(plan), "--yes"
    )
    assert code == 1 and "--plan-out writes a plan and changes nothing" in out + err


# --- the PR comment ----------------------------------------------------------------------------


def _create_update_delete(account: Account) -> Path:
    """A converged account, then a spec that renames the role (two roles created, the old
    two deleted with --prune) and moves the XCom prefix (a new policy version)."""
    account.iam.create_role(RoleName="SomeoneElses", AssumeRolePolicyDocument="{}")
    assert account.apply("--yes")[0] == 0
    text = (
        account.spec.read_text()
        .replace(f"name: {ROLE},", "name: AirflowRoleV2,")
        .replace("prefix: xcom,", "prefix: xcom-v2,")
    )
    account.spec.write_text(text)
    assert account.run("compile", str(account.spec), "--out", str(account.out))[0] == 0
    return account.out.parent / "plan.json"


def test_the_comment_puts_destruction_first_and_marks_it(account: Account) -> None:
    plan = _create_update_delete(account)
    code, md, err, mutating = plan_out(account, plan, "--prune", "-f", "markdown")
    assert (code, mutating) == (0, []), md + err
    rows = [line for line in md.splitlines() if line.startswith("| ") and "`iam/" in line]
    verbs = [row.split("|")[3].strip() for row in rows]
    assert verbs[:2] == ["`delete`", "`delete`"], rows
    assert all("⛔ destroys" in row for row in rows[:2])
    assert not any("⛔" in row for row in rows[2:])
    assert {"`create`", "`update`"} <= set(verbs[2:])
    assert "⛔ 2 destroy" in md and "🔓" in md
    # each row carries the step it runs at: the deletions run last
    steps = [int(row.split("|")[1]) for row in rows]
    assert steps[:2] == sorted(steps)[-2:]
    assert "SomeoneElses" not in md
    # and applying it does exactly that
    code, out, err, mutating = apply_plan(account, plan)
    assert code == 0, out + err
    made = [c["op"].rsplit(":", 1)[1] for c in planned_calls(plan) if c["op"].startswith("aws:")]
    assert actions(mutating) == made
    assert "check:role-in-no-instance-profile" in [c["op"] for c in planned_calls(plan)]
    names = {r["RoleName"] for r in account.iam.list_roles()["Roles"]}
    assert names == {"AirflowRoleV2", "AirflowRoleV2-log-reader", "SomeoneElses"}
    assert account.dry_run()[0] == 0


# --- a property: applying a plan sends what a direct apply would have sent ---------------------

OWNER = [
    {"Key": "airspec.io/owner", "Value": "github.com/acme/team-a/remote-exec-demo"},
    {"Key": "airspec.io/spec", "Value": "remote-exec-eks.airspec.yaml"},
]
ISSUER_HOST = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
READER = f"{ROLE}-log-reader"

DRIFT = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["missing", "ours", "foreign"]),
        "policy": st.sampled_from(["missing", "compiled", "broader", "narrower"]),
        "versions": st.integers(0, 4),  # non-default versions besides the default
        "policy_owner": st.sampled_from(["ours", "untagged"]),
        "role": st.sampled_from(["missing", "compiled", "wider"]),
        "role_owner": st.sampled_from(["ours", "untagged"]),
        "attachments": st.sampled_from(["attached", "detached", "extra"]),
        "reader": st.sampled_from(["missing", "compiled"]),
        "inline": st.sampled_from(["missing", "compiled", "changed"]),
        "orphan": st.booleans(),
        "adopt": st.booleans(),
        "prune": st.booleans(),
    }
)


def _live(account: Account, d: dict[str, Any]) -> None:
    """An account in the state `d` describes, made with boto3 (not with airspec)."""
    urllib.request.urlopen(
        urllib.request.Request(f"{account.moto.url}/moto-api/reset", method="POST")
    )
    iam = account.iam
    aws_client(account.moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    art = {
        name: json.loads((account.out / "remote-exec-demo" / "aws" / name).read_text())
        for name in (
            "iam-policy.json",
            "trust-policy.json",
            "log-reader-trust-policy.json",
            "log-reader-policy.json",
        )
    }

    def tags(owner: str) -> list[dict[str, str]]:
        return OWNER if owner == "ours" else []

    if d["provider"] != "missing":
        ours = d["provider"] == "ours"
        iam.create_open_id_connect_provider(
            Url=f"https://{ISSUER_HOST}",
            ClientIDList=["sts.amazonaws.com"] if ours else ["another-audience"],
            ThumbprintList=["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
            Tags=tags("ours" if ours else "untagged"),
        )
    iam.create_policy(PolicyName="Extra", PolicyDocument=json.dumps(art["log-reader-policy.json"]))
    extra = "arn:aws:iam::123456789012:policy/Extra"
    if d["policy"] != "missing":
        doc = json.loads(json.dumps(art["iam-policy.json"]))
        if d["policy"] == "broader":
            doc["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
        elif d["policy"] == "narrower":
            doc["Statement"] = doc["Statement"][:-1]
        iam.create_policy(
            PolicyName="AirflowS3Access",
            PolicyDocument=json.dumps(art["iam-policy.json"]),
            Tags=tags(d["policy_owner"]),
        )
        for _ in range(d["versions"]):
            iam.create_policy_version(
                PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(doc), SetAsDefault=True
            )
        if d["versions"] == 0 and d["policy"] != "compiled":
            iam.delete_policy(PolicyArn=POLICY_ARN)
            iam.create_policy(
                PolicyName="AirflowS3Access",
                PolicyDocument=json.dumps(doc),
                Tags=tags(d["policy_owner"]),
            )
    if d["role"] != "missing":
        trust = json.loads(json.dumps(art["trust-policy.json"]))
        if d["role"] == "wider":
            trust["Statement"][0].pop("Condition", None)
        iam.create_role(
            RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust), Tags=tags(d["role_owner"])
        )
        if d["attachments"] != "detached" and d["policy"] != "missing":
            iam.attach_role_policy(RoleName=ROLE, PolicyArn=POLICY_ARN)
        if d["attachments"] == "extra":
            iam.attach_role_policy(RoleName=ROLE, PolicyArn=extra)
    if d["reader"] != "missing":
        iam.create_role(
            RoleName=READER,
            AssumeRolePolicyDocument=json.dumps(art["log-reader-trust-policy.json"]),
            Tags=OWNER,
        )
        if d["inline"] != "missing":
            inline = json.loads(json.dumps(art["log-reader-policy.json"]))
            if d["inline"] == "changed":
                inline["Statement"] = inline["Statement"][:1]
            iam.put_role_policy(
                RoleName=READER, PolicyName=f"{READER}-logs", PolicyDocument=json.dumps(inline)
            )
    if d["orphan"]:
        iam.create_role(RoleName="OldRole", AssumeRolePolicyDocument="{}", Tags=OWNER)
        iam.put_role_policy(
            RoleName="OldRole",
            PolicyName="old",
            PolicyDocument=json.dumps(art["log-reader-policy.json"]),
        )
        iam.attach_role_policy(RoleName="OldRole", PolicyArn=extra)


def _sent(account: Account) -> list[tuple[str, str, str, bytes]]:
    return [s for s in account.moto.recorder.sent if aws_call_mutates(s[:3])]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(d=DRIFT)
def test_applying_the_plan_sends_what_a_direct_apply_would_have(
    account: Account, d: dict[str, Any]
) -> None:
    options = [o for o in ("adopt", "prune") if d[o]]
    flags = [f"--{o}" for o in options]
    plan = account.out.parent / "plan.json"
    _live(account, d)
    account.moto.recorder.sent.clear()
    code, out, err, mutating = plan_out(account, plan, *flags)
    assert mutating == [] and code in (0, 1), out + err
    via_plan = apply_plan(account, plan)
    planned = [c["op"].rsplit(":", 1)[1] for c in planned_calls(plan) if c["op"].startswith("aws:")]
    sent_via_plan = _sent(account)
    event(f"exit {via_plan[0]}, {min(len(planned), 5)}+ planned calls")
    # exactly the planned calls (a call that fails stops the run: then the ones up to it)
    made = [a for _, _, a, _ in sent_via_plan]
    assert made == (planned if via_plan[0] != 1 else planned[: len(made)]), (d, via_plan[1:3])
    _live(account, d)
    account.moto.recorder.sent.clear()
    direct = account.apply("--yes", *flags)
    assert via_plan[0] == direct[0], (d, via_plan[1] + via_plan[2], direct[1])
    assert sent_via_plan == _sent(account), d


# --- the comment stays within GitHub's limit ---------------------------------------------------


def _big_plan(n: int, destructive_every: int) -> PlanDocument:
    steps = [
        PlanStep(
            spec=f"spec-{i % 7}",
            target=f"iam/role/arn:aws:iam::123456789012:role/Role{i:05d}",
            action="delete" if i % destructive_every == 0 else "update",
            summary=f"update the trust policy of role Role{i:05d} " + "x" * 60,
            destructive=i % destructive_every == 0,
            findings=[
                Finding(
                    spec=f"spec-{i % 7}",
                    artifact="aws/trust-policy.json",
                    target=f"iam/role/arn:aws:iam::123456789012:role/Role{i:05d}",
                    status=Status.DRIFT,
                    path="Statement.Irsa.Condition",
                    compiled={"StringEquals": {"sub": "system:serviceaccount:a:b"}},
                    live={"StringEquals": {"sub": "system:serviceaccount:a:*" + "y" * 80}},
                    message="value differs",
                )
            ],
            calls=[
                PlanCall(
                    call=f"iam:UpdateAssumeRolePolicy Role{i:05d}",
                    op="aws:iam:UpdateAssumeRolePolicy",
                    args={"RoleName": f"Role{i:05d}"},
                    digest="sha256:" + "0" * 64,
                )
            ],
        )
        for i in range(n)
    ]
    tree = Tree(digest="sha256:" + "1" * 64, files={"aws/trust-policy.json": "2" * 64})
    return PlanDocument(
        airspec="0.1.0",
        created="2026-11-28T06:00:00Z",
        request=PlanRequest(specs=["specs/"], out="out"),
        specs=[f"spec-{i}" for i in range(7)],
        owners={},
        trees={"spec-0": tree},
        reads=[],
        actions=steps,
        digest="sha256:" + "3" * 64,
    )


def test_a_small_plan_is_not_folded() -> None:
    md = plan_markdown(_big_plan(20, 5))
    assert "Folded" not in md
    assert md.count("<details>") == 20


@pytest.mark.parametrize("n", [300, 5000])
def test_a_big_plan_is_folded_within_githubs_limit_and_says_so(n: int) -> None:
    doc = _big_plan(n, 50)
    md = plan_markdown(doc)
    assert len(md) <= 65536 and len(md.encode()) <= 65536
    assert md.startswith("<!-- airspec-plan -->\n")
    assert "_Folded to stay within GitHub's 65,536-character comment limit: " in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "`iam/role/" in line]
    details = md.count("<details>")
    if n == 300:  # every row fits; the details of some actions are folded, and counted
        assert len(rows) == n
        assert f"the calls and before/after values of {n - details} action(s)" in md
    else:  # rows are folded too: the destructive ones are kept, and the count is exact
        assert details == 0 and len(rows) < n
        destroys = [r for r in rows if "⛔ destroys" in r]
        assert len(destroys) == n // 50
        assert f"{n - len(rows)} more action(s)" in md
    # in each spec's table, destructive rows come first
    for table in md.split("#### ")[1:]:
        marks = [
            "⛔" in line for line in table.splitlines() if line.startswith("| ") and "`iam/" in line
        ]
        assert marks == sorted(marks, reverse=True)


# --- the apply job's role: only what the plan needs -------------------------------------------


def _user(iam: Any, name: str, policy: dict[str, Any]) -> dict[str, str]:
    """An IAM user holding exactly `policy`; the CLI environment that uses its keys."""
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def test_the_plans_session_policy_is_all_applying_it_needs(tmp_path: Path) -> None:
    """With IAM enforced (moto checks each request's action against the caller's policies):
    a principal holding only the plan's read statement makes the plan; one holding the
    actions of the plan's `aws_session_policy` applies it, and without the planned
    statements it cannot. moto authorizes an IAM request against the resource `*` (it has
    no resource for IAM actions), so the ARNs are checked here against the plan's objects,
    and the apply job's statements are given `*` for moto."""
    from moto_server import moto_server, set_auth_enforcement

    with moto_server() as url:
        # moto's backends are one per process: start from an empty account
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        env = moto_env(url)
        admin_iam = aws_client(url, "iam")
        aws_client(url, "s3").create_bucket(Bucket="my-airflow-bucket")
        admin = _user(
            admin_iam,
            "admin",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            },
        )
        # moto authorizes HeadBucket as `s3:HeadBucket`, an action IAM does not have (AWS
        # requires s3:ListBucket, which AWS_READS holds: S3 API Reference, HeadBucket); both
        # principals get moto's name for it on the one bucket, and nothing else beyond the plan
        head = {
            "Effect": "Allow",
            "Action": "s3:HeadBucket",
            "Resource": "arn:aws:s3:::my-airflow-bucket",
        }
        reads = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(AWS_READS), "Resource": "*"}, head],
        }
        reader = _user(admin_iam, "plan-job", reads)
        repo = git_repo(tmp_path / "repo")
        spec = repo / "remote-exec-eks.airspec.yaml"
        spec.write_text((ROOT / "specs" / "remote-exec-eks.airspec.yaml").read_text())
        (repo / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
        cli = SpecCli()
        cli.env = env
        out, plan = repo / "out", repo / "plan.json"
        assert cli.run("compile", str(spec), "--out", str(out))[0] == 0
        set_auth_enforcement(url, enforce=True)
        cli.env = {**env, **reader}
        code, text, err = cli.run(
            "apply", str(spec), "--out", str(out), *AWS, "--plan-out", str(plan)
        )
        assert code == 0, text + err
        policy = json.loads(plan.read_text())["aws_session_policy"]
        assert len(json.dumps(policy, separators=(",", ":"))) <= 2048
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=admin["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=admin["AWS_SECRET_ACCESS_KEY"],
        )
        cli.env = {**env, **_user(iam, "apply-job-without-writes", reads)}
        code, text, err = cli.run("apply", str(plan), "--yes")
        assert code == 1 and "AccessDenied" in text + err, text + err
        assert iam.list_policies(Scope="Local")["Policies"] == []
        planned = policy["Statement"][1:]
        targets = {step["target"] for step in json.loads(plan.read_text())["actions"]}
        arns = {
            t.split("/", 2)[2].removesuffix("#attached-policies")
            for t in targets
            if t.startswith("iam/role/") or t.startswith(("iam/policy/", "iam/oidc-provider/"))
        }
        assert {r for st in planned for r in st["Resource"]} == arns
        assert sorted({a for st in planned for a in st["Action"]}) == [
            "iam:AttachRolePolicy",
            "iam:CreateOpenIDConnectProvider",
            "iam:CreatePolicy",
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:TagOpenIDConnectProvider",
            "iam:TagPolicy",
            "iam:TagRole",
        ]
        for_moto = [{**st, "Resource": "*"} for st in planned]
        with_head = {**policy, "Statement": [policy["Statement"][0], *for_moto, head]}
        cli.env = {**env, **_user(iam, "apply-job", with_head)}
        code, text, err = cli.run("apply", str(plan), "--yes")
        assert code == 0, text + err
        assert {r["RoleName"] for r in iam.list_roles()["Roles"]} >= {ROLE, READER}


GSA_MEMBER = "serviceAccount:airflow-agents@acme-data-prod.iam.gserviceaccount.com"
GCP_DRIFT = st.fixed_dictionaries(
    {
        "gsa": st.sampled_from(["missing", "ours", "another team's"]),
        # per resource: airspec's bindings as compiled, gone, with an extra member on one of
        # its roles, or with a binding airspec wrote for a prefix it no longer has
        "bindings": st.lists(
            st.sampled_from(["compiled", "gone", "extra member", "stale airspec binding"]),
            min_size=4,
            max_size=4,
        ),
        "adopt": st.booleans(),
    }
)


def _gcp_live(project: Project, d: dict[str, Any]) -> None:
    """FakeGcp in the state `d` describes (every policy's etag starts over)."""
    gcp = project.gcp
    gcp.policies.clear()
    gcp.etags.clear()
    gcp.accounts.clear()
    resources = sorted(project.compiled)
    gsa = next(r for r in resources if "serviceAccounts" in r)
    if d["gsa"] != "missing":
        owner = "github.com/acme/team-a/gke-agents" if d["gsa"] == "ours" else "payments"
        gcp.accounts[gsa] = {
            "name": gsa,
            "email": gsa.rsplit("/", 1)[1],
            "description": f"airspec.io/owner={owner} airspec.io/spec=remote-exec-gke.airspec.yaml",
        }
    for resource, how in zip(resources, d["bindings"], strict=True):
        if resource == gsa and d["gsa"] == "missing":
            continue
        ours = json.loads(json.dumps(project.compiled[resource]))
        bindings = [] if resource == gsa else [OTHER]
        if how == "compiled":
            bindings += ours
        elif how == "extra member":
            ours[0]["members"] = [*ours[0]["members"], "user:eve@example.com"]
            bindings += ours
        elif how == "stale airspec binding":
            stale = {"title": "airspec: objects under old/", "expression": "true"}
            bindings.append({"role": ours[0]["role"], "members": [GSA_MEMBER], "condition": stale})
        gcp.write(resource, bindings)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(d=GCP_DRIFT)
def test_on_gcp_applying_the_plan_sends_what_a_direct_apply_would_have(
    tmp_path_factory: pytest.TempPathFactory, d: dict[str, Any]
) -> None:
    tmp = tmp_path_factory.mktemp("gcp")
    flags = ["--adopt"] if d["adopt"] else []
    with FakeGcp() as gcp:
        project = Project(tmp, gcp)
        plan = tmp / "plan.json"
        _gcp_live(project, d)
        code, out, err, mutating = plan_out(project, plan, *flags)
        assert mutating == [] and code in (0, 1), out + err
        gcp.sent.clear()
        via_plan = apply_plan(project, plan)
        sent_via_plan = [s for s in gcp.sent if gcp_call_mutates((s[0], s[1], ""))]
        planned = [c for c in planned_calls(plan) if c["op"].startswith("gcp:")]
        event(f"exit {via_plan[0]}, {len(planned)} planned calls")
        assert len(sent_via_plan) == len(planned), (d, via_plan[1:3])
        after_plan = json.loads(json.dumps(gcp.policies)), json.loads(json.dumps(gcp.accounts))
        _gcp_live(project, d)
        gcp.sent.clear()
        direct = project.apply(*flags)
        assert via_plan[0] == direct[0], (d, via_plan[1:3], direct[1])
        assert sent_via_plan == [s for s in gcp.sent if gcp_call_mutates((s[0], s[1], ""))], d
        assert (gcp.policies, gcp.accounts) == after_plan
