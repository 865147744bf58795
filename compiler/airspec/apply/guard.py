"""Before anything is read: are the credentials for the account and project the specs name?

With credentials for another AWS account every object would read as "missing", and a reader
of the report would start recreating resources that exist. So the caller's identity is asked
first (STS GetCallerIdentity; the Google credentials' default project), once per account, and
a mismatch stops the run before any other request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from airspec.artifact import Service
from airspec.live import readers as live

AWS_SERVICES = frozenset({Service.IAM, Service.EKS, Service.S3})
GCP_SERVICES = frozenset({Service.GKE, Service.GCP_IAM})


@dataclass(frozen=True)
class Expected:
    """What one spec expects the credentials to reach."""

    spec: str
    services: frozenset[Service]  # the services its checks read
    aws_account: str | None = None
    gcp_project: str | None = None


def identity_problems(expected: Sequence[Expected], clients: live.Clients) -> list[str]:
    """One message per spec whose account or project the credentials are not for.

    Raises live.ReadError when the caller's identity cannot be asked at all.
    """
    problems: list[str] = []
    aws_specs = [e for e in expected if e.aws_account and e.services & AWS_SERVICES]
    if aws_specs:
        account, arn = live.caller_account(clients)
        problems += [
            f"the AWS credentials are for account {account} ({arn}), but spec "
            f"'{e.spec}' is for account {e.aws_account}"
            for e in aws_specs
            if e.aws_account != account
        ]
    gcp_specs = [e for e in expected if e.gcp_project and e.services & GCP_SERVICES]
    if gcp_specs:
        project = live.gcp_credentials_project()
        if project is None:
            names = ", ".join(sorted({e.spec for e in gcp_specs}))
            return [
                *problems,
                "cannot tell which Google Cloud project the credentials are for, so nothing is "
                f"read for {names}: set GOOGLE_CLOUD_PROJECT (or the quota project of your "
                "application default credentials: gcloud auth application-default "
                "set-quota-project PROJECT)",
            ]
        problems += [
            f"the Google credentials are for project {project}, but spec '{e.spec}' is for "
            f"project {e.gcp_project}"
            for e in gcp_specs
            if e.gcp_project != project
        ]
    return problems
