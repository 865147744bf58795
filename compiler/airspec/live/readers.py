"""Live readers: boto3 (IAM, EKS, S3), the `kubernetes` client, Google API clients.

Every call here is a read (Get*, List*, Describe*, Head*, getIamPolicy, clusters.get). A
reader returns the raw live object as the API gives it, or None when it does not exist;
anything else that goes wrong is a ReadError naming the resource, never a traceback.
Normal forms (what is compared) are built in `airspec.apply.normalize`, not here. Used by
`apply` and by `resolve`.

Endpoints: boto3 honours AWS_ENDPOINT_URL; the Kubernetes client uses the kubeconfig
(KUBECONFIG, ~/.kube/config) and `--context`; Google clients use Application Default
Credentials, or with AIRSPEC_GCP_ENDPOINT set (an emulator or test server) that endpoint
without credentials.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote


def read_retries() -> int:
    """Retries of a read on throttling or a 5xx (AIRSPEC_READ_RETRIES, default 4; nonsense gives
    the default). Read when a client is built: the environment is the run's, not the one the
    module was first imported in."""
    try:
        return max(0, int(os.environ.get("AIRSPEC_READ_RETRIES", "4")))
    except ValueError:
        return 4


GCP_ENDPOINT_ENV = "AIRSPEC_GCP_ENDPOINT"


class ReadError(Exception):
    """A live read failed for a reason other than "it does not exist"."""


class AccessDenied(ReadError):
    """The credentials may not read this object (AWS AccessDenied, HTTP 403)."""


_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403", "Forbidden"}


class _Shared:
    """The clients behind every `Clients` view of one run: one per (service, region), one
    Kubernetes client; each built once, under its own lock, so a slow one (the `kubernetes`
    package takes about a second to import) never holds up the others."""

    def __init__(self, kube_context: str | None) -> None:
        self.kube_context = kube_context
        self.guard = threading.Lock()
        self.session_lock = threading.Lock()  # botocore: one create_client at a time
        self.locks: dict[Any, threading.Lock] = {}
        self.built: dict[Any, Any] = {}
        self.kube_error: str | None = None

    def get(self, key: Any, build: Any) -> Any:
        with self.guard:
            if key in self.built:
                return self.built[key]
            lock = self.locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self.built:
                self.built[key] = build()
            return self.built[key]


class Clients:
    """Lazily created, shared API clients (boto3 and kubernetes clients are thread-safe).

    `for_region` gives a view with another default region over the same clients, so many
    specs in one run build each client once.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        kube_context: str | None = None,
        shared: _Shared | None = None,
    ) -> None:
        self.region = region
        self._shared = shared or _Shared(kube_context)

    def for_region(self, region: str | None) -> Clients:
        return Clients(region=region, shared=self._shared)

    def warm(self, *, aws: Sequence[tuple[str, str | None]] = (), kube: bool = False) -> None:
        """Build these clients in the background now, so the first reads do not wait for
        imports and configuration; a failure is left for the read that needs the client.
        The AWS clients are built in the order given, one after the other (they share one
        session, which builds one at a time), the Kubernetes client beside them."""

        def build(jobs: list[tuple[Any, tuple[Any, ...]]]) -> None:
            for fn, args in jobs:
                try:
                    fn(*args)
                except Exception:  # reported by the read that uses the client
                    continue

        lanes: list[list[tuple[Any, tuple[Any, ...]]]] = [[(self.aws, job) for job in aws]]
        if kube:
            lanes.append([(self.kube, ())])
        for lane in lanes:
            if lane:
                threading.Thread(target=build, args=(lane,), daemon=True).start()

    # --- AWS --------------------------------------------------------------------------------
    def aws(self, service: str, region: str | None = None) -> Any:
        region = region or self.region

        def build() -> Any:
            import botocore.session  # boto3's own layer (resources, s3transfer) is not needed
            from botocore.config import Config

            config = Config(
                retries={"max_attempts": read_retries() + 1, "mode": "adaptive"},
                connect_timeout=5,
                read_timeout=30,
            )
            try:
                # one session for the run: its loaders read endpoints, partitions and the
                # credential chain once; create_client mutates the session's caches, so
                # clients are made from it one at a time
                session = self._shared.get("aws-session", botocore.session.get_session)
                with self._shared.session_lock:
                    return session.create_client(service, region_name=region, config=config)
            except Exception as exc:  # ProfileNotFound, ConfigParseError, a bad endpoint URL
                raise ReadError(f"AWS configuration: {type(exc).__name__}: {exc}") from None

        return self._shared.get(("aws", service, region), build)

    # --- Kubernetes -------------------------------------------------------------------------
    def kube(self) -> Any:
        shared = self._shared

        def build() -> Any:
            from kubernetes import config

            if shared.kube_error is not None:  # reported once per target, not retried
                raise ReadError(shared.kube_error)
            try:
                # KUBECONFIG read now: the client library reads it once, at import
                api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=os.environ.get("KUBECONFIG"), context=shared.kube_context
                )
            except Exception as exc:  # a kubeconfig is input: any failure
                # (broken YAML, bad base64 certificate data, a list where a map belongs)
                # makes the Kubernetes targets unreadable, not the whole report
                detail = str(exc).splitlines()[0] if str(exc) else ""
                shared.kube_error = f"no usable kubeconfig: {type(exc).__name__} {detail}"
                raise ReadError(shared.kube_error.strip()) from None
            api_client.configuration.retries = read_retries()
            return KubeApi(api_client)

        return shared.get("kube", build)

    # --- GCP ---------------------------------------------------------------------------------
    def gcp(self, name: str, version: str) -> Any:
        """A Google API client; built per call because httplib2 is not thread-safe."""
        from googleapiclient.discovery import build

        endpoint = os.environ.get(GCP_ENDPOINT_ENV)
        if endpoint:
            from google.auth.credentials import AnonymousCredentials

            credentials: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
            # api_endpoint replaces rootUrl + servicePath; only storage has a servicePath
            base = endpoint.rstrip("/") + ("/storage/v1/" if name == "storage" else "/")
            options: dict[str, str] | None = {"api_endpoint": base}
        else:
            import google.auth
            from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

            try:
                credentials, _ = google.auth.default(
                    scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
            except DefaultCredentialsError as exc:
                raise ReadError(f"no Google credentials: {exc}") from None
            except GoogleAuthError as exc:
                raise ReadError(_google_auth_problem(exc)) from None
            options = None
        return build(
            name,
            version,
            credentials=credentials,
            client_options=options,
            cache_discovery=False,
            static_discovery=True,
        )


# --- AWS readers ------------------------------------------------------------------------------

_AWS_MISSING = {
    "NoSuchEntity",
    "ResourceNotFoundException",
    "NoSuchBucket",
    "404",
    "NotFound",
    # a bucket setting that was never made: read as None, like a missing object
    "NoSuchPublicAccessBlockConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchTagSet",
}


def aws_call(what: str, fn: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return fn(**kwargs)
    except NoCredentialsError:
        raise ReadError(
            f"{what}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"
        ) from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _AWS_MISSING:
            return None
        message = exc.response.get("Error", {}).get("Message", "")
        error = AccessDenied if code in _DENIED else ReadError
        raise error(f"{what}: {code} {message}".strip()) from None
    except BotoCoreError as exc:
        raise ReadError(f"{what}: {exc}") from None
    except Exception as exc:  # an answer botocore cannot parse: a proxy's or portal's page
        raise ReadError(f"{what}: {unexpected(exc)}") from None


def unexpected(exc: Exception) -> str:
    """An answer that is not the API's (an HTML page from a proxy, a captive portal, a
    misrouted ingress), said without a traceback."""
    return f"not an answer of the API ({type(exc).__name__}); is a proxy in the way?"


def caller_account(c: Clients) -> tuple[str, str]:
    """(account id, ARN) of the AWS credentials in use: STS GetCallerIdentity."""
    got = aws_call("sts get-caller-identity", c.aws("sts").get_caller_identity)
    if not isinstance(got, dict) or not got.get("Account"):
        raise ReadError("sts get-caller-identity: no identity returned (is a proxy in the way?)")
    return str(got["Account"]), str(got.get("Arn", ""))


def gcp_credentials_project() -> str | None:
    """The project Google credentials default to (ADC or GOOGLE_CLOUD_PROJECT), if any."""
    if os.environ.get(GCP_ENDPOINT_ENV):
        return os.environ.get("GOOGLE_CLOUD_PROJECT") or None
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError

    try:
        _, project = google.auth.default()
    except DefaultCredentialsError as exc:
        raise ReadError(f"no Google credentials: {exc}") from None
    except GoogleAuthError as exc:
        raise ReadError(_google_auth_problem(exc)) from None
    return project or None


def iam_policy(c: Clients, arn: str) -> Any:
    """A managed policy: `DefaultVersionId` and that version's `Document`, or None."""
    iam = c.aws("iam")
    policy = aws_call(f"iam get-policy {arn}", iam.get_policy, PolicyArn=arn)
    if policy is None:
        return None
    version = policy["Policy"]["DefaultVersionId"]
    got = aws_call(
        f"iam get-policy-version {arn}", iam.get_policy_version, PolicyArn=arn, VersionId=version
    )
    if got is None:
        return None
    return {"DefaultVersionId": version, "Document": got["PolicyVersion"]["Document"]}


def _role_name(arn: str) -> str:
    return arn.split(":role/", 1)[1].rsplit("/", 1)[-1]


def iam_role(c: Clients, arn: str) -> Any:
    """GetRole's `Role` (trust policy, tags), or None."""
    role = aws_call(f"iam get-role {arn}", c.aws("iam").get_role, RoleName=_role_name(arn))
    return None if role is None else role["Role"]


def aws_pages(what: str, client: Any, op: str, key: str, **kwargs: Any) -> list[Any] | None:
    """Every item under `key` of every page of a paginated AWS list call; None when the
    object listed from does not exist."""

    def every(**kw: Any) -> list[Any]:
        return [x for page in client.get_paginator(op).paginate(**kw) for x in page[key]]

    got: list[Any] | None = aws_call(what, every, **kwargs)
    return got


def iam_role_attachments(c: Clients, arn: str) -> Any:
    got = aws_pages(
        f"iam list-attached-role-policies {arn}",
        c.aws("iam"),
        "list_attached_role_policies",
        "AttachedPolicies",
        RoleName=_role_name(arn),
    )
    return None if got is None else [p["PolicyArn"] for p in got]


def iam_role_policy(c: Clients, role: str, name: str) -> Any:
    got = aws_call(
        f"iam get-role-policy {role}/{name}",
        c.aws("iam").get_role_policy,
        RoleName=role,
        PolicyName=name,
    )
    return None if got is None else got["PolicyDocument"]


def oidc_provider(c: Clients, arn: str) -> Any:
    return aws_call(
        f"iam get-open-id-connect-provider {arn}",
        c.aws("iam").get_open_id_connect_provider,
        OpenIDConnectProviderArn=arn,
    )


def _eks_get(c: Clients, region: str, what: str, op: str, key: str, **kwargs: Any) -> Any:
    """One EKS Describe call; the object under `key`, or None when it does not exist."""
    got = aws_call(f"eks {what}", getattr(c.aws("eks", region), op), **kwargs)
    return None if got is None else got[key]


def eks_cluster(c: Clients, name: str, region: str) -> Any:
    return _eks_get(c, region, f"describe-cluster {name}", "describe_cluster", "cluster", name=name)


def eks_nodegroup(c: Clients, cluster: str, name: str, region: str) -> Any:
    return _eks_get(
        c,
        region,
        f"describe-nodegroup {cluster}/{name}",
        "describe_nodegroup",
        "nodegroup",
        clusterName=cluster,
        nodegroupName=name,
    )


def eks_addon(c: Clients, cluster: str, name: str, region: str) -> Any:
    return _eks_get(
        c,
        region,
        f"describe-addon {cluster}/{name}",
        "describe_addon",
        "addon",
        clusterName=cluster,
        addonName=name,
    )


def eks_pod_identity_associations(c: Clients, cluster: str, region: str, ns: str) -> Any:
    """Every Pod Identity association of namespace `ns`, described (the list's summaries do
    not hold the role): one ListPodIdentityAssociations per page, one Describe each."""
    eks = c.aws("eks", region)
    what = f"eks list-pod-identity-associations {cluster} --namespace {ns}"
    summaries: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = aws_call(
            what,
            eks.list_pod_identity_associations,
            clusterName=cluster,
            namespace=ns,
            **({"nextToken": token} if token else {}),
        )
        if page is None:
            return None  # no such cluster
        summaries += page.get("associations", [])
        token = page.get("nextToken")
        if not token:
            break
    out = []
    for s in summaries:
        got = aws_call(
            f"eks describe-pod-identity-association {cluster}/{s['associationId']}",
            eks.describe_pod_identity_association,
            clusterName=cluster,
            associationId=s["associationId"],
        )
        if got is not None:  # deleted since the list
            out.append(got["association"])
    return out


def s3_bucket(c: Clients, bucket: str, owned: bool = False) -> Any:
    """The bucket's location; for a bucket the spec owns also its Block Public Access
    settings, default encryption rules and tags (each None when not set)."""
    s3 = c.aws("s3")
    if aws_call(f"s3 head-bucket {bucket}", s3.head_bucket, Bucket=bucket) is None:
        return None
    loc = aws_call(f"s3 get-bucket-location {bucket}", s3.get_bucket_location, Bucket=bucket)
    got: dict[str, Any] = {"LocationConstraint": (loc or {}).get("LocationConstraint")}
    if not owned:
        return got
    block = aws_call(
        f"s3 get-public-access-block {bucket}", s3.get_public_access_block, Bucket=bucket
    )
    got["PublicAccessBlock"] = (block or {}).get("PublicAccessBlockConfiguration")
    encryption = aws_call(
        f"s3 get-bucket-encryption {bucket}", s3.get_bucket_encryption, Bucket=bucket
    )
    got["Encryption"] = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get(
        "Rules"
    )
    tags = aws_call(f"s3 get-bucket-tagging {bucket}", s3.get_bucket_tagging, Bucket=bucket)
    got["Tags"] = {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])}
    return got


# --- Kubernetes REST ---------------------------------------------------------------------------

_KUBE_COLLECTIONS = {
    "namespace": "namespaces",
    "configmap": "configmaps",
    "serviceaccount": "serviceaccounts",
}


def kube_path(kind: str, name: str, namespace: str | None = None) -> str:
    """The REST path of a core/v1 object (a Namespace has none of its own namespace)."""
    collection = _KUBE_COLLECTIONS[kind]
    if kind == "namespace":
        return f"/api/v1/{collection}/{quote(name, safe='')}"
    assert namespace is not None
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/{collection}/{quote(name, safe='')}"


class KubeApi:
    """The few Kubernetes REST calls airspec makes (get, a label-selected list, patch), as
    plain JSON through the official client's ApiClient: its kubeconfig, authentication, TLS
    and retries. The generated CoreV1Api would import the pydantic model of every core/v1
    kind (about a second of CPU, more than the rest of a dry run's start) only to build
    objects that airspec turns straight back into JSON; the JSON is also exactly what the
    API server sent."""

    def __init__(self, api_client: Any) -> None:
        self.api_client = api_client

    def get(self, path: str, *, query: list[tuple[str, str]] | None = None) -> Any:
        return self.call("GET", path, query=query)

    def patch(
        self, path: str, body: Any, *, content_type: str, query: list[tuple[str, str]]
    ) -> Any:
        return self.call("PATCH", path, body=body, content_type=content_type, query=query)

    def call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """The decoded JSON answer; kubernetes.client's ApiException for any other status
        than 2xx (its `body` is the answer's text, a Status object)."""
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request)
        response.read()
        text = (response.data or b"").decode("utf-8", "replace")
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        return json.loads(text)


# --- Kubernetes readers -----------------------------------------------------------------------


def _kube_call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise ReadError(f"{what}: HTTP {exc.status} {exc.reason}") from None
    except HTTPError as exc:
        raise ReadError(f"{what}: cannot reach the Kubernetes API ({type(exc).__name__})") from None
    except Exception as exc:  # the client could not build its model from the answer
        raise ReadError(f"{what}: {unexpected(exc)}") from None


def k8s_namespace(c: Clients, name: str) -> Any:
    return _kube_call(f"get namespace {name}", c.kube().get, kube_path("namespace", name))


def k8s_configmap(c: Clients, ns: str, name: str) -> Any:
    path = kube_path("configmap", name, ns)
    return _kube_call(f"get configmap {ns}/{name}", c.kube().get, path)


def k8s_service_account(c: Clients, ns: str, name: str) -> Any:
    path = kube_path("serviceaccount", name, ns)
    return _kube_call(f"get serviceaccount {ns}/{name}", c.kube().get, path)


def decode_helm_release(data: str) -> dict[str, Any]:
    """Helm 3's release record: the Secret's `release` key is base64(gzip(JSON)) (and the
    Kubernetes API base64-encodes Secret data once more)."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    release: dict[str, Any] = json.loads(raw)
    return release


def helm_release(c: Clients, ns: str, release: str) -> Any:
    """The newest revision of a Helm release: {"revision": N, "config": user-supplied
    values}, or None."""
    secrets = _kube_call(
        f"list helm release secrets {ns}/{release}",
        c.kube().get,
        f"/api/v1/namespaces/{quote(ns, safe='')}/secrets",
        query=[("labelSelector", f"owner=helm,name={release}")],
    )
    items = [] if secrets is None else secrets.get("items") or []
    if not items:
        return None

    def revision(s: Any) -> int:
        try:
            return int(((s.get("metadata") or {}).get("labels") or {}).get("version", "0"))
        except ValueError:
            return 0

    newest = max(items, key=revision)
    try:
        record = decode_helm_release((newest.get("data") or {})["release"])
    except (KeyError, ValueError, OSError, TypeError) as exc:
        name = (newest.get("metadata") or {}).get("name", "?")
        raise ReadError(
            f"helm release {ns}/{release}: Secret {name} is not a Helm 3 "
            f"release record ({type(exc).__name__})"
        ) from None
    config: dict[str, Any] = record.get("config") or {}
    return {"revision": revision(newest), "config": config}


# --- GCP readers ------------------------------------------------------------------------------


def _gcp_call(what: str, request: Any) -> Any:
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import HttpError

    try:
        got = request.execute(num_retries=read_retries())
    except HttpError as exc:
        if exc.resp.status == 404:
            return None
        raise ReadError(f"{what}: HTTP {exc.resp.status} {exc.reason}") from None
    except GoogleAuthError as exc:  # a token that cannot be refreshed, an unreachable endpoint
        raise ReadError(f"{what}: {_google_auth_problem(exc)}") from None
    except OSError as exc:
        raise ReadError(f"{what}: cannot reach the Google API ({exc})") from None
    except Exception as exc:
        raise ReadError(f"{what}: {unexpected(exc)}") from None
    if got is not None and not isinstance(got, dict):  # a page, not the API's JSON
        raise ReadError(f"{what}: {unexpected(TypeError(type(got).__name__))}")
    return got


def _google_auth_problem(exc: Exception) -> str:
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return (
        f"the Google credentials could not be used ({type(exc).__name__}: {first}); "
        "check `gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS"
    )


def gcp_service_account(c: Clients, resource: str) -> Any:
    """A Google service account (`projects/P/serviceAccounts/EMAIL`), or None."""
    req = c.gcp("iam", "v1").projects().serviceAccounts().get(name=resource)
    return _gcp_call(f"serviceAccounts.get {resource}", req)


def gcp_policy(c: Clients, kind: str, resource: str) -> Any:
    """The IAM policy (version 3, with conditions) of a GSA, a bucket or a project."""
    if kind == "iam.serviceAccount":
        sa = c.gcp("iam", "v1").projects().serviceAccounts()
        req = sa.getIamPolicy(resource=resource, options_requestedPolicyVersion=3)
    elif kind == "storage.bucket":
        bucket = resource.rsplit("/", 1)[1]
        req = (
            c.gcp("storage", "v1")
            .buckets()
            .getIamPolicy(bucket=bucket, optionsRequestedPolicyVersion=3)
        )
    elif kind == "project":
        req = (
            c.gcp("cloudresourcemanager", "v1")
            .projects()
            .getIamPolicy(
                resource=resource.split("/", 1)[1], body={"options": {"requestedPolicyVersion": 3}}
            )
        )
    else:
        raise ReadError(f"no reader for IAM resource type {kind}")
    return _gcp_call(f"getIamPolicy {resource}", req)


def gke_cluster(c: Clients, name: str) -> Any:
    req = c.gcp("container", "v1").projects().locations().clusters().get(name=name)
    return _gcp_call(f"clusters.get {name}", req)
