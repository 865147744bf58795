"""Rules about names that refer to each other: buckets, workers, bundles, node groups."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airspec.codes import DUPLICATE_NAME, UNDECLARED_BUCKET, make, rule
from airspec.diagnostics import Diagnostic
from airspec.rules.context import RuleContext


@rule(UNDECLARED_BUCKET, "undeclared-bucket")
def backend_buckets_declared(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A backend names a bucket that is not declared in `buckets`.

    Every bucket the deployment touches is listed once in `buckets`, so permissions and
    drift checks cover exactly those. Example::

        buckets: [{name: my-airflow-bucket}]
        backends:
          logs: {bucket: my-airflow-logs}   # AS202
    """
    assert ctx.spec is not None
    declared = [b.name for b in ctx.spec.buckets]
    for kind in ("logs", "xcom"):
        backend = getattr(ctx.spec.backends, kind)
        if backend is not None and backend.bucket not in declared:
            yield make(
                UNDECLARED_BUCKET,
                ctx.at("backends", kind, "bucket"),
                f"backends.{kind}.bucket '{backend.bucket}' is not declared in 'buckets'",
                f"add '- name: {backend.bucket}' under 'buckets'"
                + (f" (declared: {', '.join(declared)})" if declared else ""),
            )


def _duplicates(items: list[Any], attr: str) -> Iterator[tuple[int, str]]:
    seen: set[str] = set()
    for i, item in enumerate(items):
        name = getattr(item, attr)
        if name in seen:
            yield i, name
        seen.add(name)


@rule(DUPLICATE_NAME, "duplicate-name")
def names_unique(ctx: RuleContext) -> Iterator[Diagnostic]:
    """Two entries of one list share a name (workers, buckets, bundles, node groups).

    Names become Kubernetes object names, connection ids and file names: each must be
    unique within its list.
    """
    spec = ctx.spec
    assert spec is not None
    lists: list[tuple[tuple[str, ...], list[Any]]] = [
        (("deployment", "workers"), list(spec.deployment.workers)),
        (("buckets",), list(spec.buckets)),
        (("bundles",), list(spec.bundles)),
    ]
    if spec.cloud.aws:
        lists.append(
            (("cloud", "aws", "cluster", "nodeGroups"), list(spec.cloud.aws.cluster.node_groups))
        )
    if spec.cloud.gcp:
        lists.append(
            (("cloud", "gcp", "cluster", "nodePools"), list(spec.cloud.gcp.cluster.node_pools))
        )
    for path, items in lists:
        for i, name in _duplicates(items, "name"):
            yield make(
                DUPLICATE_NAME,
                ctx.at(*path, i, "name"),
                f"'{'.'.join(path)}' has two entries named '{name}'",
                "give each entry its own name",
            )
