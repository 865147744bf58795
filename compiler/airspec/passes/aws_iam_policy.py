"""Lower the backends to the worker role's least-privilege permission policy.

Each grant is what Airflow's own client code calls, no more:
- S3 task logs (S3TaskHandler): HeadObject/GetObject/PutObject on the log keys, ListObjectsV2
  under the prefix. ListBucket is granted with an `s3:prefix` condition: without ListBucket a
  HeadObject on a log that does not exist yet returns 403 instead of 404 and the handler fails.
- XCom object storage (s3fs): Get/Put/DeleteObject under the prefix, ListBucket under it, and
  GetBucketLocation on the bucket: `ObjectStoragePath.mkdir(parents=True)` runs on every write,
  and s3fs probes the bucket with HeadBucket, then GetBucketLocation, and calls CreateBucket
  when both are refused. HeadBucket needs ListBucket *without* a prefix, which the condition
  refuses, so GetBucketLocation is the probe that must succeed.
- Secrets backends: read-only on the connections/variables name prefixes.
Nothing on "*", no sts:AssumeRole.
"""

from __future__ import annotations

from airspec import aws
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.iam import Statement, document, list_under
from airspec.resolved import ResolvedSpec

PATH = "aws/iam-policy.json"
# secrets backend type -> (Sid, read-only actions its backend calls, resource under the prefix)
SECRETS_READ: dict[str, tuple[str, tuple[str, ...], str]] = {
    "aws-secrets-manager": (
        "ReadAirflowSecrets",
        ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
        "secret:{prefix}/*",
    ),
    "aws-ssm": (
        "ReadAirflowParameters",
        ("ssm:GetParameter", "ssm:GetParameters"),
        "parameter{prefix}/*",  # SSM paths begin with '/' (AS219); the ARN keeps one
    ),
}


def permission_statements(r: ResolvedSpec) -> list[Statement]:
    """The statements of the worker role's permission policy."""
    part, b = r.partition, r.spec.backends
    out: list[Statement] = []
    if b.logs is not None:
        out.append(list_under("ListTaskLogs", b.logs.bucket, b.logs.prefix, part))
        out.append(
            Statement(
                sid="ReadWriteTaskLogs",
                actions=("s3:GetObject", "s3:PutObject"),
                resources=(aws.s3_objects_arn(b.logs.bucket, b.logs.prefix, part),),
            )
        )
    if b.xcom is not None:
        out.append(list_under("ListXComObjects", b.xcom.bucket, b.xcom.prefix, part))
        out.append(
            Statement(
                sid="ReadWriteXComObjects",
                actions=("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
                resources=(aws.s3_objects_arn(b.xcom.bucket, b.xcom.prefix, part),),
            )
        )
        out.append(
            Statement(
                sid="ProbeXComBucket",
                actions=("s3:GetBucketLocation",),
                resources=(aws.s3_bucket_arn(b.xcom.bucket, part),),
            )
        )
    secrets = b.secrets
    if secrets is not None and secrets.type in SECRETS_READ:
        sid, actions, resource = SECRETS_READ[secrets.type]
        prefixes = sorted(secrets.prefixes().values())
        service = actions[0].split(":")[0]
        arns = tuple(
            aws.arn(
                service,
                resource.format(prefix=p),
                partition=part,
                region=r.aws.region,
                account=r.aws.account_id,
            )
            for p in prefixes
        )
        out.append(Statement(sid=sid, actions=actions, resources=arns))
    return out


def iam_policy(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """aws/iam-policy.json: the worker role's permission policy."""
    if r.spec.cloud.aws is None:
        return []
    statements = permission_statements(r)
    if not statements:
        return []
    return [
        Artifact(
            path=PATH,
            kind=ArtifactKind.AWS_IAM_POLICY,
            format="json",
            content=document(statements),
            live=LiveTarget(Service.IAM, "policy", r.policy_arn),
        )
    ]
