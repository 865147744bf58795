"""Airflow's own configuration names for the backends a spec declares, shared by the Remote
Execution Helm values and the Astronomer Software Deployment environment.

Class paths are the providers' (apache-airflow-providers-amazon / -google / -common-io /
-git); env names follow Airflow's `AIRFLOW__{SECTION}__{KEY}` rule.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the rules import these names; resolved.py imports the rules' front end
    from airspec.resolved import ResolvedSpec

BACKEND_CLASSES = {
    "local-filesystem": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
    "aws-secrets-manager": "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend",
    "aws-ssm": "airflow.providers.amazon.aws.secrets.systems_manager.SystemsManagerParameterStoreBackend",
    "gcp-secret-manager": "airflow.providers.google.cloud.secrets.secret_manager.CloudSecretManagerBackend",
}
XCOM_BACKEND = "airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
GIT_BUNDLE = "airflow.providers.git.bundles.git.GitDagBundle"
# Astro Runtime's logging config, which the agent image ships (the chart's default values set it)
LOGGING_CONFIG_CLASS = "astronomer.runtime.logging.logging_config"

Env = list[tuple[str, str]]


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def cloud_connection(r: ResolvedSpec) -> tuple[str, str, Env]:
    """(URL scheme, Airflow connection id, connection env) for the spec's cloud.

    The connections carry no keys: IRSA (AWS) or Workload Identity (GKE) supplies credentials
    through the annotated service account.
    """
    if r.spec.cloud.aws is not None:
        region = r.aws.region
        conn = {"conn_type": "aws", "extra": {"region_name": region}}
        return (
            "s3",
            "aws_default",
            [
                ("AWS_DEFAULT_REGION", region),
                ("AIRFLOW_CONN_AWS_DEFAULT", as_json(conn)),
            ],
        )
    project = r.gcp.project
    conn = {"conn_type": "google_cloud_platform", "extra": {"project": project}}
    return (
        "gs",
        "google_cloud_default",
        [
            ("GOOGLE_CLOUD_PROJECT", project),
            ("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", as_json(conn)),
        ],
    )


def logging_env(r: ResolvedSpec) -> Env:
    logs = r.spec.backends.logs
    if logs is None:
        return []
    scheme, conn_id, _ = cloud_connection(r)
    return [
        ("AIRFLOW__LOGGING__REMOTE_LOGGING", "True"),
        ("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER", f"{scheme}://{logs.bucket}/{logs.prefix}"),
        ("AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID", conn_id),
    ]


def xcom_env(r: ResolvedSpec) -> Env:
    xcom = r.spec.backends.xcom
    if xcom is None:
        return []
    scheme, conn_id, _ = cloud_connection(r)
    return [
        (
            "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
            f"{scheme}://{conn_id}@{xcom.bucket}/{xcom.prefix}",
        ),
        ("AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD", str(xcom.threshold)),
    ]


def secrets_kwargs(r: ResolvedSpec) -> str | None:
    """AIRFLOW__SECRETS__BACKEND_KWARGS for a cloud secrets backend, else None."""
    secrets = r.spec.backends.secrets
    if secrets is None or secrets.type == "local-filesystem":
        return None
    kwargs: dict[str, Any] = {
        "connections_prefix": secrets.connections_prefix,
        "variables_prefix": secrets.variables_prefix,
    }
    if secrets.type.startswith("aws-"):
        kwargs["region_name"] = r.aws.region
    else:  # the backend would otherwise ask the metadata server for the project
        kwargs["project_id"] = r.gcp.project
    return as_json(kwargs)


def deployment_env(r: ResolvedSpec) -> Env:
    """Every Airflow setting the backends need, as one Deployment's environment (Software)."""
    _, _, env = cloud_connection(r)
    env = [*env, *logging_env(r)]
    if r.spec.backends.xcom is not None:
        env += [("AIRFLOW__CORE__XCOM_BACKEND", XCOM_BACKEND), *xcom_env(r)]
    kwargs = secrets_kwargs(r)
    if kwargs is not None and r.spec.backends.secrets is not None:
        env += [
            ("AIRFLOW__SECRETS__BACKEND", BACKEND_CLASSES[r.spec.backends.secrets.type]),
            ("AIRFLOW__SECRETS__BACKEND_KWARGS", kwargs),
        ]
    return env
