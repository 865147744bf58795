"""Spec rules: each module registers its checks (and their docs) in the code table."""

from __future__ import annotations

from airspec.codes import REGISTRY, Rule
from airspec.rules import (
    aws,
    gcp,
    iam_size,
    locations,
    names,
    platform,
    providers,
    references,
    scheduling,
    secrets,
)

_MODULES = (secrets, references, platform, aws, gcp, providers, names, scheduling, iam_size, locations)


def all_rules() -> dict[str, Rule]:
    """Every code in the table, with the checks of every rule module registered."""
    return dict(sorted(REGISTRY.items()))
