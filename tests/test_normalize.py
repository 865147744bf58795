"""Property tests: the normalizers equate what the services equate, and nothing more."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from airspec.apply.compare import diff, gcp_broadening
from airspec.apply.normalize import align_statements, gcp_bindings, iam_document, k8s_object

ACTIONS = [f"s3:{a}" for a in ("GetObject", "PutObject", "DeleteObject", "ListBucket")] + [
    "ssm:GetParameter",
    "secretsmanager:GetSecretValue",
]
RESOURCES = [f"arn:aws:s3:::bucket-{i}/prefix-{j}/*" for i in range(3) for j in range(3)]


@st.composite
def statements(draw: Any, sid: str | None) -> dict[str, Any]:
    st_: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Deny"])),
        "Action": draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4, unique=True)),
        "Resource": draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True)),
    }
    if sid:
        st_["Sid"] = sid
    if draw(st.booleans()):
        st_["Condition"] = {
            "StringLike": {
                "s3:prefix": draw(
                    st.lists(
                        st.sampled_from(["a/*", "b/*", "c/*"]), min_size=1, max_size=3, unique=True
                    )
                )
            }
        }
    return st_


@st.composite
def documents(draw: Any) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=4))
    sids = [f"S{i}" if draw(st.booleans()) else None for i in range(n)]
    return {"Version": "2012-10-17", "Statement": [draw(statements(s)) for s in sids]}


def _one_or_list(values: list[Any], as_string: bool) -> Any:
    return values[0] if as_string and len(values) == 1 else values


@st.composite
def rewrites(draw: Any, doc: dict[str, Any]) -> Any:
    """The same policy as a service sees it: reordered, string vs list, Effect case, encoded."""
    out = []
    for s in draw(st.permutations(doc["Statement"])):
        s = json.loads(json.dumps(s))
        for key in ("Action", "Resource"):
            s[key] = _one_or_list(draw(st.permutations(s[key])), draw(st.booleans()))
        s["Effect"] = draw(st.sampled_from([s["Effect"], s["Effect"].upper(), s["Effect"].lower()]))
        if "Condition" in s:
            values = s["Condition"]["StringLike"]["s3:prefix"]
            s["Condition"]["StringLike"]["s3:prefix"] = _one_or_list(
                draw(st.permutations(values)), draw(st.booleans())
            )
        out.append(s)
    rewritten: Any = {
        "Version": doc["Version"],
        "Statement": _one_or_list(out, draw(st.booleans())),
    }
    form = draw(st.sampled_from(["dict", "json", "urlencoded"]))
    if form == "json":
        return json.dumps(rewritten)
    if form == "urlencoded":
        return quote(json.dumps(rewritten))
    return rewritten


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_iam_rewrites_normalize_equal(data: st.DataObject) -> None:
    doc = data.draw(documents())
    assert iam_document(data.draw(rewrites(doc))) == iam_document(doc)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_iam_added_action_or_resource_is_a_difference(data: st.DataObject) -> None:
    """(Whether it broadens is decided by meaning: tests/test_broadening.py.)"""
    doc = data.draw(documents())
    changed = json.loads(json.dumps(doc))
    i = data.draw(st.integers(min_value=0, max_value=len(doc["Statement"]) - 1))
    target = changed["Statement"][i]
    key, pool = data.draw(st.sampled_from([("Action", ACTIONS), ("Resource", RESOURCES)]))
    extra = [v for v in pool if v not in target[key]]
    if not extra:
        return
    target[key].append(data.draw(st.sampled_from(extra)))
    before, after = iam_document(doc), iam_document(changed)
    assert before != after
    after = align_statements(before, after)
    assert diff("s", "a", "t", before, after, unordered=True)


def test_account_id_equals_its_root_arn() -> None:
    a = {
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}
        ]
    }
    b = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::123456789012:root"]},
                "Action": ["sts:AssumeRole"],
            }
        ]
    }
    assert iam_document(a) == iam_document(b)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "serviceAccount:a@p.iam.gserviceaccount.com",
                "user:Bob@Example.com",
                "serviceAccount:p.svc.id.goog[ns/ksa]",
            ]
        ),
        min_size=1,
        unique=True,
    ),
    st.randoms(),
)
def test_gcp_member_case_and_order(members: list[str], rnd: Any) -> None:
    shuffled = [m.split(":", 1)[0] + ":" + m.split(":", 1)[1].upper() for m in members]
    rnd.shuffle(shuffled)
    a = gcp_bindings([{"role": "roles/x", "members": members}])
    b = gcp_bindings([{"role": "roles/x", "members": shuffled}])
    assert a == b
    wider = gcp_bindings([{"role": "roles/x", "members": [*members, "user:eve@example.com"]}])
    findings = diff("s", "a", "t", a, wider, broadening=gcp_broadening, unordered=True)
    assert [(f.status.value, f.live) for f in findings] == [("broadening", "user:eve@example.com")]


def test_k8s_server_fields_are_not_drift() -> None:
    compiled = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n", "labels": {"a": "b"}},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "n",
            "labels": {"a": "b", "kubernetes.io/metadata.name": "n"},
            "uid": "u",
            "resourceVersion": "1",
            "managedFields": [{}],
            "creationTimestamp": "t",
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    assert k8s_object(live) == k8s_object(compiled)
    live["metadata"]["labels"]["extra"] = "x"
    assert k8s_object(live) != k8s_object(compiled)
