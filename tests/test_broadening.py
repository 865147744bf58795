"""Broadening means "live grants more than compiled", decided per statement by what IAM would
allow, not by where a `*` appears in a diff."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airspec.apply.compare import diff, iam_broadening
from airspec.apply.grants import pattern_covers
from airspec.apply.normalize import align_statements, iam_document
from conftest import ROOT

OUT = ROOT / "out"

POLICY = json.loads((OUT / "remote-exec-demo" / "aws" / "iam-policy.json").read_text())
TRUST = json.loads((OUT / "remote-exec-demo" / "aws" / "trust-policy.json").read_text())


def _statuses(compiled: dict[str, Any], live: dict[str, Any]) -> set[str]:
    before = iam_document(compiled)
    after = align_statements(before, iam_document(live))
    findings = diff("s", "a", "t", before, after, broadening=iam_broadening, unordered=True)
    assert findings, "the two documents should differ"
    return {f.status.value for f in findings}


def _statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(s for s in doc["Statement"] if s["Sid"] == sid)


def _replace_action(doc: dict[str, Any], sid: str, old: str, new: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    st_ = _statement(out, sid)
    st_["Action"] = [new if a == old else a for a in st_["Action"]]
    return out


def _with_resource(doc: dict[str, Any], sid: str, resource: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    _statement(out, sid)["Resource"] = resource
    return out


# The three cases found by hand, and their mirror images -------------------------------------


def test_get_replaced_by_delete_broadens_and_so_does_the_mirror() -> None:
    deleting = _replace_action(POLICY, "ReadWriteTaskLogs", "s3:GetObject", "s3:DeleteObject")
    assert _statuses(POLICY, deleting) == {"broadening"}
    # mirror: compiled has Delete where live has Get instead: Get on logs/ is a new grant
    assert _statuses(deleting, POLICY) == {"broadening"}


def test_dropping_an_action_is_drift() -> None:
    out = copy.deepcopy(POLICY)
    _statement(out, "ReadWriteTaskLogs")["Action"] = ["s3:GetObject"]
    assert _statuses(POLICY, out) == {"drift"}
    assert _statuses(out, POLICY) == {"broadening"}


def test_federated_provider_replaced_broadens_both_ways() -> None:
    other = copy.deepcopy(TRUST)
    (st_,) = other["Statement"]
    st_["Principal"]["Federated"] = st_["Principal"]["Federated"].replace(
        "EXAMPLED539D4633E53DE1B71EXAMPLE", "0THERCLUSTER0000000000000000000"
    )
    assert _statuses(TRUST, other) == {"broadening"}
    assert _statuses(other, TRUST) == {"broadening"}


def test_narrowed_resource_is_drift_and_widened_broadens() -> None:
    logs = "arn:aws:s3:::my-airflow-bucket/logs/*"
    assert _statement(POLICY, "ReadWriteTaskLogs")["Resource"] == logs
    narrower = _with_resource(POLICY, "ReadWriteTaskLogs", logs.replace("logs/*", "logs/2024/*"))
    assert _statuses(POLICY, narrower) == {"drift"}
    assert _statuses(narrower, POLICY) == {"broadening"}
    wider = _with_resource(POLICY, "ReadWriteTaskLogs", "arn:aws:s3:::my-airflow-bucket/*")
    assert _statuses(POLICY, wider) == {"broadening"}


def test_trust_subject_changes() -> None:
    (st_,) = TRUST["Statement"]
    (sub,) = [k for k in st_["Condition"]["StringEquals"] if k.endswith(":sub")]
    fewer = copy.deepcopy(TRUST)
    fewer["Statement"][0]["Condition"]["StringEquals"][sub] = st_["Condition"]["StringEquals"][sub][
        :1
    ]
    assert _statuses(TRUST, fewer) == {"drift"}  # one service account less may assume it
    anyone = copy.deepcopy(TRUST)
    del anyone["Statement"][0]["Condition"]["StringEquals"][sub]
    assert _statuses(TRUST, anyone) == {"broadening"}
    wildcard = copy.deepcopy(TRUST)
    cond = wildcard["Statement"][0]["Condition"]
    cond["StringLike"] = {sub: "system:serviceaccount:*:*"}
    del cond["StringEquals"][sub]
    assert _statuses(TRUST, wildcard) == {"broadening"}


def test_an_added_condition_is_drift() -> None:
    out = copy.deepcopy(POLICY)
    _statement(out, "ReadWriteTaskLogs")["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    assert _statuses(POLICY, out) == {"drift"}
    assert _statuses(out, POLICY) == {"broadening"}


def test_a_removed_deny_broadens() -> None:
    deny = {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"}
    compiled = {**POLICY, "Statement": [*POLICY["Statement"], deny]}
    assert _statuses(compiled, POLICY) == {"broadening"}
    assert _statuses(POLICY, compiled) == {"drift"}  # a Deny more grants nothing


@pytest.mark.parametrize(
    ("outer", "inner", "fold", "covers"),
    [
        ("s3:*", "s3:GetObject", True, True),
        ("s3:Get*", "s3:getobject", True, True),
        ("s3:Get*", "s3:*", True, False),
        ("s3:*Object", "s3:Get*Object", True, True),
        ("s3:GetObjec?", "s3:GetObject", True, True),
        ("s3:GetObjec?", "s3:GetObjec*", True, False),
        ("arn:aws:s3:::b/logs/*", "arn:aws:s3:::b/logs/2024/*", False, True),
        ("arn:aws:s3:::b/logs/2024/*", "arn:aws:s3:::b/logs/*", False, False),
        ("arn:aws:s3:::b/Logs/*", "arn:aws:s3:::b/logs/x", False, False),  # resources: case
        ("*", "anything?*", False, True),
        ("a*b", "ab", False, True),
        ("a?b", "ab", False, False),
    ],
)
def test_pattern_covers(outer: str, inner: str, fold: bool, covers: bool) -> None:
    assert pattern_covers(outer, inner, fold=fold) is covers


# Properties ---------------------------------------------------------------------------------

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:Get*"]
BUCKETS = ["arn:aws:s3:::b0", "arn:aws:s3:::b1"]
RESOURCES = [f"{b}/p{j}/*" for b in BUCKETS for j in range(2)] + BUCKETS
FRESH_ACTION = "kms:Decrypt"  # no compiled pattern matches it
FRESH_RESOURCE = "arn:aws:s3:::elsewhere/*"


@st.composite
def policies(draw: Any) -> dict[str, Any]:
    statements = []
    for i in range(draw(st.integers(1, 4))):
        s: dict[str, Any] = {
            "Effect": "Allow",
            "Action": draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=3, unique=True)),
            "Resource": draw(
                st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True)
            ),
        }
        if draw(st.booleans()):
            s["Sid"] = f"S{i}"
        if draw(st.booleans()):
            s["Condition"] = {"StringLike": {"s3:prefix": [f"p{i}/*", "q/*"]}}
        statements.append(s)
    return {"Version": "2012-10-17", "Statement": statements}


@st.composite
def narrowed(draw: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """A policy granting a subset: statements dropped, lists shortened, resources and
    condition values narrowed, conditions added."""
    out = []
    keep = [draw(st.booleans()) for _ in doc["Statement"]]
    keep[draw(st.integers(0, len(keep) - 1))] = True
    for s, kept in zip(doc["Statement"], keep, strict=True):
        if not kept:
            continue
        s = copy.deepcopy(s)
        s["Action"] = draw(st.lists(st.sampled_from(s["Action"]), min_size=1, unique=True))
        resources = draw(st.lists(st.sampled_from(s["Resource"]), min_size=1, unique=True))
        s["Resource"] = [
            r.replace("/*", "/deeper/*") if draw(st.booleans()) else r for r in resources
        ]
        if "Condition" in s and draw(st.booleans()):
            s["Condition"]["StringLike"]["s3:prefix"] = s["Condition"]["StringLike"]["s3:prefix"][
                :1
            ]
        if draw(st.booleans()):
            s.setdefault("Condition", {})["Bool"] = {"aws:SecureTransport": True}
        out.append(s)
    return {**doc, "Statement": out}


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_live_policy_granting_a_subset_never_broadens(data: st.DataObject) -> None:
    compiled = data.draw(policies())
    live = data.draw(narrowed(compiled))
    before = iam_document(compiled)
    after = align_statements(before, iam_document(live))
    findings = diff("s", "a", "t", before, after, broadening=iam_broadening, unordered=True)
    assert all(f.status.value != "broadening" for f in findings), findings


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_added_grant_broadens(data: st.DataObject) -> None:
    compiled = data.draw(policies())
    live = data.draw(narrowed(compiled))
    i = data.draw(st.integers(0, len(live["Statement"]) - 1))
    how = data.draw(st.sampled_from(["action", "resource", "statement"]))
    if how == "action":
        live["Statement"][i]["Action"].append(FRESH_ACTION)
    elif how == "resource":
        live["Statement"][i]["Resource"].append(FRESH_RESOURCE)
    else:
        live["Statement"].append({"Effect": "Allow", "Action": FRESH_ACTION, "Resource": "*"})
    before = iam_document(compiled)
    after = align_statements(before, iam_document(live))
    findings = diff("s", "a", "t", before, after, broadening=iam_broadening, unordered=True)
    assert any(f.status.value == "broadening" for f in findings), findings
