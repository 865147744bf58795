"""Rules about cloud locations: AWS regions per partition, GCP regions and zones."""

from __future__ import annotations

from collections.abc import Iterator

from airspec.aws import issuer_region
from airspec.codes import UNKNOWN_LOCATION, make, rule
from airspec.diagnostics import Diagnostic
from airspec.regions import (
    SPEC_FIELDS,
    SUPPORTED_PARTITIONS,
    Unknown,
    aws_dns_suffix,
    aws_regions,
    check_aws_region,
    check_gcp_location,
    check_gcp_region,
)
from airspec.rules.context import RuleContext

_CHECKS = {
    SPEC_FIELDS[0]: check_aws_region,
    SPEC_FIELDS[1]: check_gcp_region,
    SPEC_FIELDS[2]: check_gcp_location,
}


@rule(UNKNOWN_LOCATION, "unknown-location", phase="raw")
def locations_known(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A region or zone the cloud does not have, or one of another AWS partition.

    `cloud.aws.region` must be a region of the AWS partitions airspec builds ARNs for
    (`aws`, `aws-cn`, `aws-us-gov`); `cloud.gcp.region` a GCP region; `cloud.gcp.cluster.location`
    a GCP region or one of its zones. A typo (`eu-centrl-1`, `EU-Central-1`) would flow into
    every ARN, endpoint and command, so it is refused with the closest known names (compared
    case-insensitively). Within one AWS spec the partition must agree: an
    `astro.logReaderRoleArn` or an OIDC issuer of another partition than the region's is
    refused too.

    The lists are vendored in the package (`airspec/regions.json`): AWS regions per partition
    from botocore's `data/partitions.json` (the locked botocore), GCP zones from Google Cloud's
    "Regions and zones" page. `scripts/refresh_regions.py` refreshes them; a region newer than
    the list is refused until then.
    """
    for path, check in _CHECKS.items():
        value = ctx.raw_at(path)
        if not isinstance(value, str):
            continue  # absent, or a type error the schema reports
        problem: Unknown | None = check(value)
        if problem is not None:
            yield make(UNKNOWN_LOCATION, ctx.at(*path), problem.message, problem.hint)
    yield from _partition_agrees(ctx)


def _partition_agrees(ctx: RuleContext) -> Iterator[Diagnostic]:
    region = ctx.raw_at(("cloud", "aws", "region"))
    partition = aws_regions().get(region) if isinstance(region, str) else None
    if partition not in SUPPORTED_PARTITIONS:
        return  # unknown, or refused above
    arn = ctx.raw_at(("deployment", "astro", "logReaderRoleArn"))
    if isinstance(arn, str) and arn.startswith("arn:") and arn.split(":")[1] != partition:
        yield make(
            UNKNOWN_LOCATION,
            ctx.at("deployment", "astro", "logReaderRoleArn"),
            f"the role is in the AWS partition '{arn.split(':')[1]}', but region '{region}' "
            f"is in '{partition}'",
            f"a role of the spec's partition begins with 'arn:{partition}:iam::'",
        )
    issuer = ctx.raw_at(("cloud", "aws", "cluster", "oidcIssuer"))
    if isinstance(issuer, str) and issuer_region(issuer) is not None:
        suffix = aws_dns_suffix(partition)
        host = issuer.split("://", 1)[-1].split("/", 1)[0]
        if not host.endswith("." + suffix):
            yield make(
                UNKNOWN_LOCATION,
                ctx.at("cloud", "aws", "cluster", "oidcIssuer"),
                f"the OIDC issuer's host '{host}' is not in the '{partition}' partition's "
                f"domain '{suffix}'",
                "copy the issuer of this cluster: aws eks describe-cluster --name NAME "
                f"--region {region} --query cluster.identity.oidc.issuer --output text",
            )
