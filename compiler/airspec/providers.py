"""Provider packages: what each backend needs, and the pip constraints file they install with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from airspec.model import Spec

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


def parse_requirement(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def read_constraints(spec_dir: Path, relative: str) -> str:
    """The constraints file's text; raises OSError or UnicodeDecodeError."""
    return (spec_dir / relative).read_bytes().decode("utf-8")


def pinned_versions(constraints: str) -> dict[str, Version]:
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
    return pins
