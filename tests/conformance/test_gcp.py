"""Conformance on GCP: Apache Airflow's own classes against the compiled IAM bindings.

For every compiled GCP tree, `gcs_double.GcsDouble` serves the Cloud Storage JSON API on
127.0.0.1 and authorizes each request with `gcp/iam-bindings.json` as Cloud IAM would
(`gcp_iam.Policy`: vendored role permissions, conditions evaluated by cel-python), as the
Google service account the pods impersonate. `driver.py` then runs Airflow's remote log IO
and XCom backend in a subprocess with the env a worker gets. Every request they make must be
allowed; each recorded request aimed at another bucket or prefix must be denied.

Env vars changed for the test, and why (everything else is the compiled value):
- STORAGE_EMULATOR_HOST: the double instead of storage.googleapis.com (gcsfs and
  google-cloud-storage both honour it).
- GOOGLE_APPLICATION_CREDENTIALS: a service account key generated for the run whose token_uri
  is the double's token endpoint (the double accepts any token). In the cluster, Application
  Default Credentials come from the GKE metadata server through Workload Identity, which
  cannot run here; the same ADC lookup Airflow's GoogleBaseHook makes finds this file
  instead, and refreshes its token where the file says.
- GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false: gcsfs (2026.x, on by default) first asks the
  Storage Control API, over gRPC, for the bucket's layout; an HTTP double cannot answer gRPC,
  and the call retries until its timeout. On GCS that call needs storage.objects.list on the
  bucket with no prefix, which the compiled conditions do not grant, so gcsfs logs a warning
  and falls back to the JSON API client exercised here - the path this switch selects.
- AIRFLOW__SECRETS__BACKEND(_KWARGS) removed for the logs and XCom runs: Airflow asks the
  secrets backend for `google_cloud_default` before the AIRFLOW_CONN_ env var, and Secret
  Manager speaks gRPC to secretmanager.googleapis.com, which no local double here can stand
  in for. In the cluster it answers NOT_FOUND for that name and Airflow falls back to the env
  var, the connection these runs use; `test_secret_manager_names` checks that lookup's name
  is one the compiled condition grants.
- and, as on AWS (worker.run_driver): Astro Runtime's logging config class removed,
  AIRFLOW_HOME and the local log folder in a temporary folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from as_deployed import cases, runtime
from gcp_iam import OBJECT, SERVICE_ACCOUNT, Check, Decision, Policy
from gcs_double import GcsDouble
from ruamel.yaml import YAML
from worker import (
    CONN_ID,
    LATEST,
    VAR_KEY,
    DriverFailed,
    Runtime,
    adc_file,
    run_driver,
    trees,
    worker_env,
)

pytestmark = pytest.mark.conformance

TREES = trees("gcp/iam-bindings.json")
# each tree at Airflow 3.3.2, and as deployed (the agent image's Airflow 3.0.2 stand-in plus
# what the component's init command installs) each component that uses the backend
LOGS_CASES, XCOM_CASES, SECRETS_CASES = (cases(TREES, use) for use in ("logs", "xcom", "secrets"))


def _ids(case: tuple[Path, str]) -> str:
    return f"{case[0].name}-{case[1]}"


def _runtime(tree: Path, name: str) -> Runtime:
    return LATEST if name == LATEST.name else runtime(tree, name.removeprefix("image:"))
OTHER_BUCKET = "someone-elses-bucket"
# google-cloud-storage 3.x fetches each bucket's metadata (project number, location) in a
# background thread for its telemetry (`_bucket_metadata_cache.py`) and, on 403, caches
# fallback values for good. The log handler works without it, so the bindings do not grant
# storage.buckets.get on a bucket only logs use, and a refusal of that one request is not a
# failure. Any other refused request is.
BEST_EFFORT = ("storage.buckets.get",)


@pytest.fixture(scope="module")
def double() -> Iterator[GcsDouble]:
    d = GcsDouble(lambda check: Decision(False, "nobody"))
    yield d
    d.close()


class Project:
    """One tree's bindings, served by the double, and the driver run against it."""

    def __init__(
        self,
        double: GcsDouble,
        tree: Path,
        bindings: dict[str, Any] | None = None,
        runtime: Runtime = LATEST,
    ):
        self.tree, self.double, self.runtime = tree, double, runtime
        self.bindings = bindings or json.loads((tree / "gcp" / "iam-bindings.json").read_text())
        self.policy = Policy(self.bindings)
        self.principal = f"serviceAccount:{self.bindings['serviceAccount']['email']}"
        self.env = worker_env(tree, runtime.component)
        buckets = {
            r["resource"].removeprefix("projects/_/buckets/")
            for r in self.bindings["resources"]
            if r["type"] == "storage.bucket"
        }
        double.reset(self.decide, buckets | {OTHER_BUCKET})

    def decide(self, check: Check) -> Decision:
        if not check.permissions:  # a resumable session start: checked on its upload
            return Decision(True, self.principal)
        return self.policy.allows(self.principal, check)

    def run(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        adc = adc_file(tmp, f"{self.double.url}/token")
        overrides = {
            "STORAGE_EMULATOR_HOST": self.double.url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }
        env = dict(env if env is not None else self.env)
        if args[0] != "secret-names":  # see the module docstring
            env.pop("AIRFLOW__SECRETS__BACKEND", None)
            env.pop("AIRFLOW__SECRETS__BACKEND_KWARGS", None)
        return run_driver(tmp, args, env, overrides, self.runtime)

    def assert_confined(self) -> None:
        """Every recorded request was allowed, and the same request aimed at another bucket or
        under another prefix is denied."""
        assert not self.double.unhandled, (
            f"requests the double does not serve: {self.double.unhandled}"
        )
        checked = [r for r in self.double.recorded if r.check.permissions]
        assert checked, "no request reached the double"
        refused = [
            f"{r.method} {r.path}: {r.decision.missing}"
            for r in checked
            if not r.decision.allowed and r.check.permissions != BEST_EFFORT
        ]
        assert not refused, f"the compiled bindings refuse Airflow's requests: {refused}"
        for r in checked:
            moves = [r.check.elsewhere(bucket=OTHER_BUCKET)]
            if r.check.resource_type == OBJECT or r.check.attributes:  # what a prefix confines
                moves.append(r.check.elsewhere(prefix="elsewhere/"))
            for moved in moves:
                assert not self.policy.allows(self.principal, moved).allowed, (
                    f"{r.method} {r.path} would also be allowed as {moved.resource_name} {moved.attributes}"
                )


def _gs_url(url: str) -> tuple[str, str]:
    bucket, _, key = re.sub(r"^gs://([^@/]+@)?", "", url).partition("/")
    return bucket, key


@pytest.mark.parametrize(("tree", "runtime_name"), LOGS_CASES, ids=list(map(_ids, LOGS_CASES)))
def test_remote_task_logs(tree: Path, runtime_name: str, double: GcsDouble, tmp_path: Path) -> None:
    project = Project(double, tree, runtime=_runtime(tree, runtime_name))
    if "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER" not in project.env:
        pytest.skip("no logs backend")
    check_logs(project, tmp_path)
    project.assert_confined()


def check_logs(project: Project, tmp: Path) -> None:
    got = project.run(tmp, "logs")
    assert got["class"] == "airflow.providers.google.cloud.log.gcs_task_handler.GCSRemoteLogIO"
    assert got["read"] == ["hello from a task\n"]
    bucket, key = _gs_url(got["uploaded_to"])
    base_bucket, base_key = _gs_url(project.env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"])
    assert bucket == base_bucket and key.startswith(base_key + "/")
    assert project.double.objects[(bucket, key)] == b"hello from a task\n"
    # a log that does not exist: Airflow's "not found" path (no sources), not an access error
    assert got["missing"] == {"sources": [], "logs": None}


def check_xcom(project: Project, tmp: Path, env: dict[str, str] | None = None) -> None:
    env = env if env is not None else project.env
    stored = project.run(tmp, "xcom", "store", env=env)["stored"]
    assert project.run(tmp, "xcom", "read", stored, env=env)["round_trip"] is True
    bucket, prefix = _gs_url(project.env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"])
    pointer = project.run(tmp, "xcom", "purge", stored, env=env)["purged"]
    got_bucket, key = _gs_url(pointer)
    assert got_bucket == bucket and key.startswith(prefix + "/conformance/manual__1/hello/")
    assert not [k for k in project.double.objects if k[0] == bucket], "the purge left it behind"


@pytest.mark.parametrize(("tree", "runtime_name"), XCOM_CASES, ids=list(map(_ids, XCOM_CASES)))
def test_xcom_object_storage(tree: Path, runtime_name: str, double: GcsDouble, tmp_path: Path) -> None:
    project = Project(double, tree, runtime=_runtime(tree, runtime_name))
    if "AIRFLOW__CORE__XCOM_BACKEND" not in project.env:
        pytest.skip("no XCom backend")
    check_xcom(project, tmp_path)
    project.assert_confined()


@pytest.mark.parametrize(("tree", "runtime_name"), SECRETS_CASES, ids=list(map(_ids, SECRETS_CASES)))
def test_secret_manager_names(tree: Path, runtime_name: str, double: GcsDouble, tmp_path: Path) -> None:
    """The names Airflow's CloudSecretManagerBackend reads are the ones RUNBOOK.md creates, and
    the compiled condition grants exactly those: not a secret outside the prefixes."""
    project = Project(double, tree, runtime=_runtime(tree, runtime_name))
    if "secret_manager" not in project.env.get("AIRFLOW__SECRETS__BACKEND", ""):
        pytest.skip("no Secret Manager backend")
    got = project.run(tmp_path, "secret-names", CONN_ID, VAR_KEY)
    runbook = (tree / "RUNBOOK.md").read_text()
    created = {
        var: f"projects/{got['project']}/secrets/{prefix}{CONN_ID if var == 'CONN_ID' else VAR_KEY}/versions/latest"
        for prefix, var in re.findall(
            r'gcloud secrets create "([^"$]*)\$(CONN_ID|VAR_KEY)"', runbook
        )
    }
    assert created == {"CONN_ID": got["connection"], "VAR_KEY": got["variable"]}
    for name in created.values():
        assert project.policy.allows(
            project.principal, Check.secret_version(got["project"], name)
        ).allowed
    # Airflow asks this backend for `google_cloud_default` before the AIRFLOW_CONN_ env var:
    # the condition grants the name, so Secret Manager answers NOT_FOUND, not PERMISSION_DENIED
    default = got["connection"].replace(f"-{CONN_ID}/", "-google_cloud_default/")
    assert project.policy.allows(
        project.principal, Check.secret_version(got["project"], default)
    ).allowed
    outside = f"projects/{got['project']}/secrets/elsewhere-{CONN_ID}/versions/latest"
    assert not project.policy.allows(
        project.principal, Check.secret_version(got["project"], outside)
    ).allowed


@pytest.mark.parametrize(
    "tree", [t for t in TREES if (t / "helm" / "values.yaml").exists()], ids=lambda p: p.name
)
def test_workload_identity(tree: Path, double: GcsDouble) -> None:
    """Each Kubernetes service account the chart annotates may mint tokens for the Google
    service account it names; another service account in the namespace may not."""
    project = Project(double, tree)
    values = YAML(typ="safe").load((tree / "helm" / "values.yaml").read_text())
    pool = f"{project.bindings['serviceAccount']['project']}.svc.id.goog"
    gsa = project.bindings["serviceAccount"]
    resource = f"projects/{gsa['project']}/serviceAccounts/{gsa['email']}"
    check = Check(("iam.serviceAccounts.getAccessToken",), resource, SERVICE_ACCOUNT, (resource,))
    accounts = {
        sa["name"]: (sa.get("annotations") or {}).get("iam.gke.io/gcp-service-account")
        == gsa["email"]
        for sa in values["serviceAccount"].values()
    }
    accounts["default"] = False
    assert any(accounts.values())
    for name, annotated in accounts.items():
        member = f"serviceAccount:{pool}[{values['namespace']}/{name}]"
        assert project.policy.allows(member, check).allowed is annotated, name


def test_conditions_files_parse_and_match_the_bindings() -> None:
    """gcloud reads `gcp/conditions/*.json` (--condition-from-file): each parses as CEL and is
    the condition of a binding in iam-bindings.json."""
    for tree in TREES:
        bindings = json.loads((tree / "gcp" / "iam-bindings.json").read_text())
        Policy(bindings)  # compiles every condition
        conditions = [
            b["condition"] for r in bindings["resources"] for b in r["bindings"] if "condition" in b
        ]
        files = sorted((tree / "gcp" / "conditions").glob("*.json"))
        assert files
        for f in files:
            assert json.loads(f.read_text()) in conditions, f


# --- mutated artifacts: the tier must catch each ----------------------------------------------

LOGS_TREE = next(t for t in TREES if "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER" in worker_env(t))
XCOM_TREE = next(t for t in TREES if "AIRFLOW__CORE__XCOM_BACKEND" in worker_env(t))


def _condition_on_wrong_prefix(tree: Path, bucket_url: str) -> dict[str, Any]:
    bindings = json.loads((tree / "gcp" / "iam-bindings.json").read_text())
    bucket, prefix = _gs_url(bucket_url)
    for entry in bindings["resources"]:
        if entry["resource"] == f"projects/_/buckets/{bucket}":
            for b in entry["bindings"]:
                if "condition" in b:
                    b["condition"]["expression"] = b["condition"]["expression"].replace(
                        f"{prefix}/", f"{prefix}-old/"
                    )
    return bindings


def test_mutation_log_condition_on_wrong_prefix_fails(double: GcsDouble, tmp_path: Path) -> None:
    env = worker_env(LOGS_TREE)
    mutated = _condition_on_wrong_prefix(LOGS_TREE, env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"])
    project = Project(double, LOGS_TREE, mutated)
    # the handler swallows the upload's 403 (keeps the local log); listing to read raises
    with pytest.raises((DriverFailed, AssertionError)):
        check_logs(project, tmp_path)
    assert any(not r.decision.allowed and r.check.resource_type == OBJECT for r in double.recorded)


def test_mutation_xcom_condition_on_wrong_prefix_fails(double: GcsDouble, tmp_path: Path) -> None:
    env = worker_env(XCOM_TREE)
    mutated = _condition_on_wrong_prefix(
        XCOM_TREE, env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"]
    )
    project = Project(double, XCOM_TREE, mutated)
    with pytest.raises(DriverFailed, match=r"403|Forbidden|storage\.objects"):
        check_xcom(project, tmp_path)


def test_mutation_wrong_env_var_name_fails(double: GcsDouble, tmp_path: Path) -> None:
    project = Project(double, XCOM_TREE)
    env = dict(project.env)
    env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATHS"] = env.pop(
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"
    )
    with pytest.raises((DriverFailed, AssertionError)):
        check_xcom(project, tmp_path, env)
