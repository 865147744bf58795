"""`airspec apply` on GCP, against FakeGcp driven by the real Google API client: the GSA is
created when missing; IAM policies change by read-modify-write with the etag, only in the
members and roles airspec grants; a concurrent writer between read and write (etag conflict)
is retried and its binding kept. The merge itself is property-tested.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airspec.apply.converge_gcp import foreign_members, merge_bindings
from airspec.apply.normalize import gcp_bindings, member_key
from conftest import ROOT, SpecCli
from live_servers import FakeGcp, gcp_call_mutates

SPEC = ROOT / "specs" / "remote-exec-gke.airspec.yaml"
PROJECT = "projects/acme-data-prod"
GSA = f"{PROJECT}/serviceAccounts/airflow-agents@acme-data-prod.iam.gserviceaccount.com"
LOGS = "projects/_/buckets/acme-airflow-logs"
OTHER = {"role": "roles/viewer", "members": ["user:someone@example.com"]}


class Project(SpecCli):
    """A project whose buckets and project policy hold only other teams' bindings; the GSA
    does not exist yet."""

    TARGETS = ("gcp-iam",)
    APPLY = ("--yes",)

    def __init__(self, tmp: Path, gcp: FakeGcp) -> None:
        self.gcp = gcp
        self.spec = tmp / SPEC.name
        shutil.copy(SPEC, self.spec)
        self.out = tmp / "out"
        self.env = {"AIRSPEC_GCP_ENDPOINT": gcp.url, "AIRSPEC_READ_RETRIES": "0"}
        assert self.run("compile", str(self.spec), "--out", str(self.out))[0] == 0
        bindings = json.loads((self.out / "gke-agents" / "gcp" / "iam-bindings.json").read_text())
        self.compiled = {r["resource"]: r["bindings"] for r in bindings["resources"]}
        for resource in self.compiled:
            if resource != GSA:
                gcp.write(resource, [OTHER])

    def requests(self) -> list[tuple[str, str, str]]:
        return self.gcp.calls

    def mutates(self, request: tuple[str, str, str]) -> bool:
        return gcp_call_mutates(request)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    with FakeGcp() as gcp:
        yield Project(tmp_path, gcp)


def test_missing_gsa_is_created_and_granted_then_in_sync(project: Project) -> None:
    code, out, mutating = project.apply()
    assert code == 0, out
    account = project.gcp.accounts[GSA]
    assert account["description"] == (
        f"airspec.io/name=gke-agents airspec.io/spec={project.spec.name}"
    )
    for resource, compiled in project.compiled.items():
        live = project.gcp.policies[resource]["bindings"]
        assert gcp_bindings(live, {b["role"] for b in compiled}) == gcp_bindings(compiled)
        if resource != GSA:
            assert OTHER in live, "another team's binding was kept"
    assert [(m, p) for m, p, _ in mutating] == [
        ("POST", "/v1/projects/acme-data-prod/serviceAccounts"),
        ("POST", f"/v1/{GSA}:setIamPolicy"),
        ("PUT", "/storage/v1/b/acme-airflow-logs/iam"),
        ("PUT", "/storage/v1/b/acme-airflow-xcom/iam"),
        ("POST", "/v1/projects/acme-data-prod:setIamPolicy"),
    ]
    code, report = project.dry_run()
    assert (code, report["findings"]) == (0, [])
    code, out, mutating = project.apply()
    assert code == 0 and "in sync" in out
    assert mutating == []


@pytest.mark.parametrize(
    ("resource", "write", "status"),
    [
        (LOGS, ("PUT", "/storage/v1/b/acme-airflow-logs/iam"), 412),
        (PROJECT, ("POST", "/v1/projects/acme-data-prod:setIamPolicy"), 409),
    ],
)
def test_concurrent_change_is_retried_and_keeps_the_other_writers_binding(
    project: Project, resource: str, write: tuple[str, str], status: int
) -> None:
    assert project.apply()[0] == 0
    project.gcp.write(resource, [OTHER])  # airspec's binding removed out of band
    theirs = {"role": "roles/storage.legacyBucketReader", "members": ["group:ops@example.com"]}

    def concurrent_writer(at: str) -> None:  # between apply's read and its write
        assert at == resource
        project.gcp.write(at, [*project.gcp.policies[at]["bindings"], theirs])

    project.gcp.before_set = concurrent_writer
    code, out, mutating = project.apply()
    assert code == 0, out
    assert f"HTTP {status}, read again" in out
    assert [(m, p) for m, p, _ in mutating] == [write, write]
    live = project.gcp.policies[resource]["bindings"]
    assert theirs in live and OTHER in live
    compiled = project.compiled[resource]
    assert gcp_bindings(live, {b["role"] for b in compiled}) == gcp_bindings(compiled)
    assert project.dry_run()[0] == 0


def test_only_airspecs_members_change_others_are_listed(project: Project) -> None:
    assert project.apply()[0] == 0
    gsa_member = "serviceAccount:airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    live = project.gcp.policies[LOGS]["bindings"]
    # airspec's member unconditioned (a broadening), and a member airspec never granted
    intruder = {"role": "roles/storage.objectUser", "members": [gsa_member, "user:eve@example.com"]}
    project.gcp.write(LOGS, [*live, intruder])
    assert project.dry_run()[0] == 3
    code, out, mutating = project.apply()
    assert code == 3, out  # the member airspec did not grant is left to the user
    assert [(m, p) for m, p, _ in mutating] == [("PUT", "/storage/v1/b/acme-airflow-logs/iam")]
    live = project.gcp.policies[LOGS]["bindings"]
    assert {"role": "roles/storage.objectUser", "members": ["user:eve@example.com"]} in live
    assert OTHER in live
    unconditioned = [
        b for b in live if b["role"] == "roles/storage.objectUser" and "condition" not in b
    ]
    assert all(gsa_member not in b["members"] for b in unconditioned)
    assert (
        "gcloud storage buckets remove-iam-policy-binding gs://acme-airflow-logs "
        "--member='user:eve@example.com' --role='roles/storage.objectUser' --all"
    ) in out
    code, report = project.dry_run()
    assert code == 3
    left = json.dumps([f["live"] for f in report["findings"]])
    assert "user:eve@example.com" in left and "airflow-agents@" not in left


# --- the merge, as properties -----------------------------------------------------------------

ROLES = ["roles/a", "roles/b", "roles/c"]
MEMBERS = [
    "user:x@e.com",
    "user:X@E.com",
    "serviceAccount:gsa@p.com",
    "group:g@e.com",
    "user:y@e.com",
]
CONDITIONS = [None, {"title": "t", "expression": "e1"}, {"title": "u", "expression": "e2"}]


@st.composite
def bindings(draw: Any) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 5))):
        b: dict[str, Any] = {
            "role": draw(st.sampled_from(ROLES)),
            "members": draw(
                st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=3, unique=True)
            ),
        }
        condition = draw(st.sampled_from(CONDITIONS))
        if condition is not None:
            b["condition"] = condition
        out.append(b)
    return out


OURS = {"serviceAccount:gsa@p.com", "user:x@e.com"}


@given(bindings(), bindings())
def test_merge_sets_ours_keeps_theirs_and_is_idempotent(
    live: list[dict[str, Any]], want: list[dict[str, Any]]
) -> None:
    compiled = [
        {
            **b,
            "members": [m for m in b["members"] if member_key(m) in {member_key(o) for o in OURS}],
        }
        for b in want
    ]
    compiled = [b for b in compiled if b["members"]]
    merged = merge_bindings(live, compiled, OURS)
    roles = {b["role"] for b in compiled}
    ours = {member_key(m) for m in OURS}

    def grants(bs: list[dict[str, Any]], mine: bool | None = None) -> Any:
        """role -> condition -> members, of airspec's members (mine) or everyone else's."""
        keep = [
            {
                **b,
                "members": [
                    m for m in b["members"] if mine is None or (member_key(m) in ours) == mine
                ],
            }
            for b in bs
        ]
        found = gcp_bindings(keep, roles)
        return {r: {e: m for e, m in c.items() if m} for r, c in found.items() if any(c.values())}

    # airspec's members hold exactly the compiled bindings on airspec's roles
    assert grants(merged, mine=True) == grants(compiled)
    # everyone else's grants on those roles, and every other role's bindings, are as read
    assert grants(merged, mine=False) == grants(live, mine=False)
    assert [b for b in merged if b["role"] not in roles] == [
        b for b in live if b["role"] not in roles
    ]
    assert merge_bindings(merged, compiled, OURS) == merged
    assert all(b["members"] for b in merged)
    assert {(r, member_key(m)) for r, m in foreign_members(merged, compiled, OURS)} <= {
        (b["role"], member_key(m)) for b in live for m in b["members"]
    }
