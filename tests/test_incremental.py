"""The incremental compile: a tree whose manifest shows nothing changed is not compiled again,
and every input that shapes it, changed in turn, compiles it again.

The fast path is checked against the full compile (`--force`) for each change: both must
print the same stale files and exit with the same code. Whether the spec was loaded is seen
from outside, in a subprocess: the fast path imports no pydantic, jsonschema, ruamel or rule.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from airspec import inputs
from airspec.cli import app
from conftest import MINIMAL, ROOT, variant

SPEC = MINIMAL.replace("  providers:\n", "  providers:\n    constraints: constraints.txt\n")
CONSTRAINTS = "apache-airflow-providers-amazon==9.9.0\napache-airflow-providers-common-io==1.6.1\n"
NO_ISSUER = SPEC.replace(
    "      oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789\n", ""
)
LOCK = {
    "apiVersion": "airspec/v1",
    "kind": "AirspecLock",
    "cluster": "demo-cluster",
    "values": {
        "cloud.aws.cluster.oidcIssuer": "https://oidc.eks.us-east-1.amazonaws.com/id/LOCKED0123"
    },
    "sources": {},
}
HEAVY = ("pydantic", "pydantic_core", "jsonschema", "ruamel", "packaging", "airspec.rules")


class Project:
    """A git work tree holding specs/demo.airspec.yaml, specs/constraints.txt and out/."""

    def __init__(self, root: Path, spec: str = SPEC) -> None:
        self.root = root
        (root / ".git").mkdir(parents=True)
        self.specs = root / "specs"
        self.specs.mkdir()
        self.spec = self.specs / "demo.airspec.yaml"
        self.spec.write_text(spec)
        (self.specs / "constraints.txt").write_text(CONSTRAINTS)
        self.out = root / "out"
        self.tree = self.out / "demo"

    def cli(self, *args: str) -> tuple[int, str]:
        """airspec in this process, from the project's folder; exit code and all output."""
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            os.chdir(cwd)
        return result.exit_code, result.stdout + result.stderr

    def compile(self, *args: str) -> tuple[int, str]:
        return self.cli("compile", "specs", *args)

    def check(self, *args: str) -> tuple[int, str]:
        return self.cli("compile", "specs", "--check", *args)

    def subprocess(self, *args: str) -> tuple[int, str, set[str]]:
        """airspec in a new process: exit code, output, and the modules it imported."""
        probe = textwrap.dedent(
            """\
            import atexit, sys
            atexit.register(lambda: print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr))
            sys.argv = ["airspec", *sys.argv[1:]]
            from airspec.cli import main
            main()
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        err, _, modules = done.stderr.rpartition("MODULES ")
        return done.returncode, done.stdout + err, set(modules.split())

    def manifest(self) -> dict:  # type: ignore[type-arg]
        return json.loads((self.tree / "manifest.json").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path / "proj")
    code, output = p.compile()
    assert code == 0 and "1 written" in output, output
    return p


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY or m.startswith("airspec.rules")}


# --- nothing changed: nothing loaded -------------------------------------------------------


def test_a_no_op_compile_and_check_load_no_spec(project: Project) -> None:
    """The fast path is taken: neither the model (pydantic), the schema (jsonschema), YAML
    (ruamel), `packaging` nor a rule is imported, and the result is the full compile's."""
    code, output, modules = project.subprocess("compile", "specs", "--check")
    assert code == 0, output
    assert "out is up to date (1 spec(s))" in output
    assert heavy(modules) == set(), sorted(heavy(modules))
    files = sum(1 for f in project.tree.rglob("*") if f.is_file())
    code, output, modules = project.subprocess("compile", "specs", "-v")
    assert code == 0 and f"unchanged out/demo/ ({files} files)" in output, output
    assert heavy(modules) == set()


def test_force_compiles_anyway(project: Project) -> None:
    code, output, modules = project.subprocess("compile", "specs", "--check", "--force")
    assert code == 0, output
    assert {"pydantic", "jsonschema", "airspec.rules"} <= modules


def test_the_manifest_records_every_input_the_compile_read(project: Project) -> None:
    recorded = project.manifest()["inputs"]
    assert recorded["files"] == {
        "constraints.txt": inputs.sha256(CONSTRAINTS.encode()),
        "demo.airspec.lock.json": None,  # absent is an input too: a lock file written later
        "demo.airspec.yaml": inputs.sha256(project.spec.read_bytes()),
    }
    assert recorded["code"] == inputs.code_digest()
    assert recorded["schema"] == "airspec/v1"
    assert recorded["runbookPath"] == "../../specs/demo.airspec.yaml"  # from out/demo/
    assert project.manifest()["source"] == "specs/demo.airspec.yaml"


# --- each input changed in turn: the tree is compiled again --------------------------------


def _edit_spec_comment(p: Project) -> None:
    p.spec.write_text(p.spec.read_text() + "# a comment changes the spec's bytes\n")


def _edit_spec(p: Project) -> None:
    p.spec.write_text(p.spec.read_text().replace("prefix: logs", "prefix: airflow-logs"))


def _edit_constraints(p: Project) -> None:
    (p.specs / "constraints.txt").write_text(CONSTRAINTS + "boto3==1.35.0\n")


def _write_lock(p: Project) -> None:
    (p.specs / "demo.airspec.lock.json").write_text(json.dumps(LOCK))


def _move_out(p: Project) -> None:
    """Another out folder in the same project: the runbook names the spec from there."""
    (p.root / "build").mkdir()
    shutil.move(p.out, p.root / "build" / "out")
    p.out = p.root / "build" / "out"
    p.tree = p.out / "demo"


def _move_spec(p: Project) -> None:
    """The same spec under another path: the headers name it."""
    (p.specs / "team").mkdir()
    p.spec = p.spec.rename(p.specs / "team" / "demo.airspec.yaml")
    shutil.copy(p.specs / "constraints.txt", p.specs / "team" / "constraints.txt")


INPUT_CHANGES: dict[str, tuple[Callable[[Project], None], set[str]]] = {
    # change -> the files of out/demo/ that must differ (manifest.json always does)
    "spec bytes (a comment)": (_edit_spec_comment, set()),
    "spec content": (_edit_spec, {"aws/iam-policy.json", "helm/values.yaml", "GRAPH.md"}),
    "constraints file": (_edit_constraints, {"k8s/provider-constraints.yaml"}),
    "spec path (header)": (_move_spec, {"helm/values.yaml", "RUNBOOK.md"}),
}


@pytest.mark.parametrize("change", INPUT_CHANGES, ids=list(INPUT_CHANGES))
def test_changing_an_input_compiles_the_tree_again(project: Project, change: str) -> None:
    mutate, differing = INPUT_CHANGES[change]
    mutate(project)
    code, output = project.check()
    assert code == 2, output
    stale = {line.split(": ")[0] for line in output.splitlines() if line.startswith("out/demo/")}
    assert {f"out/demo/{f}" for f in differing | {"manifest.json"}} <= stale, output
    assert (code, output) == project.check("--force")
    code, output = project.compile()
    assert code == 0 and "1 written" in output, output
    assert project.check() == (0, "airspec: out is up to date (1 spec(s))\n")


IMAGE_LIST = next((ROOT / "compiler" / "airspec" / "data" / "images").glob("*.txt")).read_text()
WITH_IMAGE_LIST = SPEC.replace(
    "  providers:\n", "  imagePackages: {file: images/agent.txt}\n  providers:\n"
).replace(
    '"apache-airflow-providers-common-io==1.6.1"]',
    '"apache-airflow-providers-common-io==1.6.1", "apache-airflow-providers-git==0.0.8"]',
)


def _git_metadata(*requires: str) -> str:
    """An image list's metadata sidecar (issue 24): the git provider's dependencies."""
    meta = {"requires_dist": ["GitPython>=3.1.44", "apache-airflow>=3.0.0", *requires]}
    return json.dumps({"apache-airflow-providers-git": {"0.0.8": meta}})


@pytest.mark.parametrize("change", ["sidecar added", "sidecar edited", "list edited"])
def test_the_image_package_list_and_its_metadata_are_inputs(tmp_path: Path, change: str) -> None:
    """deployment.imagePackages names a pip freeze of the image beside the spec, and the
    metadata sidecar beside it (`<list>.metadata.json`, read when there is one) adds to
    the dependency data the install closure is resolved from. Both shape the installs."""
    p = Project(tmp_path / "proj", WITH_IMAGE_LIST)
    (p.specs / "images").mkdir()
    (p.specs / "images" / "agent.txt").write_text(IMAGE_LIST)
    sidecar = p.specs / "images" / "agent.txt.metadata.json"
    if change == "sidecar edited":
        sidecar.write_text(_git_metadata())
    code, output = p.compile()
    assert code == 0, output
    recorded = p.manifest()["inputs"]["files"]
    assert recorded["images/agent.txt"] == inputs.sha256(IMAGE_LIST.encode())
    assert recorded["images/agent.txt.metadata.json"] == (
        inputs.sha256(sidecar.read_bytes()) if sidecar.exists() else None
    )
    if change == "list edited":  # the image now holds tqdm: it is not installed beside it
        (p.specs / "images" / "agent.txt").write_text(IMAGE_LIST + "tqdm==4.67.1\n")
        sidecar.write_text(_git_metadata("tqdm>=4"))
        assert p.compile()[0] == 0
        (p.specs / "images" / "agent.txt").write_text(IMAGE_LIST)
    else:  # the git provider now needs tqdm, which the image lacks: installed beside it
        sidecar.write_text(_git_metadata("tqdm>=4"))
    code, output = p.check()
    assert code == 2 and "out/demo/python/environments.json: differs" in output, output
    assert (code, output) == p.check("--force")
    assert p.compile()[0] == 0
    installs = (p.tree / "python" / "environments.json").read_text()
    assert "tqdm" in installs
    assert p.check() == (0, "airspec: out is up to date (1 spec(s))\n")


def test_a_folder_where_the_metadata_sidecar_would_be_is_passed_over(tmp_path: Path) -> None:
    """As the compile passes it over (no sidecar), the fast path does; a file there later
    compiles the tree again."""
    p = Project(tmp_path / "proj", WITH_IMAGE_LIST)
    (p.specs / "images" / "agent.txt.metadata.json").mkdir(parents=True)
    (p.specs / "images" / "agent.txt").write_text(IMAGE_LIST)
    assert p.compile()[0] == 0
    assert p.manifest()["inputs"]["files"]["images/agent.txt.metadata.json"] == inputs.NOT_A_FILE
    assert p.check() == (0, "airspec: out is up to date (1 spec(s))\n")
    (p.specs / "images" / "agent.txt.metadata.json").rmdir()
    (p.specs / "images" / "agent.txt.metadata.json").write_text(_git_metadata("tqdm>=4"))
    code, output = p.check()
    assert code == 2 and "out/demo/python/environments.json: differs" in output, output


def test_a_lock_file_written_later_compiles_the_tree_again(tmp_path: Path) -> None:
    """The lock file's absence is recorded: `airspec resolve` writing it brings the trust
    policy the first compile could not write."""
    p = Project(tmp_path / "proj", NO_ISSUER)
    code, output = p.compile()
    assert code == 0 and "AS210" in output, output
    assert not (p.tree / "aws" / "trust-policy.json").exists()
    _write_lock(p)
    code, output = p.check()
    assert code == 2 and "out/demo/aws/trust-policy.json: missing" in output, output
    assert p.compile()[0] == 0
    assert "LOCKED0123" in (p.tree / "aws" / "trust-policy.json").read_text()
    (p.specs / "demo.airspec.lock.json").unlink()  # and deleted again
    code, output = p.check()
    assert code == 2 and "out/demo/aws/trust-policy.json: not generated" in output, output


def test_another_out_folder_compiles_the_tree_again(tmp_path: Path) -> None:
    """The runbook names the spec relative to out/<name>/ (`airspec resolve ../../specs/…`
    while the OIDC issuer is unknown): moving out/ changes it."""
    project = Project(tmp_path / "proj", NO_ISSUER)
    assert project.compile()[0] == 0
    before = (project.tree / "RUNBOOK.md").read_text()
    assert "airspec resolve ../../specs/demo.airspec.yaml" in before
    _move_out(project)
    code, output = project.cli("compile", "specs", "--check", "--out", "build/out")
    assert code == 2 and "build/out/demo/RUNBOOK.md: differs" in output, output
    assert project.cli("compile", "specs", "--out", "build/out")[0] == 0
    assert (project.tree / "RUNBOOK.md").read_text() != before


def _reseal(p: Project, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    """Rewrite out/demo/manifest.json as another airspec would have written it: `change`
    applied to its inputs, sealed with its own digest as airspec seals it."""
    from airspec.emit import seal_manifest

    manifest = p.manifest()
    change(manifest["inputs"])
    (p.tree / "manifest.json").write_bytes(seal_manifest(manifest))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda i: i.update(airspec="0.0.9"), id="airspec version"),
        pytest.param(lambda i: i.update(code="0" * 64), id="airspec code"),
        pytest.param(lambda i: i.update(schema="airspec/v0"), id="schema version"),
    ],
)
def test_a_tree_from_another_airspec_is_compiled_again(
    project: Project,
    change: Callable[[dict], None],  # type: ignore[type-arg]
) -> None:
    _reseal(project, change)
    code, output, modules = project.subprocess("compile", "specs", "--check")
    assert code == 2 and "out/demo/manifest.json: differs" in output, output
    assert "pydantic" in modules  # it was compiled, not trusted
    assert project.compile()[0] == 0
    assert project.check()[0] == 0


def test_the_code_digest_changes_with_any_lowering_file(tmp_path: Path) -> None:
    """A pass edited without a version bump (a development checkout) is another compiler."""
    copy = tmp_path / "airspec"
    shutil.copytree(
        ROOT / "compiler" / "airspec", copy, ignore=shutil.ignore_patterns("__pycache__")
    )

    def digest() -> str:
        return subprocess.run(
            [sys.executable, "-c", "from airspec import inputs; print(inputs.code_digest())"],
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert digest() == inputs.code_digest()
    helm = copy / "passes" / "helm_values.py"
    helm.write_text(helm.read_text() + "\n# changed\n")
    changed = digest()
    assert changed != inputs.code_digest()
    (copy / "passes" / "provider_data.json").write_text("{}")  # a data file a pass may read
    assert digest() != changed
    with_data = digest()
    (copy / "apply" / "plan.py").write_text("# not a lowering module\n")
    (copy / "cli.py").write_text("# options and output only\n")
    assert digest() == with_data


def test_the_code_digest_covers_the_packages_data_files() -> None:
    """What the passes and rules read from the package is code too: the vendored regions
    (rules/locations.py), the shipped JSON Schema (the schema stage), the partial model
    (rules in the same round as schema errors), the claims recorded in each manifest, the
    image package lists and dependency metadata the install closure is resolved from."""
    package = ROOT / "compiler" / "airspec"
    names = {f.relative_to(package).as_posix() for f in inputs.package_files()}
    assert {"regions.json", "spec.schema.json", "partial.py", "claims.py", "regions.py"} <= names
    assert {"environments.py", "data/known-images.json", "data/distributions.json"} <= names
    images = {f"data/images/{f.name}" for f in (package / "data" / "images").glob("*.txt")}
    assert images and images <= names
    assert not {"cli.py", "launch.py", "review.py", "starter.py"} & names


def test_a_vendored_data_file_changed_compiles_the_tree_again(tmp_path: Path) -> None:
    """regions.json refreshed (scripts/refresh_regions.py) without a version bump: a tree
    compiled with the old list is not current. Here the spec's region leaves the list, so
    the compile now refuses it (AS230) where the fast path would say 'up to date'."""
    copy = tmp_path / "pkg" / "airspec"
    shutil.copytree(ROOT / "compiler" / "airspec", copy, ignore=shutil.ignore_patterns("__pycache__"))
    p = Project(tmp_path / "proj")

    def run(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "airspec", *args],
            cwd=p.root,
            env={**os.environ, "PYTHONPATH": str(tmp_path / "pkg")},
            capture_output=True,
            text=True,
        )
        return done.returncode, done.stdout + done.stderr

    assert run("compile", "specs")[0] == 0
    assert run("compile", "specs", "--check") == (0, "airspec: out is up to date (1 spec(s))\n")
    regions = json.loads((copy / "regions.json").read_text())
    regions["aws"]["partitions"]["aws"]["regions"].remove("us-east-1")
    (copy / "regions.json").write_text(json.dumps(regions, indent=2))
    code, output = run("compile", "specs", "--check")
    assert code == 1 and "AS230" in output, output


def test_compile_imports_no_module_left_out_of_the_code_digest(tmp_path: Path) -> None:
    """Every airspec module a compile runs is in the code digest, except the command line and
    the fast path itself (NOT_LOWERING): what the digest leaves out cannot shape a tree."""
    p = Project(tmp_path / "proj")
    code, output, modules = p.subprocess("compile", "specs", "--force")
    assert code == 0, output
    package = ROOT / "compiler" / "airspec"
    digested = {
        ".".join(f.relative_to(package).with_suffix("").parts) for f in inputs.package_files()
    }
    ran = {m.removeprefix("airspec.") for m in modules if m.startswith("airspec.")}
    outside = {m for m in ran if m not in digested and f"{m}.__init__" not in digested}
    assert outside == {"cli", "command_line", "compile_command", "incremental"}, outside


# --- outputs edited by hand, leftovers, orphans: reported on the fast path too --------------


def _edit_output(p: Project) -> None:
    values = p.tree / "helm" / "values.yaml"
    values.write_text(values.read_text().replace("replicas: 1", "replicas: 3"))


def _delete_output(p: Project) -> None:
    (p.tree / "aws" / "iam-policy.json").unlink()


def _add_output(p: Project) -> None:
    (p.tree / "k8s" / "extra.yaml").write_text("kind: ConfigMap\n")


def _edit_manifest(p: Project) -> None:
    m = p.tree / "manifest.json"
    m.write_text(m.read_text().replace('"type": "policy"', '"type": "role"'))


def _edit_manifest_and_digest(p: Project) -> None:
    """The file and its sha256 in the manifest edited together: the manifest's own digest
    no longer matches, so the fast path does not trust it."""
    values = p.tree / "helm" / "values.yaml"
    values.write_text(values.read_text().replace("replicas: 1", "replicas: 3"))
    m = p.tree / "manifest.json"
    text = m.read_text()
    entry = next(a for a in p.manifest()["artifacts"] if a["path"] == "helm/values.yaml")
    m.write_text(text.replace(entry["sha256"], inputs.sha256(values.read_bytes())))


def _leftover(p: Project) -> None:
    (p.out / ".demo.new-abc123" / "aws").mkdir(parents=True)


def _orphan(p: Project) -> None:
    """A tree whose spec is gone (renamed, deleted)."""
    shutil.copytree(p.tree, p.out / "old-demo")
    m = p.out / "old-demo" / "manifest.json"
    m.write_text(m.read_text().replace("specs/demo.airspec.yaml", "specs/old.airspec.yaml"))


OUTPUT_CHANGES: dict[str, tuple[Callable[[Project], None], str]] = {
    "file edited": (_edit_output, "out/demo/helm/values.yaml: differs"),
    "file deleted": (_delete_output, "out/demo/aws/iam-policy.json: missing"),
    "file added": (_add_output, "out/demo/k8s/extra.yaml: not generated"),
    "manifest edited": (_edit_manifest, "out/demo/manifest.json: differs"),
    "file and its digest edited": (_edit_manifest_and_digest, "out/demo/helm/values.yaml: differs"),
    "interrupted write": (_leftover, "out/.demo.new-abc123/: left over from an interrupted write"),
    "orphaned tree": (_orphan, "out/old-demo/: orphaned: its spec specs/old.airspec.yaml is gone"),
}


@pytest.mark.parametrize("change", OUTPUT_CHANGES, ids=list(OUTPUT_CHANGES))
def test_check_reports_what_changed_in_out(project: Project, change: str) -> None:
    mutate, line = OUTPUT_CHANGES[change]
    mutate(project)
    code, output = project.check()
    assert code == 2 and line in output, output
    assert (code, output) == project.check("--force")


def test_compile_names_a_file_it_removes_from_a_tree_that_was_current(project: Project) -> None:
    """compile names each file it removes from out/<name>/ (issue 27). A file added by hand
    to a current tree makes it not current (its manifest does not list the file): the tree
    is written again and the file named, as --force does."""
    _add_output(project)
    code, output = project.compile()
    assert code == 0, output
    assert "removed out/demo/k8s/extra.yaml (airspec does not generate it)" in output, output
    assert not (project.tree / "k8s" / "extra.yaml").exists()
    _add_output(project)
    assert (code, output) == project.compile("--force")
    assert project.check() == (0, "airspec: out is up to date (1 spec(s))\n")


def test_check_diff_shows_a_hand_edit_beside_a_current_tree(project: Project) -> None:
    """compile --check --diff (issue 27) prints the diff of each stale file also when the
    other trees are found current and never compiled."""
    other = project.specs / "other.airspec.yaml"
    other.write_text(variant(project.spec.read_text(), 2))
    assert project.compile()[0] == 0
    _edit_output(project)
    code, output = project.check("--diff")
    assert code == 2, output
    assert "--- out/demo/helm/values.yaml\n+++ out/demo/helm/values.yaml\n" in output, output
    assert any(line.startswith("-") and "replicas: 3" in line for line in output.splitlines())
    assert any(line.startswith("+") and "replicas: 1" in line for line in output.splitlines())
    assert "out/demo-2/" not in output  # current: neither stale nor diffed
    assert (code, output) == project.check("--diff", "--force")


def test_leftovers_and_orphans_need_no_compile(project: Project) -> None:
    """A current tree with an interrupted write beside it, and an orphaned tree: reported
    (and the leftover removed by compile) without loading the spec."""
    _leftover(project)
    _orphan(project)
    code, output, modules = project.subprocess("compile", "specs", "--check")
    assert code == 2, output
    assert "out/.demo.new-abc123/: left over" in output
    assert "out/old-demo/: orphaned" in output
    assert heavy(modules) == set()
    code, output, modules = project.subprocess("compile", "specs")
    assert code == 0 and "out/old-demo/ is orphaned" in output, output
    assert not (project.out / ".demo.new-abc123").exists()
    assert heavy(modules) == set()


# --- what the fast path must not change -----------------------------------------------------


def test_warnings_are_printed_again_when_nothing_changed(tmp_path: Path) -> None:
    p = Project(tmp_path / "proj", NO_ISSUER)
    first = p.compile()
    assert first[0] == 0 and "AS210 warning" in first[1]
    again = p.compile()
    assert again[1] == "".join(
        line for line in first[1].splitlines(keepends=True) if not line.startswith("wrote ")
    ).replace("1 written, 0 unchanged", "0 written, 1 unchanged")
    for fmt in ("text", "github", "json"):
        assert p.check("-f", fmt) == p.check("-f", fmt, "--force")


@pytest.mark.parametrize("first", [True, False], ids=["current one first", "current one last"])
def test_two_specs_naming_one_tree_is_still_an_error(project: Project, first: bool) -> None:
    twin = project.specs / "twin.airspec.yaml"
    twin.write_text(project.spec.read_text())
    order = ["specs/demo.airspec.yaml", "specs/twin.airspec.yaml"]
    args = order if first else order[::-1]
    code, output = project.cli("compile", *args, "--check")
    assert code == 1 and "AS" in output and "already used by" in output, output
    assert (code, output) == project.cli("compile", *args, "--check", "--force")


def test_a_constraints_file_symlinked_out_of_the_repository_is_refused(project: Project) -> None:
    """Same bytes, but now from outside the spec's repository: the fast path applies the
    compile's rule instead of trusting the digest (AS208)."""
    outside = project.root.parent / "elsewhere.txt"
    outside.write_text(CONSTRAINTS)
    (project.specs / "constraints.txt").unlink()
    (project.specs / "constraints.txt").symlink_to(outside)
    code, output = project.check()
    assert code == 1 and "AS208" in output, output
    assert (code, output) == project.check("--force")


def test_a_spec_compiled_by_an_airspec_without_provenance_is_compiled(project: Project) -> None:
    """A manifest with no `inputs` (an older airspec) is never trusted."""
    m = project.manifest()
    for key in ("inputs", "warnings", "digest"):
        m.pop(key)
    (project.tree / "manifest.json").write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    code, output = project.check()
    assert code == 2 and "out/demo/manifest.json: differs" in output, output


# --- the console entry point answers the no-op compile before the CLI framework loads -------

def _console(
    p: Project, *args: str, cli: bool = False, cwd: Path | None = None
) -> tuple[int, str, str, set[str]]:
    """The installed `airspec` command (or, with cli, airspec.cli without the launcher), run
    from the project's folder or `cwd`."""
    probe = textwrap.dedent(
        f"""\
        import atexit, sys
        atexit.register(lambda: print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr))
        sys.argv = ["airspec", *sys.argv[1:]]
        from airspec.{"cli" if cli else "launch"} import main
        main()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], cwd=cwd or p.root, capture_output=True, text=True
    )
    err, _, modules = done.stderr.rpartition("MODULES ")
    return done.returncode, done.stdout, err, set(modules.split())


@pytest.mark.parametrize(
    "argv",
    [
        ["compile", "specs"],
        ["compile", "specs", "--check"],
        ["compile", "specs", "-v"],
        ["compile", "specs", "--check", "-f", "github"],
        ["compile", "specs", "--check", "--diff"],
    ],
)
def test_the_entry_point_answers_as_the_cli_does(project: Project, argv: list[str]) -> None:
    code, out, err, modules = _console(project, *argv)
    assert "typer" not in modules and heavy(modules) == set()
    assert (code, out, err) == _console(project, *argv, cli=True)[:3]


@pytest.mark.parametrize(
    ("where", "argv"),
    [
        ("specs", ["compile", "."]),
        ("specs", ["compile", ".", "--check"]),
        ("specs", ["compile", "demo.airspec.yaml", "-v"]),
        ("outside", ["compile", "proj/specs", "--check"]),
        ("outside", ["compile", "proj/specs/demo.airspec.yaml"]),
    ],
)
def test_the_entry_point_finds_the_projects_out_as_the_cli_does(
    project: Project, where: str, argv: list[str]
) -> None:
    """Without --out, compile works on out/ at the root of the git work tree holding the
    specs, wherever it runs (issue 27): the entry point answers from a subfolder and from
    outside the project, naming that folder as the CLI does."""
    cwd = project.specs if where == "specs" else project.root.parent
    code, out, err, modules = _console(project, *argv, cwd=cwd)
    assert "typer" not in modules and heavy(modules) == set(), err
    assert code == 0 and f"{'../' if where == 'specs' else 'proj/'}out" in err, err
    assert (code, out, err) == _console(project, *argv, cli=True, cwd=cwd)[:3]


def test_the_entry_point_never_checks_an_out_folder_beside_the_working_directory(
    project: Project,
) -> None:
    """A current tree in specs/out/ (compiled there with -o) is not the project's out/:
    from specs/, `compile . --check` checks the project's out/, where a file was edited by
    hand, and says so (exit 2) — never 'up to date' from the folder beside it."""
    assert project.cli("compile", "specs", "-o", "specs/out")[0] == 0
    _edit_output(project)
    argv = ["compile", ".", "--check"]
    code, out, err, _ = _console(project, *argv, cwd=project.specs)
    assert code == 2 and "../out/demo/helm/values.yaml: differs" in out, out + err
    assert (code, out, err) == _console(project, *argv, cli=True, cwd=project.specs)[:3]
    code, out, err, modules = _console(project, *argv, "-o", "out", cwd=project.specs)
    assert (code, "typer" in modules) == (0, False), err  # specs/out/ itself is current


@pytest.mark.parametrize(
    "change",
    ["spec content", "file edited", "interrupted write", "orphaned tree", "warning"],
)
def test_the_entry_point_hands_anything_else_to_the_cli(tmp_path: Path, change: str) -> None:
    p = Project(tmp_path / "proj", NO_ISSUER if change == "warning" else SPEC)
    assert p.compile()[0] == 0
    mutate = {
        "spec content": _edit_spec,
        "file edited": _edit_output,
        "interrupted write": _leftover,
        "orphaned tree": _orphan,
        "warning": lambda p: None,
    }[change]
    mutate(p)
    code, out, err, modules = _console(p, "compile", "specs", "--check")
    assert "airspec.cli" in modules  # handed on (the CLI runs a plain compile without typer)
    assert (code, out, err) == _console(p, "compile", "specs", "--check", cli=True)[:3]


@pytest.mark.parametrize("edit_one", [False, True], ids=["both current", "one changed"])
def test_two_specs_claiming_one_live_object_is_still_an_error(
    project: Project, edit_one: bool
) -> None:
    """Compiled one at a time each spec is fine; together they claim the same IAM role
    (AS225). The check across specs runs whether their trees are current or not."""
    other = project.specs / "other.airspec.yaml"
    other.write_text(project.spec.read_text().replace("name: demo\n", "name: other\n", 1))
    assert project.cli("compile", "specs/other.airspec.yaml")[0] == 0
    if edit_one:
        _edit_spec_comment(project)
        assert project.cli("compile", "specs/demo.airspec.yaml")[0] == 0
    code, output = project.check()
    assert code == 1 and "AS225" in output, output
    assert (code, output) == project.check("--force")
    code, out, err, _ = _console(project, "compile", "specs", "--check")
    assert (code, out + err) == (1, output)


@pytest.mark.parametrize(
    "argv",
    [["compile", "specs", "--check", "--force"], ["compile", "specs", "--check", "-f", "json"]],
)
def test_the_entry_point_leaves_force_and_json_to_the_cli(project: Project, argv: list[str]) -> None:
    """A current tree all the same: --force compiles, and json prints its document, in the
    CLI (which then loads the compile, or at least the diagnostics)."""
    assert project.compile()[0] == 0
    code, out, err, modules = _console(project, *argv)
    assert code == 0, err
    assert "airspec.compile_command" in modules
    assert (code, out, err) == _console(project, *argv, cli=True)[:3]
