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
        "pass",  # SMTP_PASS, DB_PASS
        "fernetkey",  # Airflow's: decrypts every connection and variable
        "accountkey",
        "sharedaccesskey",
        "connectionstring",
        "sshkey",
        "deploykey",
    }
)
# keys that *name* a Kubernetes Secret (the chart conventions): shown, whatever their words
_NAMES_A_SECRET = re.compile(
    r"^(existing[-_]?secret\w*|image[-_]?pull[-_]?secrets?|\w*secret[-_]?names?|\w*secret[-_]?refs?)$",
    re.I,
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ENV_VALUE_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_")
# a scheme starts at a letter (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )); the match
# is tried only where a run of scheme characters begins (`lead`: the digits and signs before
# its first letter, kept as they are), so a long run is scanned once, not once per character
_URL_USERINFO = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<lead>[0-9+.-]*)(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
    r"(?P<userinfo>[^/\s@?#]+)@"
)
_PARAM = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|client[_-]?secret"
    r"|private[_-]?key|auth|account[_-]?key|shared[_-]?access[_-]?key|sig)(?:\s*=\s*|\s*:\s+))"
    r"(?P<value>[\"']?[^\s&;,\"'}]+[\"']?)",
    re.I,
)
# an HTTP credential anywhere in text: `Authorization: Bearer …`, `Basic …`
_HEADER = re.compile(
    r"(?P<key>\b(?:authorization|proxy-authorization)\s*[:=]\s*(?:(?:bearer|basic|token|digest)\s+)?)"
    r"(?P<value>\S+)|(?P<scheme>\b(?:bearer|basic)\s+)(?P<token>[A-Za-z0-9._~+/=-]{8,})",
    re.I,
)
# a PEM private key, whole: header, body (newlines real or escaped), footer
_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
)
_SHAPES = tuple(
    (what, shape)
    for what, shape in CREDENTIAL_SHAPES
    if "URL" not in what and "private key" not in what
)


def _words(key: str) -> list[str]:
    return [w.lower() for w in _SPLIT.split(key) if w]


def credential_key(key: Any) -> bool:
    """Whether a mapping key names a credential (its last word, or last two joined)."""
    if not isinstance(key, str):
        return False
    name = key.rsplit("/", 1)[-1]  # `example.com/token`: the name after the prefix
    if _NAMES_A_SECRET.match(name):
        return False
    words = _words(name)
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
            cleaned = _redact(parsed, frozenset(), lambda _: REDACTED, keys=True)
            if cleaned != parsed:
                return json.dumps(cleaned, separators=(",", ":"))
    out = _PEM.sub("<redacted a private key>", text)
    out = _URL_USERINFO.sub(lambda m: f"{m.group('lead')}{m.group('scheme')}{REDACTED}@", out)
    out = _HEADER.sub(
        lambda m: f"{m.group('key')}{REDACTED}" if m.group("key") else f"{m.group('scheme')}{REDACTED}",
        out,
    )
    out = _PARAM.sub(lambda m: f"{m.group('key')}{REDACTED}", out)
    for what, shape in _SHAPES:
        out = shape.sub(f"<redacted {what}>", out)
    return out


def _marker(value: Any) -> dict[str, Any]:
    kind = type(value).__name__ if not isinstance(value, str) else "string"
    return {"redacted": True, "reason": "credential", "type": kind}


def redact(value: Any, *, secret_env: frozenset[str] = frozenset(), keys: bool = True) -> Any:
    """A copy of `value` safe to show: credential-named keys' values replaced by a marker
    (`keys`: a free-form document; an IAM or GCP policy's keys are its grammar's, and its
    Sids and roles are names, so there only strings are searched), credentials inside
    strings cut out. `secret_env`: env names whose value is secret."""
    return _redact(value, secret_env, _marker, keys=keys)


def _redact(
    value: Any, secret_env: frozenset[str], marker: Callable[[Any], Any], *, keys: bool
) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redact(v, secret_env, marker, keys=keys) for v in value]
    if isinstance(value, dict):
        env_name = value.get("name")
        hide_value = "value" in value and (
            _env_secret(env_name) or (isinstance(env_name, str) and env_name in secret_env)
        )
        out: dict[str, Any] = {}
        for k, v in value.items():
            if (keys and credential_key(k)) or (k == "value" and hide_value):
                out[k] = marker(v) if v is not None else None
            else:
                out[k] = _redact(v, secret_env, marker, keys=keys)
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
    keys: bool = True,
) -> Any:
    """`value` as found at `parts` of a document (one of `roots`), redacted: the whole
    value when a key on its path names a credential (free-form documents: `keys`), or when
    it is the value of a secret env-style entry; else what `redact` leaves."""
    if value is None:
        return None
    if keys and any(credential_key(p) for p in parts):
        return _marker(value)
    if parts and parts[-1] == "value":
        for root in roots:
            parent = node_at(root, parts[:-1])
            if isinstance(parent, dict):
                name = parent.get("name")
                if _env_secret(name) or (isinstance(name, str) and name in secret_env):
                    return _marker(value)
    return redact(value, secret_env=secret_env, keys=keys)
