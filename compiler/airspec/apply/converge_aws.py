"""`airspec apply` for AWS: IAM (OIDC provider, policy, role, attachments, inline policy),
owned S3 buckets, EKS Pod Identity (the agent add-on and the associations).

Objects airspec creates are tagged `airspec.io/spec` and `airspec.io/name`; an existing
object without this spec's name tag is refused unless --adopt (which tags it first).
"""

from __future__ import annotations

import json
import time
from typing import Any

from airspec.apply.actions import (
    RETRY_DELAYS,
    TAG_NAME,
    Action,
    ApplyError,
    Options,
    SpecView,
    Verb,
    ownership,
)
from airspec.apply.findings import Finding
from airspec.artifact import Artifact, ArtifactKind, Service
from airspec.aws import STS_AUDIENCE
from airspec.live import readers as live

CALLS = (
    "iam:CreateOpenIDConnectProvider",
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:TagOpenIDConnectProvider",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:DeletePolicyVersion",
    "iam:TagPolicy",
    "iam:CreateRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePolicy",
    "s3:CreateBucket",
    "s3:PutPublicAccessBlock",
    "s3:PutBucketEncryption",
    "s3:PutBucketTagging",
    "eks:CreateAddon",
    "eks:CreatePodIdentityAssociation",
    "eks:UpdatePodIdentityAssociation",
    "eks:DeletePodIdentityAssociation (only one airspec created)",
    "eks:TagResource",
    "with --prune: iam:DeleteRolePolicy, iam:DeleteRole, iam:DeletePolicy,"
    " iam:DeleteOpenIDConnectProvider (only objects tagged with this spec's name)",
)
MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy
# IAM answers these for a role, policy or provider created a moment ago (IAM user guide,
# "Changes that I make are not always immediately visible")
EVENTUAL = frozenset({"NoSuchEntity", "MalformedPolicyDocument", "InvalidInput"})

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


def _aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def _tag_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _ownership(
    s: SpecView, target: str, findings: list[Finding], o: Options, tags: dict[str, str] | None
) -> Verb | Action:
    return ownership(s, target, findings, o, (tags or {}).get(TAG_NAME))


def _name_of(arn: str, kind: str) -> str:
    return arn.split(f":{kind}/", 1)[1].rsplit("/", 1)[-1]


def oidc_provider(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    arn = target.split("/", 2)[2]
    url = "https://" + arn.split(":oidc-provider/", 1)[1]
    iam = s.clients.aws("iam")
    if missing:

        def create() -> list[str]:
            _call(
                "CreateOpenIDConnectProvider",
                iam.create_open_id_connect_provider,
                Url=url,
                ClientIDList=[STS_AUDIENCE],
                Tags=_aws_tags(s.tags),
            )
            return [f"iam:CreateOpenIDConnectProvider {url}"]

        return Action(s.r.name, target, Verb.CREATE, f"create OIDC provider {url}", fs, create)
    got = live.aws_call(
        "ListOpenIDConnectProviderTags",
        iam.list_open_id_connect_provider_tags,
        OpenIDConnectProviderArn=arn,
    )
    verb = _ownership(s, target, fs, o, _tag_map((got or {}).get("Tags")))
    if isinstance(verb, Action):
        return verb

    def update() -> list[str]:
        done = _adopt(
            verb,
            "TagOpenIDConnectProvider",
            iam.tag_open_id_connect_provider,
            s,
            OpenIDConnectProviderArn=arn,
        )
        current = (live.oidc_provider(s.clients, arn) or {}).get("ClientIDList", [])
        if STS_AUDIENCE not in current:
            _call(
                "AddClientIDToOpenIDConnectProvider",
                iam.add_client_id_to_open_id_connect_provider,
                OpenIDConnectProviderArn=arn,
                ClientID=STS_AUDIENCE,
            )
            done.append(f"iam:AddClientIDToOpenIDConnectProvider {STS_AUDIENCE}")
        for extra in sorted(set(current) - {STS_AUDIENCE}):
            _call(
                "RemoveClientIDFromOpenIDConnectProvider",
                iam.remove_client_id_from_open_id_connect_provider,
                OpenIDConnectProviderArn=arn,
                ClientID=extra,
            )
            done.append(f"iam:RemoveClientIDFromOpenIDConnectProvider {extra}")
        return done

    return Action(
        s.r.name, target, verb, f"set the client ids of {url} to {STS_AUDIENCE}", fs, update
    )


def _adopt(verb: Verb, call: str, fn: Any, s: SpecView, **kwargs: Any) -> list[str]:
    if verb is not Verb.ADOPT:
        return []
    _call(call, fn, Tags=_aws_tags(s.tags), **kwargs)
    return [f"iam:{call}"]


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

        def create() -> list[str]:
            _call(
                "CreatePolicy",
                iam.create_policy,
                PolicyName=name,
                PolicyDocument=document,
                Tags=_aws_tags(s.tags),
            )
            return [f"iam:CreatePolicy {name}"]

        return Action(s.r.name, target, Verb.CREATE, f"create policy {name}", fs, create)
    got = live.aws_call("ListPolicyTags", iam.list_policy_tags, PolicyArn=arn)
    verb = _ownership(s, target, fs, o, _tag_map((got or {}).get("Tags")))
    if isinstance(verb, Action):
        return verb

    def new_version() -> list[str]:
        done = _adopt(verb, "TagPolicy", iam.tag_policy, s, PolicyArn=arn)
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
        return done

    return Action(s.r.name, target, verb, f"new default version of policy {name}", fs, new_version)


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

        def create() -> list[str]:
            # a trust policy naming a provider created a moment ago is refused for a while
            _call(
                "CreateRole",
                iam.create_role,
                retry=True,
                RoleName=name,
                AssumeRolePolicyDocument=trust,
                Tags=_aws_tags(s.tags),
            )
            return [f"iam:CreateRole {name}"]

        return Action(s.r.name, target, Verb.CREATE, f"create role {name}", fs, create)
    verb = _role_owner(s, target, fs, o, name)
    if isinstance(verb, Action):
        return verb

    def update() -> list[str]:
        done = _adopt(verb, "TagRole", iam.tag_role, s, RoleName=name)
        _call(
            "UpdateAssumeRolePolicy",
            iam.update_assume_role_policy,
            retry=True,
            RoleName=name,
            PolicyDocument=trust,
        )
        return [*done, f"iam:UpdateAssumeRolePolicy {name}"]

    return Action(s.r.name, target, verb, f"update the trust policy of role {name}", fs, update)


def _role_owner(
    s: SpecView, target: str, fs: list[Finding], o: Options, name: str
) -> Verb | Action:
    """As `_ownership` for role `name`; CREATE when the role does not exist yet (an earlier
    action of this run creates it)."""
    got = live.aws_call("GetRole", s.clients.aws("iam").get_role, RoleName=name)
    if got is None:
        return Verb.CREATE
    return _ownership(s, target, fs, o, _tag_map(got["Role"].get("Tags")))


def _attachments(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    arn = target.split("/", 2)[2].removesuffix("#attached-policies")
    name = _name_of(arn, "role")
    policy = s.find(ArtifactKind.AWS_IAM_POLICY)
    wanted = {policy.live.id} if policy is not None and policy.live is not None else set()
    iam = s.clients.aws("iam")
    # a missing attachment list means the role is missing: created earlier in this run
    verb = Verb.UPDATE if missing else _role_owner(s, target, fs, o, name)
    if isinstance(verb, Action):
        return verb

    def attach() -> list[str]:
        done = _adopt(verb, "TagRole", iam.tag_role, s, RoleName=name)
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
        return done

    shown = ", ".join(sorted(_name_of(p, "policy") for p in wanted)) or "nothing"
    return Action(s.r.name, target, verb, f"attach exactly {shown} to role {name}", fs, attach)


def role_policy(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    assert a is not None and a.live is not None
    role, name = a.live.id.split("/", 1)
    iam = s.clients.aws("iam")
    document = json.dumps(a.content, sort_keys=True)
    verb = _role_owner(s, target, fs, o, role)
    if isinstance(verb, Action):
        return verb

    def put() -> list[str]:
        done = _adopt(verb, "TagRole", iam.tag_role, s, RoleName=role)
        _call(
            "PutRolePolicy",
            iam.put_role_policy,
            retry=True,
            RoleName=role,
            PolicyName=name,
            PolicyDocument=document,
        )
        return [*done, f"iam:PutRolePolicy {role} {name}"]

    what = "create" if missing else "update"
    return Action(s.r.name, target, verb, f"{what} inline policy {name} of role {role}", fs, put)


def bucket(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> Action:
    name = target.split("/", 2)[2]
    owned = any(b.name == name and b.owned for b in s.r.spec.buckets)
    if not missing:
        return Action(
            s.r.name,
            target,
            Verb.MANUAL,
            f"bucket {name} differs (its region cannot change); airspec never recreates a bucket",
            fs,
        )
    if not owned:
        return Action(
            s.r.name,
            target,
            Verb.MANUAL,
            f"bucket {name} does not exist; create it, or mark it `owned: true` in the spec",
            fs,
        )
    s3 = s.clients.aws("s3")
    region = s.r.aws.region

    def create() -> list[str]:
        args: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        _call("CreateBucket", s3.create_bucket, **args)
        _call(
            "PutPublicAccessBlock",
            s3.put_public_access_block,
            Bucket=name,
            PublicAccessBlockConfiguration={
                k: True
                for k in (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                )
            },
        )
        _call(
            "PutBucketEncryption",
            s3.put_bucket_encryption,
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
        _call(
            "PutBucketTagging",
            s3.put_bucket_tagging,
            Bucket=name,
            Tagging={"TagSet": _aws_tags(s.tags)},
        )
        return [
            f"s3:CreateBucket {name}",
            "s3:PutPublicAccessBlock",
            "s3:PutBucketEncryption",
            "s3:PutBucketTagging",
        ]

    return Action(
        s.r.name,
        target,
        Verb.CREATE,
        f"create bucket {name} (Block Public Access, default encryption)",
        fs,
        create,
    )


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

    def create() -> list[str]:
        _call("CreateAddon", eks.create_addon, clusterName=cluster, addonName=name, tags=s.tags)
        return [f"eks:CreateAddon {cluster}/{name}"]

    return Action(s.r.name, target, Verb.CREATE, f"install add-on {name} on {cluster}", fs, create)


def pod_identity_associations(
    s: SpecView, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
) -> list[Action]:
    """Create, repoint or delete associations so the namespace's service accounts get
    exactly the compiled role. An association airspec did not create is not repointed
    without --adopt, and never deleted: it is listed with the command that removes it."""
    assert a is not None
    cluster, region, ns = a.content["cluster"], a.content["region"], s.r.namespace
    got = live.eks_pod_identity_associations(s.clients, cluster, region, ns)
    if got is None:
        return [_no_cluster(s, target, fs, cluster)]
    want = {x["serviceAccountName"]: x["roleARN"] for x in a.content["associations"]}
    accounts = {sa.name for sa in s.r.service_accounts}
    have = {x["serviceAccount"]: x for x in got}
    eks = s.clients.aws("eks", region)
    steps: list[tuple[str, Any, dict[str, Any]]] = []  # (description, call, arguments)
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
        verb = ownership(s, target, fs, o, (current.get("tags") or {}).get(TAG_NAME))
        if isinstance(verb, Action):
            verb.summary = f"association of {ns}/{sa}: {verb.summary}"
            actions.append(verb)
            continue
        ident = current["associationId"]
        if verb is Verb.ADOPT:
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
        if (current.get("tags") or {}).get(TAG_NAME) == s.r.name:
            steps.append(
                (
                    f"DeletePodIdentityAssociation {ns}/{sa} {ident}",
                    eks.delete_pod_identity_association,
                    {"clusterName": cluster, "associationId": ident},
                )
            )
            continue
        command = (
            f"aws eks delete-pod-identity-association --region {region} "
            f"--cluster-name {cluster} --association-id {ident}"
        )
        summary = (
            f"association of {ns}/{sa} with {current.get('roleArn')} was not made by airspec; "
            "review, and remove with"
        )
        left = s.left(target, Verb.MANUAL, summary, [])
        left.commands = [command]
        actions.append(left)
    if steps:

        def run() -> list[str]:
            for what, fn, args in steps:
                _call(what.split(" ", 1)[0], fn, **args)
            return [f"eks:{what}" for what, _, _ in steps]

        verb_ = Verb.CREATE if all(w.startswith("Create") for w, _, _ in steps) else Verb.UPDATE
        summary = f"associate {ns} service accounts with their role ({len(steps)} call(s))"
        actions.insert(0, Action(s.r.name, target, verb_, summary, fs, run))
    if actions and not steps:
        actions[0].findings = fs
    return actions


# --- orphans: what this spec's tag names and the spec does not --------------------------------

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


def _owned_by(s: SpecView, arns: list[tuple[str, Any]]) -> list[str]:
    """Of (arn, tag reader) pairs, the ARNs tagged with this spec's name (read in parallel)."""
    from concurrent.futures import ThreadPoolExecutor

    def tags(item: tuple[str, Any]) -> dict[str, str]:
        _arn, read = item
        return _tag_map((read() or {}).get("Tags"))

    with ThreadPoolExecutor(ORPHAN_WORKERS) as pool:
        found = list(pool.map(tags, arns))
    return [arn for (arn, _), t in zip(arns, found, strict=True) if t.get(TAG_NAME) == s.r.name]


def orphans(s: SpecView, services: frozenset[Service], o: Options) -> list[Action]:
    """IAM roles, customer-managed policies and OIDC providers tagged with this spec's name
    that the spec no longer names: `orphaned` (listed with the commands that remove them),
    or with --prune `delete`. A provider some remaining role still trusts is kept."""
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

    role_arns = _owned_by(
        s,
        [
            (r["Arn"], reader("ListRoleTags", iam.list_role_tags, RoleName=r["RoleName"]))
            for r in roles
            if r["Arn"] not in named
        ],
    )
    policy_arns = _owned_by(
        s,
        [
            (p["Arn"], reader("ListPolicyTags", iam.list_policy_tags, PolicyArn=p["Arn"]))
            for p in policies
            if p["Arn"] not in named
        ],
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
    )
    return (
        [_orphan(s, f"iam/role/{arn}", o, _delete_role(s.clients, arn)) for arn in role_arns]
        + [_orphan(s, f"iam/policy/{arn}", o, _delete_policy(iam, arn)) for arn in policy_arns]
        + [
            _orphan(s, f"iam/oidc-provider/{arn}", o, _delete_provider(iam, arn))
            for arn in provider_arns
        ]
    )


Deletion = tuple[list[str], Any]  # (the aws CLI commands, the run that does it)


def _orphan(s: SpecView, target: str, o: Options, deletion: Deletion) -> Action:
    commands, run = deletion
    kind = target.split("/", 2)[1]
    if o.prune:
        return Action(
            s.r.name, target, Verb.DELETE, f"delete {kind} the spec no longer names", [], run
        )
    summary = f"{kind} created for this spec, no longer in it; --prune deletes it, or run"
    return Action(s.r.name, target, Verb.ORPHANED, summary, [], commands=commands)


def _delete_role(c: live.Clients, arn: str) -> Deletion:
    name = _name_of(arn, "role")
    iam = c.aws("iam")

    def run() -> list[str]:
        done = []
        for policy_arn in sorted(live.iam_role_attachments(c, arn) or []):
            _call("DetachRolePolicy", iam.detach_role_policy, RoleName=name, PolicyArn=policy_arn)
            done.append(f"iam:DetachRolePolicy {name} {policy_arn}")
        what = f"iam list-role-policies {name}"
        inline = live.aws_pages(what, iam, "list_role_policies", "PolicyNames", RoleName=name)
        for policy in sorted(inline or []):
            _call("DeleteRolePolicy", iam.delete_role_policy, RoleName=name, PolicyName=policy)
            done.append(f"iam:DeleteRolePolicy {name} {policy}")
        _call("DeleteRole", iam.delete_role, RoleName=name)
        return [*done, f"iam:DeleteRole {name}"]

    commands = [
        f"aws iam list-attached-role-policies --role-name {name}  # detach each: aws iam detach-role-policy",
        f"aws iam list-role-policies --role-name {name}  # delete each: aws iam delete-role-policy",
        f"aws iam delete-role --role-name {name}",
    ]
    return commands, run


def _delete_policy(iam: Any, arn: str) -> Deletion:
    def run() -> list[str]:
        entities = (
            live.aws_call(
                f"iam list-entities-for-policy {arn}", iam.list_entities_for_policy, PolicyArn=arn
            )
            or {}
        )
        users = [
            *entities.get("PolicyRoles", []),
            *entities.get("PolicyUsers", []),
            *entities.get("PolicyGroups", []),
        ]
        if users:
            names = ", ".join(
                sorted(next(v for k, v in u.items() if k.endswith("Name")) for u in users)
            )
            raise ApplyError(f"policy {arn} is still attached to {names}: detach it, then rerun")
        done = []
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
        return [*done, f"iam:DeletePolicy {arn}"]

    return [
        f"aws iam delete-policy --policy-arn {arn}  # after deleting its non-default versions"
    ], run


def _delete_provider(iam: Any, arn: str) -> Deletion:
    def run() -> list[str]:
        _call(
            "DeleteOpenIDConnectProvider",
            iam.delete_open_id_connect_provider,
            OpenIDConnectProviderArn=arn,
        )
        return [f"iam:DeleteOpenIDConnectProvider {arn}"]

    return [f"aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {arn}"], run
