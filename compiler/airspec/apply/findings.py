"""Findings: one difference between a compiled artifact and the live object, and the report.

The JSON form (`airspec apply --format json`) is versioned by REPORT_VERSION and described by
`schemas/drift-report.schema.json`, generated from these models.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_VERSION = "airspec.drift/v1"


class Status(StrEnum):
    MISSING = "missing"  # the live object does not exist
    DRIFT = "drift"  # it exists and differs
    BROADENING = "broadening"  # it grants more than compiled: security-relevant drift
    ERROR = "error"  # it could not be read


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Finding(_Frozen):
    """One difference at one JSON path of one artifact."""

    spec: str = Field(description="metadata.name of the spec")
    artifact: str = Field(description="path under out/<name>/, or 'spec:buckets'")
    target: str = Field(description="the live object: service/type/id")
    status: Status
    path: str = Field(description="JSON path inside the normalized object; '' for all of it")
    compiled: Any = Field(default=None, description="compiled value (redacted if secret)")
    live: Any = Field(default=None, description="live value (redacted if secret)")
    message: str = ""
    suppressed: str | None = Field(
        default=None, description="the .airspecignore reason that accepted this finding"
    )


class Counts(_Frozen):
    checked: int = Field(description="live objects read")
    in_sync: int
    missing: int
    drift: int
    broadening: int
    error: int
    suppressed: int


class Report(_Frozen):
    """What `airspec apply --dry-run --format json` prints."""

    version: str = REPORT_VERSION
    specs: list[str]
    stale: list[str] = Field(default_factory=list, description="out/ files that are not current")
    counts: Counts
    findings: list[Finding] = Field(description="unsuppressed findings, security-relevant first")
    suppressed: list[Finding] = Field(default_factory=list)


def redacted(value: Any) -> dict[str, Any]:
    """A secret value as a reviewer may see it: a hash prefix and a length, never the text."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return {"redacted": True, "sha256": digest, "length": len(text)}


def report_json_schema() -> dict[str, Any]:
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airspec.dev/schemas/drift-report.schema.json"
    schema["title"] = "airspec drift report (airspec.drift/v1)"
    return schema
