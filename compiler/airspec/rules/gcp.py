"""Rules about the GCP block: cluster location and Secret Manager secret ids."""

from __future__ import annotations

import re
from collections.abc import Iterator

from airspec.codes import LOCATION_REGION, SECRET_ID_PREFIX, make, rule
from airspec.diagnostics import Diagnostic
from airspec.regions import check_gcp_location, check_gcp_region
from airspec.rules.context import RuleContext

_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]+$")


@rule(SECRET_ID_PREFIX, "secret-id-prefix")
def secret_manager_prefixes(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A gcp-secret-manager prefix holds a character a Secret Manager secret id cannot.

    The Google provider's backend reads the secret `<prefix>-<conn_id>`, and secret ids
    are letters, digits, `_` and `-` only: `airflow/connections` (the AWS convention)
    would match no secret. That backend's defaults are `airflow-connections` and
    `airflow-variables`.
    """
    spec = ctx.spec
    assert spec is not None
    secrets = spec.backends.secrets
    if secrets is None or secrets.type != "gcp-secret-manager":
        return
    for key, value in secrets.prefixes().items():
        if not _SECRET_ID.match(value):
            yield make(
                SECRET_ID_PREFIX,
                ctx.at("backends", "secrets", key),
                f"'{value}' cannot start a Secret Manager secret id",
                f"use letters, digits, '_' and '-' only, e.g. {value.replace('/', '-')!r}",
            )


@rule(LOCATION_REGION, "gke-location-region")
def cluster_in_region(ctx: RuleContext) -> Iterator[Diagnostic]:
    """The GKE cluster's location is neither `cloud.gcp.region` nor a zone in it.

    A regional cluster's location is the region (`us-central1`); a zonal cluster's is one
    of its zones (`us-central1-a`). Anything else was probably copied from another spec.
    """
    spec = ctx.spec
    assert spec is not None
    g = spec.cloud.gcp
    if g is None:
        return
    location = g.cluster.location
    if location == g.region or location.startswith(g.region + "-"):
        return
    if check_gcp_region(g.region) or check_gcp_location(location):
        return  # AS230 names the unknown one
    yield make(
        LOCATION_REGION,
        ctx.at("cloud", "gcp", "cluster", "location"),
        f"cluster location '{location}' is not in region '{g.region}'",
        f"use '{g.region}' (regional) or one of its zones, e.g. '{g.region}-a'",
    )
