"""The spec language v1 as frozen pydantic models. Field names (camelCase) are the contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from airspec import SPEC_API_VERSION, codes

API_VERSION = SPEC_API_VERSION
DEFAULT_AGENT_IMAGE = (
    "images.astronomer.cloud/baseimages/astro-remote-execution-agent:"
    "3.0-4-python-3.12-astro-agent-1.0.2"
)
# The astronomer/astro-remote-execution-agent chart version the runbook installs when the spec
# pins none (with warning AS231): the version this project's example specs pin and its tests
# check the values against (the chart's defaults in tests/reference/webinar/values.yaml).
TESTED_CHART_VERSION = "1.0.2"
CHART_VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$"


def _fmt(code: str, pattern: str, description: str, **kw: Any) -> Any:
    """A string field constrained by `pattern`; a mismatch is reported with `code`."""
    return Field(
        pattern=pattern,
        description=description,
        json_schema_extra={"x-airspec-code": code, "x-airspec-format": description},
        **kw,
    )


DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
GSA_ID_PATTERN = r"^[a-z]([-a-z0-9]{4,28}[a-z0-9])$"
DnsLabel = Annotated[
    str,
    _fmt(
        codes.NOT_DNS_SAFE,
        DNS_LABEL_PATTERN,
        "a DNS label (RFC 1123): lowercase letters, digits, '-'; at most 63 characters",
        max_length=63,
    ),
]
SecretName = Annotated[
    str,
    _fmt(
        codes.NOT_DNS_SAFE,
        r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$",
        "the name of a Kubernetes Secret (never its value)",
        max_length=253,
    ),
]
HttpsUrl = Annotated[
    str,
    _fmt(codes.BAD_FORMAT, r"^https://[^\s/@]+(/[^\s]*)?$", "an https:// URL without credentials"),
]
AccountId = Annotated[
    str,
    _fmt(codes.BAD_ACCOUNT_ID, r"^[0-9]{12}$", "an AWS account id: 12 digits, as a quoted string"),
]
AwsRegion = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$",
        "an AWS region, e.g. us-east-1",
    ),
]
IamRoleName = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[A-Za-z0-9+=,.@_-]{1,64}$",
        "an IAM role name: 1-64 letters, digits and '+=,.@_-'",
    ),
]
IamPolicyName = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[A-Za-z0-9+=,.@_-]{1,128}$",
        "an IAM policy name: 1-128 letters, digits and '+=,.@_-'",
    ),
]
RoleArn = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$",
        "an IAM role ARN",
    ),
]
# The union of S3's and GCS's characters and lengths; AS221 (rules/names.py) applies the
# rules of the spec's cloud (S3: 3-63, no '_'; GCS: '_' allowed, dotted names up to 222).
BucketName = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[a-z0-9][a-z0-9._-]{1,253}[a-z0-9]$",
        "a bucket name: lowercase letters, digits, '.', '-' (GCS also '_'), beginning and "
        "ending with a letter or digit",
    ),
]
K8sVersion = Annotated[
    str,
    _fmt(codes.BAD_FORMAT, r"^1\.[0-9]{1,2}$", 'a Kubernetes minor version, quoted, e.g. "1.33"'),
]
EksClusterName = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$",
        "an EKS cluster name (1-100 characters)",
    ),
]
OidcIssuer = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^https://oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/id/[A-Za-z0-9]+$",
        "the cluster's OIDC issuer URL (aws eks describe-cluster ... identity.oidc.issuer)",
    ),
]
Prefix = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$",
        "an object key prefix without leading or trailing '/', e.g. logs",
    ),
]
SecretPrefix = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^/?[A-Za-z0-9!_.*'()+=@-]+(/[A-Za-z0-9!_.*'()+=@-]+)*$",
        "a secret name prefix without a trailing '/' (aws-ssm: a parameter path, "
        "e.g. /airflow/connections)",
    ),
]
Quantity = Annotated[
    str | int | float,
    Field(description='a Kubernetes resource quantity, e.g. "500m", "2Gi"'),
]
ImageRef = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[a-z0-9]([a-z0-9._/:@-]*[a-zA-Z0-9_.-])?$",
        "a container image reference",
    ),
]
GcpProjectId = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$",
        "a GCP project id: 6-30 lowercase letters, digits, '-', starting with a letter",
    ),
]
GsaId = Annotated[
    str,
    _fmt(
        codes.BAD_FORMAT,
        GSA_ID_PATTERN,
        "a Google service account id: 6-30 lowercase letters, digits, '-'",
    ),
]
GcpRegion = Annotated[
    str, _fmt(codes.BAD_FORMAT, r"^[a-z]+-[a-z]+[0-9]+$", "a GCP region, e.g. us-central1")
]
GcpLocation = Annotated[
    str,
    _fmt(codes.BAD_FORMAT, r"^[a-z]+-[a-z]+[0-9]+(-[a-z])?$", "a GKE location: a region or a zone"),
]
# Each secrets service keeps its own naming: Secret Manager ids cannot hold '/', and SSM
# hierarchical parameter names must begin with '/'.
DEFAULT_SECRET_PREFIXES: dict[str, dict[str, str]] = {
    "gcp-secret-manager": {
        "connectionsPrefix": "airflow-connections",
        "variablesPrefix": "airflow-variables",
    },
    "aws-ssm": {
        "connectionsPrefix": "/airflow/connections",
        "variablesPrefix": "/airflow/variables",
    },
}
Count = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=to_camel,
        strict=True,
    )


class Metadata(_Model):
    name: DnsLabel = Field(description="names out/<name>/; a DNS label")
    labels: dict[str, str] = Field(default_factory=dict, description="labels for every object")


class Astro(_Model):
    api_url: HttpsUrl = Field(
        description="the Astro Deployment's API URL (astroDeploymentAPIURL in the values.yaml "
        "the Astro UI offers under the Deployment's Remote Agents tab)"
    )
    agent_token_secret: SecretName = Field(
        description="the NAME of the Kubernetes Secret holding the agent token (key 'token'); "
        "the runbook creates or updates it from $ASTRO_AGENT_TOKEN, never from the spec"
    )
    image_pull_secret: SecretName = Field(
        description="the NAME of the docker-registry Secret for images.astronomer.cloud; the "
        "runbook creates or updates it from $ASTRO_REGISTRY_PASSWORD"
    )
    log_reader_role_arn: RoleArn | None = Field(
        default=None, description="Astro's identity that reads task logs (optional)"
    )


class Resources(_Model):
    cpu: Quantity = "1"
    memory: Quantity = "2Gi"
    ephemeral_storage: Quantity = "1Gi"


class ImagePackagesFile(_Model):
    """An image's package set, for an image airspec does not know."""

    file: str = Field(
        description="the image's `pip freeze` (docker run --rm --entrypoint pip IMAGE freeze), "
        "committed beside the spec; relative to the spec file"
    )
    python: Annotated[
        str, _fmt(codes.BAD_FORMAT, r"^3\.[0-9]{1,2}$", 'the image\'s Python, e.g. "3.12"')
    ] = Field(default="3.12", description="the image's Python version (X.Y)")


class Worker(_Model):
    name: DnsLabel
    queues: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = Field(
        default_factory=lambda: ["default"], min_length=1
    )
    replicas: Count = 1
    sync_slots: Positive = 20
    resources: Resources = Field(default_factory=Resources)
    image: ImageRef | None = None
    image_packages: ImagePackagesFile | None = Field(
        default=None, description="the package set of this worker's own image, when airspec "
        "does not know it"
    )
    node_selector: dict[str, str] = Field(default_factory=dict)


class Triggerer(_Model):
    replicas: Count = 1
    async_slots: Positive = 1000
    resources: Resources = Field(default_factory=Resources)


class DagProcessor(_Model):
    resources: Resources = Field(default_factory=Resources)


class Providers(_Model):
    constraints: str | None = Field(
        default=None,
        description="pip constraints file, relative to the spec file: its pins bind the "
        "computed install, and the init containers mount it",
    )
    packages: list[str] = Field(
        default_factory=list,
        description="pip requirements the components need beyond the image; airspec installs "
        "the exact closure of what the image lacks (--no-deps)",
    )
    install: Literal["init-container", "image"] = Field(
        default="init-container",
        description="init-container: each component pip-installs at pod start (needs egress to "
        "the package index); image: a Dockerfile FROM the agent image with the providers "
        "built in, for clusters without egress",
    )
    image_repository: ImageRef | None = Field(
        default=None,
        description="install: image — the repository the built image is pushed to "
        "(e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/airflow-agent); the tag is derived",
    )

    @model_validator(mode="after")
    def _repository_for_image(self) -> Providers:
        if self.install == "image" and self.image_repository is None:
            raise ValueError("install: image needs imageRepository (where the image is pushed)")
        if self.install != "image" and self.image_repository is not None:
            raise ValueError("imageRepository is for install: image")
        return self


class Software(_Model):
    release_name: DnsLabel = Field(
        description="the Deployment's release name; its namespace is astronomer-<releaseName>"
    )
    executor: Literal["CeleryExecutor", "KubernetesExecutor", "LocalExecutor"] = "CeleryExecutor"
    label: str | None = Field(
        default=None, max_length=64, description="the Deployment's label; default metadata.name"
    )
    workspace_id: (
        Annotated[
            str, _fmt(codes.BAD_FORMAT, r"^[a-z0-9]{10,40}$", "an Astronomer Software workspace id")
        ]
        | None
    ) = Field(default=None, description="the workspace to create the Deployment in")
    platform_chart_version: Annotated[
        str,
        _fmt(
            codes.BAD_FORMAT,
            r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$",
            'the Astronomer platform chart version installed now, e.g. "0.37.4"',
        ),
    ] = Field(
        description="the version of the astronomer/astronomer chart the platform runs; the "
        "runbook's helm upgrade pins it so that merging Houston's config upgrades nothing"
    )
    platform_release_name: DnsLabel = Field(
        default="astronomer", description="the Helm release of the Astronomer platform"
    )
    platform_namespace: DnsLabel = Field(
        default="astronomer", description="the namespace the Astronomer platform runs in"
    )
    deployment_id: (
        Annotated[
            str, _fmt(codes.BAD_FORMAT, r"^[a-z0-9]{10,40}$", "an Astronomer Software Deployment id")
        ]
        | None
    ) = Field(
        default=None,
        description="the Deployment's id, once it exists; without it the runbook looks it up "
        "by release name with `astro deployment list`",
    )


class Helm(_Model):
    release_name: DnsLabel | None = Field(default=None, description="default: metadata.name")
    chart_version: (
        Annotated[
            str,
            _fmt(
                codes.BAD_FORMAT,
                CHART_VERSION_PATTERN,
                'a chart version, quoted, e.g. "1.0.2"',
            ),
        ]
        | None
    ) = Field(
        default=None,
        description="the astronomer/astro-remote-execution-agent chart version helm installs; "
        f"unset: {TESTED_CHART_VERSION}, the version airspec is tested with (warning AS231)",
    )


class Deployment(_Model):
    platform: Literal["astro-remote-execution", "astronomer-software"]
    namespace: DnsLabel | None = None
    astro: Astro | None = None
    resource_name_prefix: DnsLabel = "astro-agent"
    image: ImageRef = DEFAULT_AGENT_IMAGE
    image_packages: ImagePackagesFile | None = Field(
        default=None,
        description="the package set of `image` when airspec does not know it (a pip freeze)",
    )
    workers: list[Worker] = Field(
        default_factory=lambda: [Worker(name="default-worker")], min_length=1
    )
    triggerer: Triggerer = Field(default_factory=Triggerer)
    dag_processor: DagProcessor = Field(default_factory=DagProcessor)
    providers: Providers | None = None
    software: Software | None = None
    cloud_access: list[str] | None = Field(
        default=None,
        description="components whose service account gets the cloud identity "
        "(remote execution: workers, triggerer, dagProcessor; default workers, triggerer. "
        "Software: worker, scheduler, triggerer, webserver, cleanup, migrate-database-job; "
        "default worker, scheduler, triggerer, webserver)",
    )
    helm: Helm = Field(default_factory=Helm)


class NodeGroup(_Model):
    name: Annotated[
        str, _fmt(codes.BAD_FORMAT, r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$", "a node group name")
    ]
    instance_type: Annotated[
        str,
        _fmt(codes.BAD_FORMAT, r"^[a-z0-9-]+\.[a-z0-9]+$", "an EC2 instance type, e.g. m5.xlarge"),
    ]
    desired_capacity: Count = 1
    min_size: Count = 0
    max_size: Positive = 1
    volume_size: Positive = 50
    ami_family: Literal[
        "AmazonLinux2023", "AmazonLinux2", "Bottlerocket", "Ubuntu2204", "Ubuntu2404"
    ] = "AmazonLinux2023"
    labels: dict[str, str] = Field(default_factory=dict)
    managed: bool = True


LogType = Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]


class EksCluster(_Model):
    name: EksClusterName
    kubernetes_version: K8sVersion
    oidc_issuer: OidcIssuer | None = Field(
        default=None, description="unknown before the cluster exists: 'airspec resolve' fills it"
    )
    node_groups: list[NodeGroup] = Field(
        default_factory=list,
        description="the node groups airspec creates the cluster with; none: the cluster "
        "exists and is managed elsewhere (no eksctl file, its prerequisites are checked)",
    )
    logging: list[LogType] = Field(
        default_factory=lambda: [  # type: ignore[arg-type]
            "api",
            "audit",
            "authenticator",
            "controllerManager",
            "scheduler",
        ]
    )


TRUST_POLICY_DEFAULT_QUOTA = 2048  # IAM quotas: "Role trust policy length", default
TRUST_POLICY_MAX_QUOTA = 8192  # the most the quota can be raised to


class IamRole(_Model):
    name: IamRoleName
    policy_name: IamPolicyName
    trust_policy_quota: int = Field(
        default=TRUST_POLICY_DEFAULT_QUOTA,
        ge=TRUST_POLICY_DEFAULT_QUOTA,
        le=TRUST_POLICY_MAX_QUOTA,
        description="the account's 'Role trust policy length' quota in characters: 2048 "
        "unless raised through Service Quotas (at most 8192)",
    )


class Aws(_Model):
    account_id: AccountId
    region: AwsRegion
    cluster: EksCluster
    role: IamRole
    identity: Literal["irsa", "pod-identity"] = Field(
        default="irsa",
        description="how pods get the role: 'irsa' (the cluster's OIDC provider and a "
        "service account annotation) or 'pod-identity' (EKS Pod Identity associations; "
        "no OIDC provider, no annotation)",
    )


class NodePool(_Model):
    name: DnsLabel
    machine_type: Annotated[
        str, _fmt(codes.BAD_FORMAT, r"^[a-z0-9]+-[a-z0-9-]+$", "a GCE machine type")
    ]
    min_count: Count = 0
    max_count: Positive = 1


class GkeCluster(_Model):
    name: DnsLabel
    location: GcpLocation
    node_pools: list[NodePool] = Field(
        default_factory=list,
        description="the node pools airspec creates the cluster with; none: the cluster "
        "exists and is managed elsewhere (no gcp/cluster.json, its prerequisites are checked)",
    )


class Gcp(_Model):
    project: GcpProjectId
    region: GcpRegion
    cluster: GkeCluster
    service_account: GsaId


class Cloud(_Model):
    aws: Aws | None = None
    gcp: Gcp | None = None


class Bucket(_Model):
    name: BucketName
    owned: bool = Field(
        default=False,
        description="airspec creates this bucket when it is missing (`airspec apply`: Block "
        "Public Access and default encryption on, tagged); it never deletes a bucket",
    )


class GitSource(_Model):
    repo: HttpsUrl
    ref: str = "main"
    subdir: str | None = None
    refresh_interval: Count | None = Field(default=None, description="seconds between pulls")
    credentials_secret: SecretName | None = Field(
        default=None, description="Secret holding the Airflow git connection (JSON)"
    )
    credentials_secret_key: str = Field(default="connection", pattern=r"^[-._a-zA-Z0-9]+$")


class Bundle(_Model):
    name: Annotated[
        str, _fmt(codes.NOT_DNS_SAFE, r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$", "a bundle name")
    ]
    git: GitSource


class LogsBackend(_Model):
    bucket: BucketName
    prefix: Prefix = "logs"


class XComBackend(_Model):
    bucket: BucketName
    prefix: Prefix = "xcom"
    threshold: int = Field(default=0, ge=-1, description="bytes; -1 keeps every XCom in the DB")


class SecretsBackend(_Model):
    type: Literal["local-filesystem", "aws-secrets-manager", "aws-ssm", "gcp-secret-manager"]
    connections_prefix: SecretPrefix | None = Field(
        default="airflow/connections",
        description="default airflow/connections (aws-ssm: /airflow/connections, "
        "gcp-secret-manager: airflow-connections)",
    )
    variables_prefix: SecretPrefix | None = Field(
        default="airflow/variables",
        description="default airflow/variables (aws-ssm: /airflow/variables, "
        "gcp-secret-manager: airflow-variables)",
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults_for_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("type"), str):
            return {**DEFAULT_SECRET_PREFIXES.get(data["type"], {}), **data}
        return data

    def prefixes(self) -> dict[str, str]:
        """The prefixes that are set, by their spec key (`connectionsPrefix`, ...)."""
        named = {
            "connectionsPrefix": self.connections_prefix,
            "variablesPrefix": self.variables_prefix,
        }
        return {key: value for key, value in named.items() if value is not None}


class Backends(_Model):
    logs: LogsBackend | None = None
    xcom: XComBackend | None = None
    secrets: SecretsBackend | None = None


class Spec(_Model):
    """An AirflowDeployment spec, airspec/v1."""

    api_version: Literal["airspec/v1"]
    kind: Literal["AirflowDeployment"]
    metadata: Metadata
    deployment: Deployment
    cloud: Cloud
    buckets: list[Bucket] = Field(default_factory=list)
    bundles: list[Bundle] = Field(default_factory=list)
    backends: Backends = Field(default_factory=Backends)


class _SpecSchema(GenerateJsonSchema):
    """Optional fields are simply not required: `null` is not a value a user writes."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        out = super().default_schema(schema)
        if out.get("default", 0) is None:
            out.pop("default")
        return out


def spec_json_schema() -> dict[str, Any]:
    """The JSON Schema of spec v1, generated from the model (what `airspec schema` prints)."""
    schema = Spec.model_json_schema(by_alias=True, schema_generator=_SpecSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airspec.dev/schemas/airspec.schema.json"
    schema["title"] = "airspec AirflowDeployment (airspec/v1)"
    return schema


def spec_json_schema_text() -> str:
    """The JSON Schema as `airspec schema` prints it and schemas/airspec.schema.json holds it."""
    import json

    return json.dumps(spec_json_schema(), indent=2, sort_keys=True) + "\n"
