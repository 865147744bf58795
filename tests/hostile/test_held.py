"""Hostile probes that held: kept as regression tests. Each one tried to make apply do
damage or lie and found it did not (see the report on branch hostile-23-28)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, SpecCli, git_repo, variant
from live_servers import RecordingMotoServer, aws_client
from test_safety import ROLE, SPEC, Repo, _reset, _tags

TOKEN = "ghp_" + "R" * 36


def test_a_token_in_the_remote_never_reaches_a_tag_or_an_output(
    tmp_path: Path, moto: RecordingMotoServer
) -> None:
    """CI checkouts carry a token in `origin` (`https://x-access-token:…@github.com/…`,
    GitLab's `gitlab-ci-token:…`): the identity drops it, and it is in no tag, no plan,
    no result, no stderr line."""
    _reset(moto)
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    repo = Repo(
        tmp_path, moto, f"https://x-access-token:{TOKEN}@github.com/Acme/Team-A.git", SPEC.read_text()
    )
    for fmt in ("json", "text", "markdown"):
        code, out, err = repo.run(
            "apply", str(repo.spec), "--out", str(repo.out), "-t", "iam", "-t", "s3", "--yes", "-f", fmt
        )
        assert code == 0, out + err
        assert TOKEN not in out + err and "x-access-token" not in out + err
        if fmt == "json":
            assert json.loads(out)["owners"] == {
                "remote-exec-demo": "github.com/acme/team-a/remote-exec-demo"
            }
    tags = _tags(aws_client(moto.url, "iam"), ROLE)
    assert tags["airspec.io/owner"] == "github.com/acme/team-a/remote-exec-demo"
    assert TOKEN not in json.dumps(tags)


@pytest.mark.parametrize(
    "recorded",
    [
        "github.com/acme/team-a/remote-exec-demo/",  # a trailing slash
        "GitHub.com/Acme/Team-A/remote-exec-demo",  # another case
        "github.com/acme/team-a/remote-exec-demo ",  # a trailing space
        "github.com/acme/team-а/remote-exec-demo",  # Cyrillic "а"
    ],
    ids=["trailing-slash", "case", "trailing-space", "homoglyph"],
)
def test_an_owner_tag_that_is_almost_this_specs_is_claimed_not_updated(
    tmp_path: Path, moto: RecordingMotoServer, recorded: str
) -> None:
    """Owner tags are compared exactly: a near miss is another owner (exit 1), never
    updated."""
    _reset(moto)
    aws_client(moto.url, "s3").create_bucket(Bucket="my-airflow-bucket")
    repo = Repo(tmp_path, moto, "https://github.com/acme/team-a", SPEC.read_text())
    assert repo.apply("--yes")[0] == 0
    iam = aws_client(moto.url, "iam")
    iam.tag_role(RoleName=ROLE, Tags=[{"Key": "airspec.io/owner", "Value": recorded}])
    doc = iam.get_role(RoleName=ROLE)["Role"]["AssumeRolePolicyDocument"]
    doc["Statement"][0]["Condition"]["StringEquals"]["extra:sub"] = "x"
    iam.update_assume_role_policy(RoleName=ROLE, PolicyDocument=json.dumps(doc))
    code, out, mutating = repo.apply("--yes", "-t", "iam")
    assert code == 1 and "claimed" in out, out
    assert [m for m in mutating if "Role" in m[2]] == [], mutating


def test_shared_things_are_not_refused(tmp_path: Path) -> None:
    """AS225 lets through what specs share by design: one cluster and a bucket nobody owns
    (different prefixes); one role name in two accounts; GKE specs sharing buckets and the
    project (each its own GSA and namespace)."""
    aws = SPEC.read_text()
    gke = (ROOT / "specs" / "remote-exec-gke.airspec.yaml").read_text()
    cross_account = re.sub(
        r"role: \{name: (\w+)3, policyName: (\w+)3",
        r"role: {name: \1, policyName: \2",
        variant(aws, 3).replace("123456789012", "210987654321"),
    )
    pairs = {
        "one-cluster-one-bucket": variant(aws, 2)
        .replace("prefix: logs", "prefix: logs2")
        .replace("prefix: xcom", "prefix: xcom2"),
        "one-role-name-two-accounts": cross_account,
    }
    for name, twin in pairs.items():
        folder = git_repo(tmp_path / name)
        (folder / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
        (folder / "a.airspec.yaml").write_text(aws)
        (folder / "b.airspec.yaml").write_text(twin)
        cli = SpecCli()
        cli.env = {}
        code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
        assert code == 0, (name, out)
    folder = git_repo(tmp_path / "gke")
    (folder / "a.airspec.yaml").write_text(gke)
    twin = variant(gke, "b").replace("prefix: agents/logs", "prefix: agents-b/logs")
    (folder / "b.airspec.yaml").write_text(twin.replace("prefix: xcom,", "prefix: xcom-b,"))
    cli = SpecCli()
    cli.env = {}
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    assert code == 0, out


def test_a_spec_outside_git_is_refused_before_reading_in_every_format(tmp_path: Path) -> None:
    """No git and no AIRSPEC_REPOSITORY: apply stops (one document, exit 1, no request);
    the dry run still reads."""
    import shutil

    folder = tmp_path / "nogit"
    folder.mkdir()
    shutil.copy(ROOT / "specs" / "constraints.txt", folder / "constraints.txt")
    spec = folder / SPEC.name
    shutil.copy(SPEC, spec)
    cli = SpecCli()
    cli.env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AIRSPEC_READ_RETRIES": "0"}
    assert cli.run("compile", str(spec), "--out", str(folder / "out"))[0] == 0
    for fmt in ("json", "markdown", "text"):
        code, out, err = cli.run("apply", str(spec), "--out", str(folder / "out"), "--yes", "-f", fmt)
        assert code == 1 and "AIRSPEC_REPOSITORY" in err, out + err
        if fmt == "json":
            assert json.loads(out)["error"]["kind"] == "owner"
        if fmt == "markdown":
            assert out.count("### airspec apply:") == 1
