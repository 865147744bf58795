"""Hostile: the owner identity on GCP, where it lives in a free-text description (a GSA has
no labels). Against FakeGcp with the real Google API client and the real CLI; each spec in a
git repository of its own with its own `origin`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import test_safety_gcp
from conftest import ROOT
from hostile import finding
from live_servers import FakeGcp

SPEC = ROOT / "specs" / "remote-exec-gke.airspec.yaml"
PROJECT = "projects/acme-data-prod"
EMAIL = "airflow-agents@acme-data-prod.iam.gserviceaccount.com"
GSA = f"{PROJECT}/serviceAccounts/{EMAIL}"
BUCKETS = ("projects/_/buckets/acme-airflow-logs", "projects/_/buckets/acme-airflow-xcom")
PAYMENTS_WI = {
    "role": "roles/iam.workloadIdentityUser",
    "members": ["serviceAccount:acme-data-prod.svc.id.goog[payments/payments-api]"],
}


class StrictGcp(FakeGcp):
    """FakeGcp with the documented limit FakeGcp does not check: a ServiceAccount's
    description is at most 256 UTF-8 bytes (IAM API reference, ServiceAccount.description:
    "The maximum length is 256 UTF-8 bytes"); longer is HTTP 400 INVALID_ARGUMENT."""

    def _create_account(self, project: str, body: dict[str, Any]) -> tuple[int, Any]:
        description = body.get("serviceAccount", {}).get("description", "")
        if len(description.encode("utf-8")) > 256:
            return 400, {
                "error": {
                    "code": 400,
                    "message": "Description must be at most 256 bytes.",
                    "status": "INVALID_ARGUMENT",
                }
            }
        return super()._create_account(project, body)


class Project(test_safety_gcp.Project):
    """test_safety_gcp's project, in a repository whose `origin` is `remote`."""

    def __init__(
        self, tmp: Path, gcp: FakeGcp, remote: str, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(tmp, gcp)
        subprocess.run(["git", "-C", str(tmp), "remote", "set-url", "origin", remote], check=True)
        self.env.update(env or {})


@pytest.fixture
def gcp() -> Iterator[StrictGcp]:
    with StrictGcp() as server:
        for resource in (*BUCKETS, PROJECT):
            server.write(resource, [])
        yield server


# --- an owner string inside other text ----------------------------------------------------------


@finding("an owner string anywhere in a GSA description counts as ownership")
def test_an_owner_string_inside_another_teams_description_is_not_ownership(
    tmp_path: Path, gcp: StrictGcp
) -> None:
    """Team payments took the account over by hand and wrote so in its description, quoting
    the old owner: "owned by team-payments since 2026-03 (was airspec.io/owner=…)". The
    description is searched for `airspec.io/owner=\\S+` anywhere, so this spec treats the
    account as its own: without --adopt it adds its Kubernetes service accounts to the
    account's policy (their pods may now act as payments' account)."""
    gcp.accounts[GSA] = {
        "name": GSA,
        "email": EMAIL,
        "description": "owned by team-payments since 2026-03 (was "
        "airspec.io/owner=github.com/acme/data-platform/gke-agents before the move)",
    }
    gcp.write(GSA, [PAYMENTS_WI])
    project = Project(tmp_path, gcp, "https://github.com/acme/data-platform")
    code, out, mutating = project.apply()
    assert mutating == [], out
    assert code == 3 and "--adopt" in out, out
    assert gcp.policies[GSA]["bindings"] == [PAYMENTS_WI]


# --- the owner identity does not survive its own description ----------------------------------


def _apply_then_drift_then_apply(project: Project, gcp: FakeGcp) -> tuple[int, str]:
    code, out, _ = project.apply()
    assert code in (0, 3), out
    assert GSA in gcp.accounts, out
    # someone removes the spec's Workload Identity grant: the next apply must restore it
    gcp.write(GSA, [])
    code, out, _ = project.apply()
    return code, out


@finding("an identity with a space reads back truncated: own GSA claimed")
@pytest.mark.parametrize(
    ("remote", "env"),
    [
        # a repository on a file share whose folder has a space (kept by the normalizer)
        ("/srv/git/data platform.git", {}),
        # no git remote to speak of: the README says to set AIRSPEC_REPOSITORY
        ("https://github.com/acme/data-platform", {"AIRSPEC_REPOSITORY": "ACME Data Platform"}),
    ],
    ids=["space-in-remote", "space-in-AIRSPEC_REPOSITORY"],
)
def test_an_owner_identity_with_a_space_still_owns_its_account(
    tmp_path: Path, gcp: StrictGcp, remote: str, env: dict[str, str]
) -> None:
    """The identity keeps spaces, the description reader stops at the first one: the GSA
    this spec created reads back as claimed by `srv/git/data` (or `acme`), exit 1, forever."""
    project = Project(tmp_path, gcp, remote, env)
    code, out = _apply_then_drift_then_apply(project, gcp)
    assert "claimed" not in out, out
    assert code == 0, out


@finding("the description cuts a long identity: own GSA claimed")
def test_a_long_owner_identity_still_owns_its_account(tmp_path: Path, gcp: StrictGcp) -> None:
    """A GitLab project deep in subgroups: the identity fits a tag (256), but the description
    prefixes it with `airspec.io/owner=` and cuts the whole at 256 characters, so the owner
    read back is a truncated one: this spec's own GSA is 'claimed by another spec'."""
    groups = "/".join(f"platform-engineering-group-{i:02d}" for i in range(7))
    remote = f"https://gitlab.example.com/acme/{groups}/airflow-deployments.git"
    project = Project(tmp_path, gcp, remote)
    code, out = _apply_then_drift_then_apply(project, gcp)
    assert "claimed" not in out, out
    assert code == 0, out


@finding("description cut at 256 characters, the API limit is 256 UTF-8 bytes")
def test_a_unicode_repository_can_create_its_account(tmp_path: Path, gcp: StrictGcp) -> None:
    """A repository path with non-ASCII letters (kept by the normalizer): the description is
    cut at 256 *characters*, the API's limit is 256 UTF-8 *bytes*: CreateServiceAccount is
    refused (HTTP 400) and nothing is granted."""
    remote = "https://gitea.example.com/équipe-données/" + "é" * 100 + ".git"
    project = Project(tmp_path, gcp, remote)
    code, out, _ = project.apply()
    assert code in (0, 3), out
    assert GSA in gcp.accounts, out
    assert json.dumps(gcp.policies[GSA]) != json.dumps({"bindings": []}), out
