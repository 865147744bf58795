"""Artifacts: typed data a pass returns; only the emitter turns them into bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Format = Literal["json", "yaml", "markdown", "shell"]


@dataclass(frozen=True)
class LiveTarget:
    """The live object `apply` compares an artifact with."""

    service: str  # iam | eks | s3 | kubernetes | helm
    type: str  # policy | role | cluster | namespace | configmap | release | ...
    id: str  # ARN, name, or namespace/name
    region: str = ""

    def as_dict(self) -> dict[str, str]:
        out = {"service": self.service, "type": self.type, "id": self.id}
        if self.region:
            out["region"] = self.region
        return out


@dataclass(frozen=True)
class Artifact:
    """One output file as data: where it goes, what it is, and what it is compared with live."""

    path: str  # relative to out/<name>/, POSIX
    kind: str
    format: Format
    content: Any
    live: LiveTarget | None = None
    notes: tuple[str, ...] = field(default=())  # extra header comment lines (YAML/shell)


@dataclass(frozen=True)
class Context:
    """What a pass may see besides the spec: the artifacts of the passes before it."""

    artifacts: tuple[Artifact, ...] = ()

    def find(self, kind: str) -> Artifact | None:
        return next((a for a in self.artifacts if a.kind == kind), None)
