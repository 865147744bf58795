"""Which live objects to read for a compiled spec, and what each should look like.

One Check per live object an artifact names (plus the objects an artifact implies: the
role's attached policies and OIDC provider, each managed node group, each bucket, each
service account the chart creates). What to compare is read from the artifacts only; each
side's normal form comes from `normalize`. `service` is what `--target` selects. A check
reads the raw live object (`read`), turns it into its normal form (`form`), and names the
version it saw (`version`: the API's own version id where it has one, else digests of what
was read; see `seen`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from airspec.apply import normalize as nf
from airspec.apply import seen as sv
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
Form = Callable[[Any], Any]
Versioner = Callable[[Any], sv.Version]


def _whole(raw: Any) -> sv.Version:
    return {"digest": sv.digest(raw)}


@dataclass(frozen=True)
class Check:
    """Read one live object; compare its normal form with the compiled one."""

    artifact: str
    service: Service
    target: str
    compiled: Any
    read: Reader  # returns the raw live object, or None when it does not exist
    form: Form = lambda raw: raw  # the raw object's normal form
    version: Versioner = _whole  # the identity of the version read
    broadening: BroadeningRule | None = None
    secret_env: frozenset[str] = frozenset()  # env names whose values are secret
    unordered: bool = False  # the normal form's lists are sets (IAM, GCP bindings)
    free_form: bool = True  # False: a policy document (its keys are grammar, never secrets)

    def normal(self, raw: Any) -> Any:
        return self.form(raw)


@dataclass(frozen=True)
class Inputs:
    """What planning reads: the compiled artifacts, and the spec for facts no artifact holds
    (the buckets it names, the service accounts the chart or Houston creates)."""

    resolved: ResolvedSpec
    artifacts: Context
    others: frozenset[str] = frozenset()  # GCP members of the other specs of this run


def _tags(tags: Any) -> str:
    """A digest of AWS tags, as a list of {Key, Value} or a map."""
    if isinstance(tags, list):
        tags = {t.get("Key"): t.get("Value") for t in tags}
    return sv.digest(tags or {})


def k8s_version(raw: Any) -> sv.Version:
    return {"resourceVersion": str((raw.get("metadata") or {}).get("resourceVersion", ""))}


def etag_version(raw: Any) -> sv.Version:
    """A GCP object: its etag (a digest of it when it has none)."""
    etag = raw.get("etag") if isinstance(raw, dict) else None
    return {"etag": str(etag)} if etag else _whole(raw)


def _partition(arn: str) -> str:
    return arn.split(":", 2)[1]


def _iam(
    a: Artifact, target: str, read: Reader, document: Form, version: Versioner
) -> Check:
    """An IAM document: `document` picks it out of what `read` returns."""
    assert a.live is not None
    part = _partition(a.live.id) if a.live.id.startswith("arn:") else "aws"
    compiled = nf.iam_document(a.content, part)

    def form(raw: Any) -> Any:
        return nf.align_statements(compiled, nf.iam_document(document(raw), part))

    return Check(
        a.path,
        Service.IAM,
        target,
        compiled,
        read,
        form,
        version,
        iam_broadening,
        unordered=True,
        free_form=False,
    )


def _policy_version(raw: Any) -> sv.Version:
    return {"default version": str(raw["DefaultVersionId"])}


def role_version(raw: Any) -> sv.Version:
    """A role: its trust policy and its tags (which record its owner)."""
    return {
        "trust policy": sv.digest(nf.iam_document(raw["AssumeRolePolicyDocument"], "aws")),
        "tags": _tags(raw.get("Tags")),
    }


def attachments_version(raw: Any) -> sv.Version:
    return {"attachments": sv.digest(sorted(raw))}


def provider_version(raw: Any) -> sv.Version:
    return {
        "client ids": sv.digest(sorted(raw.get("ClientIDList", []))),
        "tags": _tags(raw.get("Tags")),
    }


def associations_version(raw: Any) -> sv.Version:
    items = sorted(
        (x["associationId"], x["serviceAccount"], x.get("roleArn"), x.get("tags")) for x in raw
    )
    return {"associations": sv.digest(items)}


def bucket_version(raw: Any) -> sv.Version:
    """A bucket: its region, and for an owned one its Block Public Access, encryption, tags."""
    return {"settings": sv.digest(raw)}


def present(raw: Any) -> sv.Version:
    """An object whose existence is all that was decided from."""
    return {"state": "present"}


def role_check(a: Artifact, arn: str) -> Check:
    """The role's trust policy (GetRole: also its tags, which record its owner)."""
    return _iam(
        a,
        f"iam/role/{arn}",
        partial(live.iam_role, arn=arn),
        lambda raw: raw["AssumeRolePolicyDocument"],
        role_version,
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
    read = partial(live.iam_policy, arn=arn)
    return [_iam(a, f"iam/policy/{arn}", read, lambda raw: raw["Document"], _policy_version)]


def _log_reader_trust(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    return [role_check(a, arn)]


def _trust_policy(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    arn = a.live.id
    # the runbook attaches the permission policy whenever the compile wrote one
    policy = i.artifacts.find(ArtifactKind.AWS_IAM_POLICY)
    attached = [policy.live.id] if policy is not None and policy.live is not None else []
    checks = [
        role_check(a, arn),
        Check(
            a.path,
            Service.IAM,
            f"iam/role/{arn}#attached-policies",
            nf.attached_policies(attached),
            partial(live.iam_role_attachments, arn=arn),
            nf.attached_policies,
            attachments_version,
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
                partial(live.oidc_provider, arn=provider),
                nf.oidc_provider_of_api,
                provider_version,
                added_broadening,
                unordered=True,
            )
        )
    return checks


def _log_reader_policy(i: Inputs, a: Artifact) -> list[Check]:
    assert a.live is not None
    role, name = a.live.id.split("/", 1)
    read = partial(live.iam_role_policy, role=role, name=name)
    version = lambda raw: {"document": sv.digest(nf.iam_document(raw, "aws"))}  # noqa: E731
    return [_iam(a, f"iam/role-policy/{a.live.id}", read, lambda raw: raw, version)]


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
            read,
            form,
            _of_form(form),
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
            partial(live.eks_cluster, name=name, region=region),
            form,
            _of_form(form),
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
                read,
                nf.eks_nodegroup_of_api,
                _of_form(nf.eks_nodegroup_of_api),
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
            partial(live.eks_addon, cluster=c, name=addon, region=region),
            nf.eks_addon_of_api,
            _of_form(nf.eks_addon_of_api),
        ),
        Check(
            a.path,
            Service.EKS,
            f"eks/pod-identity-associations/{c}/{ns}",
            nf.pod_identity_associations(a.content["associations"]),
            read_associations,
            form,
            associations_version,
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
            partial(live.s3_bucket, bucket=b.name, owned=b.owned),
            partial(nf.s3_bucket_of_api, owner=owner),
            bucket_version,
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
            read,
            nf.k8s_object,
            k8s_version,
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
    read = partial(live.helm_release, ns=ns, release=release)
    return [
        Check(
            a.path,
            Service.HELM,
            f"helm/release/{ns}/{release}",
            a.content,
            read,
            lambda raw: raw["config"],
            lambda raw: {"revision": str(raw["revision"])},
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
            partial(live.k8s_service_account, ns=sa.namespace, name=sa.name),
            partial(nf.identity_annotation_of_api, key=key),
            k8s_version,
            added_broadening,
        )
        for sa in r.service_accounts
    ]


def _gke(a: Artifact, compiled: Any, form: Callable[[Any], Any]) -> list[Check]:
    assert a.live is not None
    name = a.live.id
    read = partial(live.gke_cluster, name=name)
    return [Check(a.path, Service.GKE, f"gke/cluster/{name}", compiled, read, form, etag_version)]


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
                read,
                form,
                etag_version,
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


def _of_form(form: Form) -> Versioner:
    """For an object whose API has no version id: a digest of what is compared."""
    return lambda raw: {"digest": sv.digest(form(raw))}


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
