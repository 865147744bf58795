"""Which live objects to read for a compiled spec, and what each should look like.

One Check per live object an artifact names (plus the objects an artifact implies: the
role's attached policies and OIDC provider, each managed node group, each bucket, each
service account the chart creates). What to compare is read from the artifacts only; each
side's normal form comes from `normalize`. `service` is what `--target` selects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from airspec.apply import normalize as nf
from airspec.apply.compare import (
    BroadeningRule,
    added_broadening,
    gcp_broadening,
    iam_broadening,
)
from airspec.artifact import Artifact, ArtifactKind, Context, Service
from airspec.aws import STS_AUDIENCE
from airspec.live import readers as live
from airspec.resolved import ResolvedSpec

SERVICES = tuple(str(s) for s in Service)
Reader = Callable[[live.Clients], Any]


@dataclass(frozen=True)
class Check:
    """Read one live object; compare its normal form with the compiled one."""

    artifact: str
    service: Service
    target: str
    compiled: Any
    read: Reader  # returns the live normal form, or None when the object does not exist
    broadening: BroadeningRule | None = None
    secret_env: frozenset[str] = frozenset()  # env names whose values are secret
    unordered: bool = False  # the normal form's lists are sets (IAM, GCP bindings)
    free_form: bool = True  # False: a policy document (its keys are grammar, never secrets)


@dataclass(frozen=True)
class Inputs:
    """What planning reads: the compiled artifacts, and the spec for facts no artifact holds
    (the buckets it names, the service accounts the chart or Houston creates)."""

    resolved: ResolvedSpec
    artifacts: Context
    others: frozenset[str] = frozenset()  # GCP members of the other specs of this run


def _normalized(read: Reader, form: Callable[[Any], Any]) -> Reader:
    """A reader that returns the normal form of what `read` found (None stays None)."""

    def run(c: live.Clients) -> Any:
        got = read(c)
        return None if got is None else form(got)

    return run


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1]


def _iam(a: Artifact, target: str, read: Reader) -> Check:
    assert a.live is not None
    part = _partition(a.live.id) if a.live.id.startswith("arn:") else "aws"
    compiled = nf.iam_document(a.content, part)

    def form(doc: Any) -> Any:
        return nf.align_statements(compiled, nf.iam_document(doc, part))

    return Check(
        a.path,
        Service.IAM,
        target,
        compiled,
        _normalized(read, form),
        iam_broadening,
        unordered=True,
        free_form=False,
    )


def _trusted_issuer(trust: Artifact) -> tuple[str, str] | None:
    """(OIDC provider ARN, issuer URL) an IRSA trust policy trusts; None for Pod Identity."""
    (statement,) = trust.content["Statement"]
    provider = statement["Principal"].get("Federated")
    if provider is None:
        return None
    return provider, "https://" + provider.split(":oidc-provider/", 1)[1]


def _iam_policy(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    return [_iam(a, f"iam/policy/{arn}", partial(live.iam_policy_document, arn=arn))]


def _log_reader_trust(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    return [_iam(a, f"iam/role/{arn}", partial(live.iam_role_trust, arn=arn))]


def _trust_policy(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    # the runbook attaches the permission policy whenever the compile wrote one
    policy = i.artifacts.find(ArtifactKind.AWS_IAM_POLICY)
    attached = [policy.live.id] if policy is not None and policy.live is not None else []
    checks = [
        _iam(a, f"iam/role/{arn}", partial(live.iam_role_trust, arn=arn)),
        Check(
            a.path,
            Service.IAM,
            f"iam/role/{arn}#attached-policies",
            nf.attached_policies(attached),
            _normalized(partial(live.iam_role_attachments, arn=arn), nf.attached_policies),
            added_broadening,
            unordered=True,
        ),
    ]
    trusted = _trusted_issuer(a)
    if trusted is not None:
        provider = trusted[0]
        checks.append(
            Check(
                a.path,
                Service.IAM,
                f"iam/oidc-provider/{provider}",
                nf.oidc_provider([STS_AUDIENCE]),
                _normalized(partial(live.oidc_provider, arn=provider), nf.oidc_provider_of_api),
                added_broadening,
                unordered=True,
            )
        )
    return checks


def _log_reader_policy(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    role, name = a.live.id.split("/", 1)
    read = partial(live.iam_role_policy, role=role, name=name)
    return [_iam(a, f"iam/role-policy/{a.live.id}", read)]


def _pinned_issuer(i: Inputs) -> str | None:
    """The issuer the compile trusts: known once the trust policy could be written."""
    trust = i.artifacts.find(ArtifactKind.AWS_TRUST_POLICY)
    trusted = None if trust is None else _trusted_issuer(trust)
    return None if trusted is None else trusted[1]


def _existing_eks(i: Inputs, a: Artifact) -> list[Check]:
    """A cluster managed elsewhere: only the issuer IRSA trusts is compared, not its node groups."""
    name, region = a.content["cluster"], a.content["region"]
    issuer = a.content.get("oidcIssuer")
    form = partial(nf.eks_issuer_of_api, issuer_pinned=issuer is not None)
    read = partial(live.eks_cluster, name=name, region=region)
    return [
        Check(
            a.path,
            Service.EKS,
            f"eks/cluster/{name}",
            nf.eks_issuer(issuer),
            _normalized(read, form),
        )
    ]


def _eksctl_cluster(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    cfg, region = a.content, a.live.region
    name = cfg["metadata"]["name"]
    issuer = _pinned_issuer(i)
    form = partial(nf.eks_cluster_of_api, issuer_pinned=issuer is not None)
    out = [
        Check(
            a.path,
            Service.EKS,
            f"eks/cluster/{name}",
            nf.eks_cluster_of_artifact(cfg, issuer),
            _normalized(partial(live.eks_cluster, name=name, region=region), form),
        )
    ]
    for g in cfg.get("managedNodeGroups", []):
        group = g["name"]
        read = partial(live.eks_nodegroup, cluster=name, name=group, region=region)
        out.append(
            Check(
                a.path,
                Service.EKS,
                f"eks/nodegroup/{name}/{group}",
                nf.eks_nodegroup_of_artifact(g),
                _normalized(read, nf.eks_nodegroup_of_api),
            )
        )
    return out


def _pod_identity(i: Inputs, a: Artifact) -> list[Check]:
    """The agent add-on, and the associations of the namespace's service accounts: the
    compiled ones, and any other one that names one of the spec's service accounts or the
    role (an association the spec does not make is a broadening)."""
    c, region, ns = a.content["cluster"], a.content["region"], i.resolved.namespace
    role = i.resolved.role_arn
    accounts = frozenset(sa.name for sa in i.resolved.service_accounts)
    read_associations = partial(live.eks_pod_identity_associations, cluster=c, region=region, ns=ns)
    form = partial(nf.pod_identity_associations_of_api, accounts=accounts, role=role)
    addon = a.content["addon"]
    return [
        Check(
            a.path,
            Service.EKS,
            f"eks/addon/{c}/{addon}",
            nf.eks_addon(addon),
            _normalized(
                partial(live.eks_addon, cluster=c, name=addon, region=region), nf.eks_addon_of_api
            ),
        ),
        Check(
            a.path,
            Service.EKS,
            f"eks/pod-identity-associations/{c}/{ns}",
            nf.pod_identity_associations(a.content["associations"]),
            _normalized(read_associations, form),
            added_broadening,
            unordered=True,
        ),
    ]


def _bucket_checks(r: ResolvedSpec, owner: str | None) -> list[Check]:
    """Each bucket exists in the spec's region; a bucket the spec owns also has everything
    apply sets on one (Block Public Access, default encryption, the owner tag), so an
    interrupted creation reads as unfinished, never as in sync."""
    if r.spec.cloud.aws is None:
        return []
    return [
        Check(
            "spec:buckets",
            Service.S3,
            f"s3/bucket/{b.name}",
            nf.s3_bucket(r.aws.region, owned=b.owned, owner=owner),
            _normalized(
                partial(live.s3_bucket, bucket=b.name, owned=b.owned),
                partial(nf.s3_bucket_of_api, owner=owner),
            ),
        )
        for b in r.spec.buckets
    ]


def _k8s_object(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    ident = a.live.id
    if a.kind is ArtifactKind.K8S_NAMESPACE:
        read: Reader = partial(live.k8s_namespace, name=ident)
    else:
        ns, name = ident.split("/", 1)
        read = partial(live.k8s_configmap, ns=ns, name=name)
    return [
        Check(
            a.path,
            Service.KUBERNETES,
            f"kubernetes/{a.live.type}/{ident}",
            nf.k8s_object(a.content),
            _normalized(read, nf.k8s_object),
        )
    ]


def _secret_env(values: dict[str, Any]) -> frozenset[str]:
    """Env vars the compiled values take from Secrets: their value is secret wherever seen
    (in the live release someone may have inlined it)."""
    return frozenset(
        e["name"]
        for env in [values.get("commonEnv", [])]
        + [w.get("env", []) for w in values.get("workers", [])]
        for e in env
        if "valueFrom" in e
    )


def _helm_values(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    ns, release = a.live.id.split("/", 1)
    read = partial(live.helm_release_values, ns=ns, release=release)
    return [
        Check(
            a.path,
            Service.HELM,
            f"helm/release/{ns}/{release}",
            a.content,
            read,
            secret_env=_secret_env(a.content),
        ),
        *_service_account_checks(i.resolved, a.path),
    ]


def _astro_commands(i: Inputs, a: Artifact) -> list[Check]:
    """Astronomer Software: Houston annotates the platform's service accounts."""
    return _service_account_checks(i.resolved, a.path)


def _service_account_checks(r: ResolvedSpec, artifact: str) -> list[Check]:
    """Each service account carries the cloud identity exactly when the spec says so; an
    identity on any other one is a broadening (its pods could act as the role)."""
    key = r.annotation_key
    return [
        Check(
            artifact,
            Service.KUBERNETES,
            f"kubernetes/serviceaccount/{sa.namespace}/{sa.name}",
            nf.identity_annotation(
                key, r.cloud_identity if sa.cloud_access and r.annotates else None
            ),
            _normalized(
                partial(live.k8s_service_account, ns=sa.namespace, name=sa.name),
                partial(nf.identity_annotation_of_api, key=key),
            ),
            added_broadening,
        )
        for sa in r.service_accounts
    ]


def _gke(a: Artifact, compiled: Any, form: Callable[[Any], Any]) -> list[Check]:
    assert a.live is not None
    name = a.live.id
    read = _normalized(partial(live.gke_cluster, name=name), form)
    return [Check(a.path, Service.GKE, f"gke/cluster/{name}", compiled, read)]


def _gke_cluster(i: Inputs, a: Artifact) -> list[Check]:
    return _gke(a, nf.gke_cluster_of_artifact(a.content), nf.gke_cluster_of_api)


def _gke_prerequisites(i: Inputs, a: Artifact) -> list[Check]:
    """A cluster managed elsewhere: its node pools are not ours to compare."""
    pool = a.content["workloadIdentityConfig"]["workloadPool"]
    return _gke(a, nf.gke_workload_pool(pool), nf.gke_workload_pool_of_api)


def _gcp_iam_bindings(i: Inputs, a: Artifact) -> list[Check]:
    out = []
    ours = i.resolved.gcp_members
    for res in a.content["resources"]:
        bindings = res["bindings"]
        kind, resource = res["type"], res["resource"]
        read = partial(live.gcp_policy, kind=kind, resource=resource)
        form = partial(
            _bindings_of_policy,
            compiled=bindings,
            ours=ours,
            owned=kind == "iam.serviceAccount",
            others=i.others,
        )
        out.append(
            Check(
                a.path,
                Service.GCP_IAM,
                f"gcp-iam/{kind}/{resource}",
                nf.gcp_bindings(bindings),
                _normalized(read, form),
                gcp_broadening,
                unordered=True,
                free_form=False,
            )
        )
    return out


def _bindings_of_policy(
    policy: dict[str, Any],
    compiled: list[dict[str, Any]],
    ours: frozenset[str],
    owned: bool,
    others: frozenset[str],
) -> Any:
    """What of a live policy is this spec's to compare (`normalize.spec_grants`)."""
    grants = nf.spec_grants(policy.get("bindings", []), compiled, ours, owned=owned, others=others)
    return nf.gcp_bindings(grants)


Planner = Callable[[Inputs, Artifact], list[Check]]

# artifact kind -> the checks it implies; a kind not here names nothing to read live
PLANNERS: dict[ArtifactKind, Planner] = {
    ArtifactKind.AWS_IAM_POLICY: _iam_policy,
    ArtifactKind.AWS_TRUST_POLICY: _trust_policy,
    ArtifactKind.AWS_LOG_READER_TRUST_POLICY: _log_reader_trust,
    ArtifactKind.AWS_LOG_READER_POLICY: _log_reader_policy,
    ArtifactKind.AWS_CLUSTER_PREREQUISITES: _existing_eks,
    ArtifactKind.AWS_POD_IDENTITY_ASSOCIATIONS: _pod_identity,
    ArtifactKind.EKSCTL_CLUSTER: _eksctl_cluster,
    ArtifactKind.K8S_NAMESPACE: _k8s_object,
    ArtifactKind.K8S_CONFIGMAP: _k8s_object,
    ArtifactKind.HELM_VALUES: _helm_values,
    ArtifactKind.SOFTWARE_ASTRO_COMMANDS: _astro_commands,
    ArtifactKind.GCP_CLUSTER: _gke_cluster,
    ArtifactKind.GCP_CLUSTER_PREREQUISITES: _gke_prerequisites,
    ArtifactKind.GCP_IAM_BINDINGS: _gcp_iam_bindings,
}


def plan(
    r: ResolvedSpec,
    artifacts: tuple[Artifact, ...],
    owner: str | None = None,
    others: frozenset[str] = frozenset(),
) -> list[Check]:
    """Every check for one compiled spec, in artifact order. `owner`: the spec's owner
    identity, when known (an owned bucket's tag is compared with it); `others`: the GCP
    members of the other specs checked in this run (their grants on a shared resource are
    not this spec's drift)."""
    inputs = Inputs(r, Context(artifacts), others)
    checks: list[Check] = []
    for a in sorted(artifacts, key=lambda a: a.path):
        planner = PLANNERS.get(a.kind)
        if planner is not None:
            checks += planner(inputs, a)
    return checks + _bucket_checks(r, owner)
