"""Google Cloud IAM, as far as the compiled bindings need it: who holds which permission on
which resource, with the binding's condition evaluated by a real CEL implementation.

Model (IAM overview, "Policy inheritance"; IAM Conditions, "Resource attributes"):
- a request is allowed when some binding on the resource or an ancestor (an object's bucket,
  a secret's project) names the principal, its role holds every permission the request needs,
  and its condition - if any - evaluates to true;
- conditions see `resource.name`, `resource.type`, and `api.getAttribute(name, default)` for
  request attributes (Cloud Storage: `storage.googleapis.com/objectListPrefix` on
  objects.list), plus GCP's string extension `extract(template)`.

CEL engine: cel-python (`celpy`), picked over celgcp because it is a general CEL
implementation with a PyPI release in the lock, its own parser (so a condition that does not
parse fails here as it would in IAM), and a documented hook for extension functions - the two
GCP functions are registered below. The role -> permission lists are vendored in
`gcp_roles.json` with their source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import celpy
from celpy import celtypes

ROLES = json.loads(Path(__file__).with_name("gcp_roles.json").read_text())["roles"]
OBJECT = "storage.googleapis.com/Object"
BUCKET = "storage.googleapis.com/Bucket"
SECRET_VERSION = "secretmanager.googleapis.com/SecretVersion"
SERVICE_ACCOUNT = "iam.googleapis.com/ServiceAccount"


@dataclass(frozen=True)
class Check:
    """What IAM is asked for one request: permissions on a resource, and where its policy
    (and its ancestors') live."""

    permissions: tuple[str, ...]
    resource_name: str
    resource_type: str
    policy_resources: tuple[str, ...]  # the resource's own policy first, then its ancestors
    attributes: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def bucket(bucket: str, *permissions: str) -> Check:
        name = f"projects/_/buckets/{bucket}"
        return Check(permissions, name, BUCKET, (name,))

    @staticmethod
    def listing(bucket: str, prefix: str) -> Check:
        name = f"projects/_/buckets/{bucket}"
        attrs = (("storage.googleapis.com/objectListPrefix", prefix),)
        return Check(("storage.objects.list",), name, BUCKET, (name,), attrs)

    @staticmethod
    def object(bucket: str, obj: str, *permissions: str) -> Check:
        return Check(
            permissions,
            f"projects/_/buckets/{bucket}/objects/{obj}",
            OBJECT,
            (f"projects/_/buckets/{bucket}",),
        )

    @staticmethod
    def secret_version(project: str, name: str) -> Check:
        """`name`: projects/P/secrets/S/versions/V, as the Secret Manager client builds it."""
        return Check(
            ("secretmanager.versions.access",), name, SECRET_VERSION, (f"projects/{project}",)
        )

    @staticmethod
    def none() -> Check:
        """A request Cloud Storage does not authorize by itself (a resumable session start:
        the object is checked when its bytes arrive)."""
        return Check((), "", "", ())

    def elsewhere(self, bucket: str | None = None, prefix: str | None = None) -> Check:
        """The same request aimed at another bucket, or with `prefix` in front of the object
        name / list prefix."""

        def move(name: str) -> str:
            if bucket:
                name = name.replace(f"/buckets/{self.bucket_name}", f"/buckets/{bucket}", 1)
            if prefix and "/objects/" in name:
                head, _, obj = name.partition("/objects/")
                name = f"{head}/objects/{prefix}{obj}"
            return name

        attrs = tuple((k, f"{prefix or ''}{v}") for k, v in self.attributes)
        return Check(
            self.permissions,
            move(self.resource_name),
            self.resource_type,
            tuple(move(p) for p in self.policy_resources),
            attrs,
        )

    @property
    def bucket_name(self) -> str:
        return self.resource_name.split("/")[3] if "/buckets/" in self.resource_name else ""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    principal: str
    missing: str = ""  # the first permission no binding granted
    granted_by: tuple[str, ...] = field(default=())  # "resource role" per permission


class Policy:
    """The bindings of `gcp/iam-bindings.json` (or a mutated copy)."""

    def __init__(self, bindings: dict[str, Any]) -> None:
        self.by_resource: dict[str, list[dict[str, Any]]] = {}
        for entry in bindings["resources"]:
            self.by_resource.setdefault(entry["resource"], []).extend(entry["bindings"])
        for binds in self.by_resource.values():  # every condition must parse, used or not
            for b in binds:
                if "condition" in b:
                    _program(b["condition"]["expression"])

    def allows(self, principal: str, check: Check) -> Decision:
        granted = []
        for permission in check.permissions:
            by = self._grant(principal, permission, check)
            if by is None:
                return Decision(False, principal, permission)
            granted.append(by)
        return Decision(True, principal, granted_by=tuple(granted))

    def _grant(self, principal: str, permission: str, check: Check) -> str | None:
        for resource in check.policy_resources:
            for b in self.by_resource.get(resource, []):
                if principal not in b["members"] or permission not in ROLES[b["role"]]:
                    continue
                if "condition" not in b or evaluate(b["condition"]["expression"], check):
                    return f"{resource} {b['role']}"
        return None


def evaluate(expression: str, check: Check) -> bool:
    activation = {
        "resource": celtypes.MapType(
            {
                celtypes.StringType("name"): celtypes.StringType(check.resource_name),
                celtypes.StringType("type"): celtypes.StringType(check.resource_type),
            }
        ),
        "api": celtypes.MapType(
            {celtypes.StringType(k): celtypes.StringType(v) for k, v in check.attributes}
        ),
    }
    result = _program(expression).evaluate(activation)
    if not isinstance(result, celtypes.BoolType):  # an error or a non-bool denies, as in IAM
        return False
    return bool(result)


def _get_attribute(api: Any, name: Any, default: Any) -> Any:
    """`api.getAttribute(name, default)`: a request attribute, or the default when absent."""
    return api.get(celtypes.StringType(name), default)


def _extract(value: Any, template: Any) -> Any:
    """GCP's `extract(template)` ("Extract a value from a resource name"): the template is
    a prefix, `{placeholder}`, and an optional suffix; the value is what follows the first
    occurrence of the prefix, up to the suffix, or to the end when the suffix is empty;
    the empty string when the prefix (or the suffix) is not found."""
    head, _, rest = str(template).partition("{")
    _, _, tail = rest.partition("}")
    text = str(value)
    start = text.find(head)
    if start < 0:
        return celtypes.StringType("")
    found = text[start + len(head) :]
    if tail:
        end = found.find(tail)
        if end < 0:
            return celtypes.StringType("")
        found = found[:end]
    return celtypes.StringType(found)


@cache
def _program(expression: str) -> Any:
    env = celpy.Environment()
    ast = env.compile(expression)  # raises CELParseError on a condition IAM would refuse
    return env.program(ast, functions={"getAttribute": _get_attribute, "extract": _extract})
