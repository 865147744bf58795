"""A real moto server over HTTP on 127.0.0.1, for boto3/s3fs clients pointed at it."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto server; yields its endpoint URL; IAM enforcement is off again on exit."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        set_auth_enforcement(url, enforce=False)
        server.stop()


def set_auth_enforcement(url: str, *, enforce: bool) -> None:
    """moto checks IAM policies on every request once the no-auth allowance is 0."""
    body = b"0" if enforce else b"inf"
    req = urllib.request.Request(
        f"{url}/moto-api/reset-auth",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()
