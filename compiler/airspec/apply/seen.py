"""What a run read: for each live object, the raw object (kept in memory for the builders,
never printed) and the identity of the version seen.

A version is a few named parts, each the live API's own version where it has one (a policy's
default version id, a Kubernetes `resourceVersion`, a GCP etag, a Helm release revision)
and a digest of what was read where it has none (a role's trust policy and tags, its
attachments, a bucket's settings). A saved plan records every version it was computed from;
`apply plan.json` reads again and refuses when one it acts on moved.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

ABSENT = {"state": "absent"}
UNREADABLE = {"state": "unreadable"}
Version = dict[str, str]
Key = tuple[str, str]  # (spec, target)


def digest(value: Any) -> str:
    """A short, stable digest of read data (AWS response metadata left out)."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k != "ResponseMetadata"}
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Seen:
    """Raw objects and versions by (spec, target), filled by the reads (thread-safe)."""

    raws: dict[Key, Any] = field(default_factory=dict)
    versions: dict[Key, Version] = field(default_factory=dict)
    forms: dict[Key, tuple[Any, Any]] = field(default_factory=dict)  # (the Check, live normal form)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, key: Key, raw: Any, version: Version) -> None:
        with self.lock:
            self.raws[key] = raw
            self.versions[key] = dict(version)

    def add(self, key: Key, part: str, value: str) -> None:
        """A part of an object's version read while deciding an action (its tags, its
        policy versions)."""
        with self.lock:
            self.versions.setdefault(key, {})[part] = value

    def has(self, key: Key) -> bool:
        with self.lock:
            return key in self.raws
