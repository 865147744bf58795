"""Lower the deployment to values for the `astronomer/astro-remote-execution-agent` chart.

Every key path exists in the chart's default values. Versus the hand-written values:
service account names are pinned (the trust policy names them) and only those get the role
annotation; every env value is a string; git credentials come from a Secret through
`valueFrom.secretKeyRef`; init containers sit inside each worker; PYTHONPATH is a literal
(Kubernetes expands only `$(VAR)` of variables set earlier in the same container).
"""

from __future__ import annotations

import json
from typing import Any

from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.kube import CONSTRAINTS_FILE, quantity_text
from airspec.model import Resources
from airspec.resolved import ResolvedSpec

PATH = "helm/values.yaml"
PACKAGES_DIR = "/shared/packages"
CONSTRAINTS_DIR = "/etc/airspec/constraints"
BACKEND_CLASSES = {
    "local-filesystem": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
    "aws-secrets-manager": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    "aws-ssm": "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
    "gcp-secret-manager": "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend",
}
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
GIT_BUNDLE = "airflow.providers.git.bundles.git.GitDagBundle"


def git_conn_id(bundle_name: str) -> str:
    return "git_" + bundle_name.replace("-", "_")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": str(value)}


def _resources(res: Resources) -> dict[str, Any]:
    amounts = {
        "cpu": quantity_text(res.cpu),
        "ephemeral-storage": quantity_text(res.ephemeral_storage),
        "memory": quantity_text(res.memory),
    }
    return {"limits": dict(amounts), "requests": dict(amounts)}


def bundle_config(r: ResolvedSpec) -> list[dict[str, Any]]:
    """The DAG bundle list the chart sets as AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST."""
    out = []
    for bundle in r.spec.bundles:
        g = bundle.git
        kwargs: dict[str, Any] = {"repo_url": g.repo, "tracking_ref": g.ref}
        if g.subdir:
            kwargs["subdir"] = g.subdir
        if g.refresh_interval is not None:
            kwargs["refresh_interval"] = g.refresh_interval
        if g.credentials_secret:
            kwargs["git_conn_id"] = git_conn_id(bundle.name)
        out.append({"name": bundle.name, "classpath": GIT_BUNDLE, "kwargs": kwargs})
    return out


def _cloud_env(r: ResolvedSpec) -> tuple[str, str, list[dict[str, Any]]]:
    """(URL scheme, Airflow connection id, connection env) for the spec's cloud.

    The connections carry no keys: IRSA (AWS) or Workload Identity (GKE) supplies credentials
    through the annotated service account.
    """
    if r.spec.cloud.aws is not None:
        region = r.aws.region
        return (
            "s3",
            "aws_default",
            [
                _env("AWS_DEFAULT_REGION", region),
                _env(
                    "AIRFLOW_CONN_AWS_DEFAULT",
                    _json({"conn_type": "aws", "extra": {"region_name": region}}),
                ),
            ],
        )
    project = r.gcp.project
    return (
        "gs",
        "google_cloud_default",
        [
            _env("GOOGLE_CLOUD_PROJECT", project),
            _env(
                "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT",
                _json({"conn_type": "google_cloud_platform", "extra": {"project": project}}),
            ),
        ],
    )


def common_env(r: ResolvedSpec) -> list[dict[str, Any]]:
    """Env vars for every agent container; values are strings, secrets only by reference."""
    b = r.spec.backends
    scheme, conn_id, cloud_env = _cloud_env(r)
    env = [_env("ASTRONOMER_ENVIRONMENT", "cloud"), *cloud_env]
    if b.logs is not None:
        env += [
            _env("AIRFLOW__LOGGING__REMOTE_LOGGING", "True"),
            _env(
                "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS",
                "astronomer.runtime.logging.logging_config",
            ),
            _env(
                "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
                f"{scheme}://{b.logs.bucket}/{b.logs.prefix}",
            ),
            _env("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", conn_id),
        ]
        if scheme == "s3":
            env.append(_env("ASTRO_LOGGING_AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/logging-token"))
    if b.xcom is not None:
        env += [
            _env(
                "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
                f"{scheme}://{conn_id}@{b.xcom.bucket}/{b.xcom.prefix}",
            ),
            _env("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD", str(b.xcom.threshold)),
        ]
    if b.secrets is not None and b.secrets.type != "local-filesystem":
        kwargs: dict[str, Any] = {
            "connections_prefix": b.secrets.connections_prefix,
            "variables_prefix": b.secrets.variables_prefix,
        }
        if b.secrets.type.startswith("aws-"):
            kwargs["region_name"] = r.aws.region
        else:  # the backend would otherwise ask the metadata server for the project
            kwargs["project_id"] = r.gcp.project
        env.append(_env("AIRFLOW__SECRETS__BACKEND_KWARGS", _json(kwargs)))
    for bundle in r.spec.bundles:
        if bundle.git.credentials_secret:
            env.append(
                {
                    "name": f"AIRFLOW_CONN_{git_conn_id(bundle.name).upper()}",
                    "valueFrom": {
                        "secretKeyRef": {
                            "name": bundle.git.credentials_secret,
                            "key": bundle.git.credentials_secret_key,
                        }
                    },
                }
            )
    return env


def _provider_install(r: ResolvedSpec, image: str) -> dict[str, Any]:
    """Per-worker init container, volumes and mounts that pip-install the providers."""
    providers = r.spec.deployment.providers
    if providers is None or not providers.packages:
        return {}
    command = ["pip", "install", "--no-cache-dir", "--target", PACKAGES_DIR]
    mounts: list[dict[str, Any]] = [{"name": "shared-packages", "mountPath": PACKAGES_DIR}]
    volumes: list[dict[str, Any]] = [{"name": "shared-packages", "emptyDir": {}}]
    if r.constraints is not None:
        command += ["--constraint", f"{CONSTRAINTS_DIR}/{CONSTRAINTS_FILE}"]
        mounts.append(
            {"name": "provider-constraints", "mountPath": CONSTRAINTS_DIR, "readOnly": True}
        )
        volumes.append(
            {"name": "provider-constraints", "configMap": {"name": r.constraints_configmap}}
        )
    command += list(providers.packages)
    return {
        "env": [_env("PYTHONPATH", PACKAGES_DIR)],
        "initContainers": [
            {
                "name": "install-providers",
                "image": image,
                "command": command,
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
        "volumeMounts": [{"name": "shared-packages", "mountPath": PACKAGES_DIR, "readOnly": True}],
    }


def _service_accounts(r: ResolvedSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for sa in r.service_accounts:
        entry: dict[str, Any] = {"create": True, "name": sa.name}
        if sa.cloud_access:
            entry["annotations"] = {r.annotation_key: r.cloud_identity}
        out[sa.component] = entry
    return out


def helm_values(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """helm/values.yaml for Remote Execution agents (EKS or GKE)."""
    d = r.spec.deployment
    if r.is_software or d.astro is None:
        return []
    values: dict[str, Any] = {
        "resourceNamePrefix": d.resource_name_prefix,
        "createNamespace": False,  # k8s/namespace.yaml creates it: its Secrets must exist first
        "namespace": r.namespace,
        "astroDeploymentAPIURL": d.astro.api_url,
        "imagePullSecretName": d.astro.image_pull_secret,
        "agentTokenSecretName": d.astro.agent_token_secret,
    }
    if r.spec.backends.secrets is not None:
        values["secretBackend"] = BACKEND_CLASSES[r.spec.backends.secrets.type]
    if r.spec.backends.xcom is not None:
        values["xcomBackend"] = XCOM_BACKEND
    if r.spec.bundles:
        values["dagBundleConfigList"] = _json(bundle_config(r))
    values["commonEnv"] = common_env(r)
    if r.spec.metadata.labels:
        values["labels"] = dict(sorted(r.spec.metadata.labels.items()))
    values["serviceAccount"] = _service_accounts(r)
    workers = []
    for w in d.workers:
        image = w.image or d.image
        entry: dict[str, Any] = {
            "name": w.name,
            "queues": ",".join(w.queues),
            "replicas": w.replicas,
            "syncSlots": w.sync_slots,
            "image": image,
            "resources": _resources(w.resources),
        }
        entry.update(_provider_install(r, image))
        if w.node_selector:
            entry["nodeSelector"] = dict(sorted(w.node_selector.items()))
        workers.append(entry)
    values["workers"] = workers
    values["dagProcessor"] = {"image": d.image, "resources": _resources(d.dag_processor.resources)}
    values["triggerer"] = {
        "replicas": d.triggerer.replicas,
        "asyncSlots": d.triggerer.async_slots,
        "image": d.image,
        "resources": _resources(d.triggerer.resources),
    }
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.HELM_VALUES,
            format="yaml",
            content=values,
            live=LiveTarget(Service.HELM, "release", f"{r.namespace}/{r.helm_release}"),
        )
    ]
