"""Compiled artifacts are valid for the tools that consume them, and tight where it matters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from parliament import analyze_policy_string
from ruamel.yaml import YAML

from airspec.pipeline import compile_spec
from conftest import EXAMPLES, MINIMAL, REFERENCE, ROOT, write_spec

OUT = ROOT / "out"
TREES = sorted(p for p in OUT.iterdir() if p.is_dir()) + sorted(
    p for p in (ROOT / "tests" / "golden").iterdir() if p.is_dir()
)
yaml = YAML(typ="safe")


def _files(pattern: str) -> list[Path]:
    return sorted(f for tree in TREES for f in tree.glob(pattern))


def test_there_is_something_to_check() -> None:
    assert len(EXAMPLES) >= 2 and len(TREES) >= 3
    assert (
        _files("eksctl/cluster.yaml")
        and _files("helm/values.yaml")
        and _files("aws/iam-policy.json")
    )


@pytest.mark.parametrize("path", _files("eksctl/cluster.yaml"), ids=str)
def test_eksctl_cluster_valid_against_eksctl_schema(path: Path) -> None:
    schema = json.loads((REFERENCE / "eksctl" / "schema.json").read_text())
    doc = yaml.load(path.read_text())
    jsonschema.validate(doc, schema)
    if "addons" in doc:  # EKS Pod Identity: the agent add-on and associations, no OIDC
        assert doc["addons"] == [{"name": "eks-pod-identity-agent"}]
        assert doc["iam"]["podIdentityAssociations"] and "withOIDC" not in doc["iam"]
    else:
        assert doc["iam"]["withOIDC"] is True
    groups = doc.get("managedNodeGroups", []) + doc.get("nodeGroups", [])
    name = doc["metadata"]["name"]
    for g in groups:
        assert g["tags"] == {
            "k8s.io/cluster-autoscaler/enabled": "true",
            f"k8s.io/cluster-autoscaler/{name}": "owned",
        }


def test_eksctl_schema_rejects_a_typo() -> None:
    """The check above can fail: eksctl's schema refuses unknown keys."""
    schema = json.loads((REFERENCE / "eksctl" / "schema.json").read_text())
    doc = yaml.load(_files("eksctl/cluster.yaml")[0].read_text())
    doc["iam"]["withOIDCC"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_eksctl_schema_rejects_a_misspelt_association() -> None:
    """The Pod Identity association keys are eksctl's (`serviceAccountName`, `roleARN`)."""
    schema = json.loads((REFERENCE / "eksctl" / "schema.json").read_text())
    (path,) = [
        f for f in _files("eksctl/cluster.yaml") if "podIdentityAssociations" in f.read_text()
    ]
    doc = yaml.load(path.read_text())
    jsonschema.validate(doc, schema)
    doc["iam"]["podIdentityAssociations"][0]["roleArn"] = doc["iam"]["podIdentityAssociations"][
        0
    ].pop("roleARN")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


# Values whose content is Kubernetes objects (validated below), not chart keys.
K8S_LISTS = {
    "commonEnv": "env",
    "env": "env",
    "initContainers": "initContainers",
    "volumes": "volumes",
    "volumeMounts": "volumeMounts",
}


def _key_paths_missing(values: Any, ref: Any, path: str = "") -> list[str]:
    missing: list[str] = []
    if isinstance(values, dict):
        if ref is None or ref == {}:
            return []  # a free-form map in the chart (labels, annotations, nodeSelector)
        if not isinstance(ref, dict):
            return [path]
        for key, value in values.items():
            if key not in ref:
                missing.append(f"{path}.{key}".lstrip("."))
            elif key not in K8S_LISTS:
                missing += _key_paths_missing(value, ref[key], f"{path}.{key}")
    elif isinstance(values, list) and isinstance(ref, list) and ref and isinstance(ref[0], dict):
        for i, item in enumerate(values):
            missing += _key_paths_missing(item, ref[0], f"{path}[{i}]")
    return missing


@pytest.mark.parametrize("path", _files("helm/values.yaml"), ids=str)
def test_helm_values_key_paths_exist_in_the_chart(path: Path) -> None:
    ref = yaml.load((REFERENCE / "webinar" / "values.yaml").read_text())
    values = yaml.load(path.read_text())
    assert _key_paths_missing(values, ref) == []


def test_key_path_check_can_fail() -> None:
    ref = yaml.load((REFERENCE / "webinar" / "values.yaml").read_text())
    assert _key_paths_missing(
        {"workers": [{"name": "w", "initContainer": []}], "serviceAccount": {"worker": {}}}, ref
    ) == [
        "workers[0].initContainer",
        "serviceAccount.worker",
    ]


def _env_lists(values: dict[str, Any]) -> list[list[dict[str, Any]]]:
    lists = [values.get("commonEnv", [])]
    lists += [w.get("env", []) for w in values.get("workers", [])]
    return lists


@pytest.mark.parametrize("path", _files("helm/values.yaml"), ids=str)
def test_helm_values_env_and_containers_are_valid_kubernetes(path: Path) -> None:
    values = yaml.load(path.read_text())
    for env in _env_lists(values):
        for var in env:
            assert set(var) in ({"name", "value"}, {"name", "valueFrom"})
            if "value" in var:
                assert isinstance(var["value"], str), f"{var['name']} must be a string"
    for w in values["workers"]:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "check"},
            "spec": {
                "initContainers": w.get("initContainers", []),
                "containers": [
                    {
                        "name": "worker",
                        "image": w["image"],
                        "env": values["commonEnv"] + w.get("env", []),
                        "volumeMounts": w.get("volumeMounts", []),
                    }
                ],
                "volumes": w.get("volumes", []),
            },
        }
        kubernetes_validate.validate(pod, "1.33", strict=True)
        mounts = {
            m["name"]
            for c in pod["spec"]["initContainers"] + pod["spec"]["containers"]
            for m in c.get("volumeMounts", [])
        }
        assert mounts <= {v["name"] for v in pod["spec"]["volumes"]}


@pytest.mark.parametrize("path", _files("k8s/*.yaml"), ids=str)
def test_k8s_manifests_validate(path: Path) -> None:
    doc = yaml.load(path.read_text())
    eksctl = path.parent.parent / "eksctl" / "cluster.yaml"
    # GKE specs pin no version (GKE's release channel does): check against a current one
    version = yaml.load(eksctl.read_text())["metadata"]["version"] if eksctl.exists() else "1.33"
    kubernetes_validate.validate(doc, version, strict=True)


def test_constraints_configmap_holds_the_constraints_file() -> None:
    cm = yaml.load((OUT / "remote-exec-demo" / "k8s" / "provider-constraints.yaml").read_text())
    assert cm["data"]["constraints.txt"] == (ROOT / "specs" / "constraints.txt").read_text()


def test_no_known_defect_of_the_webinar_values() -> None:
    values = yaml.load((OUT / "remote-exec-demo" / "helm" / "values.yaml").read_text())
    text = (OUT / "remote-exec-demo" / "helm" / "values.yaml").read_text()
    assert "annotations" not in values  # the role ARN is not on every object
    sa = values["serviceAccount"]
    role = "arn:aws:iam::123456789012:role/AirflowS3LoggerXComRole"
    assert sa["workers"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert sa["triggerer"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    # DAG files read the secrets backend when the dag processor parses them (Airflow 3.0's
    # Variable.get asks the configured backend first): it needs the identity too
    assert sa["dagProcessor"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert "$PYTHONPATH" not in text and "<" not in text
    git = [v for v in values["commonEnv"] if v["name"] == "AIRFLOW_CONN_GIT_DAGS"]
    assert git == [
        {
            "name": "AIRFLOW_CONN_GIT_DAGS",
            "valueFrom": {"secretKeyRef": {"name": "git-dags-connection", "key": "connection"}},
        }
    ]
    bundles = json.loads(values["dagBundleConfigList"])
    assert bundles[0]["kwargs"]["git_conn_id"] == "git_dags"
    # the image holds amazon 9.9.0 with s3fs and common-io 1.6.1: only the git provider's
    # closure is installed, exactly and without resolving dependencies again
    command = values["workers"][0]["initContainers"][0]["command"]
    assert command[:6] == ["pip", "install", "--no-cache-dir", "--no-deps", "--target", "/shared/packages"]
    assert command[-4:] == [
        "apache-airflow-providers-git==0.0.8",
        "gitdb==4.0.12",
        "gitpython==3.2.1",
        "smmap==5.0.3",
    ]


def test_no_placeholder_anywhere_in_out() -> None:
    for tree in TREES:
        for f in tree.rglob("*"):
            if f.is_file():
                text = f.read_text()
                assert "<your" not in text and "<placeholder" not in text, f


def _policy(tree: str, name: str = "iam-policy.json") -> dict[str, Any]:
    return json.loads((OUT / tree / "aws" / name).read_text())


# parliament audits identity (permission) policies; trust policies are resource policies.
@pytest.mark.parametrize(
    "path", _files("aws/iam-policy.json") + _files("aws/log-reader-policy.json"), ids=str
)
def test_parliament_finds_nothing(path: Path) -> None:
    policy = analyze_policy_string(path.read_text(), include_community_auditors=True)
    assert [(f.issue, f.detail) for f in policy.findings] == []


def test_parliament_would_flag_the_webinar_policy() -> None:
    """The check above can fail: parliament does flag the hand-written policy's defects."""
    text = (
        (REFERENCE / "webinar" / "my-airflow-s3-policy.json")
        .read_text()
        .replace("<your-bucket-name>", "b")
    )
    assert analyze_policy_string(text, include_community_auditors=True).findings


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["Statement"]


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


@pytest.mark.parametrize("tree", ["remote-exec-demo", "analytics-agents"])
def test_permission_policy_is_least_privilege(tree: str) -> None:
    for s in _statements(_policy(tree)):
        assert s["Effect"] == "Allow"
        for r in _as_list(s["Resource"]):
            assert r != "*" and not r.endswith(":::*")
            if r.startswith("arn:aws:s3:::") and "/" in r:
                assert r.endswith(("/logs/*", "/xcom/*", "/agents/logs/*")), r
        for a in _as_list(s["Action"]):
            assert not a.startswith("sts:") and "*" not in a
        if "s3:ListBucket" in _as_list(s["Action"]):
            assert s["Condition"]["StringLike"]["s3:prefix"] in (
                ["logs/*"],
                ["xcom/*"],
                ["agents/logs/*"],
            )


def test_permission_policy_structure_example() -> None:
    by_sid = {s["Sid"]: s for s in _statements(_policy("analytics-agents"))}
    assert by_sid["ListTaskLogs"]["Resource"] == "arn:aws:s3:::acme-airflow-task-logs"
    assert by_sid["ListTaskLogs"]["Condition"] == {"StringLike": {"s3:prefix": ["agents/logs/*"]}}
    assert by_sid["ReadWriteTaskLogs"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert by_sid["ReadWriteXComObjects"]["Resource"] == "arn:aws:s3:::acme-airflow-xcom/xcom/*"
    assert by_sid["ProbeXComBucket"] == {
        "Sid": "ProbeXComBucket",
        "Effect": "Allow",
        "Action": "s3:GetBucketLocation",
        "Resource": "arn:aws:s3:::acme-airflow-xcom",
    }
    assert by_sid["ReadAirflowParameters"]["Resource"] == [
        "arn:aws:ssm:eu-west-1:210987654321:parameter/airflow/connections/*",
        "arn:aws:ssm:eu-west-1:210987654321:parameter/airflow/variables/*",
    ]


def test_trust_policy_names_exact_subjects() -> None:
    (stmt,) = _statements(_policy("remote-exec-demo", "trust-policy.json"))
    host = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    assert stmt["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"}
    assert stmt["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert stmt["Condition"] == {
        "StringEquals": {
            f"{host}:aud": "sts.amazonaws.com",
            f"{host}:sub": [
                # the dag processor reads the secrets backend when it parses DAG files
                "system:serviceaccount:airflow-agents:astro-agent-dag-processor",
                "system:serviceaccount:airflow-agents:astro-agent-triggerer",
                "system:serviceaccount:airflow-agents:astro-agent-worker",
            ],
        }
    }


def test_cloud_access_controls_the_subjects() -> None:
    (stmt,) = _statements(_policy("analytics-agents", "trust-policy.json"))
    subs = stmt["Condition"]["StringEquals"][
        "oidc.eks.eu-west-1.amazonaws.com/id/0A1B2C3D4E5F60718293A4B5C6D7E8F9:sub"
    ]
    assert subs == [
        f"system:serviceaccount:analytics-agents:analytics-{c}"
        for c in ("dag-processor", "triggerer", "worker")
    ]


def test_unresolved_issuer_writes_no_trust_policy(tmp_path: Path) -> None:
    text = "\n".join(line for line in MINIMAL.splitlines() if "oidcIssuer" not in line) + "\n"
    result = compile_spec(write_spec(tmp_path, text), "x", "x")
    assert result.ok
    paths = {a.path for a in result.artifacts}
    assert "aws/trust-policy.json" not in paths and "aws/iam-policy.json" in paths


def test_lock_file_supplies_the_issuer(tmp_path: Path) -> None:
    text = "\n".join(line for line in MINIMAL.splitlines() if "oidcIssuer" not in line) + "\n"
    spec = write_spec(tmp_path, text)
    issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/LOCKED0123"
    (tmp_path / "demo.airspec.lock.json").write_text(
        json.dumps(
            {
                "kind": "AirspecLock",
                "cluster": "demo-cluster",
                "values": {"cloud.aws.cluster.oidcIssuer": issuer},
            }
        )
    )
    result = compile_spec(spec, "x", "x")
    assert result.ok and not result.diagnostics
    trust = next(a for a in result.artifacts if a.path == "aws/trust-policy.json")
    assert "LOCKED0123" in json.dumps(trust.content)
