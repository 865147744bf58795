"""The resolve stage: defaults filled, derived names computed, live-only values from the lock."""

from __future__ import annotations

from dataclasses import dataclass

from compiler import aws as awsnames
from compiler.frontend import Checked
from compiler.lock import ISSUER_KEY
from compiler.model import Aws, Spec
from compiler.providers import read_constraints

SA_SUFFIX = {"workers": "worker", "triggerer": "triggerer", "dagProcessor": "dag-processor"}
DEFAULT_CLOUD_ACCESS = {"astro-remote-execution": ("workers", "triggerer")}


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
    def identities(self) -> tuple[ServiceAccount, ...]:
        """Service accounts that assume the cloud identity, in a stable order."""
        return tuple(sa for sa in self.service_accounts if sa.cloud_access)

    def service_account(self, component: str) -> ServiceAccount:
        return next(sa for sa in self.service_accounts if sa.component == component)


def resolve(checked: Checked, source: str) -> ResolvedSpec:
    """Decide every derived value of a checked spec. `checked.ok` must hold."""
    spec = checked.spec
    if spec is None or not checked.ok:
        raise ValueError("resolve needs a spec without errors")
    d = spec.deployment
    namespace = d.namespace or spec.metadata.name
    default: tuple[str, ...] = DEFAULT_CLOUD_ACCESS.get(d.platform, ())
    access = set(d.cloud_access or default)
    accounts = tuple(
        ServiceAccount(comp, f"{d.resource_name_prefix}-{suffix}", namespace, comp in access)
        for comp, suffix in SA_SUFFIX.items()
    )
    constraints = None
    if d.providers is not None and d.providers.constraints is not None:
        constraints = read_constraints(checked.path.parent, d.providers.constraints)
    issuer = None
    if spec.cloud.aws is not None:
        issuer = spec.cloud.aws.cluster.oidc_issuer or checked.lock.get(ISSUER_KEY)
    return ResolvedSpec(
        spec=spec,
        source=source,
        name=spec.metadata.name,
        namespace=namespace,
        helm_release=d.helm.release_name or spec.metadata.name,
        constraints=constraints,
        oidc_issuer=issuer,
        service_accounts=accounts,
    )
