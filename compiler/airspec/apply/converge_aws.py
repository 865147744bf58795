"""`airspec apply` for AWS: IAM (OIDC provider, policy, role, attachments, inline policy),
owned S3 buckets, EKS Pod Identity (the agent add-on and the associations).

What airspec creates is tagged with this spec's owner identity (`airspec.io/owner`, see
`owner`); an existing object is changed only when it carries this spec's owner, or with
--adopt. The cluster's OIDC provider is shared by every spec on the cluster: airspec creates
it when missing and adds the STS audience, but never removes another audience.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from shlex import quote as q  # every live value in a printed command is one argument
from typing import Any

from airspec.apply.actions import (
    RETRY_DELAYS,
    Action,
    ApplyError,
    Decision,
    Options,
    Run,
    SpecView,
    Verb,
    ownership,
)
from airspec.apply.findings import Finding
from airspec.apply.owner import Recorded, recorded_in_tags
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
# IAM answers these for a role, policy or provider created a moment ago (IAM user guide,
# "Changes that I make are not always immediately visible")
EVENTUAL = frozenset({"NoSuchEntity", "MalformedPolicyDocument", "InvalidInput"})
BLOCK_PUBLIC_ACCESS = {
    k: True
    for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
}
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}

# --- AWS calls --------------------------------------------------------------------------------


def _call(what: str, fn: Any, *, retry: bool = False, **kwargs: Any) -> Any:
    """One mutating AWS call; with `retry`, IAM's eventual-consistency errors are retried
    with bounded backoff. Raises ApplyError."""
    from botocore.exceptions import BotoCoreError, ClientError

    delays = list(RETRY_DELAYS) if retry else []
    while True:
        try:
            return fn(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in EVENTUAL and delays:
                time.sleep(delays.pop(0))
                continue
            message = exc.response.get("Error", {}).get("Message", "")
            raise ApplyError(f"{what}: {code} {message}".strip()) from None
        except BotoCoreError as exc:
            raise ApplyError(f"{what}: {exc}") from None
        except Exception as exc:  # an answer botocore cannot parse (a proxy's page)
            raise ApplyError(
                f"{what}: {live.unexpected(exc)}; it may or may not have been made"
            ) from None


def _aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _name_of(arn: str, kind: str) -> str:
    return arn.split(f":{kind}/", 1)[1].rsplit("/", 1)[-1]


def _adopt(d: Decision, done: list[str], call: str, fn: Any, s: SpecView, **kwargs: Any) -> None:
    """With --adopt, record this spec's owner on the object before changing it."""
    if d.verb is Verb.ADOPT:
        _call(call, fn, Tags=_aws_tags(s.tags), **kwargs)
        done.append(f"iam:{call} {TAG_OWNER_SHOWN}")


TAG_OWNER_SHOWN = "(airspec.io/owner, airspec.io/spec)"


# --- the OIDC provider: shared by every spec on the cluster ------------------------------------


def oidc_provider(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    arn = target.split("/", 2)[2]
    url = "https://" + arn.split(":oidc-provider/", 1)[1]
    iam = s.clients.aws("iam")
    if missing:

        def create(done: list[str]) -> None:
            _call(
                "CreateOpenIDConnectProvider",
                iam.create_open_id_connect_provider,
                Url=url,
                ClientIDList=[STS_AUDIENCE],
                Tags=_aws_tags(s.tags),
            )
            done.append(f"iam:CreateOpenIDConnectProvider {url}")

        return [Action(s.r.name, target, Verb.CREATE, f"create OIDC provider {url}", fs, create)]
    got = live.oidc_provider(s.clients, arn) or {}
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

            def add(done: list[str]) -> None:
                if adopt:
                    _call(
                        "TagOpenIDConnectProvider",
                        iam.tag_open_id_connect_provider,
                        OpenIDConnectProviderArn=arn,
                        Tags=_aws_tags(s.tags),
                    )
                    done.append(f"iam:TagOpenIDConnectProvider {TAG_OWNER_SHOWN}")
                _call(
                    "AddClientIDToOpenIDConnectProvider",
                    iam.add_client_id_to_open_id_connect_provider,
                    OpenIDConnectProviderArn=arn,
                    ClientID=STS_AUDIENCE,
                )
                done.append(f"iam:AddClientIDToOpenIDConnectProvider {STS_AUDIENCE}")

            verb = Verb.ADOPT if adopt else Verb.UPDATE
            summary = f"add the audience {STS_AUDIENCE} to OIDC provider {url}"
            actions.append(Action(s.r.name, target, verb, summary, fs, add))
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


def policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None
    arn = target.split("/", 2)[2]
    name = _name_of(arn, "policy")
    document = json.dumps(a.content, sort_keys=True)
    iam = s.clients.aws("iam")
    if missing:

        def create(done: list[str]) -> None:
            _call(
                "CreatePolicy",
                iam.create_policy,
                PolicyName=name,
                PolicyDocument=document,
                Tags=_aws_tags(s.tags),
            )
            done.append(f"iam:CreatePolicy {name}")

        return Action(s.r.name, target, Verb.CREATE, f"create policy {name}", fs, create)
    got = live.aws_call("ListPolicyTags", iam.list_policy_tags, PolicyArn=arn)
    d = ownership(
        s, target, fs, o, recorded_in_tags(_tag_map((got or {}).get("Tags"))), f"policy {name}"
    )
    if isinstance(d, Action):
        return d

    def new_version(done: list[str]) -> None:
        _adopt(d, done, "TagPolicy", iam.tag_policy, s, PolicyArn=arn)
        versions = _policy_versions(iam, arn)
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min(
                (v for v in versions if not v["IsDefaultVersion"]),
                key=lambda v: (v["CreateDate"], v["VersionId"]),
            )
            _call(
                "DeletePolicyVersion",
                iam.delete_policy_version,
                PolicyArn=arn,
                VersionId=oldest["VersionId"],
            )
            done.append(f"iam:DeletePolicyVersion {name} {oldest['VersionId']}")
        got = _call(
            "CreatePolicyVersion",
            iam.create_policy_version,
            PolicyArn=arn,
            PolicyDocument=document,
            SetAsDefault=True,
        )
        done.append(f"iam:CreatePolicyVersion {name} {got['PolicyVersion']['VersionId']} (default)")

    summary = d.summary(f"new default version of policy {name}")
    return Action(s.r.name, target, d.verb, summary, fs, new_version)


def role(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    if target.endswith("#attached-policies"):
        return _attachments(s, target, a, fs, missing, o)
    assert a is not None
    arn = target.split("/", 2)[2]
    name = _name_of(arn, "role")
    trust = json.dumps(a.content, sort_keys=True)
    iam = s.clients.aws("iam")
    if missing:

        def create(done: list[str]) -> None:
            # a trust policy naming a provider created a moment ago is refused for a while
            _call(
                "CreateRole",
                iam.create_role,
                retry=True,
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Tags=_aws_tags(s.tags),
            )
            done.append(f"iam:CreateRole {name}")

        return Action(s.r.name, target, Verb.CREATE, f"create role {name}", fs, create)
    d = _role_owner(s, target, fs, o, name)
    if isinstance(d, Action):
        return d

    def update(done: list[str]) -> None:
        _adopt(d, done, "TagRole", iam.tag_role, s, RoleName=name)
        _call(
            "UpdateAssumeRolePolicy",
            iam.update_assume_role_policy,
            retry=True,
            RoleName=name,
            PolicyDocument=trust,
        )
        done.append(f"iam:UpdateAssumeRolePolicy {name}")

    summary = d.summary(f"update the trust policy of role {name}")
    return Action(s.r.name, target, d.verb, summary, fs, update)


def _role_owner(
    s: SpecView, target: str, fs: list[Finding], o: Options, name: str
) -> Decision | Action:
    """The ownership decision for role `name`; CREATE when the role does not exist yet (an
    earlier action of this run creates it)."""
    got = live.aws_call("GetRole", s.clients.aws("iam").get_role, RoleName=name)
    if got is None:
        return Decision(Verb.CREATE)
    tags = recorded_in_tags(_tag_map(got["Role"].get("Tags")))
    return ownership(s, target, fs, o, tags, f"role {name}")


def _attachments(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    arn = target.split("/", 2)[2].removesuffix("#attached-policies")
    name = _name_of(arn, "role")
    policy = s.find(ArtifactKind.AWS_IAM_POLICY)
    wanted = {policy.live.id} if policy is not None and policy.live is not None else set()
    iam = s.clients.aws("iam")
    # a missing attachment list means the role is missing: created earlier in this run
    d = Decision(Verb.UPDATE) if missing else _role_owner(s, target, fs, o, name)
    if isinstance(d, Action):
        return d

    current_now = set(live.iam_role_attachments(s.clients, arn) or []) if not missing else set()
    for policy_arn in sorted(wanted - current_now):
        refusal = _policy_not_ours(s, target, fs, o, policy_arn)
        if refusal is not None:
            return refusal

    def attach(done: list[str]) -> None:
        _adopt(d, done, "TagRole", iam.tag_role, s, RoleName=name)
        for policy_arn in sorted(wanted - current_now):
            if o.adopt and _policy_tags(s, policy_arn) is not None:
                _adopt(
                    Decision(Verb.ADOPT), done, "TagPolicy", iam.tag_policy, s, PolicyArn=policy_arn
                )
        current = set(live.iam_role_attachments(s.clients, arn) or [])
        for extra in sorted(current - wanted):
            _call("DetachRolePolicy", iam.detach_role_policy, RoleName=name, PolicyArn=extra)
            done.append(f"iam:DetachRolePolicy {name} {extra}")
        for arn_ in sorted(wanted - current):
            # a role or policy created a moment ago may not be attachable yet
            _call(
                "AttachRolePolicy",
                iam.attach_role_policy,
                retry=True,
                RoleName=name,
                PolicyArn=arn_,
            )
            done.append(f"iam:AttachRolePolicy {name} {arn_}")

    shown = ", ".join(sorted(_name_of(p, "policy") for p in wanted)) or "nothing"
    summary = d.summary(f"attach exactly {shown} to role {name}")
    verb = Verb.UPDATE if d.verb is Verb.CREATE else d.verb
    return Action(s.r.name, target, verb, summary, fs, attach)


def _policy_tags(s: SpecView, arn: str) -> dict[str, str] | None:
    """A managed policy's tags; None when it does not exist (yet)."""
    iam = s.clients.aws("iam")
    got = live.aws_call(f"iam list-policy-tags {arn}", iam.list_policy_tags, PolicyArn=arn)
    return None if got is None else _tag_map(got.get("Tags"))


def _policy_not_ours(
    s: SpecView, target: str, fs: list[Finding], o: Options, arn: str
) -> Action | None:
    """Attaching a policy grants the role whatever its owner puts in it: only a policy this
    spec owns (or creates in this run) is attached, unless --adopt takes it over."""
    tags = _policy_tags(s, arn)
    if tags is None:
        return None  # created by this run's policy action
    d = ownership(s, target, fs, o, recorded_in_tags(tags), f"policy {_name_of(arn, 'policy')}")
    if isinstance(d, Action):
        d.summary = f"not attached: {d.summary}"
        return d
    return None


def claimed(s: SpecView, target: str) -> Recorded | None:
    """What an IAM role, policy or owned bucket the spec names records about its owner, for
    the objects that need no change (a claim is reported even then); None to skip."""
    kind, ident = target.split("/", 2)[1:]
    if kind == "role" and "#" not in ident:
        got = live.aws_call(
            "GetRole", s.clients.aws("iam").get_role, RoleName=_name_of(ident, "role")
        )
        return None if got is None else recorded_in_tags(_tag_map(got["Role"].get("Tags")))
    if kind == "policy":
        tags = _policy_tags(s, ident)
        return None if tags is None else recorded_in_tags(tags)
    if kind == "bucket" and any(b.name == ident and b.owned for b in s.r.spec.buckets):
        s3 = s.clients.aws("s3")
        got = live.aws_call(f"s3 get-bucket-tagging {ident}", s3.get_bucket_tagging, Bucket=ident)
        return recorded_in_tags(_tag_map((got or {}).get("TagSet")))
    return None


def record_owner(s: SpecView, target: str) -> Run:
    """--adopt of an object that needs no other change: record this spec's owner on it."""
    kind, ident = target.split("/", 2)[1:]
    iam = s.clients.aws("iam")
    adopt = Decision(Verb.ADOPT)
    if kind == "role":
        return lambda done: _adopt(
            adopt, done, "TagRole", iam.tag_role, s, RoleName=_name_of(ident, "role")
        )
    if kind == "policy":
        return lambda done: _adopt(adopt, done, "TagPolicy", iam.tag_policy, s, PolicyArn=ident)
    s3 = s.clients.aws("s3")

    def tag_bucket(done: list[str]) -> None:  # PutBucketTagging replaces the set: keep the others
        got = live.aws_call(f"s3 get-bucket-tagging {ident}", s3.get_bucket_tagging, Bucket=ident)
        tags = {**_tag_map((got or {}).get("TagSet")), **s.tags}
        _call(
            "PutBucketTagging",
            s3.put_bucket_tagging,
            Bucket=ident,
            Tagging={"TagSet": _aws_tags(tags)},
        )
        done.append(f"s3:PutBucketTagging {ident} {TAG_OWNER_SHOWN}")

    return tag_bucket


def role_policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None and a.live is not None
    role, name = a.live.id.split("/", 1)
    iam = s.clients.aws("iam")
    document = json.dumps(a.content, sort_keys=True)
    d = _role_owner(s, target, fs, o, role)
    if isinstance(d, Action):
        return d

    def put(done: list[str]) -> None:
        _adopt(d, done, "TagRole", iam.tag_role, s, RoleName=role)
        _call(
            "PutRolePolicy",
            iam.put_role_policy,
            retry=True,
            RoleName=role,
            PolicyName=name,
            PolicyDocument=document,
        )
        done.append(f"iam:PutRolePolicy {role} {name}")

    what = "create" if missing else "update"
    summary = d.summary(f"{what} inline policy {name} of role {role}")
    verb = Verb.UPDATE if d.verb is Verb.CREATE else d.verb
    return Action(s.r.name, target, verb, summary, fs, put)


# --- owned buckets ----------------------------------------------------------------------------


def bucket(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    """Create an owned bucket (tagged first, then Block Public Access and default
    encryption), or finish one whose creation was interrupted. Never deletes or recreates."""
    name = target.split("/", 2)[2]
    owned = any(b.name == name and b.owned for b in s.r.spec.buckets)
    s3 = s.clients.aws("s3")
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

    def secure(done: list[str], wanted: set[str]) -> None:
        if "publicAccessBlock" in wanted:
            _call(
                "PutPublicAccessBlock",
                s3.put_public_access_block,
                Bucket=name,
                PublicAccessBlockConfiguration=BLOCK_PUBLIC_ACCESS,
            )
            done.append(f"s3:PutPublicAccessBlock {name}")
        if "encryption" in wanted:
            _call(
                "PutBucketEncryption",
                s3.put_bucket_encryption,
                Bucket=name,
                ServerSideEncryptionConfiguration=DEFAULT_ENCRYPTION,
            )
            done.append(f"s3:PutBucketEncryption {name}")

    if missing:

        def create(done: list[str]) -> None:
            args: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": region}
            _call("CreateBucket", s3.create_bucket, **args)
            done.append(f"s3:CreateBucket {name}")
            try:  # tagged at once, so an interrupted run leaves a bucket a rerun may finish
                _call(
                    "PutBucketTagging",
                    s3.put_bucket_tagging,
                    Bucket=name,
                    Tagging={"TagSet": _aws_tags(s.tags)},
                )
            except ApplyError as exc:
                raise ApplyError(
                    f"{exc}; bucket {name} was created but not tagged as this spec's, so a "
                    "rerun refuses it: rerun with --adopt to finish it"
                ) from None
            done.append(f"s3:PutBucketTagging {name} {TAG_OWNER_SHOWN}")
            secure(done, {"publicAccessBlock", "encryption"})

        summary = f"create bucket {name} (Block Public Access, default encryption)"
        return Action(s.r.name, target, Verb.CREATE, summary, fs, create)
    got = live.aws_call(f"s3 get-bucket-tagging {name}", s3.get_bucket_tagging, Bucket=name)
    current = _tag_map((got or {}).get("TagSet"))
    d = ownership(s, target, fs, o, recorded_in_tags(current), f"bucket {name}")
    if isinstance(d, Action):
        return d

    def finish(done: list[str]) -> None:
        if d.verb is Verb.ADOPT:  # PutBucketTagging replaces the set: keep the others
            tags = {**current, **s.tags}
            _call(
                "PutBucketTagging",
                s3.put_bucket_tagging,
                Bucket=name,
                Tagging={"TagSet": _aws_tags(tags)},
            )
            done.append(f"s3:PutBucketTagging {name} {TAG_OWNER_SHOWN}")
        secure(done, paths)

    what = " and ".join(
        t
        for p, t in (
            ("publicAccessBlock", "Block Public Access"),
            ("encryption", "default encryption"),
        )
        if p in paths
    )
    summary = d.summary(f"set {what or 'the owner tags'} on bucket {name}")
    return Action(s.r.name, target, d.verb, summary, fs, finish)


# --- EKS Pod Identity: the agent add-on and the associations ----------------------------------


def _no_cluster(s: SpecView, target: str, fs: list[Finding], cluster: str) -> Action:
    summary = f"cluster {cluster} does not exist yet: create it (eksctl step), then rerun"
    return s.left(target, Verb.MANUAL, summary, fs)


def addon(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None
    cluster, region, name = a.content["cluster"], a.content["region"], a.content["addon"]
    if live.eks_cluster(s.clients, cluster, region) is None:
        return _no_cluster(s, target, fs, cluster)
    eks = s.clients.aws("eks", region)

    def create(done: list[str]) -> None:
        _call("CreateAddon", eks.create_addon, clusterName=cluster, addonName=name, tags=s.tags)
        done.append(f"eks:CreateAddon {cluster}/{name}")

    return Action(s.r.name, target, Verb.CREATE, f"install add-on {name} on {cluster}", fs, create)


Step = tuple[str, Any, dict[str, Any]]  # (description, call, arguments)


def pod_identity_associations(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    """Create, repoint or delete associations so the namespace's service accounts get
    exactly the compiled role. An association this spec's owner did not create is not
    repointed without --adopt, and never deleted: it is listed with the command that
    removes it."""
    assert a is not None
    cluster, region, ns = a.content["cluster"], a.content["region"], s.r.namespace
    got = live.eks_pod_identity_associations(s.clients, cluster, region, ns)
    if got is None:
        return [_no_cluster(s, target, fs, cluster)]
    want = {x["serviceAccountName"]: x["roleARN"] for x in a.content["associations"]}
    accounts = {sa.name for sa in s.r.service_accounts}
    have = {x["serviceAccount"]: x for x in got}
    eks = s.clients.aws("eks", region)
    steps: list[Step] = []
    actions: list[Action] = []
    for sa, role_arn in sorted(want.items()):
        current = have.get(sa)
        if current is None:
            args = {
                "clusterName": cluster,
                "namespace": ns,
                "serviceAccount": sa,
                "roleArn": role_arn,
                "tags": s.tags,
            }
            steps.append(
                (
                    f"CreatePodIdentityAssociation {ns}/{sa}",
                    eks.create_pod_identity_association,
                    args,
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
            steps.append(
                (f"TagResource {arn}", eks.tag_resource, {"resourceArn": arn, "tags": s.tags})
            )
        steps.append(
            (
                f"UpdatePodIdentityAssociation {ns}/{sa} {ident}",
                eks.update_pod_identity_association,
                {"clusterName": cluster, "associationId": ident, "roleArn": role_arn},
            )
        )
    for sa, current in sorted(have.items()):
        grants = current.get("roleArn") == s.r.role_arn or sa in accounts
        if sa in want or not grants:
            continue
        ident = current["associationId"]
        if recorded_in_tags(current.get("tags")).owner == s.owner.identity:
            steps.append(
                (
                    f"DeletePodIdentityAssociation {ns}/{sa} {ident}",
                    eks.delete_pod_identity_association,
                    {"clusterName": cluster, "associationId": ident},
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
    if steps:

        def run(done: list[str]) -> None:
            for what, fn, args in steps:
                _call(what.split(" ", 1)[0], fn, **args)
                done.append(f"eks:{what}")

        verb_ = Verb.CREATE if all(w.startswith("Create") for w, _, _ in steps) else Verb.UPDATE
        summary = "; ".join(w for w, _, _ in steps)
        actions.insert(0, Action(s.r.name, target, verb_, summary, fs, run))
    if actions and not steps:
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


def _owned_by(s: SpecView, arns: list[tuple[str, Any]], hidden: list[str]) -> list[str]:
    """Of (arn, tag reader) pairs, the ARNs tagged with this spec's owner identity (read in
    parallel). An object with the same name tag but another owner is not ours; one whose
    tags these credentials may not read (AccessDenied: a boundary or SCP guarding another
    team's role) is not provably ours either: it is added to `hidden`, not an error."""
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
    return [
        arn
        for (arn, _), t in zip(arns, found, strict=True)
        if t is not None and recorded_in_tags(t).owner == mine
    ]


def orphans(s: SpecView, services: frozenset[Service], o: Options) -> list[Action]:
    """IAM roles, customer-managed policies and OIDC providers tagged with this spec's owner
    identity that the spec no longer names: `orphaned` (listed with the commands that remove
    them), or with --prune `delete`. A provider any remaining role trusts is kept. What a
    deletion needs (no instance profile holds the role; the policy is attached to nothing
    but roles this run detaches it from) is checked here, before anything changes."""
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
    # roles whose attachments this run leaves to this spec: the spec's own role (its
    # attachment action detaches what it no longer names) and the roles pruned
    detaching = {*role_arns, *(a for a in named if ":role/" in a)}
    notes = []
    if hidden:
        summary = (
            f"{len(hidden)} IAM object(s) whose tags these credentials may not read were not "
            "considered as orphans (not provably this spec's): " + ", ".join(sorted(hidden))
        )
        notes.append(s.left("iam/orphans", Verb.NOTE, summary, []))
    return notes + (
        [_orphan(s, f"iam/role/{arn}", o, _delete_role(s.clients, arn)) for arn in role_arns]
        + [
            _orphan(s, f"iam/policy/{arn}", o, _delete_policy(iam, arn, detaching))
            for arn in policy_arns
        ]
        + [
            _orphan(s, f"iam/oidc-provider/{arn}", o, _delete_provider(iam, arn))
            for arn in provider_arns
        ]
    )


@dataclass(frozen=True)
class Deletion:
    commands: list[str]  # the aws CLI commands that remove the object
    run: Any  # Run: the deletion
    blocked: str | None = None  # why it cannot be deleted now (checked before any change)


def _orphan(s: SpecView, target: str, o: Options, deletion: Deletion) -> Action:
    kind = target.split("/", 2)[1]
    if deletion.blocked is not None:
        summary = (
            f"{kind} created for this spec, no longer in it, cannot be deleted: {deletion.blocked}"
        )
        left = s.left(target, Verb.MANUAL, summary, [])
        left.commands = deletion.commands
        return left
    if o.prune:
        summary = f"delete {kind} the spec no longer names"
        return Action(s.r.name, target, Verb.DELETE, summary, [], deletion.run)
    summary = f"{kind} created for this spec, no longer in it; --prune deletes it, or run"
    return Action(s.r.name, target, Verb.ORPHANED, summary, [], commands=deletion.commands)


def _instance_profiles(iam: Any, name: str) -> list[str]:
    got = live.aws_pages(
        f"iam list-instance-profiles-for-role {name}",
        iam,
        "list_instance_profiles_for_role",
        "InstanceProfiles",
        RoleName=name,
    )
    return sorted(p["InstanceProfileName"] for p in got or [])


def _delete_role(c: live.Clients, arn: str) -> Deletion:
    name = _name_of(arn, "role")
    iam = c.aws("iam")
    commands = [
        f"aws iam list-attached-role-policies --role-name {q(name)}  # detach each: aws iam detach-role-policy",
        f"aws iam list-role-policies --role-name {q(name)}  # delete each: aws iam delete-role-policy",
        f"aws iam delete-role --role-name {q(name)}",
    ]
    profiles = _instance_profiles(iam, name)
    if profiles:
        blocked = f"role {name} is in instance profile(s) {', '.join(profiles)}"
        commands = [
            f"aws iam remove-role-from-instance-profile --instance-profile-name {q(p)} --role-name {q(name)}"
            for p in profiles
        ] + commands
        return Deletion(commands, None, blocked)

    def run(done: list[str]) -> None:
        again = _instance_profiles(iam, name)  # checked again before the first change
        if again:
            raise ApplyError(
                f"role {name} was added to instance profile(s) {', '.join(again)} meanwhile; "
                "nothing was changed"
            )
        for policy_arn in sorted(live.iam_role_attachments(c, arn) or []):
            _call("DetachRolePolicy", iam.detach_role_policy, RoleName=name, PolicyArn=policy_arn)
            done.append(f"iam:DetachRolePolicy {name} {policy_arn}")
        what = f"iam list-role-policies {name}"
        inline = live.aws_pages(what, iam, "list_role_policies", "PolicyNames", RoleName=name)
        for policy in sorted(inline or []):
            _call("DeleteRolePolicy", iam.delete_role_policy, RoleName=name, PolicyName=policy)
            done.append(f"iam:DeleteRolePolicy {name} {policy}")
        _call("DeleteRole", iam.delete_role, RoleName=name)
        done.append(f"iam:DeleteRole {name}")

    return Deletion(commands, run)


def _entities(iam: Any, arn: str) -> list[tuple[str, str]]:
    """(kind, name) of every role, user and group the policy is attached to or bounds."""

    def every() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
            found += [("role", r["RoleName"]) for r in page.get("PolicyRoles", [])]
            found += [("user", u["UserName"]) for u in page.get("PolicyUsers", [])]
            found += [("group", g["GroupName"]) for g in page.get("PolicyGroups", [])]
        return found

    got = live.aws_call(f"iam list-entities-for-policy {arn}", every)
    return sorted(got or [])


def _delete_policy(iam: Any, arn: str, detaching: set[str]) -> Deletion:
    commands = [
        f"aws iam delete-policy --policy-arn {q(arn)}  # after deleting its non-default versions"
    ]
    leaving = {_name_of(r, "role") for r in detaching}
    held = [f"{k} {n}" for k, n in _entities(iam, arn) if not (k == "role" and n in leaving)]
    if held:
        return Deletion(commands, None, f"policy {arn} is attached to {', '.join(held)}")

    def run(done: list[str]) -> None:
        users = _entities(iam, arn)  # earlier actions of this run detached it from our roles
        if users:
            names = ", ".join(f"{k} {n}" for k, n in users)
            raise ApplyError(f"policy {arn} is still attached to {names}: detach it, then rerun")
        for v in _policy_versions(iam, arn):
            if not v["IsDefaultVersion"]:
                _call(
                    "DeletePolicyVersion",
                    iam.delete_policy_version,
                    PolicyArn=arn,
                    VersionId=v["VersionId"],
                )
                done.append(f"iam:DeletePolicyVersion {v['VersionId']}")
        _call("DeletePolicy", iam.delete_policy, PolicyArn=arn)
        done.append(f"iam:DeletePolicy {arn}")

    return Deletion(commands, run)


def _delete_provider(iam: Any, arn: str) -> Deletion:
    def run(done: list[str]) -> None:
        _call(
            "DeleteOpenIDConnectProvider",
            iam.delete_open_id_connect_provider,
            OpenIDConnectProviderArn=arn,
        )
        done.append(f"iam:DeleteOpenIDConnectProvider {arn}")

    return Deletion(
        [f"aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {q(arn)}"], run
    )
