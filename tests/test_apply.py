"""`airspec apply --dry-run` against real protocol implementations.

AWS: moto's server over HTTP (boto3 with AWS_ENDPOINT_URL). Kubernetes: tests/live_servers.py
FakeKube, driven by the real `kubernetes` client through a generated kubeconfig. GCP:
FakeGcp, driven by the real Google API client. Every server records each request it gets;
no test may see a mutating one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from airspec.pipeline import compile_spec
from conftest import ROOT, git_repo, invoke, without_dag_processor_identity
from live_servers import (
    FakeGcp,
    FakeKube,
    RecordingMotoServer,
    aws_call_mutates,
    aws_client,
    gcp_call_mutates,
    moto_env,
)

SPEC = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
GKE_SPEC = ROOT / "specs" / "remote-exec-gke.airspec.yaml"
SECRET_VALUE = "ghp_" + "Q" * 36  # what someone pasted into the live release


class World:
    """A spec compiled into tmp/out and the live objects created as its runbook would."""

    def __init__(self, tmp: Path, moto: RecordingMotoServer, kube: FakeKube) -> None:
        self.tmp, self.moto, self.kube = tmp, moto, kube
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
        self.iam, self.eks, self.s3 = (aws_client(moto.url, s) for s in ("iam", "eks", "s3"))
        cluster = self.eks.create_cluster(
            name="remote-execution-airflow-cluster",
            version="1.33",
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
            logging={
                "clusterLogging": [
                    {
                        "types": [
                            "api",
                            "audit",
                            "authenticator",
                            "controllerManager",
                            "scheduler",
                        ],
                        "enabled": True,
                    }
                ]
            },
        )
        self.issuer = cluster["cluster"]["identity"]["oidc"]["issuer"]
        text = without_dag_processor_identity(SPEC.read_text()).replace(
            "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
            self.issuer,
        )
        self.spec = git_repo(tmp) / "remote-exec-eks.airspec.yaml"
        self.spec.write_text(text)
        shutil.copy(ROOT / "specs" / "constraints.txt", tmp / "constraints.txt")
        compiled = compile_spec(self.spec, str(self.spec), self.spec.name)
        assert compiled.ok
        self.art = {a.path: a.content for a in compiled.artifacts}
        self._create_aws()
        self._create_kube()
        self.env = {**moto_env(moto.url), "KUBECONFIG": str(kube.kubeconfig(tmp))}
        self.out = tmp / "out"
        runner = CliRunner()
        assert invoke(runner, "compile", str(self.spec), "--out", str(self.out)).exit_code == 0

    def _create_aws(self) -> None:
        a, iam = self.art, self.iam
        iam.create_policy(
            PolicyName="AirflowS3Access", PolicyDocument=json.dumps(a["aws/iam-policy.json"])
        )
        iam.create_role(
            RoleName="AirflowS3LoggerXComRole",
            AssumeRolePolicyDocument=json.dumps(a["aws/trust-policy.json"]),
        )
        iam.attach_role_policy(
            RoleName="AirflowS3LoggerXComRole",
            PolicyArn="arn:aws:iam::123456789012:policy/AirflowS3Access",
        )
        iam.create_open_id_connect_provider(
            Url=self.issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["9" * 40]
        )
        reader = "AirflowS3LoggerXComRole-log-reader"
        iam.create_role(
            RoleName=reader,
            AssumeRolePolicyDocument=json.dumps(a["aws/log-reader-trust-policy.json"]),
        )
        iam.put_role_policy(
            RoleName=reader,
            PolicyName=f"{reader}-logs",
            PolicyDocument=json.dumps(a["aws/log-reader-policy.json"]),
        )
        self.eks.create_nodegroup(
            clusterName="remote-execution-airflow-cluster",
            nodegroupName="workers",
            scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 2},
            instanceTypes=["m5.xlarge"],
            labels={"role": "worker"},
            subnets=["subnet-1"],
            nodeRole="arn:aws:iam::123456789012:role/nodes",
        )
        self.s3.create_bucket(Bucket="my-airflow-bucket")

    def _create_kube(self) -> None:
        a, kube = self.art, self.kube
        kube.objects.clear()
        kube.secrets.clear()
        kube.put(a["k8s/namespace.yaml"])
        kube.put(a["k8s/provider-constraints.yaml"])
        values = json.loads(json.dumps(a["helm/values.yaml"]))
        for sa in values["serviceAccount"].values():
            kube.put(self.service_account(sa["name"], sa.get("annotations", {})))
        kube.put_helm_release("airflow-agents", "remote-exec-demo", 1, values)

    @staticmethod
    def service_account(name: str, annotations: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": name,
                "namespace": "airflow-agents",
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    **annotations,
                    "meta.helm.sh/release-name": "remote-exec-demo",
                    "meta.helm.sh/release-namespace": "airflow-agents",
                },
            },
        }

    def apply(self, *args: str) -> tuple[int, str]:
        self.moto.recorder.calls.clear()
        self.kube.calls.clear()
        runner = CliRunner()
        result = runner.invoke(
            __import__("airspec.cli", fromlist=["app"]).app,
            ["apply", str(self.spec), "--dry-run", "--out", str(self.out), *args],
            env=self.env,
            catch_exceptions=False,
        )
        mutating = [c for c in self.moto.recorder.calls if aws_call_mutates(c)]
        mutating += [c for c in self.kube.calls if c[0] != "GET"]
        assert mutating == [], f"--dry-run made mutating calls: {mutating}"
        return result.exit_code, result.stdout

    def report(self, *args: str) -> tuple[int, dict[str, Any]]:
        code, out = self.apply("--format", "json", *args)
        return code, json.loads(out)


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


def _by_target(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        out.setdefault(f["target"], []).append(f)
    return out


def test_in_sync(world: World) -> None:
    code, report = world.report()
    assert report["findings"] == [], json.dumps(report["findings"], indent=1)
    assert report["counts"]["checked"] == report["counts"]["in_sync"] == 15
    assert code == 0
    # the real clients reached both servers, the kubernetes one with the kubeconfig's token
    assert world.moto.recorder.calls and world.kube.calls
    assert {auth for _, _, auth in world.kube.calls} == {"Bearer test-token"}
    code, text = world.apply()
    assert code == 0 and "15 in sync" in text


def _grant_delete_on_logs(world: World) -> None:
    """Out of band: the live policy's logs statement gains s3:DeleteObject (broadening)."""
    policy = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
    (logs,) = [s for s in policy["Statement"] if s["Sid"] == "ReadWriteTaskLogs"]
    logs["Action"] = [*logs["Action"], "s3:DeleteObject"]
    world.iam.create_policy_version(
        PolicyArn="arn:aws:iam::123456789012:policy/AirflowS3Access",
        PolicyDocument=json.dumps(policy),
        SetAsDefault=True,
    )


def test_aws_changes_out_of_band(world: World) -> None:
    _grant_delete_on_logs(world)
    trust = json.loads(json.dumps(world.art["aws/trust-policy.json"]))
    cond = trust["Statement"][0]["Condition"]
    sub_key = next(k for k in cond["StringEquals"] if k.endswith(":sub"))
    cond["StringLike"] = {sub_key: "system:serviceaccount:*:*"}
    del cond["StringEquals"][sub_key]
    world.iam.update_assume_role_policy(
        RoleName="AirflowS3LoggerXComRole", PolicyDocument=json.dumps(trust)
    )
    world.eks.update_nodegroup_config(
        clusterName="remote-execution-airflow-cluster",
        nodegroupName="workers",
        scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
    )
    provider = world.iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    world.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)

    code, report = world.report()
    assert code == 3
    found = {(f["status"], f["target"].split("/")[0], f["path"]) for f in report["findings"]}
    assert ("broadening", "iam", "Statement.ReadWriteTaskLogs.Action") in found
    by = _by_target(report)
    (added,) = by["iam/policy/arn:aws:iam::123456789012:policy/AirflowS3Access"]
    assert (added["compiled"], added["live"]) == (None, "s3:DeleteObject")
    trust_findings = by["iam/role/arn:aws:iam::123456789012:role/AirflowS3LoggerXComRole"]
    assert {f["status"] for f in trust_findings} == {"broadening"}
    assert any(f["path"].endswith("Condition.StringLike") for f in trust_findings)
    (ng,) = by["eks/nodegroup/remote-execution-airflow-cluster/workers"]
    assert (ng["status"], ng["path"], ng["compiled"], ng["live"]) == ("drift", "desiredSize", 2, 3)
    (oidc,) = by[f"iam/oidc-provider/{provider}"]
    assert oidc["status"] == "missing"
    # security-relevant findings come first
    statuses = [f["status"] for f in report["findings"]]
    assert statuses == sorted(statuses, key=["broadening", "error", "missing", "drift"].index)


def test_kubernetes_and_helm_changes(world: World) -> None:
    role = "arn:aws:iam::123456789012:role/AirflowS3LoggerXComRole"
    world.kube.put(
        world.service_account("astro-agent-dag-processor", {"eks.amazonaws.com/role-arn": role})
    )
    cm = json.loads(json.dumps(world.art["k8s/provider-constraints.yaml"]))
    cm["data"]["constraints.txt"] += "boto3==1.0\n"
    world.kube.put(cm)
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["workers"][0]["replicas"] = 3
    (git,) = [e for e in values["commonEnv"] if e["name"] == "AIRFLOW_CONN_GIT_DAGS"]
    del git["valueFrom"]
    git["value"] = SECRET_VALUE
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)

    code, report = world.report()
    assert code == 3
    by = _by_target(report)
    (sa,) = by["kubernetes/serviceaccount/airflow-agents/astro-agent-dag-processor"]
    assert sa["status"] == "broadening" and sa["live"] == role
    (cmf,) = by["kubernetes/configmap/airflow-agents/astro-agent-provider-constraints"]
    assert cmf["status"] == "drift" and cmf["path"] == "data[constraints.txt]"
    helm = {f["path"]: f for f in by["helm/release/airflow-agents/remote-exec-demo"]}
    assert (helm["workers[0].replicas"]["compiled"], helm["workers[0].replicas"]["live"]) == (1, 3)
    inlined = [f for p, f in helm.items() if p.startswith("commonEnv") and f["live"] is not None]
    assert inlined and all(f["live"]["redacted"] for f in inlined)
    for fmt in ("json", "text", "markdown"):
        _, out = world.apply("--format", fmt)
        assert SECRET_VALUE not in out and SECRET_VALUE[:12] not in out, fmt


def test_target_limits_the_reads(world: World) -> None:
    code, report = world.report("--target", "kubernetes", "--target", "helm")
    assert code == 0 and report["counts"]["checked"] == 6
    assert world.moto.recorder.calls == []


def test_fail_on_and_ignore_file(world: World) -> None:
    world.eks.update_nodegroup_config(
        clusterName="remote-execution-airflow-cluster",
        nodegroupName="workers",
        scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
    )
    assert world.report("--fail-on", "broadening")[0] == 0
    assert world.report("--fail-on", "none")[0] == 0
    assert world.report()[0] == 3
    ignore = world.tmp / ".airspecignore"
    ignore.write_text(
        "- artifact: eksctl/cluster.yaml\n  path: desiredSize\n"
        "  reason: cluster-autoscaler owns the size\n"
    )
    code, report = world.report()
    assert code == 0 and report["counts"]["suppressed"] == 1
    assert report["suppressed"][0]["suppressed"] == "cluster-autoscaler owns the size"
    ignore.write_text(
        "- artifact: eksctl/cluster.yaml\n  path: desiredSize\n  reason: old\n  expires: 2020-01-01\n"
    )
    assert world.report()[0] == 3
    ignore.write_text("- artifact: eksctl/cluster.yaml\n  path: desiredSize\n")
    code, out = world.apply()
    assert code == 1 and f"{ignore}:1:3: AS402" in out


def test_stale_out_and_drift_together(world: World) -> None:
    (world.out / "remote-exec-demo" / "RUNBOOK.md").write_text("edited\n")
    assert world.report()[0] == 2
    world.s3.delete_bucket(Bucket="my-airflow-bucket")
    code, report = world.report()
    assert code == 4 and report["stale"] == [f"{world.out.as_posix()}/remote-exec-demo/RUNBOOK.md"]
    (f,) = report["findings"]
    assert (f["status"], f["artifact"], f["target"]) == (
        "missing",
        "spec:buckets",
        "s3/bucket/my-airflow-bucket",
    )


def _cli(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(
        __import__("airspec.cli", fromlist=["app"]).app, args, env=env, catch_exceptions=False
    )


def test_unreachable_api_is_an_error_not_a_traceback(world: World) -> None:
    world.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    result = _cli(["apply", str(world.spec), "--dry-run", "--target", "s3"], world.env)
    assert result.exit_code == 1
    assert "sts get-caller-identity" in result.stderr and "Traceback" not in result.output


def test_unreachable_bucket_read_is_reported_per_object(world: World) -> None:
    """Past the identity check, a failing read is that object's error; the rest is reported."""
    world.env["AWS_ENDPOINT_URL_S3"] = "http://127.0.0.1:9"  # S3 only; STS and IAM reachable
    code, out = world.apply("--target", "s3", "--target", "iam")
    assert code == 1
    assert "s3 head-bucket my-airflow-bucket" in out and "Traceback" not in out
    assert "in sync" in out


def test_credentials_for_another_account_stop_before_any_read(world: World) -> None:
    """moto answers as whatever account MOTO_ACCOUNT_ID names: the caller is 111111111111,
    the spec is for 123456789012. Without the guard every object would read as missing."""
    world.env["MOTO_ACCOUNT_ID"] = "111111111111"
    world.moto.recorder.calls.clear()
    result = _cli(["apply", str(world.spec), "--dry-run", "--out", str(world.out)], world.env)
    assert result.exit_code == 1
    assert "account 111111111111" in result.stderr and "account 123456789012" in result.stderr
    assert "missing" not in result.output
    actions = [action for _, _, action in world.moto.recorder.calls]
    assert actions == ["GetCallerIdentity"], actions
    assert world.kube.calls == []


def test_apply_in_sync_does_nothing(world: World, runner: CliRunner) -> None:
    """Every target in sync (AWS, EKS, Kubernetes, Helm): apply reads and changes nothing."""
    world.moto.recorder.calls.clear()
    world.kube.calls.clear()
    result = runner.invoke(
        __import__("airspec.cli", fromlist=["app"]).app,
        ["apply", str(world.spec), "--out", str(world.out), "--yes"],
        env=world.env,
    )
    assert result.exit_code == 0 and "nothing to do" in result.stderr
    assert [c for c in world.moto.recorder.calls if aws_call_mutates(c)] == []
    assert [c for c in world.kube.calls if c[0] != "GET"] == []


def test_markdown_puts_broadening_first(world: World) -> None:
    world.kube.put(
        world.service_account(
            "astro-agent-dag-processor",
            {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/X"},
        )
    )
    world.s3.delete_bucket(Bucket="my-airflow-bucket")
    code, md = world.apply("--format", "markdown")
    assert code == 3
    assert md.index("Security: live grants broader") < md.index("Missing live")
    assert "| in sync |" in md


def test_report_matches_its_schema(world: World, runner: CliRunner) -> None:
    world.s3.delete_bucket(Bucket="my-airflow-bucket")
    _, report = world.report()
    schema = json.loads((ROOT / "schemas" / "drift-report.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert report["version"] == "airspec.drift/v1"
    printed = json.loads(invoke(runner, "report-schema").stdout)
    assert printed == schema, "run: airspec report-schema > schemas/drift-report.schema.json"
    applied = json.loads((ROOT / "schemas" / "apply-result.schema.json").read_text())
    printed = json.loads(invoke(runner, "report-schema", "--kind", "apply").stdout)
    assert printed == applied, (
        "run: airspec report-schema --kind apply > schemas/apply-result.schema.json"
    )


# --- GCP ---------------------------------------------------------------------------------------


class GcpWorld:
    def __init__(self, tmp: Path, gcp: FakeGcp, kube: FakeKube) -> None:
        self.gcp, self.kube, self.tmp = gcp, kube, tmp
        self.spec = tmp / GKE_SPEC.name
        shutil.copy(GKE_SPEC, self.spec)
        compiled = compile_spec(self.spec, str(self.spec), self.spec.name)
        self.art = {a.path: a.content for a in compiled.artifacts}
        for res in self.art["gcp/iam-bindings.json"]["resources"]:
            # the live policy also holds bindings airspec does not own
            other = {"role": "roles/viewer", "members": ["user:someone@example.com"]}
            gcp.policies[res["resource"]] = {"bindings": [*res["bindings"], other]}
        cluster = json.loads(json.dumps(self.art["gcp/cluster.json"]))
        cluster["status"] = "RUNNING"
        cluster["nodePools"][0]["config"]["diskSizeGb"] = 100
        gcp.clusters["projects/acme-data-prod/locations/us-central1/clusters/airflow-agents"] = (
            cluster
        )
        self.out = tmp / "out"
        assert invoke(CliRunner(), "compile", str(self.spec), "--out", str(self.out)).exit_code == 0
        self.env = {
            "AIRSPEC_GCP_ENDPOINT": gcp.url,
            "AIRSPEC_READ_RETRIES": "0",
            "GOOGLE_CLOUD_PROJECT": "acme-data-prod",
        }

    def report(self) -> tuple[int, dict[str, Any]]:
        self.gcp.calls.clear()
        result = CliRunner().invoke(
            __import__("airspec.cli", fromlist=["app"]).app,
            [
                "apply",
                str(self.spec),
                "--dry-run",
                "--out",
                str(self.out),
                "--format",
                "json",
                "--target",
                "gke",
                "--target",
                "gcp-iam",
            ],
            env=self.env,
            catch_exceptions=False,
        )
        assert [c for c in self.gcp.calls if gcp_call_mutates(c)] == []
        assert self.gcp.calls
        return result.exit_code, json.loads(result.stdout)


def test_google_credentials_for_another_project_stop_before_any_read(gcp_world: GcpWorld) -> None:
    env = {**gcp_world.env, "GOOGLE_CLOUD_PROJECT": "someone-elses-project"}
    gcp_world.gcp.calls.clear()
    result = _cli(
        ["apply", str(gcp_world.spec), "--dry-run", "--out", str(gcp_world.out), "-t", "gke"], env
    )
    assert result.exit_code == 1
    assert "someone-elses-project" in result.stderr and "acme-data-prod" in result.stderr
    assert gcp_world.gcp.calls == []
    env["GOOGLE_CLOUD_PROJECT"] = "acme-data-prod"
    result = _cli(
        ["apply", str(gcp_world.spec), "--dry-run", "--out", str(gcp_world.out), "-t", "gke"], env
    )
    assert result.exit_code == 0, result.output


def test_existing_cluster_compares_its_issuer_not_its_node_groups(world: World) -> None:
    """A spec without nodeGroups: the cluster is managed elsewhere. Its node groups may change
    freely; its OIDC issuer (what IRSA trusts) is still compared."""
    text = world.spec.read_text()
    start = text.index("      nodeGroups:")
    end = text.index("    role:")
    world.spec.write_text(text[:start] + text[end:])
    assert invoke(CliRunner(), "compile", str(world.spec), "--out", str(world.out)).exit_code == 0
    assert not (world.out / "remote-exec-demo" / "eksctl").exists()
    world.eks.update_nodegroup_config(
        clusterName="remote-execution-airflow-cluster",
        nodegroupName="workers",
        scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
    )
    code, report = world.report("--target", "eks")
    assert code == 0 and report["findings"] == [], report["findings"]
    assert report["counts"]["checked"] == 1  # the cluster, no node group
    # another cluster's issuer pasted into the spec: drift at the issuer
    other = world.issuer.rsplit("/", 1)[0] + "/0THERC1USTER0000000000000000000"
    world.spec.write_text(world.spec.read_text().replace(world.issuer, other))
    assert invoke(CliRunner(), "compile", str(world.spec), "--out", str(world.out)).exit_code == 0
    code, report = world.report("--target", "eks")
    assert code == 3
    (finding,) = report["findings"]
    assert finding["artifact"] == "aws/cluster-prerequisites.json"
    assert finding["path"] == "oidcIssuer" and finding["status"] == "drift"


@pytest.fixture
def gcp_world(tmp_path: Path) -> Iterator[GcpWorld]:
    with FakeGcp() as gcp, FakeKube() as kube:
        yield GcpWorld(tmp_path, gcp, kube)


def test_gcp_in_sync(gcp_world: GcpWorld) -> None:
    code, report = gcp_world.report()
    assert report["findings"] == [] and code == 0
    assert report["counts"]["checked"] == 5


def test_gcp_changes_out_of_band(gcp_world: GcpWorld) -> None:
    g = gcp_world.gcp
    gsa = "projects/acme-data-prod/serviceAccounts/airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    wi = g.policies[gsa]["bindings"][0]
    wi["members"] = [
        *wi["members"],
        "serviceAccount:acme-data-prod.svc.id.goog[airflow-agents/default]",
    ]
    logs = g.policies["projects/_/buckets/acme-airflow-logs"]["bindings"][0]
    del logs["condition"]
    pool = g.clusters["projects/acme-data-prod/locations/us-central1/clusters/airflow-agents"]
    pool["nodePools"][0]["config"]["workloadMetadataConfig"]["mode"] = "GCE_METADATA"
    del g.policies["projects/acme-data-prod"]
    code, report = gcp_world.report()
    assert code == 3
    by = _by_target(report)
    (member,) = by[f"gcp-iam/iam.serviceAccount/{gsa}"]
    assert member["status"] == "broadening"
    assert member["live"] == "serviceAccount:acme-data-prod.svc.id.goog[airflow-agents/default]"
    bucket = by["gcp-iam/storage.bucket/projects/_/buckets/acme-airflow-logs"]
    assert {f["status"] for f in bucket} == {
        "broadening",
        "drift",
    }  # unconditioned added, conditioned gone
    (mode,) = by[
        "gke/cluster/projects/acme-data-prod/locations/us-central1/clusters/airflow-agents"
    ]
    assert (mode["path"], mode["compiled"], mode["live"]) == (
        "nodePools.workers.workloadMetadataMode",
        "GKE_METADATA",
        "GCE_METADATA",
    )
    (project,) = by["gcp-iam/project/projects/acme-data-prod"]
    assert project["status"] == "missing"


def test_gcp_member_case_and_order_are_not_drift(gcp_world: GcpWorld) -> None:
    gsa = "projects/acme-data-prod/serviceAccounts/airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    wi = gcp_world.gcp.policies[gsa]["bindings"][0]
    wi["members"] = [
        m.replace("airflow-agents/", "Airflow-Agents/") for m in reversed(wi["members"])
    ]
    assert gcp_world.report() == (0, gcp_world.report()[1])


def test_deleted_role_is_missing_for_trust_and_attachments(world: World) -> None:
    role = "AirflowS3LoggerXComRole"
    world.iam.detach_role_policy(
        RoleName=role, PolicyArn="arn:aws:iam::123456789012:policy/AirflowS3Access"
    )
    world.iam.delete_role(RoleName=role)
    code, report = world.report("--target", "iam")
    assert code == 3
    arn = f"arn:aws:iam::123456789012:role/{role}"
    missing = {f["target"] for f in report["findings"] if f["status"] == "missing"}
    assert missing == {f"iam/role/{arn}", f"iam/role/{arn}#attached-policies"}


@pytest.mark.parametrize(
    ("kubeconfig", "problem"),
    [
        ("clusters: [unclosed\n", "no usable kubeconfig: ParserError"),
        (
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "fake",
                            "cluster": {
                                "server": "https://127.0.0.1:9",
                                "certificate-authority-data": "not base64!",
                            },
                        }
                    ],
                    "users": [{"name": "tester", "user": {"token": "test-token"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester"}}
                    ],
                    "current-context": "fake",
                }
            ),
            "no usable kubeconfig: Error",  # binascii.Error
        ),
        ("- a list\n- not a config\n", "no usable kubeconfig:"),
    ],
)
def test_broken_kubeconfig_makes_only_kubernetes_unreadable(
    world: World, kubeconfig: str, problem: str
) -> None:
    """The Kubernetes and Helm targets are errors; AWS is still read and reported."""
    broken = world.tmp / "broken-kubeconfig"
    broken.write_text(kubeconfig)
    world.env["KUBECONFIG"] = str(broken)
    code, report = world.report()
    assert code == 1
    errors = [f for f in report["findings"] if f["status"] == "error"]
    assert errors and {f["target"].split("/")[0] for f in errors} <= {"kubernetes", "helm"}
    assert all(problem in f["message"] for f in errors), errors
    assert report["counts"]["in_sync"] == report["counts"]["checked"] - len(errors) > 0
    assert world.kube.calls == []


def test_a_glob_in_the_ignore_file_never_hides_broadening(world: World) -> None:
    _grant_delete_on_logs(world)
    ignore = world.tmp / ".airspecignore"
    for wide in (
        '- {artifact: "*", reason: everything}\n',
        '- {artifact: aws/iam-policy.json, path: "*", reason: the whole policy}\n',
        '- {artifact: aws/iam-policy.json, path: "Statement.*", reason: any statement}\n',
    ):
        ignore.write_text(wide)
        code, report = world.report()
        assert code == 3 and report["counts"]["suppressed"] == 0, wide
        assert [f["status"] for f in report["findings"]] == ["broadening"]
    ignore.write_text(
        "- artifact: aws/iam-policy.json\n  path: Statement.ReadWriteTaskLogs.Action\n"
        "  reason: reviewed in SEC-123\n"
    )
    code, report = world.report()
    assert code == 0 and report["counts"]["suppressed"] == 1 and report["findings"] == []


def test_clients_are_built_once_per_run_whatever_the_number_of_specs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Specs of one dry run share one set of clients: one Kubernetes client, one boto3 client
    per (service, region); a view per spec only changes the default region."""
    from airspec.live.readers import Clients

    with FakeKube() as kube:
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(tmp_path)))
        shared = Clients(kube_context=None)
        a, b = shared.for_region("us-east-1"), shared.for_region("eu-west-1")
        assert a.kube() is b.kube() is shared.kube()
        assert a.aws("iam") is shared.for_region("us-east-1").aws("iam")
        assert a.aws("s3") is not b.aws("s3")  # another region, another client
        assert b.aws("s3", "us-east-1") is a.aws("s3")


def test_a_dry_run_imports_no_generated_kubernetes_api_or_model(world: World) -> None:
    """Start-up is most of a dry run (issue 25): the Kubernetes reads go through the official
    client's ApiClient as plain JSON, so the generated CoreV1Api and its pydantic models of
    every core/v1 kind (about a second of CPU) are never imported; deepdiff only when
    something differs; one botocore session serves every AWS client."""
    import os
    import subprocess
    import sys
    import textwrap

    probe = textwrap.dedent(
        """\
        import atexit, sys
        def done():
            import gc, botocore.session
            sessions = [o for o in gc.get_objects() if isinstance(o, botocore.session.Session)]
            print("MODULES", len(sessions), " ".join(sorted(sys.modules)), file=sys.stderr)
        atexit.register(done)
        sys.argv = ["airspec", *sys.argv[1:]]
        from airspec.cli import main
        main()
        """
    )
    out = str(world.out)
    got = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "apply",
            str(world.spec),
            "--dry-run",
            "--out",
            out,
            "-f",
            "json",
        ],
        env={**os.environ, **world.env},
        capture_output=True,
        text=True,
    )
    report = json.loads(got.stdout)
    assert got.returncode == 0 and report["counts"]["in_sync"] == 15, got.stderr
    sessions, *modules = got.stderr.rpartition("MODULES ")[2].split()
    generated = {
        m for m in modules if m.startswith(("kubernetes.client.api.", "kubernetes.client.models."))
    }
    assert generated == set()
    assert "deepdiff" not in modules
    assert sessions == "1"
