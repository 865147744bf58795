"""Rules about which blocks apply to which platform and cloud."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from airspec.codes import (
    BAD_QUANTITY,
    BLOCK_NOT_FOR_PLATFORM,
    BLOCK_REQUIRED,
    CHART_UNPINNED,
    CLOUD_MISMATCH,
    UNKNOWN_COMPONENT,
    make,
    rule,
)
from airspec.diagnostics import Diagnostic, Severity
from airspec.kube import quantity_text, quantity_value
from airspec.model import TESTED_CHART_VERSION, SecretsBackend
from airspec.platforms import COMPONENTS, DEFAULT_CLOUD_ACCESS, REMOTE, SOFTWARE
from airspec.rules.context import RuleContext

SECRETS_TYPES = get_args(SecretsBackend.model_fields["type"].annotation)
CLOUD_TYPES = ("aws-", "gcp-")
REMOTE_ONLY = (
    "astro",
    "workers",
    "triggerer",
    "dagProcessor",
    "providers",
    "image",
    "resourceNamePrefix",
    "helm",
)


@rule(BLOCK_NOT_FOR_PLATFORM, "block-not-for-platform")
def blocks_match_platform(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A block is set that the chosen `deployment.platform` does not use.

    `astro`, `workers`, `triggerer`, `dagProcessor`, `providers`, `image`,
    `resourceNamePrefix`, `helm` and top-level `bundles` configure the Remote Execution
    agents; `software` configures an Astronomer Software deployment. Setting a block the
    platform ignores is an error, so nothing in the spec is silently dropped. The same holds
    for a field of the other cloud: `astro.logReaderRoleArn` (an IAM role) on `cloud.gcp`.

    On Astronomer Software, `deployment.namespace` may only name the namespace the platform
    creates, `astronomer-<releaseName>` (the default): `astro deployment create`, which the
    compiled `software/astro-commands.sh` runs, chooses no namespace, so any other value
    would point the identity checks and the runbook at a namespace the Deployment is not in.
    Namespace pools (pre-created namespaces) are not supported.
    """
    assert ctx.spec is not None
    platform = ctx.spec.deployment.platform
    raw = ctx.raw_at(("deployment",)) or {}
    if platform == SOFTWARE:
        for key in REMOTE_ONLY:
            if key in raw:
                yield make(
                    BLOCK_NOT_FOR_PLATFORM,
                    ctx.at("deployment", key, key=True),
                    f"'deployment.{key}' applies to {REMOTE}, not {SOFTWARE}",
                    "remove it: Astronomer Software runs Airflow itself",
                )
        software, namespace = ctx.spec.deployment.software, ctx.spec.deployment.namespace
        if software is not None and namespace not in (None, f"astronomer-{software.release_name}"):
            yield make(
                BLOCK_NOT_FOR_PLATFORM,
                ctx.at("deployment", "namespace"),
                f"Astronomer Software creates the Deployment in 'astronomer-"
                f"{software.release_name}', not '{namespace}': 'astro deployment create' "
                "takes no namespace",
                "remove 'deployment.namespace' (namespace pools are not supported)",
            )
        if "bundles" in ctx.raw:
            yield make(
                BLOCK_NOT_FOR_PLATFORM,
                ctx.at("bundles", key=True),
                f"'bundles' applies to {REMOTE}, not {SOFTWARE}",
                "remove it: Software deployments get DAGs through 'astro deploy'",
            )
    elif "software" in raw:
        yield make(
            BLOCK_NOT_FOR_PLATFORM,
            ctx.at("deployment", "software", key=True),
            f"'deployment.software' applies to {SOFTWARE}, not {REMOTE}",
            "remove it, or set 'deployment.platform: astronomer-software'",
        )
    astro = ctx.spec.deployment.astro
    if ctx.spec.cloud.gcp is not None and astro is not None and astro.log_reader_role_arn:
        yield make(
            BLOCK_NOT_FOR_PLATFORM,
            ctx.at("deployment", "astro", "logReaderRoleArn", key=True),
            "'deployment.astro.logReaderRoleArn' is an IAM role: it applies to cloud.aws, "
            "not cloud.gcp",
            "remove it; on GKE, grant Astro's log reader access to the logs bucket outside "
            "this spec",
        )


@rule(BLOCK_REQUIRED, "block-required")
def required_blocks(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A block the platform needs is missing.

    Remote Execution needs `deployment.astro` (the API URL and the Secrets the agents use);
    Astronomer Software needs `deployment.software` (the release name). Every spec needs
    exactly one of `cloud.aws` and `cloud.gcp`.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.deployment.platform == REMOTE and spec.deployment.astro is None:
        yield make(
            BLOCK_REQUIRED,
            ctx.at("deployment", key=True),
            f"'deployment.astro' is required for {REMOTE}",
            "add 'astro:' with apiUrl, agentTokenSecret and imagePullSecret",
        )
    if spec.deployment.platform == SOFTWARE and spec.deployment.software is None:
        yield make(
            BLOCK_REQUIRED,
            ctx.at("deployment", key=True),
            f"'deployment.software' is required for {SOFTWARE}",
            "add 'software:' with releaseName (and executor)",
        )
    if (spec.cloud.aws is None) == (spec.cloud.gcp is None):
        both = spec.cloud.aws is not None
        yield make(
            BLOCK_REQUIRED,
            ctx.at("cloud", key=True),
            "'cloud' must set exactly one of 'aws' and 'gcp'" + (", not both" if both else ""),
            "one spec describes one deployment on one cloud",
        )


@rule(CLOUD_MISMATCH, "cloud-mismatch")
def backends_match_cloud(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A backend belongs to the other cloud (an AWS secrets backend on GCP, or the reverse).

    The workload identity airspec wires is for one cloud: an `aws-ssm` secrets backend on
    a GKE deployment could never authenticate.
    """
    spec = ctx.spec
    assert spec is not None
    secrets = spec.backends.secrets
    if secrets is None:
        return
    if spec.cloud.gcp is not None and secrets.type.startswith("aws-"):
        cloud, other = "gcp", "aws"
    elif spec.cloud.aws is not None and secrets.type.startswith("gcp-"):
        cloud, other = "aws", "gcp"
    else:
        return
    yield make(
        CLOUD_MISMATCH,
        ctx.at("backends", "secrets", "type"),
        f"secrets backend '{secrets.type}' is for {other}, but the spec targets cloud.{cloud}",
        "use "
        + " or ".join(
            t for t in SECRETS_TYPES if t.startswith(f"{cloud}-") or not t.startswith(CLOUD_TYPES)
        ),
    )


@rule(UNKNOWN_COMPONENT, "unknown-component")
def cloud_access_components(ctx: RuleContext) -> Iterator[Diagnostic]:
    """`deployment.cloudAccess` names a component the platform does not have, or is empty.

    Remote Execution: workers, triggerer, dagProcessor. Astronomer Software: worker,
    scheduler, triggerer, webserver, cleanup, migrate-database-job. An empty list would
    give nobody the identity the spec exists to wire (and an IAM role or GSA nobody can
    use); leave the field out for the platform's default.
    """
    spec = ctx.spec
    assert spec is not None
    allowed = COMPONENTS[spec.deployment.platform]
    if spec.deployment.cloud_access == []:
        yield make(
            UNKNOWN_COMPONENT,
            ctx.at("deployment", "cloudAccess"),
            "'cloudAccess' is empty: no component would get the cloud identity",
            "remove the field for the default "
            f"({', '.join(DEFAULT_CLOUD_ACCESS[spec.deployment.platform])}), or list components",
        )
    for i, name in enumerate(spec.deployment.cloud_access or []):
        if name not in allowed:
            yield make(
                UNKNOWN_COMPONENT,
                ctx.at("deployment", "cloudAccess", i),
                f"'{name}' is not a component of {spec.deployment.platform}",
                f"choose from: {', '.join(allowed)}",
            )


@rule(BAD_QUANTITY, "bad-quantity")
def resource_quantities(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A cpu, memory or ephemeralStorage value is not a Kubernetes quantity.

    Quantities are a non-negative number with an optional suffix: `500m`, `1`, `2Gi`,
    `512Mi`, `1e3`. Binary suffixes end in `i`; `2GB` is not a quantity.
    """
    spec = ctx.spec
    assert spec is not None
    blocks: list[tuple[tuple[str | int, ...], object]] = [
        (("deployment", "workers", i, "resources"), w.resources)
        for i, w in enumerate(spec.deployment.workers)
    ]
    blocks += [
        (("deployment", "triggerer", "resources"), spec.deployment.triggerer.resources),
        (("deployment", "dagProcessor", "resources"), spec.deployment.dag_processor.resources),
    ]
    for path, res in blocks:
        for attr, key in (
            ("cpu", "cpu"),
            ("memory", "memory"),
            ("ephemeral_storage", "ephemeralStorage"),
        ):
            text = quantity_text(getattr(res, attr))
            if quantity_value(text) is None:
                yield make(
                    BAD_QUANTITY,
                    ctx.at(*path, key),
                    f"'{key}' {text!r} is not a Kubernetes quantity",
                    'e.g. cpu: "500m", memory: 2Gi, ephemeralStorage: 1Gi',
                )


@rule(CHART_UNPINNED, "chart-unpinned")
def chart_pinned(ctx: RuleContext) -> Iterator[Diagnostic]:
    """The agents' Helm chart version is not pinned (a warning).

    The runbook installs `astronomer/astro-remote-execution-agent` with `helm upgrade
    --install --version`: without a version helm takes the newest chart, whose values may
    differ from what airspec wrote (the image is pinned, the chart would not be). When
    `deployment.helm.chartVersion` is unset the runbook pins the version airspec is tested
    with (`TESTED_CHART_VERSION` in `airspec/model.py`) and this warning says so; set the
    field to make the choice yours.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.deployment.platform != REMOTE or spec.deployment.helm.chart_version is not None:
        return
    raw = ctx.raw_at(("deployment",)) or {}
    where = (
        ctx.at("deployment", "helm", key=True) if "helm" in raw else ctx.at("deployment", key=True)
    )
    yield make(
        CHART_UNPINNED,
        where,
        "deployment.helm.chartVersion is not set; the runbook installs chart "
        f"{TESTED_CHART_VERSION}, the version airspec is tested with",
        f'pin it: helm: {{chartVersion: "{TESTED_CHART_VERSION}"}} under deployment',
        Severity.WARNING,
    )
