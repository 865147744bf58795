"""Helpers for the hostile reproductions: a WSGI layer that answers chosen AWS actions with a
chosen error (message included) in front of the moto server, and the CLI run in-process."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from typer.testing import CliRunner

from airspec.cli import app
from live_servers import RecordingMotoServer


class AnswerWith:
    """Answer an AWS query-protocol action (IAM, STS) with an HTTP error whose Code and
    Message the test chooses, as the service would; everything else goes to moto."""

    def __init__(
        self,
        app: Any,
        errors: dict[str, tuple[int, str, str]],
        raw: dict[str, tuple[int, bytes]] | None = None,
    ) -> None:
        self.app = app
        self.errors = errors  # action -> (status, code, message)
        self.raw = raw or {}  # action (or "*": every one) -> (status, body): not AWS's XML

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = parse_qs(body.decode("utf-8", "replace"))
        action = (form.get("Action") or [""])[0]
        # `Action:Name=value`: only requests whose form field Name has that value
        for key in [k for k in self.errors if ":" in k]:
            act, _, cond = key.partition(":")
            name, _, value = cond.partition("=")
            if act == action and (form.get(name) or [""])[0] == value:
                action = key
        answer = self.raw.get(action) or self.raw.get("*")
        if answer is not None:
            status, raw = answer
            start_response(f"{status} Whatever", [("Content-Type", "text/html")])
            return [raw]
        if action in self.errors:
            status, code, message = self.errors[action]
            xml = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{code}</Code><Message>{_xml(message)}</Message>"
                "</Error><RequestId>hostile</RequestId></ErrorResponse>"
            ).encode()
            start_response(f"{status} Error", [("Content-Type", "text/xml")])
            return [xml]
        return self.app(environ, start_response)


def _xml(text: str) -> str:
    # XML 1.0 cannot carry most control characters literally; a character reference is what
    # a server sends (and what the parser gives back as the character)
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(c if c >= " " or c in "\n\t" else f"&#{ord(c)};" for c in out)


@contextlib.contextmanager
def answering(
    moto: RecordingMotoServer,
    errors: dict[str, tuple[int, str, str]],
    raw: dict[str, tuple[int, bytes]] | None = None,
) -> Iterator[None]:
    inner = moto.recorder.app
    moto.recorder.app = AnswerWith(inner, errors, raw)
    try:
        yield
    finally:
        moto.recorder.app = inner


def cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str, BaseException | None]:
    """The real CLI in-process: exit code, stdout, stderr, and the exception that escaped
    it (None, or SystemExit for an ordinary exit)."""
    result = CliRunner().invoke(app, args, env=env)
    exc = result.exception
    if isinstance(exc, SystemExit):
        exc = None
    return result.exit_code, result.stdout, result.stderr, exc


def finding(title: str) -> Any:
    """Name the finding of a hostile pass a test reproduces (issues 23 / 28). Each failed on
    the code of that pass and passes since its fix: a regression test with its story."""

    def mark(test: Any) -> Any:
        test.finding = title
        return test

    return mark
