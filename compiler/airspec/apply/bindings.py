"""The IAM policy merge of `airspec apply` on GCP: pure functions, property-tested.

airspec writes only the bindings this spec writes (`written_by`): a compiled role without a
condition, or a condition whose title starts with "airspec: ". Every other binding, and
every other member, is kept exactly as read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airspec.apply.normalize import member_key, spec_grants

AIRSPEC_TITLE = "airspec: "  # the title prefix of every condition airspec writes

Slot = tuple[str, str, str]  # (role, condition title or "", member)


# --- the merge: pure, property-tested ---------------------------------------------------------


def written_by(compiled: list[dict[str, Any]]) -> Callable[[dict[str, Any]], bool]:
    """Whether a live binding is one this spec writes (see the module docstring)."""
    roles = {b["role"] for b in compiled}
    plain = {b["role"] for b in compiled if not b.get("condition")}

    def written(b: dict[str, Any]) -> bool:
        if b.get("role") not in roles:
            return False
        condition = b.get("condition") or {}
        if not condition:
            return b.get("role") in plain
        return str(condition.get("title", "")).startswith(AIRSPEC_TITLE)

    return written


def merge_bindings(
    live_bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: set[str],
) -> list[dict[str, Any]]:
    """The live bindings with this spec's part replaced by the compiled bindings.

    From each binding this spec writes (`written_by`), the members in `ours` are taken out
    (a binding left without members goes); then each compiled binding's members are added to
    the binding it writes with the same role and condition expression, or the binding is
    appended.
    Every other binding, and every other member, is kept exactly as read, in its order.
    Members compare case-insensitively after the type prefix, as IAM does for emails.
    """
    written = written_by(compiled)
    mine = {member_key(m) for m in ours}
    out: list[dict[str, Any]] = []
    for b in live_bindings:
        if not written(b):
            out.append(b)
            continue
        kept = [m for m in b.get("members", []) if member_key(m) not in mine]
        if kept:
            out.append({**b, "members": kept})
    for want in compiled:
        expr = (want.get("condition") or {}).get("expression", "")
        same = next(
            (
                b
                for b in out
                if b.get("role") == want["role"]
                and (b.get("condition") or {}).get("expression", "") == expr
                and written(b)
            ),
            None,
        )
        if same is None:
            out.append({k: v for k, v in want.items() if k in ("role", "members", "condition")})
            continue
        have = {member_key(m) for m in same["members"]}
        extra = [m for m in want["members"] if member_key(m) not in have]
        if extra:
            out[out.index(same)] = {**same, "members": [*same["members"], *extra]}
    return out


def _slots(bindings: list[dict[str, Any]]) -> dict[tuple[str, str, str], Slot]:
    """(role, condition expression, member key) -> (role, title, member) of every grant."""
    out: dict[tuple[str, str, str], Slot] = {}
    for b in bindings:
        condition = b.get("condition") or {}
        for m in b.get("members", []):
            key = (b.get("role", ""), condition.get("expression", ""), member_key(m))
            out.setdefault(key, (b.get("role", ""), condition.get("title", ""), m))
    return out


def changes(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> tuple[list[Slot], list[Slot]]:
    """(added, removed) grants between two binding lists."""
    a, b = _slots(before), _slots(after)
    return sorted(b[k] for k in b.keys() - a.keys()), sorted(a[k] for k in a.keys() - b.keys())


def foreign_members(
    live_bindings: list[dict[str, Any]],
    compiled: list[dict[str, Any]],
    ours: set[str],
    *,
    owned: bool = True,
    others: frozenset[str] = frozenset(),
) -> list[Slot]:
    """Grants that concern this spec (`normalize.spec_grants`: its members anywhere, anyone
    in a binding it writes) that the merge leaves and the spec does not make: its own
    account in a binding it did not write, another member in one it did. Other specs'
    grants on a shared resource are not listed."""
    merged = merge_bindings(live_bindings, compiled, ours)
    want = _slots(compiled)
    relevant = spec_grants(merged, compiled, frozenset(ours), owned=owned, others=others)
    return sorted(slot for key, slot in _slots(relevant).items() if key not in want)
