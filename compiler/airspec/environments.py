"""Each Remote Execution component's Python environment: the image's packages plus what
airspec installs, and whether every class the component's configuration names imports there.

The image's package set comes from a vendored list per known image (`data/known-images.json`,
each list's source in its header) or from `deployment.imagePackages` (a `pip freeze` of
another image, committed beside the spec). The installs are computed here, at compile time and
without the network: the spec's `deployment.providers.packages` are resolved (resolvelib, the
resolver pip uses) against the image's pins, with versions for what the image lacks taken from
the vendored dependency metadata (`data/distributions.json`, written by
`scripts/refresh_providers.py`). A distribution the image has is never installed again, so the
install's exact closure goes in with `--no-deps` and never shadows the image's Airflow.

Which classes a component loads is settled from Airflow 3.0.2's source (README, "Each
component's Python environment"): every component imports the logging config class, the
remote log IO of the logs folder's scheme, the secrets backend and the XCom backend at start;
the DAG bundle classes are loaded where DAG files are read (workers, dag processor).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from airspec import inputs
from airspec.airflow_config import (
    BACKEND_CLASSES,
    GIT_BUNDLE,
    LOGGING_CONFIG_CLASS,
    XCOM_BACKEND,
)
from airspec.model import Spec
from airspec.providers import ConstraintsError, pinned_versions, read_constraints

# Never installed beside an image: the image's Airflow is the one that must run.
AIRFLOW_DISTRIBUTIONS = frozenset(
    {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"}
)

# module prefix -> the distribution that ships it (providers follow Airflow's naming rule
# apache-airflow-providers-<a>-<b> -> airflow.providers.<a>.<b>; Airflow 3 ships
# airflow.secrets in apache-airflow-core; the Astro logging module comes with the image's
# astronomer-runtime-extensions wheel, which is not public)
MODULE_DISTRIBUTIONS: tuple[tuple[str, str], ...] = (
    ("airflow.providers.amazon.", "apache-airflow-providers-amazon"),
    ("airflow.providers.google.", "apache-airflow-providers-google"),
    ("airflow.providers.common.io.", "apache-airflow-providers-common-io"),
    ("airflow.providers.git.", "apache-airflow-providers-git"),
    ("airflow.secrets.", "apache-airflow-core"),
    ("astronomer.runtime.", "astronomer-runtime-extensions"),
    ("s3fs.", "s3fs"),
    ("gcsfs.", "gcsfs"),
)
REMOTE_LOG_IO = {
    "s3": "airflow.providers.amazon.aws.log.s3_task_handler.S3RemoteLogIO",
    "gs": "airflow.providers.google.cloud.log.gcs_task_handler.GCSRemoteLogIO",
}
# ObjectStoragePath finds a scheme's filesystem through the provider that registers it, which
# hands out the fsspec implementation
OBJECT_STORE = {
    "s3": ("airflow.providers.amazon.aws.fs.s3.get_fs", "s3fs.S3FileSystem"),
    "gs": ("airflow.providers.google.cloud.fs.gcs.get_fs", "gcsfs.GCSFileSystem"),
}


def distribution_of(path: str) -> str:
    """The distribution that ships the module of a dotted class path."""
    for prefix, dist in MODULE_DISTRIBUTIONS:
        if path.startswith(prefix):
            return dist
    raise KeyError(f"no known distribution ships {path}")


@dataclass(frozen=True)
class ClassNeed:
    """A class (or module attribute) a component's configuration makes it import."""

    path: str
    what: str
    spec_path: tuple[str | int, ...]

    @property
    def distribution(self) -> str:
        return distribution_of(self.path)


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the closure cache's key
class ImagePackages:
    """What an image holds: canonical name -> version (None for a `name @ url` line)."""

    ref: str
    python: str
    packages: Mapping[str, Version | None]
    source: str  # the list's path: in airspec's data, or the spec's imagePackages file
    pool: Mapping[str, Any] = field(default_factory=dict)  # metadata supplied with the list

    @property
    def airflow(self) -> Version | None:
        return self.packages.get("apache-airflow")


class ImageUnknown(Exception):
    """No package list for an image, or the spec's list cannot be read; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.where: tuple[str | int, ...] = ("deployment", "image")  # the spec path at fault


def _data(name: str) -> str:
    return resources.files("airspec").joinpath("data", name).read_text(encoding="utf-8")


@cache
def known_images() -> dict[str, Any]:
    """`data/known-images.json`: the vendored images, the supported provider requests, and
    the provider versions the Airflow tier tests at the newest Airflow."""
    data: dict[str, Any] = json.loads(_data("known-images.json"))
    return data


@cache
def _vendored_pool() -> dict[str, Any]:
    pool: dict[str, Any] = json.loads(_data("distributions.json"))
    return pool


def tested_providers(image: str) -> dict[str, str]:
    """The provider versions airspec tests on a known image ({} for another image)."""
    entry = known_images()["images"].get(image)
    return dict(entry["providers"]) if entry else {}


def parse_freeze(text: str) -> dict[str, Version | None]:
    """`pip freeze` text -> {canonical name: version}; `name @ url` lines count, unversioned."""
    found: dict[str, Version | None] = {}
    for line in text.splitlines():
        body = line.split("#", 1)[0].strip()
        if not body or body.startswith("-"):
            continue
        try:
            req = Requirement(body)
        except ValueError:
            continue
        pins = [s for s in req.specifier if s.operator in ("==", "===")]
        version: Version | None = None
        if pins:
            try:
                version = Version(pins[0].version)
            except InvalidVersion:
                version = None
        found[canonicalize_name(req.name)] = version
    return found


@lru_cache(maxsize=16)
def _known(ref: str) -> ImagePackages | None:
    entry = known_images()["images"].get(ref)
    if entry is None:
        return None
    text = _data(entry["packages"])
    return ImagePackages(
        ref, entry["python"], parse_freeze(text), "airspec:data/" + entry["packages"]
    )


def image_packages(
    ref: str, spec_dir: Path, file: str | None = None, python: str = "3.12"
) -> ImagePackages:
    """The package set of image `ref`: the spec's list when given, else the vendored one.
    Raises ImageUnknown when neither exists or the spec's file cannot be read."""
    if file is None:
        known = _known(ref)
        if known is None:
            raise ImageUnknown(f"airspec has no package list for the image '{ref}'")
        return known
    try:
        text = read_constraints(spec_dir, file)
    except ConstraintsError as exc:
        raise ImageUnknown(f"image package list '{file}': {exc.reason}") from None
    packages = parse_freeze(text)
    if "apache-airflow" not in packages:
        raise ImageUnknown(
            f"image package list '{file}' has no apache-airflow line: it is not a pip freeze of "
            "an Airflow image"
        )
    pool: dict[str, Any] = {}
    sidecar = Path(file).with_name(Path(file).name + ".metadata.json")
    try:
        # read (or found absent) through airspec.inputs: an input of the tree like the list
        raw = inputs.read_if_file(spec_dir, sidecar.as_posix())
        if raw is not None:
            pool = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise ImageUnknown(f"{sidecar.name}: {exc}") from None
    return ImagePackages(ref, python, packages, file, pool)


# --- the closure ----------------------------------------------------------------------------


def marker_environment(python: str) -> dict[str, str]:
    """The image's marker environment: CPython `python` on Linux x86_64 (patch level .0)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python}.0",
        "python_version": python,
        "sys_platform": "linux",
    }


@dataclass(frozen=True)
class _Req:
    key: str  # identifier: name or name[extra,...]
    name: str
    specifier: SpecifierSet
    extras: frozenset[str]
    text: str


@dataclass(frozen=True)
class _Cand:
    name: str
    version: Version
    extras: frozenset[str]
    in_image: bool
    version_text: str = field(default="", compare=False)

    def __post_init__(self) -> None:  # str(Version) is costly: once per candidate
        object.__setattr__(self, "version_text", str(self.version))

    @property
    def key(self) -> str:
        return _key(self.name, self.extras)


def _key(name: str, extras: frozenset[str]) -> str:
    return f"{name}[{','.join(sorted(extras))}]" if extras else name


class InstallConflict(Exception):
    """The requested packages cannot be installed beside the image; `reasons` say why."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Closure:
    """What the install adds to an image: exact `name==version`, sorted, and why each."""

    installs: tuple[tuple[str, str], ...]
    why: Mapping[str, str]  # name -> the requirement that brought it in


class _Provider:
    """resolvelib's provider: the image's distributions are fixed at their versions; anything
    else comes from the metadata pool, newest first."""

    def __init__(self, image: ImagePackages, pins: Mapping[str, SpecifierSet]) -> None:
        self.image = image
        self.pins = pins
        self.env = marker_environment(image.python)
        self.pool = {**_vendored_pool(), **image.pool}
        self.python = Version(f"{image.python}.0")
        self._satisfied: dict[tuple[str, str, str], bool] = {}

    def identify(self, requirement_or_candidate: _Req | _Cand) -> str:
        return requirement_or_candidate.key

    def get_preference(
        self,
        identifier: str,
        resolutions: Any,
        candidates: Any,
        information: Any,
        backtrack_causes: Any,
    ) -> tuple[bool, int]:
        name = identifier.split("[", 1)[0]
        return (name not in self.image.packages, len(self.pool.get(name, {})))

    def _versions(self, name: str) -> list[tuple[Version, bool]]:
        if name in self.image.packages:
            have = self.image.packages[name]
            return [(have, True)] if have is not None else [(Version("0"), True)]
        out = []
        for text, meta in self.pool.get(name, {}).items():
            needs = SpecifierSet(meta.get("requires_python") or "")
            if needs.contains(self.python, prereleases=True):
                out.append((Version(text), False))
        return sorted(out, reverse=True)

    def find_matches(
        self, identifier: str, requirements: Any, incompatibilities: Any
    ) -> list[_Cand]:
        reqs = list(requirements[identifier])
        bad = {c.version for c in incompatibilities[identifier]}
        name, extras = reqs[0].name, reqs[0].extras
        pin = self.pins.get(name, SpecifierSet())
        found = []
        for version, in_image in self._versions(name):
            unversioned = in_image and self.image.packages[name] is None
            if version in bad:
                continue
            if not unversioned and not (
                all(r.specifier.contains(version, prereleases=True) for r in reqs)
                and pin.contains(version, prereleases=True)
            ):
                continue
            found.append(_Cand(name, version, extras, in_image))
        return found

    def is_satisfied_by(self, requirement: _Req, candidate: _Cand) -> bool:
        # resolvelib asks again for every pin after each round: answered once per pair, keyed
        # by text (hashing a SpecifierSet canonicalizes it every time)
        key = (requirement.text, candidate.name, candidate.version_text)
        found = self._satisfied.get(key)
        if found is None:
            unversioned = candidate.in_image and self.image.packages.get(candidate.name) is None
            found = unversioned or requirement.specifier.contains(
                candidate.version, prereleases=True
            )
            self._satisfied[key] = found
        return found

    def _requires(self, cand: _Cand) -> list[str]:
        meta = self.pool.get(cand.name, {}).get(str(cand.version))
        if meta is None:
            for text, entry in self.pool.get(cand.name, {}).items():
                if Version(text) == cand.version:
                    meta = entry
        if meta is None:
            if cand.extras or not cand.in_image:
                raise InstallConflict(
                    [
                        f"airspec has no dependency metadata for {cand.name} {cand.version}"
                        + (f" (extras {', '.join(sorted(cand.extras))})" if cand.extras else "")
                    ]
                )
            return []
        requires: list[str] = meta["requires_dist"]
        return requires

    def get_dependencies(self, candidate: _Cand) -> list[_Req]:
        if candidate.in_image and not candidate.extras:
            return []  # the image is consistent as installed
        out: list[_Req] = []
        if candidate.extras:  # name[x] is name at the same version plus x's requirements
            out.append(_req(f"{candidate.name}=={candidate.version}"))
        for text in self._requires(candidate):
            marker = _marker(text)
            if marker is not None and not _marker_holds(marker, self.env, candidate.extras):
                continue
            if candidate.extras and (marker is None or "extra" not in str(marker)):
                continue  # the base candidate brings these
            out.append(_req(text))
        return out

    def narrow_requirement_selection(
        self,
        identifiers: Any,
        resolutions: Any,
        candidates: Any,
        information: Any,
        backtrack_causes: Any,
    ) -> Any:
        return identifiers


@lru_cache(maxsize=8192)
def _marker(text: str) -> Marker | None:
    return Requirement(text).marker


def _marker_holds(marker: Marker, env: dict[str, str], extras: frozenset[str]) -> bool:
    if "extra" not in str(marker):
        return marker.evaluate(env)
    return any(marker.evaluate({**env, "extra": e}) for e in extras)


@lru_cache(maxsize=8192)
def _req(text: str) -> _Req:
    req = Requirement(text)
    name = canonicalize_name(req.name)
    extras = frozenset(canonicalize_name(e) for e in req.extras)
    return _Req(_key(name, extras), name, req.specifier, extras, text)


@lru_cache(maxsize=64)
def _closure(
    image: ImagePackages, requests: tuple[str, ...], pins: tuple[tuple[str, str], ...]
) -> Closure:
    from resolvelib import BaseReporter, ResolutionError, ResolutionImpossible, Resolver

    provider = _Provider(image, {n: SpecifierSet(s) for n, s in pins})
    try:
        resolver: Resolver[_Req, _Cand, str] = Resolver(provider, BaseReporter())  # type: ignore[arg-type]
        result = resolver.resolve([_req(r) for r in requests], max_rounds=2000)
    except ResolutionImpossible as exc:
        raise InstallConflict(sorted({_why(image, c) for c in exc.causes})) from None
    except ResolutionError:  # ResolutionTooDeep: a pathological set of requirements
        raise InstallConflict(["the resolution did not settle in 2000 rounds"]) from None
    why: dict[str, str] = {}
    for key, cand in result.mapping.items():
        if cand.in_image or "[" in key:
            continue
        parents = sorted(
            {
                "deployment.providers.packages" if i.parent is None else i.parent.name
                for i in result.criteria[key].information
            }
        )
        why[cand.name] = ", ".join(parents)
    installs = tuple(
        sorted(
            (c.name, str(c.version))
            for k, c in result.mapping.items()
            if not c.in_image and "[" not in k
        )
    )
    leaked = AIRFLOW_DISTRIBUTIONS & {n for n, _ in installs}
    if leaked:
        raise InstallConflict(
            [f"the install would add {', '.join(sorted(leaked))}, which the image must provide"]
        )
    return Closure(installs, why)


def _why(image: ImagePackages, cause: Any) -> str:
    req: _Req = cause.requirement
    parent = cause.parent
    by = "deployment.providers.packages" if parent is None else f"{parent.name} {parent.version}"
    have = image.packages.get(req.name, "absent")
    if req.name in image.packages:
        return (
            f"'{req.text}' (from {by}) excludes the image's {req.name} {have}: installing "
            "another version beside it would shadow the image's"
        )
    return f"no version of {req.name} airspec has metadata for satisfies '{req.text}' (from {by})"


def install_closure(
    image: ImagePackages, requests: Sequence[str], constraints: str | None = None
) -> Closure:
    """The exact distributions to add to `image` for `requests` (pip requirement strings),
    honouring a constraints file's `==` pins. Raises InstallConflict."""
    return _closure(image, tuple(requests), _pins(constraints) if constraints else ())


@lru_cache(maxsize=64)
def _pins(constraints: str) -> tuple[tuple[str, str], ...]:
    """The closure cache's key for a constraints text: its `==` pins, sorted (formatting
    ~300 versions took longer than the cache lookup they are the key of, on every call)."""
    return tuple(sorted((n, f"=={v}") for n, v in pinned_versions(constraints).items()))


# --- components ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """A Remote Execution component and the image it runs."""

    name: str  # workers[<name>] | triggerer | dagProcessor
    values_key: tuple[str | int, ...]  # where its image sits in the chart values
    image: str
    packages_file: str | None
    packages_python: str
    spec_path: tuple[str | int, ...]  # where the image (or imagePackages) is set in the spec
    reads_dags: bool


def components(spec: Spec) -> list[Component]:
    """Workers (each), the triggerer and the dag processor, with their images."""
    d = spec.deployment
    base_file = d.image_packages.file if d.image_packages else None
    base_python = d.image_packages.python if d.image_packages else "3.12"
    base_where = ("deployment", "imagePackages" if d.image_packages else "image")
    out = []
    for i, w in enumerate(d.workers):
        own = w.image is not None and w.image != d.image
        wp = w.image_packages
        file = wp.file if wp else (None if own else base_file)
        python = wp.python if wp else (base_python if not own else "3.12")
        where: tuple[str | int, ...] = (
            ("deployment", "workers", i, "imagePackages" if wp else "image") if own else base_where
        )
        out.append(
            Component(
                f"workers[{w.name}]", ("workers", i), w.image or d.image, file, python, where, True
            )
        )
    for name, reads in (("triggerer", False), ("dagProcessor", True)):
        out.append(
            Component(name, (name,), d.image, base_file, base_python, base_where, reads)
        )
    return out


def _scheme(spec: Spec) -> str:
    return "s3" if spec.cloud.aws is not None else "gs"


def class_needs(spec: Spec, component: Component) -> list[ClassNeed]:
    """The classes this component's configuration makes it import (Airflow 3.0.2)."""
    b = spec.backends
    scheme = _scheme(spec)
    needs: list[ClassNeed] = []
    if b.logs is not None:
        needs += [
            ClassNeed(LOGGING_CONFIG_CLASS, "the logging config class", ("backends", "logs")),
            ClassNeed(
                REMOTE_LOG_IO[scheme], f"the remote log IO for {scheme}://", ("backends", "logs")
            ),
        ]
    if b.secrets is not None and b.secrets.type in BACKEND_CLASSES:
        secrets_class = BACKEND_CLASSES[b.secrets.type]
        own_cloud = b.secrets.type == "local-filesystem" or b.secrets.type.startswith(
            "aws-" if scheme == "s3" else "gcp-"
        )
        if own_cloud:  # a backend of the other cloud is AS206's to report
            needs.append(ClassNeed(secrets_class, "the secrets backend", ("backends", "secrets")))
    if b.xcom is not None:
        fs, impl = OBJECT_STORE[scheme]
        needs += [
            ClassNeed(XCOM_BACKEND, "the XCom backend", ("backends", "xcom")),
            ClassNeed(fs, f"the {scheme}:// filesystem of object storage", ("backends", "xcom")),
            ClassNeed(impl, f"the fsspec implementation of {scheme}://", ("backends", "xcom")),
        ]
    if component.reads_dags:
        for i, _ in enumerate(spec.bundles):
            needs.append(ClassNeed(GIT_BUNDLE, "the DAG bundle class", ("bundles", i, "git")))
    return needs


@dataclass(frozen=True)
class Environment:
    """One component's Python environment as deployed."""

    component: Component
    image: ImagePackages
    closure: Closure
    classes: tuple[tuple[ClassNeed, str | None], ...]  # source: "image" | "install" | None

    @property
    def missing(self) -> list[ClassNeed]:
        return [need for need, source in self.classes if source is None]


def environment(
    spec: Spec, component: Component, image: ImagePackages, closure: Closure
) -> Environment:
    installed = {n for n, _ in closure.installs}
    classes = []
    for need in class_needs(spec, component):
        dist = need.distribution
        source = "image" if dist in image.packages else "install" if dist in installed else None
        classes.append((need, source))
    return Environment(component, image, closure, tuple(classes))


def requested_packages(spec: Spec) -> tuple[str, ...]:
    providers = spec.deployment.providers
    return tuple(providers.packages) if providers else ()


def environments(spec: Spec, spec_dir: Path) -> list[Environment]:
    """Every component's environment. Raises ImageUnknown or InstallConflict."""
    providers = spec.deployment.providers
    constraints = None
    if providers is not None and providers.constraints is not None:
        constraints = read_constraints(spec_dir, providers.constraints)
    out = []
    for comp in components(spec):
        try:
            image = image_packages(comp.image, spec_dir, comp.packages_file, comp.packages_python)
        except ImageUnknown as exc:
            exc.where = comp.spec_path
            raise
        closure = install_closure(image, requested_packages(spec), constraints)
        out.append(environment(spec, comp, image, closure))
    return out


def slug(ref: str) -> str:
    """An image reference as a file-name-safe word."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", ref.rsplit("/", 1)[-1]).strip("-")


def requirements_text(installs: Iterable[tuple[str, str]]) -> str:
    """The closure as pinned requirement lines (what `pip install --no-deps -r` takes)."""
    return "".join(f"{n}=={v}\n" for n, v in installs)


def built_image_ref(repository: str, base: str, installs: Sequence[tuple[str, str]]) -> str:
    """The built image's reference: the base image's tag plus a digest of what it adds, so a
    changed closure is a new tag and a rebuild of the same closure the same one."""
    last = base.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1].split("@", 1)[0] if ":" in last else "latest"
    digest = hashlib.sha256(requirements_text(installs).encode()).hexdigest()[:12]
    return f"{repository}:{tag}-airspec-{digest}"
