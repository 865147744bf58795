"""What apply's reports show: live state exactly (nothing hidden, nothing rendered as markup,
no table broken), never a live credential, and one JSON document on every exit path.

Live state comes from the real clients against moto, FakeKube and FakeGcp (as in
test_apply); the redactor is also driven by hypothesis with credentials placed anywhere in
Helm values, Kubernetes objects and IAM / GCP documents.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from airspec.apply.compare import diff
from airspec.apply.findings import Counts, Report
from airspec.apply.render import text_report, to_json, to_markdown
from airspec.cli import app
from conftest import ROOT
from live_servers import FakeGcp, FakeKube, RecordingMotoServer
from test_apply import GcpWorld, World

TOKEN = "ghp_" + "Z" * 36
PASSWORD = "Pa55w0rdNeverShown"
DEPLOY_TOKEN = "astro-deploy-token-NeverShown"
AGENT_TOKEN = "agent-token-NeverShown"
JSON_PASSWORD = "json-pw-NeverShown"
SECRETS = (TOKEN, PASSWORD, DEPLOY_TOKEN, AGENT_TOKEN, JSON_PASSWORD)


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


@pytest.fixture
def gcp_world(tmp_path: Path) -> Iterator[GcpWorld]:
    with FakeGcp() as gcp, FakeKube() as kube:
        yield GcpWorld(tmp_path, gcp, kube)


def _cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr


def _helm_with_credentials(world: World) -> None:
    """Values someone set by hand in the live release, each holding a credential."""
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["agent"] = {"token": AGENT_TOKEN}  # a mapping added whole
    values["astroDeploymentAPIToken"] = DEPLOY_TOKEN
    values["commonEnv"] += [
        {"name": "AIRFLOW_CONN_PG", "value": f"postgresql://admin:{PASSWORD}@db:5432/airflow"},
        {
            "name": "EXTRA_CONNECTION",
            "value": json.dumps({"conn_type": "postgres", "password": JSON_PASSWORD}),
        },
    ]
    bundles = json.loads(values["dagBundleConfigList"])
    bundles[0]["kwargs"]["repo_url"] = f"https://x-access-token:{TOKEN}@github.com/acme/dags"
    values["dagBundleConfigList"] = json.dumps(bundles)
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_credentials_in_the_live_helm_release_never_reach_a_report(
    world: World, fmt: str
) -> None:
    _helm_with_credentials(world)
    args = ["apply", str(world.spec), "--dry-run", "--out", str(world.out), "-f", fmt]
    code, out, err = _cli([*args, "-t", "helm"], world.env)
    assert code == 3, out + err
    for secret in SECRETS:
        assert secret not in out + err, (fmt, secret)
    # what is not a credential is still shown: the changed keys and the URL's host
    for shown in ("astroDeploymentAPIToken", "github.com/acme/dags", "AIRFLOW_CONN_PG"):
        assert shown in _flat(out), (fmt, shown)
    if fmt == "json":
        findings = json.loads(out)["findings"]
        paths = {f["path"] for f in findings}
        assert {"agent", "astroDeploymentAPIToken", "dagBundleConfigList"} <= paths


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_credentials_in_the_live_helm_release_never_reach_a_plan(
    world: World, fmt: str, tmp_path: Path
) -> None:
    """A saved plan holds the before (live) values of every finding: redacted as reports
    are, in the file and in every format printed."""
    _helm_with_credentials(world)
    plan = tmp_path / "plan.json"
    args = ["apply", str(world.spec), "--out", str(world.out), "-t", "helm", "--plan-out", str(plan)]
    code, out, err = _cli([*args, "-f", fmt], world.env)
    assert code == 0, out + err
    saved = plan.read_text()
    for secret in SECRETS:
        assert secret not in out + err + saved, (fmt, secret)
    steps = json.loads(saved)["actions"]
    assert {f["path"] for step in steps for f in step["findings"]} >= {
        "agent",
        "astroDeploymentAPIToken",
        "dagBundleConfigList",
    }
    assert "github.com/acme/dags" in _flat(saved)


# --- the redactor, as a property --------------------------------------------------------------

SECRET_PART = st.text(alphabet=string.ascii_letters + string.digits, min_size=12, max_size=24).map(
    lambda s: "Zq9" + s
)
CREDENTIAL_KEYS = [
    "password",
    "token",
    "clientSecret",
    "client_secret",
    "apiKey",
    "api_key",
    "privateKey",
    "x-access-token",
    "astroDeploymentAPIToken",
    "example.com/token",
    "AWS_SECRET_ACCESS_KEY",
    "credentials",
]
PLAIN_KEYS = ["name", "image", "replicas", "labels", "kwargs", "env", "Statement", "role", "members"]


def _placed(secret: str) -> st.SearchStrategy[Any]:
    """A credential in one of the forms the redactor knows."""
    return st.sampled_from(
        [
            {"k": "credential-key", "v": secret},
            f"https://deploy:{secret}@git.example.com/acme/dags",
            f"postgresql://admin:{secret}@db:5432/airflow",
            json.dumps({"conn_type": "postgres", "password": secret, "host": "db"}),
            {"name": "AIRFLOW_CONN_DB", "value": secret},
            {"name": "DB_PASSWORD", "value": secret},
            f"host=db user=a password={secret} sslmode=require",
            "ghp_" + (secret * 3)[:36],
            "AKIA" + (secret.upper() * 2)[:16],
        ]
    )


@st.composite
def documents(draw: Any) -> tuple[Any, Any, list[str]]:
    """(compiled, live, secrets): live is compiled with a credential put somewhere."""
    secret = draw(SECRET_PART)
    leaf = st.one_of(st.integers(0, 9), st.sampled_from(["a", "b", "serviceAccount:x@p.com"]))
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(PLAIN_KEYS), inner, max_size=3),
        ),
        max_leaves=8,
    )
    compiled = draw(st.dictionaries(st.sampled_from(PLAIN_KEYS), tree, min_size=1, max_size=4))
    live = json.loads(json.dumps(compiled))
    placed = draw(_placed(secret))
    if isinstance(placed, dict) and placed.get("k") == "credential-key":
        placed = {draw(st.sampled_from(CREDENTIAL_KEYS)): placed["v"]}
    # put it at a random depth: walk down through dicts
    node = live
    for _ in range(draw(st.integers(0, 3))):
        children = [v for v in node.values() if isinstance(v, dict)]
        if not children:
            break
        node = draw(st.sampled_from(children))
    key = draw(st.sampled_from(["extra", "value", "env", "kwargs"]))
    if isinstance(placed, dict) and draw(st.booleans()):
        node.update(placed)  # merged into an existing mapping
    else:
        node[key] = placed
    secrets = [secret] if not str(placed).startswith(("ghp_", "AKIA")) else [str(placed)]
    return compiled, live, secrets


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_no_credential_placed_anywhere_reaches_any_format(doc: tuple[Any, Any, list[str]]) -> None:
    compiled, live, secrets = doc
    for unordered in (False, True):
        findings = diff("spec", "helm/values.yaml", "helm/release/ns/r", compiled, live, unordered=unordered)
        report = Report(
            specs=["spec"],
            counts=Counts(checked=1, in_sync=0, missing=0, drift=1, broadening=0, error=0, suppressed=0),
            findings=findings,
        )
        for shown in (to_json(report), to_markdown(report), text_report(report)):
            for secret in secrets:
                assert secret not in shown, shown


# --- what is live, shown exactly ------------------------------------------------------------------

HOSTILE = "[/x] [bold]b[/bold] `tick` a|b\n### all in sync <img src=x onerror=alert(1)>\x1b[31mred"


def _helm_with_hostile_value(world: World) -> None:
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["resourceNamePrefix"] = HOSTILE  # a changed string value
    values["commonEnv"].append({"name": "NOTE", "value": HOSTILE})  # an added entry
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)


def _flat(text: str) -> str:
    """Text without the whitespace and borders a terminal table wraps it with."""
    return re.sub(r"[\s│┃]", "", text)


def _table_shape_kept(markdown: str) -> None:
    """Every table row has its header's number of cells, and no live text became a line."""
    lines = markdown.splitlines()
    assert not [line for line in lines if line.startswith("### all in sync")], markdown
    header = None
    for line in lines:
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        header = header or cells
        assert cells == header, line


def test_live_text_is_never_markup_nor_a_broken_table(world: World) -> None:
    _helm_with_hostile_value(world)
    args = ["apply", str(world.spec), "--dry-run", "--out", str(world.out), "-t", "helm"]
    code, out, err = _cli([*args, "-f", "text"], world.env)
    assert code == 3, out + err
    assert "Traceback" not in out + err and "\x1b" not in out
    # rich would have read `[bold]` as markup and `[/x]` as a closing tag (MarkupError)
    assert _flat("[/x] [bold]b[/bold] `tick` a|b\\n### all in sync") in _flat(out)
    assert _flat("\\x1b[31mred") in _flat(out)
    code, out, _ = _cli([*args, "-f", "markdown"], world.env)
    assert code == 3
    _table_shape_kept(out)
    rows = [line for line in out.splitlines() if "onerror" in line]
    assert len(rows) == 2, out
    for row in rows:  # in a code span (HTML is inert there), `|` escaped, the newline visible
        assert "a\\|b\\n### all in sync <img src=x onerror=alert(1)>" in row, row
    code, out, _ = _cli([*args, "-f", "json"], world.env)
    assert code == 3
    assert json.dumps(HOSTILE)[1:-1] in out  # exactly what is live, JSON-escaped


def test_workload_identity_members_and_public_grants_are_shown_in_full(
    gcp_world: GcpWorld,
) -> None:
    """`[...]` in a member is not markup, and `allUsers` on the conditional secretAccessor
    binding is shown: members, roles and conditions are never credentials."""
    project = "projects/acme-data-prod"
    bindings = gcp_world.gcp.policies[project]["bindings"]
    accessor = next(b for b in bindings if b["role"] == "roles/secretmanager.secretAccessor")
    accessor["members"] = [*accessor["members"], "allUsers"]
    gsa = next(r for r in gcp_world.gcp.policies if "serviceAccounts" in r)
    wi = next(b for b in gcp_world.gcp.policies[gsa]["bindings"] if "workloadIdentity" in b["role"])
    intruder = "serviceAccount:acme-data-prod.svc.id.goog[payments/payments-api]"
    wi["members"] = [*wi["members"], intruder]
    args = ["apply", str(gcp_world.spec), "--dry-run", "--out", str(gcp_world.out), "-t", "gcp-iam"]
    for fmt in ("text", "json", "markdown"):
        code, out, err = _cli([*args, "-f", fmt], gcp_world.env)
        assert code == 3, out + err
        flat = out.replace("\n", "").replace(" ", "").replace("│", "")
        assert "allUsers" in flat, (fmt, out)
        assert intruder.replace(" ", "") in flat, (fmt, out)
        assert "roles/secretmanager.secretAccessor" in flat, fmt
        assert "redacted" not in out, (fmt, out)


def test_secret_arns_are_shown_in_full(world: World) -> None:
    """An ARN is never a credential: `arn:…:secret:payments/*` (a Secrets Manager ARN, whose
    `secret:` once read as a `secret: value` pair) is shown whole in every format."""
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:payments/*"
    policy = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
    secrets = next(s for s in policy["Statement"] if s.get("Sid") == "ReadAirflowSecrets")
    secrets["Resource"] = [*secrets["Resource"], arn]
    world.iam.create_policy_version(
        PolicyArn="arn:aws:iam::123456789012:policy/AirflowS3Access",
        PolicyDocument=json.dumps(policy),
        SetAsDefault=True,
    )
    args = ["apply", str(world.spec), "--dry-run", "--out", str(world.out), "-t", "iam"]
    for fmt in ("text", "json", "markdown"):
        code, out, err = _cli([*args, "-f", fmt], world.env)
        assert code == 3, out + err
        assert arn in out, (fmt, out)
        assert "redacted" not in out, (fmt, out)


# --- one JSON document on every exit path ----------------------------------------------------


def _one_document(out: str) -> dict[str, Any]:
    doc = json.loads(out)  # raises if there is nothing, plain text, or two documents
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("dry", [True, False])
def test_every_error_path_prints_one_json_document(world: World, dry: bool, tmp_path: Path) -> None:
    mode = ["--dry-run"] if dry else ["--yes"]
    version = "airspec.drift/v1" if dry else "airspec.apply/v1"
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad.airspec.yaml"
    bad.write_text("apiVersion: airspec/v1\nkind: [unclosed\n")
    cases: list[tuple[list[str], dict[str, str], str, int]] = [
        ([str(tmp_path / "missing.airspec.yaml")], world.env, "spec", 1),
        ([str(bad)], world.env, "spec", 1),
        ([str(empty)], world.env, "usage", 1),
        ([str(world.spec), "--target", "nope"], world.env, "usage", 1),
        ([str(world.spec)], {**world.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "identity", 1),
    ]
    for extra, env, kind, code_wanted in cases:
        code, out, err = _cli(["apply", *extra, "--out", str(world.out), *mode, "-f", "json"], env)
        doc = _one_document(out)
        assert (code, doc["version"], doc["error"]["kind"]) == (code_wanted, version, kind), (
            extra,
            out,
            err,
        )
        assert doc["error"]["message"]
    # an unknown option: click's usage error, still one document
    code, out, _ = _cli(["apply", str(world.spec), *mode, "-f", "json", "--no-such-option"], world.env)
    assert code == 1 and _one_document(out)["error"]["kind"] == "usage"
    # a stale out/ (apply refuses with exit 2; the dry run reports it in the document)
    tree = world.out / "remote-exec-demo" / "RUNBOOK.md"
    tree.write_text(tree.read_text() + "hand edit\n")
    code, out, _ = _cli(["apply", str(world.spec), "--out", str(world.out), *mode, "-f", "json"], world.env)
    doc = _one_document(out)
    if dry:
        assert code == 2 and doc["stale"], out
    else:
        assert (code, doc["error"]["kind"]) == (2, "stale"), out


def test_a_refusal_to_apply_without_a_terminal_is_one_json_document(world: World) -> None:
    arn = "arn:aws:iam::123456789012:policy/AirflowS3Access"
    world.iam.tag_policy(
        PolicyArn=arn,
        Tags=[{"Key": "airspec.io/owner", "Value": "github.com/acme/team-a/remote-exec-demo"}],
    )
    policy = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
    policy["Statement"][0]["Sid"] = "Renamed"
    world.iam.create_policy_version(
        PolicyArn=arn, PolicyDocument=json.dumps(policy), SetAsDefault=True
    )
    code, out, err = _cli(
        ["apply", str(world.spec), "--out", str(world.out), "-t", "iam", "-f", "json"], world.env
    )
    doc = _one_document(out)
    assert code == 1 and doc["error"]["kind"] == "refused", out + err
    assert [p["action"] for p in doc["plan"]] == ["update"], "the plan not applied is shown"


def test_exit_codes_keep_their_meaning(world: World) -> None:
    """A pending Helm step with manual items and nothing stale is 3, never 4."""
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["workers"][0]["replicas"] = 7
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)
    world.eks.update_nodegroup_config(
        clusterName="remote-execution-airflow-cluster",
        nodegroupName="workers",
        scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3},
    )
    code, out, err = _cli(["apply", str(world.spec), "--out", str(world.out), "--yes"], world.env)
    assert code == 3, out + err
    assert "pending" in out and "manual" in out


def test_report_schemas_are_committed(tmp_path: Path) -> None:
    for kind, name in (("drift", "drift-report"), ("apply", "apply-result"), ("plan", "plan")):
        code, out, _ = _cli(["report-schema", "--kind", kind], {})
        assert code == 0
        assert json.loads(out) == json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
