"""Rules about what each component's Python environment holds: the image's packages, the
provider packages airspec installs, and their pip constraints file."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from airspec.codes import (
    BAD_REQUIREMENT,
    CONSTRAINTS_FILE,
    DAG_PROCESSOR_IDENTITY,
    IMAGE_PACKAGES,
    INSTALL_CONFLICT,
    PIN_CONFLICT,
    PROVIDER_MISSING,
    declare,
    make,
    rule,
)
from airspec.diagnostics import Diagnostic, Severity
from airspec.environments import (
    ImageUnknown,
    InstallConflict,
    distribution_of,
    environments,
    tested_providers,
)
from airspec.platforms import REMOTE
from airspec.providers import (
    ConstraintsError,
    allows,
    canonical_name,
    parse_requirement,
    pinned_versions,
    read_constraints,
)
from airspec.rules.context import RuleContext

if TYPE_CHECKING:
    from packaging.version import Version

# what to install for an fsspec implementation: the provider that depends on it (google) or
# names it as an extra (amazon[s3fs])
COMES_WITH = {
    "gcsfs": "apache-airflow-providers-google",
    "s3fs": "apache-airflow-providers-amazon[s3fs]",
}


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@rule(PROVIDER_MISSING, "class-not-importable", phase="compile")
def components_import_their_classes(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A class a component's configuration names is not importable in that component.

    Each Remote Execution component (every worker, the triggerer, the dag processor) runs its
    image plus what airspec installs into it (`deployment.providers.packages`, the closure of
    what the image lacks). At start every component imports the logging config class, the
    remote log IO for the logs folder's scheme (`S3RemoteLogIO`, `GCSRemoteLogIO`), the
    secrets backend and the XCom backend with its object store's filesystem; workers and the
    dag processor also load the DAG bundle class (`GitDagBundle`, from
    apache-airflow-providers-git). A class whose distribution is neither in the image's
    package list nor installed fails that component at start, so compile stops here, naming
    the components, the class and the distribution.

    Also raised by this check: AS232 (the image's package set is unknown) and AS233 (the
    packages cannot be installed beside the image without touching what it holds).
    """
    spec = ctx.spec
    assert spec is not None
    if spec.deployment.platform != REMOTE or spec.deployment.astro is None:
        return
    try:
        envs = environments(spec, ctx.spec_dir)
    except ImageUnknown as exc:
        yield _image_unknown(ctx, exc)
        return
    except InstallConflict as exc:
        yield _install_conflict(ctx, exc)
        return
    except ConstraintsError:
        return  # AS208 reports the constraints file
    ctx.computed["environments"] = tuple(envs)  # resolve's, when the check passes
    missing: dict[tuple[str, str, str], list[str]] = {}
    where: dict[tuple[str, str, str], tuple[str | int, ...]] = {}
    held: dict[tuple[str, str, str], Mapping[str, Version | None]] = {}
    for env in envs:
        for need in env.missing:
            key = (need.path, need.what, need.distribution)
            missing.setdefault(key, []).append(env.component.name)
            where.setdefault(key, need.spec_path)
            held.setdefault(key, env.image.packages)
    tested = tested_providers(spec.deployment.image)
    for key, comps in missing.items():
        path, what, dist = key
        install = COMES_WITH.get(dist, dist)  # an fsspec implementation comes with its provider
        base = install.split("[", 1)[0]
        version = held[key].get(base) or tested.get(base)  # the image's own version first
        pinned = f"{install}=={version}" if version else install
        yield make(
            PROVIDER_MISSING,
            ctx.at(*where[(path, what, dist)], key=True),
            f"{_join(comps)} cannot import {path} ({what}): {distribution_of(path)} is "
            "neither in the image nor in deployment.providers.packages",
            f"add '- {pinned}' under deployment.providers.packages"
            + (
                " (the image's version)"
                if held[key].get(base)
                else " (the version airspec tests on this image)"
                if base in tested
                else ""
            ),
        )


def _image_unknown(ctx: RuleContext, exc: ImageUnknown) -> Diagnostic:
    assert ctx.spec is not None
    at = exc.where
    if ctx.raw_at(at) is None:  # the default image: the deployment block
        at = ("deployment",)
    return make(
        IMAGE_PACKAGES,
        ctx.at(*at),
        f"{exc.reason}: airspec computes each component's installs against the image's packages",
        "commit the image's package list beside the spec (docker run --rm --entrypoint pip IMAGE "
        "freeze > images/agent.txt) and name it: deployment.imagePackages: {file: images/agent.txt}",
    )


def _install_conflict(ctx: RuleContext, exc: InstallConflict) -> Diagnostic:
    assert ctx.spec is not None
    tested = tested_providers(ctx.spec.deployment.image)
    hint = (
        "pin versions that fit the image"
        + (
            " (airspec tests " + ", ".join(f"{n}=={v}" for n, v in sorted(tested.items())) + ")"
            if tested
            else ""
        )
        + "; for versions the image cannot hold, build an image from another base"
    )
    return make(
        INSTALL_CONFLICT,
        ctx.at("deployment", "providers", "packages"),
        "the providers cannot be installed beside the image without changing what it holds: "
        + "; ".join(exc.reasons),
        hint,
    )


@rule(DAG_PROCESSOR_IDENTITY, "dag-processor-identity")
def dag_processor_reads_secrets(ctx: RuleContext) -> Iterator[Diagnostic]:
    """The dag processor reads a cloud secrets backend but has no cloud identity (warning).

    In Airflow 3.0 a DAG file's top-level `Variable.get` or connection lookup, run while the
    dag processor parses it, asks the configured secrets backend first
    (`airflow.sdk.execution_time.context._get_variable` / `_get_connection`). Without the
    cloud identity that call fails, Airflow logs it and asks the API server, which does not
    hold what is stored in the cloud backend: the DAG file fails to import. By default
    airspec gives the dag processor the identity when a cloud secrets backend is configured;
    an explicit `deployment.cloudAccess` without `dagProcessor` gets this warning.
    """
    spec = ctx.spec
    assert spec is not None
    secrets = spec.backends.secrets
    access = spec.deployment.cloud_access
    if (
        spec.deployment.platform != REMOTE
        or secrets is None
        or secrets.type == "local-filesystem"
        or access is None
        or "dagProcessor" in access
    ):
        return
    yield make(
        DAG_PROCESSOR_IDENTITY,
        ctx.at("deployment", "cloudAccess"),
        f"the dag processor reads the {secrets.type} secrets backend when DAG files call "
        "Variable.get or look up a connection at parse time, but deployment.cloudAccess does "
        "not give it the cloud identity",
        "add dagProcessor to deployment.cloudAccess, unless no DAG file reads a variable or "
        "connection at the top level",
        Severity.WARNING,
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
        pinned = pins.get(canonical_name(req.name))
        if pinned is not None and req.specifier and not allows(req, pinned):
            yield make(
                PIN_CONFLICT,
                ctx.at("deployment", "providers", "packages", i),
                f"'{text}' excludes {req.name}=={pinned}, which the constraints file pins",
                f"use {req.name}=={pinned}, or update the constraints file",
            )


declare(
    IMAGE_PACKAGES,
    "image-packages",
    """The package set of a component's image is unknown, or its list cannot be read.

    airspec computes what each component installs against the image's own packages, so that
    nothing the image holds (its Airflow above all) is installed again beside it. It knows the
    images in its data (`airspec/data/known-images.json`: the agent image
    `astro-remote-execution-agent:3.0-4-python-3.12-astro-agent-1.0.2`, from the `pip freeze`
    Astronomer's webinar ships). For another image, commit its `pip freeze`
    (`docker run --rm --entrypoint pip IMAGE freeze > images/agent.txt`) and name it with
    `deployment.imagePackages: {file: images/agent.txt, python: "3.12"}` (or
    `workers[].imagePackages` for a worker's own image). The file follows the constraints
    file's rules (AS208) and must list apache-airflow.
    """,
)
declare(
    INSTALL_CONFLICT,
    "install-conflict",
    """The provider packages cannot be installed beside the image.

    The init containers install, with `pip install --no-deps`, the exact closure of
    `deployment.providers.packages` that the image lacks, resolved at compile time against the
    image's pins. That fails when a package asks for a version of something the image holds
    at another version (installing it into /shared/packages, first on PYTHONPATH, would shadow
    the image's: `apache-airflow-providers-google==22.8.0` needs an Airflow newer than the
    agent image's 3.0.2), when it would bring apache-airflow, -core or -task-sdk, or when
    airspec has no dependency metadata for a version (`scripts/refresh_providers.py` vendors
    the supported ones; for another image it writes `<imagePackages file>.metadata.json`).
    """,
)
