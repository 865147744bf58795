"""Lower the service accounts with cloud access to EKS Pod Identity associations.

With `cloud.aws.identity: pod-identity` a pod gets the role because EKS holds an association
(cluster, namespace, service account) -> role, served by the `eks-pod-identity-agent` add-on;
no OIDC provider and no service account annotation are involved. One association per service
account that needs the role, none for the others. The eksctl cluster file creates them with
the cluster; for a cluster managed elsewhere the runbook creates them with the AWS CLI; `apply`
compares them with `eks:ListPodIdentityAssociations` / `DescribePodIdentityAssociation`.
"""

from __future__ import annotations

from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.aws import POD_IDENTITY_ADDON
from airspec.resolved import ResolvedSpec

PATH = "aws/pod-identity-associations.json"


def pod_identity_associations(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws/pod-identity-associations.json, in eksctl's `iam.podIdentityAssociations` shape."""
    if not r.pod_identity or not r.identities:
        return []
    c = r.aws.cluster
    associations = [
        {"namespace": sa.namespace, "serviceAccountName": sa.name, "roleARN": r.role_arn}
        for sa in sorted(r.identities, key=lambda sa: sa.name)
    ]
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.AWS_POD_IDENTITY_ASSOCIATIONS,
            format="json",
            content={
                "cluster": c.name,
                "region": r.aws.region,
                "addon": POD_IDENTITY_ADDON,
                "associations": associations,
            },
            live=LiveTarget(Service.EKS, "pod-identity-associations", c.name, r.aws.region),
        )
    ]
