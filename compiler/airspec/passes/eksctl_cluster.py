"""Lower `cloud.aws.cluster` to an eksctl ClusterConfig (valid against eksctl's schema)."""

from __future__ import annotations

from typing import Any

from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.aws import POD_IDENTITY_ADDON
from airspec.resolved import ResolvedSpec

PATH = "eksctl/cluster.yaml"


def _node_group(group: Any, cluster: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": group.name,
        "instanceType": group.instance_type,
        "amiFamily": group.ami_family,
        "desiredCapacity": group.desired_capacity,
        "minSize": group.min_size,
        "maxSize": group.max_size,
        "volumeSize": group.volume_size,
    }
    if group.labels:
        out["labels"] = dict(sorted(group.labels.items()))
    # cluster-autoscaler auto-discovery finds node groups by these two tags
    out["tags"] = {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster}": "owned",
    }
    if group.managed:
        out["propagateASGTags"] = True
    return out


def eksctl_cluster(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """eksctl/cluster.yaml: the cluster with its identity wiring (IRSA: the OIDC provider;
    Pod Identity: the agent add-on and the associations), logging, and the node groups."""
    if r.spec.cloud.aws is None or r.cluster_exists:
        return []
    c = r.aws.cluster
    metadata: dict[str, Any] = {
        "name": c.name,
        "region": r.aws.region,
        "version": c.kubernetes_version,
    }
    if r.spec.metadata.labels:
        metadata["tags"] = dict(sorted(r.spec.metadata.labels.items()))
    config: dict[str, Any] = {
        "apiVersion": "eksctl.io/v1alpha5",
        "kind": "ClusterConfig",
        "metadata": metadata,
    }
    associations = ctx.find(ArtifactKind.AWS_POD_IDENTITY_ASSOCIATIONS)
    if not r.pod_identity:
        config["iam"] = {"withOIDC": True}
    else:  # no OIDC provider: EKS Pod Identity does not use one
        config["addons"] = [{"name": POD_IDENTITY_ADDON}]
        if associations is not None:
            config["iam"] = {"podIdentityAssociations": associations.content["associations"]}
    config["cloudWatch"] = {"clusterLogging": {"enableTypes": list(c.logging)}}
    managed = [_node_group(g, c.name) for g in c.node_groups if g.managed]
    unmanaged = [_node_group(g, c.name) for g in c.node_groups if not g.managed]
    if managed:
        config["managedNodeGroups"] = managed
    if unmanaged:
        config["nodeGroups"] = unmanaged
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.EKSCTL_CLUSTER,
            format="yaml",
            content=config,
            live=r.cluster_target,
        )
    ]
