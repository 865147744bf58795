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

from airspec.aws import issuer_region
from airspec.environments import tested_providers
from airspec.model import (
    CHART_VERSION_PATTERN,
    DEFAULT_AGENT_IMAGE,
    DNS_LABEL_PATTERN,
    GSA_ID_PATTERN,
    TESTED_CHART_VERSION,
    spec_json_schema_text,
)
from airspec.platforms import REMOTE, SOFTWARE
from airspec.regions import check_aws_region, check_gcp_region
from airspec.repo import project_root

PLATFORMS = (REMOTE, SOFTWARE)
CLOUDS = ("aws", "gcp")
IDENTITIES = ("irsa", "pod-identity")
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
  helm: {{chartVersion: "{chart}"}}  # the agents' chart, pinned like the image
  astro:
    # yours: the Deployment's API URL (Astro UI: the Deployment's Details tab)
    apiUrl: https://example.astronomer.run/d1234567/api/v2
    agentTokenSecret: astro-agent-token  # the NAME of the Secret the runbook creates, never the token
    imagePullSecret: astro-registry-secret
  workers:
    - name: default-worker
      queues: [default]
      resources: {{cpu: "1", memory: 2Gi, ephemeralStorage: 1Gi}}
  providers:  # what the agent image lacks is installed into each component at pod start
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
    region: {region}
{identity}    cluster:
      name: {cluster}  # yours
      kubernetesVersion: "1.33"
{issuer}{nodes}    role: {{name: {role}, policyName: {role}Access}}
buckets:
  - name: my-airflow-bucket  # yours: an existing bucket
backends:
  logs: {{bucket: my-airflow-bucket, prefix: {name}/logs}}
{xcom}  secrets: {{type: aws-secrets-manager}}  # or aws-ssm, local-filesystem
{bundles}"""

_GCP = """\
cloud:
  gcp:
    project: my-gcp-project  # yours
    region: {region}
    cluster:
      name: {cluster}  # yours
      location: {region}
{nodes}    serviceAccount: {gsa}  # the Google service account id airspec binds
buckets:
  - name: my-airflow-bucket  # yours: an existing bucket
backends:
  logs: {{bucket: my-airflow-bucket, prefix: {name}/logs}}
{xcom}  secrets: {{type: gcp-secret-manager}}
{bundles}"""

_AWS_NODES = """\
      nodeGroups:  # the cluster airspec creates; remove to use an existing cluster
        - {name: workers, instanceType: m5.xlarge, desiredCapacity: 2, minSize: 1, maxSize: 4}
"""
_GCP_NODES = """\
      nodePools:  # the cluster airspec creates; remove to use an existing cluster
        - {name: workers, machineType: e2-standard-4, minCount: 1, maxCount: 4}
"""
# what each cloud's starter installs; the versions are the ones airspec tests on the default
# agent image (data/known-images.json, refreshed by scripts/refresh_providers.py)
_PACKAGES = {
    "aws": (
        "apache-airflow-providers-amazon[s3fs]",
        "apache-airflow-providers-common-io",
        "apache-airflow-providers-git",
    ),
    "gcp": (
        "apache-airflow-providers-google",
        "apache-airflow-providers-common-io",
        "apache-airflow-providers-git",
    ),
}


def starter_packages(cloud: str) -> tuple[str, ...]:
    """The starter's provider packages, pinned to the versions tested on the default image."""
    tested = tested_providers(DEFAULT_AGENT_IMAGE)
    return tuple(f"{p}=={tested[p.split('[', 1)[0]]}" for p in _PACKAGES[cloud])


_BUNDLES = """\
bundles:  # the DAGs the agents run, from git
  - name: dags
    git:
      repo: {repo}
      ref: main
      credentialsSecret: {name}-git  # remove for a public repository
"""


class StarterError(Exception):
    """The starter spec was not written; the message says why."""


@dataclass(frozen=True)
class Choices:
    """What `airspec init` was told beyond the platform and the cloud."""

    existing_cluster: bool = False
    identity: str | None = None  # aws: irsa | pod-identity; default pod-identity (Software: irsa)
    oidc_issuer: str | None = None
    dags_repo: str | None = None
    chart_version: str | None = None
    region: str | None = None
    cluster: str | None = None

    def checked(self, platform: str, cloud: str) -> Choices:
        """These choices with the defaults filled in; StarterError when they cannot make a
        spec that compiles to a complete runbook without live access."""
        identity = self.identity or (
            "irsa" if platform == SOFTWARE or self.oidc_issuer else "pod-identity"
        )
        if cloud != "aws" and (self.identity or self.oidc_issuer):
            raise StarterError("--identity and --oidc-issuer are for --cloud aws")
        if identity not in IDENTITIES:
            raise StarterError(f"--identity is one of {', '.join(IDENTITIES)}")
        if platform == SOFTWARE and identity != "irsa":
            raise StarterError("Astronomer Software keeps IRSA ('airspec explain AS223')")
        if platform == SOFTWARE and self.dags_repo:
            raise StarterError("--dags-repo is for astro-remote-execution (Software: astro deploy)")
        if self.dags_repo and not _HTTPS_URL.match(self.dags_repo):
            raise StarterError(f"--dags-repo {self.dags_repo!r} is not an https:// URL")
        if self.chart_version and platform == SOFTWARE:
            raise StarterError("--chart-version is the agents' chart: astro-remote-execution only")
        if self.chart_version and not _CHART_VERSION.match(self.chart_version):
            raise StarterError(
                f"--chart-version {self.chart_version!r} is not a version like 1.0.2"
            )
        region = self.region
        if self.oidc_issuer is not None:
            if identity != "irsa":
                raise StarterError("--oidc-issuer is for --identity irsa (Pod Identity needs none)")
            if not _ISSUER.match(self.oidc_issuer):
                raise StarterError(
                    f"--oidc-issuer {self.oidc_issuer!r} is not an EKS OIDC issuer URL "
                    f"(https://oidc.eks.REGION.amazonaws.com/id/ID); {_ISSUER_HOW}"
                )
            found = issuer_region(self.oidc_issuer)
            if region is not None and found != region:
                raise StarterError(f"--oidc-issuer is in region {found}, --region is {region}")
            region = found
        elif identity == "irsa" and self.existing_cluster and platform == REMOTE:
            raise StarterError(
                "IRSA on an existing cluster needs its OIDC issuer, or the runbook stops before "
                f"the IAM role: pass --oidc-issuer URL ({_ISSUER_HOW}), or --identity pod-identity"
            )
        region = region or ("us-east-1" if cloud == "aws" else "us-central1")
        problem = check_aws_region(region) if cloud == "aws" else check_gcp_region(region)
        if problem is not None:
            raise StarterError(
                f"--region: {problem.message}" + (f"; {problem.hint}" if problem.hint else "")
            )
        cluster = self.cluster or "airflow"
        if not _CLUSTER.match(cluster):
            raise StarterError(f"--cluster {cluster!r} is not a cluster name (a DNS label)")
        return Choices(
            existing_cluster=self.existing_cluster or platform == SOFTWARE,
            identity=identity if cloud == "aws" else None,
            oidc_issuer=self.oidc_issuer,
            dags_repo=self.dags_repo,
            chart_version=self.chart_version or TESTED_CHART_VERSION,
            region=region,
            cluster=cluster,
        )


_ISSUER_HOW = (
    "print it with: aws eks describe-cluster --name CLUSTER --region REGION "
    "--query cluster.identity.oidc.issuer --output text"
)
_HTTPS_URL = re.compile(r"^https://[^\s/@]+(/[^\s]*)?$")
_ISSUER = re.compile(r"^https://oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/[A-Za-z0-9]+$")
_CHART_VERSION = re.compile(CHART_VERSION_PATTERN)
_CLUSTER = re.compile(DNS_LABEL_PATTERN)


def default_name(path: PurePosixPath) -> str:
    """`specs/orders.airspec.yaml` -> `orders`; `airflow` when the stem is no DNS label."""
    stem = path.name.removesuffix(".airspec.yaml").removesuffix(".yaml")
    return stem if _DNS_LABEL.match(stem) else "airflow"


def starter_spec(
    platform: str, cloud: str, name: str, path: str, schema: str, choices: Choices | None = None
) -> str:
    """The starter spec text; `schema` is the schema file relative to the spec's folder."""
    if platform not in PLATFORMS or cloud not in CLOUDS:
        raise ValueError(f"no starter for {platform} on {cloud}")
    c = (choices or Choices()).checked(platform, cloud)
    remote = platform == REMOTE
    text = _HEAD.format(schema=schema, path=path, name=name)
    if remote:
        packages = "\n".join(f"      - {p}" for p in starter_packages(cloud))
        text += _REMOTE.format(name=name, packages=packages, chart=c.chart_version)
    else:
        text += _SOFTWARE.format(name=name)
    xcom = (
        f"  xcom: {{bucket: my-airflow-bucket, prefix: {name}/xcom, threshold: 0}}\n"
        if remote
        else ""
    )
    # Software: the platform already runs on its cluster, so no node groups (checked only)
    bundles = _BUNDLES.format(repo=c.dags_repo, name=name) if c.dags_repo else ""
    new_cluster = not c.existing_cluster
    common = {
        "name": name,
        "xcom": xcom,
        "region": c.region,
        "cluster": c.cluster,
        "bundles": bundles,
    }
    if cloud == "aws":
        identity = ""
        if c.identity == "pod-identity":
            identity = "    identity: pod-identity  # EKS Pod Identity (no OIDC issuer needed)\n"
        elif remote:
            identity = "    identity: irsa  # IRSA: the cluster's OIDC provider trusts the role\n"
        role = "".join(part.capitalize() for part in name.split("-"))[:50] or "Airflow"
        issuer = ""
        if c.identity == "irsa":
            pasted = c.oidc_issuer or (
                f"https://oidc.eks.{c.region}.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
            )
            issuer = (
                f"      # aws eks describe-cluster --name {c.cluster} --region {c.region} "
                "--query cluster.identity.oidc.issuer --output text\n"
                f"      oidcIssuer: {pasted}\n"
            )
        nodes = _AWS_NODES if remote and new_cluster else ""
        text += _AWS.format(identity=identity, issuer=issuer, nodes=nodes, role=role, **common)
    else:
        gsa = (name if len(name) >= 6 else f"{name}-airflow")[:30].rstrip("-")
        gsa = gsa if _GSA_ID.match(gsa) else "airflow-agents"
        nodes = _GCP_NODES if remote and new_cluster else ""
        text += _GCP.format(nodes=nodes, gsa=gsa, **common)
    return text


@dataclass(frozen=True)
class Written:
    name: str  # metadata.name
    schema: Path | None  # the schema file, when it was missing and written now


def write_starter(
    path: Path, platform: str, cloud: str, name: str | None = None, choices: Choices | None = None
) -> Written:
    """Write the starter spec at `path` (never over an existing file), and the JSON Schema its
    modeline names (`schemas/airspec.schema.json` in the project) when that is missing."""
    if platform not in PLATFORMS or cloud not in CLOUDS:
        raise StarterError(
            f"--platform is one of {', '.join(PLATFORMS)}; --cloud one of {', '.join(CLOUDS)}"
        )
    (choices or Choices()).checked(platform, cloud)  # refuse before touching the disk
    if path.exists() or path.is_symlink():
        raise StarterError(f"{path} exists; not overwritten (choose another path, or remove it)")
    spec_name = name or default_name(PurePosixPath(path.name))
    folder = path.parent.resolve()
    schema = project_root(folder) / SCHEMA_FILE
    schema_ref = Path(os.path.relpath(schema.resolve(), folder)).as_posix()
    text = starter_spec(platform, cloud, spec_name, path.as_posix(), schema_ref, choices)
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
