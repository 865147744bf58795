"""The schema stage: the raw tree against the spec's JSON Schema, errors as diagnostics."""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from airspec import codes
from airspec.codes import make
from airspec.diagnostics import Diagnostic
from airspec.loader import PathKey, SourceMap
from airspec.regions import SPEC_FIELDS as LOCATION_FIELDS

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}
# A key nobody declared whose name says it carries a credential gets AS203, not AS101.
SECRETISH_KEY = re.compile(
    r"(token|passw(or)?d|secret|api[-_]?key|access[-_]?key|credential|private[-_]?key)",
    re.IGNORECASE,
)


@functools.cache
def _validator() -> Draft202012Validator:
    # the model's JSON Schema as generated and shipped with the package (tests/test_cli.py
    # checks it is current): generating it again costs more than the rest of a spec's checks
    shipped = resources.files("airspec").joinpath("spec.schema.json").read_bytes()
    return Draft202012Validator(json.loads(shipped))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _shown(value: Any, path: PathKey, redacted: set[PathKey]) -> str:
    if path in redacted:
        return "this value"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


class _Mapper:
    def __init__(self, source: SourceMap, redacted: set[PathKey]) -> None:
        self.source = source
        self.redacted = redacted

    def map(self, err: ValidationError) -> Iterator[Diagnostic]:
        path: PathKey = tuple(err.absolute_path)
        where = self.source.at(path)
        field = _dotted(path)
        kind = err.validator
        schema = err.schema if isinstance(err.schema, dict) else {}
        if kind == "additionalProperties":
            yield from self._unknown(err, path)
        elif kind == "required":
            for name in err.validator_value:
                if isinstance(err.instance, dict) and name not in err.instance:
                    at = self.source.at(path, key=True)
                    yield make(
                        codes.MISSING_FIELD,
                        at,
                        f"missing required field '{_dotted((*path, name))}'",
                        f"add '{name}:' under '{field}'" if path else f"add '{name}:'",
                    )
        elif kind == "type":
            want = err.validator_value
            wants = want if isinstance(want, list) else [want]
            names = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wants)
            hint = ""
            if "string" in wants and isinstance(err.instance, int | float):
                hint = "quote the value exactly as written so YAML keeps it a string"
            yield make(
                codes.WRONG_TYPE,
                where,
                f"'{field}' must be {names}, found {_kind(err.instance)}",
                hint,
            )
        elif kind == "anyOf":
            types = [s.get("type") for s in err.validator_value if isinstance(s, dict)]
            if all(isinstance(t, str) for t in types):
                names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
                yield make(
                    codes.WRONG_TYPE,
                    where,
                    f"'{field}' must be {names}, found {_kind(err.instance)}",
                )
            else:
                for sub in err.context or []:
                    yield from self.map(sub)
        elif kind in ("pattern", "maxLength", "minLength"):
            if path in self.redacted:
                return  # AS203 already says what is wrong, without echoing the value
            if path in LOCATION_FIELDS:
                return  # AS230 knows the names: it says which one was meant
            code = schema.get("x-airspec-code", codes.BAD_FORMAT)
            what = schema.get("x-airspec-format", "in the expected format")
            yield make(
                code,
                where,
                f"'{field}': {_shown(err.instance, path, self.redacted)} is not {what}",
                _hint_for(code),
            )
        elif kind in ("enum", "const"):
            allowed = err.validator_value if kind == "enum" else [err.validator_value]
            close = difflib.get_close_matches(str(err.instance), [str(a) for a in allowed], 1)
            hint = f"did you mean '{close[0]}'?" if close else ""
            choices = ", ".join(repr(a) for a in allowed)
            yield make(
                codes.INVALID_VALUE,
                where,
                f"'{field}' must be {'one of ' if len(allowed) > 1 else ''}{choices}, "
                f"found {_shown(err.instance, path, self.redacted)}",
                hint,
            )
        elif kind in ("minItems", "maxItems"):
            bound = "at least" if kind == "minItems" else "at most"
            yield make(
                codes.INVALID_VALUE,
                where,
                f"'{field}' must have {bound} {err.validator_value} item(s)",
            )
        elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            op = {
                "minimum": ">=",
                "maximum": "<=",
                "exclusiveMinimum": ">",
                "exclusiveMaximum": "<",
            }
            yield make(
                codes.INVALID_VALUE,
                where,
                f"'{field}' must be {op[kind]} {err.validator_value}, found {err.instance!r}",
            )
        else:
            yield make(codes.INVALID_VALUE, where, f"'{field}': {err.message}")

    def _unknown(self, err: ValidationError, path: PathKey) -> Iterator[Diagnostic]:
        if not isinstance(err.instance, dict):
            return
        known = list((err.schema.get("properties") or {}).keys())
        for key in err.instance:
            if key in known:
                continue
            at = self.source.at((*path, key), key=True)
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            if SECRETISH_KEY.search(key) and not key.lower().endswith("secret"):
                field = close[0] if close else "the matching *Secret field"
                yield make(
                    codes.SECRET_VALUE,
                    at,
                    f"'{_dotted((*path, key))}' would hold a secret value; "
                    "a spec never holds secret values",
                    f"create a Kubernetes Secret and name it in {field}",
                )
                continue
            hint = (
                f"did you mean '{close[0]}'?" if close else f"known keys here: {', '.join(known)}"
            )
            yield make(
                codes.UNKNOWN_KEY,
                at,
                f"unknown key '{key}' in '{_dotted(path)}'",
                hint,
            )


def _hint_for(code: str) -> str:
    return {
        codes.NOT_DNS_SAFE: "use lowercase letters, digits and '-' (e.g. my-deployment)",
        codes.BAD_ACCOUNT_ID: 'a 12-digit id, quoted: accountId: "123456789012"',
    }.get(code, "")


def schema_diagnostics(
    data: Any, source: SourceMap, redacted: set[PathKey] | None = None
) -> list[Diagnostic]:
    """Every schema violation in `data`, each as one diagnostic, deduplicated."""
    mapper = _Mapper(source, redacted or set())
    found: dict[tuple[Any, ...], Diagnostic] = {}
    for err in _validator().iter_errors(data):
        for diag in mapper.map(err):
            found.setdefault((diag.line, diag.col, diag.code, diag.message), diag)
    return sorted(found.values())
