"""Lower the deployment to values for the `astronomer/astro-remote-execution-agent` chart.

Every key path exists in the chart's default values. Versus the hand-written values:
service account names are pinned (the trust policy names them) and only those get the role
annotation; every env value is a string; git credentials come from a Secret through
`valueFrom.secretKeyRef`; init containers sit inside each worker; PYTHONPATH is a literal
(Kubernetes expands only `$(VAR)` of variables set earlier in the same container).

Every component (each worker, the triggerer, the dag processor) whose image lacks something
its configuration imports gets an init container that installs exactly that closure
(`environments.py`) with `--no-deps` into /shared/packages, first on its PYTHONPATH; with
`providers.install: image` the components run the image built with it instead.
"""

from __future__ import annotations

from typing import Any

from airspec.airflow_config import (
    BACKEND_CLASSES,
    GIT_BUNDLE,
    LOGGING_CONFIG_CLASS,
    XCOM_BACKEND,
    as_json,
    cloud_connection,
    logging_env,
    secrets_kwargs,
    xcom_env,
)
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.kube import CONSTRAINTS_FILE, quantity_text
from airspec.model import Resources
from airspec.resolved import ResolvedSpec

PATH = "helm/values.yaml"
PACKAGES_DIR = "/shared/packages"
CONSTRAINTS_DIR = "/etc/airspec/constraints"


def git_conn_id(bundle_name: str) -> str:
    return "git_" + bundle_name.replace("-", "_")


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


def common_env(r: ResolvedSpec) -> list[dict[str, Any]]:
    """Env vars for every agent container; values are strings, secrets only by reference."""
    scheme, _, cloud_env = cloud_connection(r)
    env = [_env("ASTRONOMER_ENVIRONMENT", "cloud"), *(_env(k, v) for k, v in cloud_env)]
    logging = [_env(k, v) for k, v in logging_env(r)]
    if logging:  # the agent image's logging config goes right after REMOTE_LOGGING
        logging.insert(
            1,
            _env("AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS", LOGGING_CONFIG_CLASS),
        )
        if scheme == "s3" and not r.pod_identity:
            # the chart's default values set it for the image's logging module; under EKS Pod
            # Identity there is no web identity token, so it would name nothing (README)
            logging.append(_env("ASTRO_LOGGING_AWS_WEB_IDENTITY_TOKEN_FILE", "/tmp/logging-token"))
    env += logging
    env += [_env(k, v) for k, v in xcom_env(r)]
    kwargs = secrets_kwargs(r)
    if kwargs is not None:
        env.append(_env("AIRFLOW__SECRETS__BACKEND_KWARGS", kwargs))
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


def install_command(r: ResolvedSpec, installs: tuple[tuple[str, str], ...]) -> list[str]:
    """The init container's command: the exact closure, without dependency resolution, so
    nothing the image holds is installed again (and the package index needs no +astro
    builds)."""
    command = ["pip", "install", "--no-cache-dir", "--no-deps", "--target", PACKAGES_DIR]
    if r.constraints is not None:
        command += ["--constraint", f"{CONSTRAINTS_DIR}/{CONSTRAINTS_FILE}"]
    return command + [f"{n}=={v}" for n, v in installs]


def _provider_install(r: ResolvedSpec, component: str, image: str) -> dict[str, Any]:
    """A component's init container, volumes and mounts that pip-install what its image
    lacks into /shared/packages, first on its PYTHONPATH."""
    env = r.environment(component)
    if env is None or not env.closure.installs:
        return {}
    if r.built_image is not None and image == r.spec.deployment.image:
        return {}  # the providers are built into the image
    mounts: list[dict[str, Any]] = [{"name": "shared-packages", "mountPath": PACKAGES_DIR}]
    volumes: list[dict[str, Any]] = [{"name": "shared-packages", "emptyDir": {}}]
    if r.constraints is not None:
        mounts.append(
            {"name": "provider-constraints", "mountPath": CONSTRAINTS_DIR, "readOnly": True}
        )
        volumes.append(
            {"name": "provider-constraints", "configMap": {"name": r.constraints_configmap}}
        )
    return {
        "env": [_env("PYTHONPATH", PACKAGES_DIR)],
        "initContainers": [
            {
                "name": "install-providers",
                "image": image,
                "command": install_command(r, env.closure.installs),
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
        if sa.cloud_access and r.annotates:
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
        values["dagBundleConfigList"] = as_json(bundle_config(r))
    values["commonEnv"] = common_env(r)
    if r.spec.metadata.labels:
        values["labels"] = dict(sorted(r.spec.metadata.labels.items()))
    values["serviceAccount"] = _service_accounts(r)
    base_image = r.built_image or d.image
    workers = []
    for w in d.workers:
        image = w.image or base_image
        entry: dict[str, Any] = {
            "name": w.name,
            "queues": ",".join(w.queues),
            "replicas": w.replicas,
            "syncSlots": w.sync_slots,
            "image": image,
            "resources": _resources(w.resources),
        }
        entry.update(_provider_install(r, f"workers[{w.name}]", w.image or d.image))
        if w.node_selector:
            entry["nodeSelector"] = dict(sorted(w.node_selector.items()))
        workers.append(entry)
    values["workers"] = workers
    values["dagProcessor"] = {
        "image": base_image,
        "resources": _resources(d.dag_processor.resources),
        **_provider_install(r, "dagProcessor", d.image),
    }
    values["triggerer"] = {
        "replicas": d.triggerer.replicas,
        "asyncSlots": d.triggerer.async_slots,
        "image": base_image,
        "resources": _resources(d.triggerer.resources),
        **_provider_install(r, "triggerer", d.image),
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
