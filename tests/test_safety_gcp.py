"""`airspec apply` on GCP under the same owner identity as AWS and Kubernetes, against FakeGcp
driven by the real Google API client (its record of mutating requests is the proof): another
team's Google service account is never taken over without --adopt, a binding this spec did
not write is never removed, two specs never share one account, an existing GKE cluster is
never "created", every object is accounted for in JSON, and broken Google credentials are an
error, not a traceback.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, SpecCli, fake_tool, git_repo, variant
from live_servers import FakeGcp, gcp_call_mutates

SPEC = ROOT / "specs" / "remote-exec-gke.airspec.yaml"
PROJECT = "projects/acme-data-prod"
EMAIL = "airflow-agents@acme-data-prod.iam.gserviceaccount.com"
GSA = f"{PROJECT}/serviceAccounts/{EMAIL}"
MEMBER = f"serviceAccount:{EMAIL}"
LOGS = "projects/_/buckets/acme-airflow-logs"
PAYMENTS_WI = {
    "role": "roles/iam.workloadIdentityUser",
    "members": ["serviceAccount:acme-data-prod.svc.id.goog[payments/payments-api]"],
}
PAYMENTS_OBJECTS = {
    "role": "roles/storage.objectUser",
    "members": [MEMBER],
    "condition": {"title": "payments only", "expression": 'resource.name.startsWith("p/")'},
}
PAYMENTS_SECRETS = {
    "role": "roles/secretmanager.secretAccessor",
    "members": [MEMBER],
    "condition": {"title": "payments secrets", "expression": 'resource.name.endsWith("pay")'},
}


class Project(SpecCli):
    TARGETS = ("gcp-iam",)
    APPLY = ("--yes",)

    def __init__(self, tmp: Path, gcp: FakeGcp, text: str | None = None) -> None:
        self.gcp = gcp
        git_repo(tmp, "https://github.com/acme/data-platform")
        self.spec = tmp / SPEC.name
        self.spec.write_text(text or SPEC.read_text())
        self.out = tmp / "out"
        self.env = {
            "AIRSPEC_GCP_ENDPOINT": gcp.url,
            "AIRSPEC_READ_RETRIES": "0",
            "GOOGLE_CLOUD_PROJECT": "acme-data-prod",
        }
        assert self.run("compile", str(self.spec), "--out", str(self.out))[0] == 0

    def requests(self) -> list[tuple[str, str, str]]:
        return self.gcp.calls

    def mutates(self, request: tuple[str, str, str]) -> bool:
        return gcp_call_mutates(request)


@pytest.fixture
def payments(tmp_path: Path) -> Iterator[Project]:
    """The account `airflow-agents` exists already: team payments made and uses it."""
    with FakeGcp() as gcp:
        gcp.accounts[GSA] = {"name": GSA, "email": EMAIL, "description": "owned by team-payments"}
        gcp.write(GSA, [PAYMENTS_WI])
        gcp.write(LOGS, [PAYMENTS_OBJECTS])
        gcp.write("projects/_/buckets/acme-airflow-xcom", [])
        gcp.write(PROJECT, [PAYMENTS_SECRETS])
        yield Project(tmp_path, gcp)


def test_another_teams_service_account_is_never_taken_over_without_adopt(
    payments: Project,
) -> None:
    code, out, mutating = payments.apply()
    assert code == 3, out
    assert mutating == [], out
    assert out.count("refused") >= 4 and "rerun with --adopt" in out
    assert "not made by airspec" in out
    assert payments.gcp.policies[GSA]["bindings"] == [PAYMENTS_WI]


def test_adopting_it_records_the_owner_and_removes_nothing_it_did_not_write(
    payments: Project,
) -> None:
    code, out, mutating = payments.apply("--adopt")
    assert code == 3, out  # payments' grants on this spec's roles are left for review
    assert (
        f"take over service account {EMAIL} (previous owner: none recorded: not made by airspec)"
    ) in out
    assert next((m, p) for m, p, _ in mutating) == ("PATCH", f"/v1/{GSA}")
    described = payments.gcp.accounts[GSA]["description"]
    assert described.startswith("airspec.io/owner=github.com/acme/data-platform/gke-agents ")
    # payments' grants stay: the WI member, and its conditional bindings of the GSA
    assert PAYMENTS_WI["members"][0] in json.dumps(payments.gcp.policies[GSA])
    assert PAYMENTS_OBJECTS in payments.gcp.policies[LOGS]["bindings"]
    assert PAYMENTS_SECRETS in payments.gcp.policies[PROJECT]["bindings"]
    # the plan named what it removes: nothing
    assert "remove serviceAccount:" not in out and "remove user:" not in out
    # now ours: nothing more to change, payments' grants still listed, not removed
    code, out, mutating = payments.apply()
    assert (code, mutating) == (3, []), out
    assert "payments only" in out and "payments secrets" in out


def test_an_account_another_spec_owns_is_claimed(payments: Project) -> None:
    payments.gcp.accounts[GSA]["description"] = (
        "airspec.io/owner=github.com/acme/payments/payments airspec.io/spec=p.airspec.yaml"
    )
    code, out, mutating = payments.apply()
    assert code == 1, out
    assert mutating == []
    assert "claimed by another spec: its owner is 'github.com/acme/payments/payments'" in out


def test_two_specs_sharing_one_service_account_are_refused_at_compile_time(
    tmp_path: Path,
) -> None:
    folder = git_repo(tmp_path)
    (folder / "a.airspec.yaml").write_text(SPEC.read_text())
    # spec B: a new name, namespace and logs prefix, sharing the account and the buckets
    twin = variant(SPEC.read_text(), "b").replace("serviceAccount: airflow-agents-b", "serviceAccount: airflow-agents")
    twin = twin.replace("prefix: agents/logs", "prefix: agents-b/logs")
    (folder / "b.airspec.yaml").write_text(twin)
    cli = SpecCli()
    cli.env = {}
    code, out, _ = cli.run("compile", str(folder), "--out", str(folder / "out"))
    assert code == 1
    assert f"AS225 Google service account {EMAIL} is also named by" in out
    assert "a.airspec.yaml (metadata.name 'gke-agents')" in out
    assert "b.airspec.yaml:" in out


def test_an_existing_gke_cluster_that_differs_is_manual_never_created(tmp_path: Path) -> None:
    with FakeGcp() as gcp:
        project = Project(tmp_path, gcp)
        cluster = json.loads(
            (project.out / "gke-agents" / "gcp" / "cluster.json").read_text()
        )
        cluster["status"] = "RUNNING"
        cluster["nodePools"][0]["autoscaling"]["maxNodeCount"] = 6
        gcp.clusters[f"{PROJECT}/locations/us-central1/clusters/airflow-agents"] = cluster
        project.env["PATH"], log = fake_tool(tmp_path, "gcloud")
        project.TARGETS = ("gke",)
        code, out, _ = project.apply("--with-tools")
        assert code == 3, out
        assert "manual" in out and "does not change an existing cluster" in out
        assert "maxNodeCount" in out
        assert not log.exists(), "gcloud ran against a cluster that exists"


def test_an_unreadable_policy_is_accounted_for_in_json(tmp_path: Path) -> None:
    with FakeGcp() as gcp:
        project = Project(tmp_path, gcp)
        for resource in ("projects/_/buckets/acme-airflow-logs", "projects/_/buckets/acme-airflow-xcom", PROJECT):
            gcp.write(resource, [])
        gcp.fail[("GET", "/storage/v1/b/acme-airflow-xcom/iam")] = 403
        code, out, err = project.run(
            "apply", str(project.spec), "--out", str(project.out), "-t", "gcp-iam", "--yes", "-f", "json"
        )
        assert code == 1, out + err
        result = json.loads(out)["result"]
        xcom = "gcp-iam/storage.bucket/projects/_/buckets/acme-airflow-xcom"
        assert xcom in result["unreadable"]
        assert len(result["applied"]) == 3 and xcom not in result["applied"]


def test_google_credentials_that_cannot_refresh_are_an_error_not_a_traceback(
    tmp_path: Path,
) -> None:
    git_repo(tmp_path)
    spec = tmp_path / SPEC.name
    shutil.copy(SPEC, spec)
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "id",
                "client_secret": "never-shown-secret",
                "refresh_token": "never-shown-refresh",
                "token_uri": "http://127.0.0.1:9/token",  # nothing listens: refresh fails
            }
        )
    )
    cli = SpecCli()
    cli.env = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(adc),
        "GOOGLE_CLOUD_PROJECT": "acme-data-prod",
        "AIRSPEC_READ_RETRIES": "0",
    }
    out_dir = tmp_path / "out"
    assert cli.run("compile", str(spec), "--out", str(out_dir))[0] == 0
    for fmt in ("json", "text"):
        code, out, err = cli.run(
            "apply", str(spec), "--out", str(out_dir), "-t", "gcp-iam", "--dry-run", "-f", fmt
        )
        assert code == 1, out + err
        assert "Traceback" not in out + err and "never-shown" not in out + err
        if fmt == "json":
            report = json.loads(out)
            assert report["counts"]["error"] == 4
            assert "Google credentials could not be used" in report["findings"][0]["message"]


def test_no_project_for_the_credentials_refuses_before_reading(tmp_path: Path) -> None:
    with FakeGcp() as gcp:
        project = Project(tmp_path, gcp)
        del project.env["GOOGLE_CLOUD_PROJECT"]
        gcp.calls.clear()
        code, out, err = project.run(
            "apply", str(project.spec), "--out", str(project.out), "--dry-run", "-f", "json"
        )
        assert code == 1, out + err
        doc = json.loads(out)
        assert doc["error"]["kind"] == "identity"
        assert "GOOGLE_CLOUD_PROJECT" in doc["error"]["message"]
        assert gcp.calls == []
