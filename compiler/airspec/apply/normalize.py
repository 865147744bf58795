"""Per-kind normal forms: two documents a service treats as the same normalize equal.

IAM: URL-encoded JSON is decoded; a string equals a one-element list; Statement, Action,
Resource, Principal and condition values are unordered; Effect is case-insensitive; condition
keys are case-insensitive (kept lowercase); a bare account id in a Principal equals its
`:root` ARN. Statements are keyed by Sid (a statement without one by a hash of its content),
so differences are reported at a stable path.
Kubernetes: server-owned metadata (managedFields, resourceVersion, uid, ...), status, and
defaults the API server adds (Namespace finalizers, the `kubernetes.io/metadata.name` label)
are dropped.
GCP IAM: member types and emails are case-insensitive; members and bindings are unordered;
a binding is keyed by its role and its condition expression.
EKS, GKE, S3, OIDC provider, attachments, service-account identity: each normal form is one
function below, built from the compiled artifact by `*_of_artifact` and from the API's
answer by `*_of_api`, so the two sides cannot disagree on its shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_STATEMENT_LISTS = ("Action", "NotAction", "Resource", "NotResource")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def iam_text(value: Any) -> str:
    """A policy value as IAM reads it: IAM compares strings, so a JSON `true` is "true" and
    `100`, `100.0` and "100" are the same number (as hashicorp/awspolicyequivalence decides)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def iam_document(doc: Any, partition: str = "aws") -> dict[str, Any]:
    """The normal form of an IAM policy document (a dict, JSON text or URL-encoded JSON)."""
    if isinstance(doc, str):
        text = doc.strip()
        if not text.startswith("{"):
            text = unquote(text)
        doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("an IAM policy document is a JSON object")
    statements: dict[str, Any] = {}
    for raw in _as_list(doc.get("Statement", [])):
        st = _statement(raw, partition)
        sid = raw.get("Sid") if isinstance(raw, dict) else None
        key = sid if isinstance(sid, str) and sid else "~" + _digest(st)
        while key in statements:  # a repeated Sid: keep both, distinctly
            key += "'"
        statements[key] = st
    return {"Version": doc.get("Version", "2008-10-17"), "Statement": statements}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


def _principal(value: Any, partition: str) -> Any:
    if value == "*" or not isinstance(value, dict):
        return {"*": ["*"]} if value == "*" else value
    out: dict[str, list[str]] = {}
    for kind, ids in value.items():
        norm = []
        for p in _as_list(ids):
            if kind == "AWS" and isinstance(p, str) and _ACCOUNT_ID.match(p):
                p = f"arn:{partition}:iam::{p}:root"
            norm.append(p)
        out[kind] = sorted(set(norm))
    return out


def _statement(raw: Any, partition: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError("an IAM statement is a JSON object")
    st: dict[str, Any] = {"Effect": str(raw.get("Effect", "")).capitalize()}
    for key in _STATEMENT_LISTS:
        if key in raw:
            st[key] = sorted({iam_text(v) for v in _as_list(raw[key])})
    for key in ("Principal", "NotPrincipal"):
        if key in raw:
            st[key] = _principal(raw[key], partition)
    if raw.get("Condition"):
        cond: dict[str, dict[str, list[str]]] = {}
        for op, kv in raw["Condition"].items():
            for ckey, values in kv.items():
                cond.setdefault(op, {})[ckey.lower()] = sorted(
                    {iam_text(v) for v in _as_list(values)}
                )
        st["Condition"] = cond
    return st


def k8s_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object without what the server owns or defaults."""
    out = {k: v for k, v in obj.items() if k not in ("status",) and v is not None}
    meta = dict(out.get("metadata") or {})
    for key in (
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "selfLink",
        "deletionTimestamp",
        "ownerReferences",
    ):
        meta.pop(key, None)
    labels = {
        k: v for k, v in (meta.get("labels") or {}).items() if k != "kubernetes.io/metadata.name"
    }
    annotations = {  # kubectl's record, and the owner apply writes (not in manifests)
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
        and k not in ("airspec.io/owner", "airspec.io/spec")
    }
    meta = {k: v for k, v in meta.items() if v is not None and k not in ("labels", "annotations")}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    out["metadata"] = meta
    if out.get("kind") == "Namespace":
        spec = dict(out.get("spec") or {})
        if spec.get("finalizers") == ["kubernetes"]:
            spec.pop("finalizers")
        if spec:
            out["spec"] = spec
        else:
            out.pop("spec", None)
    return out


def member_key(member: str) -> str:
    """An IAM member as IAM compares it: the identifier after the type is case-insensitive."""
    kind, _, ident = member.partition(":")
    return f"{kind}:{ident.lower()}" if ident else member  # `allUsers` is spelt one way


def spec_grants(
    bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: frozenset[str],
    *,
    owned: bool = False,
    others: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:
    """The live grants that concern one spec: every grant to its own members, and anyone
    riding on a binding it writes (same role and condition expression as a compiled one) -
    on a resource it owns (its GSA) any such binding, on a shared one (a bucket, the
    project) a conditional one, whose expression names this spec's prefixes: an
    unconditional binding of a role is one per resource, shared by every spec granting it.
    There, a Google service account (another spec's, whose identical condition means the
    same prefixes) is not taken for a rider; people, groups, `allUsers`, Kubernetes
    principals are. `others`: the members of the other specs of this run, never riders."""
    mine = {member_key(m) for m in ours}
    theirs = {member_key(m) for m in others} - mine
    project_gsa = re.compile(r"^serviceaccount:[^@]+@[^.]+\.iam\.gserviceaccount\.com$", re.I)
    slots = {
        (b["role"], (b.get("condition") or {}).get("expression", ""))
        for b in compiled
        if owned or b.get("condition")
    }
    out = []
    for b in bindings:
        slot = (b.get("role", ""), (b.get("condition") or {}).get("expression", ""))
        members = [
            m
            for m in b.get("members", [])
            if member_key(m) in mine
            or (
                slot in slots
                and member_key(m) not in theirs
                # on a shared resource, another spec's account sharing this exact condition
                # (the same prefixes) is that spec's grant, not a rider
                and (owned or not project_gsa.match(m))
            )
        ]
        if members:
            out.append({**b, "members": members})
    return out


def gcp_bindings(bindings: list[dict[str, Any]], roles: set[str] | None = None) -> dict[str, Any]:
    """Bindings as {role: {condition expression or "": sorted members}}; `roles` limits them."""
    out: dict[str, dict[str, list[str]]] = {}
    for b in bindings:
        role = b.get("role", "")
        if roles is not None and role not in roles:
            continue
        expr = (b.get("condition") or {}).get("expression", "")
        members = out.setdefault(role, {}).setdefault(expr, [])
        members.extend(member_key(m) for m in b.get("members", []))
    return {
        role: {expr: sorted(set(ms)) for expr, ms in conds.items()} for role, conds in out.items()
    }


def _grant_set(st: dict[str, Any]) -> set[str]:
    return {
        f"{k}:{v}"
        for k in ("Action", "NotAction", "Resource", "NotResource")
        for v in st.get(k, [])
    }


def align_statements(compiled: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """Give live statements without a Sid the key of the compiled statement they most resemble.

    Statements without a Sid are keyed by a hash of their content, so any change would
    re-key them and read as "removed + added". Pairing each by the largest overlap of
    actions and resources (same Effect) reports the change inside the statement instead.
    """
    want = {k: v for k, v in compiled["Statement"].items() if k.startswith("~")}
    have = {k: v for k, v in live["Statement"].items() if k.startswith("~") and k not in want}
    renamed = dict(live["Statement"])
    free = {k: v for k, v in want.items() if k not in live["Statement"]}
    for key, st in sorted(have.items()):
        best, score = None, 0.0
        for ckey, cst in sorted(free.items()):
            if cst.get("Effect") != st.get("Effect"):
                continue
            a, b = _grant_set(cst), _grant_set(st)
            overlap = len(a & b) / max(len(a | b), 1)
            if overlap > score:
                best, score = ckey, overlap
        if best is not None:
            renamed[best] = renamed.pop(key)
            free.pop(best)
    return {**live, "Statement": renamed}


# --- EKS ---------------------------------------------------------------------------------------


def eks_cluster(*, version: Any, oidc_issuer: str | None, logging: list[str]) -> dict[str, Any]:
    """An EKS cluster airspec creates: its version, OIDC issuer and control-plane log types."""
    return {"version": version, "oidcIssuer": oidc_issuer, "logging": sorted(logging)}


def eks_cluster_of_artifact(cfg: dict[str, Any], oidc_issuer: str | None) -> dict[str, Any]:
    """From an eksctl ClusterConfig; the issuer is known only once the cluster exists."""
    return eks_cluster(
        version=cfg["metadata"]["version"],
        oidc_issuer=oidc_issuer,
        logging=list(cfg["cloudWatch"]["clusterLogging"]["enableTypes"]),
    )


def eks_cluster_of_api(cluster: dict[str, Any], *, issuer_pinned: bool) -> dict[str, Any]:
    """From `eks:DescribeCluster`'s `cluster`; the issuer is compared only once pinned."""
    logging = [
        t
        for entry in cluster.get("logging", {}).get("clusterLogging", [])
        if entry.get("enabled")
        for t in entry.get("types", [])
    ]
    issuer = cluster.get("identity", {}).get("oidc", {}).get("issuer") if issuer_pinned else None
    return eks_cluster(version=cluster.get("version"), oidc_issuer=issuer, logging=logging)


def eks_issuer(oidc_issuer: str | None) -> dict[str, Any]:
    """A cluster managed elsewhere: only the issuer IRSA trusts is compared."""
    return {"oidcIssuer": oidc_issuer}


def eks_issuer_of_api(cluster: dict[str, Any], *, issuer_pinned: bool) -> dict[str, Any]:
    return eks_issuer(eks_cluster_of_api(cluster, issuer_pinned=issuer_pinned)["oidcIssuer"])


def eks_addon(name: str) -> dict[str, Any]:
    return {"addon": name}


def eks_addon_of_api(got: dict[str, Any]) -> dict[str, Any]:
    """From `eks:DescribeAddon`'s `addon`."""
    return eks_addon(got.get("addonName", ""))


def pod_identity_associations(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Service account (`namespace/name`) -> role ARN: EKS holds one association per service
    account and cluster."""
    return {
        "associations": {
            f"{a['namespace']}/{a['serviceAccountName']}": a["roleARN"]
            for a in sorted(items, key=lambda a: (a["namespace"], a["serviceAccountName"]))
        }
    }


def pod_identity_associations_of_api(
    got: list[dict[str, Any]], *, accounts: frozenset[str], role: str
) -> dict[str, Any]:
    """From described associations: those of the spec's service accounts, and any other one
    that hands out the role."""
    return pod_identity_associations(
        [
            {
                "namespace": a.get("namespace", ""),
                "serviceAccountName": a.get("serviceAccount", ""),
                "roleARN": a.get("roleArn", ""),
            }
            for a in got
            if a.get("serviceAccount") in accounts or a.get("roleArn") == role
        ]
    )


def eks_nodegroup(
    *,
    instance_types: list[str],
    min_size: Any,
    max_size: Any,
    desired_size: Any,
    labels: dict[str, str],
) -> dict[str, Any]:
    return {
        "instanceTypes": sorted(instance_types),
        "minSize": min_size,
        "maxSize": max_size,
        "desiredSize": desired_size,
        "labels": dict(sorted(labels.items())),
    }


def eks_nodegroup_of_artifact(group: dict[str, Any]) -> dict[str, Any]:
    """From one of an eksctl file's `managedNodeGroups`."""
    return eks_nodegroup(
        instance_types=[group["instanceType"]],
        min_size=group["minSize"],
        max_size=group["maxSize"],
        desired_size=group["desiredCapacity"],
        labels=group.get("labels", {}),
    )


def eks_nodegroup_of_api(nodegroup: dict[str, Any]) -> dict[str, Any]:
    """From `eks:DescribeNodegroup`'s `nodegroup`."""
    scaling = nodegroup.get("scalingConfig", {})
    return eks_nodegroup(
        instance_types=nodegroup.get("instanceTypes") or [],
        min_size=scaling.get("minSize"),
        max_size=scaling.get("maxSize"),
        desired_size=scaling.get("desiredSize"),
        labels=nodegroup.get("labels") or {},
    )


# --- IAM objects around the policies ------------------------------------------------------------


def oidc_provider(client_ids: list[str]) -> dict[str, Any]:
    return {"ClientIDList": sorted(client_ids)}


def oidc_provider_of_api(got: dict[str, Any]) -> dict[str, Any]:
    """From `iam:GetOpenIDConnectProvider`."""
    return oidc_provider(list(got.get("ClientIDList", [])))


def attached_policies(arns: list[str]) -> dict[str, Any]:
    return {"AttachedPolicies": sorted(arns)}


# --- S3 ------------------------------------------------------------------------------------------


OWNER_RECORDED = "(an owner is recorded)"  # the compiled side when the owner is not known


def s3_bucket(region: str, *, owned: bool = False, owner: str | None = None) -> dict[str, Any]:
    """What a bucket should look like; one the spec owns as apply leaves it."""
    form: dict[str, Any] = {"exists": True, "region": region}
    if owned:
        form |= {
            "publicAccessBlock": dict.fromkeys(_BLOCK_PUBLIC_ACCESS, True),
            "encryption": "on",
            "owner": owner or OWNER_RECORDED,
        }
    return form


_BLOCK_PUBLIC_ACCESS = (
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
)


def s3_bucket_of_api(got: dict[str, Any], owner: str | None = None) -> dict[str, Any]:
    """From `s3:GetBucketLocation` (no constraint is us-east-1, and "EU" is eu-west-1), and
    for an owned bucket GetPublicAccessBlock, GetBucketEncryption (any default rule, SSE-S3
    or KMS, is "on") and GetBucketTagging."""
    region = got.get("LocationConstraint") or "us-east-1"
    form: dict[str, Any] = {"exists": True, "region": "eu-west-1" if region == "EU" else region}
    if "PublicAccessBlock" in got:
        block = got["PublicAccessBlock"] or {}
        form["publicAccessBlock"] = {k: bool(block.get(k)) for k in _BLOCK_PUBLIC_ACCESS}
        form["encryption"] = "on" if got.get("Encryption") else "off"
        recorded = (got.get("Tags") or {}).get("airspec.io/owner")
        if owner is None and recorded:
            recorded = OWNER_RECORDED
        form["owner"] = recorded or "(none)"
    return form


# --- Kubernetes service accounts -----------------------------------------------------------------


def identity_annotation(key: str, value: str | None) -> dict[str, Any]:
    """The cloud identity annotation of a service account: present with `value`, or absent."""
    return {"annotations": {key: value} if value is not None else {}}


def identity_annotation_of_api(service_account: dict[str, Any], key: str) -> dict[str, Any]:
    annotations = (service_account.get("metadata") or {}).get("annotations") or {}
    return identity_annotation(key, annotations.get(key))


# --- GKE -----------------------------------------------------------------------------------------


def gke_node_pool(
    *, machine_type: Any, workload_metadata_mode: Any, autoscaling: dict[str, Any]
) -> dict[str, Any]:
    return {
        "machineType": machine_type,
        "workloadMetadataMode": workload_metadata_mode,
        "autoscaling": {
            "enabled": bool(autoscaling.get("enabled", False)),
            "minNodeCount": autoscaling.get("minNodeCount", 0),
            "maxNodeCount": autoscaling.get("maxNodeCount", 0),
        },
    }


def gke_cluster(workload_pool: Any, node_pools: dict[str, Any]) -> dict[str, Any]:
    return {"workloadPool": workload_pool, "nodePools": node_pools}


def _pools(pools: list[dict[str, Any]]) -> dict[str, Any]:
    """Node pools as the GKE API and gcp/cluster.json both write them."""
    return {
        p["name"]: gke_node_pool(
            machine_type=p.get("config", {}).get("machineType"),
            workload_metadata_mode=p.get("config", {})
            .get("workloadMetadataConfig", {})
            .get("mode"),
            autoscaling=p.get("autoscaling", {}),
        )
        for p in pools
    }


def gke_cluster_of_artifact(cfg: dict[str, Any]) -> dict[str, Any]:
    """From gcp/cluster.json (the clusters.create body)."""
    return gke_cluster(cfg["workloadIdentityConfig"]["workloadPool"], _pools(cfg["nodePools"]))


def gke_cluster_of_api(got: dict[str, Any]) -> dict[str, Any]:
    """From `clusters.get`."""
    pool = got.get("workloadIdentityConfig", {}).get("workloadPool")
    return gke_cluster(pool, _pools(got.get("nodePools", [])))


def gke_workload_pool(workload_pool: Any) -> dict[str, Any]:
    """A cluster managed elsewhere: only its workload pool is compared, not its node pools."""
    return {"workloadPool": workload_pool}


def gke_workload_pool_of_api(got: dict[str, Any]) -> dict[str, Any]:
    return gke_workload_pool(got.get("workloadIdentityConfig", {}).get("workloadPool"))
