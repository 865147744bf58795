"""IAM "same policy?" against a peer: the cases of hashicorp/awspolicyequivalence (the library
Terraform's AWS provider decides it with), run through airspec's normalize + compare path.

Vendored in tests/reference/awspolicyequivalence/cases.json (see tests/reference/PROVENANCE.md).
Principals written `arn:PARTITION:` in the peer's cases are read as `arn:aws:`: a document IAM
returns names its real partition.
"""

from __future__ import annotations

import json

import pytest

from airspec.apply.compare import diff
from airspec.apply.normalize import iam_document
from conftest import REFERENCE

CASES = json.loads((REFERENCE / "awspolicyequivalence" / "cases.json").read_text())["cases"]

# Documents IAM itself refuses (MalformedPolicyDocument), where airspec may differ from the
# peer: what airspec does instead. A live document can never look like these.
IAM_REFUSES = {
    "Empty Principal set": "difference",  # "Principal": {} is refused by IAM
    "Empty Principals sets of different types have the same effect": "difference",
    "Empty Principal and missing Principal have the same effect": "difference",
    "Principal with empty sets and missing Principal have the same effect": "difference",
    # a bare account id is valid only inside {"AWS": ...}; as the whole Principal IAM refuses it
    "Principal with string root IAM user matches account ID": "difference",
    "Incorrect Statement type": "error",  # "Statement": 42
    "Different empty lists": "error",  # a policy is a JSON object, not [] / [{}]
}


def _verdict(case: dict[str, object]) -> str:
    texts = [str(case[k]).replace("arn:PARTITION:", "arn:aws:") for k in ("policy1", "policy2")]
    try:
        a, b = (iam_document(t) for t in texts)
    except ValueError:
        return "error"
    return "equivalent" if not diff("s", "a", "t", a, b, unordered=True) else "difference"


def _peer(case: dict[str, object]) -> str:
    if case["error"]:
        return "error"
    return "equivalent" if case["equivalent"] else "difference"


def test_all_cases_are_vendored() -> None:
    assert len(CASES) == 42
    assert set(IAM_REFUSES) <= {c["name"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_agrees_with_awspolicyequivalence(case: dict[str, object]) -> None:
    expected = IAM_REFUSES.get(str(case["name"]), _peer(case))
    assert _verdict(case) == expected
