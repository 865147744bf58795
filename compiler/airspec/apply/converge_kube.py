"""`airspec apply` for Kubernetes: the `k8s/` manifests by server-side apply, and the cloud
identity annotation of the service accounts the spec names.

One ownership rule for every object (`owner`): airspec writes this spec's owner identity as
the annotations `airspec.io/owner` and `airspec.io/spec` on what it applies, and changes an
existing object only when that annotation is this spec's; another owner's is *claimed*, and
an object without one (made by kubectl, by a chart, or by an earlier airspec that recorded
only its field manager) is refused - both unless --adopt, which records this spec's owner.

Manifests are applied with field manager `airspec` (PATCH, `application/apply-patch+yaml`,
`force=true`): the server sets the fields the manifest holds, removes the ones airspec set
before and no longer does, and leaves fields other managers own. A field another manager set
that the manifest lacks stays (server-side apply does not remove it); it is listed as manual
with the `kubectl patch` that removes it.

Service accounts are created by the chart (remote execution) or by Houston (Software), so
they are not this spec's: a wrong identity annotation on one is refused with the Helm step
that sets it again (the values hold the annotation), and changed only with --adopt (server-
side apply of the annotation, or a JSON merge patch that removes one the spec does not
grant). A missing account is the chart's step; for Software, Houston owns the annotation and
the step is `astro-commands.sh`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from shlex import quote as q  # every live value in a printed command is one argument
from typing import Any

from airspec.apply import converge_tools as tools
from airspec.apply import plan as checks
from airspec.apply.actions import Action, Decision, Options, SpecView, Verb, ownership
from airspec.apply.calls import MANAGER, Api, Call
from airspec.apply.findings import Finding
from airspec.apply.normalize import k8s_object
from airspec.apply.owner import Standing, recorded_in_annotations
from airspec.artifact import Artifact, ArtifactKind, Service
from airspec.live import readers as live

CALLS = (
    "kubernetes: PATCH namespace (server-side apply, fieldManager=airspec)",
    "kubernetes: PATCH configmap (server-side apply, fieldManager=airspec)",
    "kubernetes: PATCH serviceaccount (identity annotation: apply, or merge patch to remove)",
)
IDENTITY_FIELDS = ("apiVersion", "kind")  # with metadata.name/namespace: not owned fields


# --- fields and their managers -----------------------------------------------------------------


def leaves(obj: Any, at: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of the scalar (or list) values of a Kubernetes object; lists are atomic."""
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from leaves(v, (*at, k))
    elif at:
        yield at


def owned_paths(fields_v1: dict[str, Any], at: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The field paths a managedFields entry's `fieldsV1` owns (`f:<name>` keys; a list
    item `k:`/`v:`/`i:` owns the list field it is in)."""
    out: set[tuple[str, ...]] = set()
    for key, sub in fields_v1.items():
        if key == ".":
            out.add(at)
        elif key.startswith("f:"):
            path = (*at, key[2:])
            out.add(path)
            out |= owned_paths(sub or {}, path)
        else:
            out.add(at)
    return out


def _owners(obj: dict[str, Any]) -> dict[str, set[tuple[str, ...]]]:
    found: dict[str, set[tuple[str, ...]]] = {}
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        paths = owned_paths(entry.get("fieldsV1") or {})
        found.setdefault(entry.get("manager", ""), set()).update(paths)
    return found


def _json_pointer(path: tuple[str, ...]) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


def _extra_fields(
    live_obj: dict[str, Any], compiled: dict[str, Any], owners: dict[str, set[tuple[str, ...]]]
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Fields the live object has and the manifest lacks, split in two: those a server-side
    apply as `airspec` removes (airspec alone set them), and those it keeps (set by another
    manager, or by none on record)."""
    want = set(leaves(k8s_object(compiled)))
    ours = owners.get(MANAGER, set())
    others = set().union(*(paths for m, paths in owners.items() if m != MANAGER))
    extra = sorted(p for p in leaves(k8s_object(live_obj)) if p not in want)
    removed = [p for p in extra if p in ours and p not in others]
    return removed, [p for p in extra if p not in removed]


# --- manifests --------------------------------------------------------------------------------


def _with_owner(s: SpecView, obj: dict[str, Any]) -> dict[str, Any]:
    """The object as airspec applies it: with this spec's owner annotations."""
    meta = dict(obj.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **s.owner.tags()}
    return {**obj, "metadata": meta}


def _with_managers(what: str, owners: dict[str, set[tuple[str, ...]]]) -> str:
    return f"{what} (field managers: {', '.join(sorted(owners)) or 'none recorded'})"


def _recorded(current: dict[str, Any], owners: dict[str, set[tuple[str, ...]]]) -> Any:
    annotations = (current.get("metadata") or {}).get("annotations")
    return recorded_in_annotations(annotations, set(owners))


def manifest(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    assert a is not None
    meta = a.content["metadata"]
    name, ns = meta["name"], meta.get("namespace")
    if a.kind is ArtifactKind.K8S_NAMESPACE:
        kind, what = "namespace", f"namespace {name}"
        read = lambda: live.k8s_namespace(s.clients, name)  # noqa: E731
    else:
        kind, what = "configmap", f"configmap {ns}/{name}"
        read = lambda: live.k8s_configmap(s.clients, ns, name)  # noqa: E731
        refused = _in_claimed_namespace(s, target, fs, o, what, ns)
        if refused is not None:
            return [refused]
    current = None if missing else s.raw(target, read, checks.k8s_version)
    owners = {} if current is None else _owners(current)
    if current is None:
        d: Decision | Action = Decision(Verb.CREATE)
    else:
        d = ownership(s, target, fs, o, _recorded(current, owners), _with_managers(what, owners))
    if isinstance(d, Action):
        return [d]
    body = _with_owner(s, a.content)
    actions: list[Action] = []
    removed, kept = ([], []) if current is None else _extra_fields(current, body, owners)
    if current is None or d.verb is Verb.ADOPT or removed or _differs(current, body):
        apply = Call(
            Api.KUBE,
            "apply",
            {"kind": kind, "name": name, "namespace": ns, "body": body, "what": f"apply {what}"},
            f"kubernetes: server-side apply {what} (fieldManager={MANAGER})",
            destructive=bool(removed),
        )
        summary = d.summary(f"server-side apply {what}")
        if removed:
            summary += " (removes " + ", ".join(".".join(p) for p in removed) + ")"
        actions.append(s.action(target, d.verb, summary, fs, [apply]))
    if kept:
        where = f" --namespace {q(ns)}" if ns else ""
        ops = json.dumps([{"op": "remove", "path": _json_pointer(p)} for p in kept])
        actions.append(
            Action(
                s.r.name,
                target,
                Verb.MANUAL,
                f"{what}: {len(kept)} field(s) another field manager set are not in the "
                "manifest; server-side apply keeps them: review, and remove with",
                [] if actions else fs,
                commands=[f"kubectl patch {kind} {q(name)}{where} --type=json -p {q(ops)}"],
            )
        )
    return actions


def _in_claimed_namespace(
    s: SpecView, target: str, fs: list[Finding], o: Options, what: str, ns: str
) -> Action | None:
    """Nothing is made or changed in another spec's namespace (unless --adopt)."""
    where = f"kubernetes/namespace/{ns}"
    home = s.raw(where, lambda: live.k8s_namespace(s.clients, ns), checks.k8s_version)
    if home is None:
        return None
    recorded = _recorded(home, _owners(home))
    if recorded.standing(s.owner) is not Standing.CLAIMED or o.adopt:
        return None
    summary = (
        f"{what} is in namespace {ns}, claimed by another spec: its owner is "
        f"'{recorded.owner}', this spec is '{s.owner.identity}'; --adopt takes "
        "the namespace over"
    )
    refused = s.left(target, Verb.CLAIMED, summary, fs)
    refused.depends.append(where)
    return refused


_READERS = {
    "namespace": lambda c, ident: live.k8s_namespace(c, ident),
    "configmap": lambda c, ident: live.k8s_configmap(c, *ident.split("/", 1)),
    "serviceaccount": lambda c, ident: live.k8s_service_account(c, *ident.split("/", 1)),
}


def claimed(s: SpecView, target: str) -> Any:
    """What a namespace, ConfigMap or service account the spec names records about its
    owner, for the objects that need no change; None to skip."""
    kind, ident = target.split("/", 2)[1:]
    read = _READERS.get(kind)
    if read is None:
        return None
    current = s.raw(target, lambda: read(s.clients, ident), checks.k8s_version)
    return None if current is None else _recorded(current, _owners(current))


def record_owner(s: SpecView, target: str) -> list[Call]:
    """--adopt of an object that needs no other change: apply this spec's owner annotations
    to it (server-side apply of those two fields alone)."""
    kind, ident = target.split("/", 2)[1:]
    if kind == "namespace":
        name, ns = ident, None
        api_kind = "Namespace"
    else:
        ns, name = ident.split("/", 1)
        api_kind = "ConfigMap" if kind == "configmap" else "ServiceAccount"
    meta: dict[str, Any] = {"name": name, "annotations": s.owner.tags()}
    if ns is not None:
        meta["namespace"] = ns
    body = {"apiVersion": "v1", "kind": api_kind, "metadata": meta}
    args = {"kind": kind, "name": name, "namespace": ns, "body": body}
    args["what"] = f"record the owner of {kind} {ident}"
    shown = f"kubernetes: server-side apply {kind} {ident}: airspec.io/owner"
    return [Call(Api.KUBE, "apply", args, shown)]


def _differs(current: dict[str, Any], compiled: dict[str, Any]) -> bool:
    """Whether a value the manifest sets differs live (or is absent)."""
    have, want = k8s_object(current), k8s_object(compiled)

    def at(obj: Any, path: tuple[str, ...]) -> Any:
        for p in path:
            obj = obj.get(p) if isinstance(obj, dict) else None
        return obj

    return any(at(have, p) != at(want, p) for p in leaves(want))


# --- service accounts -------------------------------------------------------------------------


def service_account(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    r = s.r
    ns, name = target.split("/", 3)[2:]
    sa = next(x for x in r.service_accounts if (x.namespace, x.name) == (ns, name))
    key = r.annotation_key
    value = r.cloud_identity if sa.cloud_access and r.annotates else None
    software = r.spec.deployment.software is not None
    if software:
        step = "bash software/astro-commands.sh " + (
            "create" if missing else "update DEPLOYMENT_ID"
        )
        if missing:
            return [tools.astro_step(s, target, fs, o, step)]
        summary = f"Houston sets the identity annotation of {ns}/{name}; run the runbook's step"
        action = s.left(target, Verb.MANUAL, summary, fs)
        action.commands, action.cwd = [step], s.out / r.name
        return [action]
    if missing:  # the chart creates the service accounts: the Helm step
        build = tools.tool(Service.HELM)
        built = build(s, target, a, fs, missing, o)
        return built if isinstance(built, list) else [built]
    read = lambda: live.k8s_service_account(s.clients, ns, name)  # noqa: E731
    current = s.raw(target, read, checks.k8s_version)
    if current is None:  # deleted since the dry run read it: the Helm step makes it again
        build = tools.tool(Service.HELM)
        built = build(s, target, a, fs, True, o)
        return built if isinstance(built, list) else [built]
    what = f"serviceaccount {ns}/{name}"
    owners = _owners(current)
    d = ownership(s, target, fs, o, _recorded(current, owners), _with_managers(what, owners))
    if isinstance(d, Action):
        live_annotations = (current.get("metadata") or {}).get("annotations") or {}
        if d.verb is Verb.REFUSED and live_annotations.get("meta.helm.sh/release-name") == r.helm_release:
            runbook = (s.out / r.name / "RUNBOOK.md").read_text(encoding="utf-8")
            d.summary += "; or run the Helm step again (its values set the annotation)"
            d.commands, d.cwd = tools.runbook_commands(runbook, "helm"), s.out / r.name
        return [d]
    adopting = d.verb is Verb.ADOPT
    where = {"kind": "serviceaccount", "name": name, "namespace": ns}
    if value is None:
        annotations: dict[str, Any] = {key: None}
        if adopting:
            annotations |= s.owner.tags()
        call = Call(
            Api.KUBE,
            "merge-patch",
            {**where, "body": {"metadata": {"annotations": annotations}}, "what": f"remove annotation {key} from {what}"},
            f"kubernetes: merge patch {what}: remove {key}",
            destructive=True,
        )
    else:
        body = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": name,
                "namespace": ns,
                "annotations": {key: value, **s.owner.tags()},
            },
        }
        call = Call(
            Api.KUBE,
            "apply",
            {**where, "body": body, "what": f"annotate {what}"},
            f"kubernetes: server-side apply {what}: {key}",
        )
    summary = d.summary(
        f"remove the identity annotation {key} from {what}"
        if value is None
        else f"annotate {what} with {key}"
    )
    return [s.action(target, d.verb, summary, fs, [call])]
