"""Lower the service accounts with cloud access to the role's IRSA trust policy.

Exact subjects with StringEquals and the `aud` pinned to STS: only the named service
accounts of the named namespace can assume the role (the hand-written template trusted
`system:serviceaccount:*:*`, i.e. every pod of the cluster).
"""

from __future__ import annotations

from airspec import aws
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.aws import STS_AUDIENCE
from airspec.iam import Statement, document
from airspec.resolved import ResolvedSpec

PATH = "aws/trust-policy.json"


def trust_statement(r: ResolvedSpec, issuer: str) -> Statement:
    host = aws.issuer_host(issuer)
    subjects = sorted(sa.subject for sa in r.identities)
    return Statement(
        sid="ServiceAccountsAssumeRole",
        actions=("sts:AssumeRoleWithWebIdentity",),
        principal={"Federated": aws.oidc_provider_arn(r.aws.account_id, issuer, r.partition)},
        conditions={
            "StringEquals": {
                f"{host}:aud": STS_AUDIENCE,
                f"{host}:sub": subjects if len(subjects) > 1 else subjects[0],
            }
        },
    )


def trust_policy(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws/trust-policy.json; not written while the OIDC issuer is unknown (AS210)."""
    if r.spec.cloud.aws is None or r.oidc_issuer is None or not r.identities:
        return []
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.AWS_TRUST_POLICY,
            format="json",
            content=document([trust_statement(r, r.oidc_issuer)]),
            live=LiveTarget(Service.IAM, "role", r.role_arn),
        )
    ]
