"""What a new user met on a fresh machine (issue: "A fresh clone installs and passes"):
alias bombs, SSM parameter paths, clusters that already exist, and a lock that installs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from airspec.pipeline import compile_spec
from conftest import AWS_TAIL, GKE_MINIMAL, MINIMAL, ROOT, SOFTWARE_MINIMAL, diagnose, write_spec


def _artifacts(tmp_path: Path, text: str) -> dict[str, object]:
    path = write_spec(tmp_path, text)
    compiled = compile_spec(path, str(path), path.name)
    assert compiled.ok, compiled.diagnostics
    return {a.path: a.content for a in compiled.artifacts}


# --- YAML alias budget --------------------------------------------------------------------


def _bomb(levels: int, width: int = 9) -> str:
    lines = ["a: &a [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels):
        name, prev = chr(ord("a") + i), chr(ord("a") + i - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_first_alias_past_the_budget(tmp_path: Path) -> None:
    # 9^8 = 43 million nodes once expanded; the loader used to build them all (> 20 s).
    # Run in a subprocess with a deadline, so a regression fails instead of hanging the suite.
    spec = write_spec(tmp_path, _bomb(8))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airspec"), "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert proc.returncode == 1
    # level 6 holds 9^6 = 531,441 expanded nodes: its 1st alias of *e (9^5 = 59,049 each)
    # plus all before it passes 100,000 at the 2nd alias on line 6
    assert f"{spec}:6:8: AS007 alias *e expands the document past 100,000 nodes" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_alias_within_its_own_anchor_is_a_cycle_not_a_recursion_error(tmp_path: Path) -> None:
    (d,) = diagnose(tmp_path, "a: &a [*a]\n")
    assert (d.code, d.line, d.col) == ("AS007", 1, 8)
    assert "cycle" in d.message


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    (d,) = diagnose(tmp_path, "a: " + "[" * 500 + "]" * 500 + "\n")
    assert d.code == "AS007" and "64 levels" in d.message


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "deployment:\n",
        "x-defaults: &res {cpu: '1', memory: 2Gi}\ndeployment:\n",
    )
    text = text.replace("x-defaults", "# x-defaults")  # unknown keys are refused; keep anchors
    workers = (
        "  workers:\n"
        "    - &w {name: a, queues: [default], resources: {cpu: '1', memory: 2Gi}}\n"
        "    - {<<: *w, name: b, queues: [heavy]}\n"
    )
    text = text.replace("  providers:\n", workers + "  providers:\n")
    art = _artifacts(tmp_path, text)
    values = art["helm/values.yaml"]
    assert isinstance(values, dict)
    assert [w["name"] for w in values["workers"]] == ["a", "b"]
    assert values["workers"][1]["resources"] == values["workers"][0]["resources"]


def test_the_budget_admits_a_large_but_honest_spec(tmp_path: Path) -> None:
    # 9^4 = 6,561 expanded nodes: well inside the budget (a real spec has a few hundred)
    found = diagnose(tmp_path, _bomb(4))
    assert "AS007" not in {d.code for d in found}


# --- SSM parameter paths --------------------------------------------------------------------

SSM = "  secrets: {type: aws-ssm, connectionsPrefix: %s, variablesPrefix: /airflow/variables}\n"


def test_ssm_prefix_with_leading_slash_reaches_kwargs_arns_and_runbook(tmp_path: Path) -> None:
    art = _artifacts(tmp_path, MINIMAL + SSM % "/airflow/connections")
    values = art["helm/values.yaml"]
    assert isinstance(values, dict)
    env = {e["name"]: e.get("value") for e in values["commonEnv"]}
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert kwargs["connections_prefix"] == "/airflow/connections"
    assert kwargs["variables_prefix"] == "/airflow/variables"
    policy = art["aws/iam-policy.json"]
    assert isinstance(policy, dict)
    (stmt,) = [s for s in policy["Statement"] if s["Sid"] == "ReadAirflowParameters"]
    assert stmt["Resource"] == [
        "arn:aws:ssm:us-east-1:123456789012:parameter/airflow/connections/*",
        "arn:aws:ssm:us-east-1:123456789012:parameter/airflow/variables/*",
    ]
    runbook = art["RUNBOOK.md"]
    assert isinstance(runbook, str)
    assert '--name "/airflow/connections/$CONN_ID"' in runbook
    assert '--name "/airflow/variables/$VAR_KEY"' in runbook


def test_ssm_defaults_are_parameter_paths(tmp_path: Path) -> None:
    art = _artifacts(tmp_path, MINIMAL + "  secrets: {type: aws-ssm}\n")
    values = art["helm/values.yaml"]
    assert isinstance(values, dict)
    env = {e["name"]: e.get("value") for e in values["commonEnv"]}
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    assert kwargs["connections_prefix"] == "/airflow/connections"


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("airflow/connections", "must begin with '/'"),
        ("/aws/connections", "reserves"),
        ("/SSM-things/connections", "reserves"),
        ("/" + "/".join(["l"] * 15), "16, over SSM's limit of 15"),
        ("/air+flow/connections", "characters SSM names cannot: 'air+flow'"),
    ],
)
def test_ssm_prefixes_ssm_would_refuse(tmp_path: Path, prefix: str, message: str) -> None:
    line = (MINIMAL + SSM % prefix).count("\n")
    (d,) = diagnose(tmp_path, MINIMAL + SSM % prefix)
    assert (d.code, d.line) == ("AS219", line)
    assert message in d.message


def test_ssm_prefix_at_the_depth_limit_passes(tmp_path: Path) -> None:
    # 14 levels + the id = 15, SSM's maximum hierarchy depth
    assert diagnose(tmp_path, MINIMAL + SSM % ("/" + "/".join(["l"] * 14))) == []


def test_secrets_manager_keeps_its_own_names(tmp_path: Path) -> None:
    text = MINIMAL + "  secrets: {type: aws-secrets-manager}\n"
    art = _artifacts(tmp_path, text)
    policy = art["aws/iam-policy.json"]
    assert isinstance(policy, dict)
    (stmt,) = [s for s in policy["Statement"] if s["Sid"] == "ReadAirflowSecrets"]
    assert (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:airflow/connections/*"
        in (stmt["Resource"])
    )


# --- clusters that exist and are managed elsewhere -----------------------------------------


def _without(text: str, start: str, end: str) -> str:
    return text[: text.index(start)] + text[text.index(end) :]


def test_existing_eks_cluster_gets_no_eksctl_file_but_its_checks(tmp_path: Path) -> None:
    text = _without(SOFTWARE_MINIMAL, "      nodeGroups:", "    role:")
    art = _artifacts(tmp_path, text)
    assert "eksctl/cluster.yaml" not in art
    assert art["aws/cluster-prerequisites.json"] == {
        "cluster": "demo-cluster",
        "region": "us-east-1",
        "kubernetesVersion": "1.33",
        "oidcIssuer": "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789",
        "oidcProvider": "arn:aws:iam::123456789012:oidc-provider/"
        "oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789",
    }
    runbook = art["RUNBOOK.md"]
    assert isinstance(runbook, str)
    assert "eksctl create cluster" not in runbook and "-f eksctl/" not in runbook
    assert "aws eks describe-cluster --name demo-cluster" in runbook
    assert "eksctl utils associate-iam-oidc-provider --cluster demo-cluster" in runbook


def test_existing_gke_cluster_gets_no_cluster_file_but_its_checks(tmp_path: Path) -> None:
    text = _without(GKE_MINIMAL, "      nodePools:", "    serviceAccount:")
    art = _artifacts(tmp_path, text)
    assert "gcp/cluster.json" not in art
    prereq = art["gcp/cluster-prerequisites.json"]
    assert isinstance(prereq, dict)
    assert prereq["workloadIdentityConfig"] == {"workloadPool": "demo-project.svc.id.goog"}
    runbook = art["RUNBOOK.md"]
    assert isinstance(runbook, str)
    assert "gcloud container clusters create" not in runbook
    assert "--format='value(workloadIdentityConfig.workloadPool)'" in runbook


def test_existing_cluster_without_issuer_says_to_resolve(tmp_path: Path) -> None:
    text = _without(AWS_TAIL, "      nodeGroups:", "    role:")
    text = re.sub(r"      oidcIssuer: .*\n", "", text)
    art = _artifacts(tmp_path, MINIMAL.split("cloud:\n")[0] + text)
    runbook = art["RUNBOOK.md"]
    assert isinstance(runbook, str)
    assert "airspec resolve" in runbook and "exists only now" not in runbook
    assert "aws/trust-policy.json" not in art


def test_software_examples_describe_existing_clusters() -> None:
    for name in ("software-eks", "software-gke"):
        tree = ROOT / "out" / name
        assert not (tree / "eksctl").exists() and not (tree / "gcp" / "cluster.json").exists()
        assert list(tree.glob("*/cluster-prerequisites.json"))


# --- the lock -------------------------------------------------------------------------------


def test_the_bootstrap_uv_is_the_locked_uv() -> None:
    """README and CI install uv with pip, then everything else from uv.lock: one version."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (uv,) = [p["version"] for p in lock["package"] if p["name"] == "uv"]
    for path in ("README.md", ".ci/run"):
        pins = set(re.findall(r"uv==([0-9.]+)", (ROOT / path).read_text()))
        assert pins == {uv}, (path, pins, uv)


def test_ci_installs_from_the_lock_and_refuses_a_stale_one() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "uv sync --locked" in ci and "pip install -e" not in ci
    readme = (ROOT / "README.md").read_text()
    assert "uv sync --locked" in readme.split("```")[1]


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    """The README's second command is the test command; CI runs it as written."""
    block = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].split("```", 1)[0]
    install, test = block.strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci, (test, ci)
    assert "airspec compile specs/" in install


def test_nothing_reads_the_reference_shelf_outside_the_repo() -> None:
    pattern = re.compile(r"\.\./shared|parent\s*/\s*[\"']shared[\"']")
    tracked = subprocess.run(
        ["git", "ls-files", "compiler", "tests", "bench", ".ci", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "compiler/airspec/cli.py" in tracked
    offenders = [
        name
        for name in tracked
        if Path(name).suffix in ("", ".py", ".sh", ".md")
        and pattern.search((ROOT / name).read_text())
    ]
    assert offenders == []
