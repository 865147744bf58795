"""Hostile: the owner identity on AWS, against moto's server over HTTP (every request
recorded), each team's spec in a git repository of its own with its own `origin`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import test_safety
from conftest import ROOT, SpecCli, git_repo, variant
from hostile import finding
from live_servers import RecordingMotoServer, aws_client
from test_safety import POLICY_ARN, READER, ROLE, SPEC, Repo, _reset, _tags, actions

TEAM_A_OWNER = "github.com/acme/team-a/remote-exec-demo"


team_a = test_safety.team_a  # the fixture: team A's spec applied from its repository


@finding("AIRSPEC_REPOSITORY overrides the git remote (README: only where there is no git)")
def test_airspec_repository_never_overrides_the_git_remote(
    team_a: Repo, tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """The README: the repository is the spec's git `origin`, "AIRSPEC_REPOSITORY sets it
    where there is no git". In code the variable wins over git everywhere, so team B's CI
    (its own repository and origin, with AIRSPEC_REPOSITORY left over from a shared CI
    template naming team A's repository) is team A's owner: `--prune` deletes team A's
    roles and policy."""
    text = SPEC.read_text().replace(ROLE, "OrdersRole").replace("AirflowS3Access", "OrdersAccess")
    team_b = Repo(tmp_path / "b", moto, "https://github.com/acme/team-b", text, "orders.airspec.yaml")
    team_b.env["AIRSPEC_REPOSITORY"] = "https://github.com/acme/team-a"
    _code, out, mutating = team_b.apply("--prune", "--yes")
    deleted = [a for a in actions(mutating) if a.startswith("Delete")]
    assert deleted == [], out
    iam = aws_client(moto.url, "iam")
    assert _tags(iam, ROLE)["airspec.io/owner"] == TEAM_A_OWNER
    assert _tags(iam, READER)["airspec.io/owner"] == TEAM_A_OWNER
    iam.get_policy(PolicyArn=POLICY_ARN)


# --- AS225: what two specs share that IAM sees as one object ------------------------------------


@finding("AS225 compares IAM names case-sensitively; IAM does not")
@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        ("role", f"name: {ROLE}2", f"name: {ROLE.lower()}"),
        ("policy", "policyName: AirflowS3Access2", "policyName: airflows3access"),
    ],
)
def test_two_specs_naming_one_iam_object_in_another_case_are_refused(
    tmp_path: Path, what: str, old: str, new: str
) -> None:
    """IAM names are unique case-insensitively (IAM API Reference, CreateRole RoleName /
    CreatePolicy PolicyName: "IAM user, group, role, and policy names must be unique within
    the account. Names are not distinguished by case."). Spec B names team A's role (or policy) in lower case:
    AS225 compares ARNs case-sensitively and lets both through; at apply, B's GetRole
    finds A's role (IAM resolves names case-insensitively) and the two specs undo each other."""
    folder = git_repo(tmp_path / "repo")
    (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    (folder / "a.airspec.yaml").write_text(SPEC.read_text())
    twin = variant(SPEC.read_text(), 2)
    assert old in twin, twin
    (folder / "b.airspec.yaml").write_text(twin.replace(old, new))
    cli = SpecCli()
    cli.env = {}
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    assert code == 1 and "AS225" in out, (what, out)


# --- identities two repositories share by accident ----------------------------------------------


ORDERS = SPEC.read_text().replace(ROLE, "OrdersRole").replace("AirflowS3Access", "OrdersAccess")


def _clone_without_origin(starter: Path, folder: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(starter), str(folder)], check=True)
    subprocess.run(["git", "-C", str(folder), "remote", "remove", "origin"], check=True)
    return folder


@finding("clones without origin share the root-commit identity")
def test_two_clones_without_origin_are_refused_until_they_name_their_repository(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """Without an `origin` the identity was the repository's root commit: two teams that
    cloned one platform starter (history kept) were one owner, and team B's --prune deleted
    team A's roles. Now no identity is guessed: apply stops before any request until the
    repository is named (an `origin`, or AIRSPEC_REPOSITORY); named apart, they are two."""
    _reset(moto)
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    starter = git_repo(tmp_path / "starter", remote=None)
    (starter / "README").write_text("platform starter\n")
    subprocess.run(["git", "-C", str(starter), "add", "README"], check=True)
    subprocess.run(
        ["git", "-C", str(starter), "-c", "user.name=t", "-c", "user.email=t@example.com",
         "commit", "-qm", "starter"],
        check=True,
    )
    a = _clone_without_origin(starter, tmp_path / "a")
    team_a = Repo(a, moto, None, SPEC.read_text())  # type: ignore[arg-type]
    moto.recorder.calls.clear()
    code, out, _ = team_a.apply("--yes")
    assert code == 1 and "no 'origin' remote" in out and "AIRSPEC_REPOSITORY" in out, out
    assert [c for c in moto.recorder.calls if c[2] != "GetCallerIdentity"] == []
    team_a.env["AIRSPEC_REPOSITORY"] = "git.example.com/team-a/platform"
    code, out, _ = team_a.apply("--yes")
    assert code == 0, out
    team_b = Repo(_clone_without_origin(starter, tmp_path / "b"), moto, None, ORDERS, "orders.airspec.yaml")  # type: ignore[arg-type]
    team_b.env["AIRSPEC_REPOSITORY"] = "git.example.com/team-b/platform"
    code, out, mutating = team_b.apply("--prune", "--yes")
    assert code in (0, 3), out
    assert [a for a in actions(mutating) if a.startswith("Delete")] == []
    aws_client(moto.url, "iam").get_role(RoleName=ROLE)


@finding("a relative origin (../x.git) is kept as the identity")
def test_a_relative_remote_is_not_an_identity(tmp_path: Path, moto: RecordingMotoServer) -> None:
    """`origin = ../platform.git` names a different repository in each checkout, but the
    normalizer kept the relative text as the identity: two teams were one owner. Now it is
    refused before any request, naming the fix."""
    _reset(moto)
    team_a = Repo(tmp_path / "a" / "work", moto, "../platform.git", SPEC.read_text())
    moto.recorder.calls.clear()
    code, out, _ = team_a.apply("--yes")
    assert code == 1 and "relative 'origin' (../platform.git)" in out, out
    assert [c for c in moto.recorder.calls if c[2] != "GetCallerIdentity"] == []


@finding("an equal object of another owner is 'in sync' and gets attached")
def test_a_policy_claimed_by_another_spec_is_never_attached_to_this_specs_role(
    team_a: Repo, tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """Team B (another repository) names its own role but team A's policy name, with the
    same document. Ownership is only decided for objects that differ: the policy reads "in
    sync", so nobody notices it is team A's. B's run creates its role and attaches team A's
    policy to it, and exits 0. From then on B's pods get whatever team A grants (after every
    change A makes), and team A can no longer delete its policy (attached elsewhere)."""
    text = SPEC.read_text().replace(ROLE, "OrdersRole")
    team_b = Repo(tmp_path / "b", moto, "https://github.com/acme/team-b", text, "orders.airspec.yaml")
    code, out, _ = team_b.apply("--yes")
    iam = aws_client(moto.url, "iam")
    attached = iam.list_attached_role_policies(RoleName="OrdersRole")["AttachedPolicies"]
    assert POLICY_ARN not in [p["PolicyArn"] for p in attached], out
    assert code == 1 and "claimed" in out, out


@finding("one unreadable role anywhere in the account fails every apply (orphan scan)")
def test_a_role_this_deployer_may_not_read_does_not_fail_every_apply(
    team_a: Repo, moto: RecordingMotoServer
) -> None:
    """Every apply (without --prune too) lists every role in the account and reads each
    one's tags, looking for orphans. A deploy role scoped to its own roles (a permissions
    boundary, an SCP protecting another team's role) gets AccessDenied on one other role's
    ListRoleTags — and the whole apply exits 1 ("could not look for orphaned IAM objects"),
    even when nothing is to be pruned and the spec's own objects are converged."""
    from hostile import answering

    iam = aws_client(moto.url, "iam")
    iam.create_role(RoleName="PaymentsBreakGlass", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}))
    denied = (403, "AccessDenied", "explicit deny in a service control policy")
    with answering(moto, {"ListRoleTags:RoleName=PaymentsBreakGlass": denied}):
        code, out, mutating = team_a.apply("--yes")
    assert mutating == [], out
    assert code == 0, out
