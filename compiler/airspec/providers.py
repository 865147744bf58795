"""Provider packages: what each backend needs, and the pip constraints file they install with."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
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


@lru_cache(maxsize=8192)  # specs share constraints files: each line is parsed once per process
def parse_requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


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
        if req is None or req.url:
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator == "==":
            try:
                pins[canonicalize_name(req.name)] = Version(specs[0].version)
            except InvalidVersion:
                continue
    return MappingProxyType(pins)
