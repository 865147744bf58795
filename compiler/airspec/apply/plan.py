"""Which live objects to read for a compiled spec, and what each should look like.

One Check per live object the manifest names (plus the objects an artifact implies: the
role's attached policies and OIDC provider, each managed node group, each bucket, each
service account the chart creates). `service` is what `--target` selects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from airspec import aws as awsnames
from airspec.apply import live
from airspec.apply.compare import Broadens, Secret, gcp_broadens, iam_broadens
from airspec.apply.normalize import gcp_bindings, iam_document, k8s_object
from airspec.artifact import Artifact
from airspec.passes.aws_iam_policy import permission_statements
from airspec.resolved import ResolvedSpec

SERVICES = ("iam", "eks", "s3", "kubernetes", "helm", "gke", "gcp-iam")
Reader = Callable[[live.Clients], Any]


@dataclass(frozen=True)
class Check:
    """Read one live object; compare its normal form with the compiled one."""

    artifact: str
    service: str
    target: str
    compiled: Any
    read: Reader  # returns the live normal form, or None when the object does not exist
    broadens: Broadens | None = None
    secret: Secret | None = None
    unordered: bool = False  # the normal form's lists are sets (IAM, GCP bindings)


def _added_broadens(change: str, parts: list[Any], value: Any) -> bool:
    return change in ("dictionary_item_added", "iterable_item_added", "set_item_added")


def _iam(r: ResolvedSpec, a: Artifact, service: str, target: str, read: Reader) -> Check:
    part = r.partition

    def normalized(c: live.Clients) -> Any:
        doc = read(c)
        return None if doc is None else iam_document(doc, part)

    return Check(
        a.path,
        service,
        target,
        iam_document(a.content, part),
        normalized,
        iam_broadens,
        unordered=True,
    )


def _aws_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    if a.kind == "aws.iam-policy":
        return [_iam(r, a, "iam", f"iam/policy/{arn}", lambda c: live.iam_policy_document(c, arn))]
    if a.kind in ("aws.trust-policy", "aws.log-reader-trust-policy"):
        out = [_iam(r, a, "iam", f"iam/role/{arn}", lambda c: live.iam_role_trust(c, arn))]
        if a.kind == "aws.trust-policy":
            # the runbook attaches the permission policy whenever the compile wrote one
            attached = [r.policy_arn] if permission_statements(r) else []
            out.append(
                Check(
                    a.path,
                    "iam",
                    f"iam/role/{arn}#attached-policies",
                    {"AttachedPolicies": sorted(attached)},
                    lambda c: live.iam_role_attachments(c, arn),
                    _added_broadens,
                    unordered=True,
                )
            )
            assert r.oidc_issuer is not None
            provider = awsnames.oidc_provider_arn(r.aws.account_id, r.oidc_issuer, r.partition)
            out.append(
                Check(
                    a.path,
                    "iam",
                    f"iam/oidc-provider/{provider}",
                    {"ClientIDList": ["sts.amazonaws.com"]},
                    lambda c: live.oidc_provider(c, provider),
                    _added_broadens,
                    unordered=True,
                )
            )
        return out
    if a.kind == "aws.log-reader-policy":
        role, name = arn.split("/", 1)
        return [
            _iam(
                r, a, "iam", f"iam/role-policy/{arn}", lambda c: live.iam_role_policy(c, role, name)
            )
        ]
    return []


def _existing_eks_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    """A cluster managed elsewhere: only the issuer IRSA trusts is compared, not its node groups."""
    name, region = a.content["cluster"], a.content["region"]
    issuer = a.content.get("oidcIssuer")

    def cluster(c: live.Clients) -> Any:
        got = live.eks_cluster(c, name, region)
        return None if got is None else {"oidcIssuer": got["oidcIssuer"] if issuer else None}

    return [Check(a.path, "eks", f"eks/cluster/{name}", {"oidcIssuer": issuer}, cluster)]


def _eks_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    if a.kind == "aws.cluster-prerequisites":
        return _existing_eks_checks(r, a)
    cfg, region = a.content, r.aws.region
    name = cfg["metadata"]["name"]
    compiled: dict[str, Any] = {
        "version": cfg["metadata"]["version"],
        "oidcIssuer": r.oidc_issuer,
        "logging": sorted(cfg["cloudWatch"]["clusterLogging"]["enableTypes"]),
    }

    def cluster(c: live.Clients) -> Any:
        got = live.eks_cluster(c, name, region)
        if got is not None and r.oidc_issuer is None:
            got["oidcIssuer"] = None  # not pinned yet: nothing to compare
        return got

    out = [Check(a.path, "eks", f"eks/cluster/{name}", compiled, cluster)]
    for g in cfg.get("managedNodeGroups", []):
        group = g["name"]
        out.append(
            Check(
                a.path,
                "eks",
                f"eks/nodegroup/{name}/{group}",
                {
                    "instanceTypes": [g["instanceType"]],
                    "minSize": g["minSize"],
                    "maxSize": g["maxSize"],
                    "desiredSize": g["desiredCapacity"],
                    "labels": dict(sorted(g.get("labels", {}).items())),
                },
                partial(_nodegroup, cluster=name, group=group, region=region),
            )
        )
    return out


def _nodegroup(c: live.Clients, *, cluster: str, group: str, region: str) -> Any:
    return live.eks_nodegroup(c, cluster, group, region)


def _bucket(c: live.Clients, *, name: str) -> Any:
    return live.s3_bucket(c, name)


def _bucket_checks(r: ResolvedSpec) -> list[Check]:
    if r.spec.cloud.aws is None:
        return []
    region = r.aws.region
    return [
        Check(
            "spec:buckets",
            "s3",
            f"s3/bucket/{b.name}",
            {"exists": True, "region": region},
            partial(_bucket, name=b.name),
        )
        for b in r.spec.buckets
    ]


def _k8s_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    assert a.live is not None
    compiled = k8s_object(a.content)
    ident = a.live.id
    if a.kind == "k8s.namespace":

        def read(c: live.Clients) -> Any:
            got = live.k8s_namespace(c, ident)
            return None if got is None else k8s_object(got)

    else:
        ns, name = ident.split("/", 1)

        def read(c: live.Clients) -> Any:
            got = live.k8s_configmap(c, ns, name)
            return None if got is None else k8s_object(got)

    return [Check(a.path, "kubernetes", f"kubernetes/{a.live.type}/{ident}", compiled, read)]


def _secret_env(values: dict[str, Any]) -> Secret:
    """Values of env vars the compiled values source from Secrets are secret wherever seen
    (in the live release someone may have inlined the value)."""
    names = {
        e["name"]
        for env in [values.get("commonEnv", [])]
        + [w.get("env", []) for w in values.get("workers", [])]
        for e in env
        if "valueFrom" in e
    }

    def in_secret_entry(root: Any, parts: list[Any]) -> bool:
        node = root
        for p in parts:
            if isinstance(node, dict) and node.get("name") in names:
                return True
            try:
                node = node[p]
            except (KeyError, IndexError, TypeError):
                return False
        return isinstance(node, dict) and node.get("name") in names

    def secret(parts: list[Any], compiled: Any, live_root: Any) -> bool:
        if "valueFrom" in parts:
            return False  # a reference to a Secret, not its value
        return in_secret_entry(compiled, parts) or in_secret_entry(live_root, parts)

    return secret


def _helm_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    assert a.live is not None
    ns, release = a.live.id.split("/", 1)
    values = a.content
    secret = _secret_env(values)

    def read(c: live.Clients) -> Any:
        return live.helm_release_values(c, ns, release)

    return [
        Check(a.path, "helm", f"helm/release/{ns}/{release}", values, read, secret=secret),
        *_service_account_checks(r, a.path),
    ]


def _annotation(c: live.Clients, *, ns: str, name: str, key: str) -> Any:
    got = live.k8s_service_account(c, ns, name)
    if got is None:
        return None
    annotations = (got.get("metadata") or {}).get("annotations") or {}
    return {"annotations": {key: annotations[key]} if key in annotations else {}}


def _service_account_checks(r: ResolvedSpec, artifact: str) -> list[Check]:
    """Each service account carries the cloud identity exactly when the spec says so; an
    identity on any other one is a broadening (its pods could act as the role)."""
    key = r.annotation_key
    return [
        Check(
            artifact,
            "kubernetes",
            f"kubernetes/serviceaccount/{sa.namespace}/{sa.name}",
            {"annotations": {key: r.cloud_identity} if sa.cloud_access else {}},
            partial(_annotation, ns=sa.namespace, name=sa.name, key=key),
            _added_broadens,
        )
        for sa in r.service_accounts
    ]


def _gke_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    assert a.live is not None
    cfg = a.content
    name = a.live.id
    if a.kind == "gcp.cluster-prerequisites":  # managed elsewhere: its node pools are not ours
        pool = cfg["workloadIdentityConfig"]["workloadPool"]

        def read(c: live.Clients) -> Any:
            got = live.gke_cluster(c, name)
            return None if got is None else {"workloadPool": got["workloadPool"]}

        return [Check(a.path, "gke", f"gke/cluster/{name}", {"workloadPool": pool}, read)]
    compiled = {
        "workloadPool": cfg["workloadIdentityConfig"]["workloadPool"],
        "nodePools": {
            p["name"]: {
                "machineType": p["config"]["machineType"],
                "workloadMetadataMode": p["config"]["workloadMetadataConfig"]["mode"],
                "autoscaling": p["autoscaling"],
            }
            for p in cfg["nodePools"]
        },
    }
    return [
        Check(a.path, "gke", f"gke/cluster/{name}", compiled, lambda c: live.gke_cluster(c, name))
    ]


def _gcp_iam_checks(r: ResolvedSpec, a: Artifact) -> list[Check]:
    out = []
    for res in a.content["resources"]:
        bindings = res["bindings"]
        roles = {b["role"] for b in bindings}
        kind, resource = res["type"], res["resource"]

        def read(
            c: live.Clients, kind: str = kind, resource: str = resource, roles: set[str] = roles
        ) -> Any:
            policy = live.gcp_policy(c, kind, resource)
            return None if policy is None else gcp_bindings(policy.get("bindings", []), roles)

        out.append(
            Check(
                a.path,
                "gcp-iam",
                f"gcp-iam/{kind}/{resource}",
                gcp_bindings(bindings),
                read,
                gcp_broadens,
                unordered=True,
            )
        )
    return out


# live service named by an artifact -> the checks it implies
PLANNERS: dict[str, Callable[[ResolvedSpec, Artifact], list[Check]]] = {
    "iam": _aws_checks,
    "eks": _eks_checks,
    "kubernetes": _k8s_checks,
    "helm": _helm_checks,
    "gke": _gke_checks,
    "gcp-iam": _gcp_iam_checks,
}


def plan(r: ResolvedSpec, artifacts: tuple[Artifact, ...]) -> list[Check]:
    """Every check for one compiled spec, in artifact order."""
    checks: list[Check] = []
    for a in sorted(artifacts, key=lambda a: a.path):
        if a.live is not None:
            checks += PLANNERS[a.live.service](r, a)
    if r.is_software:  # Houston annotates the platform's service accounts
        checks += _service_account_checks(r, "software/astro-commands.sh")
    return checks + _bucket_checks(r)
