"""`airspec apply` in an account many teams share (AWS against moto's server over HTTP, every
request recorded): what another spec owns is never changed or pruned, shared objects are
planned once, a half-made object is never "in sync", every call made is reported, and a
delete's preconditions are checked before anything changes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import EC2_TRUST, ROOT, SpecCli, git_repo, variant
from live_servers import RecordingMotoServer, aws_call_mutates, aws_client, moto_env

SPEC = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
ROLE = "AirflowS3LoggerXComRole"
READER = f"{ROLE}-log-reader"
POLICY_ARN = "arn:aws:iam::123456789012:policy/AirflowS3Access"
AWS = ("iam", "s3")


class Repo(SpecCli):
    """One team's repository (its own `origin`) holding one spec, applied against moto."""

    TARGETS = AWS

    def __init__(
        self,
        folder: Path,
        moto: RecordingMotoServer,
        remote: str,
        text: str,
        file: str = SPEC.name,
    ) -> None:
        self.moto = moto
        git_repo(folder, remote)
        (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
        self.spec = folder / file
        self.spec.write_text(text)
        self.out = folder / "out"
        self.env = moto_env(moto.url)
        code, out, err = self.run("compile", str(self.spec), "--out", str(self.out))
        assert code == 0, out + err

    def requests(self) -> list[tuple[str, str, str]]:
        return self.moto.recorder.calls

    def mutates(self, request: tuple[str, str, str]) -> bool:
        return aws_call_mutates(request)


def _reset(moto: RecordingMotoServer) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
    moto.recorder.fail.clear()


def actions(mutating: list[tuple[str, str, str]]) -> list[str]:
    return [action or f"{method} {path}" for method, path, action in mutating]


@pytest.fixture
def team_a(tmp_path: Path, moto: RecordingMotoServer) -> Repo:
    _reset(moto)
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    repo = Repo(tmp_path / "a", moto, "git@github.com:acme/team-a.git", SPEC.read_text())
    code, out, _ = repo.apply("--yes")
    assert code == 0, out
    return repo


def _tags(iam: Any, role: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.get_role(RoleName=role)["Role"].get("Tags", [])}


# --- ownership --------------------------------------------------------------------------------


def test_another_repositorys_copy_never_prunes_this_ones_objects(
    team_a: Repo, tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """Team B copies team A's spec into its own repository as orders.airspec.yaml, keeps
    metadata.name and renames the role and policy: its --prune deletes nothing of A's."""
    text = SPEC.read_text().replace(ROLE, "OrdersRole").replace("AirflowS3Access", "OrdersAccess")
    team_b = Repo(
        tmp_path / "b", moto, "https://github.com/acme/team-b", text, "orders.airspec.yaml"
    )
    code, out, mutating = team_b.apply("--prune", "--yes")
    assert code == 0, out
    assert not [a for a in actions(mutating) if a.startswith("Delete")], out
    iam = aws_client(moto.url, "iam")
    for role in (ROLE, READER):
        assert _tags(iam, role)["airspec.io/owner"] == "github.com/acme/team-a/remote-exec-demo"
    iam.get_policy(PolicyArn=POLICY_ARN)  # still there
    assert _tags(iam, "OrdersRole")["airspec.io/owner"] == "github.com/acme/team-b/remote-exec-demo"
    # and team A's own view: in sync, nothing orphaned
    assert team_a.dry_run()[0] == 0
    code, out, mutating = team_a.apply("--prune", "--yes")
    assert (code, mutating) == (0, []), out


def test_an_object_claimed_by_another_spec_is_refused_with_both_owners_then_adopted(
    team_a: Repo, tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """Team B names team A's role and policy: claimed, never changed, exit 1, both owners
    named; --adopt takes them over and names the previous owner."""
    team_b = Repo(tmp_path / "b", moto, "https://github.com/acme/team-b", SPEC.read_text())
    iam = aws_client(moto.url, "iam")
    # the live trust policy drifts, so team B's apply would rewrite it
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"][0]["Condition"]["StringEquals"]["extra:sub"] = "x"
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))
    code, out, mutating = team_b.apply("--yes")
    assert code == 1, out
    assert "claimed" in out
    assert "'github.com/acme/team-a/remote-exec-demo'" in out
    assert "'github.com/acme/team-b/remote-exec-demo'" in out
    assert [a for a in actions(mutating) if "Role" in a or "Policy" in a] == []
    code, out, _ = team_b.run(
        "apply", str(team_b.spec), "--out", str(team_b.out), "-t", "iam", "--yes", "-f", "json"
    )
    doc = json.loads(out)
    assert f"iam/role/arn:aws:iam::123456789012:role/{ROLE}" in doc["result"]["claimed"]
    code, out, mutating = team_b.apply("--yes", "--adopt")
    assert code == 0, out
    assert (
        "take over role AirflowS3LoggerXComRole "
        "(previous owner: 'github.com/acme/team-a/remote-exec-demo')"
    ) in out
    # the drifted role is tagged then updated; the claimed objects that needed no change
    # (the policy, the log-reader role) are tagged as team B's too
    assert actions(mutating) == ["TagPolicy", "TagRole", "UpdateAssumeRolePolicy", "TagRole"]
    for role in (ROLE, READER):
        assert _tags(iam, role)["airspec.io/owner"] == "github.com/acme/team-b/remote-exec-demo"
    code, out, mutating = team_b.apply("--yes")
    assert (code, mutating) == (0, []), out


def test_two_specs_on_one_cluster_share_the_oidc_provider(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """Both specs trust the cluster's OIDC provider: it is created once in one run (no
    EntityAlreadyExists), and kept when one spec stops trusting it while the other does."""
    _reset(moto)
    folder = git_repo(tmp_path / "repo", "https://github.com/acme/platform")
    (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    (folder / "a.airspec.yaml").write_text(SPEC.read_text())
    (folder / "b.airspec.yaml").write_text(variant(SPEC.read_text(), 2))
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    cli = SpecCli()
    cli.env = moto_env(moto.url)
    out = folder / "out"
    assert cli.run("compile", str(folder), "--out", str(out))[0] == 0
    moto.recorder.calls.clear()
    code, stdout, err = cli.run("apply", str(folder), "--out", str(out), *_t(AWS), "--yes")
    assert code == 0, stdout + err
    made = actions([c for c in moto.recorder.calls if aws_call_mutates(c)])
    assert made.count("CreateOpenIDConnectProvider") == 1, made
    assert "shared with remote-exec-demo-2" in stdout
    code, stdout, err = cli.run("apply", str(folder), "--out", str(out), *_t(AWS), "--dry-run")
    assert code == 0, stdout + err
    # spec a moves to EKS Pod Identity: its old IRSA role is pruned, the provider is kept
    text = (folder / "a.airspec.yaml").read_text().replace(
        "    role: {", "    identity: pod-identity\n    role: {"
    ).replace("    oidcIssuer:", "    # oidcIssuer:")
    (folder / "a.airspec.yaml").write_text(text)
    assert cli.run("compile", str(folder), "--out", str(out))[0] == 0
    moto.recorder.calls.clear()
    code, stdout, err = cli.run(
        "apply", str(folder / "a.airspec.yaml"), "--out", str(out), "-t", "iam", "--yes", "--prune"
    )
    made = actions([c for c in moto.recorder.calls if aws_call_mutates(c)])
    assert "DeleteOpenIDConnectProvider" not in made, stdout + err
    providers = aws_client(moto.url, "iam").list_open_id_connect_providers()
    assert len(providers["OpenIDConnectProviderList"]) == 1


def _t(targets: tuple[str, ...]) -> list[str]:
    return [x for t in targets for x in ("--target", t)]


def test_two_specs_naming_one_role_are_refused_before_anything_is_read(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    folder = git_repo(tmp_path / "repo")
    (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    (folder / "a.airspec.yaml").write_text(SPEC.read_text())
    twin = variant(SPEC.read_text(), 2).replace(f"{ROLE}2", ROLE)  # same role, all else its own
    (folder / "b.airspec.yaml").write_text(twin)
    cli = SpecCli()
    cli.env = moto_env(moto.url)
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    assert code == 1
    line = next(i for i, ln in enumerate(twin.splitlines(), 1) if f"role: {{name: {ROLE}" in ln)
    assert f"b.airspec.yaml:{line}:18: AS225 IAM role {ROLE} is also named by" in out
    assert "a.airspec.yaml (metadata.name 'remote-exec-demo')" in out
    moto.recorder.calls.clear()
    code, out, _err = cli.run("apply", str(folder), "--out", str(folder / "out"), "--dry-run")
    assert code == 1 and "AS225" in out
    assert moto.recorder.calls == []


def test_two_specs_owning_one_bucket_are_refused(tmp_path: Path) -> None:
    folder = git_repo(tmp_path / "repo")
    (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    owned = SPEC.read_text().replace("- name: my-airflow-bucket", "- name: my-airflow-bucket\n    owned: true")
    (folder / "a.airspec.yaml").write_text(owned)
    (folder / "b.airspec.yaml").write_text(variant(owned, 2))
    cli = SpecCli()
    cli.env = {}
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    assert code == 1 and "AS225 owned bucket my-airflow-bucket is also named by" in out


# --- truthful results -------------------------------------------------------------------------

OWNED = SPEC.read_text().replace(
    "- name: my-airflow-bucket", "- name: my-airflow-bucket\n    owned: true"
)


def test_an_interrupted_bucket_creation_is_never_in_sync_and_a_rerun_finishes_it(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    _reset(moto)
    repo = Repo(tmp_path, moto, "https://github.com/acme/team-a", OWNED)
    s3 = aws_client(moto.url, "s3")

    # S3's PutPublicAccessBlock is `PUT /bucket?publicAccessBlock`: fail it by its query
    class FailBlock:
        def __init__(self, app: Any) -> None:
            self.app = app

        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            if environ["REQUEST_METHOD"] == "PUT" and "publicAccessBlock" in environ.get(
                "QUERY_STRING", ""
            ):
                start_response("500 Internal Server Error", [("Content-Type", "text/xml")])
                return [b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"]
            return self.app(environ, start_response)

    inner = moto.recorder.app
    moto.recorder.app = FailBlock(inner)
    try:
        code, out, mutating = repo.apply("--yes")
    finally:
        moto.recorder.app = inner
    assert code == 1, out
    assert "s3:CreateBucket my-airflow-bucket" in out and "s3:PutBucketTagging" in out
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="my-airflow-bucket")["TagSet"]}
    assert tags["airspec.io/owner"] == "github.com/acme/team-a/remote-exec-demo"
    code, report = repo.dry_run()
    assert code == 3, report
    paths = {f["path"] for f in report["findings"] if f["target"] == "s3/bucket/my-airflow-bucket"}
    assert {"publicAccessBlock.BlockPublicAcls", "encryption"} <= paths, paths
    code, out, mutating = repo.apply("--yes")
    assert code == 0, out
    assert [m for m in actions(mutating) if "my-airflow-bucket" in m] == [
        "PUT /my-airflow-bucket",
        "PUT /my-airflow-bucket",
    ]
    assert repo.dry_run()[0] == 0


def test_calls_made_inside_a_failed_action_are_reported(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """--adopt tags the role (TagRole), then UpdateAssumeRolePolicy fails: the tag is
    reported in text and JSON, not only FAILED."""
    _reset(moto)
    iam = aws_client(moto.url, "iam")
    iam.create_role(
        RoleName=ROLE,
        AssumeRolePolicyDocument=json.dumps(EC2_TRUST),
    )
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    repo = Repo(tmp_path, moto, "https://github.com/acme/team-a", SPEC.read_text())
    moto.recorder.fail.add("UpdateAssumeRolePolicy")
    code, text, _ = repo.run(
        "apply", str(repo.spec), "--out", str(repo.out), *_t(AWS), "--yes", "--adopt", "-f", "json"
    )
    assert code == 1, text
    failed = json.loads(text)["result"]["failed"]
    assert failed["target"].endswith(f"role/{ROLE}")
    assert [c for c in failed["calls"] if "TagRole" in c], failed
    iam.untag_role(RoleName=ROLE, TagKeys=["airspec.io/owner", "airspec.io/spec"])
    code, out, _ = repo.apply("--yes", "--adopt")
    assert code == 1, out
    assert "made: iam:TagRole" in out


def test_a_role_held_by_an_instance_profile_is_never_half_deleted(
    team_a: Repo, moto: RecordingMotoServer
) -> None:
    iam = aws_client(moto.url, "iam")
    iam.create_instance_profile(InstanceProfileName="nodes")
    iam.add_role_to_instance_profile(InstanceProfileName="nodes", RoleName=READER)
    text = team_a.spec.read_text().replace(
        "    logReaderRoleArn: arn:aws:iam::123456789012:role/astro-log-reader\n", ""
    )
    assert text != team_a.spec.read_text()
    team_a.spec.write_text(text)
    assert team_a.run("compile", str(team_a.spec), "--out", str(team_a.out))[0] == 0
    code, out, mutating = team_a.apply("--yes", "--prune")
    assert code == 3, out  # left to the user, with the commands
    assert mutating == [], out
    assert f"role {READER} is in instance profile(s) nodes" in out
    assert f"aws iam remove-role-from-instance-profile --instance-profile-name nodes --role-name {READER}" in out
    assert iam.list_role_policies(RoleName=READER)["PolicyNames"], "its inline policy is intact"


def test_a_failed_read_is_never_announced_in_sync(team_a: Repo) -> None:
    team_a.moto.recorder.fail.add("GetRole")
    code, out, mutating = team_a.apply("--yes")
    assert code == 1, out
    assert "in sync" not in out and "unreadable" in out
    assert mutating == []
    code, text, _ = team_a.run(
        "apply", str(team_a.spec), "--out", str(team_a.out), *_t(AWS), "--yes", "-f", "json"
    )
    assert code == 1
    assert json.loads(text)["result"]["unreadable"], text
    team_a.moto.recorder.fail.clear()
    team_a.moto.recorder.fail.add("ListRoles")  # the orphan scan reads every role
    code, out, _ = team_a.apply("--yes")
    assert code == 1, out
    assert "could not look for orphaned IAM objects" in out


def test_ctrl_c_prints_what_was_applied_and_what_was_not_run(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    _reset(moto)
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    repo = Repo(tmp_path, moto, "https://github.com/acme/team-a", SPEC.read_text())
    moto.recorder.delay = 0.3  # every request is slow: room to interrupt between calls
    moto.recorder.calls.clear()
    env = {**os.environ, **repo.env}
    command = [sys.executable, "-m", "airspec", "apply", str(repo.spec), "--out", str(repo.out)]
    proc = subprocess.Popen(
        [*command, *_t(AWS), "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # a child inherits an ignored SIGINT, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )

    def interrupt(call: tuple[str, str, str]) -> None:
        # sent by the server as CreatePolicy arrives, so the run is between two calls
        # whatever the load on this machine (polling from the test could wake too late)
        if call[2] == "CreatePolicy" and proc.poll() is None:
            proc.send_signal(signal.SIGINT)

    moto.recorder.on_request = interrupt
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        moto.recorder.delay = 0.0
        moto.recorder.on_request = None
        if proc.poll() is None:
            proc.kill()
    text = out.decode() + err.decode()
    assert proc.returncode == 130, text
    assert "applied    remote-exec-demo: create OIDC provider" in text
    assert "not run    remote-exec-demo:" in text
    assert "Traceback" not in text
