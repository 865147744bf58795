"""GKE Workload Identity and Astronomer Software: exact members, subjects, commands and rules."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from airspec.pipeline import compile_spec
from conftest import (
    GKE_MINIMAL,
    ROOT,
    SOFTWARE_GKE_MINIMAL,
    SOFTWARE_MINIMAL,
    diagnose,
    write_spec,
)

OUT = ROOT / "out"
yaml = YAML(typ="safe")


def _compile(tmp_path: Path, text: str) -> dict[str, Any]:
    """Compile spec text; every artifact's content by path."""
    path = write_spec(tmp_path, text)
    compiled = compile_spec(path, path.name, path.name)
    assert compiled.ok, [d.message for d in compiled.diagnostics]
    return {a.path: a.content for a in compiled.artifacts}


def _json(tree: str, path: str) -> Any:
    return json.loads((OUT / tree / path).read_text())


def _bindings(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(resource, role) -> binding, from gcp/iam-bindings.json."""
    return {(res["resource"], b["role"]): b for res in doc["resources"] for b in res["bindings"]}


def _ksa(project: str, ns: str, name: str) -> str:
    return f"serviceAccount:{project}.svc.id.goog[{ns}/{name}]"


# --- Remote Execution on GKE -------------------------------------------------------------


def test_gke_agents_bindings_exact() -> None:
    doc = _json("gke-agents", "gcp/iam-bindings.json")
    gsa = "airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    me = [f"serviceAccount:{gsa}"]
    assert doc["serviceAccount"] == {
        "accountId": "airflow-agents",
        "email": gsa,
        "project": "acme-data-prod",
    }
    b = _bindings(doc)
    assert set(b) == {
        (f"projects/acme-data-prod/serviceAccounts/{gsa}", "roles/iam.workloadIdentityUser"),
        ("projects/_/buckets/acme-airflow-logs", "roles/storage.objectUser"),
        ("projects/_/buckets/acme-airflow-xcom", "roles/storage.objectUser"),
        ("projects/_/buckets/acme-airflow-xcom", "roles/storage.bucketViewer"),
        ("projects/acme-data-prod", "roles/secretmanager.secretAccessor"),
    }
    wi = b[(f"projects/acme-data-prod/serviceAccounts/{gsa}", "roles/iam.workloadIdentityUser")]
    assert wi == {
        "role": "roles/iam.workloadIdentityUser",
        "members": [
            # the dag processor reads Secret Manager when it parses DAG files (AS234)
            _ksa("acme-data-prod", "airflow-agents", "astro-agent-dag-processor"),
            _ksa("acme-data-prod", "airflow-agents", "astro-agent-triggerer"),
            _ksa("acme-data-prod", "airflow-agents", "astro-agent-worker"),
        ],
    }
    for key, binding in b.items():
        if key[1] != "roles/iam.workloadIdentityUser":
            assert binding["members"] == me, key
    logs = b[("projects/_/buckets/acme-airflow-logs", "roles/storage.objectUser")]["condition"]
    assert logs["expression"] == (
        '(resource.type == "storage.googleapis.com/Object" && resource.name.startsWith('
        '"projects/_/buckets/acme-airflow-logs/objects/agents/logs/")) || '
        '(resource.type == "storage.googleapis.com/Bucket" && api.getAttribute('
        '"storage.googleapis.com/objectListPrefix", "").startsWith("agents/logs/"))'
    )
    assert (
        "condition" not in b[("projects/_/buckets/acme-airflow-xcom", "roles/storage.bucketViewer")]
    )
    secrets = b[("projects/acme-data-prod", "roles/secretmanager.secretAccessor")]["condition"]
    assert secrets["expression"] == (
        'resource.name.extract("/secrets/{id}").startsWith("airflow-connections-") || '
        'resource.name.extract("/secrets/{id}").startsWith("airflow-variables-")'
    )


def test_condition_files_are_the_bindings_conditions() -> None:
    """The runbook's --condition-from-file files hold exactly the bindings' conditions."""
    for tree in ("gke-agents", "software-gke"):
        doc = _json(tree, "gcp/iam-bindings.json")
        in_bindings = sorted(
            json.dumps(b["condition"], sort_keys=True)
            for res in doc["resources"]
            for b in res["bindings"]
            if "condition" in b
        )
        files = sorted(
            json.dumps(json.loads(p.read_text()), sort_keys=True)
            for p in (OUT / tree / "gcp" / "conditions").glob("*.json")
        )
        assert in_bindings == files and files
        runbook = (OUT / tree / "RUNBOOK.md").read_text()
        for p in (OUT / tree / "gcp" / "conditions").glob("*.json"):
            assert f"--condition-from-file=gcp/conditions/{p.name}" in runbook


def test_one_bucket_for_logs_and_xcom_is_one_condition(tmp_path: Path) -> None:
    doc = _compile(tmp_path, GKE_MINIMAL)["gcp/iam-bindings.json"]
    b = _bindings(doc)
    cond = b[("projects/_/buckets/demo-bucket", "roles/storage.objectUser")]["condition"]
    for prefix in ("logs/", "xcom/"):
        assert f'objects/{prefix}")' in cond["expression"]
        assert f'startsWith("{prefix}")' in cond["expression"]
    assert ("projects/_/buckets/demo-bucket", "roles/storage.bucketViewer") in b
    assert not any(role == "roles/secretmanager.secretAccessor" for _, role in b)


def test_logs_only_bucket_gets_no_bucket_viewer(tmp_path: Path) -> None:
    text = GKE_MINIMAL.replace("  xcom: {bucket: demo-bucket, prefix: xcom}\n", "")
    text = text.replace(', "apache-airflow-providers-common-io==1.6.1"', "")
    b = _bindings(_compile(tmp_path, text)["gcp/iam-bindings.json"])
    assert {role for _, role in b} == {"roles/iam.workloadIdentityUser", "roles/storage.objectUser"}


def test_gke_cluster_file() -> None:
    doc = _json("gke-agents", "gcp/cluster.json")
    assert doc["workloadIdentityConfig"] == {"workloadPool": "acme-data-prod.svc.id.goog"}
    assert doc["name"] == "airflow-agents" and doc["location"] == "us-central1"
    (pool,) = doc["nodePools"]
    assert pool["config"] == {
        "machineType": "e2-standard-4",
        "workloadMetadataConfig": {"mode": "GKE_METADATA"},
    }
    assert pool["autoscaling"] == {"enabled": True, "minNodeCount": 0, "maxNodeCount": 4}
    # Software runs on a cluster that already exists: no cluster file, only what it must have.
    assert not (OUT / "software-gke" / "gcp" / "cluster.json").exists()
    prereq = _json("software-gke", "gcp/cluster-prerequisites.json")
    assert prereq["workloadIdentityConfig"] == {"workloadPool": f"{prereq['project']}.svc.id.goog"}


def test_gke_helm_values() -> None:
    values = yaml.load((OUT / "gke-agents" / "helm" / "values.yaml").read_text())
    gsa = "airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    annotated = {
        k: v.get("annotations") for k, v in values["serviceAccount"].items() if "annotations" in v
    }
    assert annotated == {
        "workers": {"iam.gke.io/gcp-service-account": gsa},
        "triggerer": {"iam.gke.io/gcp-service-account": gsa},
        "dagProcessor": {"iam.gke.io/gcp-service-account": gsa},
    }
    env = {e["name"]: e["value"] for e in values["commonEnv"]}
    assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == "gs://acme-airflow-logs/agents/logs"
    assert env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == "google_cloud_default"
    assert (
        env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"]
        == "gs://google_cloud_default@acme-airflow-xcom/xcom"
    )
    conn = json.loads(env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"])
    assert conn == {"conn_type": "google_cloud_platform", "extra": {"project": "acme-data-prod"}}
    assert not any(k.startswith(("AWS_", "AIRFLOW_CONN_AWS", "ASTRO_LOGGING_AWS")) for k in env)
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert kwargs == {
        "connections_prefix": "airflow-connections",
        "variables_prefix": "airflow-variables",
        "project_id": "acme-data-prod",
    }
    assert values["secretBackend"].endswith(".CloudSecretManagerBackend")


def test_gke_runbook_commands() -> None:
    text = (OUT / "gke-agents" / "RUNBOOK.md").read_text()
    assert "--workload-pool=acme-data-prod.svc.id.goog" in text
    assert "--workload-metadata=GKE_METADATA" in text
    assert "gcloud iam service-accounts create airflow-agents --project=acme-data-prod" in text
    members = [
        shlex.split(line)[-1]
        for line in text.splitlines()
        if "--role=roles/iam.workloadIdentityUser" in line
    ]
    assert members == [
        "--member=" + _ksa("acme-data-prod", "airflow-agents", "astro-agent-dag-processor"),
        "--member=" + _ksa("acme-data-prod", "airflow-agents", "astro-agent-triggerer"),
        "--member=" + _ksa("acme-data-prod", "airflow-agents", "astro-agent-worker"),
    ]
    assert "gcloud auth list" in text and "serviceAccountName" in text
    assert "eksctl" not in text and "aws " not in text


# --- Astronomer Software -------------------------------------------------------------------


def test_software_eks_trust_policy_exact() -> None:
    doc = _json("software-eks", "aws/trust-policy.json")
    (st,) = doc["Statement"]
    assert st["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert st["Principal"] == {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/"
        "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0A1B2C3D4E5F60718293A4B5C"
    }
    host = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE0A1B2C3D4E5F60718293A4B5C"
    ns, rel = "astronomer-quasarian-photon-7310", "quasarian-photon-7310"
    assert st["Condition"] == {
        "StringEquals": {
            f"{host}:aud": "sts.amazonaws.com",
            f"{host}:sub": [
                f"system:serviceaccount:{ns}:{rel}-{c}"
                for c in ("scheduler", "triggerer", "webserver", "worker")
            ],
        }
    }
    assert "ec2.amazonaws.com" not in json.dumps(doc) and "*" not in json.dumps(doc)


def test_software_trees_have_no_agent_artifacts() -> None:
    for tree in ("software-eks", "software-gke"):
        paths = {a["path"] for a in _json(tree, "manifest.json")["artifacts"]}
        assert not any(p.startswith(("helm/", "k8s/")) for p in paths), tree
        assert {"software/houston-config.yaml", "software/astro-commands.sh"} <= paths


@pytest.mark.parametrize(
    ("tree", "key"),
    [
        ("software-eks", "eks.amazonaws.com/role-arn"),
        ("software-gke", "iam.gke.io/gcp-service-account"),
    ],
)
def test_houston_config(tree: str, key: str) -> None:
    doc = yaml.load((OUT / tree / "software" / "houston-config.yaml").read_text())
    assert doc == {
        "astronomer": {
            "houston": {
                "config": {
                    "deployments": {"serviceAccountAnnotationKey": key, "manualReleaseNames": True}
                }
            }
        }
    }


def _create_argv(tree: str) -> list[str]:
    text = (OUT / tree / "software" / "astro-commands.sh").read_text()
    (line,) = [ln for ln in text.splitlines() if ln.strip().startswith("astro deployment create")]
    return shlex.split(line)


def test_astro_create_commands() -> None:
    assert _create_argv("software-eks") == [
        "astro", "deployment", "create", "--label", "analytics", "--executor", "celery",
        "--release-name", "quasarian-photon-7310",
        "--cloud-role", "arn:aws:iam::123456789012:role/AstronomerAnalyticsRole",
    ]  # fmt: skip
    assert _create_argv("software-gke") == [
        "astro", "deployment", "create", "--label", "software-gke", "--executor", "kubernetes",
        "--release-name", "nebular-orbit-4821",
        "--cloud-role", "software-nebular-orbit@acme-software-prod.iam.gserviceaccount.com",
        "--workspace-id", "ckbv7zvb100000vs0bhcvvlpb",
    ]  # fmt: skip


def test_software_gke_bindings_exact() -> None:
    doc = _json("software-gke", "gcp/iam-bindings.json")
    gsa = "software-nebular-orbit@acme-software-prod.iam.gserviceaccount.com"
    b = _bindings(doc)
    wi = b[(f"projects/acme-software-prod/serviceAccounts/{gsa}", "roles/iam.workloadIdentityUser")]
    assert wi["members"] == [
        _ksa("acme-software-prod", "astronomer-nebular-orbit-4821", f"nebular-orbit-4821-{c}")
        for c in ("scheduler", "triggerer", "webserver", "worker")
    ]
    assert set(b) == {
        (f"projects/acme-software-prod/serviceAccounts/{gsa}", "roles/iam.workloadIdentityUser"),
        ("projects/_/buckets/acme-software-logs", "roles/storage.objectUser"),
        ("projects/acme-software-prod", "roles/secretmanager.secretAccessor"),
    }
    cond = b[("projects/acme-software-prod", "roles/secretmanager.secretAccessor")]["condition"]
    assert '"nebular-connections-"' in cond["expression"]
    assert '"nebular-variables-"' in cond["expression"]


def test_software_cloud_access_is_configurable(tmp_path: Path) -> None:
    text = SOFTWARE_MINIMAL.replace(
        '  software: {releaseName: stellar-comet-1234, platformChartVersion: "0.37.4"}\n',
        '  software: {releaseName: stellar-comet-1234, platformChartVersion: "0.37.4"}\n  cloudAccess: [worker, cleanup]\n',
    )
    trust = _compile(tmp_path, text)["aws/trust-policy.json"]
    (st,) = trust["Statement"]
    (subs,) = [v for k, v in st["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subs == [
        "system:serviceaccount:astronomer-stellar-comet-1234:stellar-comet-1234-cleanup",
        "system:serviceaccount:astronomer-stellar-comet-1234:stellar-comet-1234-worker",
    ]
    gke = _compile(tmp_path, SOFTWARE_GKE_MINIMAL)["gcp/iam-bindings.json"]
    (wi,) = [b for b in _bindings(gke).values() if b["role"] == "roles/iam.workloadIdentityUser"]
    assert len(wi["members"]) == 4


def _run_script(
    tree: str, tmp_path: Path, annotation: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run astro-commands.sh with fake `astro` and `kubectl` that log their argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for tool, body in (
        ("astro", 'echo "astro $*" >> "$CALLS"'),
        (
            "kubectl",
            'echo "kubectl $*" >> "$CALLS"\ncase "$*" in get*) printf %s "$ANNOTATION";; esac',
        ),
    ):
        script = bin_dir / tool
        script.write_text(f"#!/usr/bin/env bash\n{body}\n")
        script.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(log),
        "ANNOTATION": annotation,
    }
    return subprocess.run(
        ["bash", str(OUT / tree / "software" / "astro-commands.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_astro_commands_script_runs(tmp_path: Path) -> None:
    role = "arn:aws:iam::123456789012:role/AstronomerAnalyticsRole"
    ok = _run_script("software-eks", tmp_path, role, "update", "ckdeployment1")
    assert ok.returncode == 0, ok.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [f"astro deployment update ckdeployment1 --cloud-role {role}"]
    assert _run_script("software-eks", tmp_path, role, "verify").returncode == 0
    bad = _run_script("software-eks", tmp_path, "arn:aws:iam::1:role/other", "verify")
    assert bad.returncode == 1 and bad.stderr.count("MISSING") == 4
    assert _run_script("software-eks", tmp_path, role).returncode == 64


# --- Rules ---------------------------------------------------------------------------------


def test_gcp_spec_compiles_without_aws_artifacts(tmp_path: Path) -> None:
    paths = set(_compile(tmp_path, GKE_MINIMAL))
    assert not any(p.startswith(("aws/", "eksctl/")) for p in paths)
    assert {"gcp/cluster.json", "gcp/iam-bindings.json", "helm/values.yaml"} <= paths


def test_aws_backend_on_gcp_is_a_mismatch(tmp_path: Path) -> None:
    text = GKE_MINIMAL + "  secrets: {type: aws-ssm}\n"
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line, d.col) == ("AS206", len(text.splitlines()), 19)


def test_software_requires_its_block(tmp_path: Path) -> None:
    text = SOFTWARE_MINIMAL.replace(
        '  software: {releaseName: stellar-comet-1234, platformChartVersion: "0.37.4"}\n', ""
    )
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line, d.col) == ("AS209", 5, 1)


def test_remote_execution_blocks_rejected_on_software(tmp_path: Path) -> None:
    text = SOFTWARE_MINIMAL.replace(
        "  software:",
        "  astro: {apiUrl: 'https://x.example/api', agentTokenSecret: t, imagePullSecret: r}\n  software:",
    )
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line, d.col) == ("AS205", 7, 3)


def test_secret_manager_prefix_with_slash(tmp_path: Path) -> None:
    text = (
        GKE_MINIMAL
        + "  secrets: {type: gcp-secret-manager, connectionsPrefix: airflow/connections}\n"
    )
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line) == ("AS217", len(text.splitlines()))
    assert "airflow-connections" in d.hint


def test_gke_location_outside_region(tmp_path: Path) -> None:
    text = GKE_MINIMAL.replace("location: us-central1", "location: europe-west4-a")
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line, d.col) == ("AS218", 22, 17)
    zonal = GKE_MINIMAL.replace("location: us-central1", "location: us-central1-b")
    assert diagnose(tmp_path, zonal) == []


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("serviceAccount: demo-agents", "serviceAccount: Demo_Agents"),
        ("serviceAccount: demo-agents", "serviceAccount: short"),
        ("serviceAccount: demo-agents", "serviceAccount: ends-with-dash-"),
        ("project: demo-project", "project: 1demo-project"),
        ("project: demo-project", "project: demo"),
        ("project: demo-project", "project: demo-project-that-is-far-too-long-x"),
    ],
)
def test_gcp_ids_follow_gcp_rules(tmp_path: Path, field: str, bad: str) -> None:
    text = GKE_MINIMAL.replace(field, bad)
    (d,) = diagnose(tmp_path, text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if bad in ln)
    assert (d.code, d.line) == ("AS107", line)


def test_gke_without_google_provider(tmp_path: Path) -> None:
    text = GKE_MINIMAL.replace('"apache-airflow-providers-google==17.0.0", ', "")
    diags = diagnose(tmp_path, text)
    assert {d.code for d in diags} == {"AS204"}
    # every component imports GCSRemoteLogIO and the gs:// filesystem at start; gcsfs comes
    # with the provider, so each hint installs it, at the version tested on the image
    by_class = {d.message.split(" cannot import ")[1].split(" ")[0]: d for d in diags}
    assert set(by_class) == {
        "airflow.providers.google.cloud.log.gcs_task_handler.GCSRemoteLogIO",
        "airflow.providers.google.cloud.fs.gcs.get_fs",
        "gcsfs.GCSFileSystem",
    }
    for d in diags:
        assert d.message.startswith("workers[default-worker], triggerer and dagProcessor ")
        assert "'- apache-airflow-providers-google==17.0.0'" in d.hint
