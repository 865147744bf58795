"""What a hostile tester found in reviewed plans (issue 26), as regression tests.

- A plan file is pinned to the review by `apply PLAN.json --expect-digest sha256:…`, the digest
  the reviewed comment prints: a plan made from the same commit with `--adopt` (swapped), a
  plan whose request and actions were edited, an expired plan whose `created` was moved (each
  with its own digest recomputed: the digest is a plain sha256 anyone can compute) are refused
  with exit 1 and no mutating request. The comment shows the options that change what apply
  may do, so a plan made with `--adopt` never reads like one made without.
- `--plan-out` never overwrites an input of the run: a spec, a file under out/, an existing
  file that is not a plan.
- The comment cuts long values (saying how much, and that the plan file has them whole) in a
  time linear in their size, and keeps the destructive action's row.

Against moto over HTTP (the real boto3 client), every request recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
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
from airspec.apply.redact import REDACTED, redact_text
from airspec.apply.render_plan import plan_markdown
from live_servers import RecordingMotoServer
from test_converge import POLICY_ARN, ROLE, Account
from test_plan import apply_plan, plan_out

TEAM_B = [
    {"Key": "airspec.io/owner", "Value": "github.com/acme/team-b/remote-exec-demo"},
    {"Key": "airspec.io/spec", "Value": "remote-exec-eks.airspec.yaml"},
]
# the line of the comment the workflow's apply job reads the digest from
PINNED = re.compile(r"^\*\*Plan `(sha256:[0-9a-f]{64})`\*\*$", re.M)


@pytest.fixture
def account(tmp_path: Path, moto: RecordingMotoServer) -> Account:
    return Account(tmp_path, moto)


def redigest(doc: dict[str, Any]) -> dict[str, Any]:
    """What an attacker does after editing a plan: recompute its digest (sha256 of the
    document without it, sorted keys, compact: nothing secret)."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return {**body, "digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest()}


def reviewed_digest(comment: str) -> str:
    """The digest a reviewer (and the workflow) reads in the plan comment."""
    found = PINNED.findall(comment)
    assert found, comment[:600]
    return found[0]


def claimed_role(account: Account) -> None:
    account.iam.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Tags=TEAM_B,
    )


def owner_of_role(account: Account) -> str:
    tags = {t["Key"]: t["Value"] for t in account.iam.list_role_tags(RoleName=ROLE)["Tags"]}
    return tags["airspec.io/owner"]


# --- swapped and edited plans ------------------------------------------------------------------


def test_a_swapped_plan_made_with_adopt_is_refused_by_the_reviewed_digest(account: Account) -> None:
    """The reviewed comment shows team B's role claimed (nothing changes it). The file at
    merge is another plan of the same commit made with --adopt: refused, nothing sent; and
    the two comments differ where it matters (the options)."""
    claimed_role(account)
    reviewed = account.out.parent / "reviewed.json"
    code, comment, _, mutating = plan_out(account, reviewed, "-f", "markdown")
    assert code == 1 and mutating == [] and "claimed" in comment
    digest = reviewed_digest(comment)
    assert digest == json.loads(reviewed.read_text())["digest"]
    assert "**Options that change what apply may do:**" in comment  # the targets
    assert "- **only** `iam`, `s3` read and planned" in comment
    assert "made with `--adopt`" not in comment
    assert f"--expect-digest {digest}" in comment
    swapped = account.out.parent / "swapped.json"
    code, adopt_comment, _, _ = plan_out(account, swapped, "--adopt", "-f", "markdown")
    assert "⚠️ **made with `--adopt`**" in adopt_comment
    assert "--adopt --plan-out" in adopt_comment  # the request, as a command
    code, out, err, mutating = apply_plan(account, swapped, "--expect-digest", digest)
    assert (code, mutating) == (1, []), out + err
    assert "this is not the reviewed plan" in err and digest in err
    assert owner_of_role(account).endswith("team-b/remote-exec-demo")
    # the reviewed plan itself still applies under its digest (the claimed role left alone)
    code, out, err, _ = apply_plan(account, reviewed, "--expect-digest", digest)
    assert code == 1 and "claimed" in out + err  # exit 1: a claimed object, as planned
    assert owner_of_role(account).endswith("team-b/remote-exec-demo")


def test_a_forged_request_adopt_with_the_digest_recomputed_is_refused(account: Account) -> None:
    """The reviewed file edited: request.adopt set, actions and reads copied from an --adopt
    plan of the same moment, the digest recomputed. The file is whole (its digest matches
    its content) but not the reviewed one."""
    claimed_role(account)
    reviewed = account.out.parent / "reviewed.json"
    code, comment, _, _ = plan_out(account, reviewed, "-f", "markdown")
    assert code == 1
    helper = account.out.parent / "helper.json"
    plan_out(account, helper, "--adopt")
    doc, help_doc = json.loads(reviewed.read_text()), json.loads(helper.read_text())
    doc["request"]["adopt"] = True
    doc["actions"], doc["reads"] = help_doc["actions"], help_doc["reads"]
    forged = account.out.parent / "forged.json"
    forged.write_text(json.dumps(redigest(doc)))
    code, out, err, mutating = apply_plan(account, forged, "--expect-digest", reviewed_digest(comment))
    assert (code, mutating) == (1, []), out + err
    assert "this is not the reviewed plan" in err
    assert owner_of_role(account).endswith("team-b/remote-exec-demo")
    # --format json: one document naming the refusal
    code, out, _, _ = apply_plan(
        account, forged, "--expect-digest", reviewed_digest(comment), "-f", "json"
    )
    assert code == 1 and json.loads(out)["error"]["kind"] == "plan"


def test_an_expired_plan_with_created_moved_and_the_digest_recomputed_is_refused(
    account: Account,
) -> None:
    plan = account.out.parent / "plan.json"
    code, comment, _, _ = plan_out(account, plan, "-f", "markdown")
    assert code == 0
    time.sleep(2.1)
    code, _, err, _ = apply_plan(account, plan, "--max-age", "2s")
    assert code == 1 and "the plan expired" in err
    doc = json.loads(plan.read_text())
    doc["created"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    forged = account.out.parent / "forged.json"
    forged.write_text(json.dumps(redigest(doc)))
    code, out, err, mutating = apply_plan(
        account, forged, "--max-age", "2s", "--expect-digest", reviewed_digest(comment)
    )
    assert (code, mutating) == (1, []), out + err
    assert "this is not the reviewed plan" in err


def test_without_expect_digest_apply_says_the_plan_is_not_pinned(account: Account) -> None:
    """What the digest alone does not do, said where it matters: apply without
    --expect-digest warns that the file is not tied to a review."""
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    code, out, err, _ = apply_plan(account, plan)
    assert code == 0, out + err
    assert "the plan is not pinned (no --expect-digest)" in err


def test_expect_digest_is_refused_without_a_plan_or_in_another_shape(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    code, out, err = account.run("apply", str(plan), "--yes", "--expect-digest", "sha256:abc")
    assert code != 0 and "not a plan digest" in out + err
    code, out, err = account.run(
        "apply", str(account.spec), "--out", str(account.out), "--expect-digest", "sha256:" + "0" * 64
    )
    assert code != 0 and "--expect-digest pins a saved plan" in out + err
    assert not [r for r in account.requests() if account.mutates(r)]


def test_a_tampered_call_argument_is_never_sent(account: Account) -> None:
    """(Held before the fix; kept.) A policy document edited in the file, the digest
    recomputed, applied unpinned: apply decides again from out/ and live state, so what is
    sent is out/'s policy."""
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    doc = json.loads(plan.read_text())
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for step in doc["actions"]:
        for call in step["calls"]:
            if call["op"] == "aws:iam:CreatePolicy":
                call["args"]["PolicyDocument"] = json.dumps(wide)
    forged = account.out.parent / "forged.json"
    forged.write_text(json.dumps(redigest(doc)))
    code, out, err, _ = apply_plan(account, forged)
    assert code == 0, out + err
    version = account.iam.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    live = account.iam.get_policy_version(PolicyArn=POLICY_ARN, VersionId=version)
    assert '"*"' not in json.dumps(live["PolicyVersion"]["Document"]).replace(" ", "")


# --- --plan-out never overwrites an input ------------------------------------------------------


def _refused(account: Account, target: Path, why: str) -> None:
    before = target.read_bytes()
    code, out, err, mutating = plan_out(account, target)
    assert (code, mutating) == (1, []), out + err
    assert why in err, err
    assert target.read_bytes() == before
    assert not list(target.parent.glob(f".{target.name}.*")), "a temporary file was left"


def test_plan_out_over_the_spec_file_is_refused(account: Account) -> None:
    _refused(account, account.spec, "is one of the specs this plan is made from")


def test_plan_out_over_a_compiled_artifact_is_refused(account: Account) -> None:
    artifact = account.out / "remote-exec-demo" / "aws" / "iam-policy.json"
    _refused(account, artifact, "the compiled tree this plan is made from")


def test_plan_out_over_a_file_that_is_not_a_plan_is_refused(account: Account) -> None:
    _refused(account, account.spec.parent / "constraints.txt", "exists and is not an airspec plan")
    other = account.spec.parent / "report.json"
    other.write_text('{"version": "airspec.drift/v1"}\n')
    _refused(account, other, "exists and is not an airspec plan")


def test_plan_out_replaces_an_earlier_plan(account: Account) -> None:
    plan = account.out.parent / "plan.json"
    assert plan_out(account, plan)[0] == 0
    first = json.loads(plan.read_text())["digest"]
    time.sleep(1.1)  # another `created`, so another digest
    assert plan_out(account, plan)[0] == 0
    assert json.loads(plan.read_text())["digest"] != first


def test_plan_out_json_refusal_is_one_document(account: Account) -> None:
    code, out, _, _ = plan_out(account, account.spec, "-f", "json")
    assert code == 1 and json.loads(out)["error"]["kind"] == "plan"


# --- the comment: long values -----------------------------------------------------------------


def long_value_plan(value: str, n: int = 3) -> PlanDocument:
    """n actions on ConfigMaps whose live value is `value`; the last one deletes."""
    steps = []
    for i in range(n):
        target = f"kubernetes/configmap/airflow-agents/{value[:200]}-{i}"
        destroys = i == n - 1
        steps.append(
            PlanStep(
                spec="spec-a",
                target=target,
                action="delete" if destroys else "update",
                summary=f"update {value}",
                destructive=destroys,
                findings=[
                    Finding(
                        spec="spec-a",
                        artifact="k8s/provider-constraints.yaml",
                        target=target,
                        status=Status.DRIFT,
                        path=f"data.{value[:100]}",
                        compiled="a",
                        live=value,
                        message="value differs",
                    )
                ],
                commands=[f"kubectl patch {value}"],
                calls=[
                    PlanCall(
                        call=f"apply {value}",
                        op="kube:apply",
                        args={"body": {"data": {"k": value}}},
                        digest="sha256:" + "0" * 64,
                        destructive=destroys,
                    )
                ],
            )
        )
    return PlanDocument(
        airspec="0.1.0",
        created="2026-11-28T06:00:00Z",
        request=PlanRequest(specs=["specs/"], out="out"),
        specs=["spec-a"],
        owners={},
        trees={"spec-a": Tree(digest="sha256:" + "1" * 64, files={})},
        reads=[],
        actions=steps,
        digest="sha256:" + "3" * 64,
    )


HOSTILE = [
    "</details>",
    "<!-- airspec-plan -->",
    "**Plan `sha256:" + "4" * 64 + "`**",
    "``` \n# Approved, nothing to do\n```",
    "a | b | c",
    "<img src=x onerror=alert(1)>",
    "\n\n| forged | row |\n\n**Plan `sha256:" + "5" * 64 + "`**\n",
    "x" * 40000,
    "x" * 70000,  # the reviewer saw only "3 more action(s) (1 destructive)", after minutes
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_the_comment_keeps_the_destructive_row_and_its_one_digest_line(value: str) -> None:
    md = plan_markdown(long_value_plan(value))
    assert len(md.encode()) <= 65536
    lines = md.splitlines()
    # the destructive action's row is there, first, marked, with its verb
    rows = [line for line in lines if line.startswith("| ") and "configmap" in line]
    assert len(rows) == 3 and "⛔" in rows[0] and "`delete`" in rows[0], md[-400:]
    assert lines[0] == "<!-- airspec-plan -->" and lines.count("<!-- airspec-plan -->") == 1
    assert PINNED.findall(md) == ["sha256:" + "3" * 64], "a value wrote a digest line"
    assert sum(line.startswith("<details>") for line in lines) == lines.count("</details>")
    assert not any(line.startswith(("<img", "| forged")) for line in lines)
    for table in re.findall(r"((?:^\|.*\n)+)", md, flags=re.M):
        rows = [r for r in table.splitlines() if r.strip()]
        assert len({len(re.findall(r"(?<!\\)\|", r)) for r in rows}) == 1, rows[:3]


def test_a_long_value_is_cut_in_the_comment_saying_how_much_and_whole_in_the_plan() -> None:
    value = "v" * 70000
    doc = long_value_plan(value)
    md = plan_markdown(doc)
    assert "more characters folded: the full value is in the plan file]" in md
    cut = re.findall(r"\[([\d,]+) more characters folded", md)
    assert cut and all(int(n.replace(",", "")) > 60000 for n in cut)
    assert value not in md
    assert doc.actions[0].findings[0].live == value  # the document keeps it whole


def test_many_destructive_actions_fold_the_rest_and_say_so() -> None:
    doc = long_value_plan("y" * 300, n=4000)
    doc = doc.model_copy(
        update={
            "actions": [
                a.model_copy(update={"destructive": True, "action": "delete"}) for a in doc.actions
            ]
        }
    )
    md = plan_markdown(doc)
    assert len(md.encode()) <= 65536
    assert re.search(r"\d+ more action\(s\) \(\d+ destructive\)", md), md[-500:]
    assert "⛔" in md


# --- the redactor, linear on long runs ---------------------------------------------------------

# the redactor's URL-userinfo rule as it was written first (quadratic on a long run of scheme
# characters): the reference the linear rule must agree with
REFERENCE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")


@given(st.text(alphabet="ab1+.-:/@ ?#xZ9", max_size=24))
def test_url_userinfo_is_redacted_as_the_rfc_3986_scheme_rule_says(text: str) -> None:
    """Only the URL rule can fire on this alphabet (no credential word or shape, no JSON):
    the linear rule cuts exactly what the reference cuts, and keeps the rest."""
    expected = REFERENCE.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    assert redact_text(text) == expected


def test_url_userinfo_keeps_what_precedes_the_scheme() -> None:
    assert redact_text("12ab://user:pw@host") == f"12ab://{REDACTED}@host"
    assert redact_text("see https://u:p@example.com") == f"see https://{REDACTED}@example.com"
