"""Mutating calls as data, and the one executor that makes them.

A builder (`converge_aws`, `converge_gcp`, `converge_kube`, `converge_tools`) decides, from
what the run read, every call an action will make: the API, the operation and its exact
arguments. `make` sends one call and records it as made; it never decides another call. What
it may still do at run time:
- retry the same call on IAM's eventual consistency or a GSA created a moment ago (the
  arguments do not change);
- check a guard (a `check` call: a role still in no instance profile, a policy attached to
  nothing) and stop the run when it does not hold;
- on an etag conflict of a GCP IAM policy (someone wrote it since it was read): a direct
  `apply` reads it again and merges this spec's bindings into what is there now; a saved
  plan (`apply plan.json`) stops instead, since what it would write is no longer what was
  reviewed.

A call's digest (`Call.digest`) covers everything `make` sends, so two plans that would send
the same requests have the same digests (`apply plan.json` compares them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from airspec.live import readers as live


def retry_delays() -> list[float]:
    """The waits before each retry on IAM's eventual consistency or a GCP etag conflict:
    bounded, doubling from AIRSPEC_BACKOFF_SECONDS (default 0.5: 0.5 + 1 + 2 + 4 + 8 = 15.5 s
    at most for one call). Read at each call: the environment is the run's."""
    import math

    try:
        first = float(os.environ.get("AIRSPEC_BACKOFF_SECONDS", "0.5"))
    except ValueError:
        first = 0.5
    if not math.isfinite(first):  # nan, inf: the default
        first = 0.5
    return [max(0.0, first) * 2**i for i in range(5)]


# IAM answers these for a role, policy or provider created a moment ago (IAM user guide,
# "Changes that I make are not always immediately visible")
EVENTUAL = frozenset({"NoSuchEntity", "MalformedPolicyDocument", "InvalidInput"})
GCP_CONFLICT = (409, 412)  # the etag no longer matches: someone else wrote the policy meanwhile
POLICY_VERSION = 3  # conditions need version 3 (IAM docs, "Policy versions")
MANAGER = "airspec"  # the field manager of every Kubernetes write
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"


class ApplyError(Exception):
    """A mutating call failed (after its retries), or a guard did not hold."""


class Api(StrEnum):
    AWS = "aws"  # op "<service>:<Operation>", args: the operation's parameters
    GCP = "gcp"  # op: see _GCP
    KUBE = "kube"  # op "apply" (server-side apply) or "merge-patch"
    TOOL = "tool"  # op "run": a runbook command in out/<name>/
    CHECK = "check"  # a guard checked when the run reaches it; sends nothing


@dataclass(frozen=True)
class Call:
    """One mutating request (or guard), everything it sends decided by the plan."""

    api: Api
    op: str
    args: Mapping[str, Any]
    shown: str  # the line listed once it is made
    region: str | None = None
    retry: bool = False  # retried on eventual consistency (same arguments)
    destructive: bool = False  # deletes, detaches, or removes a grant or a field
    hint: str = ""  # added to the error when this call fails
    once: str = ""  # a key: of calls with the same key in one plan, only the first is kept

    def identity(self) -> dict[str, Any]:
        """What the call sends, as plain data (the digest is of this)."""
        return {
            "api": str(self.api),
            "op": self.op,
            "args": json.loads(json.dumps(self.args, sort_keys=True, default=str)),
            "region": self.region,
        }

    @property
    def digest(self) -> str:
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Context:
    """What calls run against: the spec's clients and out/ folder, and what to do when a
    GCP IAM policy was written since it was read (`merge_on_conflict`: a direct apply)."""

    clients: live.Clients
    out: Path
    merge_on_conflict: bool = True


def make(call: Call, ctx: Context, done: list[str]) -> None:
    """Send one call; append what was made to `done` as soon as it is made. Raises
    ApplyError (or live.ReadError from a read it needs)."""
    try:
        _MAKERS[call.api](call, ctx, done)
    except ApplyError as exc:
        if call.hint:
            raise ApplyError(f"{exc}; {call.hint}") from None
        raise


# --- AWS --------------------------------------------------------------------------------------


def aws_call(what: str, fn: Any, *, retry: bool = False, **kwargs: Any) -> Any:
    """One mutating AWS call; with `retry`, IAM's eventual-consistency errors are retried
    with bounded backoff. Raises ApplyError."""
    from botocore.exceptions import BotoCoreError, ClientError

    delays = retry_delays() if retry else []
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
            raise ApplyError(_unexpected(what, exc)) from None


def _unexpected(what: str, exc: Exception) -> str:
    return f"{what}: {live.unexpected(exc)}; it may or may not have been made"


def _aws(call: Call, ctx: Context, done: list[str]) -> None:
    from botocore import xform_name

    service, op = call.op.split(":", 1)
    client = ctx.clients.aws(service, call.region)
    got = aws_call(op, getattr(client, xform_name(op)), retry=call.retry, **dict(call.args))
    version = ((got or {}).get("PolicyVersion") or {}).get("VersionId")
    done.append(f"{call.shown} -> {version}" if version else call.shown)


# --- guards -----------------------------------------------------------------------------------


def instance_profiles(c: live.Clients, role: str) -> list[str]:
    """The instance profiles holding role `role`."""
    got = live.aws_pages(
        f"iam list-instance-profiles-for-role {role}",
        c.aws("iam"),
        "list_instance_profiles_for_role",
        "InstanceProfiles",
        RoleName=role,
    )
    return sorted(p["InstanceProfileName"] for p in got or [])


def policy_entities(c: live.Clients, arn: str) -> list[tuple[str, str]]:
    """(kind, name) of every role, user and group a managed policy is attached to."""
    iam = c.aws("iam")

    def every() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn):
            found += [("role", r["RoleName"]) for r in page.get("PolicyRoles", [])]
            found += [("user", u["UserName"]) for u in page.get("PolicyUsers", [])]
            found += [("group", g["GroupName"]) for g in page.get("PolicyGroups", [])]
        return found

    got = live.aws_call(f"iam list-entities-for-policy {arn}", every)
    return sorted(got or [])


def _check(call: Call, ctx: Context, done: list[str]) -> None:
    if call.op == "role-in-no-instance-profile":
        role = call.args["role"]
        again = instance_profiles(ctx.clients, role)
        if again:
            raise ApplyError(
                f"role {role} was added to instance profile(s) {', '.join(again)} meanwhile; "
                "nothing was changed"
            )
    elif call.op == "policy-attached-to-nothing":
        arn = call.args["arn"]
        users = policy_entities(ctx.clients, arn)
        if users:
            names = ", ".join(f"{k} {n}" for k, n in users)
            raise ApplyError(f"policy {arn} is still attached to {names}: detach it, then rerun")
    else:  # a plan names only guards this airspec knows
        raise ApplyError(f"unknown guard {call.op}")


# --- GCP --------------------------------------------------------------------------------------


class GcpHttpError(ApplyError):
    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: HTTP {status} {reason}")
        self.status, self.reason = status, reason


def gcp_execute(what: str, request: Any) -> Any:
    """One Google API call; HttpError → GcpHttpError carrying the status."""
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import HttpError

    try:
        return request.execute(num_retries=live.read_retries())
    except HttpError as exc:
        raise GcpHttpError(what, exc.resp.status, str(exc.reason)) from None
    except GoogleAuthError as exc:
        raise ApplyError(f"{what}: the Google credentials failed ({type(exc).__name__})") from None
    except OSError as exc:
        raise ApplyError(f"{what}: cannot reach the Google API ({exc})") from None
    except Exception as exc:  # an answer the client cannot parse (a proxy's page)
        raise ApplyError(_unexpected(what, exc)) from None


def _accounts(c: live.Clients) -> Any:
    return c.gcp("iam", "v1").projects().serviceAccounts()


def _set_request(c: live.Clients, kind: str, resource: str, policy: dict[str, Any]) -> Any:
    if kind == "iam.serviceAccount":
        return _accounts(c).setIamPolicy(resource=resource, body={"policy": policy})
    if kind == "storage.bucket":
        bucket = resource.rsplit("/", 1)[1]
        return c.gcp("storage", "v1").buckets().setIamPolicy(bucket=bucket, body=policy)
    project = resource.split("/", 1)[1]
    crm = c.gcp("cloudresourcemanager", "v1").projects()
    return crm.setIamPolicy(resource=project, body={"policy": policy})


def _gcp(call: Call, ctx: Context, done: list[str]) -> None:
    a = call.args
    if call.op == "iam.serviceAccounts.create":
        email = a["email"]
        try:
            gcp_execute(
                f"serviceAccounts.create {email}",
                _accounts(ctx.clients).create(name=f"projects/{a['project']}", body=a["body"]),
            )
        except GcpHttpError as exc:
            if exc.status != 409:  # 409: it exists already (created since the read)
                raise
            raise ApplyError(
                f"serviceAccounts.create {email}: it was created by someone else meanwhile; "
                "nothing was granted: rerun apply to decide from what exists now"
            ) from None
        done.append(call.shown)
    elif call.op == "iam.serviceAccounts.patch":
        gcp_execute(
            f"serviceAccounts.patch {a['name']}",
            _accounts(ctx.clients).patch(name=a["name"], body=a["body"]),
        )
        done.append(call.shown)
    elif call.op == "setIamPolicy":
        _set_policy(call, ctx, done)
    else:
        raise ApplyError(f"unknown GCP call {call.op}")


def _bindings_equal(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    from airspec.apply.normalize import gcp_bindings

    return bool(gcp_bindings(a) == gcp_bindings(b))


def _set_policy(call: Call, ctx: Context, done: list[str]) -> None:
    """Write the planned bindings with the etag they were computed from. A policy created
    with its GSA in this run (no etag planned) is read first, and must still hold what the
    plan saw. On an etag conflict: merge again (direct apply) or stop (a saved plan)."""
    from airspec.apply.bindings import merge_bindings

    a = call.args
    kind, resource = a["kind"], a["resource"]
    bindings, etag = list(a["bindings"]), a.get("etag")
    waits = retry_delays()

    def moved(why: str) -> None:
        if not ctx.merge_on_conflict:
            raise ApplyError(
                f"the IAM policy of {resource} changed since the plan ({why}); nothing was "
                "written to it: make a new plan"
            )

    while True:
        if etag is None:  # read it (a GSA created a moment ago may not be readable yet)
            policy = live.gcp_policy(ctx.clients, kind, resource)
            if policy is None:
                if not waits:
                    raise ApplyError(f"getIamPolicy {resource}: not found")
                time.sleep(waits.pop(0))
                continue
            have = policy.get("bindings", [])
            if not _bindings_equal(have, a["before"]):
                moved("its bindings are not the ones planned from")
                bindings = merge_bindings(have, a["compiled"], set(a["ours"]))
                if _bindings_equal(bindings, have):
                    return
            etag = policy.get("etag", "")
        body = {"bindings": bindings, "etag": etag, "version": POLICY_VERSION}
        try:
            gcp_execute(f"setIamPolicy {resource}", _set_request(ctx.clients, kind, resource, body))
        except GcpHttpError as exc:
            # 409/412: written meanwhile; 400 "does not exist": a GSA created a moment ago
            eventual = exc.status == 400 and "does not exist" in exc.reason
            if exc.status in GCP_CONFLICT:
                moved(f"HTTP {exc.status}: its etag is no longer {etag}")
            if (exc.status in GCP_CONFLICT or eventual) and waits:
                done.append(f"setIamPolicy {resource}: HTTP {exc.status}, read again")
                time.sleep(waits.pop(0))
                if exc.status in GCP_CONFLICT:
                    etag = None
                continue
            raise
        done.append(f"setIamPolicy {resource} (etag {etag})")
        return


# --- Kubernetes -------------------------------------------------------------------------------


def _kube(call: Call, ctx: Context, done: list[str]) -> None:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    a = call.args
    namespace = None if a["kind"] == "namespace" else a["namespace"]
    path = live.kube_path(a["kind"], a["name"], namespace)
    query = [("fieldManager", MANAGER)]
    if call.op == "apply":
        content_type, query = APPLY_PATCH, [*query, ("force", "true")]
    else:
        content_type = MERGE_PATCH
    where = a["name"] if namespace is None else f"{namespace}/{a['name']}"
    what = a.get("what", f"{a['kind']} {where}")
    try:
        ctx.clients.kube().patch(path, a["body"], content_type=content_type, query=query)
    except ApiException as exc:
        detail = ""
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(exc.body or "{}").get("message", "")
        raise ApplyError(f"{what}: HTTP {exc.status} {exc.reason} {detail}".strip()) from None
    except HTTPError as exc:
        raise ApplyError(
            f"{what}: cannot reach the Kubernetes API ({type(exc).__name__})"
        ) from None
    except Exception as exc:  # an answer the client cannot parse (a proxy's page)
        raise ApplyError(_unexpected(what, exc)) from None
    done.append(call.shown)


# --- tools ------------------------------------------------------------------------------------


def _tool(call: Call, ctx: Context, done: list[str]) -> None:
    command = call.args["command"]
    got = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=ctx.out / call.args["folder"],
        capture_output=True,
        text=True,
    )
    if got.returncode != 0:
        tail = (got.stderr or got.stdout).strip().splitlines()[-1:] or [""]
        raise ApplyError(f"{shlex.split(command)[0]} exited {got.returncode}: {tail[0]}")
    done.append(command)


_MAKERS = {Api.AWS: _aws, Api.GCP: _gcp, Api.KUBE: _kube, Api.TOOL: _tool, Api.CHECK: _check}
