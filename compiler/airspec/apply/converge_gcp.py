"""`airspec apply` for GCP: the Google service account, and the IAM policies of the GSA (who
may impersonate it), the buckets and the project.

The GSA is this spec's when its description records this spec's owner identity (a GSA has no
labels; see `owner`): airspec creates it so, and changes nothing granted to or on an account
that records another owner or none, unless --adopt (which records the owner first, naming
the previous one).

An IAM policy is shared with everyone else who grants on that resource, so it is changed by
read-modify-write with its etag (version 3, conditions kept). airspec removes members only
from the bindings this spec writes: a compiled role with no condition where the spec grants
it without one, or a condition whose title starts with "airspec: " (every condition airspec
writes has one). Every other binding is written back as read, even one that holds this
spec's service account under one of its roles ("payments only"): it is listed for review,
never removed. The write carries the etag of the policy the merge was computed from; a
concurrent change (the etag no longer matches: HTTP 409 ABORTED from IAM and Resource
Manager, 412 from Cloud Storage) restarts the read-modify-write in a direct apply, a bounded
number of times, and stops a saved plan (`calls`). The plan names every member it adds and
removes. The merge itself is in `bindings`.
"""

from __future__ import annotations

import shlex
from typing import Any

from airspec import gcp as gcpnames
from airspec.apply import plan as checks
from airspec.apply.actions import Action, Decision, Options, SpecView, Verb, ownership
from airspec.apply.bindings import (
    AIRSPEC_TITLE,
    Slot,
    changes,
    foreign_members,
    merge_bindings,
    written_by,
)
from airspec.apply.calls import Api, Call
from airspec.apply.findings import Finding
from airspec.apply.normalize import gcp_bindings
from airspec.apply.owner import Recorded, recorded_in_description
from airspec.apply.seen import digest
from airspec.artifact import Artifact
from airspec.live import readers as live

__all__ = ["AIRSPEC_TITLE", "CALLS", "foreign_members", "iam_policy", "merge_bindings", "written_by"]

CALLS = (
    "iam.projects.serviceAccounts.create",
    "iam.projects.serviceAccounts.patch (description: the owner, with --adopt)",
    "iam.projects.serviceAccounts.setIamPolicy",
    "storage.buckets.setIamPolicy",
    "cloudresourcemanager.projects.setIamPolicy",
)


def _create_gsa(s: SpecView) -> Call:
    g = s.r.gcp
    email = gcpnames.gsa_email(g.service_account, g.project)
    body = {
        "accountId": g.service_account,
        "serviceAccount": {
            "displayName": g.service_account,
            # a GSA has no labels: ownership is recorded in its description
            "description": s.owner.description(),
        },
    }
    args = {"project": g.project, "email": email, "body": body}
    shown = f"iam.serviceAccounts.create {email} (description: the owner)"
    return Call(Api.GCP, "iam.serviceAccounts.create", args, shown)


def _record_owner(s: SpecView, resource: str) -> Call:
    """--adopt: write this spec's owner into the GSA's description (once per run)."""
    body = {"serviceAccount": {"description": s.owner.description()}, "updateMask": "description"}
    shown = f"iam.serviceAccounts.patch {resource} (description: the owner)"
    args = {"name": resource, "body": body}
    return Call(Api.GCP, "iam.serviceAccounts.patch", args, shown, once=f"gsa-owner {resource}")


def _set_policy(
    kind: str,
    resource: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    etag: str | None,
    compiled: list[dict[str, Any]],
    ours: set[str],
    removes: bool,
) -> Call:
    """setIamPolicy of `after` with the etag of the policy `before` was read from (None: a
    policy created in this run, read when the call is made). `compiled` and `ours` let a
    direct apply merge again after a concurrent write."""
    args = {
        "kind": kind,
        "resource": resource,
        "before": before,
        "bindings": after,
        "etag": etag,
        "compiled": compiled,
        "ours": sorted(ours),
    }
    shown = f"setIamPolicy {resource}"
    return Call(Api.GCP, "setIamPolicy", args, shown, destructive=removes)


# --- the builder ------------------------------------------------------------------------------


def _ours(s: SpecView) -> set[str]:
    return set(s.r.gcp_members)


def _remove_command(kind: str, resource: str, slot: Slot, expression: str) -> str:
    role, title, member = slot
    if kind == "iam.serviceAccount":
        email = resource.rsplit("/", 1)[1]
        what = f"gcloud iam service-accounts remove-iam-policy-binding {email}"
    elif kind == "storage.bucket":
        what = f"gcloud storage buckets remove-iam-policy-binding gs://{resource.rsplit('/', 1)[1]}"
    else:
        what = f"gcloud projects remove-iam-policy-binding {resource.split('/', 1)[1]}"
    # gcloud's `^;;^` sets the list delimiter, as a condition's expression holds commas
    condition = f"^;;^expression={expression};;title={title}" if expression else "None"
    return (
        f"{what} --member={shlex.quote(member)} --role={shlex.quote(role)} "
        f"--condition={shlex.quote(condition)}"
    )


def _expressions(bindings: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    return {
        (b.get("role", ""), (b.get("condition") or {}).get("title", "")): (
            b.get("condition") or {}
        ).get("expression", "")
        for b in bindings
    }


def _shown_slot(slot: Slot) -> str:
    role, title, member = slot
    return f"{member} on {role}" + (f" [{title}]" if title else "")


def _gsa_decision(
    s: SpecView, target: str, fs: list[Finding], o: Options
) -> tuple[Decision | Action | None, str]:
    """Whether this spec may grant to and on its GSA: None when the GSA does not exist (the
    GSA action creates it first), else the ownership decision (read once per run); and the
    target whose version holds what was read (the GSA's IAM policy target)."""
    account, where = _gsa_account(s)
    if account is None:
        return None, where
    recorded = recorded_in_description(account.get("description"))
    return ownership(s, target, fs, o, recorded, f"service account {s.r.gsa_email}"), where


def claimed(s: SpecView, target: str) -> Recorded | None:
    """What the spec's GSA records about its owner (read once a run), for a GSA policy that
    needs no change; None to skip."""
    kind = target.split("/", 2)[1]
    if kind != "iam.serviceAccount":
        return None
    d, _ = _gsa_account(s)
    return None if d is None else recorded_in_description(d.get("description"))


def record_owner(s: SpecView, target: str) -> list[Call]:
    """--adopt of a GSA whose policy needs no change: write this spec's owner into it."""
    return [_record_owner(s, target.split("/", 2)[2])]


def _gsa_account(s: SpecView) -> tuple[dict[str, Any] | None, str]:
    """The spec's GSA (read once a run, its version recorded on the GSA policy's target),
    and that target."""
    resource = gcpnames.gsa_resource(s.r.gcp.project, s.r.gsa_email)
    where = f"gcp-iam/iam.serviceAccount/{resource}"
    key = ("gsa", resource)
    if key not in s.memo:
        s.memo[key] = live.gcp_service_account(s.clients, resource)
        account = s.memo[key]
        s.observe(where, "account", "absent" if account is None else _account_seen(account))
    found: dict[str, Any] | None = s.memo[key]
    return found, where


def _account_seen(account: dict[str, Any]) -> str:
    etag = account.get("etag")
    return f"etag {etag}" if etag else digest(account)


def iam_policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    assert a is not None
    kind, resource = target.split("/", 2)[1:]
    compiled = next(r["bindings"] for r in a.content["resources"] if r["resource"] == resource)
    ours = _ours(s)
    gsa = gcpnames.gsa_resource(s.r.gcp.project, s.r.gsa_email)
    if missing and kind != "iam.serviceAccount":
        what = "bucket" if kind == "storage.bucket" else "project"
        return [s.left(target, Verb.MANUAL, f"{what} {resource} does not exist; create it", fs)]
    short = resource.rsplit("/", 1)[-1]
    if missing:
        grant = _set_policy(kind, resource, [], merge_bindings([], compiled, ours), None, compiled, ours, False)
        summary = (
            f"create service account {short} (its description records this spec's owner), "
            "then let " + ", ".join(sorted(m for b in compiled for m in b["members"]))
            + " impersonate it"
        )
        return [s.action(target, Verb.CREATE, summary, fs, [_create_gsa(s), grant])]
    d, gsa_target = _gsa_decision(s, target, fs, o)
    if isinstance(d, Action):
        return [d]
    decision = d or Decision(Verb.UPDATE)  # a GSA created earlier in this run
    read = lambda: live.gcp_policy(s.clients, kind, resource)  # noqa: E731
    policy = s.raw(target, read, checks.etag_version) or {}
    bindings = policy.get("bindings", [])
    merged = merge_bindings(bindings, compiled, ours)
    actions: list[Action] = []
    if gcp_bindings(merged) != gcp_bindings(bindings):
        added, removed = changes(bindings, merged)
        calls = [_record_owner(s, gsa)] if decision.verb is Verb.ADOPT else []
        etag = policy.get("etag", "")
        calls.append(_set_policy(kind, resource, bindings, merged, etag, compiled, ours, bool(removed)))
        parts = [f"add {_shown_slot(x)}" for x in added]
        parts += [f"remove {_shown_slot(x)}" for x in removed]
        summary = decision.summary(f"on {short}: " + "; ".join(parts))
        depends = [gsa_target] if gsa_target != target else []
        actions.append(s.action(target, decision.verb, summary, fs, calls, depends=depends))
    foreign = foreign_members(
        bindings, compiled, ours, owned=kind == "iam.serviceAccount", others=s.others
    )
    if foreign:
        expressions = _expressions(bindings)
        actions.append(
            Action(
                s.r.name,
                target,
                Verb.MANUAL,
                f"{len(foreign)} grant(s) on {short} hold this spec's roles but were not "
                "written by it ("
                + "; ".join(_shown_slot(x) for x in foreign)
                + "); airspec leaves them: review, and remove with",
                [] if actions else fs,
                commands=[
                    _remove_command(kind, resource, x, expressions.get((x[0], x[1]), ""))
                    for x in foreign
                ],
            )
        )
    return actions
