"""Lower an Astronomer Software spec to the platform values fragment that enables cloud roles.

With `serviceAccountAnnotationKey` set, Houston annotates a Deployment's service accounts
with `<key>: <cloud role>` when the Deployment is created or updated with `--cloud-role`.
`manualReleaseNames` lets `astro deployment create --release-name` pin the release name, so
the service account names in the trust policy / bindings are known before the Deployment
exists.
"""

from __future__ import annotations

from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec

PATH = "software/houston-config.yaml"


def houston_config(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """software/houston-config.yaml: merge into the platform's Helm values."""
    if not r.is_software:
        return []
    deployments = {"manualReleaseNames": True, "serviceAccountAnnotationKey": r.annotation_key}
    content = {"astronomer": {"houston": {"config": {"deployments": deployments}}}}
    return [
        Artifact(
            PATH,
            ArtifactKind.SOFTWARE_HOUSTON_CONFIG,
            "yaml",
            content,
            notes=("merge into the Astronomer platform's values: helm upgrade ... -f this file",),
        )
    ]
