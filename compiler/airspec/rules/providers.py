"""Rules about provider packages and their pip constraints file."""

from __future__ import annotations

from collections.abc import Iterator

from packaging.utils import canonicalize_name

from airspec.codes import (
    BAD_REQUIREMENT,
    CONSTRAINTS_FILE,
    PIN_CONFLICT,
    PROVIDER_MISSING,
    make,
    rule,
)
from airspec.diagnostics import Diagnostic
from airspec.platforms import REMOTE
from airspec.providers import (
    ConstraintsError,
    parse_requirement,
    pinned_versions,
    provider_needs,
    read_constraints,
)
from airspec.rules.context import RuleContext


@rule(PROVIDER_MISSING, "provider-missing")
def backends_have_providers(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A backend needs a provider package that `deployment.providers.packages` does not install.

    Remote Execution workers install providers with an init container; without the package
    the backend fails at task run time, not at deploy time. S3 logs and the AWS secrets
    backends need `apache-airflow-providers-amazon`; the XCom object storage backend needs
    `apache-airflow-providers-common-io` and, on S3, `apache-airflow-providers-amazon[s3fs]`.
    """
    spec = ctx.spec
    assert spec is not None
    if spec.deployment.platform != REMOTE:
        return
    installed: dict[str, set[str]] = {}
    for text in spec.deployment.providers.packages if spec.deployment.providers else []:
        req = parse_requirement(text)
        if req is not None:
            installed.setdefault(canonicalize_name(req.name), set()).update(req.extras)
    reported: set[tuple[str, frozenset[str]]] = set()
    for need in provider_needs(spec):
        have = installed.get(canonicalize_name(need.package))
        if have is not None and need.extras <= have:
            continue
        if (need.package, need.extras) in reported:
            continue
        reported.add((need.package, need.extras))
        extras = f"[{','.join(sorted(need.extras))}]" if need.extras else ""
        yield make(
            PROVIDER_MISSING,
            ctx.at(*need.path, key=True),
            f"{need.why} needs '{need.package}{extras}', which deployment.providers.packages "
            "does not install",
            f"add '- {need.package}{extras}', pinned to the version your constraints file lists, under "
            "deployment.providers.packages",
        )


def _constraints(ctx: RuleContext) -> tuple[str | None, str | None]:
    """(the constraints file's text, why it cannot be read); both None when there is none."""
    assert ctx.spec is not None
    providers = ctx.spec.deployment.providers
    if providers is None or providers.constraints is None:
        return None, None
    try:
        return read_constraints(ctx.spec_dir, providers.constraints), None
    except ConstraintsError as exc:
        return None, exc.reason


@rule(CONSTRAINTS_FILE, "constraints-file")
def constraints_readable(ctx: RuleContext) -> Iterator[Diagnostic]:
    """`deployment.providers.constraints` does not name a file airspec may copy into out/.

    The path is relative to the spec file; its content becomes the constraints ConfigMap
    `k8s/provider-constraints.yaml`, which is committed and reviewed. So the file must be:
    inside the spec's git repository (symlinks resolved; without git, the spec's folder), a
    regular file of at most 1 MiB of UTF-8 (not `/dev/zero`), made only of comments and
    requirement lines (`name==version`, `name @ file:///…`; no `--extra-index-url` or other
    options),
    and free of credentials (a token in an index URL is refused, never echoed).
    """
    _, reason = _constraints(ctx)
    if reason is not None:
        assert ctx.spec is not None and ctx.spec.deployment.providers is not None
        yield make(
            CONSTRAINTS_FILE,
            ctx.at("deployment", "providers", "constraints"),
            f"constraints file '{ctx.spec.deployment.providers.constraints}': {reason}",
            "name a pip constraints file committed beside the spec (the path is relative to "
            "the spec file's folder)",
        )


@rule(BAD_REQUIREMENT, "bad-requirement")
def requirements_parse(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A provider package is not a valid pip requirement (PEP 508), e.g. `pkg==1.0`."""
    spec = ctx.spec
    assert spec is not None
    for i, text in enumerate(
        spec.deployment.providers.packages if spec.deployment.providers else []
    ):
        req = parse_requirement(text)
        if req is None or req.url:
            yield make(
                BAD_REQUIREMENT,
                ctx.at("deployment", "providers", "packages", i),
                f"'{text}' is not a pip requirement airspec can install"
                + (" (direct URLs are not allowed)" if req is not None else ""),
                "write name[extras]==version, e.g. apache-airflow-providers-amazon[s3fs]==9.9.0",
            )


@rule(PIN_CONFLICT, "pin-conflict")
def pins_agree_with_constraints(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A provider package's version range excludes the version the constraints file pins.

    pip would refuse the install inside the init container and the workers would never
    start; airspec catches it before deploy.
    """
    constraints, _ = _constraints(ctx)
    if constraints is None or ctx.spec is None or ctx.spec.deployment.providers is None:
        return  # no constraints file, or AS208 reports why it cannot be read
    pins = pinned_versions(constraints)
    for i, text in enumerate(ctx.spec.deployment.providers.packages):
        req = parse_requirement(text)
        if req is None:
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if (
            pinned is not None
            and req.specifier
            and not req.specifier.contains(pinned, prereleases=True)
        ):
            yield make(
                PIN_CONFLICT,
                ctx.at("deployment", "providers", "packages", i),
                f"'{text}' excludes {req.name}=={pinned}, which the constraints file pins",
                f"use {req.name}=={pinned}, or update the constraints file",
            )
