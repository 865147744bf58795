"""`airspec apply` for what external tools create: EKS clusters and node groups (eksctl),
GKE clusters (gcloud container), Helm releases (helm), Software deployments (astro).

The step is *pending*: the exact commands of RUNBOOK.md's shell blocks are printed; with
--with-tools, and the binary on PATH, they are run in out/<name>/.
"""

from __future__ import annotations

import re
import shutil

from airspec.apply import plan as checks
from airspec.apply.actions import Action, Builder, Options, SpecView, Verb
from airspec.apply.calls import Api, Call
from airspec.apply.findings import Finding
from airspec.apply.owner import recorded_in_annotations
from airspec.artifact import Artifact, Service
from airspec.live import readers as live

TOOLS = {
    Service.EKS: "eksctl",
    Service.GKE: "gcloud",
    Service.HELM: "helm",
}


def runbook_commands(runbook: str, tool: str) -> list[str]:
    """The commands of RUNBOOK.md's shell blocks that run `tool` (a line ending in `\\`
    joined with the next), in order; for `gcloud`, its `container` commands only."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", runbook, flags=re.S):
        lines = block.splitlines()
        while lines:
            line = lines.pop(0)
            while line.endswith("\\") and lines:
                line = line[:-1] + lines.pop(0).strip()
            words = line.split()
            if words[:1] == [tool] and (tool != "gcloud" or words[1:2] == ["container"]):
                commands.append(line)
    return commands


_EKSCTL_CREATE = re.compile(r"eksctl create cluster .*$")


def tool(service: Service) -> Builder:
    binary = TOOLS[service]

    def build(
        s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
    ) -> Action:
        runbook = (s.out / s.r.name / "RUNBOOK.md").read_text(encoding="utf-8")
        commands = runbook_commands(runbook, binary)
        depends: list[str] = []
        if service in (Service.EKS, Service.GKE) and not missing:
            # the runbook's commands create a cluster (and, on GKE, delete the default pool
            # the create made): never run against a cluster that exists
            commands = []
        elif target.startswith("eks/nodegroup/") and _cluster_exists(s, target):
            # `create cluster` refuses an existing cluster: add the node group to it
            group = target.rsplit("/", 1)[1]
            # the runbook's create is guarded (`eksctl get cluster … || eksctl create cluster …`)
            creates = [m.group(0) for c in commands if (m := _EKSCTL_CREATE.search(c))]
            commands = [
                c.replace("eksctl create cluster", "eksctl create nodegroup", 1)
                + f" --include={group}"
                for c in creates
            ]
            depends = [f"eks/cluster/{target.split('/')[2]}"]
        if not commands:
            what = ", ".join(sorted({f.path or f.message for f in fs})) or "settings"
            summary = (
                f"{target} exists and differs ({what}); airspec does not change an existing "
                "cluster: change it with its own tool (eksctl / gcloud container ... update)"
            )
            return Action(s.r.name, target, Verb.MANUAL, summary, fs)
        action = _pending(s, target, fs, o, binary, commands)
        action.depends += depends
        return action

    return build


def _cluster_exists(s: SpecView, target: str) -> bool:
    cluster = target.split("/")[2]
    read = lambda: live.eks_cluster(s.clients, cluster, s.r.aws.region)  # noqa: E731
    return s.raw(f"eks/cluster/{cluster}", read, checks.present) is not None


def _pending(
    s: SpecView, target: str, fs: list[Finding], o: Options, binary: str, commands: list[str]
) -> Action:
    folder = s.out / s.r.name
    action = Action(
        s.r.name,
        target,
        Verb.PENDING,
        f"run {binary} (RUNBOOK.md): {target}",
        fs,
        commands=commands,
        cwd=folder,
    )
    if o.with_tools and shutil.which(binary):
        blocked = _helm_blocked(s, o) if binary == "helm" else None
        if blocked is None:
            action.calls = [
                Call(Api.TOOL, "run", {"command": c, "folder": s.r.name}, c) for c in commands
            ]
            action.clients = s.clients
        else:
            action.summary += f"; not run: {blocked}"
        if binary == "helm":
            action.depends.append(f"kubernetes/namespace/{s.r.namespace}")
    return action


def _helm_blocked(s: SpecView, o: Options) -> str | None:
    """Why `helm upgrade --install` must not run: the release's namespace exists and does
    not record this spec's owner (another spec's, or not airspec's), so the release in it is
    not provably this spec's. None when it may run (or --adopt)."""
    if o.adopt:
        return None
    read = lambda: live.k8s_namespace(s.clients, s.r.namespace)  # noqa: E731
    current = s.raw(f"kubernetes/namespace/{s.r.namespace}", read, checks.k8s_version)
    if current is None:
        return None  # created by this run's namespace action, as this spec's
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    recorded = recorded_in_annotations(annotations, set())
    if recorded.owner == s.owner.identity:
        return None
    return (
        f"namespace {s.r.namespace} records owner {recorded.who()}, not this spec's, so the "
        "release in it may be another's; run the command yourself, or rerun with --adopt"
    )


def astro_step(s: SpecView, target: str, fs: list[Finding], o: Options, command: str) -> Action:
    """A Software step: `software/astro-commands.sh` runs the astro CLI."""
    return _pending(s, target, fs, o, "astro", [command])
