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

from airspec.apply.converge_gcp import foreign_members, merge_bindings, written_by
from airspec.apply.normalize import gcp_bindings, member_key
from conftest import ROOT, SpecCli, git_repo
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
        git_repo(tmp)
        self.spec = tmp / SPEC.name
        shutil.copy(SPEC, self.spec)
        self.out = tmp / "out"
        self.env = {"AIRSPEC_GCP_ENDPOINT": gcp.url, "AIRSPEC_READ_RETRIES": "0", "GOOGLE_CLOUD_PROJECT": "acme-data-prod"}
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
        f"airspec.io/owner=github.com/acme/team-a/gke-agents airspec.io/spec={project.spec.name}"
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


def test_only_bindings_this_spec_wrote_change_others_are_listed(project: Project) -> None:
    """A binding the spec did not write is never rewritten, even when it holds the spec's
    own service account under one of its roles: it is listed, with the exact command."""
    assert project.apply()[0] == 0
    gsa_member = "serviceAccount:airflow-agents@acme-data-prod.iam.gserviceaccount.com"
    live = project.gcp.policies[LOGS]["bindings"]
    # the GSA unconditioned (a broadening someone made), and a member airspec never granted
    intruder = {"role": "roles/storage.objectUser", "members": [gsa_member, "user:eve@example.com"]}
    project.gcp.write(LOGS, [*live, intruder])
    assert project.dry_run()[0] == 3
    code, out, mutating = project.apply()
    assert code == 3, out  # the spec's own account there is left to the user
    assert mutating == []
    assert intruder in project.gcp.policies[LOGS]["bindings"]
    assert (
        "gcloud storage buckets remove-iam-policy-binding gs://acme-airflow-logs "
        f"--member={gsa_member} --role=roles/storage.objectUser --condition=None"
    ) in out
    # eve's unconditional grant on a shared bucket is not this spec's to judge or list
    assert "user:eve@example.com" not in out
    # a binding the spec wrote for a prefix it no longer has goes, and the plan names it
    ours = next(b for b in live if "condition" in b)
    old = {
        **ours,
        "condition": {"title": "airspec: objects under old/", "expression": "true"},
    }
    project.gcp.write(LOGS, [OTHER, old])
    code, out, mutating = project.apply()
    assert code == 0, out
    assert f"remove {gsa_member} on roles/storage.objectUser [airspec: objects under old/]" in out
    assert f"add {gsa_member} on roles/storage.objectUser [airspec: objects under agents/logs/]" in out
    assert [(m, p) for m, p, _ in mutating] == [("PUT", "/storage/v1/b/acme-airflow-logs/iam")]
    assert project.gcp.policies[LOGS]["bindings"] == [OTHER, ours]
    assert project.dry_run()[0] == 0


# --- the merge, as properties -----------------------------------------------------------------

ROLES = ["roles/a", "roles/b", "roles/c"]
MEMBERS = [
    "user:x@e.com",
    "user:X@E.com",
    "serviceAccount:gsa@p.com",
    "group:g@e.com",
    "user:y@e.com",
]
CONDITIONS = [
    None,
    {"title": "t", "expression": "e1"},  # another team's condition
    {"title": "airspec: p", "expression": "e1"},  # the same expression, written by airspec
    {"title": "airspec: q", "expression": "e2"},
]


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
    # what the compiler writes: the spec's members, unconditioned or under an airspec title
    compiled = [
        {
            **b,
            "members": [m for m in b["members"] if member_key(m) in {member_key(o) for o in OURS}],
        }
        for b in want
        if str((b.get("condition") or {}).get("title", "airspec: ")).startswith("airspec: ")
    ]
    compiled = [b for b in compiled if b["members"]]
    merged = merge_bindings(live, compiled, OURS)
    written = written_by(compiled)
    ours = {member_key(m) for m in OURS}

    def grants(bs: list[dict[str, Any]], mine: bool | None = None) -> Any:
        """role -> condition -> members, of the spec's members (mine) or everyone else's."""
        keep = [
            {
                **b,
                "members": [
                    m for m in b["members"] if mine is None or (member_key(m) in ours) == mine
                ],
            }
            for b in bs
        ]
        found = gcp_bindings(keep)
        return {r: {e: m for e, m in c.items() if m} for r, c in found.items() if any(c.values())}

    # in the bindings the spec writes, its members hold exactly the compiled grants
    assert grants([b for b in merged if written(b)], mine=True) == grants(compiled)
    # every binding the spec does not write is kept exactly as read, in order
    assert [b for b in merged if not written(b)] == [b for b in live if not written(b)]
    # everyone else's members are kept wherever they were
    assert grants(merged, mine=False) == grants(live, mine=False)
    assert merge_bindings(merged, compiled, OURS) == merged
    assert all(b["members"] for b in merged)
    live_slots = {
        (b["role"], (b.get("condition") or {}).get("title", ""), member_key(m))
        for b in live
        for m in b["members"]
    }
    assert {(r, t, member_key(m)) for r, t, m in foreign_members(merged, compiled, OURS)} <= live_slots
