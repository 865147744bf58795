"""A local double of the Cloud Storage JSON API that asks the compiled IAM bindings.

No local GCS or IAM server exists, so (the same pattern as the Kubernetes double in the main
tests) this small HTTP server speaks the documented JSON API paths that gcsfs and
google-cloud-storage use with `STORAGE_EMULATOR_HOST` set, keeps objects in memory, and maps
each request to the IAM check Cloud Storage makes for it ("IAM permissions for JSON methods",
https://cloud.google.com/storage/docs/json_api/v1/json-api-bucket-methods and
.../json-api-object-methods):

    buckets.get                     storage.buckets.get    on the bucket
    objects.list (?prefix=P)        storage.objects.list   on the bucket, objectListPrefix = P
    objects.get  (metadata, media)  storage.objects.get    on the object
    objects.insert                  storage.objects.create on the object, and
                                    storage.objects.delete too when it overwrites one
    objects.delete                  storage.objects.delete on the object

The decision is `iam.Policy.allows` (the compiled bindings, CEL conditions evaluated by
cel-python); a refused request gets Cloud Storage's 403, a missing object its 404
("No such object: B/O"), which is what Airflow's GCS handler tests for. Every request is
recorded with its check and decision. `/token` plays Google's OAuth token endpoint for the
`authorized_user` credentials file the driver is given.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gcp_iam import Check, Decision


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    check: Check
    decision: Decision


class GcsDouble:
    def __init__(self, authorize: Callable[[Check], Decision]) -> None:
        self.authorize = authorize
        self.objects: dict[tuple[str, str], bytes] = {}
        self.buckets: set[str] = set()
        self.recorded: list[Recorded] = []
        self.unhandled: list[str] = []
        self._uploads: dict[str, tuple[str, str, bytearray]] = {}
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                double._serve(self, "GET")

            def do_POST(self) -> None:
                double._serve(self, "POST")

            def do_PUT(self) -> None:
                double._serve(self, "PUT")

            def do_DELETE(self) -> None:
                double._serve(self, "DELETE")

            def do_PATCH(self) -> None:
                double._serve(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self, authorize: Callable[[Check], Decision], buckets: set[str]) -> None:
        with self._lock:
            self.authorize = authorize
            self.objects.clear()
            self.buckets = set(buckets)
            self.recorded.clear()
            self.unhandled.clear()

    # --- the API ---------------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if method == "POST" and parts == ["token"]:
            # OAuth 2.0 token endpoint (the credentials file's token_uri): any signed JWT
            # assertion gets a token; the principal is decided per request, as above
            return self._json(
                h,
                200,
                {"access_token": "conformance-token", "expires_in": 3600, "token_type": "Bearer"},
            )
        route = self._route(method, parts, query, body, h)
        if route is None:
            self.unhandled.append(f"{method} {h.path}")
            return self._json(h, 501, {"error": {"code": 501, "message": "not in the double"}})
        check, act = route
        decision = self.authorize(check)
        with self._lock:
            self.recorded.append(Recorded(method, url.path, check, decision))
        if not decision.allowed:
            perm = decision.missing or check.permissions[0]
            what = "object" if check.resource_type.endswith("Object") else "bucket"
            message = (
                f"{decision.principal} does not have {perm} access to the Google Cloud Storage "
                f"{what}. Permission '{perm}' denied on resource (or it may not exist)."
            )
            return self._json(h, 403, _error(403, message, "forbidden"))
        act()

    def _route(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        body: bytes,
        h: BaseHTTPRequestHandler,
    ) -> tuple[Check, Callable[[], None]] | None:
        if parts[:1] == ["upload"] and method in ("PUT", "POST") and "upload_id" in query:
            return self._chunk(h, query["upload_id"], body)
        if parts[:1] in (["upload"], ["download"]):
            parts = parts[1:]
        if parts[:3] != ["storage", "v1", "b"] or len(parts) < 4:
            return None
        bucket, rest = parts[3], parts[4:]
        if rest == [] and method == "GET":
            return Check.bucket(bucket, "storage.buckets.get"), lambda: self._bucket(h, bucket)
        if rest == ["o"] and method == "GET":
            prefix = query.get("prefix", "")
            return Check.listing(bucket, prefix), lambda: self._list(h, bucket, query)
        if rest == ["o"] and method == "POST":
            name, data = query.get("name", ""), body
            kind = query.get("uploadType", "media")
            if kind == "multipart":
                name, data = _multipart(h.headers.get("Content-Type", ""), body)
            elif kind == "resumable":
                name = name or json.loads(body or b"{}").get("name", "")
                upload_id = uuid.uuid4().hex
                self._uploads[upload_id] = (bucket, name, bytearray())
                # the session is started; the object is checked when the bytes arrive (PUT)
                location = f"{self.url}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
                return Check.none(), lambda: self._started(h, location)
            return self._insert(h, bucket, name, data)
        if len(rest) == 2 and rest[0] == "o":
            name = rest[1]
            if method == "GET":
                media = query.get("alt") == "media"
                return Check.object(bucket, name, "storage.objects.get"), lambda: self._get(
                    h, bucket, name, media
                )
            if method == "DELETE":
                return Check.object(bucket, name, "storage.objects.delete"), lambda: self._delete(
                    h, bucket, name
                )
        return None

    def _insert(
        self, h: BaseHTTPRequestHandler, bucket: str, name: str, data: bytes
    ) -> tuple[Check, Callable[[], None]]:
        permissions = ["storage.objects.create"]
        if (bucket, name) in self.objects:
            permissions.append("storage.objects.delete")  # overwriting needs both
        check = Check.object(bucket, name, *permissions)

        def act() -> None:
            if bucket not in self.buckets:
                return self._json(
                    h, 404, _error(404, "The specified bucket does not exist.", "notFound")
                )
            self.objects[(bucket, name)] = data
            self._json(h, 200, _resource(bucket, name, data))

        return check, act

    def _chunk(
        self, h: BaseHTTPRequestHandler, upload_id: str, body: bytes
    ) -> tuple[Check, Callable[[], None]]:
        """One chunk of a resumable upload: `Content-Range: bytes A-B/TOTAL` (or `*/TOTAL` to
        close); the object is written, and checked, when all TOTAL bytes are in."""
        bucket, name, buffer = self._uploads[upload_id]
        buffer.extend(body)
        total = h.headers.get("Content-Range", "").rpartition("/")[2]
        if total.isdigit() and len(buffer) == int(total):
            del self._uploads[upload_id]
            return self._insert(h, bucket, name, bytes(buffer))

        def incomplete() -> None:  # 308 Resume Incomplete, with what was received
            h.send_response(308)
            if buffer:
                h.send_header("Range", f"bytes=0-{len(buffer) - 1}")
            h.send_header("Content-Length", "0")
            h.end_headers()

        return Check.none(), incomplete

    def _started(self, h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(200)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _bucket(self, h: BaseHTTPRequestHandler, bucket: str) -> None:
        if bucket not in self.buckets:
            return self._json(
                h, 404, _error(404, "The specified bucket does not exist.", "notFound")
            )
        self._json(h, 200, {"kind": "storage#bucket", "name": bucket, "id": bucket})

    def _list(self, h: BaseHTTPRequestHandler, bucket: str, query: dict[str, str]) -> None:
        prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
        items, prefixes = [], set()
        for (b, name), data in sorted(self.objects.items()):
            if b != bucket or not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
            else:
                items.append(_resource(bucket, name, data))
        self._json(
            h, 200, {"kind": "storage#objects", "items": items, "prefixes": sorted(prefixes)}
        )

    def _get(self, h: BaseHTTPRequestHandler, bucket: str, name: str, media: bool) -> None:
        data = self.objects.get((bucket, name))
        if data is None:
            return self._json(h, 404, _error(404, f"No such object: {bucket}/{name}", "notFound"))
        if not media:
            return self._json(h, 200, _resource(bucket, name, data))
        status, total = 200, len(data)
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", h.headers.get("Range", ""))
        if ranged:  # what BlobReader (blob.open("r")) asks for, chunk by chunk
            start = int(ranged[1])
            end = min(int(ranged[2]) if ranged[2] else total - 1, total - 1)
            if start >= total:
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{total}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return None
            status, data = 206, data[start : end + 1]
        h.send_response(status)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(data)))
        if status == 206:
            h.send_header("Content-Range", f"bytes {start}-{end}/{total}")
        h.end_headers()
        h.wfile.write(data)

    def _delete(self, h: BaseHTTPRequestHandler, bucket: str, name: str) -> None:
        if self.objects.pop((bucket, name), None) is None:
            return self._json(h, 404, _error(404, f"No such object: {bucket}/{name}", "notFound"))
        h.send_response(204)
        h.send_header("Content-Length", "0")
        h.end_headers()

    @staticmethod
    def _json(h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def _error(code: int, message: str, reason: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def _resource(bucket: str, name: str, data: bytes) -> dict[str, Any]:
    return {
        "kind": "storage#object",
        "bucket": bucket,
        "name": name,
        "id": f"{bucket}/{name}/1",
        "generation": "1",
        "metageneration": "1",
        "size": str(len(data)),
        "contentType": "application/octet-stream",
        "updated": "2026-01-01T00:00:00.000Z",
        "timeCreated": "2026-01-01T00:00:00.000Z",
        "storageClass": "STANDARD",
    }


def _multipart(content_type: str, body: bytes) -> tuple[str, bytes]:
    """objects.insert uploadType=multipart: a JSON metadata part, then the bytes."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    meta, media = list(message.iter_parts())[:2]
    return json.loads(meta.get_content()).get("name", ""), media.get_payload(decode=True)
