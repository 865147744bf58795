"""The one redactor: every live value passes here before any report, plan or log shows it.

Redaction keys on what a value is, not on words near it:
- the value of a credential-named key (`password`, `token`, `clientSecret`, `api_key`,
  `privateKey`…: the key's last word, camelCase and snake_case alike), at any depth and inside
  any subtree that was added whole (`imagePullSecretName` names a Secret and is shown;
  `clientSecret` and `agent.token` are not);
- the value of an env-style entry (`{name: X, value: …}`) whose name is credential-named or an
  Airflow connection or variable (`AIRFLOW_CONN_*`, `AIRFLOW_VAR_*`), or that the compiled
  values take from a Secret;
- inside any string: URL userinfo (`https://user:token@host` → `https://<redacted>@host`),
  `password=…`-style parameters, the credential shapes airspec already refuses in specs
  (`credentials.CREDENTIAL_SHAPES`: GitHub, GitLab, Slack tokens, AWS key ids, JWTs, private
  keys…), and JSON text holding any of the above (redacted inside, then written back).

Members, roles, principals, ARNs, conditions and names are never credentials and are shown
as they are; a credential shape inside one is still cut out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from airspec.credentials import CREDENTIAL_SHAPES

REDACTED = "<redacted>"
# the last word of a key that holds a credential
_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "tokens",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
        "signingkey",
        "sessionkey",
        "clientsecret",
        "keyfile",
        "keyjson",
        "dsn",
    }
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ENV_VALUE_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_")
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
_PARAM = re.compile(
    r"(?P<key>(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|client[_-]?secret"
    r"|private[_-]?key|auth)\s*[=:]\s*)(?P<value>[\"']?[^\s&;,\"'}]+[\"']?)",
    re.I,
)
_SHAPES = tuple((what, shape) for what, shape in CREDENTIAL_SHAPES if "URL" not in what)


def _words(key: str) -> list[str]:
    return [w.lower() for w in _SPLIT.split(key) if w]


def credential_key(key: Any) -> bool:
    """Whether a mapping key names a credential (its last word, or last two joined)."""
    if not isinstance(key, str):
        return False
    words = _words(key.rsplit("/", 1)[-1])  # `example.com/token`: the name after the prefix
    if not words:
        return False
    last = words[-1]
    pair = "".join(words[-2:])
    return last in _WORDS or pair in _WORDS


def _env_secret(name: Any) -> bool:
    return isinstance(name, str) and (
        name.upper().startswith(_ENV_VALUE_PREFIXES) or credential_key(name)
    )


def redact_text(text: str) -> str:
    """A string with every credential inside it cut out (see the module docstring)."""
    if not text:
        return text
    stripped = text.strip()
    if stripped[:1] in "{[" and len(stripped) > 1:
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list):
            cleaned = _redact(parsed, frozenset(), lambda _: REDACTED)
            if cleaned != parsed:
                return json.dumps(cleaned, separators=(",", ":"))
    out = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    out = _PARAM.sub(lambda m: f"{m.group('key')}{REDACTED}", out)
    for what, shape in _SHAPES:
        out = shape.sub(f"<redacted {what}>", out)
    return out


def _marker(value: Any) -> dict[str, Any]:
    kind = type(value).__name__ if not isinstance(value, str) else "string"
    return {"redacted": True, "reason": "credential", "type": kind}


def redact(value: Any, *, secret_env: frozenset[str] = frozenset()) -> Any:
    """A copy of `value` safe to show: credential-named keys' values replaced by a marker,
    credentials inside strings cut out. `secret_env`: env names whose value is secret."""
    return _redact(value, secret_env, _marker)


def _redact(value: Any, secret_env: frozenset[str], marker: Callable[[Any], Any]) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact(v, secret_env, marker) for v in value]
    if isinstance(value, dict):
        env_name = value.get("name")
        hide_value = "value" in value and (
            _env_secret(env_name) or (isinstance(env_name, str) and env_name in secret_env)
        )
        out: dict[str, Any] = {}
        for k, v in value.items():
            if credential_key(k) or (k == "value" and hide_value):
                out[k] = marker(v) if v is not None else None
            else:
                out[k] = _redact(v, secret_env, marker)
        return out
    return value


def node_at(root: Any, parts: Sequence[Any]) -> Any:
    node = root
    for p in parts:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def redact_at(
    value: Any,
    parts: Sequence[Any],
    roots: Sequence[Any] = (),
    *,
    secret_env: frozenset[str] = frozenset(),
    secret: Callable[[Sequence[Any]], bool] | None = None,
) -> Any:
    """`value` as found at `parts` of a document (one of `roots`), redacted: the whole
    value when a key on its path names a credential, when it is the value of a secret
    env-style entry, or when `secret(parts)` says so; else what `redact` leaves."""
    if value is None:
        return None
    if any(credential_key(p) for p in parts) or (secret is not None and secret(parts)):
        return _marker(value)
    if parts and parts[-1] == "value":
        for root in roots:
            parent = node_at(root, parts[:-1])
            if isinstance(parent, dict):
                name = parent.get("name")
                if _env_secret(name) or (isinstance(name, str) and name in secret_env):
                    return _marker(value)
    return redact(value, secret_env=secret_env)
