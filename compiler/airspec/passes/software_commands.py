"""Lower an Astronomer Software spec to the Astro CLI commands that give a Deployment its role.

`software/astro-commands.sh create` runs `astro deployment create` with the label, executor,
release name and `--cloud-role` (the IAM role ARN on AWS, the GSA email on GCP);
`update <deployment-id>` runs `astro deployment update <id> --cloud-role` for an existing
Deployment; `verify` checks with kubectl that each service account that needs cloud access
carries the annotation. Every value is shell-quoted.
"""

from __future__ import annotations

import shlex

from airspec.artifact import Artifact, ArtifactKind, Context
from airspec.resolved import ResolvedSpec

PATH = "software/astro-commands.sh"
EXECUTOR_FLAG = {
    "CeleryExecutor": "celery",
    "KubernetesExecutor": "kubernetes",
    "LocalExecutor": "local",
}


def create_command(r: ResolvedSpec) -> list[str]:
    """The argv of `astro deployment create` for this spec."""
    sw = r.spec.deployment.software
    assert sw is not None
    argv = [
        "astro",
        "deployment",
        "create",
        "--label",
        sw.label or r.name,
        "--executor",
        EXECUTOR_FLAG[sw.executor],
        "--release-name",
        sw.release_name,
        "--cloud-role",
        r.cloud_identity,
    ]
    if sw.workspace_id:
        argv += ["--workspace-id", sw.workspace_id]
    return argv


def astro_commands(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """software/astro-commands.sh: create | update DEPLOYMENT_ID | verify."""
    if not r.is_software:
        return []
    q = shlex.quote
    names = " ".join(q(sa.name) for sa in r.identities)
    body = f"""set -euo pipefail

CLOUD_ROLE={q(r.cloud_identity)}
NAMESPACE={q(r.namespace)}
SERVICE_ACCOUNTS=({names})

usage() {{
  echo "usage: $0 create | update DEPLOYMENT_ID | verify" >&2
  exit 64
}}

case "${{1:-}}" in
  create)
    {" ".join(q(a) for a in create_command(r))}
    ;;
  update)
    [ $# -eq 2 ] || usage
    astro deployment update "$2" --cloud-role "$CLOUD_ROLE"
    ;;
  verify)
    status=0
    for sa in "${{SERVICE_ACCOUNTS[@]}}"; do
      got=$(kubectl get serviceaccount "$sa" --namespace "$NAMESPACE" -o jsonpath={q(r.annotation_jsonpath)})
      if [ "$got" = "$CLOUD_ROLE" ]; then
        echo "ok: $sa"
      else
        echo "MISSING: $sa is annotated ${{got:-with nothing}}, want $CLOUD_ROLE" >&2
        status=1
      fi
    done
    kubectl describe serviceaccount "${{SERVICE_ACCOUNTS[0]}}" --namespace "$NAMESPACE"
    exit "$status"
    ;;
  *)
    usage
    ;;
esac
"""
    return [Artifact(PATH, ArtifactKind.SOFTWARE_ASTRO_COMMANDS, "shell", body)]
