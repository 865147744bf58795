"""Lower the service accounts with cloud access to the role's trust policy.

IRSA: exact subjects with StringEquals and the `aud` pinned to STS, so only the named service
accounts of the named namespace can assume the role (the hand-written template trusted
`system:serviceaccount:*:*`, i.e. every pod of the cluster).

EKS Pod Identity: the EKS service principal `pods.eks.amazonaws.com` assumes the role with
`sts:AssumeRole` and tags the session (`sts:TagSession`) with the pod's cluster, namespace and
service account. Without conditions any Pod Identity association in the account could use the
role, so the statement pins `aws:SourceAccount` and the session tags `eks-cluster-arn` (the
cluster, with its account and region), `kubernetes-namespace` and `kubernetes-service-account`
(Amazon EKS User Guide, "Create IAM role with trust policy required by EKS Pod Identity" and
"Enable or disable session tags": EKS adds these tags to every session unless an association
disables them, which airspec never does). The cluster is pinned by its session tag rather than
`aws:SourceArn`, which the guide does not document for this principal: a condition on a key
the request lacks would refuse every pod.
"""

from __future__ import annotations

from airspec import aws
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.aws import POD_IDENTITY_PRINCIPAL, STS_AUDIENCE
from airspec.iam import Statement, document
from airspec.resolved import ResolvedSpec

PATH = "aws/trust-policy.json"


def _one_or_list(values: list[str]) -> str | list[str]:
    return values if len(values) > 1 else values[0]


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
                f"{host}:sub": _one_or_list(subjects),
            }
        },
    )


def pod_identity_statement(r: ResolvedSpec) -> Statement:
    return Statement(
        sid="PodIdentityAssumeRole",
        actions=("sts:AssumeRole", "sts:TagSession"),
        principal={"Service": POD_IDENTITY_PRINCIPAL},
        conditions={
            "StringEquals": {
                "aws:SourceAccount": r.aws.account_id,
                "aws:RequestTag/eks-cluster-arn": r.cluster_arn,
                "aws:RequestTag/kubernetes-namespace": r.namespace,
                "aws:RequestTag/kubernetes-service-account": _one_or_list(
                    sorted(sa.name for sa in r.identities)
                ),
            },
        },
    )


def trust_policy(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws/trust-policy.json; with IRSA not written while the OIDC issuer is unknown (AS210)."""
    if r.spec.cloud.aws is None or not r.identities:
        return []
    if r.pod_identity:
        statement = pod_identity_statement(r)
    elif r.oidc_issuer is not None:
        statement = trust_statement(r, r.oidc_issuer)
    else:
        return []
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.AWS_TRUST_POLICY,
            format="json",
            content=document([statement]),
            live=LiveTarget(Service.IAM, "role", r.role_arn),
        )
    ]
