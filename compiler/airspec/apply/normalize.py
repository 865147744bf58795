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
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import unquote

_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_STATEMENT_LISTS = ("Action", "NotAction", "Resource", "NotResource")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


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
            st[key] = sorted({str(v) for v in _as_list(raw[key])})
    for key in ("Principal", "NotPrincipal"):
        if key in raw:
            st[key] = _principal(raw[key], partition)
    if raw.get("Condition"):
        cond: dict[str, dict[str, list[str]]] = {}
        for op, kv in raw["Condition"].items():
            for ckey, values in kv.items():
                cond.setdefault(op, {})[ckey.lower()] = sorted({str(v) for v in _as_list(values)})
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
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
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


def _member(member: str) -> str:
    kind, _, ident = member.partition(":")
    return f"{kind}:{ident.lower()}" if ident else member.lower()


def gcp_bindings(bindings: list[dict[str, Any]], roles: set[str] | None = None) -> dict[str, Any]:
    """Bindings as {role: {condition expression or "": sorted members}}; `roles` limits them."""
    out: dict[str, dict[str, list[str]]] = {}
    for b in bindings:
        role = b.get("role", "")
        if roles is not None and role not in roles:
            continue
        expr = (b.get("condition") or {}).get("expression", "")
        members = out.setdefault(role, {}).setdefault(expr, [])
        members.extend(_member(m) for m in b.get("members", []))
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
