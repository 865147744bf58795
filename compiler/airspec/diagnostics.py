"""The one error family: every user-facing problem is a `Diagnostic`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a spec, with a 1-based position and a fix hint."""

    file: str
    line: int
    col: int
    code: str
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


class DiagnosticsError(Exception):
    """Raised where a stage cannot go on; carries what it found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__(f"{len(self.diagnostics)} problem(s)")


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


def format_text(d: Diagnostic) -> str:
    """`file:line:col: CODE message` plus an indented hint line."""
    sev = "" if d.is_error else "warning: "
    out = f"{d.file}:{d.line}:{d.col}: {d.code} {sev}{d.message}"
    if d.hint:
        out += f"\n    hint: {d.hint}"
    return out


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def format_github(d: Diagnostic) -> str:
    """A GitHub Actions workflow command, shown as an annotation on the PR."""
    level = "error" if d.is_error else "warning"
    props = f"file={_gh_escape(d.file, prop=True)},line={d.line},col={d.col},title={d.code}"
    message = d.message + (f" (hint: {d.hint})" if d.hint else "")
    return f"::{level} {props}::{_gh_escape(message)}"


def format_stale_github(path: str, reason: str) -> str:
    """A stale out/ file as an Actions error annotation on that file."""
    message = f"{path} is stale ({reason}); run 'airspec compile' and commit out/"
    return f"::error file={_gh_escape(path, prop=True)},title=airspec stale::{_gh_escape(message)}"


def format_json(
    diagnostics: Iterable[Diagnostic], *, stale: Iterable[tuple[str, str]] | None = None
) -> str:
    """One JSON document: the diagnostics, and with `compile --check` the stale files."""
    rows = [asdict(d) | {"severity": str(d.severity)} for d in sorted(diagnostics)]
    doc: dict[str, object] = {"diagnostics": rows}
    if stale is not None:
        doc["stale"] = [{"path": p, "reason": r} for p, r in stale]
    return json.dumps(doc, indent=2, sort_keys=True)
