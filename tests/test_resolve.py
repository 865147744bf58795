"""`airspec resolve` reads the OIDC issuer from EKS (moto over HTTP) into the lock file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from conftest import MINIMAL, invoke, write_spec
from moto_server import moto_server

UNRESOLVED = "\n".join(line for line in MINIMAL.splitlines() if "oidcIssuer" not in line) + "\n"


@pytest.fixture(scope="module")
def aws_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws_env(aws_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return aws_url


def _create_cluster(url: str, name: str) -> str:
    eks = boto3.client(
        "eks",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    if name in eks.list_clusters()["clusters"]:
        return str(eks.describe_cluster(name=name)["cluster"]["identity"]["oidc"]["issuer"])
    cluster = eks.create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/eks", resourcesVpcConfig={}
    )
    return str(cluster["cluster"]["identity"]["oidc"]["issuer"])


def test_resolve_writes_lock_and_compile_uses_it(
    tmp_path: Path, aws_env: str, runner: CliRunner
) -> None:
    issuer = _create_cluster(aws_env, "demo-cluster")
    spec = write_spec(tmp_path, UNRESOLVED)
    result = invoke(runner, "resolve", str(spec))
    assert result.exit_code == 0, result.stderr
    lock = json.loads((tmp_path / "demo.airspec.lock.json").read_text())
    assert lock["values"] == {"cloud.aws.cluster.oidcIssuer": issuer}
    assert "up to date" in invoke(runner, "resolve", str(spec)).stderr
    out = tmp_path / "out"
    compiled = invoke(runner, "compile", str(spec), "--out", str(out))
    assert compiled.exit_code == 0 and "AS210" not in compiled.stdout
    trust = json.loads((out / "demo" / "aws" / "trust-policy.json").read_text())
    assert trust["Statement"][0]["Principal"]["Federated"].endswith(issuer.removeprefix("https://"))


def test_resolve_missing_cluster_is_a_clean_error(
    tmp_path: Path, aws_env: str, runner: CliRunner
) -> None:
    spec = write_spec(tmp_path, UNRESOLVED.replace("name: demo-cluster", "name: not-there"))
    result = invoke(runner, "resolve", str(spec))
    assert result.exit_code == 1
    assert "EKS cluster 'not-there' not found in us-east-1" in result.stderr
    assert not (tmp_path / "demo.airspec.lock.json").exists()


def test_resolve_refuses_a_spec_pinning_another_issuer(
    tmp_path: Path, aws_env: str, runner: CliRunner
) -> None:
    _create_cluster(aws_env, "demo-cluster")
    result = invoke(runner, "resolve", str(write_spec(tmp_path, MINIMAL)))
    assert result.exit_code == 1 and "the spec pins oidcIssuer" in result.stderr
