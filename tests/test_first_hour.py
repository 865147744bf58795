"""A new user's first hour (issue 27): each friction item, through the CLI and the API.

Every test here fails on 33a2644, the commit the issue was filed against.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import GKE_MINIMAL, MINIMAL, ROOT, diagnose, invoke, write_spec

BIN = Path(sys.executable).parent
ISSUER = "https://oidc.eks.eu-central-1.amazonaws.com/id/ABCDEF0123456789"


def _git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=300)


def _steps(runbook: str) -> dict[str, tuple[str, str]]:
    """RUNBOOK.md's steps by title: (the prose before the block, the shell block)."""
    out = {}
    for m in re.finditer(r"^## \d+\. (.+?)\n(.*?)```sh\n(.*?)```", runbook, flags=re.S | re.M):
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


# --- an existing cluster: the issuer, and init --------------------------------------------------


def test_as210_hint_and_explain_give_both_ways_to_the_issuer(tmp_path: Path, runner: CliRunner) -> None:
    text = "\n".join(line for line in MINIMAL.splitlines() if "oidcIssuer" not in line) + "\n"
    (d,) = [d for d in diagnose(tmp_path, text) if d.code == "AS210"]
    assert (
        "aws eks describe-cluster --name demo-cluster --region us-east-1 "
        "--query cluster.identity.oidc.issuer" in d.hint
    )
    assert "cloud.aws.cluster.oidcIssuer" in d.hint and "airspec resolve" in d.hint
    doc = invoke(runner, "explain", "AS210").stdout
    assert "aws eks describe-cluster" in doc and "oidcIssuer" in doc and "airspec resolve" in doc


def test_init_for_an_existing_cluster_compiles_to_a_complete_runbook(tmp_path: Path) -> None:
    """The common case from flags alone: IRSA on an existing EKS cluster, DAGs from git, the
    chart pinned; compiled with no live access, nothing is missing."""
    repo = _git_repo(tmp_path / "repo")
    result = _run(
        [
            "airspec", "init", "specs/orders.airspec.yaml", "--existing-cluster",
            "--identity", "irsa", "--oidc-issuer", ISSUER,
            "--dags-repo", "https://github.com/acme/dags", "--chart-version", "1.0.3",
        ],
        repo,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "AS" not in result.stderr  # the starter validates without a warning
    spec = (repo / "specs" / "orders.airspec.yaml").read_text()
    assert "region: eu-central-1" in spec  # taken from the issuer
    assert "nodeGroups" not in spec  # an existing cluster: nothing to create
    compiled = _run(["airspec", "compile", "specs/"], repo)
    assert compiled.returncode == 0, compiled.stderr
    assert "AS210" not in compiled.stderr
    tree = repo / "out" / "orders"
    assert (tree / "aws" / "trust-policy.json").is_file() and (tree / "GRAPH.md").is_file()
    assert not (tree / "eksctl").exists()
    steps = _steps((tree / "RUNBOOK.md").read_text())
    assert not any("airspec resolve" in block for _, block in steps.values())
    helm = steps["Install or upgrade the agents"][1]
    assert "--version 1.0.3" in helm
    values = (tree / "helm" / "values.yaml").read_text()
    assert "https://github.com/acme/dags" in values


def test_init_existing_gke_cluster_and_pod_identity(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo")
    gke = _run(["airspec", "init", "specs/g.airspec.yaml", "--cloud", "gcp", "--existing-cluster", "--region", "europe-west4"], repo)
    assert gke.returncode == 0, gke.stderr
    assert "nodePools" not in (repo / "specs" / "g.airspec.yaml").read_text()
    pod = _run(["airspec", "init", "specs/p.airspec.yaml", "--existing-cluster", "--identity", "pod-identity"], repo)
    assert pod.returncode == 0, pod.stderr
    compiled = _run(["airspec", "compile", "specs/"], repo)
    assert compiled.returncode == 0 and "warning" not in compiled.stderr, compiled.stderr


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--existing-cluster", "--identity", "irsa"], "aws eks describe-cluster"),
        (["--oidc-issuer", ISSUER, "--region", "us-east-1"], "region eu-central-1"),
        (["--region", "eu-centrl-1"], "did you mean 'eu-central-1'"),
        (["--identity", "pod-identity", "--oidc-issuer", ISSUER], "Pod Identity needs none"),
        (["--chart-version", "latest"], "not a version"),
    ],
)
def test_init_refuses_choices_that_cannot_compile_completely(
    tmp_path: Path, flags: list[str], says: str
) -> None:
    repo = _git_repo(tmp_path / "repo")
    result = _run(["airspec", "init", "specs/x.airspec.yaml", *flags], repo)
    assert result.returncode == 1 and says in result.stderr, result.stderr
    assert not (repo / "specs" / "x.airspec.yaml").exists()


# --- regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "hint"),
    [("eu-centrl-1", "'eu-central-1'"), ("EU-Central-1", "did you mean 'eu-central-1'?")],
)
def test_aws_region_typos_are_refused_with_the_region_meant(
    tmp_path: Path, region: str, hint: str
) -> None:
    text = MINIMAL.replace("region: us-east-1", f"region: {region}").replace(
        "oidc.eks.us-east-1", "oidc.eks.eu-central-1"
    )
    diags = diagnose(tmp_path, text)
    (d,) = [d for d in diags if d.is_error]
    assert d.code == "AS230" and hint in d.hint and (d.line, d.col) == (19, 13)
    assert not any(x.code == "AS201" for x in diags)  # the issuer is not blamed


def test_aws_partitions(tmp_path: Path) -> None:
    iso = MINIMAL.replace("region: us-east-1", "region: us-iso-east-1")
    (d,) = [d for d in diagnose(tmp_path, iso) if d.code == "AS230"]
    assert "aws-iso" in d.message
    gov = MINIMAL.replace("region: us-east-1", "region: us-gov-west-1").replace(
        "oidc.eks.us-east-1", "oidc.eks.us-gov-west-1"
    )
    assert not [d for d in diagnose(tmp_path, gov) if d.is_error]
    china = MINIMAL.replace("region: us-east-1", "region: cn-north-1").replace(
        "oidc.eks.us-east-1.amazonaws.com", "oidc.eks.cn-north-1.amazonaws.com"
    )
    (d,) = [d for d in diagnose(tmp_path, china) if d.code == "AS230"]
    assert "amazonaws.com.cn" in d.message  # a China cluster's issuer is in .com.cn
    arn = MINIMAL.replace(
        "    imagePullSecret: registry\n",
        "    imagePullSecret: registry\n    logReaderRoleArn: arn:aws-us-gov:iam::123456789012:role/r\n",
    )
    (d,) = [d for d in diagnose(tmp_path, arn) if d.code == "AS230"]
    assert "aws-us-gov" in d.message and "'us-east-1' is in 'aws'" in d.message


@pytest.mark.parametrize(
    ("old", "new", "hint"),
    [
        ("region: us-central1", "region: us-centrl1", "'us-central1'"),
        ("location: us-central1", "location: us-central1-z", "us-central1-a, us-central1-b"),
        ("region: us-central1", "region: US-Central1", "did you mean 'us-central1'?"),
    ],
)
def test_gcp_regions_and_zones(tmp_path: Path, old: str, new: str, hint: str) -> None:
    diags = diagnose(tmp_path, GKE_MINIMAL.replace(old, new, 1))
    (d,) = [d for d in diags if d.is_error]
    assert d.code == "AS230" and hint in d.hint, d


def test_gcp_two_digit_regions_are_regions(tmp_path: Path) -> None:
    text = GKE_MINIMAL.replace("us-central1", "europe-west10")
    assert not [d for d in diagnose(tmp_path, text) if d.is_error]


# --- every problem in one round --------------------------------------------------------------


def test_four_mistakes_four_diagnostics(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("  namespace: agents\n", "  namespace: agents\n  namespce: x\n")
        .replace('accountId: "123456789012"', 'accountId: "12345"')
        .replace("    imagePullSecret: registry\n", "    imagePullSecret: registry\n    apiToken: abc\n")
        .replace("logs: {bucket: demo-bucket", "logs: {bucket: other-bucket")
    )
    codes = sorted(d.code for d in diagnose(tmp_path, text))
    assert codes == ["AS101", "AS106", "AS202", "AS203"]


_BREAKS = {  # a schema error far from buckets and backends
    "metadata.name": ("name: demo", "name: Demo_Name"),
    "accountId": ('accountId: "123456789012"', "accountId: 12"),
    "namespace": ("namespace: agents", "namespace: [a]"),
    "kubernetesVersion": ('kubernetesVersion: "1.33"', "kubernetesVersion: 1.33"),
    "nodeGroups": ("instanceType: m5.xlarge", "instanceType: 5"),
    "unknown key": ("  namespace: agents\n", "  namespace: agents\n  nope: 1\n"),
}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(broken=st.sets(st.sampled_from(sorted(_BREAKS)), min_size=1))
def test_a_cross_field_rule_runs_whatever_else_failed(tmp_path: Path, broken: set[str]) -> None:
    """Property: an undeclared bucket is reported next to any set of schema errors elsewhere."""
    text = MINIMAL.replace("xcom: {bucket: demo-bucket", "xcom: {bucket: elsewhere")
    for key in broken:
        old, new = _BREAKS[key]
        text = text.replace(old, new, 1)
    codes = [d.code for d in diagnose(tmp_path, text)]
    assert "AS202" in codes and len([c for c in codes if c != "AS202"]) >= 1


# --- the chart is pinned -----------------------------------------------------------------


def test_helm_chart_is_pinned_and_an_unpinned_spec_warns(tmp_path: Path, runner: CliRunner) -> None:
    unpinned = MINIMAL.replace('  helm:\n    chartVersion: "1.0.2"\n', "")
    (d,) = diagnose(tmp_path, unpinned)
    assert d.code == "AS231" and not d.is_error and "1.0.2" in d.message
    out = tmp_path / "out"
    spec = write_spec(tmp_path, unpinned)
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    runbook = (out / "demo" / "RUNBOOK.md").read_text()
    assert re.search(r"helm upgrade --install \S+ astronomer/astro-remote-execution-agent .*--version 1\.0\.2", runbook)
    bad = MINIMAL.replace('chartVersion: "1.0.2"', "chartVersion: latest")
    assert [d.code for d in diagnose(tmp_path, bad)] == ["AS107"]


# --- the runbook -------------------------------------------------------------------------------


def _compiled_runbook(tmp_path: Path, runner: CliRunner, text: str, name: str = "demo") -> str:
    spec = write_spec(tmp_path, text)
    out = tmp_path / "out"
    result = invoke(runner, "compile", str(spec), "--out", str(out))
    assert result.exit_code == 0, result.output
    return (out / name / "RUNBOOK.md").read_text()


BUNDLE = """\
bundles:
  - name: dags
    git: {repo: "https://github.com/acme/dags", credentialsSecret: git-dags}
"""


def test_runbook_explains_every_value_it_asks_for(tmp_path: Path, runner: CliRunner) -> None:
    # a git bundle needs the git provider in the components that read DAGs (AS204)
    with_git = MINIMAL.replace(
        '"apache-airflow-providers-common-io==1.6.1"',
        '"apache-airflow-providers-common-io==1.6.1", "apache-airflow-providers-git==0.0.8"',
    )
    runbook = _compiled_runbook(tmp_path, runner, with_git + BUNDLE)
    prose, block = _steps(runbook)["Check the environment"]
    asked = re.findall(r'^: "\$\{(\w+):\?', block, flags=re.M)
    assert set(asked) == {"ASTRO_AGENT_TOKEN", "ASTRO_REGISTRY_PASSWORD", "GIT_DAGS_LOGIN", "GIT_DAGS_TOKEN"}
    for var in asked:
        assert re.search(rf"^- `{var}`: \S.{{20,}}$", prose, flags=re.M), var
    assert "Deployment API token" in prose  # the registry password
    assert "x-access-token" in prose and "GitHub user name" in prose  # the git login
    assert "astroDeploymentAPIURL" in prose and "Register a Remote Agent" in prose  # apiUrl


def test_schema_and_runbook_agree_on_the_secrets_the_runbook_creates(
    tmp_path: Path, runner: CliRunner
) -> None:
    schema = json.loads((ROOT / "schemas" / "airspec.schema.json").read_text())
    astro = schema["$defs"]["Astro"]["properties"]
    runbook = _compiled_runbook(tmp_path, runner, MINIMAL)
    for field, name in (("agentTokenSecret", "agent-token"), ("imagePullSecret", "registry")):
        assert f"kubectl create secret generic {name} --namespace" in runbook or (
            f"kubectl create secret docker-registry {name} --namespace" in runbook
        )
        text = json.dumps(astro[field])
        assert "existing" not in text, field  # the runbook creates it: it need not exist
        assert "runbook creates" in astro[field]["description"], field


def _fake_cli(bin_dir: Path, state: Path, name: str) -> None:
    """A stand-in for `gcloud` with the documented semantics that matter here: a `create` of
    something that exists fails (ALREADY_EXISTS), `describe` fails for something missing,
    `delete` of something missing fails; everything else succeeds. State lives in `state`."""
    script = bin_dir / name
    script.write_text(
        f"""#!/usr/bin/env python3
import hashlib, sys
from pathlib import Path
args = [a for a in sys.argv[1:] if not a.startswith("-") or a.startswith("--cluster=")]
verbs = {{"create", "describe", "get", "delete"}}
i = next((n for n, a in enumerate(args) if a in verbs), None)
if i is None:
    sys.exit(0)
rest = args[:i] + args[i + 1:]
if "service-accounts" in rest:  # created by id, described by email
    rest = [a.split("@")[0] for a in rest]
verb, what = args[i], " ".join(rest)
key = Path({str(state)!r}) / hashlib.sha256(what.encode()).hexdigest()
with open({str(state)!r} + "/calls", "a") as log:
    log.write("{name} " + " ".join(sys.argv[1:]) + "\\n")
if verb in ("describe", "get"):
    sys.exit(0 if key.exists() else 1)
if verb == "delete":
    sys.exit(0 if key.exists() and not key.unlink() else 1)
if key.exists():
    print("ERROR: ALREADY_EXISTS", file=sys.stderr)
    sys.exit(1)
key.touch()
"""
    )
    script.chmod(0o755)


def _run_blocks(blocks: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(blocks)
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gke_create_steps_can_run_twice(tmp_path: Path, runner: CliRunner) -> None:
    text = GKE_MINIMAL + "  secrets: {type: gcp-secret-manager}\n"
    runbook = _compiled_runbook(tmp_path, runner, text)
    steps = _steps(runbook)
    state, bin_dir = tmp_path / "state", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    _fake_cli(bin_dir, state, "gcloud")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AIRSPEC_ENABLE_UNIFORM_ACCESS": "yes"}
    blocks = [
        steps["Create the GKE cluster with Workload Identity"][1],
        steps["Create the Google service account and its bindings"][1],
    ]
    for attempt in (1, 2):
        result = _run_blocks(blocks, tmp_path / "out" / "demo", env)
        assert result.returncode == 0, (attempt, result.stderr)
    calls = (state / "calls").read_text()
    assert calls.count("iam service-accounts create") == 1  # the second run found it
    assert calls.count("container clusters create") == 1


@pytest.mark.skipif(shutil.which("aws") is None, reason="needs the AWS CLI")
def test_iam_steps_can_run_again_against_moto(tmp_path: Path, runner: CliRunner, moto: Any) -> None:
    """The real AWS CLI runs the runbook's IAM step against moto over HTTP, six times: the
    first creates the policy and the role, the next update them, and at five policy versions
    the oldest non-default one is deleted first (IAM's limit)."""
    from live_servers import aws_client, moto_env

    text = MINIMAL.replace("DemoRole", "RerunRole").replace("DemoAccess", "RerunAccess")
    text = text.replace(
        "    imagePullSecret: registry\n",
        "    imagePullSecret: registry\n    logReaderRoleArn: arn:aws:iam::123456789012:role/astro\n",
    )
    runbook = _compiled_runbook(tmp_path, runner, text)
    steps = _steps(runbook)
    blocks = [block for _, block in steps.values() if "aws iam" in block and "create-role" in block]
    assert len(blocks) == 2  # the agents' role, the log reader's role
    env = {**os.environ, **moto_env(moto.url)}
    env.pop("AIRSPEC_READ_RETRIES")
    for attempt in range(6):
        result = _run_blocks(blocks, tmp_path / "out" / "demo", env)
        assert result.returncode == 0, (attempt, result.stderr)
    iam = aws_client(moto.url, "iam")
    arn = "arn:aws:iam::123456789012:policy/RerunAccess"
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5
    assert iam.get_role(RoleName="RerunRole-log-reader")["Role"]["RoleName"]
    attached = iam.list_attached_role_policies(RoleName="RerunRole")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]


def test_uniform_bucket_access_is_marked_and_checked_first(tmp_path: Path, runner: CliRunner) -> None:
    runbook = _compiled_runbook(tmp_path, runner, GKE_MINIMAL)
    (title,) = [t for t in _steps(runbook) if "uniform bucket-level access" in t]
    prose, block = _steps(runbook)[title]
    assert "> **Beyond this deployment:**" in prose and "shared" in prose
    check = block.index("gcloud storage buckets describe gs://demo-bucket")
    confirm = block.index("AIRSPEC_ENABLE_UNIFORM_ACCESS:?")
    update = block.index("gcloud storage buckets update gs://demo-bucket --uniform-bucket-level-access")
    assert check < confirm < update
    others = [b for t, (_, b) in _steps(runbook).items() if t != title]
    assert not any("--uniform-bucket-level-access" in b for b in others)


def test_steps_that_need_egress_or_public_images_say_so(tmp_path: Path, runner: CliRunner) -> None:
    steps = _steps(_compiled_runbook(tmp_path, runner, GKE_MINIMAL))
    verify, _ = steps["Verify"]
    assert "> **Network:**" in verify and "google/cloud-sdk:slim" in verify and "docker.io" in verify
    helm, _ = steps["Install or upgrade the agents"]
    assert "> **Network:**" in helm and "images.astronomer.cloud" in helm and "pypi.org" in helm


# --- out/ belongs to the project; compile names what it removes; --diff ---------------------


def test_out_is_the_projects_wherever_the_command_runs(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo")
    (repo / "specs").mkdir()
    (repo / "specs" / "demo.airspec.yaml").write_text(MINIMAL)
    result = _run(["airspec", "compile", "."], repo / "specs")
    assert result.returncode == 0, result.stderr
    assert (repo / "out" / "demo" / "RUNBOOK.md").is_file()
    assert not (repo / "specs" / "out").exists()
    check = _run(["airspec", "compile", "specs/", "--check"], repo)
    assert check.returncode == 0, check.stderr + check.stdout


def test_compile_names_what_it_removes(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    (out / "demo" / "notes.txt").write_text("mine\n")
    result = invoke(runner, "compile", str(spec), "--out", str(out))
    assert result.exit_code == 0
    assert f"removed {out.as_posix()}/demo/notes.txt" in result.stderr


def test_check_diff_prints_a_unified_diff_per_stale_file(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    spec.write_text(MINIMAL.replace("prefix: logs", "prefix: task-logs"))
    result = invoke(runner, "compile", str(spec), "--out", str(out), "--check", "--diff")
    assert result.exit_code == 2
    policy = f"{out.as_posix()}/demo/aws/iam-policy.json"
    assert f"--- {policy}\n+++ {policy}\n" in result.stdout
    assert '-      "Resource": "arn:aws:s3:::demo-bucket/logs/*",' in result.stdout
    assert '+      "Resource": "arn:aws:s3:::demo-bucket/task-logs/*",' in result.stdout


# --- completion, hints ------------------------------------------------------------------------


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_AIRSPEC_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = subprocess.run([str(BIN / "airspec")], env=env, capture_output=True, text=True)
    return result.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_completion_offers_values() -> None:
    assert _complete("airspec init --cloud ") == ["aws", "gcp"]
    assert _complete("airspec init --platform astro") == ["astro-remote-execution", "astronomer-software"]
    assert _complete("airspec apply x --target g") == ["gke", "gcp-iam"]
    codes = _complete("airspec explain AS2")
    assert "AS201" in codes and "AS230" in codes and all(c.startswith("AS2") for c in codes)


def test_hints_offer_only_the_specs_cloud(tmp_path: Path) -> None:
    (d,) = [d for d in diagnose(tmp_path, GKE_MINIMAL + "  secrets: {type: aws-ssm}\n") if d.code == "AS206"]
    assert "aws" not in d.hint and "gcp-secret-manager" in d.hint
    (d,) = [d for d in diagnose(tmp_path, MINIMAL + "  secrets: {type: gcp-secret-manager}\n") if d.code == "AS206"]
    assert "gcp" not in d.hint and "aws-ssm" in d.hint


# --- the vendored region lists -----------------------------------------------------------------


def test_vendored_aws_regions_are_the_locked_botocores() -> None:
    """Refresh with scripts/refresh_regions.py when this fails (a botocore upgrade)."""
    import botocore

    from airspec.regions import _data

    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    locked = {
        p["id"]: sorted(r for r in p["regions"] if not r.endswith("-global")) for p in data["partitions"]
    }
    vendored = {p: v["regions"] for p, v in _data()["aws"]["partitions"].items()}
    assert vendored == locked
