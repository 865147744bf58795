"""Lower the namespace and the provider constraints to Kubernetes manifests.

The chart does not create the namespace here (its Secrets must exist before the chart is
installed), and it does not own the constraints ConfigMap the init containers mount.
"""

from __future__ import annotations

from typing import Any

from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.kube import CONSTRAINTS_FILE
from airspec.resolved import ResolvedSpec

MANAGED_BY = {"app.kubernetes.io/managed-by": "airspec"}


def _labels(r: ResolvedSpec) -> dict[str, str]:
    return dict(sorted({**r.spec.metadata.labels, **MANAGED_BY}.items()))


def k8s_manifests(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """k8s/namespace.yaml and, with a constraints file, k8s/provider-constraints.yaml."""
    if r.is_software:
        return []
    namespace: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": r.namespace, "labels": _labels(r)},
    }
    out = [
        Artifact(
            "k8s/namespace.yaml",
            ArtifactKind.K8S_NAMESPACE,
            "yaml",
            namespace,
            LiveTarget(Service.KUBERNETES, "namespace", r.namespace),
        )
    ]
    if r.constraints is not None:
        name = r.constraints_configmap
        configmap = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": r.namespace, "labels": _labels(r)},
            "data": {CONSTRAINTS_FILE: r.constraints},
        }
        out.append(
            Artifact(
                "k8s/provider-constraints.yaml",
                ArtifactKind.K8S_CONFIGMAP,
                "yaml",
                configmap,
                LiveTarget(Service.KUBERNETES, "configmap", f"{r.namespace}/{name}"),
            )
        )
    return out
