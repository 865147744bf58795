"""`airspec apply` for GCP: the Google service account, and the IAM policies of the GSA (who
may impersonate it), the buckets and the project.

An IAM policy is shared with everyone else who grants on that resource, so it is changed by
read-modify-write with its etag (version 3, conditions kept): airspec adds and removes only
bindings of the members it grants (the GSA and the spec's Kubernetes service accounts) for
the roles it grants; every other binding is written back as read. A concurrent change
(the etag no longer matches: HTTP 409 ABORTED from IAM and Resource Manager, 412 from Cloud
Storage) restarts the read-modify-write, a bounded number of times.

A member airspec did not grant that holds one of its roles is left alone and listed as
manual, with the gcloud command that removes it.
"""

from __future__ import annotations

import time
from typing import Any

from airspec import gcp as gcpnames
from airspec.apply.actions import (
    RETRY_DELAYS,
    TAG_NAME,
    TAG_SPEC,
    Action,
    ApplyError,
    Options,
    SpecView,
    Verb,
)
from airspec.apply.findings import Finding
from airspec.apply.normalize import gcp_bindings, member_key
from airspec.artifact import Artifact
from airspec.live import readers as live

CALLS = (
    "iam.projects.serviceAccounts.create",
    "iam.projects.serviceAccounts.setIamPolicy",
    "storage.buckets.setIamPolicy",
    "cloudresourcemanager.projects.setIamPolicy",
)
CONFLICT = (409, 412)  # the etag no longer matches: someone else wrote the policy meanwhile
POLICY_VERSION = 3  # conditions need version 3 (IAM docs, "Policy versions")


# --- the merge: pure, property-tested ---------------------------------------------------------


def merge_bindings(
    live_bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: set[str],
) -> list[dict[str, Any]]:
    """The live bindings with airspec's part replaced by the compiled bindings.

    For each role airspec grants, the members in `ours` are taken out of every live binding
    (a binding left without members goes), then each compiled binding's members are added to
    the live binding of the same role and condition expression, or the binding is appended.
    Bindings of other roles, and other members, are kept exactly as read, in their order.
    Members compare case-insensitively after the type prefix, as IAM does for emails.
    """
    roles = {b["role"] for b in compiled}
    mine = {member_key(m) for m in ours}
    out: list[dict[str, Any]] = []
    for b in live_bindings:
        if b.get("role") not in roles:
            out.append(b)
            continue
        kept = [m for m in b.get("members", []) if member_key(m) not in mine]
        if kept:
            out.append({**b, "members": kept})
    for want in compiled:
        expr = (want.get("condition") or {}).get("expression", "")
        same = next(
            (
                b
                for b in out
                if b.get("role") == want["role"]
                and (b.get("condition") or {}).get("expression", "") == expr
            ),
            None,
        )
        if same is None:
            out.append({k: v for k, v in want.items() if k in ("role", "members", "condition")})
            continue
        have = {member_key(m) for m in same["members"]}
        extra = [m for m in want["members"] if member_key(m) not in have]
        if extra:
            out[out.index(same)] = {**same, "members": [*same["members"], *extra]}
    return out


def foreign_members(
    live_bindings: list[dict[str, Any]], compiled: list[dict[str, Any]], ours: set[str]
) -> list[tuple[str, str]]:
    """(role, member) pairs on airspec's roles that airspec did not grant: what a merge
    leaves different from the compiled bindings."""
    roles = {b["role"] for b in compiled}
    mine = {member_key(m) for m in ours}
    return sorted(
        {
            (b["role"], m)
            for b in live_bindings
            if b.get("role") in roles
            for m in b.get("members", [])
            if member_key(m) not in mine
        }
    )


# --- the calls --------------------------------------------------------------------------------


def _execute(what: str, request: Any) -> Any:
    """One Google API call; HttpError → ApplyError carrying the status."""
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=live.RETRIES)
    except HttpError as exc:
        raise _HttpFailure(what, exc.resp.status, str(exc.reason)) from None
    except OSError as exc:
        raise ApplyError(f"{what}: cannot reach the Google API ({exc})") from None


class _HttpFailure(ApplyError):
    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: HTTP {status} {reason}")
        self.status, self.reason = status, reason


def _set_request(c: live.Clients, kind: str, resource: str, policy: dict[str, Any]) -> Any:
    if kind == "iam.serviceAccount":
        sa = c.gcp("iam", "v1").projects().serviceAccounts()
        return sa.setIamPolicy(resource=resource, body={"policy": policy})
    if kind == "storage.bucket":
        bucket = resource.rsplit("/", 1)[1]
        return c.gcp("storage", "v1").buckets().setIamPolicy(bucket=bucket, body=policy)
    project = resource.split("/", 1)[1]
    crm = c.gcp("cloudresourcemanager", "v1").projects()
    return crm.setIamPolicy(resource=project, body={"policy": policy})


def converge_policy(
    c: live.Clients,
    kind: str,
    resource: str,
    compiled: list[dict[str, Any]],
    ours: set[str],
    delays: tuple[float, ...] = RETRY_DELAYS,
) -> list[str]:
    """Read-modify-write one IAM policy until airspec's bindings are the compiled ones.
    Restarts on an etag conflict; waits for a GSA created a moment ago to be known."""
    waits = list(delays)
    done: list[str] = []
    while True:
        policy = live.gcp_policy(c, kind, resource)
        if policy is None:  # a GSA created a moment ago may not be readable yet
            if not waits:
                raise ApplyError(f"getIamPolicy {resource}: not found")
            time.sleep(waits.pop(0))
            continue
        bindings = policy.get("bindings", [])
        merged = merge_bindings(bindings, compiled, ours)
        if gcp_bindings(merged) == gcp_bindings(bindings):
            return done
        body = {"bindings": merged, "etag": policy.get("etag", ""), "version": POLICY_VERSION}
        try:
            _execute(f"setIamPolicy {resource}", _set_request(c, kind, resource, body))
        except _HttpFailure as exc:
            # 409/412: written meanwhile; 400 "does not exist": a GSA created a moment ago
            eventual = exc.status == 400 and "does not exist" in exc.reason
            if (exc.status in CONFLICT or eventual) and waits:
                done.append(f"setIamPolicy {resource}: HTTP {exc.status}, read again")
                time.sleep(waits.pop(0))
                continue
            raise
        done.append(f"setIamPolicy {resource} (etag {policy.get('etag', '')})")
        return done


def _create_gsa(s: SpecView) -> list[str]:
    g = s.r.gcp
    email = gcpnames.gsa_email(g.service_account, g.project)
    body = {
        "accountId": g.service_account,
        "serviceAccount": {
            "displayName": g.service_account,
            # a GSA has no labels: ownership is recorded in its description
            "description": f"{TAG_NAME}={s.r.name} {TAG_SPEC}={s.r.source}",
        },
    }
    sa = s.clients.gcp("iam", "v1").projects().serviceAccounts()
    try:
        _execute(
            f"serviceAccounts.create {email}", sa.create(name=f"projects/{g.project}", body=body)
        )
    except _HttpFailure as exc:
        if exc.status != 409:  # 409: it exists already (created since the read)
            raise
    return [f"iam.serviceAccounts.create {email}"]


# --- the builder ------------------------------------------------------------------------------


def _ours(s: SpecView) -> set[str]:
    """The members airspec grants for this spec: the GSA, and every service account the spec
    names (with cloud access or not: a binding for one without is airspec's to remove)."""
    g = s.r.gcp
    email = gcpnames.gsa_email(g.service_account, g.project)
    return {gcpnames.gsa_member(email)} | {
        gcpnames.ksa_member(g.project, sa.namespace, sa.name) for sa in s.r.service_accounts
    }


def _remove_command(kind: str, resource: str, role: str, member: str) -> str:
    if kind == "iam.serviceAccount":
        email = resource.rsplit("/", 1)[1]
        what = f"gcloud iam service-accounts remove-iam-policy-binding {email}"
    elif kind == "storage.bucket":
        what = f"gcloud storage buckets remove-iam-policy-binding gs://{resource.rsplit('/', 1)[1]}"
    else:
        what = f"gcloud projects remove-iam-policy-binding {resource.split('/', 1)[1]}"
    return f"{what} --member='{member}' --role='{role}' --all"


def iam_policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    assert a is not None
    kind, resource = target.split("/", 2)[1:]
    compiled = next(r["bindings"] for r in a.content["resources"] if r["resource"] == resource)
    ours = _ours(s)
    if missing and kind != "iam.serviceAccount":
        what = "bucket" if kind == "storage.bucket" else "project"
        return [s.left(target, Verb.MANUAL, f"{what} {resource} does not exist; create it", fs)]
    clients = s.clients

    def converge() -> list[str]:
        done = _create_gsa(s) if missing else []
        return done + converge_policy(clients, kind, resource, compiled, ours)

    short = resource.rsplit("/", 1)[-1]
    if missing:
        actions = [
            Action(
                s.r.name,
                target,
                Verb.CREATE,
                f"create service account {short}, then set who may impersonate it",
                fs,
                converge,
            )
        ]
        return actions
    policy = live.gcp_policy(clients, kind, resource) or {}
    bindings = policy.get("bindings", [])
    actions = []
    if gcp_bindings(merge_bindings(bindings, compiled, ours)) != gcp_bindings(bindings):
        actions.append(
            Action(
                s.r.name, target, Verb.UPDATE, f"set airspec's bindings on {short}", fs, converge
            )
        )
    foreign = foreign_members(bindings, compiled, ours)
    if foreign:
        actions.append(
            Action(
                s.r.name,
                target,
                Verb.MANUAL,
                f"{len(foreign)} member(s) airspec did not grant hold its roles on {short}; "
                "airspec leaves them: review, and remove with",
                [] if actions else fs,
                commands=[_remove_command(kind, resource, r, m) for r, m in foreign],
            )
        )
    return actions
