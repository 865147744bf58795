"""What an IAM policy grants, decided by meaning: does one document allow anything another does not?

Works on `normalize.iam_document` normal forms. An Allow statement grants every combination
(action, resource, principal) of its lists, under its conditions. A live grant is covered
when some compiled Allow statement matches it the way IAM matches:

- actions and resources are patterns with `*` (any run of characters) and `?` (one
  character); actions compare case-insensitively, resources case-sensitively; pattern A covers
  pattern B when every string B matches, A matches too;
- principals match by type and value (`*` covers every principal);
- every condition of the compiled statement must hold whenever the live one's do: the live
  statement has the same operator and key with values the compiled values cover (a subset;
  for `*Like` operators, by pattern). A live statement may add conditions (it grants less).

Anything this cannot decide (NotAction, NotResource, NotPrincipal) is covered only by an
identical compiled statement, so an unknown form errs towards "broadening", never towards
hiding one. A compiled Deny the live document lacks or changed is broadening too.
"""

from __future__ import annotations

from functools import cache
from itertools import product
from typing import Any

_NEGATED = ("NotAction", "NotResource", "NotPrincipal")


@cache
def pattern_covers(outer: str, inner: str, *, fold: bool = False) -> bool:
    """Every string matched by the IAM pattern `inner` is matched by `outer`."""
    if fold:
        outer, inner = outer.lower(), inner.lower()
    n, m = len(outer), len(inner)
    # row[j]: outer[:i] covers inner[:j]
    row = [True] + [False] * m
    for i in range(1, n + 1):
        c = outer[i - 1]
        new = [row[0] and c == "*"] + [False] * m
        for j in range(1, m + 1):
            d = inner[j - 1]
            if c == "*":
                new[j] = row[j] or new[j - 1]  # matches nothing more, or absorbs inner[j-1]
            elif c == "?":
                new[j] = row[j - 1] and d != "*"
            else:
                new[j] = row[j - 1] and d == c
        row = new
    return row[m]


def _principals(st: dict[str, Any]) -> list[tuple[str, str] | None]:
    p = st.get("Principal")
    if p is None:
        return [None]
    if not isinstance(p, dict):
        return [("?", str(p))]
    return [(kind, v) for kind, values in sorted(p.items()) for v in values] or [None]


def _principal_covered(compiled: dict[str, Any], principal: tuple[str, str] | None) -> bool:
    p = compiled.get("Principal")
    if principal is None or p is None:
        return principal is None and p is None
    if not isinstance(p, dict):
        return False
    if "*" in p.get("*", []):
        return True
    kind, value = principal
    return value in p.get(kind, []) or "*" in p.get(kind, [])


def _conditions_implied(compiled: dict[str, Any], live: dict[str, Any]) -> bool:
    """The compiled statement's conditions hold whenever the live statement's do."""
    have = live.get("Condition", {})
    for op, keys in compiled.get("Condition", {}).items():
        for key, allowed in keys.items():
            got = have.get(op, {}).get(key)
            if got is None:
                return False  # the live statement lacks a restriction compiled imposes
            if op.endswith("Like") or op.endswith("LikeIfExists"):
                if not all(any(pattern_covers(a, g) for a in allowed) for g in got):
                    return False
            elif not set(got) <= set(allowed):
                return False
    return True


def _covers(
    compiled: dict[str, Any],
    live: dict[str, Any],
    action: str,
    resource: str,
    principal: tuple[str, str] | None,
) -> bool:
    if compiled.get("Effect") != "Allow" or any(k in compiled for k in _NEGATED):
        return False
    return (
        any(pattern_covers(a, action, fold=True) for a in compiled.get("Action", []))
        and any(pattern_covers(r, resource) for r in compiled.get("Resource", ["*"]))
        and _principal_covered(compiled, principal)
        and _conditions_implied(compiled, live)
    )


def grants_beyond(live: dict[str, Any], compiled: list[dict[str, Any]]) -> bool:
    """Does one live statement allow something no compiled statement allows?"""
    if live.get("Effect") != "Allow":
        return False  # a Deny (or anything else) grants nothing
    if any(k in live for k in _NEGATED):
        return live not in compiled
    return any(
        not any(_covers(c, live, action, resource, principal) for c in compiled)
        for action, resource, principal in product(
            live.get("Action", []), live.get("Resource", ["*"]), _principals(live)
        )
    )


def broadened_statements(compiled: dict[str, Any], live: dict[str, Any]) -> set[str]:
    """Keys of statements (in either normal form) whose difference grants more live."""
    want = list(compiled["Statement"].values())
    keys = {k for k, st in live["Statement"].items() if grants_beyond(st, want)}
    keys |= {
        k
        for k, st in compiled["Statement"].items()
        if st.get("Effect") == "Deny" and live["Statement"].get(k) != st
    }
    return keys
