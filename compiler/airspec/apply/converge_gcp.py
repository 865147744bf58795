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
never removed. A concurrent change (the etag no longer matches: HTTP 409 ABORTED from IAM
and Resource Manager, 412 from Cloud Storage) restarts the read-modify-write, a bounded
number of times. The plan names every member it adds and removes.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from typing import Any

from airspec import gcp as gcpnames
from airspec.apply.actions import (
    RETRY_DELAYS,
    Action,
    ApplyError,
    Decision,
    Options,
    Run,
    SpecView,
    Verb,
    ownership,
)
from airspec.apply.findings import Finding
from airspec.apply.normalize import gcp_bindings, member_key, spec_grants
from airspec.apply.owner import Recorded, recorded_in_description
from airspec.artifact import Artifact
from airspec.live import readers as live

CALLS = (
    "iam.projects.serviceAccounts.create",
    "iam.projects.serviceAccounts.patch (description: the owner, with --adopt)",
    "iam.projects.serviceAccounts.setIamPolicy",
    "storage.buckets.setIamPolicy",
    "cloudresourcemanager.projects.setIamPolicy",
)
CONFLICT = (409, 412)  # the etag no longer matches: someone else wrote the policy meanwhile
POLICY_VERSION = 3  # conditions need version 3 (IAM docs, "Policy versions")
AIRSPEC_TITLE = "airspec: "  # the title prefix of every condition airspec writes

Slot = tuple[str, str, str]  # (role, condition title or "", member)


# --- the merge: pure, property-tested ---------------------------------------------------------


def written_by(compiled: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """Whether a live binding is one this spec writes (see the module docstring)."""
    roles = {b["role"] for b in compiled}
    plain = {b["role"] for b in compiled if not b.get("condition")}

    def written(b: dict[str, Any]) -> bool:
        if b.get("role") not in roles:
            return False
        condition = b.get("condition") or {}
        if not condition:
            return b.get("role") in plain
        return str(condition.get("title", "")).startswith(AIRSPEC_TITLE)

    return written


def merge_bindings(
    live_bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: set[str],
) -> list[dict[str, Any]]:
    """The live bindings with this spec's part replaced by the compiled bindings.

    From each binding this spec writes (`written_by`), the members in `ours` are taken out
    (a binding left without members goes); then each compiled binding's members are added to
    the binding it writes with the same role and condition expression, or the binding is
    appended.
    Every other binding, and every other member, is kept exactly as read, in its order.
    Members compare case-insensitively after the type prefix, as IAM does for emails.
    """
    written = written_by(compiled)
    mine = {member_key(m) for m in ours}
    out: list[dict[str, Any]] = []
    for b in live_bindings:
        if not written(b):
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
                and written(b)
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


def _slots(bindings: list[dict[str, Any]]) -> dict[tuple[str, str, str], Slot]:
    """(role, condition expression, member key) -> (role, title, member) of every grant."""
    out: dict[tuple[str, str, str], Slot] = {}
    for b in bindings:
        condition = b.get("condition") or {}
        for m in b.get("members", []):
            key = (b.get("role", ""), condition.get("expression", ""), member_key(m))
            out.setdefault(key, (b.get("role", ""), condition.get("title", ""), m))
    return out


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> tuple[list[Slot], list[Slot]]:
    """(added, removed) grants between two binding lists."""
    a, b = _slots(before), _slots(after)
    return sorted(b[k] for k in b.keys() - a.keys()), sorted(a[k] for k in a.keys() - b.keys())


def foreign_members(
    live_bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: set[str],
    *,
    owned: bool = True,
    others: frozenset[str] = frozenset(),
) -> list[Slot]:
    """Grants that concern this spec (`normalize.spec_grants`: its members anywhere, anyone
    in a binding it writes) that the merge leaves and the spec does not make: its own
    account in a binding it did not write, another member in one it did. Other specs'
    grants on a shared resource are not listed."""
    merged = merge_bindings(live_bindings, compiled, ours)
    want = _slots(compiled)
    relevant = spec_grants(merged, compiled, frozenset(ours), owned=owned, others=others)
    return sorted(slot for key, slot in _slots(relevant).items() if key not in want)


# --- the calls --------------------------------------------------------------------------------


def _execute(what: str, request: Any) -> Any:
    """One Google API call; HttpError → ApplyError carrying the status."""
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=live.RETRIES)
    except HttpError as exc:
        raise _HttpFailure(what, exc.resp.status, str(exc.reason)) from None
    except GoogleAuthError as exc:
        raise ApplyError(f"{what}: the Google credentials failed ({type(exc).__name__})") from None
    except OSError as exc:
        raise ApplyError(f"{what}: cannot reach the Google API ({exc})") from None
    except Exception as exc:
        raise ApplyError(f"{what}: {live.unexpected(exc)}; it may or may not have been made") from None


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
    done: list[str],
    delays: tuple[float, ...] = RETRY_DELAYS,
) -> None:
    """Read-modify-write one IAM policy until this spec's bindings are the compiled ones.
    Restarts on an etag conflict; waits for a GSA created a moment ago to be known."""
    waits = list(delays)
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
            return
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
        return


def _accounts(s: SpecView) -> Any:
    return s.clients.gcp("iam", "v1").projects().serviceAccounts()


def _create_gsa(s: SpecView, done: list[str]) -> None:
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
    try:
        _execute(
            f"serviceAccounts.create {email}",
            _accounts(s).create(name=f"projects/{g.project}", body=body),
        )
    except _HttpFailure as exc:
        if exc.status != 409:  # 409: it exists already (created since the read)
            raise
        raise ApplyError(
            f"serviceAccounts.create {email}: it was created by someone else meanwhile; "
            "nothing was granted: rerun apply to decide from what exists now"
        ) from None
    done.append(f"iam.serviceAccounts.create {email} (description: the owner)")


def _record_owner(s: SpecView, resource: str, done: list[str]) -> None:
    """--adopt: write this spec's owner into the GSA's description (once per run)."""
    if s.memo.get(("gsa-adopted", resource)):
        return
    body = {"serviceAccount": {"description": s.owner.description()}, "updateMask": "description"}
    _execute(f"serviceAccounts.patch {resource}", _accounts(s).patch(name=resource, body=body))
    s.memo[("gsa-adopted", resource)] = True
    done.append(f"iam.serviceAccounts.patch {resource} (description: the owner)")


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


def _gsa_decision(s: SpecView, target: str, fs: list[Finding], o: Options) -> Decision | Action | None:
    """Whether this spec may grant to and on its GSA: None when the GSA does not exist (the
    GSA action creates it first), else the ownership decision (read once per run)."""
    resource = gcpnames.gsa_resource(s.r.gcp.project, s.r.gsa_email)
    key = ("gsa", resource)
    if key not in s.memo:
        s.memo[key] = live.gcp_service_account(s.clients, resource)
    account = s.memo[key]
    if account is None:
        return None
    recorded = recorded_in_description(account.get("description"))
    return ownership(s, target, fs, o, recorded, f"service account {s.r.gsa_email}")


def claimed(s: SpecView, target: str) -> Recorded | None:
    """What the spec's GSA records about its owner (read once a run), for a GSA policy that
    needs no change; None to skip."""
    kind, resource = target.split("/", 2)[1:]
    if kind != "iam.serviceAccount":
        return None
    key = ("gsa", resource)
    if key not in s.memo:
        s.memo[key] = live.gcp_service_account(s.clients, resource)
    account = s.memo[key]
    return None if account is None else recorded_in_description(account.get("description"))


def record_owner(s: SpecView, target: str) -> Run:
    """--adopt of a GSA whose policy needs no change: write this spec's owner into it."""
    resource = target.split("/", 2)[2]
    return lambda done: _record_owner(s, resource, done)


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
    clients = s.clients
    short = resource.rsplit("/", 1)[-1]
    if missing:

        def create(done: list[str]) -> None:
            _create_gsa(s, done)
            converge_policy(clients, kind, resource, compiled, ours, done)

        summary = (
            f"create service account {short} (its description records this spec's owner), "
            "then let " + ", ".join(sorted(m for b in compiled for m in b["members"]))
            + " impersonate it"
        )
        return [Action(s.r.name, target, Verb.CREATE, summary, fs, create)]
    d = _gsa_decision(s, target, fs, o)
    if isinstance(d, Action):
        return [d]
    decision = d or Decision(Verb.UPDATE)  # a GSA created earlier in this run
    policy = live.gcp_policy(clients, kind, resource) or {}
    bindings = policy.get("bindings", [])
    merged = merge_bindings(bindings, compiled, ours)
    actions: list[Action] = []
    if gcp_bindings(merged) != gcp_bindings(bindings):
        added, removed = changes(bindings, merged)

        def converge(done: list[str]) -> None:
            if decision.verb is Verb.ADOPT:
                _record_owner(s, gsa, done)
            converge_policy(clients, kind, resource, compiled, ours, done)

        parts = [f"add {_shown_slot(x)}" for x in added]
        parts += [f"remove {_shown_slot(x)}" for x in removed]
        summary = decision.summary(f"on {short}: " + "; ".join(parts))
        actions.append(Action(s.r.name, target, decision.verb, summary, fs, converge))
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
