"""AS203: a spec names Secrets; it never holds a secret value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from airspec.codes import SECRET_VALUE, make, rule
from airspec.credentials import credential_in
from airspec.diagnostics import Diagnostic
from airspec.loader import PathKey
from airspec.rules.context import RuleContext

# Fields that must hold the *name* of a Secret: anything else there is likely the value.
_SECRET_NAME_FIELD = re.compile(r"secret$", re.IGNORECASE)
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def _walk(node: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))
    else:
        yield path, node


def secret_paths(data: Any) -> dict[PathKey, str]:
    """Paths whose value looks like a credential, with what it looks like."""
    found: dict[PathKey, str] = {}
    for path, value in _walk(data):
        if not isinstance(value, str):
            continue
        what = credential_in(value)
        if what is not None:
            found[path] = what
        else:
            last = path[-1] if path else ""
            named = isinstance(last, str) and _SECRET_NAME_FIELD.search(last)
            if named and not _SECRET_NAME.match(value):
                found[path] = "a secret value rather than the name of a Secret"
    return found


@rule(SECRET_VALUE, "secret-value", phase="raw")
def no_secret_values(ctx: RuleContext) -> Iterator[Diagnostic]:
    """A value in the spec looks like a secret (a token, a password, a key).

    A spec lives in git and its artifacts are reviewed in PRs, so it may only *name*
    Kubernetes Secrets (`agentTokenSecret`, `imagePullSecret`, `credentialsSecret`); the
    runbook shows how to create them from environment variables. airspec never echoes the
    value it found. Also raised for an undeclared key named like a credential
    (`agentToken`, `password`). Example::

        bundles:
          - name: dags
            git:
              repo: https://user:ghp_xxx@github.com/org/dags   # AS203
    """
    for path, what in sorted(secret_paths(ctx.raw).items(), key=lambda kv: str(kv[0])):
        yield make(
            SECRET_VALUE,
            ctx.at(*path),
            f"this value looks like {what}; a spec never holds secret values",
            "remove it (and rotate it: it may already be in git history); store it in a "
            "Kubernetes Secret and name that Secret in the spec",
        )
