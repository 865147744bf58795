"""`airspec apply`: the dry run's findings turned into actions, run in dependency order.

Each out-of-sync live object (one Check target with findings) becomes one Action:
- `create` / `update`: airspec makes the live object match the compiled artifact;
- `refused`: the object exists but airspec did not create it (no `airspec.io/name` tag, or
  no `airspec` field manager) - taken over only with `--adopt`, which tags it first;
- `pending`: an external tool's step (eksctl, helm, astro, gcloud cluster creation): run
  with `--with-tools` when the binary is on PATH, else printed - the exact runbook command;
- `manual`: nothing airspec may do (a bucket it does not own), or what this version does
  not converge yet (Kubernetes objects, GCP IAM, EKS Pod Identity): its runbook step.

The plan is shown, confirmed, then run in ORDER; the first failure stops the run and the
result says what was done and what was not. Every mutating call is listed in `CALLS`.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from airspec.apply.findings import Finding, Report, Status
from airspec.apply.runner import SpecChecks
from airspec.artifact import Artifact, ArtifactKind, Service
from airspec.aws import STS_AUDIENCE
from airspec.live import readers as live
from airspec.pipeline import Compiled
from airspec.resolved import ResolvedSpec

TAG_SPEC = "airspec.io/spec"  # the spec file, relative to the project
TAG_NAME = "airspec.io/name"  # the spec's metadata.name: what ownership is checked against
MAX_POLICY_VERSIONS = 5  # IAM keeps at most five versions of a managed policy
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # IAM's eventual consistency: bounded backoff
# IAM answers these for a role, policy or provider created a moment ago (IAM user guide,
# "Changes that I make are not always immediately visible")
EVENTUAL = frozenset({"NoSuchEntity", "MalformedPolicyDocument", "InvalidInput"})

# Every mutating API call apply can make (the issue note lists them).
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
    "with --with-tools: the runbook's eksctl / helm / astro / gcloud container commands",
)


class Verb(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ADOPT = "adopt"  # update an object airspec did not create, after tagging it (--adopt)
    REFUSED = "refused"
    PENDING = "pending"
    MANUAL = "manual"


ORDER = {  # dependency order: identity before the objects that name it
    "iam/oidc-provider": 10,
    "iam/policy": 20,
    "iam/role": 30,
    "iam/role#attached-policies": 40,
    "iam/role-policy": 50,
    "s3/bucket": 60,
    "eks/cluster": 70,
    "eks/nodegroup": 71,
    "eks/addon": 75,
    "eks/pod-identity-associations": 76,
    "gke/cluster": 80,
    "gcp-iam/iam.serviceAccount": 90,
    "gcp-iam/storage.bucket": 91,
    "gcp-iam/project": 92,
    "kubernetes/namespace": 100,
    "kubernetes/configmap": 101,
    "helm/release": 110,
    "kubernetes/serviceaccount": 120,
}


def _rank(target: str) -> int:
    kind = "/".join(target.split("/", 2)[:2])
    if kind == "iam/role" and target.endswith("#attached-policies"):
        kind = "iam/role#attached-policies"
    return ORDER.get(kind, 200)


class ApplyError(Exception):
    """A mutating call failed (after its retries)."""


Run = Callable[[], list[str]]


@dataclass
class Action:
    spec: str
    target: str
    verb: Verb
    summary: str
    findings: list[Finding]
    run: Run | None = None  # None: nothing to execute (refused, manual, pending w/o tool)
    commands: list[str] = field(default_factory=list)  # pending: what is left to run
    cwd: Path | None = None
    done: list[str] = field(default_factory=list)  # calls made, filled in by execute()

    @property
    def rank(self) -> int:
        return _rank(self.target)


@dataclass(frozen=True)
class Options:
    adopt: bool = False
    with_tools: bool = False


@dataclass
class Outcome:
    """What apply did: actions applied, the one that failed (with why), those not run."""

    applied: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: str = ""
    not_run: list[Action] = field(default_factory=list)
    left: list[Action] = field(default_factory=list)  # refused / manual / pending


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    compiled: Compiled
    clients: live.Clients
    out: Path

    @property
    def r(self) -> ResolvedSpec:
        assert self.compiled.resolved is not None
        return self.compiled.resolved

    def artifact(self, path: str) -> Artifact | None:
        return next((a for a in self.compiled.artifacts if a.path == path), None)

    def find(self, kind: ArtifactKind) -> Artifact | None:
        return next((a for a in self.compiled.artifacts if a.kind is kind), None)

    @property
    def tags(self) -> dict[str, str]:
        return {TAG_SPEC: self.r.source, TAG_NAME: self.r.name}


def plan_actions(
    report: Report,
    work: Sequence[SpecChecks],
    compiled: Sequence[Compiled],
    out: Path,
    options: Options,
) -> list[Action]:
    """One action per out-of-sync live object, in dependency order."""
    by_name = {c.resolved.name: c for c in compiled if c.resolved is not None}
    specs = {w.spec: _Spec(by_name[w.spec], w.clients, out) for w in work}
    grouped: dict[tuple[str, str], list[Finding]] = {}
    for f in report.findings:
        if f.status is not Status.ERROR:
            grouped.setdefault((f.spec, f.target), []).append(f)
    actions = [
        _action(specs[spec], target, findings, options)
        for (spec, target), findings in grouped.items()
    ]
    actions = _merge_tools(actions)
    return sorted(actions, key=lambda a: (a.rank, a.spec, a.target))


def _action(s: _Spec, target: str, findings: list[Finding], o: Options) -> Action:
    missing = any(f.status is Status.MISSING for f in findings)
    artifact = s.artifact(findings[0].artifact)
    kind = "/".join(target.split("/", 2)[:2])
    builder = _BUILDERS.get(kind)
    if builder is None:  # Kubernetes, GCP IAM, EKS Pod Identity: not converged yet
        return Action(
            s.r.name,
            target,
            Verb.MANUAL,
            f"this version of apply does not change {kind}; run its RUNBOOK.md step",
            findings,
        )
    return builder(s, target, artifact, findings, missing, o)


def _merge_tools(actions: list[Action]) -> list[Action]:
    """Pending tool steps of one spec and tool are one action (one command list)."""
    merged: dict[tuple[str, str], Action] = {}
    out: list[Action] = []
    for a in actions:
        if a.verb is Verb.PENDING and a.commands:
            key = (a.spec, a.commands[0])
            if key in merged:
                merged[key].findings += a.findings
                merged[key].summary += f"; {a.target}"
                continue
            merged[key] = a
        out.append(a)
    return out


# --- execution --------------------------------------------------------------------------------


def execute(actions: Sequence[Action], progress: Callable[[Action], None] | None = None) -> Outcome:
    """Run the runnable actions in order; stop at the first failure."""
    outcome = Outcome()
    runnable = [a for a in actions if a.run is not None]
    outcome.left = [a for a in actions if a.run is None]
    for i, action in enumerate(runnable):
        if progress is not None:
            progress(action)
        assert action.run is not None
        try:
            action.done = action.run()
        except (ApplyError, live.ReadError) as exc:
            outcome.failed, outcome.error = action, str(exc)
            outcome.not_run = list(runnable[i + 1 :])
            return outcome
        outcome.applied.append(action)
    return outcome


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
    s: _Spec, target: str, findings: list[Finding], o: Options, tags: dict[str, str] | None
) -> Verb | Action:
    """UPDATE when this spec created the object; ADOPT with --adopt; else a refusal."""
    owner = (tags or {}).get(TAG_NAME)
    if owner == s.r.name:
        return Verb.UPDATE
    if o.adopt:
        return Verb.ADOPT
    who = f"spec '{owner}'" if owner else "not airspec"
    return Action(
        s.r.name,
        target,
        Verb.REFUSED,
        f"exists and was created by {who}; rerun with --adopt to take it over",
        findings,
    )


def _name_of(arn: str, kind: str) -> str:
    return arn.split(f":{kind}/", 1)[1].rsplit("/", 1)[-1]


def _oidc(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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
    got = live._aws_call(
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
        current = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"]
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


def _adopt(verb: Verb, call: str, fn: Any, s: _Spec, **kwargs: Any) -> list[str]:
    if verb is not Verb.ADOPT:
        return []
    _call(call, fn, Tags=_aws_tags(s.tags), **kwargs)
    return [f"iam:{call}"]


def _policy(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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
    got = live._aws_call("ListPolicyTags", iam.list_policy_tags, PolicyArn=arn)
    verb = _ownership(s, target, fs, o, _tag_map((got or {}).get("Tags")))
    if isinstance(verb, Action):
        return verb

    def new_version() -> list[str]:
        done = _adopt(verb, "TagPolicy", iam.tag_policy, s, PolicyArn=arn)
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
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


def _role(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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


def _role_owner(s: _Spec, target: str, fs: list[Finding], o: Options, name: str) -> Verb | Action:
    """As `_ownership` for role `name`; CREATE when the role does not exist yet (an earlier
    action of this run creates it)."""
    got = live._aws_call("GetRole", s.clients.aws("iam").get_role, RoleName=name)
    if got is None:
        return Verb.CREATE
    return _ownership(s, target, fs, o, _tag_map(got["Role"].get("Tags")))


def _attachments(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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
        pages = iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        current = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
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


def _role_policy(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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


def _bucket(
    s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
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


# --- tools: eksctl, helm, astro, gcloud -------------------------------------------------------

TOOLS = {
    Service.EKS: "eksctl",
    Service.GKE: "gcloud",
    Service.HELM: "helm",
}


def runbook_commands(runbook: str, tool: str) -> list[str]:
    """The commands of RUNBOOK.md's shell blocks that run `tool` (a line ending in `\\`
    joined with the next), in order; for `gcloud`, its `container` commands only."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", runbook, flags=re.S):
        lines = block.splitlines()
        while lines:
            line = lines.pop(0)
            while line.endswith("\\") and lines:
                line = line[:-1] + lines.pop(0).strip()
            words = line.split()
            if words[:1] == [tool] and (tool != "gcloud" or words[1:2] == ["container"]):
                commands.append(line)
    return commands


def _tool(service: Service) -> Callable[..., Action]:
    tool = TOOLS[service]

    def build(
        s: _Spec, target: str, a: Artifact | None, fs: list[Finding], missing: bool, o: Options
    ) -> Action:
        runbook = (s.out / s.r.name / "RUNBOOK.md").read_text(encoding="utf-8")
        commands = runbook_commands(runbook, tool)
        if service is Service.EKS and not missing:
            commands = []  # eksctl creates clusters; it does not reconcile one in place
        if not commands:
            return Action(
                s.r.name, target, Verb.MANUAL, f"{target.split('/')[0]} differs; see RUNBOOK.md", fs
            )
        folder = s.out / s.r.name
        action = Action(
            s.r.name,
            target,
            Verb.PENDING,
            f"run {tool} (RUNBOOK.md): {target}",
            fs,
            commands=commands,
            cwd=folder,
        )
        if o.with_tools and shutil.which(tool):
            action.run = _run_commands(commands, folder)
        return action

    return build


def _run_commands(commands: list[str], cwd: Path) -> Run:
    def run() -> list[str]:
        done = []
        for command in commands:
            got = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", command], cwd=cwd, capture_output=True, text=True
            )
            if got.returncode != 0:
                tail = (got.stderr or got.stdout).strip().splitlines()[-1:] or [""]
                raise ApplyError(f"{shlex.split(command)[0]} exited {got.returncode}: {tail[0]}")
            done.append(command)
        return done

    return run


_BUILDERS: dict[str, Callable[..., Action]] = {
    "iam/oidc-provider": _oidc,
    "iam/policy": _policy,
    "iam/role": _role,
    "iam/role-policy": _role_policy,
    "s3/bucket": _bucket,
    "eks/cluster": _tool(Service.EKS),
    "eks/nodegroup": _tool(Service.EKS),
    "gke/cluster": _tool(Service.GKE),
    "helm/release": _tool(Service.HELM),
}


# --- rendering --------------------------------------------------------------------------------

APPLY_VERSION = "airspec.apply/v1"


def plan_json(actions: Sequence[Action], outcome: Outcome | None = None) -> dict[str, Any]:
    """The plan (and, after a run, what happened) as JSON; findings keep the dry run's
    redaction, so no secret value appears."""

    def one(a: Action) -> dict[str, Any]:
        item: dict[str, Any] = {
            "spec": a.spec,
            "target": a.target,
            "action": str(a.verb),
            "summary": a.summary,
            "findings": [f.model_dump(mode="json") for f in a.findings],
        }
        if a.commands:
            item["commands"] = a.commands
        if a.done:
            item["calls"] = a.done
        return item

    doc: dict[str, Any] = {"version": APPLY_VERSION, "plan": [one(a) for a in actions]}
    if outcome is not None:
        doc["result"] = {
            "applied": [a.target for a in outcome.applied],
            "failed": None
            if outcome.failed is None
            else {"target": outcome.failed.target, "error": outcome.error},
            "not_run": [a.target for a in outcome.not_run],
            "left": [a.target for a in outcome.left],
        }
    return doc


def plan_lines(actions: Sequence[Action]) -> list[str]:
    """The plan for a terminal or a Markdown summary: one line per action."""
    lines = []
    for a in actions:
        lines.append(f"{a.verb:<8} {a.spec}: {a.summary}  [{a.target}]")
        for c in a.commands:
            where = f"(cd {a.cwd.as_posix()} && {c})" if a.cwd else c
            lines.append(f"           {where}")
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    lines = []
    for a in outcome.applied:
        lines.append(f"applied  {a.spec}: {a.summary}")
        lines += [f"           {call}" for call in a.done]
    if outcome.failed is not None:
        lines.append(f"FAILED   {outcome.failed.spec}: {outcome.failed.summary}")
        lines.append(f"           {outcome.error}")
    lines += [f"not run  {a.spec}: {a.summary}" for a in outcome.not_run]
    return lines
