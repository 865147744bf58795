"""Each Remote Execution component as deployed, for every compiled tree (out/ and the golden
fixtures): the agent image stood in for by tests/standin (Airflow 3.0.2 and the image list's
providers at their versions, its own lock), the component's init command run as written
against the package index (`as_deployed.py`), then, with the component's env and PYTHONPATH as
the pod sets them, every class its configuration names is imported.

Asserted per component: the Airflow imported is the image's (3.0.2, from the image, never from
/shared/packages); /shared/packages holds exactly the closure `python/environments.json`
records, none of it a distribution the image holds; each class imports, from the image or from
the install as the model says. The backends themselves run in this environment through
test_aws.py and test_gcp.py, whose driver runs are parametrized over the same components.

The classes are read from the component's env as Airflow 3.0.2 reads it, not from airspec's
model; the model (`python/environments.json`) is then checked against what the import found.
The one class the stand-in cannot import is the Astro logging config
(`astronomer.runtime.logging.logging_config`): the image installs its distribution,
astronomer-runtime-extensions, from a local wheel that is not public. The test asserts the
model attributes it to the image, whose list holds it, and that nothing else fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from as_deployed import cases, environments, runtime
from packaging.utils import canonicalize_name
from worker import adc_file, run_driver, trees, worker_env

pytestmark = pytest.mark.conformance

NOT_PUBLIC = {"astronomer.runtime."}  # astronomer-runtime-extensions, installed from a local wheel
# Airflow 3.0.2's airflow_local_settings: the remote log IO it imports for a folder's scheme
REMOTE_LOG_IO = {
    "s3": "airflow.providers.amazon.aws.log.s3_task_handler.S3RemoteLogIO",
    "gs": "airflow.providers.google.cloud.log.gcs_task_handler.GCSRemoteLogIO",
}
# ObjectStoragePath: the provider's filesystem for a scheme, and the fsspec class it returns
OBJECT_STORE = {
    "s3": ("airflow.providers.amazon.aws.fs.s3.get_fs", "s3fs.S3FileSystem"),
    "gs": ("airflow.providers.google.cloud.fs.gcs.get_fs", "gcsfs.GCSFileSystem"),
}
TREES = [t for t in trees("helm/values.yaml")]
IMAGE_AIRFLOW = "3.0.2"  # the agent image's apache-airflow 3.0.2+astro.1, public base
CASES = [(t, name.removeprefix("image:")) for t, name in cases(TREES) if name.startswith("image:")]


def _name(requirement: str) -> tuple[str, str]:
    name, _, version = requirement.partition("==")
    return canonicalize_name(name), version


def configured_classes(env: dict[str, str], component: str) -> set[str]:
    """What Airflow imports in this component with this env, read from the env itself (not
    from airspec's model): the logging config class, the remote log IO of the folder's
    scheme, the secrets and XCom backends with the object store's filesystem, and, where DAG
    files are read (workers, dag processor), the DAG bundle classes."""
    found = set()
    if "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS" in env:
        found.add(env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"])
    if env.get("AIRFLOW__LOGGING__REMOTE_LOGGING", "").lower() == "true":
        found.add(REMOTE_LOG_IO[env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].split(":")[0]])
    if "AIRFLOW__SECRETS__BACKEND" in env:
        found.add(env["AIRFLOW__SECRETS__BACKEND"])
    if "AIRFLOW__CORE__XCOM_BACKEND" in env:
        found.add(env["AIRFLOW__CORE__XCOM_BACKEND"])
        found |= set(OBJECT_STORE[env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"].split(":")[0]])
    if component != "triggerer":
        for bundle in json.loads(env.get("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", "[]")):
            found.add(bundle["classpath"])
    return found


@pytest.mark.parametrize(("tree", "component"), CASES, ids=[f"{t.name}-{c}" for t, c in CASES])
def test_component_imports_its_classes_at_the_images_airflow(
    tree: Path, component: str, tmp_path: Path
) -> None:
    env = worker_env(tree, component)
    classes = sorted(configured_classes(env, component))
    deployed = runtime(tree, component)  # runs the init command as written
    overrides = {
        "AWS_ACCESS_KEY_ID": "conformance",
        "AWS_SECRET_ACCESS_KEY": "conformance",
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc_file(tmp_path)),
    }
    got = run_driver(tmp_path, ("probe", *classes), env, overrides, deployed)
    folder = deployed.pythonpath

    # the Airflow imported is the image's (3.0.2+astro.1: the stand-in's 3.0.2), from the image
    assert got["airflow"]["version"] == IMAGE_AIRFLOW
    assert folder is None or not got["airflow"]["file"].startswith(folder)

    # every class imports; the only one allowed to fail is the image's non-public logging module
    failed = {c: r["error"] for c, r in got["classes"].items() if "error" in r}
    assert {c for c in failed if not c.startswith(tuple(NOT_PUBLIC))} == set(), failed

    # nothing in /shared/packages is a distribution the image holds
    installed = {_name(r) for r in got["pythonpath"].get(folder or "", [])}
    image_names = {_name(r)[0] for r in got["site"]}
    assert not image_names & {n for n, _ in installed}, "an install shadows the image"

    # airspec's model agrees: the same classes, each from the image or the install as the
    # import found it, and the install folder holds exactly the recorded closure
    model = environments(tree)
    comp = next(c for c in model["components"] if c["component"] == component)
    assert {c["class"] for c in comp["classes"]} == set(classes)
    recorded = {_name(i["requirement"]) for i in model["images"][comp["image"]]["installs"]}
    assert installed == recorded
    for c in comp["classes"]:
        if c["class"] in failed:
            assert c["from"] == "image"  # the image's list holds it; the stand-in cannot
            continue
        from_install = folder is not None and got["classes"][c["class"]]["file"].startswith(folder)
        assert from_install == (c["from"] == "install"), (c["class"], got["classes"][c["class"]])


def test_every_remote_tree_and_component_is_covered() -> None:
    """The cases are not empty: each compiled Remote Execution tree, each component."""
    names = {(t.name, c) for t, c in CASES}
    assert ("gke-agents", "dagProcessor") in names
    assert ("remote-exec-demo", "triggerer") in names
    assert {t.name for t, _ in CASES} == {t.name for t in TREES}
