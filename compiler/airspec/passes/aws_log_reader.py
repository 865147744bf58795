"""Lower `astro.logReaderRoleArn` to a read-only role Astro's log reader can assume.

Astro's control plane shows task logs by reading them from the customer's bucket; it gets
a role of its own that can only list and read the logs prefix, and trusts only that ARN.
"""

from __future__ import annotations

from airspec import aws
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.iam import Statement, document, list_under
from airspec.resolved import ResolvedSpec

TRUST_PATH = "aws/log-reader-trust-policy.json"
POLICY_PATH = "aws/log-reader-policy.json"


def log_reader(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws/log-reader-*.json when the spec names Astro's log reader and has a logs backend."""
    astro, logs = r.spec.deployment.astro, r.spec.backends.logs
    if r.spec.cloud.aws is None or astro is None or not astro.log_reader_role_arn or logs is None:
        return []
    part = r.partition
    role = r.log_reader_role
    role_arn = aws.role_arn(r.aws.account_id, role, part)
    trust = document(
        [
            Statement(
                sid="AstroLogReaderAssumeRole",
                actions=("sts:AssumeRole",),
                principal={"AWS": astro.log_reader_role_arn},
            )
        ]
    )
    policy = document(
        [
            list_under("ListTaskLogs", logs.bucket, logs.prefix, part),
            Statement(
                sid="ReadTaskLogs",
                actions=("s3:GetObject",),
                resources=(aws.s3_objects_arn(logs.bucket, logs.prefix, part),),
            ),
        ]
    )
    return [
        Artifact(
            TRUST_PATH,
            ArtifactKind.AWS_LOG_READER_TRUST_POLICY,
            "json",
            trust,
            LiveTarget(Service.IAM, "role", role_arn),
        ),
        Artifact(
            POLICY_PATH,
            ArtifactKind.AWS_LOG_READER_POLICY,
            "json",
            policy,
            LiveTarget(Service.IAM, "role-policy", f"{role}/{role}-logs"),
        ),
    ]
