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
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds added to each request (bench/bench_apply.py: API latency)
        self.fail: set[str] = set()  # AWS actions answered with HTTP 500 (a failing AWS)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        form = parse_qs(body.decode("utf-8", "replace")) if b"Action=" in body else {}
        action = (form.get("Action") or query.get("Action") or [""])[0]
        action = action or environ.get("HTTP_X_AMZ_TARGET", "")
        with self.lock:
            self.calls.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), action))
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
        self, route: Callable[[str, str, dict[str, list[str]], bytes], tuple[int, Any]]
    ) -> None:
        self.calls: list[tuple[str, str, str]] = []  # (method, path, Authorization header)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                outer.calls.append((self.command, url.path, self.headers.get("Authorization", "")))
                status, payload = route(self.command, unquote(url.path), parse_qs(url.query), body)
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


class FakeKube(_JsonServer):
    """GET /api/v1/namespaces/{ns}[/configmaps|serviceaccounts/{name}], secrets by label."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}  # path -> object
        self.secrets: dict[str, list[dict[str, Any]]] = {}  # namespace -> Secrets
        super().__init__(self._route)

    def put(self, obj: dict[str, Any]) -> None:
        """Store an object as the API server would return it (server fields added)."""
        meta = obj["metadata"]
        obj = json.loads(json.dumps(obj))
        obj["metadata"].update(
            uid="4b9d2c1e-0000-4000-8000-000000000001",
            resourceVersion="12345",
            creationTimestamp="2026-11-01T00:00:00Z",
            managedFields=[{"manager": "kubectl", "operation": "Apply"}],
        )
        kind = obj["kind"]
        if kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
            self.objects[f"/api/v1/namespaces/{meta['name']}"] = obj
        else:
            plural = {"ConfigMap": "configmaps", "ServiceAccount": "serviceaccounts"}[kind]
            self.objects[f"/api/v1/namespaces/{meta['namespace']}/{plural}/{meta['name']}"] = obj

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
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
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
            return 200, self.objects[path]
        return _not_found(path)

    def kubeconfig(self, directory: Path) -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "test-token"}}],
                    "contexts": [
                        {"name": "fake", "context": {"cluster": "fake", "user": "tester"}}
                    ],
                    "current-context": "fake",
                }
            )
        )
        return path


class FakeGcp(_JsonServer):
    """getIamPolicy of service accounts, buckets and projects; GKE clusters.get."""

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}  # IAM resource name -> policy
        self.clusters: dict[
            str, dict[str, Any]
        ] = {}  # projects/p/locations/l/clusters/c -> Cluster
        super().__init__(self._route)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        m = re.fullmatch(r"/v1/(projects/[^/]+/serviceAccounts/[^/:]+):getIamPolicy", path)
        if m and method == "POST":
            return self._policy(m.group(1))
        m = re.fullmatch(r"/v1/projects/([^/:]+):getIamPolicy", path)
        if m and method == "POST":
            return self._policy(f"projects/{m.group(1)}")
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/iam", path)
        if m and method == "GET":
            return self._policy(f"projects/_/buckets/{m.group(1)}")
        m = re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+/clusters/[^/]+)", path)
        if m and method == "GET":
            found = self.clusters.get(m.group(1))
            return (
                (200, found) if found else (404, {"error": {"code": 404, "message": "not found"}})
            )
        return 400, {"error": {"code": 400, "message": f"no route {method} {path}"}}

    def _policy(self, resource: str) -> tuple[int, Any]:
        if resource not in self.policies:
            return 404, {"error": {"code": 404, "message": f"{resource} not found"}}
        return 200, {"version": 3, "etag": "BwX=", **self.policies[resource]}


def gcp_call_mutates(call: tuple[str, str, str]) -> bool:
    method, path, _ = call
    return not (method == "GET" or (method == "POST" and path.endswith(":getIamPolicy")))
