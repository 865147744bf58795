"""AS224: IAM documents over IAM's size limits, measured on the compiled documents.

These checks run after lowering (phase "artifacts"): the size of a policy is known only once
it is written. IAM counts a document's characters without whitespace.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from airspec.artifact import ArtifactKind
from airspec.codes import POLICY_SIZE, make, rule
from airspec.diagnostics import Diagnostic
from airspec.rules.context import RuleContext

MANAGED_POLICY_MAX = 6144  # IAM quotas: "Managed policy length"
ROLE_INLINE_POLICIES_MAX = 10240  # IAM quotas: "Role policy length" (all inline policies)

# a permission statement's Sid -> the spec block that grows it (names from passes/aws_iam_policy)
_BLOCK_OF_SID = (("TaskLogs", "logs"), ("XCom", "xcom"), ("Airflow", "secrets"))


def policy_size(document: Any) -> int:
    """A policy's size as IAM counts it: characters of its JSON, whitespace not counted."""
    return sum(not c.isspace() for c in json.dumps(document, separators=(",", ":")))


def statement_sizes(document: Any) -> list[tuple[str, int]]:
    """(Sid, size) of each statement, largest first."""
    sizes = [(s.get("Sid", "?"), policy_size(s)) for s in document.get("Statement", [])]
    return sorted(sizes, key=lambda kv: (-kv[1], kv[0]))


def _block(sid: str) -> str | None:
    return next((block for part, block in _BLOCK_OF_SID if part in sid), None)


@rule(POLICY_SIZE, "iam-policy-size", phase="artifacts")
def iam_document_sizes(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A compiled IAM document is larger than IAM accepts; `create-policy` or `create-role`
    would fail with LimitExceeded.

    IAM counts characters without whitespace. The limits and their source (IAM User Guide,
    "IAM and AWS STS quotas"):

    - managed policy (`aws/iam-policy.json`): at most 6,144 characters. The message lists
      each statement's size, largest first, and points at the backend that grows the
      largest: shorten its prefixes, or split the buckets across roles (one spec each).
    - role trust policy (`aws/trust-policy.json`, `aws/log-reader-trust-policy.json`): at
      most 2,048 characters by default; an account can raise the quota ("Role trust policy
      length") up to 8,192 through Service Quotas; declare the raised value in
      `cloud.aws.role.trustPolicyQuota`. The trust grows with each service account that gets
      the role (`deployment.cloudAccess`) and with the OIDC issuer's length.
    - inline policies of one role (`aws/log-reader-policy.json`): at most 10,240 together.

    With the v1 fields, a permission policy stays far below 6,144 (each prefix and bucket
    name has a limit of its own, AS221), so that check guards future fields; a trust policy
    can pass 2,048 with a long issuer.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.cloud.aws is None:
        return
    role = spec.cloud.aws.role
    for artifact in ctx.artifacts:
        doc = artifact.content
        if artifact.kind is ArtifactKind.AWS_IAM_POLICY:
            size, most = policy_size(doc), MANAGED_POLICY_MAX
            if size <= most:
                continue
            parts = statement_sizes(doc)
            block = _block(parts[0][0])
            where = ("backends", block) if block else ("cloud", "aws", "role", "policyName")
            yield make(
                POLICY_SIZE,
                ctx.at(*where, key=True),
                f"{artifact.path} is {size:,} characters without whitespace; a managed policy "
                f"is at most {most:,}. Statements: "
                + ", ".join(f"{sid} {n:,}" for sid, n in parts),
                "shorten the prefixes of the largest statement's backend, or split the buckets "
                "across roles (one spec each)",
            )
        elif artifact.kind in (
            ArtifactKind.AWS_TRUST_POLICY,
            ArtifactKind.AWS_LOG_READER_TRUST_POLICY,
        ):
            size, most = policy_size(doc), role.trust_policy_quota
            if size <= most:
                continue
            yield make(
                POLICY_SIZE,
                ctx.at("cloud", "aws", "role", key=True),
                f"{artifact.path} is {size:,} characters without whitespace; the role trust "
                f"policy quota is {most:,}",
                "give fewer components the role (deployment.cloudAccess), or raise the "
                "account's 'Role trust policy length' quota (at most 8,192) and set "
                "cloud.aws.role.trustPolicyQuota to it",
            )
        elif artifact.kind is ArtifactKind.AWS_LOG_READER_POLICY:
            size, most = policy_size(doc), ROLE_INLINE_POLICIES_MAX
            if size > most:
                yield make(
                    POLICY_SIZE,
                    ctx.at("backends", "logs", key=True),
                    f"{artifact.path} is {size:,} characters without whitespace; a role's "
                    f"inline policies are at most {most:,} together",
                    "shorten the logs prefix",
                )
