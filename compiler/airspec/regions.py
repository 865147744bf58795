"""Cloud locations airspec knows: AWS regions per partition and GCP regions and zones.

The lists are vendored in `regions.json` beside this module, with their source: AWS from
botocore's `data/partitions.json` (the locked botocore), GCP from Google's published zone
list. `scripts/refresh_regions.py` rewrites the file (the README says how); a test fails when
the AWS part and the locked botocore disagree. A name not in the lists is refused with the
closest known names, compared case-insensitively.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SUPPORTED_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")  # the partitions aws.arn() builds


@functools.cache
def _data() -> dict[str, Any]:
    text = resources.files("airspec").joinpath("regions.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def aws_regions() -> dict[str, str]:
    """Every AWS region botocore knows, with its partition."""
    parts = _data()["aws"]["partitions"]
    return {r: p for p, part in parts.items() for r in part["regions"]}


def aws_dns_suffix(partition: str) -> str:
    """`amazonaws.com`, `amazonaws.com.cn`, ...: the domain of the partition's endpoints."""
    suffix: str = _data()["aws"]["partitions"][partition]["dnsSuffix"]
    return suffix


def gcp_zones() -> dict[str, list[str]]:
    """GCP region -> its zones (`us-central1` -> `us-central1-a`, ...)."""
    regions = _data()["gcp"]["regions"]
    return {r: [f"{r}-{z}" for z in letters] for r, letters in regions.items()}


def source(cloud: str) -> str:
    """Where the vendored list of `cloud` comes from."""
    text: str = _data()[cloud]["source"]
    return text


def suggest(value: str, known: list[str], n: int = 3) -> list[str]:
    """The known names closest to `value`: an exact match ignoring case first, then
    difflib's closest (case-insensitive)."""
    lowered = {k.lower(): k for k in known}
    if value.lower() in lowered:
        return [lowered[value.lower()]]
    close = difflib.get_close_matches(value.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[c] for c in close]


def did_you_mean(value: str, known: list[str]) -> str:
    close = suggest(value, known)
    if not close:
        return ""
    return "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"


@dataclass(frozen=True)
class Unknown:
    """Why a location is refused, and the hint."""

    message: str
    hint: str


def check_aws_region(region: str) -> Unknown | None:
    """None for a region in a partition airspec supports; else what is wrong with it."""
    known = aws_regions()
    partition = known.get(region)
    if partition is None:
        hint = did_you_mean(region, list(known)) or (
            "see `aws ec2 describe-regions --all-regions`; the list airspec checks against "
            f"is {source('aws')}"
        )
        return Unknown(f"'{region}' is not an AWS region", hint)
    if partition not in SUPPORTED_PARTITIONS:
        return Unknown(
            f"'{region}' is in the AWS partition '{partition}', which airspec does not build "
            "ARNs for",
            f"use a region of {', '.join(SUPPORTED_PARTITIONS)}",
        )
    return None


def check_gcp_region(region: str) -> Unknown | None:
    zones = gcp_zones()
    if region in zones:
        return None
    hint = did_you_mean(region, list(zones)) or (
        f"see `gcloud compute regions list`; the list airspec checks against is {source('gcp')}"
    )
    return Unknown(f"'{region}' is not a GCP region", hint)


def check_gcp_location(location: str) -> Unknown | None:
    """A GKE location: a region, or a zone of one."""
    zones = gcp_zones()
    every = [*zones, *(z for zs in zones.values() for z in zs)]
    if location in every:
        return None
    region, _, _ = location.rpartition("-")
    if region in zones:  # a known region, an unknown zone letter
        return Unknown(
            f"'{location}' is not a zone of {region}",
            f"its zones are {', '.join(zones[region])} (or the region itself, for a regional "
            "cluster)",
        )
    hint = did_you_mean(location, every) or (
        f"see `gcloud compute zones list`; the list airspec checks against is {source('gcp')}"
    )
    return Unknown(f"'{location}' is neither a GCP region nor a zone", hint)


# The spec fields holding a location: the schema stage leaves their format to AS230, which
# knows the names and suggests the closest one.
SPEC_FIELDS = (
    ("cloud", "aws", "region"),
    ("cloud", "gcp", "region"),
    ("cloud", "gcp", "cluster", "location"),
)
