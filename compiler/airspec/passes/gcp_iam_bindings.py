"""Lower the workload identity and the backends to GCP IAM bindings, in the IAM Policy shape.

Which role covers which client call (read in gcsfs 2026.10 and apache-airflow-providers-google
22.8 source):
- Workload Identity: `roles/iam.workloadIdentityUser` on the Google service account (GSA),
  one member `serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]` per Kubernetes service
  account that needs cloud access, nothing wider (no `[<namespace>/*]`).
- Task logs (GCSTaskHandler): `Blob.download_as_bytes` (storage.objects.get), then
  `Blob.upload_from_string` over the same name: an upload that replaces an object needs
  storage.objects.create *and* storage.objects.delete; `client.list_blobs(prefix=...)` to
  find a try's logs (storage.objects.list). `roles/storage.objectUser` is the narrowest
  predefined role with all three (objectCreator cannot overwrite; objectAdmin also manages
  object ACLs).
- XCom on GCS (gcsfs through ObjectStoragePath): writes, reads, `_info`/`_ls` (objects.get,
  objects.list with the key as prefix) and purges (objects.delete): `roles/storage.objectUser`
  again. `mkdir(parents=True)` runs on every write: gcsfs `_mkdir` checks the bucket with
  `GET b/<bucket>` (storage.buckets.get), falls back to listing the bucket root, and when
  both are refused calls `POST b` to *create* the bucket, which fails. So the XCom bucket
  gets `roles/storage.bucketViewer` (storage.buckets.get) on that bucket only.
- Prefix restriction: object calls are checked against
  `projects/_/buckets/<bucket>/objects/<key>`, but storage.objects.list is checked against
  the bucket, so a `resource.name` condition alone would refuse every list. The condition
  therefore also admits bucket-level calls whose `storage.googleapis.com/objectListPrefix`
  API attribute starts with the prefix. IAM conditions need uniform bucket-level access.
- gcp-secret-manager (CloudSecretManagerBackend): `access_secret_version` on
  `<prefix>-<id>` secrets: `roles/secretmanager.secretAccessor` on the project, conditioned
  on the secret id's prefix. The spec has the project id, not its number, so the condition
  extracts the secret id from `projects/<number>/secrets/<id>[/versions/<v>]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airspec import gcp
from airspec.artifact import Artifact, ArtifactKind, Context, LiveTarget, Service
from airspec.resolved import ResolvedSpec

PATH = "gcp/iam-bindings.json"
CONDITIONS_DIR = "gcp/conditions"
OBJECT_USER = "roles/storage.objectUser"
BUCKET_VIEWER = "roles/storage.bucketViewer"
SECRET_ACCESSOR = "roles/secretmanager.secretAccessor"
SECRET_ID_SEP = "-"  # CloudSecretManagerBackend's default `sep`


@dataclass(frozen=True)
class Condition:
    """An IAM condition; `file` is where the runbook's `--condition-from-file` finds it."""

    file: str
    title: str
    description: str
    expression: str

    def as_dict(self) -> dict[str, str]:
        return {
            "title": self.title,
            "description": self.description,
            "expression": self.expression,
        }


@dataclass(frozen=True)
class Binding:
    role: str
    members: tuple[str, ...]
    condition: Condition | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "members": sorted(self.members)}
        if self.condition is not None:
            out["condition"] = self.condition.as_dict()
        return out


@dataclass(frozen=True)
class ResourceBindings:
    """The bindings airspec owns on one IAM resource (the rest of its policy is left alone)."""

    type: str  # iam.serviceAccount | storage.bucket | project
    resource: str
    bindings: tuple[Binding, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "resource": self.resource,
            "bindings": [b.as_dict() for b in sorted(self.bindings, key=lambda b: b.role)],
        }


def _or(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else "(" + " || ".join(terms) + ")"


def prefix_condition(bucket: str, prefixes: list[str]) -> Condition:
    """Objects under the prefixes, and listing the bucket only with a prefix under them."""
    objects = _or(
        [
            f'resource.name.startsWith("{gcp.bucket_resource(bucket)}/objects/{p}/")'
            for p in prefixes
        ]
    )
    listing = _or(
        [
            f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{p}/")'
            for p in prefixes
        ]
    )
    shown = ", ".join(f"{p}/" for p in prefixes)
    return Condition(
        file=f"{CONDITIONS_DIR}/bucket-{bucket}.json",
        title=f"airspec: objects under {shown}"[:100],
        description=f"Read, write and list only under {shown} in gs://{bucket}",
        expression=(
            f'(resource.type == "storage.googleapis.com/Object" && {objects}) || '
            f'(resource.type == "storage.googleapis.com/Bucket" && {listing})'
        ),
    )


def secrets_condition(prefixes: list[str]) -> Condition:
    terms = [
        f'resource.name.extract("/secrets/{{id}}").startsWith("{p}{SECRET_ID_SEP}")'
        for p in prefixes
    ]
    shown = ", ".join(f"{p}{SECRET_ID_SEP}*" for p in prefixes)
    return Condition(
        file=f"{CONDITIONS_DIR}/secrets.json",
        title="airspec: Airflow secrets",
        description=f"Access only the secrets {shown}",
        expression=" || ".join(terms),
    )


def resource_bindings(r: ResolvedSpec) -> list[ResourceBindings]:
    """Every binding of the spec: workload identity, buckets, then the project."""
    g, b = r.gcp, r.spec.backends
    email = r.gsa_email
    me = (gcp.gsa_member(email),)
    out = [
        ResourceBindings(
            "iam.serviceAccount",
            gcp.gsa_resource(g.project, email),
            (
                Binding(
                    gcp.WORKLOAD_IDENTITY_USER,
                    tuple(gcp.ksa_member(g.project, sa.namespace, sa.name) for sa in r.identities),
                ),
            ),
        )
    ]
    prefixes: dict[str, set[str]] = {}
    for backend in (b.logs, b.xcom):
        if backend is not None:
            prefixes.setdefault(backend.bucket, set()).add(backend.prefix)
    for bucket in sorted(prefixes):
        bindings = [Binding(OBJECT_USER, me, prefix_condition(bucket, sorted(prefixes[bucket])))]
        if b.xcom is not None and b.xcom.bucket == bucket:
            bindings.append(Binding(BUCKET_VIEWER, me))
        out.append(ResourceBindings("storage.bucket", gcp.bucket_resource(bucket), tuple(bindings)))
    if b.secrets is not None and b.secrets.type == "gcp-secret-manager":
        secret_prefixes = sorted(b.secrets.prefixes().values())
        if secret_prefixes:
            out.append(
                ResourceBindings(
                    "project",
                    f"projects/{g.project}",
                    (Binding(SECRET_ACCESSOR, me, secrets_condition(secret_prefixes)),),
                )
            )
    return out


def gcp_iam_bindings(r: ResolvedSpec, ctx: Context) -> list[Artifact]:
    """gcp/iam-bindings.json, and each IAM condition as a file for `gcloud --condition-from-file`."""
    if r.spec.cloud.gcp is None or not r.identities:
        return []
    resources = resource_bindings(r)
    content = {
        "serviceAccount": {
            "email": r.gsa_email,
            "project": r.gcp.project,
            "accountId": r.gcp.service_account,
        },
        "resources": [res.as_dict() for res in resources],
    }
    out = [
        Artifact(
            path=PATH,
            kind=ArtifactKind.GCP_IAM_BINDINGS,
            format="json",
            content=content,
            live=LiveTarget(Service.GCP_IAM, "bindings", r.gsa_email),
        )
    ]
    for res in resources:
        for binding in res.bindings:
            if binding.condition is not None:
                c = binding.condition
                out.append(Artifact(c.file, ArtifactKind.GCP_IAM_CONDITION, "json", c.as_dict()))
    return out
