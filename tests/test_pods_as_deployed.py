"""Each Remote Execution component's Python environment, through the compiler: what the init
containers install (the exact closure of what the image lacks, --no-deps), the compile-time
errors when a configured class cannot be imported in a component, the built-image
alternative, and the runbook's shell (bash -n). The same trees run in the stand-in of the image
in tests/conformance/test_as_deployed.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML

from airspec.environments import (
    AIRFLOW_DISTRIBUTIONS,
    InstallConflict,
    image_packages,
    install_closure,
    known_images,
    parse_freeze,
)
from airspec.environments import (
    tested_providers as providers_tested_on,
)
from airspec.model import DEFAULT_AGENT_IMAGE
from airspec.pipeline import compile_spec
from airspec.starter import starter_packages
from conftest import GKE_MINIMAL, MINIMAL, ROOT, diagnose, write_spec

OUT = ROOT / "out"
TREES = sorted(
    p.parent
    for p in (*OUT.glob("*/manifest.json"), *(ROOT / "tests" / "golden").glob("*/manifest.json"))
)
IMAGE = parse_freeze(
    (
        ROOT / "compiler/airspec/data" / known_images()["images"][DEFAULT_AGENT_IMAGE]["packages"]
    ).read_text()
)
yaml = YAML(typ="safe")
BUNDLE = """bundles:
  - name: dags
    git: {repo: "https://github.com/acme/dags"}
"""


def _values(tree: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load((tree / "helm" / "values.yaml").read_text())
    return data


def _components(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {f"workers[{w['name']}]": w for w in values["workers"]}
    out["triggerer"] = values["triggerer"]
    out["dagProcessor"] = values["dagProcessor"]
    return out


def _installs(component: dict[str, Any]) -> list[str]:
    (init,) = component.get("initContainers", [{"command": []}])
    return [a for a in init["command"] if "==" in a]


# --- what the init containers install ----------------------------------------------------------


@pytest.mark.parametrize("tree", [t for t in TREES if (t / "helm").exists()], ids=lambda t: t.name)
def test_installs_never_touch_what_the_image_holds(tree: Path) -> None:
    """Every component's init container installs with --no-deps (pip resolves nothing, so no
    index needs Astronomer's +astro builds) exact pins of distributions the image does not
    hold; apache-airflow, -core and -task-sdk never."""
    for name, comp in _components(_values(tree)).items():
        for init in comp.get("initContainers", []):
            command = init["command"]
            assert command[:6] == [
                "pip", "install", "--no-cache-dir", "--no-deps", "--target", "/shared/packages",
            ], (tree.name, name)  # fmt: skip
            for arg in _installs(comp):
                req = Requirement(arg)
                assert str(req.specifier).startswith("==") and not req.extras, arg
                assert canonicalize_name(req.name) not in IMAGE, (tree.name, name, arg)
                assert canonicalize_name(req.name) not in AIRFLOW_DISTRIBUTIONS


def test_gke_every_component_installs_the_google_provider_beside_airflow_3_0_2() -> None:
    """The GKE finding: the worker's install replaced the image's Airflow (google 22.8.0
    resolved apache-airflow 3.1.0) and the triggerer and dag processor, which import
    GCSRemoteLogIO and the Secret Manager backend at start, installed nothing."""
    components = _components(_values(OUT / "gke-agents"))
    assert set(components) == {"workers[default-worker]", "triggerer", "dagProcessor"}
    for name, comp in components.items():
        installs = _installs(comp)
        assert "apache-airflow-providers-google==17.0.0" in installs, name
        assert "gcsfs==2025.5.1" in installs  # the XCom backend's gs:// filesystem
        assert not any(
            a.startswith(("apache-airflow==", "apache-airflow-core==")) for a in installs
        )
        assert {"name": "PYTHONPATH", "value": "/shared/packages"} in comp["env"]


def test_eks_installs_only_the_git_provider_closure() -> None:
    """The EKS finding: the webinar recipe re-resolved amazon[s3fs] and common-io, which the
    image holds, against constraints pinning apache-airflow==3.0.2+astro.1 (unresolvable on the
    public index). The image has both (and s3fs): only GitDagBundle's provider is missing."""
    components = _components(_values(OUT / "remote-exec-demo"))
    for name in ("workers[default-worker]", "dagProcessor", "triggerer"):
        assert _installs(components[name]) == [
            "apache-airflow-providers-git==0.0.8",
            "gitdb==4.0.12",
            "gitpython==3.2.1",
            "smmap==5.0.3",
        ], name


def test_the_compile_computes_each_spec_s_environments_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compile rule that checks each component's classes (AS204) and the resolve stage
    use the same environments: computed once per spec (the closure check is the costliest part
    of a compile after the YAML load), and equal to what a fresh computation gives."""
    import airspec.environments as envs_module
    import airspec.resolved
    import airspec.rules.providers

    calls = []

    def counted(*args: Any) -> list[envs_module.Environment]:
        calls.append(args)
        return envs_module.environments(*args)

    monkeypatch.setattr(airspec.rules.providers, "environments", counted)
    monkeypatch.setattr(airspec.resolved, "environments", counted)
    spec = ROOT / "specs" / "remote-exec-eks.airspec.yaml"
    result = compile_spec(spec, str(spec), spec.name)
    assert result.resolved is not None and len(calls) == 1
    assert result.resolved.environments == tuple(envs_module.environments(*calls[0]))
    assert result.resolved.environments  # a Remote Execution spec: one per component


def test_the_closure_is_recorded_for_a_reviewer() -> None:
    envs = json.loads((OUT / "gke-agents" / "python" / "environments.json").read_text())
    (image,) = envs["images"].values()
    assert image["airflow"] == "3.0.2+astro.1"
    assert image["packages"].startswith("airspec:data/images/")
    recorded = [i["requirement"] for i in image["installs"]]
    assert recorded == _installs(_components(_values(OUT / "gke-agents"))["triggerer"])
    by = {i["requirement"]: i["requiredBy"] for i in image["installs"]}
    assert by["apache-airflow-providers-google==17.0.0"] == "deployment.providers.packages"
    assert "apache-airflow-providers-google" in by["gcsfs==2025.5.1"]
    comp = {c["component"]: c for c in envs["components"]}
    sources = {c["class"]: c["from"] for c in comp["triggerer"]["classes"]}
    assert (
        sources["airflow.providers.google.cloud.log.gcs_task_handler.GCSRemoteLogIO"] == "install"
    )
    assert sources["astronomer.runtime.logging.logging_config"] == "image"
    assert sources["airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"] == "image"
    # the triggerer reads no DAG files: no bundle class
    assert "airflow.providers.git.bundles.git.GitDagBundle" not in sources
    assert "airflow.providers.git.bundles.git.GitDagBundle" in {
        c["class"] for c in comp["dagProcessor"]["classes"]
    }


# --- compile-time errors -----------------------------------------------------------------------


def test_a_bundle_without_the_git_provider_names_components_class_and_distribution(
    tmp_path: Path,
) -> None:
    (d,) = diagnose(tmp_path, MINIMAL + BUNDLE)
    assert d.code == "AS204"
    assert d.message == (
        "workers[default-worker] and dagProcessor cannot import "
        "airflow.providers.git.bundles.git.GitDagBundle (the DAG bundle class): "
        "apache-airflow-providers-git is neither in the image nor in "
        "deployment.providers.packages"
    )
    assert "'- apache-airflow-providers-git==0.0.8'" in d.hint
    assert (MINIMAL + BUNDLE).splitlines()[d.line - 1].strip().startswith("git:")


def test_a_worker_on_its_own_image_is_checked_against_that_image(tmp_path: Path) -> None:
    """Per component: a worker running another image (its pip freeze committed beside the spec)
    that lacks common-io cannot import the XCom backend; the others can."""
    own = "\n".join(
        line
        for line in image_text().splitlines()
        if not line.startswith("apache-airflow-providers-common-io==")
    )
    (tmp_path / "heavy.txt").write_text(own + "\n")
    text = MINIMAL.replace(
        "  providers:\n",
        "  workers:\n    - name: default-worker\n    - name: heavy\n"
        "      image: registry.example.com/agent:heavy\n"
        "      imagePackages: {file: heavy.txt}\n  providers:\n",
    ).replace(', "apache-airflow-providers-common-io==1.6.1"', "")
    (d,) = [d for d in diagnose(tmp_path, text) if d.is_error]
    assert d.code == "AS204" and d.message.startswith(
        "workers[heavy] cannot import airflow.providers.common.io.xcom.backend.XComObjectStorageBackend"
    )


def image_text() -> str:
    path = (
        ROOT / "compiler/airspec/data" / known_images()["images"][DEFAULT_AGENT_IMAGE]["packages"]
    )
    return path.read_text()


def test_an_image_airspec_does_not_know_needs_its_package_list(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  providers:\n", "  image: registry.example.com/my-agent:1.0\n  providers:\n"
    )
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS232" and "registry.example.com/my-agent:1.0" in d.message
    assert text.splitlines()[d.line - 1].strip().startswith("image:")
    assert "imagePackages" in d.hint and "pip" in d.hint
    # with its pip freeze committed beside the spec, the installs are computed against it
    (tmp_path / "agent.txt").write_text(image_text())
    text = text.replace(
        "  providers:\n", '  imagePackages: {file: agent.txt, python: "3.12"}\n  providers:\n'
    )
    assert diagnose(tmp_path, text) == []
    (tmp_path / "bad.txt").write_text("requests==2.0\n")
    (d,) = diagnose(tmp_path, text.replace("agent.txt", "bad.txt"))
    assert d.code == "AS232" and "no apache-airflow line" in d.message


@pytest.mark.parametrize(
    ("old", "new", "why"),
    [
        (
            "amazon[s3fs]==9.9.0",
            "amazon[s3fs]==9.39.0",
            "excludes the image's apache-airflow-providers-amazon 9.9.0",
        ),
        (
            '"apache-airflow-providers-common-io==1.6.1"',
            '"apache-airflow-providers-common-io==1.6.1", "apache-airflow-providers-google==22.8.0"',
            "no version of apache-airflow-providers-google airspec has metadata for",
        ),
    ],
)
def test_installs_that_would_shadow_the_image_are_refused(
    tmp_path: Path, old: str, new: str, why: str
) -> None:
    (d,) = diagnose(tmp_path, MINIMAL.replace(old, new))
    assert d.code == "AS233" and why in d.message
    assert "apache-airflow-providers-google==17.0.0" in d.hint


def test_the_image_pins_bind_the_closure() -> None:
    """Resolved against the image, not the index: the google provider's newest version that
    fits Airflow 3.0.2 and the image's common-compat 1.7.0."""
    image = image_packages(DEFAULT_AGENT_IMAGE, ROOT)
    with pytest.raises(
        InstallConflict, match="excludes the image's apache-airflow-providers-common-io"
    ):
        install_closure(image, ["apache-airflow-providers-common-io==1.11.0"])
    closure = install_closure(image, ["apache-airflow-providers-google==17.0.0"])
    names = {n for n, _ in closure.installs}
    assert not names & set(IMAGE) and "google-cloud-secret-manager" in names


SUPPORTED = [
    "apache-airflow-providers-amazon[s3fs]==9.9.0",
    "apache-airflow-providers-common-io==1.6.1",
    "apache-airflow-providers-git==0.0.8",
    "apache-airflow-providers-google==17.0.0",
]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(SUPPORTED), min_size=1, unique=True))
def test_the_closure_is_a_function_of_the_set_and_never_holds_the_image(
    requests: list[str],
) -> None:
    image = image_packages(DEFAULT_AGENT_IMAGE, ROOT)
    closure = install_closure(image, requests)
    assert install_closure(image, list(reversed(requests))).installs == closure.installs
    assert closure.installs == tuple(sorted(closure.installs))
    assert not {n for n, _ in closure.installs} & set(IMAGE)


# --- the dag processor and the cloud identity --------------------------------------------------


def test_the_dag_processor_gets_the_identity_with_a_cloud_secrets_backend(tmp_path: Path) -> None:
    secrets = "  secrets: {type: aws-secrets-manager}\n"
    result = compile_spec(write_spec(tmp_path, MINIMAL + secrets), "x", "x")
    assert result.ok
    trust = next(a for a in result.artifacts if a.path == "aws/trust-policy.json").content
    (stmt,) = trust["Statement"]
    subs = next(v for k, v in stmt["Condition"]["StringEquals"].items() if k.endswith(":sub"))
    assert "system:serviceaccount:agents:astro-agent-dag-processor" in subs
    # without a secrets backend it gets none
    result = compile_spec(write_spec(tmp_path, MINIMAL), "x", "x")
    trust = next(a for a in result.artifacts if a.path == "aws/trust-policy.json").content
    assert "dag-processor" not in json.dumps(trust)
    # an explicit cloudAccess without it is a warning
    text = MINIMAL.replace("  providers:\n", "  cloudAccess: [workers]\n  providers:\n") + secrets
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS234" and not d.is_error and "Variable.get" in d.message


def test_no_web_identity_token_setting_under_pod_identity() -> None:
    for tree, expected in (("pod-identity-demo", False), ("remote-exec-demo", True)):
        env = {e["name"] for e in _values(OUT / tree)["commonEnv"]}
        assert ("ASTRO_LOGGING_AWS_WEB_IDENTITY_TOKEN_FILE" in env) is expected, tree


# --- providers built into an image -------------------------------------------------------------


def test_providers_built_into_an_image(tmp_path: Path) -> None:
    repo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/agents"
    text = GKE_MINIMAL.replace(
        "  providers:\n", f"  providers:\n    install: image\n    imageRepository: {repo}\n"
    )
    result = compile_spec(write_spec(tmp_path, text), "x", "x")
    assert result.ok, result.diagnostics
    art = {a.path: a.content for a in result.artifacts}
    envs = art["python/environments.json"]
    built = envs["builtImage"]
    assert re.fullmatch(
        re.escape(repo) + r":3\.0-4-python-3\.12-astro-agent-1\.0\.2-airspec-[0-9a-f]{12}", built
    )
    lines = art["image/Dockerfile"].splitlines()
    assert f"FROM {DEFAULT_AGENT_IMAGE}" in lines
    assert any("pip install --no-cache-dir --no-deps --requirement" in ln for ln in lines)
    (image,) = envs["images"].values()
    pins = [ln for ln in art["image/requirements.txt"].splitlines() if not ln.startswith("#")]
    assert pins == [i["requirement"] for i in image["installs"]]
    values = art["helm/values.yaml"]
    for comp in (values["workers"][0], values["triggerer"], values["dagProcessor"]):
        assert comp["image"] == built and "initContainers" not in comp and "env" not in comp
    runbook = art["RUNBOOK.md"]
    assert f"docker build --tag {built} image/" in runbook
    assert f"docker push {built}" in runbook
    assert "aws ecr get-login-password --region us-east-1" in runbook
    # the pods install nothing at start: no pip against the package index in the network note
    assert "package index" not in runbook.split("Install or upgrade the agents")[1]


def test_install_image_needs_a_repository(tmp_path: Path) -> None:
    text = MINIMAL.replace("  providers:\n", "  providers:\n    install: image\n")
    (d,) = diagnose(tmp_path, text)
    assert d.code == "AS199" and "imageRepository" in d.message


# --- the runbook's shell -----------------------------------------------------------------------


def _shell_blocks(markdown: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", markdown, re.S)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("tree", TREES, ids=lambda t: t.name)
def test_every_shell_block_and_script_parses(tree: Path, tmp_path: Path) -> None:
    """`bash -n` on every shell block of RUNBOOK.md and every emitted .sh: Software's step 6
    read `astro deploy <deployment-id>`, which bash parses as a redirection."""
    scripts = [
        (f"{tree.name}/RUNBOOK.md#{i}", b)
        for i, b in enumerate(_shell_blocks((tree / "RUNBOOK.md").read_text()))
    ]
    scripts += [(str(p.relative_to(tree)), p.read_text()) for p in tree.rglob("*.sh")]
    assert scripts
    for name, text in scripts:
        assert "<deployment-id>" not in text and "<your" not in text, name
        done = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}"


def test_software_deploy_step_finds_the_deployment_id(tmp_path: Path) -> None:
    """Step 6 deploys to the id `astro-commands.sh deployment-id` prints: the row of
    `astro deployment list --all` (astro-cli's Software table) whose DEPLOYMENT NAME is the
    release name; a stand-in `astro` on PATH prints such a table and records its arguments."""
    tree = OUT / "software-eks"
    runbook = (tree / "RUNBOOK.md").read_text()
    assert 'DEPLOYMENT_ID="$(bash software/astro-commands.sh deployment-id)"' in runbook
    assert '(cd "$ASTRO_PROJECT" && astro deploy "$DEPLOYMENT_ID")' in runbook
    fake = tmp_path / "bin" / "astro"
    fake.parent.mkdir()
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$*" >> "$RECORD"\n'
        'if [ "$1 $2" = "deployment list" ]; then\n'
        "  echo ' NAME               DEPLOYMENT NAME              ASTRO     DEPLOYMENT ID                 TAG     IMAGE VERSION'\n"
        "  echo ' quasarian photon   other-release-1              v0.37.4   ckaaaaaaaaaaaaaaaaaaaaaaa     0.0.1   Runtime-12.0.0'\n"
        "  echo ' analytics          quasarian-photon-7310        v0.37.4   ckbbbbbbbbbbbbbbbbbbbbbbb     0.0.2   Runtime-12.0.0'\n"
        "fi\n"
    )
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "RECORD": str(tmp_path / "calls")}
    got = subprocess.run(
        ["bash", str(tree / "software" / "astro-commands.sh"), "deployment-id"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert got.stdout.strip() == "ckbbbbbbbbbbbbbbbbbbbbbbb"
    subprocess.run(
        ["bash", str(tree / "software" / "astro-commands.sh"), "update"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[-1] == (
        "deployment update ckbbbbbbbbbbbbbbbbbbbbbbb --cloud-role "
        "arn:aws:iam::123456789012:role/AstronomerAnalyticsRole"
    )
    missing = subprocess.run(
        ["bash", str(OUT / "software-gke" / "software" / "astro-commands.sh"), "deployment-id"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert missing.returncode != 0 and "no Deployment with release name" in missing.stderr


# --- one source of the tested provider versions ------------------------------------------------


def test_one_source_of_the_tested_provider_versions() -> None:
    """The starter pins what the as-deployed tier installs on the default image; the Airflow
    3.3.2 tier's lock holds the `newest` versions; the stand-in holds the image's list."""
    tested = providers_tested_on(DEFAULT_AGENT_IMAGE)
    assert tested == {
        "apache-airflow-providers-amazon": "9.9.0",
        "apache-airflow-providers-common-io": "1.6.1",
        "apache-airflow-providers-git": "0.0.8",
        "apache-airflow-providers-google": "17.0.0",
    }
    for cloud in ("aws", "gcp"):
        for text in starter_packages(cloud):
            req = Requirement(text)
            assert str(req.specifier) == f"=={tested[canonicalize_name(req.name)]}"
    for spec in (ROOT / "specs").glob("*.airspec.yaml"):
        for text in (yaml.load(spec.read_text())["deployment"].get("providers") or {}).get(
            "packages", []
        ):
            req = Requirement(text)
            assert str(req.specifier) == f"=={tested[canonicalize_name(req.name)]}", spec.name
    lock = tomllib.loads((ROOT / "tests" / "conformance" / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    newest = known_images()["newest"]
    assert locked["apache-airflow"] == newest["airflow"]
    for name, version in newest["providers"].items():
        assert locked[name] == version, name
    standin = tomllib.loads((ROOT / "tests" / "standin" / "pyproject.toml").read_text())
    pins = {
        canonicalize_name(Requirement(d).name): str(Requirement(d).specifier).removeprefix("==")
        for d in standin["project"]["dependencies"]
        if d != "pip"
    }
    public = {n: str(v.public) for n, v in IMAGE.items() if v is not None}
    not_public = {"astronomer-kubernetes-executor", "astronomer-providers-logging"}
    assert pins == {n: v for n, v in public.items() if n not in not_public}
    readme = (ROOT / "README.md").read_text()
    for name, version in {**tested, **newest["providers"]}.items():
        assert f"{name.removeprefix('apache-airflow-providers-')} {version}" in readme, name
