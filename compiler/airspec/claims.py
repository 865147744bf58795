"""Live objects a spec claims for itself alone, so that two specs compiled (or applied)
together never name the same one (AS225).

Two specs that write the same IAM role, policy, owned bucket, Google service account, binding
slot, Kubernetes service account, namespace or Helm release would undo each other on every
apply; this is refused before anything is read. Objects that are *shared* by design (the
cluster's OIDC provider, the cluster itself, a bucket the spec does not own) are not claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from airspec import aws as awsnames
from airspec import gcp as gcpnames
from airspec.artifact import Artifact, ArtifactKind
from airspec.resolved import ResolvedSpec

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Claim:
    key: tuple[str, ...]  # what is claimed, compared across specs
    what: str  # as a person reads it
    path: PathKey  # the spec field that names it


def _cluster(r: ResolvedSpec) -> tuple[str, ...]:
    if r.spec.cloud.aws is not None:
        a = r.aws
        return ("eks", a.account_id, a.region, a.cluster.name)
    g = r.gcp
    return ("gke", g.project, g.cluster.location, g.cluster.name)


def claims(r: ResolvedSpec, artifacts: tuple[Artifact, ...]) -> list[Claim]:
    """Everything `r` claims, each with the spec field that names it."""
    out: list[Claim] = []
    cluster = _cluster(r)
    where = f"{cluster[0].upper()} cluster {cluster[-1]}"
    if r.spec.cloud.aws is not None:
        a = r.aws
        # IAM names are unique in an account whatever their case (IAM API Reference,
        # CreateRole: "Names are not distinguished by case"): claims compare lowercase
        role_path: PathKey = ("cloud", "aws", "role", "name")
        out.append(Claim(("iam-role", r.role_arn.lower()), f"IAM role {a.role.name}", role_path))
        policy_path: PathKey = ("cloud", "aws", "role", "policyName")
        out.append(
            Claim(
                ("iam-policy", r.policy_arn.lower()),
                f"IAM policy {a.role.policy_name}",
                policy_path,
            )
        )
        if any(x.kind is ArtifactKind.AWS_LOG_READER_TRUST_POLICY for x in artifacts):
            reader_arn = awsnames.role_arn(a.account_id, r.log_reader_role, r.partition)
            out.append(
                Claim(
                    ("iam-role", reader_arn.lower()),
                    f"IAM role {r.log_reader_role} (the log reader)",
                    role_path,
                )
            )
    else:
        g = r.gcp
        out.append(
            Claim(
                ("gsa", g.project, r.gsa_email),
                f"Google service account {r.gsa_email}",
                ("cloud", "gcp", "serviceAccount"),
            )
        )
        bindings = next((x for x in artifacts if x.kind is ArtifactKind.GCP_IAM_BINDINGS), None)
        for res in [] if bindings is None else bindings.content["resources"]:
            for b in res["bindings"]:
                expr = (b.get("condition") or {}).get("expression", "")
                for m in b["members"]:
                    out.append(
                        Claim(
                            ("binding", res["resource"], b["role"], expr, m.lower()),
                            f"the grant of {b['role']} to {m} on {res['resource']}",
                            ("cloud", "gcp", "serviceAccount"),
                        )
                    )
    for i, bucket in enumerate(r.spec.buckets):
        if bucket.owned:
            out.append(
                Claim(("bucket", bucket.name), f"owned bucket {bucket.name}", ("buckets", i, "name"))
            )
    ns_path: PathKey = ("deployment", "namespace")
    for sa in r.service_accounts:
        out.append(
            Claim(
                ("serviceaccount", *cluster, sa.namespace, sa.name),
                f"service account {sa.namespace}/{sa.name} on {where}",
                ns_path,
            )
        )
        if r.spec.cloud.gcp is not None and sa.cloud_access:
            # one Workload Identity principal per project, whatever the cluster (GKE docs,
            # "Workload Identity Federation for GKE": identity sameness): two clusters of a
            # project with this namespace and name are one principal
            member = gcpnames.ksa_member(r.gcp.project, sa.namespace, sa.name)
            out.append(
                Claim(
                    ("wi-principal", member),
                    f"the Workload Identity principal {member} (one per project, any cluster)",
                    ns_path,
                )
            )
    if any(x.kind is ArtifactKind.K8S_NAMESPACE for x in artifacts):
        out.append(
            Claim(("namespace", *cluster, r.namespace), f"namespace {r.namespace} on {where}", ns_path)
        )
    if any(x.kind is ArtifactKind.HELM_VALUES for x in artifacts):
        out.append(
            Claim(
                ("helm-release", *cluster, r.namespace, r.helm_release),
                f"Helm release {r.namespace}/{r.helm_release} on {where}",
                ns_path,
            )
        )
    return out
