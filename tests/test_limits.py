"""Cloud and Kubernetes limits at compile time, each at its boundary: the last valid value
passes, the first invalid one fails with the limit's number in the message (issue: "Identity
modes and cloud limits"). Sources are in `airspec explain AS221` / `AS224` / `AS107`."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airspec.artifact import Artifact, ArtifactKind
from airspec.frontend import check_artifacts, check_spec
from airspec.pipeline import compile_spec
from airspec.rules import names
from conftest import GKE_MINIMAL, MINIMAL, diagnose, invoke, write_spec


def _messages(tmp_path: Path, text: str, code: str) -> list[str]:
    return [d.message for d in diagnose(tmp_path, text) if d.code == code]


def _compiled_messages(tmp_path: Path, text: str, code: str) -> list[str]:
    """Diagnostics of a full compile (phase "artifacts" included)."""
    path = write_spec(tmp_path, text)
    return [
        d.message for d in compile_spec(path, str(path), path.name).diagnostics if d.code == code
    ]


# --- IAM names (schema, AS107) -------------------------------------------------------------


@pytest.mark.parametrize(("field", "most"), [("name", 64), ("policyName", 128)])
def test_iam_role_and_policy_name_lengths(tmp_path: Path, field: str, most: int) -> None:
    old = "name: DemoRole" if field == "name" else "policyName: DemoAccess"

    def named(n: int) -> str:
        return MINIMAL.replace(old, f"{field}: {'R' * n}")

    assert _messages(tmp_path, named(most), "AS107") == []
    (message,) = _messages(tmp_path, named(most + 1), "AS107")
    assert f"1-{most}" in message
    (message,) = _messages(tmp_path, MINIMAL.replace(old, f"{field}: Demo/Role"), "AS107")
    assert "+=,.@_-" in message


# --- IAM document sizes (AS224) ------------------------------------------------------------


def _non_whitespace(text: str) -> int:
    return len(re.sub(r"\s", "", text))


def _trust_spec(issuer_extra: int, namespace_extra: int, quota: int | None = None) -> str:
    text = MINIMAL.replace("/id/ABCDEF0123456789", "/id/ABCDEF0123456789" + "A" * issuer_extra)
    text = text.replace("namespace: agents", "namespace: agents" + "x" * namespace_extra)
    if quota is not None:
        text = text.replace(
            "policyName: DemoAccess}", f"policyName: DemoAccess, trustPolicyQuota: {quota}}}"
        )
    return text


def _trust_size(tmp_path: Path, text: str) -> int:
    out = tmp_path / "out"
    spec = write_spec(tmp_path, text)
    result = invoke(CliRunner(), "compile", str(spec), "--out", str(out))
    assert result.exit_code == 0, result.stdout
    return _non_whitespace((out / "demo" / "aws" / "trust-policy.json").read_text())


def test_trust_policy_limit_is_2048_unless_the_quota_is_raised(tmp_path: Path) -> None:
    base = _trust_size(tmp_path, _trust_spec(0, 0))
    # one more issuer character adds 3 (provider ARN, :aud and :sub keys); one more namespace
    # character adds 2 (the two subjects): reach exactly 2,048
    delta = 2048 - base
    ns_extra = next(b for b in range(3) if (delta - 2 * b) % 3 == 0)
    at_limit = _trust_spec((delta - 2 * ns_extra) // 3, ns_extra)
    assert _trust_size(tmp_path, at_limit) == 2048
    assert _compiled_messages(tmp_path, at_limit, "AS224") == []

    over = _trust_spec((delta - 2 * ns_extra) // 3, ns_extra + 1)  # 2,050
    (message,) = _compiled_messages(tmp_path, over, "AS224")
    assert message == (
        "aws/trust-policy.json is 2,050 characters without whitespace; the role trust policy "
        "quota is 2,048"
    )
    # validate reports it too (it checks what compile would), and nothing is written
    spec = write_spec(tmp_path, over)
    validated = invoke(CliRunner(), "validate", str(spec))
    assert validated.exit_code == 1 and "AS224" in validated.stdout
    result = invoke(CliRunner(), "compile", str(spec), "--out", str(tmp_path / "fresh"))
    assert result.exit_code == 1 and not (tmp_path / "fresh" / "demo").exists()

    raised = _trust_spec((delta - 2 * ns_extra) // 3, ns_extra + 1, quota=2050)
    assert _compiled_messages(tmp_path, raised, "AS224") == []
    lowered = _trust_spec((delta - 2 * ns_extra) // 3, ns_extra + 1, quota=2049)
    assert _compiled_messages(tmp_path, lowered, "AS224") != []


@pytest.mark.parametrize(
    ("quota", "ok"), [(2047, False), (2048, True), (8192, True), (8193, False)]
)
def test_trust_policy_quota_field_range(tmp_path: Path, quota: int, ok: bool) -> None:
    errors = [d for d in diagnose(tmp_path, _trust_spec(0, 0, quota)) if d.is_error]
    assert (errors == []) is ok, errors
    if not ok:
        assert "2048" in errors[0].message or "8192" in errors[0].message


def test_permission_policy_limit_is_6144(tmp_path: Path) -> None:
    """No v1 spec reaches 6,144 (see the next test), so the compiled policy is grown here by
    one statement to the limit and one past it, and measured by the same public check."""
    path = write_spec(tmp_path, MINIMAL)
    checked = check_spec(path, for_compile=True)
    artifacts = compile_spec(path, str(path), path.name).artifacts
    (policy,) = [a for a in artifacts if a.kind is ArtifactKind.AWS_IAM_POLICY]
    size = _non_whitespace(json.dumps(policy.content))

    def grown(extra: int) -> tuple[Artifact, ...]:
        pad = {
            "Sid": "ReadWriteXComPadding",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::demo-bucket/" + "x" * extra,
        }
        content = {**policy.content, "Statement": [*policy.content["Statement"], pad]}
        return tuple(
            dataclasses.replace(a, content=content) if a is policy else a for a in artifacts
        )

    empty = _non_whitespace(
        json.dumps(
            {
                "Sid": "ReadWriteXComPadding",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::demo-bucket/",
            }
        )
    )
    fill = 6144 - size - empty - 1  # the comma before the new statement
    assert [d for d in check_artifacts(checked, grown(fill)) if d.code == "AS224"] == []
    (d,) = [d for d in check_artifacts(checked, grown(fill + 1)) if d.code == "AS224"]
    assert d.message.startswith(
        "aws/iam-policy.json is 6,145 characters without whitespace; a managed policy is at "
        "most 6,144. Statements: ReadWriteXComPadding"
    )
    # it points at the backend whose statement is largest
    assert MINIMAL.splitlines()[d.line - 1].strip().startswith("xcom:")


def test_the_largest_v1_permission_policy_stays_under_6144(tmp_path: Path) -> None:
    """Every input of the permission policy at its own limit (bucket names 63, logs prefix 211,
    XCom prefix 230 bytes, SSM prefixes at 1,011 with the ARN): still far below 6,144."""
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter"
    ssm_room = names.SSM_NAME_MAX - len(arn) - 2
    ssm = "/" + "/".join(["s" * 60] * 14)
    ssm = ssm + "x" * (ssm_room - len(ssm))
    logs = "/".join(["l" * 50] * 4) + "l" * (211 - 203)
    xcom = "/".join(["x" * 50] * 4) + "x" * (230 - 203)
    b1, b2 = "a" * 63, "b" * 63
    text = (
        MINIMAL.replace("- name: demo-bucket", f"- name: {b1}\n  - name: {b2}")
        .replace(
            "logs: {bucket: demo-bucket, prefix: logs}", f"logs: {{bucket: {b1}, prefix: {logs}}}"
        )
        .replace(
            "xcom: {bucket: demo-bucket, prefix: xcom}",
            f"xcom: {{bucket: {b2}, prefix: {xcom}}}\n  secrets: {{type: aws-ssm, "
            f"connectionsPrefix: {ssm}, variablesPrefix: {ssm[:-1]}y}}",
        )
    )
    assert len(logs) == 211 and len(xcom) == 230
    assert [d for d in diagnose(tmp_path, text) if d.is_error] == []
    out = tmp_path / "out"
    assert (
        invoke(CliRunner(), "compile", str(write_spec(tmp_path, text)), "--out", str(out)).exit_code
        == 0
    )
    size = _non_whitespace((out / "demo" / "aws" / "iam-policy.json").read_text())
    assert 3000 < size < 6144 / 1.5, size


# --- buckets (AS221) -----------------------------------------------------------------------


def _bucket(text: str, name: str) -> str:
    return text.replace("demo-bucket", name)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a" * 63, None),
        ("a" * 64, "is 64 characters; an S3 bucket name is 3 to 63"),
        ("abc", None),
        ("my_bucket", "holds '_', which only GCS allows"),
    ],
)
def test_s3_bucket_length_and_characters(tmp_path: Path, name: str, problem: str | None) -> None:
    found = _messages(tmp_path, _bucket(MINIMAL, name), "AS221")
    assert found == ([] if problem is None else [f"bucket name '{name}' {problem}; S3 refuses it"])


def test_s3_bucket_of_two_characters_is_refused_by_the_schema(tmp_path: Path) -> None:
    assert _messages(tmp_path, _bucket(MINIMAL, "ab"), "AS107")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("my_bucket", None),  # S3 refuses it; GCS does not
        ("g" * 63, None),
        ("g" * 64, "is 64 characters; a GCS bucket name without dots is at most 63"),
        (".".join(["g" * 54] * 4) + ".gg", None),  # 222 characters
        (".".join(["g" * 54] * 4) + ".ggg", "is 223 characters; a GCS bucket name is at most 222"),
        (
            "g" * 64 + ".example",
            "has a dot-separated part of 64 characters; each part is at most 63",
        ),
    ],
)
def test_gcs_bucket_names_follow_gcs_rules(tmp_path: Path, name: str, problem: str | None) -> None:
    found = _messages(tmp_path, _bucket(GKE_MINIMAL, name), "AS221")
    assert found == ([] if problem is None else [f"bucket name '{name}' {problem}; GCS refuses it"])


# --- object key prefixes (AS221) -----------------------------------------------------------


@pytest.mark.parametrize(("backend", "most"), [("logs", 211), ("xcom", 230)])
def test_object_key_prefix_leaves_room_for_airflow_keys(
    tmp_path: Path, backend: str, most: int
) -> None:
    def with_prefix(n: int) -> str:
        return MINIMAL.replace(f"prefix: {backend}}}", f"prefix: {'p' * n}}}")

    assert _messages(tmp_path, with_prefix(most), "AS221") == []
    (message,) = _messages(tmp_path, with_prefix(most + 1), "AS221")
    tail = 1024 - most
    assert message == (
        f"the {backend} prefix is {most + 1} bytes; at most {most} leave room for the {tail} "
        "bytes Airflow appends (ids of up to 250 characters) within an object key's 1024"
    )


def test_the_longest_log_key_is_what_the_limit_assumes() -> None:
    """Airflow 3's default log_filename_template with every id at ID_LEN (250)."""
    template = "dag_id={dag}/run_id={run}/task_id={task}/map_index={mi}/attempt={n}.log"
    key = template.format(dag="d" * 250, run="r" * 250, task="t" * 250, mi=9_999_999_999, n=9999)
    assert 1 + len(key) == names.LOG_KEY_TAIL == 813


# --- secrets backend names (AS221) ---------------------------------------------------------


def _secrets(text: str, kind: str, prefix: str) -> str:
    return text.replace(
        "xcom: {bucket: demo-bucket, prefix: xcom}",
        f"xcom: {{bucket: demo-bucket, prefix: xcom}}\n  secrets: {{type: {kind}, "
        f"connectionsPrefix: {prefix}}}",
    )


def test_secrets_manager_name_is_at_most_512(tmp_path: Path) -> None:
    ok = _secrets(MINIMAL, "aws-secrets-manager", "s" * 510)
    assert _messages(tmp_path, ok, "AS221") == []
    (message,) = _messages(tmp_path, _secrets(MINIMAL, "aws-secrets-manager", "s" * 511), "AS221")
    assert "is 511 characters; a Secrets Manager secret name is at most 512" in message
    (message,) = _messages(tmp_path, _secrets(MINIMAL, "aws-secrets-manager", "air(flow)"), "AS221")
    assert message == "'air(flow)' holds a character a Secrets Manager secret name cannot"


def test_secret_manager_id_is_at_most_255(tmp_path: Path) -> None:
    gcp = GKE_MINIMAL
    assert _messages(tmp_path, _secrets(gcp, "gcp-secret-manager", "s" * 253), "AS221") == []
    (message,) = _messages(tmp_path, _secrets(gcp, "gcp-secret-manager", "s" * 254), "AS221")
    assert "is 254 characters; a Secret Manager secret id is at most 255" in message


def test_ssm_parameter_name_with_its_arn_is_at_most_1011(tmp_path: Path) -> None:
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter"
    most = 1011 - len(arn) - 2  # '/' and a one-character id

    def path(n: int) -> str:
        segments = ["/" + "s" * 60] * 14
        text = "".join(segments)
        return text + "s" * (n - len(text))

    assert _messages(tmp_path, _secrets(MINIMAL, "aws-ssm", path(most)), "AS221") == []
    (message,) = _messages(tmp_path, _secrets(MINIMAL, "aws-ssm", path(most + 1)), "AS221")
    assert f"an SSM parameter name is at most 1011 characters with its ARN ({arn})" in message


# --- GCP ids (schema, AS107) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "template"),
    [
        ("serviceAccount: demo-agents", "serviceAccount: {}"),
        ("project: demo-project", "project: {}"),
    ],
)
def test_gsa_and_project_ids_are_6_to_30(tmp_path: Path, old: str, template: str) -> None:
    def with_id(n: int) -> str:
        return GKE_MINIMAL.replace(old, template.format("g" + "x" * (n - 1)))

    for n in (6, 30):
        assert _messages(tmp_path, with_id(n), "AS107") == [], n
    for n in (5, 31):
        (message,) = _messages(tmp_path, with_id(n), "AS107")
        assert "6-30" in message, n


# --- names the chart derives (AS221) -------------------------------------------------------


def test_worker_autoscaler_name_is_at_most_63(tmp_path: Path) -> None:
    def workers(prefix: str, name: str) -> str:
        return MINIMAL.replace(
            "  providers:",
            f"  resourceNamePrefix: {prefix}\n  workers:\n    - {{name: {name}, queues: [default]}}\n"
            "  providers:",
        )

    # <prefix>-worker-<name>-hpa: prefix and name together at most 51
    assert _messages(tmp_path, workers("p" * 20, "w" * 31), "AS221") == []
    (message,) = _messages(tmp_path, workers("p" * 20, "w" * 32), "AS221")
    assert message.endswith("64 characters; a name used as a label value is at most 63")


def test_explain_states_the_numbers_the_checks_use() -> None:
    text = invoke(CliRunner(), "explain", "AS221").stdout
    for number in (
        names.OBJECT_KEY_MAX - names.LOG_KEY_TAIL,
        names.OBJECT_KEY_MAX - names.XCOM_KEY_TAIL,
        names.LOG_KEY_TAIL,
        names.XCOM_KEY_TAIL,
        names.GCS_DOTTED_MAX,
        names.SECRETS_MANAGER_NAME_MAX,
        names.SECRET_MANAGER_ID_MAX,
    ):
        assert str(number) in text, number
    assert "1,011" in text and "1,024" in text
    text = invoke(CliRunner(), "explain", "AS224").stdout
    assert "6,144" in text and "2,048" in text and "8,192" in text and "10,240" in text


# --- Software namespace (AS205) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "refused"),
    [(None, False), ("astronomer-stellar-comet-1234", False), ("airflow-prod", True)],
)
def test_software_namespace_is_the_one_the_platform_creates(
    tmp_path: Path, namespace: str | None, refused: bool
) -> None:
    from conftest import SOFTWARE_MINIMAL

    text = SOFTWARE_MINIMAL
    if namespace is not None:
        text = text.replace("  software:", f"  namespace: {namespace}\n  software:")
        assert namespace in text
    found = _messages(tmp_path, text, "AS205")
    assert found == (
        [
            "Astronomer Software creates the Deployment in 'astronomer-stellar-comet-1234', "
            "not 'airflow-prod': 'astro deployment create' takes no namespace"
        ]
        if refused
        else []
    )


# --- Kubernetes object names (schema, AS105) -----------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "most", "code"),
    [
        ("namespace: agents", "namespace: {}", 63, "AS105"),
        # a *Secret field holding no Secret name is taken for the secret itself (AS203)
        ("agentTokenSecret: agent-token", "agentTokenSecret: {}", 253, "AS203"),
    ],
)
def test_namespace_and_secret_names_are_dns_names(
    tmp_path: Path, old: str, new: str, most: int, code: str
) -> None:
    """A namespace is a DNS label (at most 63); a Secret name a DNS subdomain (at most 253)."""

    def named(n: int) -> str:
        return MINIMAL.replace(old, new.format("n" * n))

    assert [d for d in diagnose(tmp_path, named(most)) if d.is_error] == []
    errors = [d for d in diagnose(tmp_path, named(most + 1)) if d.is_error]
    assert [d.code for d in errors] == [code], errors
    if code == "AS105":
        assert str(most) in errors[0].message
    bad = [d for d in diagnose(tmp_path, MINIMAL.replace(old, new.format("Not_DNS"))) if d.is_error]
    assert [d.code for d in bad] == [code]
