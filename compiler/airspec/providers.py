"""Provider packages: what each backend needs, and the pip constraints file they install with."""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from packaging.version import InvalidVersion, Version

from airspec import inputs
from airspec.credentials import credential_in
from airspec.model import Spec
from airspec.repo import in_spec_repository

AMAZON = "apache-airflow-providers-amazon"
COMMON_IO = "apache-airflow-providers-common-io"
GOOGLE = "apache-airflow-providers-google"


@dataclass(frozen=True)
class Need:
    """A package (with extras) a backend needs, and which spec path needs it."""

    package: str
    extras: frozenset[str]
    why: str
    path: tuple[str, ...]


def provider_needs(spec: Spec) -> list[Need]:
    """Packages the workers must have for the backends the spec configures."""
    needs: list[Need] = []
    aws = spec.cloud.aws is not None
    b = spec.backends
    if b.logs is not None:
        if aws:
            needs.append(Need(AMAZON, frozenset(), "S3 remote logging", ("backends", "logs")))
        else:
            needs.append(Need(GOOGLE, frozenset(), "GCS remote logging", ("backends", "logs")))
    if b.xcom is not None:
        needs.append(
            Need(COMMON_IO, frozenset(), "the object storage XCom backend", ("backends", "xcom"))
        )
        if aws:
            needs.append(
                Need(AMAZON, frozenset({"s3fs"}), "XCom on S3 (s3fs)", ("backends", "xcom"))
            )
        else:  # the Google provider depends on gcsfs
            needs.append(Need(GOOGLE, frozenset(), "XCom on GCS (gcsfs)", ("backends", "xcom")))
    # a backend of the other cloud is AS206's to report, not a missing package
    if b.secrets is not None and b.secrets.type.startswith("aws-" if aws else "gcp-"):
        package = AMAZON if aws else GOOGLE
        needs.append(
            Need(
                package,
                frozenset(),
                f"the {b.secrets.type} secrets backend",
                ("backends", "secrets"),
            )
        )
    return needs


@dataclass(frozen=True)
class Requirement:
    """A pip requirement line (PEP 508) as airspec uses it."""

    name: str  # as written
    extras: frozenset[str]
    url: str | None
    specifier: str  # e.g. "==9.9.0" or ">=1,<2"; "" for none
    pin: Version | None  # the version of a sole `==` specifier without a wildcard


def canonical_name(name: str) -> str:
    """A distribution name as pip compares it (PEP 503: runs of -_. are one '-', lower case),
    as packaging.utils.canonicalize_name does."""
    return _SEPARATORS.sub("-", name).lower()


_SEPARATORS = re.compile(r"[-_.]+")
# The lines nearly every spec and constraints file holds — `name[extras]==version` and
# `name @ url` — in a form packaging certainly reads the same way (tests/test_limits.py
# compares both on generated lines); any other line goes to packaging.requirements, whose
# import (~40 ms: its specifier and wheel-tag modules) a plain compile then never pays.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PLAIN = re.compile(
    rf"({_NAME})(?:\[\s*((?:{_NAME}\s*,\s*)*{_NAME})?\s*\])?"
    r"(?:\s*==\s*([0-9][0-9A-Za-z.!+_-]*)|\s*@\s*([A-Za-z][A-Za-z0-9+.-]*://[^\s;]+))"
)


@lru_cache(maxsize=8192)  # specs share constraints files: each line is parsed once per process
def parse_requirement(text: str) -> Requirement | None:
    """`text` as a requirement, or None when pip would refuse it."""
    plain = _PLAIN.fullmatch(text)
    if plain is not None:
        name, extras, version, url = plain.groups()
        extra = frozenset(e.strip() for e in extras.split(",")) if extras else frozenset()
        if url is not None:
            return Requirement(name, extra, url, "", None)
        try:
            return Requirement(name, extra, None, f"=={version}", Version(version))
        except InvalidVersion:
            pass  # packaging decides
    return _parse_with_packaging(text)


def _parse_with_packaging(text: str) -> Requirement | None:
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Pep508

    try:
        req = Pep508(text)
    except InvalidRequirement:
        return None
    specs = list(req.specifier)
    pin = None
    if len(specs) == 1 and specs[0].operator == "==" and not specs[0].version.endswith("*"):
        try:
            pin = Version(specs[0].version)
        except InvalidVersion:
            pin = None
    return Requirement(req.name, frozenset(req.extras), req.url, str(req.specifier), pin)


def allows(req: Requirement, version: Version) -> bool:
    """Whether the requirement's version specifier admits `version`, pre-releases included."""
    if req.pin is not None:  # PEP 440 `==`: a pin without a local label ignores the other's
        return req.pin == (version if req.pin.local else Version(version.public))
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(req.specifier).contains(version, prereleases=True)


MAX_CONSTRAINTS_BYTES = 1 << 20  # Airflow's own constraints file is about 30 KB


class ConstraintsError(Exception):
    """The constraints file must not become an artifact; `reason` says why (never its text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_constraints(spec_dir: Path, relative: str) -> str:
    """The constraints file's text, which is copied into a committed ConfigMap; raises
    ConstraintsError unless it is a regular file inside the spec's repository, at most
    MAX_CONSTRAINTS_BYTES of UTF-8, holding only requirement lines (`name==version`, `name @ url`) and comments,
    and no credential (an index URL with a token would otherwise land in out/)."""
    path = (spec_dir / relative).resolve()
    if not in_spec_repository(spec_dir, path):
        raise ConstraintsError(
            "is outside the spec's repository; the file is copied into out/, so only a file "
            "committed beside the spec may be used"
        )
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConstraintsError("is not a regular file")
        if info.st_size > MAX_CONSTRAINTS_BYTES:
            raise ConstraintsError(f"is over {MAX_CONSTRAINTS_BYTES:,} bytes")
        text = inputs.read(spec_dir, relative).decode("utf-8")
    except UnicodeDecodeError:
        raise ConstraintsError("is not UTF-8 text") from None
    except OSError as exc:
        raise ConstraintsError(exc.strerror or str(exc)) from None
    problem = _content_problem(text)
    if problem is not None:
        raise ConstraintsError(problem)
    return text


@lru_cache(maxsize=64)
def _content_problem(text: str) -> str | None:
    """Why a constraints file's text may not be copied into out/, or None."""
    for number, line in enumerate(text.splitlines(), 1):
        what = credential_in(line)
        if what is not None:
            return f"line {number} looks like {what}; it would be committed"
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        req = parse_requirement(body)
        if req is None or body.startswith("-"):
            return (
                f"line {number} is not a requirement line such as 'name==version' (options "
                "such as --extra-index-url are not copied into the cluster)"
            )
    return None


@lru_cache(maxsize=64)
def pinned_versions(constraints: str) -> Mapping[str, Version]:
    """`name==version` pins of a constraints file, by canonical name (URLs and options skipped)."""
    pins: dict[str, Version] = {}
    for line in constraints.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = parse_requirement(line)
        if req is None or req.url or req.pin is None:
            continue
        pins[canonical_name(req.name)] = req.pin
    return MappingProxyType(pins)
