"""EKS Pod Identity (`cloud.aws.identity: pod-identity`): what it compiles to, what it refuses,
and its drift check against moto's server (EKS Pod Identity associations and add-ons are served
by tests/live_servers.py EksExtensions: moto 5.2.5 does not implement them)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from airspec.pipeline import compile_spec
from conftest import (
    ROOT,
    SOFTWARE_MINIMAL,
    diagnose,
    git_repo,
    invoke,
    without_dag_processor_identity,
)
from live_servers import RecordingMotoServer, aws_call_mutates, aws_client, moto_env

POD_SPEC = ROOT / "specs" / "pod-identity-eks.airspec.yaml"
IRSA_SPEC = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
CLUSTER = "remote-execution-airflow-cluster"
ROLE = "arn:aws:iam::123456789012:role/AirflowAgentsPodRole"
NS = "airflow-pod-identity"


def _artifacts(spec: Path) -> dict[str, Any]:
    compiled = compile_spec(spec, str(spec), spec.name)
    assert compiled.ok, compiled.diagnostics
    return {a.path: a.content for a in compiled.artifacts}


def test_trust_policy_trusts_the_eks_service_for_exactly_these_service_accounts() -> None:
    art = _artifacts(POD_SPEC)
    (statement,) = art["aws/trust-policy.json"]["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {
        "StringEquals": {
            "aws:SourceAccount": "123456789012",
            "aws:RequestTag/eks-cluster-arn": f"arn:aws:eks:us-east-1:123456789012:cluster/{CLUSTER}",
            "aws:RequestTag/kubernetes-namespace": NS,
            "aws:RequestTag/kubernetes-service-account": [
                "astro-agent-dag-processor",  # it reads the secrets backend (AS234)
                "astro-agent-triggerer",
                "astro-agent-worker",
            ],
        }
    }
    # no OIDC anywhere, no IRSA annotation
    assert "oidc" not in json.dumps(art).lower().replace("oidcissuer", "")
    values = art["helm/values.yaml"]
    assert all("annotations" not in sa for sa in values["serviceAccount"].values())


def test_eksctl_file_has_the_agent_addon_and_one_association_per_identity() -> None:
    art = _artifacts(POD_SPEC)
    cfg = art["eksctl/cluster.yaml"]
    assert cfg["addons"] == [{"name": "eks-pod-identity-agent"}]
    assert "withOIDC" not in cfg.get("iam", {})
    assert cfg["iam"]["podIdentityAssociations"] == [
        {"namespace": NS, "serviceAccountName": sa, "roleARN": ROLE}
        for sa in ("astro-agent-dag-processor", "astro-agent-triggerer", "astro-agent-worker")
    ]
    assert (
        art["aws/pod-identity-associations.json"]["associations"]
        == (cfg["iam"]["podIdentityAssociations"])
    )


def test_switching_modes_changes_only_the_identity_artifacts(tmp_path: Path) -> None:
    """The IRSA example with `identity: pod-identity` (and its issuer removed): the policy,
    the log reader, the namespace and the constraints are byte-identical."""
    shutil.copy(ROOT / "specs" / "constraints.txt", tmp_path / "constraints.txt")
    irsa = tmp_path / "irsa.airspec.yaml"
    irsa.write_text(IRSA_SPEC.read_text())
    pod = tmp_path / "pod.airspec.yaml"
    pod.write_text(
        IRSA_SPEC.read_text()
        .replace(
            "      oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/"
            "EXAMPLED539D4633E53DE1B71EXAMPLE\n",
            "",
        )
        .replace("    role: {name:", "    identity: pod-identity\n    role: {name:")
    )
    runner = CliRunner()
    trees = {}
    for spec in (irsa, pod):
        out = tmp_path / f"out-{spec.stem}"
        assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
        tree = out / "remote-exec-demo"
        trees[spec] = {
            p.relative_to(tree).as_posix(): p.read_text().replace(spec.name, "SPEC")
            for p in tree.rglob("*")
            if p.is_file()
        }
    a, b = trees[irsa], trees[pod]
    changed = {p for p in a.keys() | b.keys() if a.get(p) != b.get(p)}
    assert changed == {
        "aws/trust-policy.json",
        "aws/pod-identity-associations.json",  # new
        "eksctl/cluster.yaml",
        "helm/values.yaml",  # the IRSA annotations go
        "RUNBOOK.md",
        "GRAPH.md",  # who can assume the role
        "manifest.json",  # the hashes of the above
    }
    assert "aws/pod-identity-associations.json" not in a


def test_existing_cluster_gets_cli_commands_instead_of_eksctl() -> None:
    spec = ROOT / "tests" / "specs" / "pod-identity-existing.airspec.yaml"
    art = _artifacts(spec)
    assert "eksctl/cluster.yaml" not in art
    runbook = art["RUNBOOK.md"]
    assert "aws eks create-addon --cluster-name shared-platform --region eu-central-1 " in runbook
    assert (
        "aws eks create-pod-identity-association --cluster-name shared-platform --region "
        "eu-central-1 --namespace pod-identity-existing --service-account agents-worker "
        "--role-arn arn:aws:iam::123456789012:role/SharedPlatformAgents"
    ) in runbook
    assert "airspec resolve" not in runbook and "oidc" not in runbook.lower()
    # the role comes before the step that names it
    assert runbook.index("aws iam create-role") < runbook.index("create-pod-identity-association")


def test_software_keeps_irsa(tmp_path: Path) -> None:
    text = SOFTWARE_MINIMAL.replace("    role:", "    identity: pod-identity\n    role:", 1)
    assert "identity: pod-identity" in text
    (d,) = [d for d in diagnose(tmp_path, text) if d.code == "AS223" and d.is_error]
    assert "Houston annotates" in d.message
    assert text.splitlines()[d.line - 1].strip() == "identity: pod-identity"


def test_an_oidc_issuer_with_pod_identity_is_a_warning(tmp_path: Path) -> None:
    text = POD_SPEC.read_text().replace(
        "      nodeGroups:",
        "      oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/ABC\n      nodeGroups:",
    )
    shutil.copy(ROOT / "specs" / "constraints.txt", tmp_path / "constraints.txt")
    (d,) = [d for d in diagnose(tmp_path, text) if d.code == "AS223"]
    assert not d.is_error and "not used" in d.message


def test_resolve_has_nothing_to_do(tmp_path: Path) -> None:
    shutil.copy(ROOT / "specs" / "constraints.txt", tmp_path / "constraints.txt")
    spec = tmp_path / POD_SPEC.name
    spec.write_text(POD_SPEC.read_text())
    result = invoke(CliRunner(), "resolve", str(spec))
    assert result.exit_code == 0 and "nothing to resolve" in result.output
    assert not list(tmp_path.glob("*.lock.json"))


# --- drift, against moto's server -------------------------------------------------------------


class PodWorld:
    """The pod-identity example's AWS side created as its runbook would (role, policy, cluster
    with the add-on and associations, bucket)."""

    def __init__(self, tmp: Path, moto: RecordingMotoServer) -> None:
        import urllib.request

        self.moto = moto
        urllib.request.urlopen(urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST"))
        self.iam, self.eks, s3 = (aws_client(moto.url, s) for s in ("iam", "eks", "s3"))
        shutil.copy(ROOT / "specs" / "constraints.txt", tmp / "constraints.txt")
        git_repo(tmp)
        self.spec = tmp / POD_SPEC.name
        self.spec.write_text(without_dag_processor_identity(POD_SPEC.read_text()))
        art = _artifacts(self.spec)
        self.iam.create_policy(
            PolicyName="AirflowAgentsPodAccess",
            PolicyDocument=json.dumps(art["aws/iam-policy.json"]),
        )
        self.iam.create_role(
            RoleName="AirflowAgentsPodRole",
            AssumeRolePolicyDocument=json.dumps(art["aws/trust-policy.json"]),
        )
        self.iam.attach_role_policy(
            RoleName="AirflowAgentsPodRole",
            PolicyArn="arn:aws:iam::123456789012:policy/AirflowAgentsPodAccess",
        )
        self.eks.create_cluster(
            name=CLUSTER,
            version="1.33",
            roleArn="arn:aws:iam::123456789012:role/eks",
            resourcesVpcConfig={"subnetIds": ["subnet-1"]},
            logging={
                "clusterLogging": [
                    {
                        "types": art["eksctl/cluster.yaml"]["cloudWatch"]["clusterLogging"][
                            "enableTypes"
                        ],
                        "enabled": True,
                    }
                ]
            },
        )
        reader = "AirflowAgentsPodRole-log-reader"
        self.iam.create_role(
            RoleName=reader,
            AssumeRolePolicyDocument=json.dumps(art["aws/log-reader-trust-policy.json"]),
        )
        self.iam.put_role_policy(
            RoleName=reader,
            PolicyName=f"{reader}-logs",
            PolicyDocument=json.dumps(art["aws/log-reader-policy.json"]),
        )
        (group,) = art["eksctl/cluster.yaml"]["managedNodeGroups"]
        self.eks.create_nodegroup(
            clusterName=CLUSTER,
            nodegroupName=group["name"],
            scalingConfig={
                "minSize": group["minSize"],
                "maxSize": group["maxSize"],
                "desiredSize": group["desiredCapacity"],
            },
            instanceTypes=[group["instanceType"]],
            labels=group["labels"],
            subnets=["subnet-1"],
            nodeRole="arn:aws:iam::123456789012:role/nodes",
        )
        self.eks.create_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")
        for a in art["aws/pod-identity-associations.json"]["associations"]:
            self.eks.create_pod_identity_association(
                clusterName=CLUSTER,
                namespace=a["namespace"],
                serviceAccount=a["serviceAccountName"],
                roleArn=a["roleARN"],
            )
        s3.create_bucket(Bucket="my-airflow-bucket")
        self.out = tmp / "out"
        assert invoke(CliRunner(), "compile", str(self.spec), "--out", str(self.out)).exit_code == 0
        self.env = moto_env(moto.url)

    def association(self, sa: str) -> str:
        found = self.eks.list_pod_identity_associations(
            clusterName=CLUSTER, namespace=NS, serviceAccount=sa
        )["associations"]
        return str(found[0]["associationId"])

    def report(self) -> tuple[int, dict[str, Any]]:
        """The dry run of the AWS services (the Kubernetes side is tested in test_apply)."""
        self.moto.recorder.calls.clear()
        targets = ["--target", "iam", "--target", "eks", "--target", "s3"]
        result = CliRunner().invoke(
            __import__("airspec.cli", fromlist=["app"]).app,
            ["apply", str(self.spec), "--dry-run", "--out", str(self.out), "-f", "json", *targets],
            env=self.env,
            catch_exceptions=False,
        )
        mutating = [c for c in self.moto.recorder.calls if aws_call_mutates(c)]
        assert mutating == [], f"--dry-run made mutating calls: {mutating}"
        return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def pod_world(tmp_path: Path, moto: RecordingMotoServer) -> PodWorld:
    return PodWorld(tmp_path, moto)


ASSOCIATIONS = f"eks/pod-identity-associations/{CLUSTER}/{NS}"


def test_pod_identity_in_sync(pod_world: PodWorld) -> None:
    code, report = pod_world.report()
    assert report["findings"] == [], json.dumps(report["findings"], indent=1)
    assert code == 0
    # role trust + attachments, policy, log reader (2), cluster, node group, add-on,
    # associations, bucket; no OIDC provider is read
    assert report["counts"]["in_sync"] == 10
    paths = [path for _, path, _ in pod_world.moto.recorder.calls]
    assert f"/clusters/{CLUSTER}/pod-identity-associations" in paths
    assert not any("OpenIDConnect" in action for _, _, action in pod_world.moto.recorder.calls)


def test_association_drift_missing_and_broadening(pod_world: PodWorld) -> None:
    eks = pod_world.eks
    # the worker's association is gone; the triggerer's hands out another role; the DAG
    # processor (no cloud access in the spec) was given the role by hand; and an unrelated
    # association in the namespace is left alone (three pages of two: the reader paginates)
    eks.delete_pod_identity_association(
        clusterName=CLUSTER, associationId=pod_world.association("astro-agent-worker")
    )
    eks.update_pod_identity_association(
        clusterName=CLUSTER,
        associationId=pod_world.association("astro-agent-triggerer"),
        roleArn="arn:aws:iam::123456789012:role/Other",
    )
    for sa, role in (
        ("astro-agent-dag-processor", ROLE),
        ("unrelated-app", "arn:aws:iam::123456789012:role/App"),
        ("another-app", "arn:aws:iam::123456789012:role/App"),
        ("third-app", "arn:aws:iam::123456789012:role/App"),
    ):
        eks.create_pod_identity_association(
            clusterName=CLUSTER, namespace=NS, serviceAccount=sa, roleArn=role
        )
    code, report = pod_world.report()
    assert code == 3
    found = {
        (f["status"], f["path"], json.dumps(f["compiled"]), json.dumps(f["live"]))
        for f in report["findings"]
        if f["target"] == ASSOCIATIONS
    }
    assert found == {
        ("broadening", f"associations[{NS}/astro-agent-dag-processor]", "null", json.dumps(ROLE)),
        ("drift", f"associations[{NS}/astro-agent-worker]", json.dumps(ROLE), "null"),
        (
            "drift",
            f"associations[{NS}/astro-agent-triggerer]",
            json.dumps(ROLE),
            json.dumps("arn:aws:iam::123456789012:role/Other"),
        ),
    }


def test_missing_addon_then_missing_cluster(pod_world: PodWorld) -> None:
    addon = f"eks/addon/{CLUSTER}/eks-pod-identity-agent"
    pod_world.eks.delete_addon(clusterName=CLUSTER, addonName="eks-pod-identity-agent")
    code, report = pod_world.report()
    assert code == 3
    assert {(f["target"], f["status"]) for f in report["findings"]} == {(addon, "missing")}

    pod_world.eks.delete_nodegroup(clusterName=CLUSTER, nodegroupName="workers")
    pod_world.eks.delete_cluster(name=CLUSTER)
    code, report = pod_world.report()
    by_target = {f["target"]: f["status"] for f in report["findings"]}
    assert by_target[addon] == by_target[ASSOCIATIONS] == "missing"
