"""`airspec apply`: the dry run's findings turned into actions, run in dependency order.

Each out-of-sync live object (one Check target with findings) becomes one Action:
- `create` / `update`: airspec makes the live object match the compiled artifact;
- `refused`: the object exists but airspec did not create it (no `airspec.io/name` tag, or
  no `airspec` field manager) - taken over only with `--adopt`, which tags it first;
- `pending`: an external tool's step (eksctl, helm, astro, gcloud cluster creation): run
  with `--with-tools` when the binary is on PATH, else printed - the exact runbook command;
- `manual`: nothing airspec may do (a bucket it does not own, a member it did not grant);
- `orphaned` / `delete`: an object airspec created for this spec that the spec no longer
  names: listed with the command that removes it, removed only with `--prune`.

The plan is shown, confirmed, then run in ORDER; the first failure stops the run and the
result says what was done and what was not. Every mutating call is listed in `CALLS`.
Builders live in `converge_aws`, `converge_gcp`, `converge_kube`, `converge_tools`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airspec.apply import converge_aws as aws
from airspec.apply import converge_gcp as gcp
from airspec.apply import converge_kube as kube
from airspec.apply import converge_tools as tools
from airspec.apply.actions import Action, ApplyError, Builder, Options, SpecView, Verb
from airspec.apply.findings import Finding, Report, Status
from airspec.apply.runner import SpecChecks
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
    """What apply did: actions applied, the one that failed (with why), those not run."""

    applied: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: str = ""
    not_run: list[Action] = field(default_factory=list)
    left: list[Action] = field(default_factory=list)  # refused / manual / pending / orphaned


# --- planning ---------------------------------------------------------------------------------


def plan_actions(
    report: Report,
    work: Sequence[SpecChecks],
    compiled: Sequence[Compiled],
    out: Path,
    options: Options,
) -> list[Action]:
    """One action per out-of-sync live object, in dependency order."""
    by_name = {c.resolved.name: c for c in compiled if c.resolved is not None}
    specs = {w.spec: SpecView(by_name[w.spec], w.clients, out) for w in work}
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        if f.status is not Status.ERROR:
            grouped.setdefault((f.spec, f.target), []).append(f)
    actions = [
        action
        for (spec, target), findings in grouped.items()
        for action in _actions(specs[spec], target, findings, options)
    ]
    for w in work:
        s = specs[w.spec]
        try:
            actions += aws.orphans(s, frozenset(c.service for c in w.checks), options)
        except live.ReadError as exc:
            summary = f"could not look for orphaned IAM objects: {exc}"
            actions.append(s.left("iam/orphans", Verb.MANUAL, summary, []))
    actions = _merge_steps(actions)
    return sorted(actions, key=lambda a: (_rank(a), a.spec, a.target, a.verb))


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
        return [s.left(target, Verb.MANUAL, f"cannot decide: {exc}", findings)]
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


def execute(actions: Sequence[Action], progress: Callable[[Action], None] | None = None) -> Outcome:
    """Run the runnable actions in order; stop at the first failure."""
    outcome = Outcome()
    runnable = [a for a in actions if a.run is not None]
    outcome.left = [a for a in actions if a.run is None]
    for i, action in enumerate(runnable):
        if progress is not None:
            progress(action)
        assert action.run is not None
        try:
            action.done = action.run()
        except (ApplyError, live.ReadError) as exc:
            outcome.failed, outcome.error = action, str(exc)
            outcome.not_run = list(runnable[i + 1 :])
            return outcome
        outcome.applied.append(action)
    return outcome


# --- rendering --------------------------------------------------------------------------------

APPLY_VERSION = "airspec.apply/v1"


def plan_json(actions: Sequence[Action], outcome: Outcome | None = None) -> dict[str, Any]:
    """The plan (and, after a run, what happened) as JSON; findings keep the dry run's
    redaction, so no secret value appears."""

    def one(a: Action) -> dict[str, Any]:
        item: dict[str, Any] = {
            "spec": a.spec,
            "target": a.target,
            "action": str(a.verb),
            "summary": a.summary,
            "findings": [f.model_dump(mode="json") for f in a.findings],
        }
        if a.commands:
            item["commands"] = a.commands
        if a.done:
            item["calls"] = a.done
        return item

    doc: dict[str, Any] = {"version": APPLY_VERSION, "plan": [one(a) for a in actions]}
    if outcome is not None:
        doc["result"] = {
            "applied": [a.target for a in outcome.applied],
            "failed": None
            if outcome.failed is None
            else {"target": outcome.failed.target, "error": outcome.error},
            "not_run": [a.target for a in outcome.not_run],
            "left": [a.target for a in outcome.left],
        }
    return doc


def plan_lines(actions: Sequence[Action]) -> list[str]:
    """The plan for a terminal or a Markdown summary: one line per action."""
    lines = []
    for a in actions:
        lines.append(f"{a.verb:<8} {a.spec}: {a.summary}  [{a.target}]")
        for c in a.commands:
            where = f"(cd {a.cwd.as_posix()} && {c})" if a.cwd else c
            lines.append(f"           {where}")
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    lines = []
    for a in outcome.applied:
        lines.append(f"applied  {a.spec}: {a.summary}")
        lines += [f"           {call}" for call in a.done]
    if outcome.failed is not None:
        lines.append(f"FAILED   {outcome.failed.spec}: {outcome.failed.summary}")
        lines.append(f"           {outcome.error}")
    lines += [f"not run  {a.spec}: {a.summary}" for a in outcome.not_run]
    return lines
