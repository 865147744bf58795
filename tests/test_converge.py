"""`airspec apply` (no --dry-run) against moto's server over HTTP, every request recorded.

The account starts empty but for the EKS cluster (its OIDC issuer is the spec's). Apply
creates the IAM objects and owned buckets, tagged; a second apply makes no mutating request;
objects airspec did not create are refused without --adopt; a failing call stops the run
with an exact account of what was and was not done, and a rerun converges.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import EC2_TRUST, ROOT, SpecCli, fake_tool, git_repo
from live_servers import RecordingMotoServer, aws_call_mutates, aws_client, moto_env

SPEC = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
ROLE = "AirflowS3LoggerXComRole"
POLICY_ARN = "arn:aws:iam::123456789012:policy/AirflowS3Access"
AWS_ONLY = ("--target", "iam", "--target", "s3")


class Account(SpecCli):
    TARGETS = ("iam", "s3")

    def __init__(self, tmp: Path, moto: RecordingMotoServer, spec_text: str | None = None):
        self.moto = moto
        urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
        moto.recorder.fail.clear()
        self.iam, self.s3 = aws_client(moto.url, "iam"), aws_client(moto.url, "s3")
        git_repo(tmp)
        self.spec = tmp / "remote-exec-eks.airspec.yaml"
        self.spec.write_text(spec_text or SPEC.read_text())
        shutil.copy(ROOT / "specs" / "constraints.txt", tmp / "constraints.txt")
        self.out = tmp / "out"
        self.env = moto_env(moto.url)
        assert self.run("compile", str(self.spec), "--out", str(self.out))[0] == 0
        if spec_text is None:  # buckets exist already in most accounts: not owned by the spec
            self.s3.create_bucket(Bucket="my-airflow-bucket")

    def requests(self) -> list[tuple[str, str, str]]:
        return self.moto.recorder.calls

    def mutates(self, request: tuple[str, str, str]) -> bool:
        return aws_call_mutates(request)


@pytest.fixture
def account(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[Account]:
    yield Account(tmp_path, moto)


def actions(mutating: list[tuple[str, str, str]]) -> list[str]:
    return [action or f"{method} {path}" for method, path, action in mutating]


def test_empty_account_apply_then_in_sync(account: Account) -> None:
    code, report = account.dry_run()
    assert code == 3 and report["counts"]["missing"] >= 4
    code, text, mutating = account.apply("--yes")
    assert code == 0, text
    assert actions(mutating) == [
        "CreateOpenIDConnectProvider",
        "CreatePolicy",
        "CreateRole",
        "CreateRole",
        "AttachRolePolicy",
        "PutRolePolicy",
    ]
    code, report = account.dry_run()
    assert code == 0, report["findings"]
    role = account.iam.get_role(RoleName=ROLE)["Role"]
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {
        "airspec.io/owner": "github.com/acme/team-a/remote-exec-demo",
        "airspec.io/spec": "remote-exec-eks.airspec.yaml",
    }
    # the second apply reads, finds nothing to do, and makes no mutating request
    code, text, mutating = account.apply("--yes")
    assert code == 0 and "nothing to do" in text
    assert mutating == []


def _policy_document(account: Account) -> dict[str, Any]:
    return json.loads((account.out / "remote-exec-demo" / "aws" / "iam-policy.json").read_text())


def test_untagged_role_is_refused_without_adopt_and_adopted_with_it(account: Account) -> None:
    account.iam.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
    )
    code, text, mutating = account.apply("--yes")
    assert code == 3, text
    assert "refused" in text and "rerun with --adopt" in text
    assert "UpdateAssumeRolePolicy" not in actions(mutating)
    assert "TagRole" not in actions(mutating)
    assert account.iam.get_role(RoleName=ROLE)["Role"].get("Tags", []) == []
    code, text, mutating = account.apply("--yes", "--adopt")
    assert code == 0, text
    assert actions(mutating)[:2] == ["TagRole", "UpdateAssumeRolePolicy"]
    tags = {t["Key"]: t["Value"] for t in account.iam.get_role(RoleName=ROLE)["Role"]["Tags"]}
    assert tags["airspec.io/owner"] == "github.com/acme/team-a/remote-exec-demo"
    assert account.dry_run()[0] == 0


def test_five_policy_versions_the_oldest_non_default_goes_first(account: Account) -> None:
    assert account.apply("--yes")[0] == 0
    broader = _policy_document(account)
    broader["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    for i in range(4):  # v2..v5: five versions, v5 the (drifted) default
        account.iam.create_policy_version(
            PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(broader), SetAsDefault=i == 3
        )
    code, report = account.dry_run()
    assert code == 3 and {f["status"] for f in report["findings"]} == {"broadening"}
    code, text, mutating = account.apply("--yes")
    assert code == 0, text
    assert actions(mutating) == ["DeletePolicyVersion", "CreatePolicyVersion"]
    versions = account.iam.list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == ["v2", "v3", "v4", "v5", "v6"]
    assert next(v for v in versions if v["IsDefaultVersion"])["VersionId"] == "v6"
    assert account.dry_run()[0] == 0


def test_a_failing_call_stops_the_run_and_a_rerun_converges(account: Account) -> None:
    account.moto.recorder.fail.add("CreateRole")  # every CreateRole answers HTTP 500
    code, text, mutating = account.apply("--yes")
    assert code == 1
    assert "applied    remote-exec-demo: create OIDC provider" in text
    assert "applied    remote-exec-demo: create policy AirflowS3Access" in text
    assert "FAILED     remote-exec-demo: create role AirflowS3LoggerXComRole" in text
    assert "ServiceFailure" in text
    assert "not run    remote-exec-demo: attach exactly AirflowS3Access" in text
    assert [a for a in actions(mutating) if a != "CreateRole"] == [
        "CreateOpenIDConnectProvider",
        "CreatePolicy",
    ]
    account.moto.recorder.fail.clear()
    code, text, mutating = account.apply("--yes")
    assert code == 0, text
    assert actions(mutating) == ["CreateRole", "CreateRole", "AttachRolePolicy", "PutRolePolicy"]
    assert account.dry_run()[0] == 0


def test_drift_injected_is_broadening_and_apply_removes_it(account: Account) -> None:
    assert account.apply("--yes")[0] == 0
    broader = _policy_document(account)
    first = broader["Statement"][0]
    first["Action"] = [
        *([first["Action"]] if isinstance(first["Action"], str) else first["Action"]),
        "s3:DeleteBucket",
    ]
    account.iam.create_policy_version(
        PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(broader), SetAsDefault=True
    )
    code, report = account.dry_run()
    assert code == 3
    assert [f["status"] for f in report["findings"]] == ["broadening"]
    code, _, mutating = account.apply("--yes")
    assert code == 0 and actions(mutating) == ["CreatePolicyVersion"]
    assert account.dry_run()[0] == 0


def test_no_terminal_and_no_yes_changes_nothing(account: Account) -> None:
    code, text, mutating = account.apply()
    assert code == 1 and "rerun with --yes" in text
    assert mutating == []


def test_owned_bucket_is_created_private_and_encrypted(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    text = SPEC.read_text().replace(
        "- name: my-airflow-bucket", "- name: my-airflow-bucket\n    owned: true"
    )
    assert "owned: true" in text
    account = Account(tmp_path, moto, text)
    code, out, mutating = account.apply("--yes")
    assert code == 0, out
    assert actions(mutating)[-4:] == [
        "PUT /my-airflow-bucket",
        "PUT /my-airflow-bucket",
        "PUT /my-airflow-bucket",
        "PUT /my-airflow-bucket",
    ]
    block = account.s3.get_public_access_block(Bucket="my-airflow-bucket")
    assert all(block["PublicAccessBlockConfiguration"].values())
    rules = account.s3.get_bucket_encryption(Bucket="my-airflow-bucket")
    assert (
        rules["ServerSideEncryptionConfiguration"]["Rules"][0][
            "ApplyServerSideEncryptionByDefault"
        ]["SSEAlgorithm"]
        == "AES256"
    )
    assert account.dry_run()[0] == 0


def test_a_missing_bucket_the_spec_does_not_own_is_left_alone(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    account = Account(tmp_path, moto, SPEC.read_text())  # no bucket created
    code, out, mutating = account.apply("--yes")
    assert code == 3
    assert "bucket my-airflow-bucket does not exist; create it, or mark it `owned: true`" in out
    assert not [c for c in mutating if "my-airflow-bucket" in c[1]]


def test_tool_steps_are_pending_unless_with_tools_runs_them(
    account: Account, tmp_path: Path
) -> None:
    """No EKS cluster: eksctl's runbook step is pending (exit 3: left to the user, the exact
    command printed); with --with-tools and an `eksctl` on PATH it runs, in out/<name>/."""
    code, out, err = account.run(
        "apply", str(account.spec), "--out", str(account.out), "--target", "eks", "--yes"
    )
    assert code == 3, out + err
    assert "eksctl create cluster -f eksctl/cluster.yaml" in out
    # no cluster yet: the stand-in fails `eksctl get cluster`, so the guarded create runs
    account.env["PATH"], log = fake_tool(tmp_path, "eksctl", '"$PWD $*"', fails_on="get")
    code, out, err = account.run(
        "apply",
        str(account.spec),
        "--out",
        str(account.out),
        "--target",
        "eks",
        "--yes",
        "--with-tools",
    )
    assert code == 0, out + err
    folder = account.out / "remote-exec-demo"
    assert log.read_text() == (
        f"{folder} get cluster --name remote-execution-airflow-cluster --region us-east-1\n"
        f"{folder} create cluster -f eksctl/cluster.yaml\n"
    )


def test_json_with_yes_is_one_document_holding_plan_and_result(account: Account) -> None:
    code, out, _ = account.run(
        "apply", str(account.spec), "--out", str(account.out), *AWS_ONLY, "--yes", "-f", "json"
    )
    assert code == 0
    doc = json.loads(out)  # one JSON document on stdout
    assert doc["version"] == "airspec.apply/v1"
    assert [a["action"] for a in doc["plan"]][:2] == ["create", "create"]
    assert doc["result"]["failed"] is None
    assert doc["result"]["applied"] == [a["target"] for a in doc["plan"]]
    assert "iam:CreatePolicy AirflowS3Access" in doc["plan"][1]["calls"]


def test_objects_that_left_the_spec_are_orphaned_and_pruned(account: Account) -> None:
    """The role is renamed in the spec: apply creates the new one; the old role and its
    log-reader role (tagged with this spec's name) are listed as orphaned, and deleted only
    with --prune. A role without the tag is never listed."""
    account.iam.create_role(RoleName="SomeoneElses", AssumeRolePolicyDocument="{}")
    assert account.apply("--yes")[0] == 0
    text = account.spec.read_text().replace(f"name: {ROLE},", "name: AirflowRoleV2,")
    account.spec.write_text(text)
    assert account.run("compile", str(account.spec), "--out", str(account.out))[0] == 0
    code, out, mutating = account.apply("--yes")
    assert code == 3, out  # orphans left: the live state still differs from the spec
    assert actions(mutating) == ["CreateRole", "CreateRole", "AttachRolePolicy", "PutRolePolicy"]
    orphaned = [line for line in out.splitlines() if line.startswith("orphaned")]
    assert [line.split("[", 1)[1] for line in orphaned] == [
        f"iam/role/arn:aws:iam::123456789012:role/{ROLE}]",
        f"iam/role/arn:aws:iam::123456789012:role/{ROLE}-log-reader]",
    ]
    assert f"aws iam delete-role --role-name {ROLE}" in out
    assert "SomeoneElses" not in out
    assert account.iam.get_role(RoleName=ROLE)  # nothing deleted without --prune
    code, out, mutating = account.apply("--yes", "--prune")
    assert code == 0, out
    assert actions(mutating) == [
        "DetachRolePolicy",
        "DeleteRole",
        "DeleteRolePolicy",
        "DeleteRole",
    ]
    names = {r["RoleName"] for r in account.iam.list_roles()["Roles"]}
    assert names == {"AirflowRoleV2", "AirflowRoleV2-log-reader", "SomeoneElses"}
    code, out, mutating = account.apply("--yes")
    assert (code, mutating) == (0, []), out


def test_pod_identity_add_on_and_associations(tmp_path: Path, moto: RecordingMotoServer) -> None:
    """Pod Identity: the add-on is installed and each service account associated with the
    role; an association airspec did not make is listed, not deleted."""
    spec = ROOT / "specs" / "pod-identity-eks.airspec.yaml"
    account = Account(tmp_path, moto, spec.read_text())
    eks = aws_client(moto.url, "eks")
    eks.create_cluster(
        name="remote-execution-airflow-cluster",
        version="1.33",
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )
    role = "arn:aws:iam::123456789012:role/AirflowAgentsPodRole"
    foreign = eks.create_pod_identity_association(
        clusterName="remote-execution-airflow-cluster",
        namespace="airflow-pod-identity",
        serviceAccount="default",
        roleArn=role,
    )["association"]["associationId"]

    def apply() -> tuple[int, str, list[str]]:
        moto.recorder.calls.clear()
        code, out, err = account.run(
            "apply", str(account.spec), "--out", str(account.out), "-t", "eks", "--yes"
        )
        return code, out + err, actions([c for c in moto.recorder.calls if aws_call_mutates(c)])

    code, out, mutating = apply()
    # left to the user (exit 3): the foreign association and the node group eksctl adds
    assert code == 3, out
    assert "eksctl create nodegroup -f eksctl/cluster.yaml --include=workers" in out, (
        "the cluster exists: eksctl adds the node group, it does not create the cluster"
    )
    assert [m for m in mutating if "pod-identity" in m or "addons" in m] == [
        "POST /clusters/remote-execution-airflow-cluster/addons",
        # dag processor, triggerer, worker: the example reads a cloud secrets backend (AS234)
        "POST /clusters/remote-execution-airflow-cluster/pod-identity-associations",
        "POST /clusters/remote-execution-airflow-cluster/pod-identity-associations",
        "POST /clusters/remote-execution-airflow-cluster/pod-identity-associations",
    ]
    got = {
        a["serviceAccount"]: a
        for a in moto.eks_extensions.associations.values()
        if a["namespace"] == "airflow-pod-identity"
    }
    assert got["astro-agent-worker"]["roleArn"] == role
    assert got["astro-agent-worker"]["tags"]["airspec.io/owner"] == (
        "github.com/acme/team-a/pod-identity-demo"
    )
    assert got["default"]["associationId"] == foreign  # not deleted
    assert f"--association-id {foreign}" in out
    code, out, mutating = apply()
    assert not [m for m in mutating if "pod-identity" in m or "addons" in m], out


def test_a_failing_read_inside_an_action_is_reported_not_a_traceback(account: Account) -> None:
    """The reads an action is decided from (here the policy's versions, read while planning
    since the plan holds every call) fail like the dry run's: the object is unreadable,
    nothing is decided or changed for it, exit 1, no traceback."""
    assert account.apply("--yes")[0] == 0
    broader = _policy_document(account)
    broader["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    account.iam.create_policy_version(
        PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(broader), SetAsDefault=True
    )
    account.moto.recorder.fail.add("ListPolicyVersions")
    code, text, mutating = account.apply("--yes")
    assert code == 1, text
    assert "unreadable remote-exec-demo: cannot decide: iam list-policy-versions" in text
    assert "ServiceFailure" in text
    assert "Traceback" not in text
    assert mutating == []


@pytest.mark.parametrize(
    ("value", "first"),
    [(None, 0.5), ("0.01", 0.01), ("0", 0.0), ("-3", 0.0), ("x", 0.5), ("nan", 0.5)],
)
def test_write_backoff_doubles_from_the_setting_and_ignores_nonsense(
    monkeypatch: pytest.MonkeyPatch, value: str | None, first: float
) -> None:
    from airspec.apply.calls import retry_delays

    if value is None:
        monkeypatch.delenv("AIRSPEC_BACKOFF_SECONDS", raising=False)
    else:
        monkeypatch.setenv("AIRSPEC_BACKOFF_SECONDS", value)
    assert retry_delays() == [first, first * 2, first * 4, first * 8, first * 16]


@pytest.mark.parametrize(("value", "retries"), [(None, 4), ("0", 0), ("2", 2), ("-1", 0), ("x", 4)])
def test_read_retries_come_from_the_runs_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, retries: int
) -> None:
    """Read when a client is built, not when the module is imported: the CLI in-process (and a
    long-lived caller) sees the environment of each run; nonsense is the default, not a crash."""
    from airspec.live.readers import read_retries

    if value is None:
        monkeypatch.delenv("AIRSPEC_READ_RETRIES", raising=False)
    else:
        monkeypatch.setenv("AIRSPEC_READ_RETRIES", value)
    assert read_retries() == retries
