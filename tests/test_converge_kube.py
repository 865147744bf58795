"""`airspec apply` on Kubernetes, against FakeKube (server-side apply's field ownership) driven
by the real `kubernetes` client through a kubeconfig: manifests are applied as field manager
`airspec`, objects others made are refused without --adopt, fields other managers set are
listed not removed, and the service accounts' identity annotation is set or removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from airspec.cli import app
from conftest import ROOT, SpecCli, fake_tool, git_repo, without_dag_processor_identity
from live_servers import FakeKube, kube_call_mutates

SPEC = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
NS = "/api/v1/namespaces/airflow-agents"
CM = f"{NS}/configmaps/astro-agent-provider-constraints"
KEY = "eks.amazonaws.com/role-arn"
ROLE = "arn:aws:iam::123456789012:role/AirflowS3LoggerXComRole"


class Cluster(SpecCli):
    """An empty namespace-less cluster but for the chart's service accounts (Helm made them)."""

    TARGETS = ("kubernetes",)
    APPLY = ("--yes",)

    def __init__(self, tmp: Path, kube: FakeKube) -> None:
        self.kube = kube
        git_repo(tmp)
        self.spec = tmp / SPEC.name
        self.spec.write_text(without_dag_processor_identity(SPEC.read_text()))
        shutil.copy(ROOT / "specs" / "constraints.txt", tmp / "constraints.txt")
        self.out = tmp / "out"
        self.env = {"KUBECONFIG": str(kube.kubeconfig(tmp)), "AIRSPEC_READ_RETRIES": "0"}
        assert self.run("compile", str(self.spec), "--out", str(self.out))[0] == 0
        values = self.read("helm/values.yaml")
        for sa in values["serviceAccount"].values():
            kube.put(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {
                        "name": sa["name"],
                        "namespace": "airflow-agents",
                        "annotations": {
                            **sa.get("annotations", {}),
                            "meta.helm.sh/release-name": "remote-exec-demo",
                            "meta.helm.sh/release-namespace": "airflow-agents",
                        },
                    },
                },
                manager="helm",
            )
        kube.put_helm_release("airflow-agents", "remote-exec-demo", 1, values)

    def read(self, path: str) -> Any:
        from ruamel.yaml import YAML

        return YAML(typ="safe").load((self.out / "remote-exec-demo" / path).read_text())

    def requests(self) -> list[tuple[str, str, str]]:
        return self.kube.calls

    def mutates(self, request: tuple[str, str, str]) -> bool:
        return kube_call_mutates(request)

    def managers(self, path: str) -> list[str]:
        return [m["manager"] for m in self.kube.served(path)["metadata"]["managedFields"]]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with FakeKube() as kube:
        yield Cluster(tmp_path, kube)


def test_manifests_are_server_side_applied_then_in_sync(cluster: Cluster) -> None:
    code, out, mutating = cluster.apply()
    assert code == 0, out
    assert [(m, p) for m, p, _ in mutating] == [("PATCH", NS), ("PATCH", CM)]
    assert cluster.managers(NS) == ["airspec"] and cluster.managers(CM) == ["airspec"]
    want = cluster.read("k8s/provider-constraints.yaml")
    assert cluster.kube.objects[CM]["data"] == want["data"]
    assert cluster.kube.objects[NS]["metadata"]["labels"]["team"] == "data-platform"
    assert cluster.dry_run() == (0, cluster.dry_run()[1]) and cluster.dry_run()[1]["findings"] == []
    code, out, mutating = cluster.apply()
    assert (code, mutating) == (0, []), out


def test_object_made_by_someone_else_is_refused_then_adopted(cluster: Cluster) -> None:
    cluster.kube.put(cluster.read("k8s/namespace.yaml") | {}, manager="kubectl")
    ns = cluster.kube.objects[NS]
    ns["metadata"]["labels"]["team"] = "someone-else"
    code, out, mutating = cluster.apply()
    assert code == 3, out
    assert "refused" in out and "kubectl" in out and "--adopt" in out
    assert [(m, p) for m, p, _ in mutating] == [("PATCH", CM)]  # the ConfigMap was missing
    assert ns["metadata"]["labels"]["team"] == "someone-else"
    code, out, mutating = cluster.apply("--adopt")
    assert code == 0, out
    assert [(m, p) for m, p, _ in mutating] == [("PATCH", NS)]
    assert cluster.kube.objects[NS]["metadata"]["labels"]["team"] == "data-platform"
    assert "airspec" in cluster.managers(NS)
    assert cluster.dry_run()[0] == 0


def test_field_another_manager_set_is_listed_not_removed(cluster: Cluster) -> None:
    assert cluster.apply()[0] == 0
    # someone labels the namespace with kubectl (a merge patch, manager kubectl-label)
    cluster.kube.objects[NS]["metadata"]["labels"]["istio-injection"] = "enabled"
    cluster.kube.owners[NS].setdefault("kubectl-label", set()).add(
        ("metadata", "labels", "istio-injection")
    )
    assert cluster.dry_run()[0] == 3
    code, out, mutating = cluster.apply()
    assert code == 3, out
    assert mutating == []
    assert (
        "kubectl patch namespace airflow-agents --type=json -p "
        '\'[{"op": "remove", "path": "/metadata/labels/istio-injection"}]\''
    ) in out
    assert cluster.kube.objects[NS]["metadata"]["labels"]["istio-injection"] == "enabled"


def test_identity_annotation_of_a_chart_made_account_is_refused_then_adopted(
    cluster: Cluster,
) -> None:
    """The chart made the service accounts: a wrong identity annotation is refused, with the
    Helm step that sets it again; --adopt sets (or removes) it and records the owner, so
    the next apply changes it without --adopt."""
    assert cluster.apply()[0] == 0
    sas = f"{NS}/serviceaccounts"
    worker, dag_processor = f"{sas}/astro-agent-worker", f"{sas}/astro-agent-dag-processor"
    assert cluster.kube.objects[worker]["metadata"]["annotations"][KEY] == ROLE
    cluster.kube.objects[worker]["metadata"]["annotations"][KEY] = ROLE + "-other"
    cluster.kube.objects[dag_processor]["metadata"].setdefault("annotations", {})[KEY] = ROLE
    code, report = cluster.dry_run()
    assert code == 3
    assert {f["status"] for f in report["findings"]} == {"broadening", "drift"}
    code, out, mutating = cluster.apply()
    assert (code, mutating) == (3, []), out
    assert out.count("refused") >= 2 and "field managers: helm" in out
    assert "helm upgrade --install" in out
    assert cluster.kube.objects[worker]["metadata"]["annotations"][KEY] == ROLE + "-other"
    code, out, mutating = cluster.apply("--adopt")
    assert code == 0, out
    assert [(m, p) for m, p, _ in mutating] == [("PATCH", dag_processor), ("PATCH", worker)]
    assert cluster.kube.objects[worker]["metadata"]["annotations"][KEY] == ROLE
    assert KEY not in cluster.kube.objects[dag_processor]["metadata"].get("annotations", {})
    for sa in (worker, dag_processor):
        owner = cluster.kube.objects[sa]["metadata"]["annotations"]["airspec.io/owner"]
        assert owner == "github.com/acme/team-a/remote-exec-demo"
    assert cluster.dry_run()[0] == 0
    cluster.kube.objects[worker]["metadata"]["annotations"][KEY] = ROLE + "-again"
    code, out, mutating = cluster.apply()
    assert (code, [(m, p) for m, p, _ in mutating]) == (0, [("PATCH", worker)]), out


def test_account_kubectl_made_with_another_role_is_never_rewritten(cluster: Cluster) -> None:
    """An account someone made with kubectl, naming another role: refused, not rewritten and
    not stripped, in the same run that refuses the namespace and ConfigMap."""
    other = "arn:aws:iam::123456789012:role/PaymentsRole"
    sas = f"{NS}/serviceaccounts"
    for name in ("astro-agent-worker", "astro-agent-dag-processor"):
        cluster.kube.put(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": "airflow-agents", "annotations": {KEY: other}},
            },
            manager="kubectl",
        )
    cluster.kube.put(cluster.read("k8s/namespace.yaml") | {}, manager="kubectl")
    code, out, mutating = cluster.apply()
    assert code == 3, out
    assert [(m, p) for m, p, _ in mutating] == [("PATCH", CM)]  # the missing ConfigMap only
    for name in ("astro-agent-worker", "astro-agent-dag-processor"):
        assert cluster.kube.objects[f"{sas}/{name}"]["metadata"]["annotations"][KEY] == other
    assert "serviceaccount airflow-agents/astro-agent-worker (field managers: kubectl)" in out


def test_software_service_accounts_are_houstons_step(tmp_path: Path) -> None:
    """On Astronomer Software, Houston creates the Deployment's service accounts and sets
    their annotation: a missing one is the `astro-commands.sh create` step (pending), a
    wrong annotation is listed with the `update` step; airspec does not patch them."""
    spec = git_repo(tmp_path) / "software-eks.airspec.yaml"
    shutil.copy(ROOT / "specs" / "software-eks.airspec.yaml", spec)
    with FakeKube() as kube:
        env = {"KUBECONFIG": str(kube.kubeconfig(tmp_path)), "AIRSPEC_READ_RETRIES": "0"}
        out = tmp_path / "out"
        runner = CliRunner()
        assert runner.invoke(app, ["compile", str(spec), "--out", str(out)], env=env).exit_code == 0
        args = ["apply", str(spec), "--out", str(out), "-t", "kubernetes", "--yes"]
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 3, result.output  # the step is left to the user
        assert "bash software/astro-commands.sh create" in result.stdout
        assert [c for c in kube.calls if kube_call_mutates(c)] == []
        ns = "astronomer-quasarian-photon-7310"
        for name in (
            "worker",
            "scheduler",
            "triggerer",
            "webserver",
            "cleanup",
            "migrate-database-job",
        ):
            kube.put(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": f"quasarian-photon-7310-{name}", "namespace": ns},
                },
                manager="houston",
            )
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 3, result.output
        assert result.stdout.count("bash software/astro-commands.sh update DEPLOYMENT_ID") == 1
        assert [c for c in kube.calls if kube_call_mutates(c)] == []


def test_helm_runs_only_in_a_namespace_this_spec_owns(cluster: Cluster, tmp_path: Path) -> None:
    """`--with-tools` runs `helm upgrade --install` only where the release's namespace
    records this spec's owner: a release in someone else's namespace may be theirs."""
    values = cluster.read("helm/values.yaml")
    values["workers"][0]["replicas"] = 5
    cluster.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)
    cluster.kube.put(cluster.read("k8s/namespace.yaml") | {}, manager="kubectl")
    cluster.env["PATH"], log = fake_tool(tmp_path, "helm")
    cluster.TARGETS = ("kubernetes", "helm")
    code, out, _ = cluster.apply("--with-tools")
    assert code == 3, out
    assert "not run: namespace airflow-agents records owner none recorded" in out
    assert not log.exists(), "helm ran in a namespace this spec does not own"
    code, out, _ = cluster.apply("--with-tools", "--adopt")
    assert code == 0, out
    assert "upgrade --install remote-exec-demo" in log.read_text()
