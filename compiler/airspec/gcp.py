"""GCP names: service account emails, Workload Identity members and resource names, built one way."""

from __future__ import annotations

GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"


def gsa_email(account_id: str, project: str) -> str:
    """The email of a user-managed Google service account."""
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def workload_pool(project: str) -> str:
    """The cluster's Workload Identity pool (one per project)."""
    return f"{project}.svc.id.goog"


def ksa_member(project: str, namespace: str, ksa: str) -> str:
    """The IAM member that is a Kubernetes service account under Workload Identity."""
    return f"serviceAccount:{workload_pool(project)}[{namespace}/{ksa}]"


def gsa_member(email: str) -> str:
    return f"serviceAccount:{email}"


def gsa_resource(project: str, email: str) -> str:
    """The IAM resource name of a service account (what getIamPolicy is called on)."""
    return f"projects/{project}/serviceAccounts/{email}"


def bucket_resource(bucket: str) -> str:
    """A bucket as IAM conditions name it (`resource.name`)."""
    return f"projects/_/buckets/{bucket}"


def cluster_resource(project: str, location: str, name: str) -> str:
    return f"projects/{project}/locations/{location}/clusters/{name}"
