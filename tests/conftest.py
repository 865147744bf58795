"""Shared fixtures: a minimal valid spec, and ways to run airspec on spec text."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from airspec.cli import app
from airspec.diagnostics import Diagnostic
from airspec.frontend import check_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "specs").glob("*.airspec.yaml"))
REFERENCE = ROOT / "tests" / "reference"  # vendored: see tests/reference/PROVENANCE.md

MINIMAL = textwrap.dedent(
    """\
    apiVersion: airspec/v1
    kind: AirflowDeployment
    metadata:
      name: demo
    deployment:
      platform: astro-remote-execution
      namespace: agents
      astro:
        apiUrl: https://example.astronomer.run/d1/api/v2
        agentTokenSecret: agent-token
        imagePullSecret: registry
      providers:
        packages: ["apache-airflow-providers-amazon[s3fs]==9.9.0", "apache-airflow-providers-common-io==1.6.1"]
      helm:
        chartVersion: "1.0.2"
    cloud:
      aws:
        accountId: "123456789012"
        region: us-east-1
        cluster:
          name: demo-cluster
          kubernetesVersion: "1.33"
          oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789
          nodeGroups:
            - {name: workers, instanceType: m5.xlarge, desiredCapacity: 1, minSize: 0, maxSize: 2}
        role: {name: DemoRole, policyName: DemoAccess}
    buckets:
      - name: demo-bucket
    backends:
      logs: {bucket: demo-bucket, prefix: logs}
      xcom: {bucket: demo-bucket, prefix: xcom}
    """
)


def variant(text: str, i: int | str) -> str:
    """A copy of spec text that claims its own live objects (AS225): metadata.name, the
    namespace, the role and policy, the Google service account and the Software release
    each get the suffix."""
    import re

    out = re.sub(r"(\nmetadata:\n  name: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", text, count=1)
    out = re.sub(r"(\n  namespace: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", out, count=1)
    out = re.sub(r"(role: \{name: )(\w+)(, policyName: )(\w+)", rf"\g<1>\g<2>{i}\g<3>\g<4>{i}", out)
    out = re.sub(r"(\n    serviceAccount: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", out, count=1)
    out = re.sub(r"(releaseName: )([a-z0-9-]+)", rf"\g<1>\g<2>-{i}", out, count=1)
    return out


def write_spec(tmp_path: Path, text: str, name: str = "demo.airspec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnose(tmp_path: Path, text: str) -> list[Diagnostic]:
    """Every diagnostic `airspec validate` would print for `text`."""
    return list(check_spec(write_spec(tmp_path, text), for_compile=True).diagnostics)


def codes_at(diags: list[Diagnostic]) -> set[tuple[str, int, int]]:
    return {(d.code, d.line, d.col) for d in diags}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), catch_exceptions=False)


def without_dag_processor_identity(text: str) -> str:
    """An example spec whose dag processor gets no cloud identity (by default it does, as the
    examples read a cloud secrets backend when DAG files are parsed: AS234)."""
    return text.replace("  dagProcessor:", "  cloudAccess: [workers, triggerer]\n  dagProcessor:", 1)


AWS_TAIL = "cloud:\n" + MINIMAL.split("cloud:\n", 1)[1]
GKE_MINIMAL = MINIMAL.split("cloud:\n", 1)[0].replace(
    "apache-airflow-providers-amazon[s3fs]==9.9.0", "apache-airflow-providers-google==17.0.0"
) + textwrap.dedent(
    """\
    cloud:
      gcp:
        project: demo-project
        region: us-central1
        cluster:
          name: demo
          location: us-central1
          nodePools:
            - {name: workers, machineType: e2-standard-4, minCount: 0, maxCount: 3}
        serviceAccount: demo-agents
    buckets:
      - name: demo-bucket
    backends:
      logs: {bucket: demo-bucket, prefix: logs}
      xcom: {bucket: demo-bucket, prefix: xcom}
    """
)
SOFTWARE_HEAD = textwrap.dedent(
    """\
    apiVersion: airspec/v1
    kind: AirflowDeployment
    metadata:
      name: sw
    deployment:
      platform: astronomer-software
      software: {releaseName: stellar-comet-1234, platformChartVersion: "0.37.4"}
    """
)
SOFTWARE_MINIMAL = SOFTWARE_HEAD + AWS_TAIL
SOFTWARE_GKE_MINIMAL = SOFTWARE_HEAD + "cloud:\n" + GKE_MINIMAL.split("cloud:\n", 1)[1]


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    """A moto server over HTTP (with the EKS extensions), one per test module."""
    from live_servers import RecordingMotoServer

    server = RecordingMotoServer()
    server.start()
    yield server
    server.stop()


TEAM_A = "https://github.com/acme/team-a.git"  # the repository the test specs live in
TEAM_A_OWNER = "github.com/acme/team-a"


def git_repo(folder: Path, remote: str | None = TEAM_A) -> Path:
    """Make `folder` a git repository (with an `origin` remote): where a spec's owner
    identity comes from."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    if remote is not None:
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", remote], check=True)
    return folder


EC2_TRUST = {  # a role someone else made, for EC2: what apply must not take over unasked
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def fake_tool(
    folder: Path, name: str, line: str = '"$*"', fails_on: str = ""
) -> tuple[str, Path]:
    """A stand-in `name` on a PATH of its own that appends `line` (its arguments) to a log,
    and exits 1 when its first argument is `fails_on`: (the PATH to run with, the log)."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = folder / f"{name}.log"
    status = f'[ "$1" != {fails_on} ]\n' if fails_on else ""
    (bin_dir / name).write_text(f"#!/bin/sh\necho {line} >> {log}\n{status}")
    (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin", log


class SpecCli:
    """The CLI run on one spec compiled into `out`, against a local server that records the
    requests it gets. A subclass sets `spec`, `out`, `env`, the `--target`s (TARGETS), the
    arguments every apply gets (APPLY), where the requests are recorded and which mutate."""

    TARGETS: tuple[str, ...] = ()
    APPLY: tuple[str, ...] = ()
    spec: Path
    out: Path
    env: dict[str, str]

    def requests(self) -> list[Any]:
        raise NotImplementedError

    def mutates(self, request: Any) -> bool:
        raise NotImplementedError

    def run(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, list(args), env=self.env, input=stdin)
        return result.exit_code, result.stdout, result.stderr

    def _targets(self) -> list[str]:
        return [arg for t in self.TARGETS for arg in ("--target", t)]

    def apply(self, *args: str) -> tuple[int, str, list[Any]]:
        """apply; returns the exit code, all output, the mutating requests it made."""
        self.requests().clear()
        code, out, err = self.run(
            "apply", str(self.spec), "--out", str(self.out), *self._targets(), *self.APPLY, *args
        )
        return code, out + err, [r for r in self.requests() if self.mutates(r)]

    def dry_run(self) -> tuple[int, dict[str, Any]]:
        code, out, _ = self.run(
            "apply",
            str(self.spec),
            "--out",
            str(self.out),
            *self._targets(),
            "--dry-run",
            "-f",
            "json",
        )
        return code, json.loads(out)
