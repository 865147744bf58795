"""`airspec apply` for AWS: IAM (OIDC provider, policy, role, attachments, inline policy),
owned S3 buckets, EKS Pod Identity (the agent add-on and the associations).

What airspec creates is tagged with this spec's owner identity (`airspec.io/owner`, see
`owner`); an existing object is changed only when it carries this spec's owner, or with
--adopt. The cluster's OIDC provider is shared by every spec on the cluster: airspec creates
it when missing and adds the STS audience, but never removes another audience.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from shlex import quote as q  # every live value in a printed command is one argument
from typing import Any

from airspec import aws as awsnames
from airspec.apply import plan as checks
from airspec.apply.actions import Action, Decision, Options, SpecView, Verb, ownership
from airspec.apply.calls import Api, Call, instance_profiles, policy_entities
from airspec.apply.findings import Finding
from airspec.apply.owner import Recorded, recorded_in_tags
from airspec.apply.seen import digest
from airspec.artifact import Artifact, ArtifactKind, Service
from airspec.aws import STS_AUDIENCE
from airspec.live import readers as live

CALLS = (
    "iam:CreateOpenIDConnectProvider",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider (with --adopt)",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy (with --adopt)",
    "iam:CreateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole (with --adopt)",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "s3:CreateBucket",
    "s3:PutBucketTagging",
    "s3:PutPublicAccessBlock",
    "s3:PutBucketEncryption",
    "eks:CreateAddon",
    "eks:CreatePodIdentityAssociation",
    "eks:UpdatePodIdentityAssociation",
    "eks:DeletePodIdentityAssociation (only one this spec's owner created)",
    "eks:TagResource (with --adopt)",
    "with --prune: iam:DetachRolePolicy, iam:DeleteRolePolicy, iam:DeleteRole,"
    " iam:DeletePolicyVersion, iam:DeletePolicy, iam:DeleteOpenIDConnectProvider"
    " (only objects tagged with this spec's owner identity)",
)
MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy
BLOCK_PUBLIC_ACCESS = {
    k: True
    for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
}
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
TAG_OWNER_SHOWN = "(airspec.io/owner, airspec.io/spec)"

# --- AWS calls --------------------------------------------------------------------------------


def _call(op: str, shown: str, region: str | None = None, **args: Any) -> Call:
    """An AWS call `<service>:<Operation>` with its parameters."""
    return Call(Api.AWS, op, args, shown, region=region)


def _retried(call: Call) -> Call:
    """The same call, retried on IAM's eventual consistency (an object created a moment ago)."""
    return Call(call.api, call.op, call.args, call.shown, call.region, retry=True)


def _removing(call: Call) -> Call:
    return Call(call.api, call.op, call.args, call.shown, call.region, call.retry, destructive=True)


def _aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _name_of(arn: str, kind: str) -> str:
    return arn.split(f":{kind}/", 1)[1].rsplit("/", 1)[-1]


def _adopt(d: Decision, op: str, s: SpecView, **args: Any) -> list[Call]:
    """With --adopt, record this spec's owner on the object before changing it."""
    if d.verb is not Verb.ADOPT:
        return []
    return [_call(op, f"{op} {TAG_OWNER_SHOWN}", Tags=_aws_tags(s.tags), **args)]


# --- the OIDC provider: shared by every spec on the cluster ------------------------------------


def oidc_provider(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    arn = target.split("/", 2)[2]
    url = "https://" + arn.split(":oidc-provider/", 1)[1]
    if missing:
        create = _call(
            "iam:CreateOpenIDConnectProvider",
            f"iam:CreateOpenIDConnectProvider {url}",
            Url=url,
            ClientIDList=[STS_AUDIENCE],
            Tags=_aws_tags(s.tags),
        )
        return [s.action(target, Verb.CREATE, f"create OIDC provider {url}", fs, [create])]
    got = s.raw(target, lambda: live.oidc_provider(s.clients, arn), checks.provider_version) or {}
    current = list(got.get("ClientIDList", []))
    recorded = recorded_in_tags(_tag_map(got.get("Tags")))
    actions: list[Action] = []
    if STS_AUDIENCE not in current:
        by_airspec = recorded.owner is not None or recorded.legacy_name is not None
        if not by_airspec and not o.adopt:
            summary = (
                f"OIDC provider {url} was not made by airspec (owner: {recorded.who()}) and lacks the "
                f"audience {STS_AUDIENCE}; rerun with --adopt to add it"
            )
            actions.append(s.left(target, Verb.REFUSED, summary, fs))
        else:
            adopt = not by_airspec
            calls = [
                _call(
                    "iam:TagOpenIDConnectProvider",
                    f"iam:TagOpenIDConnectProvider {TAG_OWNER_SHOWN}",
                    OpenIDConnectProviderArn=arn,
                    Tags=_aws_tags(s.tags),
                )
            ] if adopt else []
            calls.append(
                _call(
                    "iam:AddClientIDToOpenIDConnectProvider",
                    f"iam:AddClientIDToOpenIDConnectProvider {STS_AUDIENCE}",
                    OpenIDConnectProviderArn=arn,
                    ClientID=STS_AUDIENCE,
                )
            )
            verb = Verb.ADOPT if adopt else Verb.UPDATE
            summary = f"add the audience {STS_AUDIENCE} to OIDC provider {url}"
            actions.append(s.action(target, verb, summary, fs, calls))
    extra = sorted(set(current) - {STS_AUDIENCE})
    if extra:
        left = s.left(
            target,
            Verb.MANUAL,
            f"OIDC provider {url} is shared by everything on the cluster and also accepts "
            f"{', '.join(extra)}; airspec never removes an audience: review, and remove with",
            [] if actions else fs,
        )
        left.commands = [
            "aws iam remove-client-id-from-open-id-connect-provider "
            f"--open-id-connect-provider-arn {q(arn)} --client-id {q(c)}"
            for c in extra
        ]
        actions.append(left)
    return actions


# --- policy, role, attachments, inline policy -------------------------------------------------


def _policy_versions(iam: Any, arn: str) -> list[dict[str, Any]]:
    got = live.aws_call(f"iam list-policy-versions {arn}", iam.list_policy_versions, PolicyArn=arn)
    return [] if got is None else list(got["Versions"])


def _versions_seen(versions: list[dict[str, Any]]) -> str:
    return digest(sorted((v["VersionId"], bool(v["IsDefaultVersion"])) for v in versions))


def policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None
    arn = target.split("/", 2)[2]
    name = _name_of(arn, "policy")
    document = json.dumps(a.content, sort_keys=True)
    iam = s.clients.aws("iam")
    if missing:
        create = _call(
            "iam:CreatePolicy",
            f"iam:CreatePolicy {name}",
            PolicyName=name,
            PolicyDocument=document,
            Tags=_aws_tags(s.tags),
        )
        return s.action(target, Verb.CREATE, f"create policy {name}", fs, [create])
    got = live.aws_call("ListPolicyTags", iam.list_policy_tags, PolicyArn=arn)
    tags = _tag_map((got or {}).get("Tags"))
    s.observe(target, "tags", digest(tags))
    d = ownership(s, target, fs, o, recorded_in_tags(tags), f"policy {name}")
    if isinstance(d, Action):
        return d
    versions = _policy_versions(iam, arn)
    s.observe(target, "versions", _versions_seen(versions))
    calls = _adopt(d, "iam:TagPolicy", s, PolicyArn=arn)
    summary = f"new default version of policy {name}"
    if len(versions) >= MAX_POLICY_VERSIONS:
        oldest = min(
            (v for v in versions if not v["IsDefaultVersion"]),
            key=lambda v: (v["CreateDate"], v["VersionId"]),
        )["VersionId"]
        calls.append(
            _removing(
                _call(
                    "iam:DeletePolicyVersion",
                    f"iam:DeletePolicyVersion {name} {oldest}",
                    PolicyArn=arn,
                    VersionId=oldest,
                )
            )
        )
        summary += f" (first deleting its oldest version {oldest}: IAM keeps {MAX_POLICY_VERSIONS})"
    calls.append(
        _call(
            "iam:CreatePolicyVersion",
            f"iam:CreatePolicyVersion {name} (default)",
            PolicyArn=arn,
            PolicyDocument=document,
            SetAsDefault=True,
        )
    )
    return s.action(target, d.verb, d.summary(summary), fs, calls)


def role(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    if target.endswith("#attached-policies"):
        return _attachments(s, target, a, fs, missing, o)
    assert a is not None
    arn = target.split("/", 2)[2]
    name = _name_of(arn, "role")
    trust = json.dumps(a.content, sort_keys=True)
    if missing:
        # a trust policy naming a provider created a moment ago is refused for a while
        create = _retried(
            _call(
                "iam:CreateRole",
                f"iam:CreateRole {name}",
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Tags=_aws_tags(s.tags),
            )
        )
        return [s.action(target, Verb.CREATE, f"create role {name}", fs, [create])]
    d = _role_owner(s, target, fs, o, arn)
    if isinstance(d, Action):
        return [d]
    calls = _adopt(d, "iam:TagRole", s, RoleName=name)
    calls.append(
        _retried(
            _call(
                "iam:UpdateAssumeRolePolicy",
                f"iam:UpdateAssumeRolePolicy {name}",
                RoleName=name,
                PolicyDocument=trust,
            )
        )
    )
    summary = d.summary(f"update the trust policy of role {name}")
    return [s.action(target, d.verb, summary, fs, calls)]


def _role_owner(s: SpecView, target: str, fs: list[Finding], o: Options, arn: str) -> Decision | Action:
    """The ownership decision for role `arn`, from the role as this run read it; CREATE when
    it does not exist yet (an earlier action of this run creates it)."""
    got = s.raw(f"iam/role/{arn}", lambda: live.iam_role(s.clients, arn), checks.role_version)
    if got is None:
        return Decision(Verb.CREATE)
    tags = recorded_in_tags(_tag_map(got.get("Tags")))
    return ownership(s, target, fs, o, tags, f"role {_name_of(arn, 'role')}")


def _attachments(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    arn = target.split("/", 2)[2].removesuffix("#attached-policies")
    name = _name_of(arn, "role")
    policy = s.find(ArtifactKind.AWS_IAM_POLICY)
    wanted = {policy.live.id} if policy is not None and policy.live is not None else set()
    # a missing attachment list means the role is missing: created earlier in this run
    d = Decision(Verb.UPDATE) if missing else _role_owner(s, target, fs, o, arn)
    if isinstance(d, Action):
        return [d]
    read = lambda: live.iam_role_attachments(s.clients, arn)  # noqa: E731
    current = set() if missing else set(s.raw(target, read, checks.attachments_version) or [])
    adopted: list[Call] = []
    for policy_arn in sorted(wanted - current):
        refusal = _policy_not_ours(s, target, fs, o, policy_arn)
        if isinstance(refusal, Action):
            return [refusal]
        adopted += refusal
    calls = _adopt(d, "iam:TagRole", s, RoleName=name) + adopted
    detach = sorted(current - wanted)
    calls += _removals("iam:DetachRolePolicy", "PolicyArn", detach, f"{name} ", RoleName=name)
    # a role or policy created a moment ago may not be attachable yet
    calls += [
        _retried(
            _call(
                "iam:AttachRolePolicy",
                f"iam:AttachRolePolicy {name} {arn_}",
                RoleName=name,
                PolicyArn=arn_,
            )
        )
        for arn_ in sorted(wanted - current)
    ]
    if not calls:
        return []
    shown = ", ".join(sorted(_name_of(p, "policy") for p in wanted)) or "nothing"
    summary = d.summary(f"attach exactly {shown} to role {name}")
    verb = Verb.UPDATE if d.verb is Verb.CREATE else d.verb
    depends = [] if missing else [f"iam/role/{arn}"]
    return [s.action(target, verb, summary, fs, calls, depends=depends)]


def _policy_tags(s: SpecView, arn: str) -> dict[str, str] | None:
    """A managed policy's tags (read once a run, its version recorded); None when it does
    not exist (yet)."""
    iam = s.clients.aws("iam")
    key = ("policy-tags", arn)
    if key not in s.memo:
        got = live.aws_call(f"iam list-policy-tags {arn}", iam.list_policy_tags, PolicyArn=arn)
        s.memo[key] = None if got is None else _tag_map(got.get("Tags"))
        seen = "absent" if s.memo[key] is None else digest(s.memo[key])
        s.observe(f"iam/policy/{arn}", "tags", seen)
    tags: dict[str, str] | None = s.memo[key]
    return tags


def _policy_not_ours(
    s: SpecView, target: str, fs: list[Finding], o: Options, arn: str
) -> Action | list[Call]:
    """Attaching a policy grants the role whatever its owner puts in it: only a policy this
    spec owns (or creates in this run) is attached, unless --adopt takes it over (the calls
    that record this spec's owner on it)."""
    tags = _policy_tags(s, arn)
    if tags is None:
        return []  # created by this run's policy action
    d = ownership(s, target, fs, o, recorded_in_tags(tags), f"policy {_name_of(arn, 'policy')}")
    if isinstance(d, Action):
        d.summary = f"not attached: {d.summary}"
        d.depends.append(f"iam/policy/{arn}")
        return d
    return _adopt(d, "iam:TagPolicy", s, PolicyArn=arn)


def claimed(s: SpecView, target: str) -> Recorded | None:
    """What an IAM role, policy or owned bucket the spec names records about its owner, for
    the objects that need no change (a claim is reported even then); None to skip."""
    kind, ident = target.split("/", 2)[1:]
    if kind == "role" and "#" not in ident:
        read = lambda: live.iam_role(s.clients, ident)  # noqa: E731
        got = s.raw(target, read, checks.role_version)
        return None if got is None else recorded_in_tags(_tag_map(got.get("Tags")))
    if kind == "policy":
        tags = _policy_tags(s, ident)
        return None if tags is None else recorded_in_tags(tags)
    if kind == "bucket" and any(b.name == ident and b.owned for b in s.r.spec.buckets):
        read = lambda: live.s3_bucket(s.clients, ident, True)  # noqa: E731
        got = s.raw(target, read, checks.bucket_version)
        return None if got is None else recorded_in_tags(dict(got.get("Tags") or {}))
    return None


def record_owner(s: SpecView, target: str) -> list[Call]:
    """--adopt of an object that needs no other change: record this spec's owner on it."""
    kind, ident = target.split("/", 2)[1:]
    adopt = Decision(Verb.ADOPT)
    if kind == "role":
        return _adopt(adopt, "iam:TagRole", s, RoleName=_name_of(ident, "role"))
    if kind == "policy":
        return _adopt(adopt, "iam:TagPolicy", s, PolicyArn=ident)
    got = s.raw(target, lambda: live.s3_bucket(s.clients, ident, True), checks.bucket_version)
    tags = {**dict((got or {}).get("Tags") or {}), **s.tags}  # PutBucketTagging replaces the set
    shown = f"s3:PutBucketTagging {ident} {TAG_OWNER_SHOWN}"
    return [_call("s3:PutBucketTagging", shown, Bucket=ident, Tagging={"TagSet": _aws_tags(tags)})]


def role_policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None and a.live is not None
    role, name = a.live.id.split("/", 1)
    document = json.dumps(a.content, sort_keys=True)
    role_arn = _role_arn_named(s, role)
    d = _role_owner(s, target, fs, o, role_arn)
    if isinstance(d, Action):
        return d
    calls = _adopt(d, "iam:TagRole", s, RoleName=role)
    calls.append(
        _retried(
            _call(
                "iam:PutRolePolicy",
                f"iam:PutRolePolicy {role} {name}",
                RoleName=role,
                PolicyName=name,
                PolicyDocument=document,
            )
        )
    )
    what = "create" if missing else "update"
    summary = d.summary(f"{what} inline policy {name} of role {role}")
    verb = Verb.UPDATE if d.verb is Verb.CREATE else d.verb
    return s.action(target, verb, summary, fs, calls, depends=[f"iam/role/{role_arn}"])


def _role_arn_named(s: SpecView, name: str) -> str:
    """The ARN of the role named `name` (with its path) as the trust artifacts name it."""
    trusts = (ArtifactKind.AWS_TRUST_POLICY, ArtifactKind.AWS_LOG_READER_TRUST_POLICY)
    for art in s.compiled.artifacts:
        if art.kind in trusts and art.live is not None and _name_of(art.live.id, "role") == name:
            return art.live.id
    return awsnames.role_arn(s.r.aws.account_id, name, s.r.partition)


# --- owned buckets ----------------------------------------------------------------------------


def _secure(name: str, wanted: set[str]) -> list[Call]:
    calls = []
    if "publicAccessBlock" in wanted:
        calls.append(
            _call(
                "s3:PutPublicAccessBlock",
                f"s3:PutPublicAccessBlock {name}",
                Bucket=name,
                PublicAccessBlockConfiguration=BLOCK_PUBLIC_ACCESS,
            )
        )
    if "encryption" in wanted:
        calls.append(
            _call(
                "s3:PutBucketEncryption",
                f"s3:PutBucketEncryption {name}",
                Bucket=name,
                ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION,
            )
        )
    return calls


def bucket(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    """Create an owned bucket (tagged first, then Block Public Access and default
    encryption), or finish one whose creation was interrupted. Never deletes or recreates."""
    name = target.split("/", 2)[2]
    owned = any(b.name == name and b.owned for b in s.r.spec.buckets)
    region = s.r.aws.region
    paths = {f.path.split(".", 1)[0].split("[", 1)[0] for f in fs}
    if not missing and "region" in paths:
        summary = f"bucket {name} is in another region; airspec never recreates a bucket"
        return s.left(target, Verb.MANUAL, summary, fs)
    if not owned:
        summary = (
            f"bucket {name} does not exist; create it, or mark it `owned: true` in the spec"
            if missing
            else f"bucket {name} differs; airspec changes only buckets the spec owns"
        )
        return s.left(target, Verb.MANUAL, summary, fs)
    tag = _call(
        "s3:PutBucketTagging",
        f"s3:PutBucketTagging {name} {TAG_OWNER_SHOWN}",
        Bucket=name,
        Tagging={"TagSet": _aws_tags(s.tags)},
    )
    if missing:
        where: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            where["CreateBucketConfiguration"] = {"LocationConstraint": region}
        calls = [
            Call(Api.AWS, "s3:CreateBucket", where, f"s3:CreateBucket {name}"),
            # tagged at once, so an interrupted run leaves a bucket a rerun may finish
            Call(
                tag.api,
                tag.op,
                tag.args,
                tag.shown,
                hint=f"bucket {name} was created but not tagged as this spec's, so a rerun "
                "refuses it: rerun with --adopt to finish it",
            ),
            *_secure(name, {"publicAccessBlock", "encryption"}),
        ]
        summary = f"create bucket {name} (Block Public Access, default encryption)"
        return s.action(target, Verb.CREATE, summary, fs, calls)
    got = s.raw(target, lambda: live.s3_bucket(s.clients, name, True), checks.bucket_version)
    current = dict((got or {}).get("Tags") or {})
    d = ownership(s, target, fs, o, recorded_in_tags(current), f"bucket {name}")
    if isinstance(d, Action):
        return d
    calls = []
    if d.verb is Verb.ADOPT:  # PutBucketTagging replaces the set: keep the others
        calls.append(
            _call(
                "s3:PutBucketTagging",
                tag.shown,
                Bucket=name,
                Tagging={"TagSet": _aws_tags({**current, **s.tags})},
            )
        )
    calls += _secure(name, paths)
    what = " and ".join(
        t for p, t in (("publicAccessBlock", "Block Public Access"), ("encryption", "default encryption")) if p in paths
    )
    summary = d.summary(f"set {what or 'the owner tags'} on bucket {name}")
    if not calls:  # only the owner tag differs, and it is ours: nothing airspec sets is missing
        return s.left(target, Verb.MANUAL, summary, fs)
    return s.action(target, d.verb, summary, fs, calls)


# --- EKS Pod Identity: the agent add-on and the associations ----------------------------------


def _no_cluster(s: SpecView, target: str, fs: list[Finding], cluster: str) -> Action:
    summary = f"cluster {cluster} does not exist yet: create it (eksctl step), then rerun"
    return s.left(target, Verb.MANUAL, summary, fs)


def addon(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None
    cluster, region, name = a.content["cluster"], a.content["region"], a.content["addon"]
    where = f"eks/cluster/{cluster}"
    read = lambda: live.eks_cluster(s.clients, cluster, region)  # noqa: E731
    if s.raw(where, read, checks.present) is None:
        return _no_cluster(s, target, fs, cluster)
    create = _call(
        "eks:CreateAddon",
        f"eks:CreateAddon {cluster}/{name}",
        region=region,
        clusterName=cluster,
        addonName=name,
        tags=s.tags,
    )
    summary = f"install add-on {name} on {cluster}"
    return s.action(target, Verb.CREATE, summary, fs, [create], depends=[where])


def pod_identity_associations(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    """Create, repoint or delete associations so the namespace's service accounts get
    exactly the compiled role. An association this spec's owner did not create is not
    repointed without --adopt, and never deleted: it is listed with the command that
    removes it."""
    assert a is not None
    cluster, region, ns = a.content["cluster"], a.content["region"], s.r.namespace
    read = lambda: live.eks_pod_identity_associations(s.clients, cluster, region, ns)  # noqa: E731
    got = s.raw(target, read, checks.associations_version)
    if got is None:
        return [_no_cluster(s, target, fs, cluster)]
    want = {x["serviceAccountName"]: x["roleARN"] for x in a.content["associations"]}
    accounts = {sa.name for sa in s.r.service_accounts}
    have = {x["serviceAccount"]: x for x in got}
    calls: list[Call] = []
    actions: list[Action] = []
    for sa, role_arn in sorted(want.items()):
        current = have.get(sa)
        if current is None:
            calls.append(
                _call(
                    "eks:CreatePodIdentityAssociation",
                    f"eks:CreatePodIdentityAssociation {ns}/{sa}",
                    region=region,
                    clusterName=cluster,
                    namespace=ns,
                    serviceAccount=sa,
                    roleArn=role_arn,
                    tags=s.tags,
                )
            )
            continue
        if current.get("roleArn") == role_arn:
            continue
        recorded = recorded_in_tags(current.get("tags"))
        d = ownership(s, target, fs, o, recorded, f"the association of {ns}/{sa}")
        if isinstance(d, Action):
            actions.append(d)
            continue
        ident = current["associationId"]
        if d.verb is Verb.ADOPT:
            arn = current["associationArn"]
            calls.append(
                _call("eks:TagResource", f"eks:TagResource {arn}", region=region, resourceArn=arn, tags=s.tags)
            )
        calls.append(
            _call(
                "eks:UpdatePodIdentityAssociation",
                f"eks:UpdatePodIdentityAssociation {ns}/{sa} {ident}",
                region=region,
                clusterName=cluster,
                associationId=ident,
                roleArn=role_arn,
            )
        )
    for sa, current in sorted(have.items()):
        grants = current.get("roleArn") == s.r.role_arn or sa in accounts
        if sa in want or not grants:
            continue
        ident = current["associationId"]
        if recorded_in_tags(current.get("tags")).owner == s.owner.identity:
            calls.append(
                _removing(
                    _call(
                        "eks:DeletePodIdentityAssociation",
                        f"eks:DeletePodIdentityAssociation {ns}/{sa} {ident}",
                        region=region,
                        clusterName=cluster,
                        associationId=ident,
                    )
                )
            )
            continue
        command = (
            f"aws eks delete-pod-identity-association --region {q(region)} "
            f"--cluster-name {q(cluster)} --association-id {q(ident)}"
        )
        summary = (
            f"association of {ns}/{sa} with {current.get('roleArn')} was not made by this "
            "spec; review, and remove with"
        )
        left = s.left(target, Verb.MANUAL, summary, [])
        left.commands = [command]
        actions.append(left)
    if calls:
        verb_ = Verb.CREATE if all(c.op.split(":")[1].startswith("Create") for c in calls) else Verb.UPDATE
        summary = "; ".join(c.shown.split(":", 1)[1] for c in calls)
        actions.insert(0, s.action(target, verb_, summary, fs, calls))
    if actions and not calls:
        actions[0].findings = fs
    return actions


# --- orphans: what this spec's owner tagged and the spec no longer names ----------------------

ORPHAN_WORKERS = 8  # parallel tag reads while scanning IAM


def _named(s: SpecView) -> set[str]:
    """ARNs of the IAM objects the compiled artifacts name."""
    named: set[str] = set()
    for art in s.compiled.artifacts:
        if art.live is not None and art.live.id.startswith("arn:"):
            named.add(art.live.id)
        if art.kind is ArtifactKind.AWS_TRUST_POLICY:
            for st in art.content["Statement"]:
                provider = st.get("Principal", {}).get("Federated")
                if provider:
                    named.add(provider)
    return named


def _owned_by(
    s: SpecView, arns: list[tuple[str, Any]], hidden: list[str]
) -> dict[str, dict[str, str]]:
    """Of (arn, tag reader) pairs, the ARNs tagged with this spec's owner identity, with
    their tags (read in parallel). An object with the same name tag but another owner is
    not ours; one whose tags these credentials may not read (AccessDenied: a boundary or
    SCP guarding another team's role) is not provably ours either: it is added to `hidden`,
    not an error."""
    from concurrent.futures import ThreadPoolExecutor

    def tags(item: tuple[str, Any]) -> dict[str, str] | None:
        _arn, read = item
        try:
            return _tag_map((read() or {}).get("Tags"))
        except live.AccessDenied:
            return None

    with ThreadPoolExecutor(ORPHAN_WORKERS) as pool:
        found = list(pool.map(tags, arns))
    hidden += [arn for (arn, _), t in zip(arns, found, strict=True) if t is None]
    mine = s.owner.identity
    return {
        arn: t
        for (arn, _), t in zip(arns, found, strict=True)
        if t is not None and recorded_in_tags(t).owner == mine
    }


def orphans(s: SpecView, services: frozenset[Service], o: Options) -> list[Action]:
    """IAM roles, customer-managed policies and OIDC providers tagged with this spec's owner
    identity that the spec no longer names: `orphaned` (listed with the commands that remove
    them), or with --prune `delete`. A provider any remaining role trusts is kept. What a
    deletion needs (no instance profile holds the role; the policy is attached to nothing
    but roles this run detaches it from) is checked here, before anything changes, and
    checked again when the run reaches it."""
    if Service.IAM not in services or s.r.spec.cloud.aws is None:
        return []
    iam = s.clients.aws("iam")
    named = _named(s)

    roles = [
        r
        for r in live.aws_pages("iam list-roles", iam, "list_roles", "Roles") or []
        if not r["Path"].startswith("/aws-service-role/")
    ]
    policies = (
        live.aws_pages("iam list-policies", iam, "list_policies", "Policies", Scope="Local") or []
    )
    providers = live.aws_call(
        "iam list-open-id-connect-providers", iam.list_open_id_connect_providers
    ) or {"OpenIDConnectProviderList": []}

    def reader(what: str, fn: Any, **kwargs: Any) -> Any:
        return lambda: live.aws_call(what, fn, **kwargs)

    hidden: list[str] = []
    role_arns = _owned_by(
        s,
        [
            (r["Arn"], reader("ListRoleTags", iam.list_role_tags, RoleName=r["RoleName"]))
            for r in roles
            if r["Arn"] not in named
        ],
        hidden,
    )
    policy_arns = _owned_by(
        s,
        [
            (p["Arn"], reader("ListPolicyTags", iam.list_policy_tags, PolicyArn=p["Arn"]))
            for p in policies
            if p["Arn"] not in named
        ],
        hidden,
    )
    kept_trust = json.dumps(
        [r["AssumeRolePolicyDocument"] for r in roles if r["Arn"] not in role_arns]
    )
    provider_arns = _owned_by(
        s,
        [
            (
                p["Arn"],
                reader(
                    "ListOpenIDConnectProviderTags",
                    iam.list_open_id_connect_provider_tags,
                    OpenIDConnectProviderArn=p["Arn"],
                ),
            )
            for p in providers["OpenIDConnectProviderList"]
            if p["Arn"] not in named and p["Arn"] not in kept_trust
        ],
        hidden,
    )
    trust = {r["Arn"]: r["AssumeRolePolicyDocument"] for r in roles}
    # roles whose attachments this run leaves to this spec: the spec's own role (its
    # attachment action detaches what it no longer names) and the roles pruned
    detaching = {*role_arns, *(a for a in named if ":role/" in a)}
    actions = []
    if hidden:
        summary = (
            f"{len(hidden)} IAM object(s) whose tags these credentials may not read were not "
            "considered as orphans (not provably this spec's): " + ", ".join(sorted(hidden))
        )
        actions.append(s.left("iam/orphans", Verb.NOTE, summary, []))
    for arn, tags in role_arns.items():
        target = f"iam/role/{arn}"
        s.observe(target, "tags", digest(tags))
        s.observe(target, "trust policy", digest(trust.get(arn)))
        actions.append(_orphan(s, target, o, _delete_role(s, target, arn, o.prune)))
    for arn, tags in policy_arns.items():
        target = f"iam/policy/{arn}"
        s.observe(target, "tags", digest(tags))
        actions.append(_orphan(s, target, o, _delete_policy(s, target, arn, detaching, o.prune)))
    for arn, tags in provider_arns.items():
        target = f"iam/oidc-provider/{arn}"
        s.observe(target, "tags", digest(tags))
        s.observe(target, "trusted by", "no role this scan kept")
        actions.append(_orphan(s, target, o, _delete_provider(arn)))
    return actions


@dataclass(frozen=True)
class Deletion:
    commands: list[str]  # the aws CLI commands that remove the object
    calls: list[Call]  # the deletion (with --prune)
    blocked: str | None = None  # why it cannot be deleted now (checked before any change)


def _orphan(s: SpecView, target: str, o: Options, deletion: Deletion) -> Action:
    kind = target.split("/", 2)[1]
    if deletion.blocked is not None:
        summary = f"{kind} created for this spec, no longer in it, cannot be deleted: {deletion.blocked}"
        left = s.left(target, Verb.MANUAL, summary, [])
        left.commands = deletion.commands
        return left
    if o.prune:
        summary = f"delete {kind} the spec no longer names"
        return s.action(target, Verb.DELETE, summary, [], deletion.calls)
    summary = f"{kind} created for this spec, no longer in it; --prune deletes it, or run"
    return Action(s.r.name, target, Verb.ORPHANED, summary, [], commands=deletion.commands)


def _removals(op: str, key: str, values: list[str], shown: str = "", **fixed: Any) -> list[Call]:
    """One destructive call per value (`key=value`): detach each policy, delete each
    inline policy, each non-default version."""
    return [_removing(_call(op, f"{op} {shown}{v}", **fixed, **{key: v})) for v in values]


def _check(op: str, shown: str, **args: Any) -> Call:
    return Call(Api.CHECK, op, args, shown)


def _delete_role(s: SpecView, target: str, arn: str, prune: bool) -> Deletion:
    name = _name_of(arn, "role")
    iam = s.clients.aws("iam")
    commands = [
        f"aws iam list-attached-role-policies --role-name {q(name)}  # detach each: aws iam detach-role-policy",
        f"aws iam list-role-policies --role-name {q(name)}  # delete each: aws iam delete-role-policy",
        f"aws iam delete-role --role-name {q(name)}",
    ]
    profiles = instance_profiles(s.clients, name)
    s.observe(target, "instance profiles", digest(profiles))
    if profiles:
        blocked = f"role {name} is in instance profile(s) {', '.join(profiles)}"
        commands = [
            f"aws iam remove-role-from-instance-profile --instance-profile-name {q(p)} --role-name {q(name)}"
            for p in profiles
        ] + commands
        return Deletion(commands, [], blocked)
    if not prune:
        return Deletion(commands, [])
    attached = sorted(live.iam_role_attachments(s.clients, arn) or [])
    what = f"iam list-role-policies {name}"
    inline = sorted(live.aws_pages(what, iam, "list_role_policies", "PolicyNames", RoleName=name) or [])
    s.observe(target, "attachments", digest(attached))
    s.observe(target, "inline policies", digest(inline))
    calls = [
        # checked again when the run reaches it: nothing is changed if one was added meanwhile
        _check("role-in-no-instance-profile", f"check: role {name} is in no instance profile", role=name),
        *_removals("iam:DetachRolePolicy", "PolicyArn", attached, f"{name} ", RoleName=name),
        *_removals("iam:DeleteRolePolicy", "PolicyName", inline, f"{name} ", RoleName=name),
        _removing(_call("iam:DeleteRole", f"iam:DeleteRole {name}", RoleName=name)),
    ]
    return Deletion(commands, calls)


def _delete_policy(s: SpecView, target: str, arn: str, detaching: set[str], prune: bool) -> Deletion:
    commands = [
        f"aws iam delete-policy --policy-arn {q(arn)}  # after deleting its non-default versions"
    ]
    leaving = {_name_of(r, "role") for r in detaching}
    entities = policy_entities(s.clients, arn)
    s.observe(target, "attached to", digest(entities))
    held = [f"{k} {n}" for k, n in entities if not (k == "role" and n in leaving)]
    if held:
        return Deletion(commands, [], f"policy {arn} is attached to {', '.join(held)}")
    if not prune:
        return Deletion(commands, [])
    versions = _policy_versions(s.clients.aws("iam"), arn)
    s.observe(target, "versions", _versions_seen(versions))
    calls = [
        # earlier actions of this run detach it from our roles: checked when the run gets here
        _check("policy-attached-to-nothing", f"check: policy {arn} is attached to nothing", arn=arn),
        *_removals(
            "iam:DeletePolicyVersion",
            "VersionId",
            sorted(v["VersionId"] for v in versions if not v["IsDefaultVersion"]),
            PolicyArn=arn,
        ),
        _removing(_call("iam:DeletePolicy", f"iam:DeletePolicy {arn}", PolicyArn=arn)),
    ]
    return Deletion(commands, calls)


def _delete_provider(arn: str) -> Deletion:
    delete = _call(
        "iam:DeleteOpenIDConnectProvider",
        f"iam:DeleteOpenIDConnectProvider {arn}",
        OpenIDConnectProviderArn=arn,
    )
    return Deletion(
        [f"aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {q(arn)}"],
        [_removing(delete)],
    )


# --- what an apply role needs: the IAM actions and resources of each call ---------------------

# the IAM actions a call needs (AWS Service Authorization Reference; creating with tags also
# needs the Tag action, and an association's role needs iam:PassRole)
_ACTIONS = {
    "iam:CreateOpenIDConnectProvider": ("iam:CreateOpenIDConnectProvider", "iam:TagOpenIDConnectProvider"),
    "iam:CreatePolicy": ("iam:CreatePolicy", "iam:TagPolicy"),
    "iam:CreateRole": ("iam:CreateRole", "iam:TagRole"),
    "s3:PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "s3:PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    "eks:CreateAddon": ("eks:CreateAddon", "eks:TagResource"),
    "eks:CreatePodIdentityAssociation": ("eks:CreatePodIdentityAssociation", "eks:TagResource"),
}


def permissions(s: SpecView, a: Action) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) of every AWS call of `a`: what a role applying it needs."""
    part = s.r.partition
    out: list[tuple[str, str]] = []
    for c in a.calls:
        if c.api is not Api.AWS:
            continue
        args = c.args
        service = c.op.split(":", 1)[0]
        if service == "iam":
            arn = args.get("PolicyArn") or args.get("OpenIDConnectProviderArn")
            if c.op in ("iam:AttachRolePolicy", "iam:DetachRolePolicy") or not arn:
                arn = _target_arn(s, a, str(args.get("RoleName", "")))
            resource = str(arn)
        elif service == "s3":
            resource = f"arn:{part}:s3:::{args['Bucket']}"
        else:
            region, account = c.region or s.r.aws.region, s.r.aws.account_id
            cluster = args.get("clusterName")
            resource = str(args.get("resourceArn") or "")
            if "associationId" in args:
                resource = (
                    f"arn:{part}:eks:{region}:{account}:podidentityassociation/{cluster}/"
                    f"{args['associationId']}"
                )
            elif cluster:
                resource = awsnames.eks_cluster_arn(account, region, cluster, part)
        out += [(action, resource) for action in _ACTIONS.get(c.op, (c.op,))]
        if "roleArn" in args:
            out.append(("iam:PassRole", str(args["roleArn"])))
    return out


def _target_arn(s: SpecView, a: Action, role: str) -> str:
    """The ARN an IAM action's target names (a role's attachments: the role; an inline
    policy: its role)."""
    if role and not a.target.startswith("iam/role/"):
        return _role_arn_named(s, role)
    return a.target.split("/", 2)[2].removesuffix("#attached-policies")
