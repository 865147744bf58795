"""AS221: names the cloud or Kubernetes would refuse, and derived names that would not fit.

Each check states its limit and where the limit is documented, so a spec is refused at the
line that causes it rather than at `create-bucket`, `helm install` or `eksctl create`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airspec.codes import NAME_LIMIT, make, rule
from airspec.diagnostics import Diagnostic
from airspec.platforms import SA_SUFFIX, SOFTWARE
from airspec.rules.context import RuleContext

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
    """Why S3 refuses `name` beyond its character pattern (the schema checks that)."""
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
    """Why GCS refuses `name` beyond its character pattern."""
    if _IP_SHAPED.match(name):
        return "is formatted as an IP address"
    if name.startswith("goog"):
        return "begins with 'goog'"
    if "google" in name or "g00gle" in name:
        return "contains 'google'"
    if ".." in name or ".-" in name or "-." in name:
        return "has an empty or malformed dot-separated part"
    return None


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
    - The log-reader role `<role.name>-log-reader`: at most 64 characters (IAM quotas).
      airspec never truncates a derived name: a cut name could equal the main role's.
    - GKE cluster and node pool names: at most 40 characters (GKE API, clusters.create
      and nodePools.create).
    - Label keys and values (`metadata.labels`, node group labels, worker nodeSelector):
      values at most 63 characters of letters, digits, `-_.`, beginning and ending
      alphanumeric; keys an optional DNS-subdomain prefix and a name of at most 63
      (Kubernetes, "Labels and Selectors").
    - S3 bucket names: not IP-shaped, no `..`, no `-` next to `.`, not beginning with
      `xn--`, `sthree-`, `amzn-s3-demo-`, not ending with `-s3alias`, `--ol-s3`, `.mrap`,
      `--x-s3`, `--table-s3` (Amazon S3 User Guide, "General purpose bucket naming rules").
    - GCS bucket names: not IP-shaped, not beginning with `goog`, not containing `google`
      (Cloud Storage, "Bucket names").
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
