"""What a spec rule sees: the raw tree, where each part stands, and the model if it parsed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airspec.artifact import Artifact
from airspec.loader import Document, PathKey
from airspec.model import Spec


@dataclass(frozen=True)
class RuleContext:
    """Input to every spec rule. `spec` is None when the schema stage failed."""

    doc: Document
    spec: Spec | None = None
    lock: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()  # phase "artifacts" only: the lowered spec
    # what a rule computed that the stages after the check reuse, by name (check_spec passes
    # "environments", the components' environments, on to resolve: computed once per spec)
    computed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def raw(self) -> Any:
        return self.doc.data

    @property
    def spec_dir(self) -> Path:
        return self.doc.path.parent

    def at(self, *path: str | int, key: bool = False) -> tuple[str, int, int]:
        """Position of a spec path written with the spec's (camelCase) keys."""
        return self.doc.source.at(tuple(path), key=key)

    def raw_at(self, path: PathKey) -> Any:
        node = self.raw
        for part in path:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node
