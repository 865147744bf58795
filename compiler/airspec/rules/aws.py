"""Rules about the AWS block: the cluster's OIDC issuer, node group sizes, SSM parameter paths."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from airspec.aws import issuer_region
from airspec.codes import (
    IDENTITY_MODE,
    ISSUER_REGION,
    ISSUER_UNRESOLVED,
    NODE_GROUP_SIZE,
    SSM_PARAMETER_PATH,
    make,
    rule,
)
from airspec.diagnostics import Diagnostic, Severity
from airspec.lock import effective_issuer
from airspec.platforms import SOFTWARE
from airspec.regions import check_aws_region
from airspec.rules.context import RuleContext


def _issuer(ctx: RuleContext) -> tuple[str | None, str]:
    assert ctx.spec is not None and ctx.spec.cloud.aws is not None
    return effective_issuer(ctx.spec.cloud.aws.cluster.oidc_issuer, ctx.lock)


def _irsa(ctx: RuleContext) -> bool:
    """An AWS spec whose pods get the role through IRSA (the OIDC issuer matters)."""
    assert ctx.spec is not None
    return ctx.spec.cloud.aws is not None and ctx.spec.cloud.aws.identity == "irsa"


@rule(IDENTITY_MODE, "identity-mode")
def identity_mode(ctx: RuleContext) -> Iterator[Diagnostic]:
    """`cloud.aws.identity: pod-identity` where it cannot work, or with a field it ignores.

    - Astronomer Software keeps IRSA (an error): Houston creates each Deployment's service
      accounts and gives them the role by writing the annotation named by
      `serviceAccountAnnotationKey` (`eks.amazonaws.com/role-arn`); nothing in the platform
      creates EKS Pod Identity associations for them, and their names exist only once the
      Deployment does. Remove `identity` (IRSA is the default).
    - `cluster.oidcIssuer` with pod-identity (a warning): EKS Pod Identity uses no OIDC
      provider, so the issuer is not used; remove it, or switch to `identity: irsa`.

    Source: Amazon EKS User Guide, "Learn how EKS Pod Identity grants pods access to AWS
    services" (the agent add-on and associations) and Astronomer Software, "Customize the
    service account annotation for Deployments".
    """
    spec = ctx.spec
    assert spec is not None
    aws = spec.cloud.aws
    if aws is None or aws.identity != "pod-identity":
        return
    if spec.deployment.software is not None or spec.deployment.platform == SOFTWARE:
        yield make(
            IDENTITY_MODE,
            ctx.at("cloud", "aws", "identity"),
            "Astronomer Software gives Deployments the role through IRSA: Houston annotates "
            "the service accounts it creates, and nothing creates EKS Pod Identity "
            "associations for them",
            "remove 'identity: pod-identity' (IRSA is the default)",
        )
    if aws.cluster.oidc_issuer is not None:
        yield make(
            IDENTITY_MODE,
            ctx.at("cloud", "aws", "cluster", "oidcIssuer"),
            "oidcIssuer is not used with identity: pod-identity (EKS Pod Identity needs no "
            "OIDC provider)",
            "remove it, or use identity: irsa",
            Severity.WARNING,
        )


@rule(ISSUER_REGION, "issuer-region-mismatch")
def issuer_matches_region(ctx: RuleContext) -> Iterator[Diagnostic]:
    """The cluster's OIDC issuer names a different region than `cloud.aws.region`.

    An EKS issuer is `https://oidc.eks.<region>.amazonaws.com/id/<ID>`. A mismatch means
    the issuer was copied from another cluster, and the trust policy would trust it.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.cloud.aws is None or not _irsa(ctx):
        return
    issuer, source = _issuer(ctx)
    if issuer is None or check_aws_region(spec.cloud.aws.region) is not None:
        return  # an unknown region is AS230's to report, not the issuer's fault
    found = issuer_region(issuer)
    if found != spec.cloud.aws.region:
        where = (
            ctx.at("cloud", "aws", "cluster", "oidcIssuer")
            if source == "spec"
            else ctx.at("cloud", "aws", "region")
        )
        yield make(
            ISSUER_REGION,
            where,
            f"the OIDC issuer is in region '{found}' but cloud.aws.region is "
            f"'{spec.cloud.aws.region}'"
            + (" (issuer from the lock file)" if source == "lock" else ""),
            "copy the issuer of this cluster: aws eks describe-cluster --name "
            f"{spec.cloud.aws.cluster.name} --region {spec.cloud.aws.region} "
            "--query cluster.identity.oidc.issuer",
        )


@rule(ISSUER_UNRESOLVED, "issuer-unresolved")
def issuer_known(ctx: RuleContext) -> Iterator[Diagnostic]:
    """The cluster's OIDC issuer is neither in the spec nor in the lock file (a warning).

    Without it `compile` writes every artifact except `aws/trust-policy.json` and `GRAPH.md`
    (it never writes a placeholder), and the runbook stops before the IAM role and Helm
    steps. Two ways to give it:

    - paste it: for a cluster that exists (yours or another team's), anyone who may describe
      it can print it, and it goes into the spec as `cloud.aws.cluster.oidcIssuer`:

          aws eks describe-cluster --name CLUSTER --region REGION --query cluster.identity.oidc.issuer --output text

      (`airspec init --existing-cluster --oidc-issuer URL` writes it for you);
    - record it: `airspec resolve SPEC` reads it from the EKS API with your credentials and
      writes it to the lock file beside the spec (`<spec>.lock.json`); for a cluster airspec
      creates, run it after `eksctl create cluster`, then compile again.

    With `cloud.aws.identity: pod-identity` no issuer is needed.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.cloud.aws is None or not _irsa(ctx):
        return
    issuer, _ = _issuer(ctx)
    if issuer is None:
        cluster = shlex.quote(spec.cloud.aws.cluster.name)
        region = shlex.quote(spec.cloud.aws.region)
        yield make(
            ISSUER_UNRESOLVED,
            ctx.at("cloud", "aws", "cluster", key=True),
            "the cluster's OIDC issuer is not known yet; aws/trust-policy.json is not written",
            "paste it as cloud.aws.cluster.oidcIssuer from 'aws eks describe-cluster --name "
            f"{cluster} --region {region} --query cluster.identity.oidc.issuer --output text', "
            "or, once the cluster exists, run 'airspec resolve SPEC' to record it in the lock "
            "file ('airspec explain AS210')",
            Severity.WARNING,
        )


@rule(NODE_GROUP_SIZE, "node-group-size")
def node_group_sizes(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A node group's sizes are out of order: it needs minSize <= desiredCapacity <= maxSize."""
    spec = ctx.spec
    assert spec is not None
    if spec.cloud.aws is None:
        return
    for i, group in enumerate(spec.cloud.aws.cluster.node_groups):
        if not group.min_size <= group.desired_capacity <= group.max_size:
            yield make(
                NODE_GROUP_SIZE,
                ctx.at("cloud", "aws", "cluster", "nodeGroups", i, "desiredCapacity"),
                f"node group '{group.name}': minSize {group.min_size} <= desiredCapacity "
                f"{group.desired_capacity} <= maxSize {group.max_size} does not hold",
                "EKS rejects such a scaling config",
            )


_SSM_SEGMENT = re.compile(r"^[A-Za-z0-9_.-]+$")
SSM_MAX_DEPTH = 15


@rule(SSM_PARAMETER_PATH, "ssm-parameter-path")
def ssm_parameter_paths(ctx: RuleContext) -> Iterator[Diagnostic]:
    """An `aws-ssm` prefix is not a parameter path SSM can hold.

    Airflow's `SystemsManagerParameterStoreBackend` reads the parameter
    `<prefix>/<conn_id>`, and SSM's rules for hierarchical names (PutParameter and
    GetParameter, `Name`) are:

    - "For parameters in a hierarchy, you must include a leading forward slash character (/)
      when you create or reference a parameter", so `airflow/connections` names no parameter
      any lookup can find (every connection would miss, silently): write `/airflow/connections`;
    - names hold only `a-zA-Z0-9_.-` and `/`;
    - a hierarchy has at most 15 levels, so a prefix has at most 14 (the id is the last);
    - a name cannot begin with `aws` or `ssm` (case-insensitive), reserved by AWS.

    Source: AWS Systems Manager API Reference, PutParameter, request parameter `Name`;
    User Guide, "Creating Parameter Store parameters" (naming constraints).
    """
    spec = ctx.spec
    assert spec is not None
    secrets = spec.backends.secrets
    if secrets is None or secrets.type != "aws-ssm":
        return
    for key, value in secrets.prefixes().items():
        where = ctx.at("backends", "secrets", key)
        segments = value.lstrip("/").split("/")
        if not value.startswith("/"):
            yield make(
                SSM_PARAMETER_PATH,
                where,
                f"SSM parameter path '{value}' must begin with '/'",
                f"write '/{value}': hierarchical parameter names begin with '/' and Airflow "
                "reads '<prefix>/<id>'",
            )
        elif bad := sorted({s for s in segments if not _SSM_SEGMENT.match(s)}):
            yield make(
                SSM_PARAMETER_PATH,
                where,
                f"SSM parameter path '{value}' holds characters SSM names cannot: "
                + ", ".join(repr(s) for s in bad),
                "use only letters, digits, '_', '.', '-' between the '/'",
            )
        elif len(segments) > SSM_MAX_DEPTH - 1:
            yield make(
                SSM_PARAMETER_PATH,
                where,
                f"SSM parameter path '{value}' has {len(segments)} levels; with the id "
                f"that makes {len(segments) + 1}, over SSM's limit of {SSM_MAX_DEPTH}",
                f"use at most {SSM_MAX_DEPTH - 1} levels",
            )
        elif segments[0].lower().startswith(("aws", "ssm")):
            yield make(
                SSM_PARAMETER_PATH,
                where,
                f"SSM parameter path '{value}' begins with '{segments[0][:3]}', which AWS reserves",
                "start the path with another name, e.g. '/airflow/...'",
            )
