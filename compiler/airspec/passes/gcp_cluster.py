"""Lower `cloud.gcp.cluster` to the GKE settings Workload Identity needs.

The shape is the GKE v1 API `Cluster` resource (projects.locations.clusters), limited to what
airspec decides: the workload pool `<project>.svc.id.goog` on the cluster, and
`workloadMetadataConfig.mode: GKE_METADATA` on every node pool, so pods get their tokens from
the GKE metadata server instead of the node's own service account. `apply` compares these
fields with `clusters.get`.
"""

from __future__ import annotations

from typing import Any

from airspec import gcp
from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.model import NodePool
from airspec.resolved import ResolvedSpec

PATH = "gcp/cluster.json"
GKE_METADATA = "GKE_METADATA"


def node_pool(pool: NodePool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "initialNodeCount": max(pool.min_count, 1),
        "config": {
            "machineType": pool.machine_type,
            "workloadMetadataConfig": {"mode": GKE_METADATA},
        },
        "autoscaling": {
            "enabled": True,
            "minNodeCount": pool.min_count,
            "maxNodeCount": pool.max_count,
        },
    }


def gcp_cluster(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """gcp/cluster.json: the cluster's workload pool and its node pools' metadata mode."""
    if r.spec.cloud.gcp is None or r.cluster_exists:
        return []
    g = r.gcp
    cluster = {
        "name": g.cluster.name,
        "location": g.cluster.location,
        "workloadIdentityConfig": {"workloadPool": gcp.workload_pool(g.project)},
        "nodePools": [node_pool(p) for p in g.cluster.node_pools],
    }
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.GCP_CLUSTER,
            format="json",
            content=cluster,
            live=r.cluster_target,
        )
    ]
