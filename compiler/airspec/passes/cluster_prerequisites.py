"""Lower a cluster that exists and is managed elsewhere to what airspec relies on it having.

A cluster block without node groups (EKS) or node pools (GKE) is not created by airspec, so
no eksctl file or `gcp/cluster.json` is written. What the identity wiring still needs from that
cluster is written down instead, for review and for `apply` to compare live: on EKS, the
cluster's OIDC issuer (IRSA trusts it); on GKE, the workload pool `<project>.svc.id.goog`.
"""

from __future__ import annotations

from typing import Any

from airspec import aws, gcp
from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec

AWS_PATH = "aws/cluster-prerequisites.json"
GCP_PATH = "gcp/cluster-prerequisites.json"


def cluster_prerequisites(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws|gcp/cluster-prerequisites.json for a cluster airspec does not create."""
    if not r.cluster_exists:
        return []
    if r.spec.cloud.aws is not None:
        c = r.aws.cluster
        content: dict[str, Any] = {
            "cluster": c.name,
            "region": r.aws.region,
            "kubernetesVersion": c.kubernetes_version,
        }
        if r.oidc_issuer is not None:
            content["oidcIssuer"] = r.oidc_issuer
            content["oidcProvider"] = aws.oidc_provider_arn(
                r.aws.account_id, r.oidc_issuer, r.partition
            )
        return [
            Artifact(
                path=AWS_PATH,
                kind=ArtifactKind.AWS_CLUSTER_PREREQUISITES,
                format="json",
                content=content,
                live=r.cluster_target,
            )
        ]
    g = r.gcp
    return [
        Artifact(
            path=GCP_PATH,
            kind=ArtifactKind.GCP_CLUSTER_PREREQUISITES,
            format="json",
            content={
                "name": g.cluster.name,
                "location": g.cluster.location,
                "project": g.project,
                "workloadIdentityConfig": {"workloadPool": gcp.workload_pool(g.project)},
            },
            live=r.cluster_target,
        )
    ]
