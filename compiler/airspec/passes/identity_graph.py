"""Lower the identity artifacts to GRAPH.md: a Mermaid flowchart of who can assume what.

Kubernetes service account -> IAM role (IRSA or Pod Identity) or Google service account ->
policy -> the bucket prefixes and secret prefixes it grants, with the actions on each edge.
Everything is read from the artifacts written before (the trust policies, the permission and
log-reader policies, the GCP bindings), so the picture cannot disagree with what is applied;
GitHub renders the block as is, and a change to any grant shows in the PR diff of this file.
"""

from __future__ import annotations

from typing import Any

from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec

PATH = "GRAPH.md"


class _Graph:
    """Nodes numbered in order of first appearance; edges kept in insertion order, once."""

    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}  # label -> id
        self.edges: list[tuple[str, str, str]] = []

    def node(self, label: str) -> str:
        if label not in self.nodes:
            self.nodes[label] = f"n{len(self.nodes) + 1}"
        return self.nodes[label]

    def edge(self, src: str, label: str, dst: str) -> None:
        e = (self.node(src), label, self.node(dst))
        if e not in self.edges:
            self.edges.append(e)

    def mermaid(self) -> list[str]:
        def q(text: str) -> str:
            return '"' + text.replace('"', "#quot;") + '"'

        lines = ["flowchart LR"]
        lines += [f"  {ident}[{q(label)}]" for label, ident in self.nodes.items()]
        lines += [f"  {a} -->|{q(label)}| {b}" for a, label, b in self.edges]
        return lines


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resource(arn: str) -> str:
    """`arn:aws:s3:::b/logs/*` -> `s3://b/logs/*`; other ARNs -> `<service> <resource>`."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    service, resource = parts[2], parts[5]
    return f"s3://{resource}" if service == "s3" else f"{service} {resource}"


def _principals(statement: dict[str, Any]) -> list[str]:
    """Who a trust statement lets in, as graph labels."""
    principal = statement.get("Principal", {})
    conditions = statement.get("Condition", {}).get("StringEquals", {})
    if "Federated" in principal:  # IRSA: the exact `sub` claims
        subs = next((_list(v) for k, v in conditions.items() if k.endswith(":sub")), [])
        return [f"ServiceAccount {s.rsplit(':', 2)[-2]}/{s.rsplit(':', 1)[-1]}" for s in subs]
    if principal.get("Service") == "pods.eks.amazonaws.com":  # Pod Identity: session tags
        ns = conditions.get("aws:RequestTag/kubernetes-namespace", "?")
        accounts = _list(conditions.get("aws:RequestTag/kubernetes-service-account", []))
        return [f"ServiceAccount {ns}/{sa}" for sa in accounts]
    return [f"{kind} {who}" for kind, value in principal.items() for who in _list(value)]


def _grants(g: _Graph, holder: str, policy: Artifact) -> None:
    for s in policy.content.get("Statement", []):
        actions = ", ".join(_list(s.get("Action", [])))
        prefixes = s.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        for arn in _list(s.get("Resource", [])):
            target = _resource(arn)
            if prefixes:  # ListBucket limited to keys under the prefixes
                for p in _list(prefixes):
                    g.edge(holder, actions, f"{target}/{p}")
            else:
                g.edge(holder, actions, target)


def _role(trust: Artifact) -> str:
    assert trust.live is not None
    return "IAM role " + trust.live.id.rsplit("/", 1)[-1]


def _aws(g: _Graph, ctx: Context) -> None:
    trust, policy = ctx.find(ArtifactKind.AWS_TRUST_POLICY), ctx.find(ArtifactKind.AWS_IAM_POLICY)
    if trust is not None:
        role = _role(trust)
        for s in trust.content["Statement"]:
            for who in _principals(s):
                g.edge(who, ", ".join(_list(s["Action"])), role)
        if policy is not None and policy.live is not None:
            name = "policy " + policy.live.id.rsplit("/", 1)[-1]
            g.edge(role, "attached", name)
            _grants(g, name, policy)
    reader_trust = ctx.find(ArtifactKind.AWS_LOG_READER_TRUST_POLICY)
    reader_policy = ctx.find(ArtifactKind.AWS_LOG_READER_POLICY)
    if reader_trust is not None and reader_policy is not None and reader_policy.live is not None:
        role = _role(reader_trust)
        for s in reader_trust.content["Statement"]:
            for who in _principals(s):
                g.edge(who, ", ".join(_list(s["Action"])), role)
        name = "inline policy " + reader_policy.live.id.split("/", 1)[1]
        g.edge(role, "inline", name)
        _grants(g, name, reader_policy)


def _gcp(g: _Graph, ctx: Context) -> None:
    found = ctx.find(ArtifactKind.GCP_IAM_BINDINGS)
    if found is None:
        return
    gsa = "Google service account " + found.content["serviceAccount"]["email"]
    for res in found.content["resources"]:
        for b in res["bindings"]:
            if res["type"] == "iam.serviceAccount":  # Workload Identity: KSA -> GSA
                for member in b["members"]:
                    ksa = member.split("[", 1)[1].rstrip("]") if "[" in member else member
                    g.edge(f"ServiceAccount {ksa}", b["role"], gsa)
                continue
            condition = b.get("condition")
            if res["type"] == "storage.bucket":
                target = "gs://" + res["resource"].rsplit("/", 1)[1]
                if condition is not None:
                    target += f" ({condition['title'].removeprefix('airspec: ')})"
            else:
                target = res["resource"]
                if condition is not None:
                    target += f" ({condition['description']})"
            g.edge(gsa, b["role"], target)


def identity_graph(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """GRAPH.md for any target; nothing when no identity artifact was written."""
    g = _Graph()
    if r.spec.cloud.aws is not None:
        _aws(g, ctx)
    else:
        _gcp(g, ctx)
    if not g.edges:
        return []
    text = [
        f"<!-- generated by airspec from {r.source}; do not edit -->",
        f"# Who can assume what: {r.name}",
        "",
        "Each arrow is a grant in the compiled artifacts: a Kubernetes service account assumes "
        "the cloud identity, which holds the policy, which allows the actions on the arrow "
        "over the bucket prefixes and secret names. Service accounts not shown get no cloud "
        "identity.",
        "",
        "```mermaid",
        *g.mermaid(),
        "```",
    ]
    return [Artifact(PATH, ArtifactKind.IDENTITY_GRAPH, "markdown", "\n".join(text) + "\n")]
