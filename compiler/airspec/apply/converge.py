"""`airspec apply`: the dry run's findings turned into actions, run in dependency order.

Each out-of-sync live object (one Check target with findings) becomes one Action:
- `create` / `update`: airspec makes the live object match the compiled artifact;
- `refused`: the object exists and carries no owner identity (see `owner`): not made by
  airspec for this spec - taken over only with `--adopt`, which records this spec's owner;
- `claimed`: the object records another spec's owner: never changed, never pruned (exit 1);
  `--adopt` takes it over and names the previous owner;
- `unreadable`: it could not be read, so nothing is decided for it (exit 1);
- `pending`: an external tool's step (eksctl, helm, astro, gcloud cluster creation): run
  with `--with-tools` when the binary is on PATH, else printed - the exact runbook command;
- `manual`: nothing airspec may do (a bucket it does not own, a member it did not grant);
- `orphaned` / `delete`: an object tagged with this spec's owner that the spec no longer
  names: listed with the command that removes it, removed only with `--prune`, and only
  when nothing else holds it (checked before any change).

The plan is data (each action's calls are decided by its builder from what the run read),
shown, confirmed, then run in ORDER by `execute`, which makes exactly those calls; the first
failure (or Ctrl-C) stops the run and the result says what was done - every call, a failed
action's included - and what was not. Every mutating call is listed in `CALLS`.
Builders live in `converge_aws`, `converge_gcp`, `converge_kube`, `converge_tools`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from airspec.apply import converge_aws as aws
from airspec.apply import converge_gcp as gcp
from airspec.apply import converge_kube as kube
from airspec.apply import converge_tools as tools
from airspec.apply.actions import Action, Builder, Options, SpecView, Verb
from airspec.apply.calls import ApplyError, Call, Context, make
from airspec.apply.findings import Finding, Report, Status
from airspec.apply.owner import Owner, Recorded, Standing
from airspec.apply.runner import SpecChecks
from airspec.apply.seen import Seen
from airspec.artifact import Service
from airspec.live import readers as live
from airspec.pipeline import Compiled

__all__ = ["Action", "Options", "Outcome", "Verb", "execute", "plan_actions"]

# Every mutating API call apply can make (the issue note lists them).
CALLS = (
    *aws.CALLS,
    *gcp.CALLS,
    *kube.CALLS,
    "with --with-tools: the runbook's eksctl / helm / astro / gcloud container commands",
)

ORDER = {  # dependency order: identity before the objects that name it
    "iam/oidc-provider": 10,
    "iam/policy": 20,
    "iam/role": 30,
    "iam/role#attached-policies": 40,
    "iam/role-policy": 50,
    "s3/bucket": 60,
    "eks/cluster": 70,
    "eks/nodegroup": 71,
    "eks/addon": 75,
    "eks/pod-identity-associations": 76,
    "gke/cluster": 80,
    "gcp-iam/iam.serviceAccount": 90,
    "gcp-iam/storage.bucket": 91,
    "gcp-iam/project": 92,
    "kubernetes/namespace": 100,
    "kubernetes/configmap": 101,
    "helm/release": 110,
    "kubernetes/serviceaccount": 120,
}
# orphans go last, once what replaces them exists: a role before the policy it holds, the
# OIDC provider last
ORPHAN_ORDER = {"iam/role": 300, "iam/policy": 301, "iam/oidc-provider": 302}


def _kind(target: str) -> str:
    """`service/type` of a target (`iam/role/arn:…` → `iam/role`)."""
    return "/".join(target.split("/", 2)[:2])


def _rank(a: Action) -> int:
    kind = _kind(a.target)
    if a.verb in (Verb.DELETE, Verb.ORPHANED):
        return ORPHAN_ORDER.get(kind, 310)
    if kind == "iam/role" and a.target.endswith("#attached-policies"):
        kind = "iam/role#attached-policies"
    return ORDER.get(kind, 200)


_BUILDERS: dict[str, Builder] = {
    "iam/oidc-provider": aws.oidc_provider,
    "iam/policy": aws.policy,
    "iam/role": aws.role,
    "iam/role-policy": aws.role_policy,
    "s3/bucket": aws.bucket,
    "eks/addon": aws.addon,
    "eks/pod-identity-associations": aws.pod_identity_associations,
    "eks/cluster": tools.tool(Service.EKS),
    "eks/nodegroup": tools.tool(Service.EKS),
    "gke/cluster": tools.tool(Service.GKE),
    "helm/release": tools.tool(Service.HELM),
    "gcp-iam/iam.serviceAccount": gcp.iam_policy,
    "gcp-iam/storage.bucket": gcp.iam_policy,
    "gcp-iam/project": gcp.iam_policy,
    "kubernetes/namespace": kube.manifest,
    "kubernetes/configmap": kube.manifest,
    "kubernetes/serviceaccount": kube.service_account,
}


@dataclass
class Outcome:
    """What apply did: actions applied, the one that failed or was interrupted (with why and
    the calls it made before), those not run, and those left to the user."""

    applied: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: str = ""
    interrupted: bool = False
    not_run: list[Action] = field(default_factory=list)
    left: list[Action] = field(default_factory=list)  # refused / manual / pending / orphaned


# --- planning ---------------------------------------------------------------------------------

SHARED = frozenset({"iam/oidc-provider"})  # one per cluster, named by every spec on it


def plan_actions(
    report: Report,
    work: Sequence[SpecChecks],
    compiled: Sequence[Compiled],
    out: Path,
    options: Options,
    owners: dict[str, Owner],
    seen: Seen | None = None,
) -> list[Action]:
    """One action per out-of-sync live object, in dependency order, each with every call
    it will make; an object that could not be read is `unreadable` (nothing is decided for
    it). `seen`: what the reads saw (the builders decide from it, and add what they read)."""
    seen = seen if seen is not None else Seen()
    by_name = {c.resolved.name: c for c in compiled if c.resolved is not None}
    members = {
        name: c.resolved.gcp_members
        for name, c in by_name.items()
        if c.resolved is not None and c.resolved.spec.cloud.gcp is not None
    }

    def others(spec: str) -> frozenset[str]:
        return frozenset().union(*(m for name, m in members.items() if name != spec))

    specs = {
        w.spec: SpecView(by_name[w.spec], w.clients, out, owners[w.spec], others(w.spec), seen)
        for w in work
    }
    grouped: dict[tuple[str, str], list[Finding]] = {}
    actions: list[Action] = []
    for f in report.findings:
        if f.status is Status.ERROR:
            summary = f"could not be read, so nothing is decided for it: {f.message}"
            actions.append(specs[f.spec].left(f.target, Verb.UNREADABLE, summary, [f]))
        else:
            grouped.setdefault((f.spec, f.target), []).append(f)
    actions += [
        action
        for (spec, target), findings in grouped.items()
        for action in _actions(specs[spec], target, findings, options)
    ]
    decided = {(a.spec, a.target) for a in actions}
    for w in work:
        s = specs[w.spec]
        undecided = [c.target for c in w.checks if (w.spec, c.target) not in decided]
        actions += _claims(s, undecided, options)
        try:
            actions += aws.orphans(s, frozenset(c.service for c in w.checks), options)
        except live.ReadError as exc:
            summary = f"could not look for orphaned IAM objects: {exc}"
            actions.append(s.left("iam/orphans", Verb.UNREADABLE, summary, []))
        except Exception as exc:
            summary = f"could not look for orphaned IAM objects: {live.unexpected(exc)}"
            actions.append(s.left("iam/orphans", Verb.UNREADABLE, summary, []))
    for a in actions:
        if a.runnable and a.spec in specs and specs[a.spec].r.spec.cloud.aws is not None:
            a.needs = aws.permissions(specs[a.spec], a)
    actions = _merge_steps(_share(actions))
    return _once(sorted(actions, key=lambda a: (_rank(a), a.spec, a.target, a.verb)))


def _once(actions: list[Action]) -> list[Action]:
    """A call made once per run (recording the owner on a GSA several policies grant on)
    stays in the first action that holds it."""
    kept: set[str] = set()
    for a in actions:
        calls = []
        for c in a.calls:
            if c.once:
                if c.once in kept:
                    continue
                kept.add(c.once)
            calls.append(c)
        a.calls = calls
    return actions


Claimed = Callable[[SpecView, str], Recorded | None]
Recorder = Callable[[SpecView, str], list[Call]]
# kind -> (what the object records about its owner, the calls that record this spec's)
_CLAIMED: dict[str, tuple[Claimed, Recorder]] = {
    "iam/role": (aws.claimed, aws.record_owner),
    "iam/policy": (aws.claimed, aws.record_owner),
    "s3/bucket": (aws.claimed, aws.record_owner),
    "kubernetes/namespace": (kube.claimed, kube.record_owner),
    "kubernetes/configmap": (kube.claimed, kube.record_owner),
    "kubernetes/serviceaccount": (kube.claimed, kube.record_owner),
    "gcp-iam/iam.serviceAccount": (gcp.claimed, gcp.record_owner),
}


def _shown(target: str) -> str:
    """`iam/role/arn:…:role/Name` as a person reads it: `role Name`."""
    kind, ident = target.split("/", 2)[1:]
    return f"{kind.split('.')[-1].lower()} {ident.rsplit('/', 1)[-1] if ident.startswith('arn:') else ident}"


def _claims(s: SpecView, targets: list[str], o: Options) -> list[Action]:
    """Objects the spec names that need no change but record another spec's owner: claimed
    all the same (reported with both owners, exit 1), so a spec never rides on another's
    object unnoticed (an equal policy, then attached to its role). --adopt records this
    spec's owner on them."""
    out = []
    for target in targets:
        entry = _CLAIMED.get(_kind(target))
        if entry is None or "#" in target:
            continue
        read, record = entry
        try:
            recorded = read(s, target)
        except live.ReadError as exc:
            out.append(s.left(target, Verb.UNREADABLE, f"cannot tell its owner: {exc}", []))
            continue
        except Exception as exc:
            summary = f"cannot tell its owner: {live.unexpected(exc)}"
            out.append(s.left(target, Verb.UNREADABLE, summary, []))
            continue
        if recorded is None or recorded.standing(s.owner) is not Standing.CLAIMED:
            continue
        what = _shown(target)
        if o.adopt:
            summary = (
                f"take over {what} (previous owner: {recorded.who()}); it needs no other change"
            )
            out.append(s.action(target, Verb.ADOPT, summary, [], record(s, target)))
            continue
        summary = (
            f"{what} needs no change but is claimed by another spec: its owner is "
            f"'{recorded.owner}', this spec is '{s.owner.identity}'; airspec never changes or "
            "prunes it (--adopt takes it over)"
        )
        out.append(s.left(target, Verb.CLAIMED, summary, []))
    return out


def _share(actions: list[Action]) -> list[Action]:
    """An object several specs name (the cluster's OIDC provider) is planned once: the first
    spec's action, naming the others."""
    first: dict[tuple[str, Verb, str], Action] = {}
    out: list[Action] = []
    for a in actions:
        if _kind(a.target) not in SHARED:
            out.append(a)
            continue
        key = (a.target, a.verb, a.summary)
        if key in first:
            if a.spec != first[key].spec and a.spec not in first[key].shared_by:
                first[key].shared_by.append(a.spec)
            continue
        first[key] = a
        out.append(a)
    return out


def _actions(s: SpecView, target: str, findings: list[Finding], o: Options) -> list[Action]:
    missing = any(f.status is Status.MISSING for f in findings)
    artifact = s.artifact(findings[0].artifact)
    kind = _kind(target)
    builder = _BUILDERS.get(kind)
    if builder is None:
        summary = f"apply does not change {kind}; run its RUNBOOK.md step"
        return [s.left(target, Verb.MANUAL, summary, findings)]
    try:
        built = builder(s, target, artifact, findings, missing, o)
    except live.ReadError as exc:  # what the builder reads to decide (tags, the policy)
        return [s.left(target, Verb.UNREADABLE, f"cannot decide: {exc}", findings)]
    except Exception as exc:  # an answer it cannot take (a proxy's page)
        summary = f"cannot decide: {live.unexpected(exc)}"
        return [s.left(target, Verb.UNREADABLE, summary, findings)]
    return built if isinstance(built, list) else [built]


def _merge_steps(actions: list[Action]) -> list[Action]:
    """Pending or manual steps of one spec with the same commands are one action (one
    command list), naming every object they are for."""
    merged: dict[tuple[str, Verb, tuple[str, ...]], Action] = {}
    out: list[Action] = []
    for a in actions:
        if a.verb in (Verb.PENDING, Verb.MANUAL) and a.commands:
            key = (a.spec, a.verb, tuple(a.commands))
            if key in merged:
                merged[key].findings += a.findings
                merged[key].summary += f"; {a.target}"
                continue
            merged[key] = a
        out.append(a)
    return out


# --- execution --------------------------------------------------------------------------------


def execute(
    actions: Sequence[Action],
    out: Path,
    *,
    merge_on_conflict: bool = True,
    progress: Callable[[Action], None] | None = None,
) -> Outcome:
    """Make the runnable actions' calls, in order; stop at the first failure, or at Ctrl-C
    (the outcome is marked interrupted). Each call is recorded as soon as it is made, so
    the outcome lists what a failed or interrupted action changed. `merge_on_conflict`:
    a direct apply merges a GCP IAM policy written meanwhile again; a saved plan stops."""
    outcome = Outcome()
    runnable = [a for a in actions if a.runnable]
    outcome.left = [a for a in actions if not a.runnable]
    for i, action in enumerate(runnable):
        if progress is not None:
            progress(action)
        assert action.clients is not None
        ctx = Context(action.clients, out, merge_on_conflict)
        try:
            for call in action.calls:
                make(call, ctx, action.done)
        except (ApplyError, live.ReadError) as exc:
            outcome.failed, outcome.error = action, str(exc)
            outcome.not_run = list(runnable[i + 1 :])
            return outcome
        except Exception as exc:  # never a traceback mid-run: what was made is reported
            outcome.failed, outcome.error = action, live.unexpected(exc)
            outcome.not_run = list(runnable[i + 1 :])
            return outcome
        except KeyboardInterrupt:
            outcome.failed, outcome.error, outcome.interrupted = action, "interrupted", True
            outcome.not_run = list(runnable[i + 1 :])
            return outcome
        outcome.applied.append(action)
    return outcome
