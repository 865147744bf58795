"""AS221: names the cloud or Kubernetes would refuse, and derived names that would not fit.

Each check states its limit and where the limit is documented, so a spec is refused at the
line that causes it rather than at `create-bucket`, `helm install` or `eksctl create`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airspec.aws import arn as aws_arn
from airspec.aws import partition_for
from airspec.codes import NAME_LIMIT, make, rule
from airspec.diagnostics import Diagnostic
from airspec.platforms import SA_SUFFIX, SOFTWARE
from airspec.rules.context import RuleContext
from airspec.secret_stores import SEPARATORS

HELM_RELEASE_MAX = 53  # helm: "release name ... must not be longer than 53"
DNS_LABEL_MAX = 63  # RFC 1123 label: namespaces, service accounts
GKE_NAME_MAX = 40  # GKE clusters and node pools
IAM_ROLE_MAX = 64
LABEL_VALUE_MAX = 63
LABEL_NAME_MAX = 63
LABEL_PREFIX_MAX = 253

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IP_SHAPED = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,3}){3}$")
BUCKET_MIN, BUCKET_MAX = 3, 63  # S3, and GCS names without dots
GCS_DOTTED_MAX = 222  # GCS names with dots; each dot-separated part still at most 63
# Object keys (S3) and object names (GCS) are at most 1,024 bytes of UTF-8. Airflow builds
# them under the prefix from ids of up to 250 characters each (ID_LEN: dag_id, run_id,
# task_id), so the prefix gets what the longest key leaves:
OBJECT_KEY_MAX = 1024
AIRFLOW_ID_MAX = 250
# S3TaskHandler / GCSTaskHandler: <prefix>/dag_id=<d>/run_id=<r>/task_id=<t>/map_index=<m>/attempt=<n>.log
LOG_KEY_TAIL = (
    len("/dag_id=/run_id=/task_id=/map_index=/attempt=.log") + 3 * AIRFLOW_ID_MAX + 10 + 4
)  # a map index of up to 10 digits, up to 4 digits of attempts
# XComObjectStorageBackend: <prefix>/<dag_id>/<run_id>/<task_id>/<uuid4>[.<compression>]
XCOM_KEY_TAIL = len("////") + 3 * AIRFLOW_ID_MAX + 36 + len(".bz2")
SECRETS_MANAGER_NAME_MAX = 512  # Secrets Manager CreateSecret, Name
SECRET_MANAGER_ID_MAX = 255  # Secret Manager secret ids
SSM_NAME_MAX = 1011  # SSM PutParameter: a name, with the ARN before it, is at most 1011
_SECRETS_MANAGER_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]+$")
_S3_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def label_problem(text: str, *, key: bool) -> str | None:
    """Why `text` is not a valid Kubernetes label key (or value), else None."""
    if not key:
        if len(text) > LABEL_VALUE_MAX:
            return f"is {len(text)} characters; a label value is at most {LABEL_VALUE_MAX}"
        if text and not _LABEL_NAME.match(text):
            return (
                "is not a label value: letters, digits, '-', '_', '.', beginning and ending "
                "with a letter or digit"
            )
        return None
    prefix, _, name = text.rpartition("/")
    if "/" in text and not (
        prefix and len(prefix) <= LABEL_PREFIX_MAX and _DNS_SUBDOMAIN.match(prefix)
    ):
        return f"has a prefix that is not a DNS subdomain of at most {LABEL_PREFIX_MAX} characters"
    if len(name) > LABEL_NAME_MAX:
        return f"has a name of {len(name)} characters; a label name is at most {LABEL_NAME_MAX}"
    if not _LABEL_NAME.match(name):
        return (
            "is not a label key: letters, digits, '-', '_', '.', beginning and ending with a "
            "letter or digit, after an optional 'prefix/'"
        )
    return None


def s3_bucket_problem(name: str) -> str | None:
    """Why S3 refuses `name` (the schema checks the characters both clouds share)."""
    if not BUCKET_MIN <= len(name) <= BUCKET_MAX:
        return f"is {len(name)} characters; an S3 bucket name is {BUCKET_MIN} to {BUCKET_MAX}"
    if "_" in name:
        return "holds '_', which only GCS allows"
    if _IP_SHAPED.match(name):
        return "is formatted as an IP address"
    if ".." in name:
        return "has two adjacent periods"
    if ".-" in name or "-." in name:
        return "has a '-' next to a '.' (each dot-separated part must begin and end alphanumeric)"
    for prefix in _S3_PREFIXES:
        if name.startswith(prefix):
            return f"begins with the reserved prefix '{prefix}'"
    for suffix in _S3_SUFFIXES:
        if name.endswith(suffix):
            return f"ends with the reserved suffix '{suffix}'"
    return None


def gcs_bucket_problem(name: str) -> str | None:
    """Why GCS refuses `name` (the schema checks the characters both clouds share)."""
    if "." not in name and len(name) > BUCKET_MAX:
        return f"is {len(name)} characters; a GCS bucket name without dots is at most {BUCKET_MAX}"
    if len(name) > GCS_DOTTED_MAX:
        return f"is {len(name)} characters; a GCS bucket name is at most {GCS_DOTTED_MAX}"
    if long := [part for part in name.split(".") if len(part) > BUCKET_MAX]:
        return (
            f"has a dot-separated part of {len(long[0])} characters; each part is at most "
            f"{BUCKET_MAX}"
        )
    if _IP_SHAPED.match(name):
        return "is formatted as an IP address"
    if name.startswith("goog"):
        return "begins with 'goog'"
    if "google" in name or "g00gle" in name:
        return "contains 'google'"
    if ".." in name or ".-" in name or "-." in name:
        return "has an empty or malformed dot-separated part"
    return None


def _object_prefixes(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Backend prefixes that leave Airflow's longest object key over 1,024 bytes."""
    spec = ctx.spec
    assert spec is not None
    for key, backend, tail in (
        ("logs", spec.backends.logs, LOG_KEY_TAIL),
        ("xcom", spec.backends.xcom, XCOM_KEY_TAIL),
    ):
        if backend is None:
            continue
        size, most = len(backend.prefix.encode()), OBJECT_KEY_MAX - tail
        if size > most:
            yield make(
                NAME_LIMIT,
                ctx.at("backends", key, "prefix"),
                f"the {key} prefix is {size} bytes; at most {most} leave room for the "
                f"{tail} bytes Airflow appends (ids of up to {AIRFLOW_ID_MAX} characters) "
                f"within an object key's {OBJECT_KEY_MAX}",
                "shorten the prefix",
            )


def _secret_names(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Secrets backend prefixes whose names the secrets service cannot hold."""
    spec = ctx.spec
    assert spec is not None
    secrets = spec.backends.secrets
    if secrets is None:
        return
    if secrets.type == "aws-secrets-manager":
        most = SECRETS_MANAGER_NAME_MAX
        limit = f"a Secrets Manager secret name is at most {most} characters"
    elif secrets.type == "gcp-secret-manager":
        most = SECRET_MANAGER_ID_MAX
        limit = f"a Secret Manager secret id is at most {most} characters"
    elif secrets.type == "aws-ssm" and spec.cloud.aws is not None:
        a = spec.cloud.aws
        arn = aws_arn(
            "ssm",
            "parameter",
            partition=partition_for(a.region),
            region=a.region,
            account=a.account_id,
        )
        most = SSM_NAME_MAX - len(arn)
        limit = f"an SSM parameter name is at most {SSM_NAME_MAX} characters with its ARN ({arn})"
    else:
        return
    sep = SEPARATORS[secrets.type]  # how the backend joins prefix and id
    for key, prefix in secrets.prefixes().items():
        where = ctx.at("backends", "secrets", key)
        shown = prefix if len(prefix) <= 40 else prefix[:40] + "…"
        if secrets.type == "aws-secrets-manager" and not _SECRETS_MANAGER_NAME.match(prefix):
            yield make(
                NAME_LIMIT,
                where,
                f"'{shown}' holds a character a Secrets Manager secret name cannot",
                "use letters, digits and '/_+=.@-' only",
            )
        if len(prefix) + len(sep) >= most:
            yield make(
                NAME_LIMIT,
                where,
                f"the prefix '{shown}' is {len(prefix)} characters; {limit}, so "
                f"'<prefix>{sep}<id>' leaves no room for the id",
                f"use a prefix of at most {most - len(sep) - 1} characters",
            )


def _labels(ctx: RuleContext) -> Iterator[tuple[tuple[str | int, ...], dict[str, str]]]:
    spec = ctx.spec
    assert spec is not None
    yield ("metadata", "labels"), spec.metadata.labels
    if spec.cloud.aws is not None:
        for i, group in enumerate(spec.cloud.aws.cluster.node_groups):
            yield ("cloud", "aws", "cluster", "nodeGroups", i, "labels"), group.labels
    if spec.deployment.software is None:
        for i, worker in enumerate(spec.deployment.workers):
            yield ("deployment", "workers", i, "nodeSelector"), worker.node_selector


@rule(NAME_LIMIT, "name-limit")
def names_within_limits(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A name, or a name airspec derives from it, is one the cloud or Kubernetes refuses.

    Each message gives the limit's number. The limits and their sources:

    - Helm release name: at most 53 characters (Helm, `helm install`: "release name ...
      must not be longer than 53"); it is `deployment.helm.releaseName`, else
      `metadata.name`.
    - Namespace and service account names: DNS labels of at most 63 characters
      (Kubernetes, "Object Names and IDs"). Software's namespace is
      `astronomer-<releaseName>`; service accounts are `<resourceNamePrefix>-<component>`
      (Remote Execution) or `<releaseName>-<component>` (Software).
    - Worker names: the chart names a worker's Deployment `<resourceNamePrefix>-worker-<name>`
      and its autoscaler `<resourceNamePrefix>-worker-<name>-hpa`; the chart puts these names
      in labels, which hold at most 63 characters (astro-remote-execution-agent chart,
      values.yaml `workers[].name`).
    - The log-reader role `<role.name>-log-reader`: at most 64 characters (IAM quotas).
      airspec never truncates a derived name: a cut name could equal the main role's.
    - GKE cluster and node pool names: at most 40 characters (GKE API, clusters.create
      and nodePools.create).
    - Label keys and values (`metadata.labels`, node group labels, worker nodeSelector):
      values at most 63 characters of letters, digits, `-_.`, beginning and ending
      alphanumeric; keys an optional DNS-subdomain prefix and a name of at most 63
      (Kubernetes, "Labels and Selectors").
    - S3 bucket names: 3 to 63 characters of lowercase letters, digits, `.` and `-` (no
      `_`), not IP-shaped, no `..`, no `-` next to `.`, not beginning with `xn--`,
      `sthree-`, `amzn-s3-demo-`, not ending with `-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`,
      `--table-s3` (Amazon S3 User Guide, "General purpose bucket naming rules").
    - GCS bucket names: lowercase letters, digits, `-`, `_` and `.`; at most 63 characters
      without dots, at most 222 with dots and 63 per dot-separated part; not IP-shaped, not
      beginning with `goog`, not containing `google` (Cloud Storage, "Bucket names").
    - Object key prefixes (`backends.logs.prefix`, `backends.xcom.prefix`): an S3 object key
      and a GCS object name are at most 1,024 bytes of UTF-8 (Amazon S3 User Guide, "Naming
      Amazon S3 objects"; Cloud Storage, "Object names"). Airflow appends up to 813 bytes to
      the logs prefix (`/dag_id=…/run_id=…/task_id=…/map_index=…/attempt=….log`, ids of up to
      250 characters, Airflow's ID_LEN) and up to 794 to the XCom prefix
      (`/<dag_id>/<run_id>/<task_id>/<uuid4>.<compression>`), so a logs prefix is at most 211
      bytes and an XCom prefix at most 230.
    - Secrets backend prefixes: a Secrets Manager secret name is at most 512 characters of
      letters, digits and `/_+=.@-` (Secrets Manager API Reference, CreateSecret, `Name`); a
      Secret Manager secret id at most 255 (Secret Manager, "Create a secret"); an SSM
      parameter name at most 1,011 characters counting the ARN before it (Systems Manager
      API Reference, PutParameter, `Name`). Each prefix must leave room for `<sep><id>`.
      SSM's leading `/`, characters and 15 levels are AS219; Secret Manager's characters
      are AS217.
    - IAM role and policy names (the schema, AS107): a role name is 1 to 64 characters, a
      policy name 1 to 128, of letters, digits and `+=,.@_-` (IAM User Guide, "IAM and AWS
      STS quotas", IAM name requirements). Document sizes are AS224.
    """
    spec = ctx.spec
    assert spec is not None
    d = spec.deployment

    def refuse(where: tuple[str | int, ...], message: str, hint: str) -> Diagnostic:
        return make(NAME_LIMIT, ctx.at(*where), message, hint)

    if d.platform != SOFTWARE:
        release = d.helm.release_name or spec.metadata.name
        if len(release) > HELM_RELEASE_MAX:
            given = ("deployment", "helm", "releaseName")
            yield refuse(
                given if d.helm.release_name else ("metadata", "name"),
                f"the Helm release name '{release}' is {len(release)} characters; Helm allows "
                f"at most {HELM_RELEASE_MAX}",
                "set a shorter deployment.helm.releaseName (metadata.name is the default)",
            )
        prefix = d.resource_name_prefix
        prefix_at: tuple[str, ...] = ("deployment", "resourceNamePrefix")
    elif d.software is None:
        return  # AS209 reports the missing block
    else:
        prefix, prefix_at = d.software.release_name, ("deployment", "software", "releaseName")
        namespace = f"astronomer-{prefix}"
        if d.namespace is None and len(namespace) > DNS_LABEL_MAX:
            yield refuse(
                prefix_at,
                f"the namespace '{namespace}' is {len(namespace)} characters; a namespace is "
                f"at most {DNS_LABEL_MAX}",
                f"use a releaseName of at most {DNS_LABEL_MAX - len('astronomer-')} characters",
            )
    longest = max(SA_SUFFIX[d.platform].values(), key=len)
    account = f"{prefix}-{longest}"
    if len(account) > DNS_LABEL_MAX:
        yield refuse(
            prefix_at,
            f"the service account '{account}' derived from '{prefix}' is {len(account)} "
            f"characters; a service account name is at most {DNS_LABEL_MAX}",
            f"shorten it to at most {DNS_LABEL_MAX - len(longest) - 1} characters",
        )

    if d.platform != SOFTWARE:
        for i, worker in enumerate(d.workers):
            # the chart: Deployment <prefix>-worker-<name>, its HPA <prefix>-worker-<name>-hpa
            derived = f"{prefix}-worker-{worker.name}-hpa"
            if len(derived) > DNS_LABEL_MAX:
                yield refuse(
                    ("deployment", "workers", i, "name"),
                    f"the chart names this worker's autoscaler '{derived}', {len(derived)} "
                    f"characters; a name used as a label value is at most {DNS_LABEL_MAX}",
                    f"keep resourceNamePrefix and the worker name together at most "
                    f"{DNS_LABEL_MAX - len('-worker--hpa')} characters",
                )

    aws, gcp = spec.cloud.aws, spec.cloud.gcp
    reads_logs = d.astro is not None and d.astro.log_reader_role_arn and spec.backends.logs
    if aws is not None and reads_logs:
        reader = f"{aws.role.name}-log-reader"
        if len(reader) > IAM_ROLE_MAX:
            yield refuse(
                ("cloud", "aws", "role", "name"),
                f"the log-reader role '{reader}' derived from this role name is "
                f"{len(reader)} characters; an IAM role name is at most {IAM_ROLE_MAX}",
                f"shorten the role name to at most {IAM_ROLE_MAX - len('-log-reader')} characters",
            )
    if gcp is not None:
        if len(gcp.cluster.name) > GKE_NAME_MAX:
            yield refuse(
                ("cloud", "gcp", "cluster", "name"),
                f"a GKE cluster name is at most {GKE_NAME_MAX} characters; this one has "
                f"{len(gcp.cluster.name)}",
                "shorten it",
            )
        for i, pool in enumerate(gcp.cluster.node_pools):
            if len(pool.name) > GKE_NAME_MAX:
                yield refuse(
                    ("cloud", "gcp", "cluster", "nodePools", i, "name"),
                    f"a GKE node pool name is at most {GKE_NAME_MAX} characters; this one has "
                    f"{len(pool.name)}",
                    "shorten it",
                )

    for labels_at, labels in _labels(ctx):
        for key, value in labels.items():
            for text, is_key in ((key, True), (value, False)):
                problem = label_problem(text, key=is_key)
                if problem is not None:
                    what = "key" if is_key else "value"
                    yield refuse(
                        (*labels_at, key),
                        f"label {what} {text[:80]!r} {problem}",
                        "Kubernetes refuses the object that carries it",
                    )

    check, service = (s3_bucket_problem, "S3") if aws is not None else (gcs_bucket_problem, "GCS")
    for i, bucket in enumerate(spec.buckets):
        problem = check(bucket.name)
        if problem is not None:
            yield refuse(
                ("buckets", i, "name"),
                f"bucket name '{bucket.name}' {problem}; {service} refuses it",
                "use a bucket name of lowercase letters, digits and single '-' or '.' between them",
            )
    yield from _object_prefixes(ctx)
    yield from _secret_names(ctx)
