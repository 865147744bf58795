"""Each rule: a spec fragment in, the diagnostic (code, line:col, message) out."""

from __future__ import annotations

from pathlib import Path

import pytest

from airspec.frontend import check_spec
from conftest import MINIMAL, ROOT, codes_at, diagnose


def test_minimal_spec_is_clean(tmp_path: Path) -> None:
    assert diagnose(tmp_path, MINIMAL) == []


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, "metadata:\n  name: [unclosed\nkind: x\n")
    assert [d.code for d in diags] == ["AS002"]
    assert diags[0].line >= 2


def test_empty_file(tmp_path: Path) -> None:
    assert [(d.code, d.line, d.col) for d in diagnose(tmp_path, "# only a comment\n")] == [
        ("AS003", 1, 1)
    ]


def test_root_not_mapping(tmp_path: Path) -> None:
    assert [d.code for d in diagnose(tmp_path, "- a\n- b\n")] == ["AS004"]


def test_missing_file_is_a_diagnostic(tmp_path: Path) -> None:
    checked = check_spec(tmp_path / "nope.airspec.yaml")
    assert [d.code for d in checked.diagnostics] == ["AS001"]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.airspec.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    assert [d.code for d in check_spec(path).diagnostics] == ["AS001"]


def test_duplicate_key_reported_with_everything_else(tmp_path: Path) -> None:
    text = MINIMAL.replace("  name: demo\n", "  name: demo\n  name: demo2\n").replace(
        "region: us-east-1", "region: us-east-1\n    regoin: x"
    )
    found = codes_at(diagnose(tmp_path, text))
    assert ("AS005", 5, 3) in found
    assert any(code == "AS101" for code, _, _ in found)


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, MINIMAL.replace("  namespace: agents", "  namespce: agents"))
    (d,) = diags
    assert (d.code, d.line, d.col) == ("AS101", 7, 3)
    assert "did you mean 'namespace'" in d.hint


def test_wrong_type_account_id_unquoted(tmp_path: Path) -> None:
    diags = diagnose(
        tmp_path, MINIMAL.replace('accountId: "123456789012"', "accountId: 123456789012")
    )
    (d,) = diags
    assert (d.code, d.line, d.col) == ("AS102", 18, 16)
    assert "quote" in d.hint


def test_missing_required_field(tmp_path: Path) -> None:
    diags = diagnose(
        tmp_path, MINIMAL.replace("    role: {name: DemoRole, policyName: DemoAccess}\n", "")
    )
    (d,) = diags
    assert d.code == "AS103" and "cloud.aws.role" in d.message


def test_bad_account_id(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, MINIMAL.replace('"123456789012"', '"12345"'))
    assert codes_at(diags) == {("AS106", 18, 16)}


def test_name_not_dns_safe(tmp_path: Path) -> None:
    diags = diagnose(tmp_path, MINIMAL.replace("name: demo\n", "name: Demo_1\n", 1))
    assert codes_at(diags) == {("AS105", 4, 9)}


def test_enum_typo_suggests(tmp_path: Path) -> None:
    (d,) = diagnose(tmp_path, MINIMAL.replace("astro-remote-execution", "astro-remote-exec"))
    assert d.code == "AS104" and "astro-remote-execution" in d.hint


def test_region_issuer_mismatch(tmp_path: Path) -> None:
    text = MINIMAL.replace("oidc.eks.us-east-1", "oidc.eks.eu-west-1")
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line) == ("AS201", 23)
    assert "eu-west-1" in d.message and "us-east-1" in d.message


def test_backend_bucket_not_declared(tmp_path: Path) -> None:
    (d,) = diagnose(
        tmp_path, MINIMAL.replace("xcom: {bucket: demo-bucket", "xcom: {bucket: other-bucket")
    )
    assert (d.code, d.line, d.col) == ("AS202", 31, 18)


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (
            "agentTokenSecret: agent-token",
            "agentTokenSecret: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
            10,
        ),
        (
            "agentTokenSecret: agent-token",
            "agentTokenSecret: agent-token\n    agentToken: s3cr3t-value",
            11,
        ),
        (
            "imagePullSecret: registry",
            "imagePullSecret: registry\n    password: hunter2hunter2",
            12,
        ),
        (
            "apiUrl: https://example.astronomer.run/d1/api/v2",
            "apiUrl: https://u:p4ss@example.astronomer.run/d1",
            9,
        ),
        (
            "name: demo-bucket",
            "name: demo-bucket\n    # AKIA in a comment is fine\n  - name: AKIAABCDEFGHIJKLMNOP",
            30,
        ),
    ],
)
def test_secret_values_are_refused_and_never_echoed(
    tmp_path: Path, old: str, new: str, line: int
) -> None:
    diags = diagnose(tmp_path, MINIMAL.replace(old, new))
    secret = [d for d in diags if d.code == "AS203"]
    assert secret and secret[0].line == line
    value = new.split(":", 1)[1].strip().split("\n")[-1].split(":")[-1].strip()
    for d in diags:  # no diagnostic repeats the secret
        assert value not in d.message and value not in d.hint


def _image_without(tmp_path: Path, *names: str) -> str:
    """MINIMAL on an image whose pip freeze (committed beside the spec) lacks `names`."""
    known = (ROOT / "specs" / "constraints.txt").read_text().splitlines()
    kept = [line for line in known if line.split("==")[0] not in names]
    (tmp_path / "image.txt").write_text("\n".join(kept) + "\n")
    return MINIMAL.replace(
        "  providers:\n",
        "  image: registry.example.com/agent:1\n  imagePackages: {file: image.txt}\n"
        "  providers:\n",
    )


def test_backend_needs_provider_package(tmp_path: Path) -> None:
    # the agent image holds common-io: nothing to install, nothing to report
    assert diagnose(tmp_path, MINIMAL.replace(', "apache-airflow-providers-common-io==1.6.1"', "")) == []
    # an image without it must install it
    text = _image_without(tmp_path, "apache-airflow-providers-common-io")
    text = text.replace(', "apache-airflow-providers-common-io==1.6.1"', "")
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS204" and "apache-airflow-providers-common-io" in d.message
    assert text.splitlines()[d.line - 1].strip().startswith("xcom:")  # at backends.xcom


def test_xcom_on_s3_needs_the_s3fs_extra(tmp_path: Path) -> None:
    text = _image_without(tmp_path, "s3fs").replace("amazon[s3fs]==9.9.0", "amazon==9.9.0")
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS204" and d.message.startswith(
        "workers[default-worker], triggerer and dagProcessor cannot import s3fs.S3FileSystem"
    )
    assert "'- apache-airflow-providers-amazon[s3fs]==9.9.0'" in d.hint


def test_software_block_on_remote_execution(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  namespace: agents\n",
        '  namespace: agents\n  software: {releaseName: x, platformChartVersion: "1.0.0"}\n',
    )
    assert "AS205" in {d.code for d in diagnose(tmp_path, text)}


def test_aws_secrets_backend_on_gcp_is_a_mismatch(tmp_path: Path) -> None:
    text = MINIMAL + "  secrets: {type: gcp-secret-manager}\n"
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line) == ("AS206", 32)


def test_duplicate_worker_names(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  providers:\n",
        "  workers:\n    - {name: w}\n    - {name: w}\n  providers:\n",
    )
    (d,) = [d for d in diagnose(tmp_path, text) if d.code != "AS222"]  # 4 CPU on 3.92: AS222
    assert (d.code, d.line) == ("AS207", 14)


def test_missing_constraints_file(tmp_path: Path) -> None:
    text = MINIMAL.replace("  providers:\n", "  providers:\n    constraints: nope.txt\n")
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line, d.col) == ("AS208", 13, 18)


def test_pin_conflicting_with_constraints(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("apache-airflow-providers-amazon==9.8.0\n")
    text = MINIMAL.replace("  providers:\n", "  providers:\n    constraints: c.txt\n")
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS211" and "9.8.0" in d.hint


def test_bad_requirement(tmp_path: Path) -> None:
    text = MINIMAL.replace("common-io==1.6.1", "common-io[")
    assert "AS212" in {d.code for d in diagnose(tmp_path, text)}


def test_bad_quantity(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  providers:\n", "  dagProcessor: {resources: {memory: 2GB}}\n  providers:\n"
    )
    (d,) = diagnose(tmp_path, text)
    assert (d.code, d.line) == ("AS213", 12)


def test_node_group_sizes(tmp_path: Path) -> None:
    (d,) = diagnose(tmp_path, MINIMAL.replace("desiredCapacity: 1", "desiredCapacity: 5"))
    assert d.code == "AS214"


def test_unresolved_issuer_is_a_warning(tmp_path: Path) -> None:
    text = "\n".join(line for line in MINIMAL.splitlines() if "oidcIssuer" not in line) + "\n"
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS210" and not d.is_error


def test_every_problem_at_once(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("namespace: agents", "namespce: agents")
        .replace('"123456789012"', "123")
        .replace("instanceType: m5.xlarge", "instanceType: 7")
    )
    assert {"AS101", "AS102"} <= {d.code for d in diagnose(tmp_path, text)}
    assert len(diagnose(tmp_path, text)) == 3
