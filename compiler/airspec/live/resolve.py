"""`airspec resolve`: read live-only values (the OIDC issuer) and record them in the lock file."""

from __future__ import annotations

from airspec.aws import issuer_region
from airspec.frontend import Checked
from airspec.lock import ISSUER_KEY, lock_path, read_lock, write_lock


class LiveError(Exception):
    """A live read failed; the message names the resource and what to do."""


def describe_cluster_issuer(name: str, region: str) -> str:
    """The OIDC issuer of an EKS cluster, read with eks:DescribeCluster."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        client = boto3.client("eks", region_name=region)
        cluster = client.describe_cluster(name=name)["cluster"]
    except NoCredentialsError:
        raise LiveError("no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise LiveError(
                f"EKS cluster '{name}' not found in {region}; create it first "
                "(eksctl create cluster -f out/<name>/eksctl/cluster.yaml)"
            ) from None
        raise LiveError(f"eks:DescribeCluster {name} ({region}) failed: {code or exc}") from None
    except BotoCoreError as exc:
        raise LiveError(f"eks:DescribeCluster {name} ({region}) failed: {exc}") from None
    issuer = cluster.get("identity", {}).get("oidc", {}).get("issuer")
    if not issuer:
        raise LiveError(f"EKS cluster '{name}' has no OIDC issuer yet; wait until it is ACTIVE")
    return str(issuer)


def resolve_lock(checked: Checked) -> str:
    """Write the lock file for an AWS spec; returns a one-line summary."""
    spec = checked.spec
    if spec is None or spec.cloud.aws is None:
        raise LiveError("resolve records AWS live values; this spec has no cloud.aws")
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
