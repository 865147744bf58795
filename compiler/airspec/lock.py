"""The lock file: values only the live API knows (the OIDC issuer), recorded beside the spec."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from airspec import codes, inputs
from airspec.codes import make
from airspec.diagnostics import Diagnostic

LOCK_KIND = "AirspecLock"
ISSUER_KEY = "cloud.aws.cluster.oidcIssuer"  # the one live-only value locked so far


def effective_issuer(pinned: str | None, lock: dict[str, Any]) -> tuple[str | None, str]:
    """The OIDC issuer: pinned in the spec, else recorded in the lock file; and which."""
    if pinned:
        return pinned, "spec"
    locked = lock.get(ISSUER_KEY)
    return (locked, "lock") if isinstance(locked, str) else (None, "")


def lock_path(spec_path: Path) -> Path:
    """`specs/x.airspec.yaml` -> `specs/x.airspec.lock.json`."""
    name = spec_path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return spec_path.with_name(name + ".lock.json")


def read_lock(spec_path: Path, cluster: str | None) -> tuple[dict[str, Any], list[Diagnostic]]:
    """The locked values for `spec_path`, or {} when there is no lock file."""
    path = lock_path(spec_path)
    where = (str(path), 1, 1)
    try:
        doc = json.loads(inputs.read(path.parent, path.name).decode("utf-8"))
    except FileNotFoundError:
        return {}, []  # recorded as absent: a lock file written later changes the tree
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, [
            make(
                codes.LOCK_FILE,
                where,
                f"cannot read the lock file: {exc}",
                "delete it and run 'airspec resolve SPEC'",
            )
        ]
    if (
        not isinstance(doc, dict)
        or doc.get("kind") != LOCK_KIND
        or not isinstance(doc.get("values"), dict)
    ):
        return {}, [
            make(
                codes.LOCK_FILE,
                where,
                "not an airspec lock file",
                "delete it and run 'airspec resolve SPEC'",
            )
        ]
    if cluster is not None and doc.get("cluster") != cluster:
        return {}, [
            make(
                codes.LOCK_FILE,
                where,
                f"the lock file was written for cluster '{doc.get('cluster')}', the spec names '{cluster}'",
                "run 'airspec resolve SPEC' again",
            )
        ]
    return dict(doc["values"]), []


def write_lock(
    spec_path: Path, cluster: str, values: dict[str, Any], sources: dict[str, str]
) -> Path:
    """Write the lock file atomically, deterministic bytes."""
    path = lock_path(spec_path)
    doc = {
        "apiVersion": "airspec/v1",
        "kind": LOCK_KIND,
        "cluster": cluster,
        "values": values,
        "sources": sources,
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".lock-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
