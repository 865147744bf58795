"""`airspec init`: a commented starter spec for a platform and a cloud, valid as written.

The example values (account, project, cluster, bucket, URLs) are placeholders in the sense of
"replace me", but each is a value the language accepts, so the file validates and compiles the
moment it is written and every later edit is checked against a working spec.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from airspec.model import DNS_LABEL_PATTERN, GSA_ID_PATTERN, spec_json_schema_text
from airspec.platforms import REMOTE, SOFTWARE
from airspec.repo import project_root

PLATFORMS = (REMOTE, SOFTWARE)
CLOUDS = ("aws", "gcp")
SCHEMA_FILE = "schemas/airspec.schema.json"
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_GSA_ID = re.compile(GSA_ID_PATTERN)

_HEAD = """\
# yaml-language-server: $schema={schema}
# Written by `airspec init`. Replace the example values (marked "yours") with your own, then:
#   airspec validate {path} && airspec compile {path}
# Field reference: `airspec schema`; a diagnostic's meaning: `airspec explain CODE`.
apiVersion: airspec/v1
kind: AirflowDeployment
metadata:
  name: {name}  # a DNS label: names out/{name}/ and the live objects
"""

_REMOTE = """\
deployment:
  platform: astro-remote-execution
  namespace: {name}
  astro:
    apiUrl: https://example.astronomer.run/d1234567/api/v2  # yours: the Deployment's API URL
    agentTokenSecret: astro-agent-token  # the NAME of a Kubernetes Secret, never the token
    imagePullSecret: astro-registry-secret
  workers:
    - name: default-worker
      queues: [default]
      resources: {{cpu: "1", memory: 2Gi, ephemeralStorage: 1Gi}}
  providers:  # pip-installed into the workers
    packages:
{packages}
"""

_SOFTWARE = """\
deployment:
  platform: astronomer-software
  software:
    releaseName: {name}  # yours: the Deployment's release name
    platformChartVersion: "0.37.4"  # yours: `helm list -n astronomer` shows the chart version
    executor: CeleryExecutor
"""

_AWS = """\
cloud:
  aws:
    accountId: "123456789012"  # yours, quoted
    region: us-east-1
{identity}    cluster:
      name: airflow  # yours
      kubernetesVersion: "1.33"
{issuer}{nodes}    role: {{name: {role}, policyName: {role}Access}}
buckets:
  - name: my-airflow-bucket  # yours: an existing bucket
backends:
  logs: {{bucket: my-airflow-bucket, prefix: {name}/logs}}
{xcom}  secrets: {{type: aws-secrets-manager}}  # or aws-ssm, local-filesystem
"""

_GCP = """\
cloud:
  gcp:
    project: my-gcp-project  # yours
    region: us-central1
    cluster:
      name: airflow  # yours
      location: us-central1
{nodes}    serviceAccount: {gsa}  # the Google service account id airspec binds
buckets:
  - name: my-airflow-bucket  # yours: an existing bucket
backends:
  logs: {{bucket: my-airflow-bucket, prefix: {name}/logs}}
{xcom}  secrets: {{type: gcp-secret-manager}}
"""

_AWS_NODES = """\
      nodeGroups:  # the cluster airspec creates; remove to use an existing cluster
        - {name: workers, instanceType: m5.xlarge, desiredCapacity: 2, minSize: 1, maxSize: 4}
"""
_GCP_NODES = """\
      nodePools:  # the cluster airspec creates; remove to use an existing cluster
        - {name: workers, machineType: e2-standard-4, minCount: 1, maxCount: 4}
"""
_PACKAGES = {
    "aws": (
        "apache-airflow-providers-amazon[s3fs]==9.9.0",
        "apache-airflow-providers-common-io==1.6.1",
    ),
    "gcp": ("apache-airflow-providers-google==22.8.0", "apache-airflow-providers-common-io==1.6.1"),
}


def default_name(path: PurePosixPath) -> str:
    """`specs/orders.airspec.yaml` -> `orders`; `airflow` when the stem is no DNS label."""
    stem = path.name.removesuffix(".airspec.yaml").removesuffix(".yaml")
    return stem if _DNS_LABEL.match(stem) else "airflow"


def starter_spec(platform: str, cloud: str, name: str, path: str, schema: str) -> str:
    """The starter spec text; `schema` is the schema file relative to the spec's folder."""
    if platform not in PLATFORMS or cloud not in CLOUDS:
        raise ValueError(f"no starter for {platform} on {cloud}")
    remote = platform == REMOTE
    text = _HEAD.format(schema=schema, path=path, name=name)
    if remote:
        packages = "\n".join(f"      - {p}" for p in _PACKAGES[cloud])
        text += _REMOTE.format(name=name, packages=packages)
    else:
        text += _SOFTWARE.format(name=name)
    xcom = (
        f"  xcom: {{bucket: my-airflow-bucket, prefix: {name}/xcom, threshold: 0}}\n"
        if remote
        else ""
    )
    # Software: the platform already runs on its cluster, so no node groups (checked only)
    if cloud == "aws":
        identity = (
            "    identity: pod-identity  # EKS Pod Identity; irsa for an existing IRSA setup\n"
            if remote
            else ""
        )
        role = "".join(part.capitalize() for part in name.split("-"))[:50] or "Airflow"
        issuer = (
            ""
            if remote
            else "      # yours: aws eks describe-cluster --name airflow --query cluster.identity.oidc.issuer\n"
            "      oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE\n"
        )
        text += _AWS.format(
            identity=identity,
            issuer=issuer,
            nodes=_AWS_NODES if remote else "",
            role=role,
            name=name,
            xcom=xcom,
        )
    else:
        gsa = (name if len(name) >= 6 else f"{name}-airflow")[:30].rstrip("-")
        gsa = gsa if _GSA_ID.match(gsa) else "airflow-agents"
        text += _GCP.format(nodes=_GCP_NODES if remote else "", gsa=gsa, name=name, xcom=xcom)
    return text


class StarterError(Exception):
    """The starter spec was not written; the message says why."""


@dataclass(frozen=True)
class Written:
    name: str  # metadata.name
    schema: Path | None  # the schema file, when it was missing and written now


def write_starter(path: Path, platform: str, cloud: str, name: str | None = None) -> Written:
    """Write the starter spec at `path` (never over an existing file), and the JSON Schema its
    modeline names (`schemas/airspec.schema.json` in the project) when that is missing."""
    if platform not in PLATFORMS or cloud not in CLOUDS:
        raise StarterError(
            f"--platform is one of {', '.join(PLATFORMS)}; --cloud one of {', '.join(CLOUDS)}"
        )
    if path.exists() or path.is_symlink():
        raise StarterError(f"{path} exists; not overwritten (choose another path, or remove it)")
    spec_name = name or default_name(PurePosixPath(path.name))
    folder = path.parent.resolve()
    schema = project_root(folder) / SCHEMA_FILE
    schema_ref = Path(os.path.relpath(schema.resolve(), folder)).as_posix()
    text = starter_spec(platform, cloud, spec_name, path.as_posix(), schema_ref)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": refuse a file made meanwhile
            f.write(text)
        if schema.exists():
            return Written(spec_name, None)
        schema.parent.mkdir(parents=True, exist_ok=True)
        schema.write_text(spec_json_schema_text(), encoding="utf-8")
    except OSError as exc:
        raise StarterError(f"cannot write {exc.filename or path}: {exc.strerror or exc}") from None
    return Written(spec_name, schema)
