"""out/<name>/GRAPH.md: its Mermaid nodes and edges are exactly the grants of the artifacts
beside it (computed here from those artifacts, not from the graph's own code)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, without_dag_processor_identity

TREES = sorted(p.parent for p in (ROOT / "out").glob("*/GRAPH.md"))
NODE = re.compile(r'^  (n\d+)\["(.*)"\]$')
EDGE = re.compile(r'^  (n\d+) -->\|"(.*)"\| (n\d+)$')


def parse(text: str) -> set[tuple[str, str, str]]:
    """(source label, edge label, target label) of each edge; fails on any other line."""
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0].splitlines()
    assert block[0] == "flowchart LR"
    nodes: dict[str, str] = {}
    edges = []
    for line in block[1:]:
        if m := NODE.match(line):
            nodes[m[1]] = m[2]
        elif m := EDGE.match(line):
            edges.append((m[1], m[2], m[3]))
        else:
            raise AssertionError(f"not a node or an edge: {line!r}")
    assert len(edges) == len(set(edges)), "an edge is drawn twice"
    used = {a for a, _, _ in edges} | {b for _, _, b in edges}
    assert used == set(nodes), "a node without an edge, or an edge to an undeclared node"
    return {(nodes[a], label, nodes[b]) for a, label, b in edges}


def _as_list(v: object) -> list:  # type: ignore[type-arg]
    return v if isinstance(v, list) else [v]


def expected_aws(tree: Path) -> set[tuple[str, str, str]]:
    out = set()
    manifest = {a["path"]: a for a in json.loads((tree / "manifest.json").read_text())["artifacts"]}
    trust = json.loads((tree / "aws" / "trust-policy.json").read_text())
    role = "IAM role " + manifest["aws/trust-policy.json"]["live"]["id"].rsplit("/", 1)[1]
    (s,) = trust["Statement"]
    cond = s["Condition"]["StringEquals"]
    if "Federated" in s["Principal"]:
        subs = next(_as_list(v) for k, v in cond.items() if k.endswith(":sub"))
        accounts = ["/".join(sub.split(":")[2:]) for sub in subs]
    else:
        ns = cond["aws:RequestTag/kubernetes-namespace"]
        accounts = [
            f"{ns}/{sa}" for sa in _as_list(cond["aws:RequestTag/kubernetes-service-account"])
        ]
    actions = ", ".join(_as_list(s["Action"]))
    out |= {(f"ServiceAccount {a}", actions, role) for a in accounts}
    policy_name = "policy " + manifest["aws/iam-policy.json"]["live"]["id"].rsplit("/", 1)[1]
    out.add((role, "attached", policy_name))
    for st in json.loads((tree / "aws" / "iam-policy.json").read_text())["Statement"]:
        acts = ", ".join(_as_list(st["Action"]))
        for arn in _as_list(st["Resource"]):
            service, resource = arn.split(":")[2], arn.split(":", 5)[5]
            target = f"s3://{resource}" if service == "s3" else f"{service} {resource}"
            prefixes = st.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
            for p in _as_list(prefixes) if prefixes else [None]:
                out.add((policy_name, acts, target if p is None else f"{target}/{p}"))
    return out


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_graph_is_the_grants_of_the_artifacts(tree: Path) -> None:
    edges = parse((tree / "GRAPH.md").read_text())
    if (tree / "aws" / "trust-policy.json").exists():
        expected = expected_aws(tree)
        assert expected <= edges
        # what else is drawn is the log reader's chain, nothing else
        assert all("log-reader" in a + c or "astro-log-reader" in a for a, _, c in edges - expected)
    else:
        bindings = json.loads((tree / "gcp" / "iam-bindings.json").read_text())
        gsa = "Google service account " + bindings["serviceAccount"]["email"]
        members = {
            m.split("[", 1)[1].rstrip("]")
            for r in bindings["resources"]
            if r["type"] == "iam.serviceAccount"
            for b in r["bindings"]
            for m in b["members"]
        }
        assert {a for a, _, c in edges if c == gsa} == {f"ServiceAccount {m}" for m in members}
        grants = sum(
            len(r["bindings"]) for r in bindings["resources"] if r["type"] != "iam.serviceAccount"
        )
        assert len([e for e in edges if e[0] == gsa]) == grants


def test_every_example_tree_has_a_graph() -> None:
    assert {p.name for p in TREES} == {
        p.parent.name for p in (ROOT / "out").glob("*/manifest.json")
    }


def test_only_the_service_accounts_with_access_are_drawn(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from conftest import invoke

    spec = tmp_path / "s.airspec.yaml"
    text = (ROOT / "specs" / "remote-exec-eks.airspec.yaml").read_text()
    spec.write_text(without_dag_processor_identity(text))
    (tmp_path / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    assert invoke(CliRunner(), "compile", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    edges = parse((tmp_path / "out" / "remote-exec-demo" / "GRAPH.md").read_text())
    sources = {a for a, _, _ in edges if a.startswith("ServiceAccount")}
    assert sources == {
        "ServiceAccount airflow-agents/astro-agent-worker",
        "ServiceAccount airflow-agents/astro-agent-triggerer",
    }
    # the broadest grant on the logs prefix, as an edge a reviewer can read
    assert (
        "policy AirflowS3Access",
        "s3:GetObject, s3:PutObject",
        "s3://my-airflow-bucket/logs/*",
    ) in edges


def test_a_grant_added_to_the_policy_shows_in_the_graph(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from conftest import invoke

    spec = tmp_path / "s.airspec.yaml"
    text = (ROOT / "specs" / "remote-exec-eks.airspec.yaml").read_text()
    spec.write_text(
        text.replace(
            "  dagProcessor:", "  cloudAccess: [workers, triggerer, dagProcessor]\n  dagProcessor:"
        )
    )
    (tmp_path / "constraints.txt").write_text((ROOT / "specs" / "constraints.txt").read_text())
    assert invoke(CliRunner(), "compile", str(spec), "--out", str(tmp_path / "out")).exit_code == 0
    edges = parse((tmp_path / "out" / "remote-exec-demo" / "GRAPH.md").read_text())
    assert (
        "ServiceAccount airflow-agents/astro-agent-dag-processor",
        "sts:AssumeRoleWithWebIdentity",
        "IAM role AirflowS3LoggerXComRole",
    ) in edges
