"""Artifacts: typed data a pass returns; only the emitter turns them into bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Format = Literal["json", "yaml", "markdown", "shell", "text"]


class ArtifactKind(StrEnum):
    """What an artifact is; the value is what `manifest.json` records."""

    AWS_IAM_POLICY = "aws.iam-policy"
    AWS_TRUST_POLICY = "aws.trust-policy"
    AWS_LOG_READER_TRUST_POLICY = "aws.log-reader-trust-policy"
    AWS_LOG_READER_POLICY = "aws.log-reader-policy"
    AWS_CLUSTER_PREREQUISITES = "aws.cluster-prerequisites"
    AWS_POD_IDENTITY_ASSOCIATIONS = "aws.pod-identity-associations"
    EKSCTL_CLUSTER = "eksctl.cluster"
    GCP_CLUSTER = "gcp.cluster"
    GCP_CLUSTER_PREREQUISITES = "gcp.cluster-prerequisites"
    GCP_IAM_BINDINGS = "gcp.iam-bindings"
    GCP_IAM_CONDITION = "gcp.iam-condition"
    HELM_VALUES = "helm.values"
    K8S_NAMESPACE = "k8s.namespace"
    K8S_CONFIGMAP = "k8s.configmap"
    SOFTWARE_HOUSTON_CONFIG = "software.houston-config"
    SOFTWARE_ASTRO_COMMANDS = "software.astro-commands"
    SOFTWARE_DEPLOYMENT_ENV = "software.deployment-env"
    PYTHON_ENVIRONMENTS = "python.environments"
    PROVIDER_IMAGE_DOCKERFILE = "image.dockerfile"
    PROVIDER_IMAGE_REQUIREMENTS = "image.requirements"
    IDENTITY_GRAPH = "identity-graph"
    RUNBOOK = "runbook"


class Service(StrEnum):
    """A live API `apply` reads; what `--target` selects."""

    IAM = "iam"
    EKS = "eks"
    S3 = "s3"
    KUBERNETES = "kubernetes"
    HELM = "helm"
    GKE = "gke"
    GCP_IAM = "gcp-iam"


@dataclass(frozen=True)
class LiveTarget:
    """The live object `apply` compares an artifact with."""

    service: Service
    type: str  # policy | role | cluster | namespace | configmap | release | ...
    id: str  # ARN, name, or namespace/name
    region: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"service": str(self.service), "type": self.type, "id": self.id}
        if self.region:
            out["region"] = self.region
        return out


@dataclass(frozen=True)
class Artifact:
    """One output file as data: where it goes, what it is, and what it is compared with live."""

    path: str  # relative to out/<name>/, POSIX
    kind: ArtifactKind
    format: Format
    content: Any
    live: LiveTarget | None = None
    notes: tuple[str, ...] = field(default=())  # extra header comment lines (YAML/shell)


@dataclass(frozen=True)
class Context:
    """What a pass may see besides the spec: the artifacts of the passes before it."""

    artifacts: tuple[Artifact, ...] = ()

    def find(self, kind: ArtifactKind) -> Artifact | None:
        return next((a for a in self.artifacts if a.kind is kind), None)

    def all(self, kind: ArtifactKind) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.kind is kind)
