"""Hostile: Kubernetes and Helm under the owner identity. FakeKube with the real
`kubernetes` client, moto for AWS, the real CLI; a stand-in `helm` on PATH records what
`--with-tools` runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile import cli
from live_servers import FakeKube, RecordingMotoServer
from test_apply import World

TEAM_B = "github.com/acme/team-b/remote-exec-demo"


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


def _stand_in_helm(tmp: Path) -> tuple[Path, Path]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    log = tmp / "helm.log"
    helm = bin_dir / "helm"
    helm.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    helm.chmod(0o755)
    return bin_dir, log


@pytest.mark.parametrize(
    "annotations",
    [
        {"airspec.io/owner": TEAM_B, "airspec.io/spec": "specs/orders.airspec.yaml"},  # claimed
        {},  # made by hand (kubectl): refused
    ],
    ids=["claimed-by-team-b", "made-by-hand"],
)
def test_with_tools_never_upgrades_a_release_in_a_namespace_this_spec_does_not_own(
    world: World, tmp_path: Path, annotations: dict[str, str]
) -> None:
    """Team B's release `remote-exec-demo` runs in namespace `airflow-agents`, which records
    team B as its owner (or nobody). This spec (team A, same names) is refused the
    namespace — yet `--with-tools` runs `helm upgrade --install` over team B's release,
    replacing its values (its service accounts' role annotation included)."""
    namespace = json.loads(json.dumps(world.art["k8s/namespace.yaml"]))
    namespace["metadata"]["annotations"] = {"team": "b", **annotations}
    namespace["metadata"]["labels"] = {"team": "b"}
    world.kube.put(namespace)
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["workers"][0]["replicas"] = 9  # team B's own values
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)
    bin_dir, log = _stand_in_helm(tmp_path)
    env = {**world.env, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    args = ["apply", str(world.spec), "--out", str(world.out), "-t", "kubernetes", "-t", "helm"]
    _code, out, err, exc = cli([*args, "--yes", "--with-tools"], env)
    assert exc is None, exc
    assert "refused" in out or "claimed" in out, out + err
    assert not log.exists(), f"helm ran: {log.read_text()}\n{out}{err}"
