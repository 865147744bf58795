"""AWS names: partitions, ARNs and the EKS OIDC provider, built one way only."""

from __future__ import annotations

from urllib.parse import urlparse

STS_AUDIENCE = "sts.amazonaws.com"  # the `aud` of IRSA tokens; the OIDC provider's client id
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"  # the service EKS Pod Identity assumes roles as
POD_IDENTITY_ADDON = "eks-pod-identity-agent"  # the add-on that serves pods their credentials


def partition_for(region: str) -> str:
    """The ARN partition a region belongs to."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn(service: str, resource: str, *, partition: str, region: str = "", account: str = "") -> str:
    """`arn:<partition>:<service>:<region>:<account>:<resource>`; never f-string an ARN elsewhere."""
    if partition not in ("aws", "aws-cn", "aws-us-gov"):
        raise ValueError(f"unknown partition {partition!r}")
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def s3_bucket_arn(bucket: str, partition: str) -> str:
    return arn("s3", bucket, partition=partition)


def s3_objects_arn(bucket: str, prefix: str, partition: str) -> str:
    """The ARN of every object under `prefix/` in `bucket`."""
    return arn("s3", f"{bucket}/{prefix}/*", partition=partition)


def role_arn(account: str, name: str, partition: str) -> str:
    return arn("iam", f"role/{name}", partition=partition, account=account)


def policy_arn(account: str, name: str, partition: str) -> str:
    return arn("iam", f"policy/{name}", partition=partition, account=account)


def eks_cluster_arn(account: str, region: str, name: str, partition: str) -> str:
    return arn("eks", f"cluster/{name}", partition=partition, region=region, account=account)


def issuer_host(issuer: str) -> str:
    """`oidc.eks.<region>.amazonaws.com/id/<ID>`: the issuer without its scheme."""
    parsed = urlparse(issuer)
    return f"{parsed.netloc}{parsed.path}".rstrip("/")


def issuer_region(issuer: str) -> str | None:
    """The region an EKS OIDC issuer URL names, or None if it is not an EKS issuer."""
    parts = urlparse(issuer).netloc.split(".")
    if len(parts) >= 4 and parts[0] == "oidc" and parts[1] == "eks":
        return parts[2]
    return None


def oidc_provider_arn(account: str, issuer: str, partition: str) -> str:
    return arn("iam", f"oidc-provider/{issuer_host(issuer)}", partition=partition, account=account)


def service_account_subject(namespace: str, name: str) -> str:
    """The `sub` claim of a projected service account token."""
    return f"system:serviceaccount:{namespace}:{name}"
