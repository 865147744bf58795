"""Local servers speaking the real protocols, recording every request they receive.

- RecordingMotoServer: moto's server app (AWS over HTTP), wrapped to record method, path and
  the AWS action of each request.
- FakeKube: the documented Kubernetes REST paths the readers call, served from fixtures,
  for the real `kubernetes` client through a generated kubeconfig.
- FakeGcp: the IAM, Cloud Storage, Resource Manager and GKE REST paths, for the real Google
  API client.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

Call = tuple[str, str, str]  # (HTTP method, path, action or "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Recorder:
    """WSGI middleware: note each request's method, path and AWS action, then pass it on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[Call] = []
        self.sent: list[tuple[str, str, str, bytes]] = []  # (method, path, action, body)
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds added to each request (bench/bench_apply.py: API latency)
        self.fail: set[str] = set()  # AWS actions answered with HTTP 500 (a failing AWS)
        self.on_request: Callable[[Call], None] | None = None  # runs as each request arrives

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        form = parse_qs(body.decode("utf-8", "replace")) if b"Action=" in body else {}
        action = (form.get("Action") or query.get("Action") or [""])[0]
        action = action or environ.get("HTTP_X_AMZ_TARGET", "")
        with self.lock:
            call = (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), action)
            self.calls.append(call)
            self.sent.append((*call, body))
        if self.on_request is not None:
            self.on_request(call)
        if self.delay:
            time.sleep(self.delay)
        if action in self.fail:
            body = (
                b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code>"
                b"<Message>injected by the test</Message></Error></ErrorResponse>"
            )
            start_response("500 Internal Server Error", [("Content-Type", "text/xml")])
            return [body]
        return self.app(environ, start_response)


_EKS_EXTENSION = re.compile(
    r"^/clusters/(?P<cluster>[^/]+)/(?P<kind>pod-identity-associations|addons)(?:/(?P<id>[^/]+))?$"
)


class EksExtensions:
    """WSGI layer in front of moto for the EKS calls moto 5.2.5 does not implement: EKS Pod
    Identity associations (Create/List/Describe/Update/DeletePodIdentityAssociation) and
    add-ons (Create/Describe/List/DeleteAddon), on the REST paths of the EKS API Reference
    (botocore's `eks` service model). A cluster must exist in moto's EKS backend, as in EKS;
    state is kept here and cleared by `/moto-api/reset`. Everything else goes to moto."""

    ACCOUNT = "123456789012"  # moto's default account

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.associations: dict[str, dict[str, Any]] = {}  # associationId -> association
        self.addons: dict[tuple[str, str], dict[str, Any]] = {}  # (cluster, name) -> addon

    @staticmethod
    def _region(environ: dict[str, Any]) -> str | None:
        """The region of a SigV4-signed EKS request, or None for another service."""
        scope = re.search(
            r"Credential=[^/]+/\d+/([^/]+)/eks/", environ.get("HTTP_AUTHORIZATION", "")
        )
        return scope.group(1) if scope else None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset":
            with self.lock:
                self.associations.clear()
                self.addons.clear()
            return self.app(environ, start_response)
        match, region = _EKS_EXTENSION.match(path), self._region(environ)
        if match is None or region is None:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = json.loads(raw) if raw else {}
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        with self.lock:
            status, payload = self._route(
                environ["REQUEST_METHOD"], region, match.groupdict(), query, body
            )
        data = json.dumps(payload, default=str).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        if status >= 400:
            headers.append(("x-amzn-ErrorType", payload["__type"]))
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
        return [data]

    @staticmethod
    def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, Any]]:
        return status, {"__type": kind, "message": message}

    def _route(
        self,
        method: str,
        region: str,
        where: dict[str, str],
        query: dict[str, str],
        body: dict[str, Any],
    ) -> tuple[int, dict[str, Any]]:
        from moto.eks.models import eks_backends

        cluster, ident = where["cluster"], where["id"]
        if cluster not in eks_backends[self.ACCOUNT][region].clusters:
            return self._error(
                404, "ResourceNotFoundException", f"No cluster found for name: {cluster}."
            )
        if where["kind"] == "addons":
            return self._addon(method, region, cluster, ident, body)
        return self._association(method, region, cluster, ident, query, body)

    def _addon(
        self, method: str, region: str, cluster: str, name: str | None, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and name is None:
            name = body["addonName"]
            addon = {
                "addonName": name,
                "clusterName": cluster,
                "status": "ACTIVE",
                "addonArn": f"arn:aws:eks:{region}:{self.ACCOUNT}:addon/{cluster}/{name}",
            }
            self.addons[(cluster, name)] = addon
            return 200, {"addon": addon}
        if method == "GET" and name is None:
            return 200, {"addons": sorted(n for c, n in self.addons if c == cluster)}
        if method == "GET" and (cluster, name) in self.addons:
            return 200, {"addon": self.addons[(cluster, name)]}
        if method == "DELETE" and (cluster, name) in self.addons:
            return 200, {"addon": self.addons.pop((cluster, name))}
        return self._error(404, "ResourceNotFoundException", f"No addon: {name}")

    def _association(
        self,
        method: str,
        region: str,
        cluster: str,
        ident: str | None,
        query: dict[str, str],
        body: dict[str, Any],
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and ident is None:
            ns, sa = body["namespace"], body["serviceAccount"]
            for a in self.associations.values():
                if (a["clusterName"], a["namespace"], a["serviceAccount"]) == (cluster, ns, sa):
                    return self._error(409, "ResourceInUseException", "Association already exists")
            ident = f"a-{len(self.associations) + 1:017d}"
            association = {
                "clusterName": cluster,
                "namespace": ns,
                "serviceAccount": sa,
                "roleArn": body["roleArn"],
                "associationId": ident,
                "associationArn": f"arn:aws:eks:{region}:{self.ACCOUNT}:podidentityassociation/{cluster}/{ident}",
                "tags": body.get("tags", {}),
                "disableSessionTags": body.get("disableSessionTags", False),
            }
            self.associations[ident] = association
            return 200, {"association": association}
        if ident is None:  # GET: list, filtered, in pages of maxResults
            found = [
                a
                for a in sorted(self.associations.values(), key=lambda a: a["associationId"])
                if a["clusterName"] == cluster
                and query.get("namespace", a["namespace"]) == a["namespace"]
                and query.get("serviceAccount", a["serviceAccount"]) == a["serviceAccount"]
            ]
            start = int(query.get("nextToken", "0"))
            size = int(query.get("maxResults", "2"))  # small pages: callers must paginate
            page = found[start : start + size]
            keys = ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId")
            out: dict[str, Any] = {"associations": [{k: a[k] for k in keys} for a in page]}
            if start + size < len(found):
                out["nextToken"] = str(start + size)
            return 200, out
        association = self.associations.get(ident)
        if association is None or association["clusterName"] != cluster:
            return self._error(404, "ResourceNotFoundException", f"No association: {ident}")
        if method == "POST":  # UpdatePodIdentityAssociation
            association["roleArn"] = body.get("roleArn", association["roleArn"])
        elif method == "DELETE":
            del self.associations[ident]
        return 200, {"association": association}


class RecordingMotoServer(ThreadedMotoServer):
    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.eks_extensions = EksExtensions(DomainDispatcherApplication(create_backend_app))
        self.recorder = _Recorder(self.eks_extensions)

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, self.recorder, True)
        self._server_ready_event.set()
        self._server.serve_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"


def moto_env(url: str) -> dict[str, str]:
    """The environment that points the CLI's boto3 at the moto server at `url` (moto's test
    keys, us-east-1), without read retries and with short write backoff."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AIRSPEC_READ_RETRIES": "0",
        "AIRSPEC_BACKOFF_SECONDS": "0.01",  # IAM's eventual consistency is moto's at once
    }


def aws_client(url: str, service: str) -> Any:
    """A boto3 client for the moto server at `url` (us-east-1, moto's test keys)."""
    import boto3

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def aws_call_mutates(call: Call) -> bool:
    method, path, action = call
    if path.startswith("/moto-api"):
        return False
    if action:
        return not re.match(r"^(Get|List|Describe|Head)", action.split(".")[-1])
    return method not in ("GET", "HEAD")


class _JsonServer:
    """A threaded HTTP server answering JSON from a route function, recording each request."""

    def __init__(
        self, route: Callable[[str, str, dict[str, list[str]], bytes, str], tuple[int, Any]]
    ) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (method, path, Authorization header)
        self.sent: list[tuple[str, str, bytes]] = []  # (method, path, body)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                outer.calls.append((self.command, url.path, self.headers.get("Authorization", "")))
                outer.sent.append((self.command, url.path, body))
                status, payload = route(
                    self.command,
                    unquote(url.path),
                    parse_qs(url.query),
                    body,
                    self.headers.get("Content-Type", ""),
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> _JsonServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def _not_found(what: str) -> tuple[int, Any]:
    return 404, {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": f"{what} not found",
        "reason": "NotFound",
        "code": 404,
    }


Leaf = tuple[str, ...]
_SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields")
_NOT_OWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def _leaves(obj: Any, at: Leaf = ()) -> dict[Leaf, Any]:
    """Path -> value of each scalar or list (lists are atomic, as `x-kubernetes-list-type:
    atomic` fields are); the fields no manager owns and the server's own are left out."""
    if isinstance(obj, dict) and obj:
        out: dict[Leaf, Any] = {}
        for k, v in obj.items():
            if at == ("metadata",) and k in _SERVER_META:
                continue
            out.update(_leaves(v, (*at, k)))
        return out
    return {} if not at or at in _NOT_OWNED or at[:1] == ("status",) else {at: obj}


def _set_at(obj: dict[str, Any], path: Leaf, value: Any) -> None:
    for p in path[:-1]:
        obj = obj.setdefault(p, {})
    obj[path[-1]] = value


def _drop_at(obj: dict[str, Any], path: Leaf) -> None:
    """Remove a field, and the maps it leaves empty."""
    parents = []
    for p in path[:-1]:
        if not isinstance(obj.get(p), dict):
            return
        parents.append((obj, p))
        obj = obj[p]
    obj.pop(path[-1], None)
    for parent, key in reversed(parents):
        if parent[key]:
            break
        del parent[key]


def _fields_v1(paths: set[Leaf]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for p in path:
            node = node.setdefault(f"f:{p}", {})
    return tree


class FakeKube(_JsonServer):
    """The core/v1 paths the readers and apply use: GET and PATCH of namespaces, ConfigMaps
    and ServiceAccounts, Secrets listed by label.

    PATCH follows the documented server-side apply model at the level apply relies on
    (kubernetes.io/docs/reference/using-api/server-side-apply): each field has owners
    (managers); an apply (`application/apply-patch+yaml`, `fieldManager`) sets the fields
    it sends, takes them over with `force=true` or fails 409 Conflict when another manager
    set a different value, and removes fields it alone set before and no longer sends; an
    apply to a missing object creates it. A JSON merge patch (RFC 7386) sets and deletes
    fields as an Update. Owners are served back as `metadata.managedFields[].fieldsV1`.
    Lists are atomic; a field no manager owns (none on record) is never removed by apply.
    """

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # path -> object
        self.owners: dict[str, dict[str, set[Leaf]]] = {}  # path -> manager -> fields
        self.secrets: dict[str, list[dict[str, Any]]] = {}  # namespace -> Secrets
        self.revision = 12345  # resourceVersion: the API server changes it on every write
        super().__init__(self._route)

    def _written(self, path: str) -> None:
        """An object changed: its resourceVersion moves (API concepts, "Resource versions")."""
        self.revision += 1
        self.objects[path]["metadata"]["resourceVersion"] = str(self.revision)

    @staticmethod
    def path_of(obj: dict[str, Any]) -> str:
        meta, kind = obj["metadata"], obj["kind"]
        if kind == "Namespace":
            return f"/api/v1/namespaces/{meta['name']}"
        plural = {"ConfigMap": "configmaps", "ServiceAccount": "serviceaccounts"}[kind]
        return f"/api/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}"

    def put(self, obj: dict[str, Any], manager: str = "kubectl") -> None:
        """Store an object as if `manager` had applied it (server fields added)."""
        obj = json.loads(json.dumps(obj))
        path = self.path_of(obj)
        self.objects[path] = self._created(obj)
        self.owners[path] = {manager: set(_leaves(obj))}
        self._written(path)

    @staticmethod
    def _created(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].update(
            uid="4b9d2c1e-0000-4000-8000-000000000001",
            resourceVersion="12345",
            creationTimestamp="2026-11-01T00:00:00Z",
        )
        if obj["kind"] == "Namespace":
            name = obj["metadata"]["name"]
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        return obj

    def served(self, path: str) -> dict[str, Any]:
        obj = json.loads(json.dumps(self.objects[path]))
        obj["metadata"]["managedFields"] = [
            {
                "manager": manager,
                "operation": "Apply" if manager != "merge-patch" else "Update",
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1(paths),
            }
            for manager, paths in sorted(self.owners.get(path, {}).items())
            if paths
        ]
        return obj

    def put_helm_release(
        self, ns: str, release: str, revision: int, values: dict[str, Any]
    ) -> None:
        """A release Secret encoded as Helm 3 stores it: base64(gzip(JSON)) in data.release
        (which the API returns base64-encoded once more)."""
        record = {
            "name": release,
            "namespace": ns,
            "version": revision,
            "info": {"status": "deployed"},
            "chart": {"metadata": {"name": "astro-remote-execution-agent"}},
            "config": values,
            "manifest": "---\n# rendered templates\n",
        }
        helm_payload = base64.b64encode(gzip.compress(json.dumps(record).encode()))
        self.secrets.setdefault(ns, []).append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "helm.sh/release.v1",
                "metadata": {
                    "name": f"sh.helm.release.v1.{release}.v{revision}",
                    "namespace": ns,
                    "labels": {
                        "name": release,
                        "owner": "helm",
                        "status": "deployed",
                        "version": str(revision),
                    },
                },
                "data": {"release": base64.b64encode(helm_payload).decode()},
            }
        )

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, content_type: str
    ) -> tuple[int, Any]:
        if method == "PATCH":
            return self._patch(path, query, json.loads(body), content_type)
        if method != "GET":
            return 405, {"kind": "Status", "code": 405, "reason": "MethodNotAllowed"}
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/secrets", path)
        if m:
            selector = dict(
                part.split("=", 1)
                for part in (query.get("labelSelector") or [""])[0].split(",")
                if part
            )
            items = [
                s
                for s in self.secrets.get(m.group(1), [])
                if all(s["metadata"]["labels"].get(k) == v for k, v in selector.items())
            ]
            return 200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": items}
        if path in self.objects:
            return 200, self.served(path)
        return _not_found(path)

    def _patch(
        self, path: str, query: dict[str, list[str]], body: dict[str, Any], content_type: str
    ) -> tuple[int, Any]:
        manager = (query.get("fieldManager") or [""])[0]
        if content_type.startswith("application/apply-patch"):
            if not manager:
                return 422, {"kind": "Status", "code": 422, "message": "fieldManager is required"}
            return self._apply(path, body, manager, (query.get("force") or [""])[0] == "true")
        if path not in self.objects:
            return _not_found(path)
        obj, owners = self.objects[path], self.owners.setdefault(path, {})
        for leaf, value in _merge_leaves(body).items():
            if value is None:
                _drop_at(obj, leaf)
                for paths in owners.values():
                    paths.discard(leaf)
            else:
                _set_at(obj, leaf, value)
                for paths in owners.values():
                    paths.discard(leaf)
                owners.setdefault(manager or "merge-patch", set()).add(leaf)
        self._written(path)
        return 200, self.served(path)

    def _apply(self, path: str, body: dict[str, Any], manager: str, force: bool) -> tuple[int, Any]:
        sent = _leaves(body)
        obj = self.objects.get(path)
        owners = self.owners.setdefault(path, {})
        have = {} if obj is None else _leaves(obj)
        conflicts = sorted(
            leaf
            for leaf, value in sent.items()
            if leaf in have
            and have[leaf] != value
            and any(leaf in paths for m, paths in owners.items() if m != manager)
        )
        if conflicts and not force:
            fields = ", ".join(".".join(c) for c in conflicts)
            return 409, {
                "kind": "Status",
                "code": 409,
                "reason": "Conflict",
                "message": f"Apply failed with {len(conflicts)} conflict(s): {fields}",
            }
        if obj is None:
            obj = self._created(json.loads(json.dumps(body)))
            self.objects[path] = obj
        for m, paths in owners.items():
            if m != manager:
                paths.difference_update(conflicts)
        others = set().union(*(p for m, p in owners.items() if m != manager))
        for leaf in owners.get(manager, set()) - set(sent) - others:
            _drop_at(obj, leaf)
        for leaf, value in sent.items():
            _set_at(obj, leaf, value)
        owners[manager] = set(sent)
        self._written(path)
        return 200, self.served(path)

    def kubeconfig(self, directory: Path) -> Path:
        return write_kubeconfig(directory, self.url)


def write_kubeconfig(directory: Path, server: str, token: str = "test-token") -> Path:
    """`directory`/kubeconfig: one cluster at `server`, a bearer token, its context current."""
    path = directory / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}],
                "current-context": "fake",
            }
        )
    )
    return path


class FakeGcp(_JsonServer):
    """IAM policies of service accounts, buckets and projects (get, and set with the etag
    check each API documents); service accounts (get, create, patch); GKE clusters.get.
    `fail` answers a (method, path) with an error status (a 403 on one bucket's policy).

    setIamPolicy with an etag that is no longer current fails as the API does: HTTP 409
    ABORTED from IAM and Resource Manager, 412 conditionNotMet from Cloud Storage; without an
    etag it overwrites. `before_set`, when given, runs once at the next setIamPolicy before
    it is decided: a concurrent writer between apply's read and its write.
    """

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}  # IAM resource name -> policy
        self.etags: dict[str, int] = {}  # resource -> revision (the etag is derived)
        self.accounts: dict[str, dict[str, Any]] = {}  # GSA resource name -> ServiceAccount
        self.clusters: dict[
            str, dict[str, Any]
        ] = {}  # projects/p/locations/l/clusters/c -> Cluster
        self.before_set: Callable[[str], None] | None = None
        self.fail: dict[tuple[str, str], int] = {}  # (method, path) -> HTTP status to answer
        super().__init__(self._route)

    def etag(self, resource: str) -> str:
        return base64.b64encode(f"rev-{self.etags.get(resource, 0)}".encode()).decode()

    def write(self, resource: str, bindings: list[dict[str, Any]]) -> None:
        """Another writer (or the test) sets bindings: the etag changes."""
        self.policies[resource] = {"bindings": bindings}
        self.etags[resource] = self.etags.get(resource, 0) + 1

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes, _: str
    ) -> tuple[int, Any]:
        if (method, path) in self.fail:
            status = self.fail[(method, path)]
            return status, {"error": {"code": status, "message": "injected by the test"}}
        for pattern, verb, name in (
            (r"/v1/(projects/[^/]+/serviceAccounts/[^/:]+):getIamPolicy", "POST", "{0}"),
            (r"/v1/projects/([^/:]+):getIamPolicy", "POST", "projects/{0}"),
            (r"/storage/v1/b/([^/]+)/iam", "GET", "projects/_/buckets/{0}"),
        ):
            m = re.fullmatch(pattern, path)
            if m and method == verb:
                return self._policy(name.format(m.group(1)))
        for pattern, verb, name, status in (
            (r"/v1/(projects/[^/]+/serviceAccounts/[^/:]+):setIamPolicy", "POST", "{0}", 409),
            (r"/v1/projects/([^/:]+):setIamPolicy", "POST", "projects/{0}", 409),
            (r"/storage/v1/b/([^/]+)/iam", "PUT", "projects/_/buckets/{0}", 412),
        ):
            m = re.fullmatch(pattern, path)
            if m and method == verb:
                sent = json.loads(body)
                policy = sent.get("policy", sent)
                return self._set(name.format(m.group(1)), policy, status)
        m = re.fullmatch(r"/v1/projects/([^/]+)/serviceAccounts/([^/:]+)", path)
        if m and method == "GET":
            found = self.accounts.get(f"projects/{m.group(1)}/serviceAccounts/{m.group(2)}")
            return (200, found) if found else self._missing(path)
        if m and method == "PATCH":  # serviceAccounts.patch: the fields updateMask names
            found = self.accounts.get(f"projects/{m.group(1)}/serviceAccounts/{m.group(2)}")
            if not found:
                return self._missing(path)
            sent = json.loads(body)
            for name in str(sent.get("updateMask", "")).split(","):
                if name in sent.get("serviceAccount", {}):
                    found[name] = sent["serviceAccount"][name]
            return 200, found
        m = re.fullmatch(r"/v1/projects/([^/]+)/serviceAccounts", path)
        if m and method == "POST":
            return self._create_account(m.group(1), json.loads(body))
        m = re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+/clusters/[^/]+)", path)
        if m and method == "GET":
            found = self.clusters.get(m.group(1))
            return (200, found) if found else self._missing(path)
        return 400, {"error": {"code": 400, "message": f"no route {method} {path}"}}

    @staticmethod
    def _missing(what: str) -> tuple[int, Any]:
        return 404, {"error": {"code": 404, "message": f"{what} not found", "status": "NOT_FOUND"}}

    def _policy(self, resource: str) -> tuple[int, Any]:
        if resource not in self.policies:
            return self._missing(resource)
        return 200, {"version": 3, "etag": self.etag(resource), **self.policies[resource]}

    def _set(self, resource: str, policy: dict[str, Any], conflict: int) -> tuple[int, Any]:
        hook, self.before_set = self.before_set, None
        if hook is not None:
            hook(resource)
        if resource not in self.policies:
            return self._missing(resource)
        if policy.get("etag") and policy["etag"] != self.etag(resource):
            status = "ABORTED" if conflict == 409 else "conditionNotMet"
            message = "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff."
            return conflict, {"error": {"code": conflict, "message": message, "status": status}}
        if any("condition" in b for b in policy.get("bindings", [])) and policy.get("version") != 3:
            return 400, {"error": {"code": 400, "message": "conditions need policy version 3"}}
        self.write(resource, policy.get("bindings", []))
        return self._policy(resource)

    def _create_account(self, project: str, body: dict[str, Any]) -> tuple[int, Any]:
        email = f"{body['accountId']}@{project}.iam.gserviceaccount.com"
        resource = f"projects/{project}/serviceAccounts/{email}"
        if resource in self.accounts:
            return 409, {"error": {"code": 409, "message": "exists", "status": "ALREADY_EXISTS"}}
        account = {
            "name": resource,
            "email": email,
            "projectId": project,
            **body.get("serviceAccount", {}),
        }
        self.accounts[resource] = account
        self.write(resource, [])
        return 200, account


def _merge_leaves(patch: Any, at: Leaf = ()) -> dict[Leaf, Any]:
    """A JSON merge patch as path -> value (None: delete the field)."""
    if isinstance(patch, dict) and patch:
        out: dict[Leaf, Any] = {}
        for k, v in patch.items():
            out.update(_merge_leaves(v, (*at, k)))
        return out
    return {at: patch}


def gcp_call_mutates(call: tuple[str, str, str]) -> bool:
    method, path, _ = call
    return not (method == "GET" or (method == "POST" and path.endswith(":getIamPolicy")))


def kube_call_mutates(call: tuple[str, str, str]) -> bool:
    return call[0] not in ("GET", "HEAD")
