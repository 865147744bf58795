"""The resolve stage: defaults filled, derived names computed, live-only values from the lock."""

from __future__ import annotations

from dataclasses import dataclass

from airspec import aws as awsnames
from airspec import gcp as gcpnames
from airspec.artifact import LiveTarget, Service
from airspec.environments import Environment, built_image_ref, environments
from airspec.frontend import Checked
from airspec.lock import effective_issuer
from airspec.model import TESTED_CHART_VERSION, Aws, Gcp, Spec
from airspec.platforms import DEFAULT_CLOUD_ACCESS, REMOTE, SA_SUFFIX, SOFTWARE
from airspec.providers import read_constraints

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"


@dataclass(frozen=True)
class ServiceAccount:
    """A Kubernetes service account airspec names, and whether it gets the cloud identity."""

    component: str
    name: str
    namespace: str
    cloud_access: bool

    @property
    def subject(self) -> str:
        return awsnames.service_account_subject(self.namespace, self.name)


@dataclass(frozen=True)
class ResolvedSpec:
    """A valid spec with everything a pass needs already decided."""

    spec: Spec
    source: str  # the spec's path as written into artifact headers
    name: str
    namespace: str
    helm_release: str
    constraints: str | None
    oidc_issuer: str | None
    service_accounts: tuple[ServiceAccount, ...]
    # the spec as the runbook's commands name it: relative to out/<name>/, where they run
    spec_from_runbook: str = ""
    # Remote Execution: each component's Python environment (image + computed installs)
    environments: tuple[Environment, ...] = ()

    @property
    def chart_version(self) -> str:
        """The agents' chart version helm installs: the spec's, else the tested one (AS231)."""
        return self.spec.deployment.helm.chart_version or TESTED_CHART_VERSION

    @property
    def is_software(self) -> bool:
        return self.spec.deployment.platform == SOFTWARE

    @property
    def cluster_exists(self) -> bool:
        """No node groups / node pools declared: the cluster is managed elsewhere."""
        if self.spec.cloud.aws is not None:
            return not self.spec.cloud.aws.cluster.node_groups
        return not self.gcp.cluster.node_pools

    @property
    def gcp(self) -> Gcp:
        if self.spec.cloud.gcp is None:
            raise ValueError("not a GCP spec")
        return self.spec.cloud.gcp

    @property
    def gsa_email(self) -> str:
        return gcpnames.gsa_email(self.gcp.service_account, self.gcp.project)

    @property
    def gcp_members(self) -> frozenset[str]:
        """The IAM members this spec grants: its GSA, and every Kubernetes service account
        it names (with cloud access or not: a grant to one without is the spec's to remove)."""
        g = self.gcp
        return frozenset(
            {gcpnames.gsa_member(self.gsa_email)}
            | {gcpnames.ksa_member(g.project, sa.namespace, sa.name) for sa in self.service_accounts}
        )

    @property
    def pod_identity(self) -> bool:
        """EKS Pod Identity: associations, not OIDC trust and service account annotations."""
        return self.spec.cloud.aws is not None and self.spec.cloud.aws.identity == "pod-identity"

    @property
    def annotates(self) -> bool:
        """Whether service accounts carry the identity as an annotation (IRSA, GKE WI)."""
        return not self.pod_identity

    @property
    def cloud_identity(self) -> str:
        """What a service account is annotated with: the role ARN or the GSA email."""
        return self.role_arn if self.spec.cloud.aws is not None else self.gsa_email

    @property
    def annotation_key(self) -> str:
        return ROLE_ANNOTATION if self.spec.cloud.aws is not None else gcpnames.GSA_ANNOTATION

    @property
    def annotation_jsonpath(self) -> str:
        """kubectl's `-o jsonpath=` for the identity annotation (dots in the key escaped)."""
        return "{.metadata.annotations." + self.annotation_key.replace(".", "\\.") + "}"

    @property
    def aws(self) -> Aws:
        if self.spec.cloud.aws is None:
            raise ValueError("not an AWS spec")
        return self.spec.cloud.aws

    @property
    def partition(self) -> str:
        return awsnames.partition_for(self.aws.region)

    @property
    def role_arn(self) -> str:
        return awsnames.role_arn(self.aws.account_id, self.aws.role.name, self.partition)

    @property
    def policy_arn(self) -> str:
        return awsnames.policy_arn(self.aws.account_id, self.aws.role.policy_name, self.partition)

    @property
    def cluster_arn(self) -> str:
        a = self.aws
        return awsnames.eks_cluster_arn(a.account_id, a.region, a.cluster.name, self.partition)

    @property
    def cluster_target(self) -> LiveTarget:
        """The live cluster: EKS by name and region, GKE by its resource name."""
        if self.spec.cloud.aws is not None:
            return LiveTarget(Service.EKS, "cluster", self.aws.cluster.name, self.aws.region)
        g = self.gcp
        resource = gcpnames.cluster_resource(g.project, g.cluster.location, g.cluster.name)
        return LiveTarget(Service.GKE, "cluster", resource)

    @property
    def log_reader_role(self) -> str:
        """The read-only role Astro's log reader assumes (AS221 refuses a name over 64)."""
        return f"{self.aws.role.name}-log-reader"

    @property
    def constraints_configmap(self) -> str:
        """The ConfigMap holding the provider constraints file."""
        return f"{self.spec.deployment.resource_name_prefix}-provider-constraints"

    @property
    def identities(self) -> tuple[ServiceAccount, ...]:
        """Service accounts that assume the cloud identity, in a stable order."""
        return tuple(sa for sa in self.service_accounts if sa.cloud_access)

    def environment(self, component: str) -> Environment | None:
        """The Python environment of a component (`workers[<name>]`, `triggerer`,
        `dagProcessor`)."""
        return next((e for e in self.environments if e.component.name == component), None)

    @property
    def base_environment(self) -> Environment | None:
        """The environment of the components that run `deployment.image`."""
        return self.environment("triggerer")

    @property
    def built_image(self) -> str | None:
        """`providers.install: image`: the image with the providers built in, when the
        deployment image lacks anything."""
        providers = self.spec.deployment.providers
        env = self.base_environment
        if providers is None or providers.install != "image" or env is None:
            return None
        if not env.closure.installs or providers.image_repository is None:
            return None
        return built_image_ref(
            providers.image_repository, self.spec.deployment.image, env.closure.installs
        )

    def service_account(self, component: str) -> ServiceAccount:
        return next(sa for sa in self.service_accounts if sa.component == component)


def resolve(checked: Checked, source: str, spec_from_runbook: str | None = None) -> ResolvedSpec:
    """Decide every derived value of a checked spec. `checked.ok` must hold.
    `spec_from_runbook`: the spec's path relative to out/<name>/ (default: `source`)."""
    spec = checked.spec
    if spec is None or not checked.ok:
        raise ValueError("resolve needs a spec without errors")
    d = spec.deployment
    access = set(DEFAULT_CLOUD_ACCESS[d.platform] if d.cloud_access is None else d.cloud_access)
    secrets = spec.backends.secrets
    if d.cloud_access is None and d.platform == REMOTE and secrets is not None:
        # DAG files read a cloud secrets backend when the dag processor parses them (AS234)
        access |= {"dagProcessor"} if secrets.type != "local-filesystem" else set()
    if d.software is not None:
        namespace = d.namespace or f"astronomer-{d.software.release_name}"
        prefix = d.software.release_name
    else:
        namespace = d.namespace or spec.metadata.name
        prefix = d.resource_name_prefix
    accounts = tuple(
        ServiceAccount(comp, f"{prefix}-{suffix}", namespace, comp in access)
        for comp, suffix in SA_SUFFIX[d.platform].items()
    )
    constraints = None
    if d.providers is not None and d.providers.constraints is not None:
        constraints = read_constraints(checked.path.parent, d.providers.constraints)
    envs: tuple[Environment, ...] = ()
    if d.platform == REMOTE and d.astro is not None:
        # the compile rules' (AS204), when they ran: computed once per spec
        envs = checked.environments or tuple(environments(spec, checked.path.parent))
    issuer = None
    if spec.cloud.aws is not None and spec.cloud.aws.identity == "irsa":
        issuer, _ = effective_issuer(spec.cloud.aws.cluster.oidc_issuer, checked.lock)
    return ResolvedSpec(
        spec=spec,
        source=source,
        name=spec.metadata.name,
        namespace=namespace,
        helm_release=d.helm.release_name or spec.metadata.name,
        constraints=constraints,
        oidc_issuer=issuer,
        service_accounts=accounts,
        spec_from_runbook=spec_from_runbook or source,
        environments=envs,
    )
