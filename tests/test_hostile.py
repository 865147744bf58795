"""Hostile and unusual input: every case a diagnostic or a clear message, never a traceback,
never a file outside the repository in an artifact, never a half-written out/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from airspec.cli import app
from conftest import MINIMAL, ROOT, codes_at, diagnose, invoke, variant, write_spec

# --- YAML -----------------------------------------------------------------------------


def test_every_explicit_tag_is_refused_at_its_position(tmp_path: Path) -> None:
    text = MINIMAL.replace("name: demo\n", "name: !!python/str demo\n").replace(
        "region: us-east-1", "region: !!str us-east-1"
    )
    text = text.replace("namespace: agents", "namespace: ! agents")
    found = {(d.code, d.line, d.col, d.message) for d in diagnose(tmp_path, text)}
    assert found == {
        ("AS006", 4, 9, "YAML tag '!!python/str' is not allowed in a spec"),
        ("AS006", 7, 14, "YAML tag '!' is not allowed in a spec"),
        ("AS006", 19, 13, "YAML tag '!!str' is not allowed in a spec"),
    }


def test_custom_tag_on_a_collection_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("buckets:\n  - name", "buckets: !Ref\n  - name")
    assert ("AS006", 27, 10) in codes_at(diagnose(tmp_path, text))


def test_self_referencing_alias_in_the_ignore_file_is_a_diagnostic(
    tmp_path: Path, runner: CliRunner
) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    ignore = tmp_path / ".airspecignore"
    ignore.write_text("- &a [*a]\n")
    result = invoke(runner, "apply", "--dry-run", str(spec), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"{ignore}:1:7: AS007 alias *a refers to a node that contains it" in result.stdout
    assert "nothing read" in result.stderr


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_spec_that_is_not_a_small_regular_file_is_refused_without_reading_it(
    tmp_path: Path, kind: str
) -> None:
    from airspec.frontend import check_spec

    if kind == "fifo":
        path = tmp_path / "x.airspec.yaml"
        os.mkfifo(path)  # reading it would block forever
        message = "is not a regular file"
    elif kind == "device":
        path, message = Path("/dev/zero"), "is not a regular file"
    else:
        path = tmp_path / "x.airspec.yaml"
        path.write_text("# " + "x" * (1 << 20) + "\n")
        message = "is 1,048,579 bytes; a spec is at most 1,048,576"
    (d,) = check_spec(path).diagnostics
    assert (d.code, d.line, d.col, d.message) == ("AS001", 1, 1, message)


# --- usage errors exit 1, not the "stale" 2 ----------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["validate"],
        ["compile", "--format", "xml", "x.airspec.yaml"],
        ["apply", "--dry-run", "--concurrency", "0", "x.airspec.yaml"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_1(args: list[str], runner: CliRunner) -> None:
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output


def test_help_and_version_exit_0(runner: CliRunner) -> None:
    assert invoke(runner, "--help").exit_code == 0
    assert invoke(runner, "compile", "--help").exit_code == 0
    assert invoke(runner, "--version").exit_code == 0


def test_installed_entry_point_exits_1_on_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airspec", "validate"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 1
    assert "Missing argument" in done.stderr and "Traceback" not in done.stderr


# --- out/: not a folder, leftovers, orphans, --check output formats ---------------------


def test_out_naming_a_file_is_an_error_not_a_traceback(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    afile = tmp_path / "afile"
    afile.write_text("keep me\n")
    for out in (afile, afile / "sub"):
        result = invoke(runner, "compile", str(spec), "--out", str(out))
        assert result.exit_code == 1
        assert f"airspec: cannot write {out.as_posix()}:" in result.stderr
        assert f"{out.as_posix()}/demo/ and the trees after it were not written" in result.stderr
    assert afile.read_text() == "keep me\n"


def test_check_json_is_one_document_with_the_stale_files(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    result = invoke(runner, "compile", str(spec), "--out", str(out), "--check", "-f", "json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)  # the whole of stdout: one JSON document
    assert doc["diagnostics"] == []
    assert {"path": f"{out.as_posix()}/demo/helm/values.yaml", "reason": "missing"} in doc["stale"]
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    fresh = invoke(runner, "compile", str(spec), "--out", str(out), "--check", "-f", "json")
    assert fresh.exit_code == 0 and json.loads(fresh.stdout) == {"diagnostics": [], "stale": []}


def test_check_github_annotates_each_stale_file(tmp_path: Path, runner: CliRunner) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    (out / "demo" / "RUNBOOK.md").write_text("edited by hand\n")
    result = invoke(runner, "compile", str(spec), "--out", str(out), "--check", "-f", "github")
    assert result.exit_code == 2
    path = f"{out.as_posix()}/demo/RUNBOOK.md"
    escaped = path.replace(":", "%3A").replace(",", "%2C")
    assert result.stdout.splitlines() == [
        f"::error file={escaped},title=airspec stale::{path} is stale (differs); "
        "run 'airspec compile' and commit out/"
    ]


def _killed_between_the_renames(out: Path, name: str) -> None:
    """The state write_tree leaves when killed after moving the old tree aside and before
    moving the new one in."""
    old, new = out / f".{name}.old-k1ll3d", out / f".{name}.new-k1ll3d"
    old.mkdir()
    shutil.copytree(out / name, new)
    (new / "RUNBOOK.md").unlink()  # the new tree was still being written
    os.replace(out / name, old / name)


def test_a_write_killed_between_renames_is_reported_then_recovered(
    tmp_path: Path, runner: CliRunner
) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    _killed_between_the_renames(out, "demo")
    check = invoke(runner, "compile", str(spec), "--out", str(out), "--check")
    assert check.exit_code == 2
    lines = check.stdout.splitlines()
    assert (
        f"{out.as_posix()}/.demo.new-k1ll3d/: left over from an interrupted write; 'airspec compile' removes it"
        in lines
    )
    assert (
        f"{out.as_posix()}/.demo.old-k1ll3d/: left over from an interrupted write; 'airspec compile' removes it"
        in lines
    )
    # the summary counts files and folders apart
    folders = sum(line.split(": ", 1)[0].endswith("/") for line in lines)
    assert folders >= 2
    assert check.stderr.strip() == (
        f"airspec: {len(lines) - folders} file(s) and {folders} folder(s) in {out} are stale; "
        "run 'airspec compile' and commit"
    )
    result = invoke(runner, "compile", str(spec), "--out", str(out))
    assert result.exit_code == 0
    assert "unchanged" in result.stderr  # the previous tree was put back, and it is current
    assert sorted(p.name for p in out.iterdir()) == ["demo"]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert invoke(runner, "compile", str(spec), "--out", str(out), "--check").exit_code == 0


def test_renaming_a_spec_leaves_an_orphan_that_check_reports(
    tmp_path: Path, runner: CliRunner
) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    other = variant(MINIMAL, 1).replace("name: demo-1\n", "name: other\n")
    gone = write_spec(tmp_path, other, "o.airspec.yaml")
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), str(gone), "--out", str(out)).exit_code == 0
    gone.unlink()
    spec.write_text(MINIMAL.replace("name: demo\n", "name: renamed\n"))
    written = invoke(runner, "compile", str(spec), "--out", str(out))
    assert written.exit_code == 0
    assert (
        f"airspec: {out.as_posix()}/demo/ is orphaned: demo.airspec.yaml now names another tree; "
        "remove it" in written.stderr
    )
    check = invoke(runner, "compile", str(spec), "--out", str(out), "--check")
    assert check.exit_code == 2
    assert check.stdout.splitlines() == [
        f"{out.as_posix()}/demo/: orphaned: demo.airspec.yaml now names another tree",
        f"{out.as_posix()}/other/: orphaned: its spec o.airspec.yaml is gone",
    ]
    assert (out / "demo").is_dir()  # reported, never deleted


def test_a_folder_in_out_that_airspec_never_wrote_is_stale(
    tmp_path: Path, runner: CliRunner
) -> None:
    """A stray out/<dir>/ without a manifest would pass review as compiled output."""
    spec = write_spec(tmp_path, MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    (out / "hand-made").mkdir()
    (out / "hand-made" / "policy.json").write_text('{"Statement": []}\n')
    check = invoke(runner, "compile", str(spec), "--out", str(out), "--check")
    assert check.exit_code == 2
    assert f"{out.as_posix()}/hand-made/: not written by airspec" in check.stdout


def test_header_names_the_spec_relative_to_the_repository_whatever_the_cwd(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()
    write_spec(repo / "specs", MINIMAL)
    trees = []
    for cwd, spec, out in (
        (repo, "specs/demo.airspec.yaml", "out"),
        (repo / "specs", "demo.airspec.yaml", "../out"),
        (tmp_path, "repo/specs/demo.airspec.yaml", "repo/out"),
    ):
        shutil.rmtree(repo / "out", ignore_errors=True)
        done = subprocess.run(
            [sys.executable, "-m", "airspec", "compile", spec, "--out", out],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        trees.append(
            {p.relative_to(repo): p.read_bytes() for p in (repo / "out").rglob("*") if p.is_file()}
        )
    assert trees[0] == trees[1] == trees[2]
    assert trees[0][Path("out/demo/helm/values.yaml")].startswith(
        b"# generated by airspec from specs/demo.airspec.yaml; do not edit\n"
    )


# --- the constraints file --------------------------------------------------------------


def _with_constraints(tmp_path: Path, path: str) -> str:
    (tmp_path / ".git").mkdir(exist_ok=True)  # the spec's repository is tmp_path
    return MINIMAL.replace("    packages: [", f"    constraints: {path}\n    packages: [")


@pytest.mark.parametrize(
    ("path", "content", "reason"),
    [
        ("/etc/passwd", None, "is outside the spec's repository"),
        ("../../.aws/credentials", None, "is outside the spec's repository"),
        ("/dev/zero", None, "is outside the spec's repository"),
        ("link.txt", "symlink:/etc/hostname", "is outside the spec's repository"),
        ("fifo.txt", "fifo", "is not a regular file"),
        ("big.txt", "x==1\n" * 250_000, "is over 1,048,576 bytes"),
        ("bin.txt", b"\xff\xfe", "is not UTF-8 text"),
        (
            "idx.txt",
            "a==1\n--extra-index-url https://user:t0ken@pypi.example.com/simple\n",
            "line 2 looks like credentials inside a URL; it would be committed",
        ),
        (
            "opt.txt",
            "# ok\na==1\n\n--extra-index-url https://pypi.example.com/simple\n",
            "line 4 is not a requirement line such as 'name==version'",
        ),
        ("junk.txt", "a==1\nthis is not a requirement\n", "line 2 is not a requirement line"),
    ],
)
def test_constraints_file_that_must_not_be_copied_into_out(
    tmp_path: Path, path: str, content: str | bytes | None, reason: str
) -> None:
    target = tmp_path / path
    if isinstance(content, bytes):
        target.write_bytes(content)
    elif content == "fifo":
        os.mkfifo(target)
    elif content is not None and content.startswith("symlink:"):
        target.symlink_to(content.removeprefix("symlink:"))
    elif content is not None:
        target.write_text(content)
    diags = [d for d in diagnose(tmp_path, _with_constraints(tmp_path, path)) if d.code == "AS208"]
    assert len(diags) == 1 and (diags[0].line, diags[0].col) == (13, 18)
    assert diags[0].message.startswith(f"constraints file '{path}': {reason}")
    assert "t0ken" not in diags[0].message


def test_constraints_file_in_the_repository_with_comments_and_urls_is_copied(
    tmp_path: Path, runner: CliRunner
) -> None:
    (tmp_path / "pins").mkdir()
    text = "# pins\napache-airflow-providers-amazon==9.9.0  # inline\nx @ file:///tmp/x.whl\n"
    (tmp_path / "pins" / "c.txt").write_text(text)
    (tmp_path / "specs").mkdir()
    spec = write_spec(tmp_path / "specs", _with_constraints(tmp_path, "../pins/c.txt"))
    out = tmp_path / "out"
    result = invoke(runner, "compile", str(spec), "--out", str(out))
    assert result.exit_code == 0, result.stdout
    assert (
        "apache-airflow-providers-amazon==9.9.0  # inline"
        in (out / "demo" / "k8s" / "provider-constraints.yaml").read_text()
    )


# --- names the cloud refuses, at their boundary ------------------------------------------


def _name_limits(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    return [(d.line, d.col, d.message) for d in diagnose(tmp_path, text) if d.code == "AS221"]


@pytest.mark.parametrize(
    ("bucket", "problem"),
    [
        ("192.168.5.4", "is formatted as an IP address"),
        ("a..bc", "has two adjacent periods"),
        (
            "a.-b",
            "has a '-' next to a '.' (each dot-separated part must begin and end alphanumeric)",
        ),
        ("xn--bucket", "begins with the reserved prefix 'xn--'"),
        ("sthree-logs", "begins with the reserved prefix 'sthree-'"),
        ("logs-s3alias", "ends with the reserved suffix '-s3alias'"),
        ("logs--ol-s3", "ends with the reserved suffix '--ol-s3'"),
    ],
)
def test_s3_bucket_names_s3_refuses(tmp_path: Path, bucket: str, problem: str) -> None:
    text = MINIMAL.replace("demo-bucket", bucket)
    assert _name_limits(tmp_path, text) == [
        (28, 11, f"bucket name '{bucket}' {problem}; S3 refuses it")
    ]


@pytest.mark.parametrize("bucket", ["192.168.5.four", "a.b-c.d", "xn-bucket", "s3alias-logs"])
def test_s3_bucket_names_near_the_rules_pass(tmp_path: Path, bucket: str) -> None:
    assert _name_limits(tmp_path, MINIMAL.replace("demo-bucket", bucket)) == []


def test_helm_release_name_limit_is_53(tmp_path: Path) -> None:
    ok = "a" * 53
    assert _name_limits(tmp_path, MINIMAL.replace("name: demo\n", f"name: {ok}\n")) == []
    long = "a" * 54
    assert _name_limits(tmp_path, MINIMAL.replace("name: demo\n", f"name: {long}\n")) == [
        (4, 9, f"the Helm release name '{long}' is 54 characters; Helm allows at most 53")
    ]


def test_software_namespace_and_service_accounts_fit_63(tmp_path: Path) -> None:
    from conftest import SOFTWARE_MINIMAL

    def with_release(name: str) -> str:
        return SOFTWARE_MINIMAL.replace("releaseName: stellar-comet-1234", f"releaseName: {name}")

    # the longest account is <release>-migrate-database-job (21 more characters)
    assert _name_limits(tmp_path, with_release("r" * 42)) == []
    found = _name_limits(tmp_path, with_release("r" * 43))
    assert [m for _, _, m in found] == [
        f"the service account '{'r' * 43}-migrate-database-job' derived from '{'r' * 43}' is 64 "
        "characters; a service account name is at most 63"
    ]
    found = _name_limits(tmp_path, with_release("r" * 53))
    assert (
        7,
        27,
        f"the namespace 'astronomer-{'r' * 53}' is 64 characters; a namespace is at most 63",
    ) in found


def test_log_reader_role_name_is_never_truncated(tmp_path: Path) -> None:
    def with_role(name: str) -> str:
        return MINIMAL.replace("role: {name: DemoRole", f"role: {{name: {name}").replace(
            "imagePullSecret: registry",
            "imagePullSecret: registry\n    logReaderRoleArn: arn:aws:iam::123456789012:role/astro",
        )

    assert _name_limits(tmp_path, with_role("R" * 53)) == []  # R*53-log-reader: 64
    (found,) = _name_limits(tmp_path, with_role("R" * 54))
    assert found[2] == (
        f"the log-reader role '{'R' * 54}-log-reader' derived from this role name is 65 "
        "characters; an IAM role name is at most 64"
    )
    # at 64 characters the old truncation made the reader's name equal the role's
    assert next(m for _, _, m in _name_limits(tmp_path, with_role("R" * 64))).startswith(
        f"the log-reader role '{'R' * 64}-log-reader'"
    )


def test_gke_cluster_and_pool_names_limit_is_40(tmp_path: Path) -> None:
    from conftest import GKE_MINIMAL

    def named(cluster: str, pool: str) -> str:
        return GKE_MINIMAL.replace(
            "name: demo\n      location", f"name: {cluster}\n      location"
        ).replace("{name: workers,", f"{{name: {pool},")

    assert _name_limits(tmp_path, named("c" * 40, "p" * 40)) == []
    assert [m for _, _, m in _name_limits(tmp_path, named("c" * 41, "p" * 41))] == [
        "a GKE cluster name is at most 40 characters; this one has 41",
        "a GKE node pool name is at most 40 characters; this one has 41",
    ]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ('{team: "data platform"}', "label value 'data platform' is not a label value"),
        ('{team: "🚀"}', "label value '🚀' is not a label value"),
        (
            f"{{team: {'v' * 64}}}",
            f"label value '{'v' * 64}' is 64 characters; a label value is at most 63",
        ),
        ('{"has space": x}', "label key 'has space' is not a label key"),
        (
            f"{{{'k' * 64}: x}}",
            f"label key '{'k' * 64}' has a name of 64 characters; a label name is at most 63",
        ),
        (
            '{"Bad_Prefix/x": y}',
            "label key 'Bad_Prefix/x' has a prefix that is not a DNS subdomain",
        ),
    ],
)
def test_label_keys_and_values_kubernetes_refuses(
    tmp_path: Path, labels: str, message: str
) -> None:
    text = MINIMAL.replace("  name: demo\n", f"  name: demo\n  labels: {labels}\n")
    (found,) = _name_limits(tmp_path, text)
    assert found[2].startswith(message)


def test_label_boundaries_pass(tmp_path: Path) -> None:
    labels = f'{{team: {"v" * 63}, "example.com/{"k" * 63}": "", a.b_c-d: x.y_z}}'
    text = MINIMAL.replace("  name: demo\n", f"  name: demo\n  labels: {labels}\n")
    assert _name_limits(tmp_path, text) == []


def test_empty_cloud_access_is_an_error_not_the_default(tmp_path: Path) -> None:
    text = MINIMAL.replace("  namespace: agents\n", "  namespace: agents\n  cloudAccess: []\n")
    found = [(d.code, d.line, d.message) for d in diagnose(tmp_path, text)]
    assert found == [
        ("AS215", 8, "'cloudAccess' is empty: no component would get the cloud identity")
    ]


def test_a_field_of_the_other_cloud_is_refused(tmp_path: Path) -> None:
    from conftest import GKE_MINIMAL

    text = GKE_MINIMAL.replace(
        "imagePullSecret: registry",
        "imagePullSecret: registry\n    logReaderRoleArn: arn:aws:iam::123456789012:role/astro",
    )
    found = [(d.code, d.line, d.col) for d in diagnose(tmp_path, text)]
    assert found == [("AS205", 12, 5)]


# --- runbook steps that run as written -------------------------------------------------


def _runbook_lines(tree: Path) -> list[str]:
    return (tree / "RUNBOOK.md").read_text().splitlines()


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("kubectl") is None, reason="jq")
def test_git_connection_secret_survives_a_token_with_quotes_and_backslashes(
    tmp_path: Path, runner: CliRunner
) -> None:
    """The runbook's own command, run by bash with the real jq and kubectl (client-side)."""
    import base64

    import yaml

    out = tmp_path / "out"
    spec = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    lines = _runbook_lines(out / "remote-exec-demo")
    i = next(n for n, line in enumerate(lines) if "git-dags-connection" in line)
    command = lines[i].removesuffix(" \\") + " --dry-run=client -o yaml"
    token = "p\"a\\ss'w$rd `x`"
    env = {"PATH": os.environ["PATH"], "GIT_DAGS_LOGIN": "bot", "GIT_DAGS_TOKEN": token}
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    secret = yaml.safe_load(done.stdout)
    conn = json.loads(base64.b64decode(secret["data"]["connection"]))
    assert conn == {
        "conn_type": "git",
        "login": "bot",
        "password": token,
        "host": "https://github.com/my-org/my-dags",
    }


def test_resolve_step_names_the_spec_from_the_runbooks_folder(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "specs").mkdir()
    shutil.copy(ROOT / "tests" / "specs" / "govcloud-unresolved.airspec.yaml", repo / "specs")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airspec",
            "compile",
            "govcloud-unresolved.airspec.yaml",
            "-o",
            "../out",
        ],
        cwd=repo / "specs",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    tree = repo / "out" / "gov-agents"
    lines = _runbook_lines(tree)
    assert "airspec resolve ../../specs/govcloud-unresolved.airspec.yaml" in lines
    assert "airspec compile ../../specs/govcloud-unresolved.airspec.yaml --out .." in lines
    assert (tree / "../../specs/govcloud-unresolved.airspec.yaml").is_file()


def test_software_platform_upgrade_is_pinned_to_the_spec_version(
    tmp_path: Path, runner: CliRunner
) -> None:
    from conftest import SOFTWARE_MINIMAL

    spec = write_spec(tmp_path, SOFTWARE_MINIMAL)
    out = tmp_path / "out"
    assert invoke(runner, "compile", str(spec), "--out", str(out)).exit_code == 0
    lines = _runbook_lines(out / "sw")
    (upgrade,) = [line for line in lines if line.startswith("helm upgrade astronomer")]
    assert " --version 0.37.4 --reuse-values " in upgrade
    unpinned = SOFTWARE_MINIMAL.replace(', platformChartVersion: "0.37.4"', "")
    found = [(d.code, d.message) for d in diagnose(tmp_path, unpinned)]
    assert found == [("AS103", "missing required field 'deployment.software.platformChartVersion'")]


def test_gke_runbook_removes_the_default_pool_after_the_declared_ones(tmp_path: Path) -> None:
    from airspec.pipeline import compile_spec
    from conftest import GKE_MINIMAL

    result = compile_spec(write_spec(tmp_path, GKE_MINIMAL), "x", "x")
    runbook = next(a.content for a in result.artifacts if a.path == "RUNBOOK.md")
    lines = runbook.splitlines()
    create = next(i for i, line in enumerate(lines) if "node-pools create workers" in line)
    delete = next(i for i, line in enumerate(lines) if "node-pools delete default-pool" in line)
    assert create < delete and "--quiet" in lines[delete]


# --- no input produces a traceback: the CLI under hypothesis --------------------------------

INPUTS = sorted((ROOT / "specs").glob("*.airspec.yaml")) + sorted(
    (ROOT / "tests" / "specs").glob("*.yaml")
)
HOSTILE_SNIPPETS = [
    "a: &a [*a]\n",
    "[" * 300 + "]" * 300 + "\n",
    "x: !!python/object/apply:os.system ['true']\n",
    "<<: *nothing\n",
    "? [complex, key]\n: v\n",
    "\t- tab\n",
    "%YAML 1.1\n---\n",
    "--- a\n--- b\n",
    "\x00\x01",
    "metadata: {name: " + "n" * 300 + "}\n",
    "cloudAccess: []\n",
    "constraints: /dev/zero\n",
]


@st.composite
def hostile_texts(draw: st.DrawFn) -> bytes:
    lines = draw(st.sampled_from(INPUTS)).read_bytes().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        action = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate", "bytes"]))
        if action == "delete" and lines:
            del lines[i]
        elif action == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif action == "insert":
            indent = draw(st.sampled_from(["", "  ", "    "]))
            lines.insert(i, (indent + draw(st.sampled_from(HOSTILE_SNIPPETS))).encode())
        elif action == "truncate" and lines:
            cut = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut]
        else:
            lines.insert(i, draw(st.binary(max_size=12)))
    return b"".join(lines)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_texts(), st.sampled_from(["validate", "compile", "check-json", "check-github"]))
def test_no_input_gives_a_traceback_through_the_cli(text: bytes, command: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "h.airspec.yaml"
        spec.write_bytes(text)
        shutil.copy(ROOT / "specs" / "constraints.txt", Path(tmp) / "constraints.txt")
        out = str(Path(tmp) / "out")
        args = {
            "validate": ["validate", str(spec)],
            "compile": ["compile", str(spec), "--out", out],
            "check-json": ["compile", str(spec), "--out", out, "--check", "-f", "json"],
            "check-github": ["compile", str(spec), "--out", out, "--check", "-f", "github"],
        }[command]
        result = CliRunner().invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2)
    assert "Traceback" not in result.output
    if command == "check-json":
        json.loads(result.stdout)  # one JSON document, whatever happened


def test_software_deployment_gets_the_backends_airflow_config(tmp_path: Path) -> None:
    """Software specs configure the Deployment's Airflow, not only IAM; the settings are the
    ones the Remote Execution agents get for the same backends, and the runbook's commands
    replace the block in the Astro project's Dockerfile instead of appending a second one."""
    import shlex

    from airspec.pipeline import compile_spec
    from conftest import SOFTWARE_MINIMAL

    sw = compile_spec(write_spec(tmp_path, SOFTWARE_MINIMAL, "sw.airspec.yaml"), "x", "x")
    re_ = compile_spec(write_spec(tmp_path, MINIMAL), "x", "x")
    art = {a.path: a.content for a in sw.artifacts}
    env_text = art["software/Dockerfile.env"]
    env = dict(
        shlex.split(line.removeprefix("ENV "))[0].split("=", 1)
        for line in env_text.splitlines()
        if line.startswith("ENV ")
    )
    helm = next(a.content for a in re_.artifacts if a.path == "helm/values.yaml")
    agents = {e["name"]: e["value"] for e in helm["commonEnv"] if "value" in e}
    shared = set(env) & set(agents)
    assert {
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER",
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH",
        "AIRFLOW_CONN_AWS_DEFAULT",
    } <= shared
    assert {k: env[k] for k in shared} == {k: agents[k] for k in shared}
    assert env["AIRFLOW__CORE__XCOM_BACKEND"] == helm["xcomBackend"]
    assert json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["conn_type"] == "aws"

    runbook = art["RUNBOOK.md"].splitlines()
    start = runbook.index(': "${ASTRO_PROJECT:?set ASTRO_PROJECT to the Astro project folder}"')
    commands = runbook[start : start + 3]
    tree = tmp_path / "out" / "sw"
    (tree / "software").mkdir(parents=True)
    (tree / "software" / "Dockerfile.env").write_text(env_text + "\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Dockerfile").write_text("FROM quay.io/astronomer/astro-runtime:13.0.0\n")
    for _ in range(2):  # a rerun replaces the block
        done = subprocess.run(
            ["bash", "-ec", "\n".join(commands)],
            cwd=tree,
            env={"PATH": os.environ["PATH"], "ASTRO_PROJECT": str(project)},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    dockerfile = (project / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM quay.io/astronomer/astro-runtime:13.0.0\n")
    assert dockerfile.count("# airspec:begin sw") == 1 and dockerfile.endswith(env_text + "\n")


# --- pods that the declared node groups cannot run (AS222, a warning with numbers) ---------


def _scheduling(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    found = [d for d in diagnose(tmp_path, text) if d.code == "AS222"]
    assert all(not d.is_error for d in found)
    return [(d.line, d.col, d.message) for d in found]


def test_eks_allocatable_follows_the_ami_reservations() -> None:
    from decimal import Decimal

    from airspec.rules.scheduling import allocatable

    a = allocatable("m5.xlarge")  # 4 vCPU, 16 GiB, 58 pods
    assert a is not None
    assert a.cpu == Decimal("3.92")  # 4000m - (60 + 10 + 5 + 5)m
    assert a.memory == 16 * 2**30 - (11 * 58 + 255 + 100) * 2**20
    assert allocatable("x9.huge") is None


def test_quantities_are_read_in_base_units_with_the_as213_grammar() -> None:
    from decimal import Decimal

    from airspec.kube import quantity_value

    assert quantity_value("500m") == Decimal("0.5")
    assert quantity_value("512Ki") == 512 * 1024  # binary suffixes start upper-case
    assert quantity_value("2Gi") == 2 * 2**30 and quantity_value("2G") == 2 * 10**9
    assert quantity_value("1e3") == 1000 and quantity_value(1.5) == Decimal("1.5")
    assert [quantity_value(v) for v in ("16ki", "2GB", "-1", "1mi")] == [None] * 4


def test_the_old_multi_queue_example_is_warned_about(tmp_path: Path) -> None:
    text = (ROOT / "specs" / "multi-queue-eks.airspec.yaml").read_text()
    shutil.copy(ROOT / "specs" / "constraints.txt", tmp_path)
    assert _scheduling(tmp_path, text) == []  # as fixed
    old = text.replace(
        "instanceType: m6i.xlarge, desiredCapacity: 2",
        "instanceType: m6i.large, desiredCapacity: 2",
    ).replace(
        "desiredCapacity: 1, minSize: 1, maxSize: 3", "desiredCapacity: 0, minSize: 0, maxSize: 3"
    )
    assert [m for _, _, m in _scheduling(tmp_path, old)] == [
        "worker 'heavy' can only run on node group(s) heavy, which start with 0 nodes; nothing "
        "adds one unless a cluster autoscaler runs",
        "the agent pods request 8 CPU and 24.0Gi; the node groups start with 3.86 CPU and 14.7Gi "
        "allocatable (2 x m6i.large, 0 x r6i.2xlarge)",
    ]


def test_pods_against_node_groups_at_the_boundary(tmp_path: Path) -> None:
    # MINIMAL: one m5.xlarge (3.92 CPU); worker, triggerer and DAG processor request 1 CPU each
    assert _scheduling(tmp_path, MINIMAL) == []
    fits = MINIMAL.replace(
        "  namespace: agents\n",
        "  namespace: agents\n  triggerer: {replicas: 1, resources: {cpu: 1920m}}\n",
    )
    assert _scheduling(tmp_path, fits) == []  # 1 + 1.92 + 1 = 3.92
    over = fits.replace("cpu: 1920m", "cpu: 1921m")
    assert [m for _, _, m in _scheduling(tmp_path, over)] == [
        "the agent pods request 3.921 CPU and 6.0Gi; the node groups start with 3.92 CPU and "
        "15.0Gi allocatable (1 x m5.xlarge)"
    ]


def test_one_pod_larger_than_any_node_and_a_selector_nothing_matches(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  namespace: agents\n",
        "  namespace: agents\n"
        "  workers:\n"
        "    - {name: big, resources: {cpu: 3930m}}\n"
        "    - {name: gpu, nodeSelector: {accelerator: nvidia}}\n",
    ).replace(
        "desiredCapacity: 1, minSize: 0, maxSize: 2", "desiredCapacity: 3, minSize: 0, maxSize: 3"
    )
    assert [(line, m) for line, _, m in _scheduling(tmp_path, text)] == [
        (
            9,
            "one pod of worker 'big' requests 3.93 CPU and 2.0Gi; a m5.xlarge node allocates at "
            "most 3.92 CPU and 15.0Gi",
        ),
        (
            10,
            "worker 'gpu' selects {'accelerator': 'nvidia'}, which no node group's labels match; "
            "its pods never run",
        ),
    ]
