"""IAM policy documents as small typed values, serialized one way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airspec import aws

VERSION = "2012-10-17"


@dataclass(frozen=True)
class Statement:
    """One IAM statement; lists keep the order given (passes give them sorted)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    effect: str = "Allow"
    principal: dict[str, str] | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Sid": self.sid, "Effect": self.effect}
        if self.principal is not None:
            out["Principal"] = dict(self.principal)
        out["Action"] = list(self.actions) if len(self.actions) > 1 else self.actions[0]
        if self.resources:
            out["Resource"] = list(self.resources) if len(self.resources) > 1 else self.resources[0]
        if self.conditions:
            out["Condition"] = {op: dict(kv) for op, kv in self.conditions.items()}
        return out


def document(statements: list[Statement]) -> dict[str, Any]:
    """A policy document: Version plus the statements in the order given."""
    return {"Version": VERSION, "Statement": [s.as_dict() for s in statements]}


def list_under(sid: str, bucket: str, prefix: str, partition: str) -> Statement:
    """ListBucket on `bucket`, only for keys under `prefix/`."""
    return Statement(
        sid=sid,
        actions=("s3:ListBucket",),
        resources=(aws.s3_bucket_arn(bucket, partition),),
        conditions={"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
    )
