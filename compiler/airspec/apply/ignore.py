"""`.airspecignore`: accepted drift, by artifact and path, with a reason and an optional expiry.

    # .airspecignore (YAML), beside the spec or in the working directory
    - artifact: helm/values.yaml      # as reported; glob patterns allowed
      path: workers[0].replicas       # as reported; glob patterns allowed
      spec: remote-exec-demo          # optional: only for this metadata.name
      reason: the HPA owns replicas   # required
      expires: 2026-12-31             # optional: from this date on the finding is back

A suppressed finding is counted in the report; an expired entry suppresses nothing.
Broadening (live grants more than compiled) is suppressed only by an entry that names its
artifact and path exactly, without a glob: `path: "*"` must not hide a new grant behind a
report that says "in sync".
"""

from __future__ import annotations

import datetime as dt
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airspec import codes
from airspec.apply.findings import Finding, Status
from airspec.codes import make
from airspec.diagnostics import DiagnosticsError
from airspec.loader import load_text, read_spec_text

FILE_NAME = ".airspecignore"


class IgnoreEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    artifact: str
    path: str = "*"
    spec: str | None = None
    reason: str = Field(min_length=1)
    expires: dt.date | None = None

    def matches(self, f: Finding, today: dt.date) -> bool:
        if self.expires is not None and today >= self.expires:
            return False
        if self.spec is not None and self.spec != f.spec:
            return False
        if f.status is Status.BROADENING:  # one named grant at a time, never by pattern
            return (self.artifact, self.path) == (f.artifact, f.path)
        return fnmatchcase(f.artifact, self.artifact) and fnmatchcase(f.path, self.path)


def find_ignore_file(spec_dirs: list[Path]) -> Path | None:
    for d in [*spec_dirs, Path.cwd()]:
        candidate = d / FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def load_ignores(path: Path) -> list[IgnoreEntry]:
    """Parse the file; problems raise DiagnosticsError with file:line:col."""
    display = str(path)
    text = read_spec_text(path, display)
    if not text.strip():
        return []
    try:
        data, source, _ = load_text(text, display, root=list)
    except DiagnosticsError as exc:
        for d in exc.diagnostics:
            if d.code == codes.ROOT_NOT_MAPPING:
                raise DiagnosticsError(
                    [
                        make(
                            codes.IGNORE_NOT_A_LIST,
                            (display, d.line, d.col),
                            "an .airspecignore file is a YAML list of entries",
                            "start each entry with '- artifact: ...'",
                        )
                    ]
                ) from None
        raise
    out = []
    problems = []
    for i, item in enumerate(data):
        try:
            out.append(IgnoreEntry.model_validate(item))
        except ValidationError as exc:
            file, line, col = source.at((i,))
            first = exc.errors()[0]
            what = f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
            problems.append(
                make(
                    codes.IGNORE_BAD_ENTRY,
                    (file, line, col),
                    f"bad .airspecignore entry: {what}",
                    "each entry needs artifact and reason; path, spec, expires (YYYY-MM-DD) are optional",
                )
            )
    if problems:
        raise DiagnosticsError(problems)
    return out
