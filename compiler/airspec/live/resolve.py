"""`airspec resolve`: read live-only values (the OIDC issuer) and record them in the lock file."""

from __future__ import annotations

from airspec.aws import issuer_region
from airspec.frontend import Checked
from airspec.live import readers
from airspec.lock import ISSUER_KEY, lock_path, read_lock, write_lock


class LiveError(Exception):
    """A live read failed; the message names the resource and what to do."""


def describe_cluster_issuer(name: str, region: str) -> str:
    """The OIDC issuer of an EKS cluster, read with eks:DescribeCluster (the same reader,
    client settings and error mapping as `apply --dry-run`)."""
    try:
        cluster = readers.eks_cluster(readers.Clients(region=region), name, region)
    except readers.ReadError as exc:
        raise LiveError(f"{exc} ({region})") from None
    if cluster is None:
        raise LiveError(
            f"EKS cluster '{name}' not found in {region}; create it first "
            "(eksctl create cluster -f out/<name>/eksctl/cluster.yaml)"
        )
    issuer = cluster.get("identity", {}).get("oidc", {}).get("issuer")
    if not issuer:
        raise LiveError(f"EKS cluster '{name}' has no OIDC issuer yet; wait until it is ACTIVE")
    return str(issuer)


def resolve_lock(checked: Checked) -> str:
    """Write the lock file for an AWS spec; returns a one-line summary."""
    spec = checked.spec
    if spec is None or spec.cloud.aws is None:
        raise LiveError("resolve records AWS live values; this spec has no cloud.aws")
    if spec.cloud.aws.identity == "pod-identity":
        return (
            "nothing to resolve: with identity: pod-identity the trust policy names no OIDC "
            "issuer, so 'airspec compile' needs no live value"
        )
    cluster = spec.cloud.aws.cluster
    region = spec.cloud.aws.region
    live = describe_cluster_issuer(cluster.name, region)
    if issuer_region(live) != region:
        raise LiveError(f"cluster '{cluster.name}' reports issuer {live}, outside {region}")
    if cluster.oidc_issuer and cluster.oidc_issuer != live:
        raise LiveError(
            f"the spec pins oidcIssuer {cluster.oidc_issuer}, but cluster '{cluster.name}' has {live}; "
            "fix the spec (or remove the field to use the lock file)"
        )
    current, _ = read_lock(checked.path, cluster.name)
    if current.get(ISSUER_KEY) == live:
        return f"{lock_path(checked.path)} is up to date"
    path = write_lock(
        checked.path,
        cluster.name,
        {ISSUER_KEY: live},
        {ISSUER_KEY: f"eks:DescribeCluster {cluster.name} ({region})"},
    )
    return f"wrote {path}"
