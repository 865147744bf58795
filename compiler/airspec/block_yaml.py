"""The YAML artifacts' one style — ruamel.yaml's round-trip dumper, indent mapping 2,
sequence 4, offset 2, no folding — and a faster writer of it for the plain data they hold,
byte for byte as ruamel writes it.

ruamel still decides every scalar: its emitter's own analysis of the text and its resolver
choose plain, single- or double-quoted, exactly as its dumper would. What this module does
instead of ruamel is the block layout, which is where ruamel's pure-Python dumper spends its
time (events, serializer, emitter state machine: ~10 ms for a Helm values file). Anything
outside the shapes handled here (floats, None, non-ASCII text, nested lists, a literal block
that needs an indentation or keep indicator, ...) is written by ruamel.
tests/test_block_yaml.py compares both on generated data.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache

from airspec.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from ruamel.yaml import YAML

_STR = "tag:yaml.org,2002:str"


class _Fallback(Exception):
    """A value this module does not lay out; ruamel writes the document."""


@cache
def _ruamel() -> tuple[Any, Any, type, type, type]:
    """The emitter and resolver of a dumper set up as emit's, for their decisions only."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    dumper = ruamel_dumper()
    dumper.serializer  # noqa: B018 - the emitter's analysis reads the serializer's version
    return (
        dumper.emitter,
        dumper.resolver,
        ScalarNode,
        DoubleQuotedScalarString,
        LiteralScalarString,
    )


@cache
def _plain_style(text: str, key: bool) -> str:
    """`text` (a str without a style of its own) written as ruamel's emitter would
    (Emitter.choose_scalar_style in a block context)."""
    if not text.isascii() or not text.isprintable():
        raise _Fallback
    emitter, resolver, scalar_node, _, _ = _ruamel()
    analysis = emitter.analyze_scalar(text)
    resolves_to_str = resolver.resolve(scalar_node, text, (True, False)) == _STR
    if key and (analysis.empty or analysis.multiline or len(text) >= 128):
        raise _Fallback  # a complex key, or an empty one
    if resolves_to_str and analysis.allow_block_plain:
        return text
    if analysis.allow_double_quoted and "'" in text:
        return _double(text)
    if analysis.allow_single_quoted:
        return "'" + text.replace("'", "''") + "'"
    return _double(text)


def _double(text: str) -> str:
    if not text.isascii() or not text.isprintable():
        raise _Fallback
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scalar(value: Any, key: bool = False) -> str:
    _, _, _, double_quoted, literal = _ruamel()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, double_quoted):
        return _double(str(value))
    if isinstance(value, literal) or not isinstance(value, str):
        raise _Fallback
    return _plain_style(value, key)


def _literal(text: str, indent: int) -> str:
    """A literal block scalar as the value of a mapping key (ruamel: write_literal)."""
    if not text or text[0] in " \n" or text.endswith("\n\n") or not text.isascii():
        raise _Fallback  # an indentation or keep indicator
    if any(not line.isprintable() for line in text.split("\n")):
        raise _Fallback
    body = text[:-1] if text.endswith("\n") else text
    lines = [(" " * indent + line) if line else "" for line in body.split("\n")]
    return ("|\n" if text.endswith("\n") else "|-\n") + "\n".join(lines) + "\n"


def _mapping(data: Mapping[Any, Any], indent: int, out: list[str], first: str | None) -> None:
    """Entries at column `indent`; the first one after `first` (a sequence's dash) if given."""
    _, _, _, _, literal = _ruamel()
    for i, (k, v) in enumerate(data.items()):
        if not isinstance(k, str):
            raise _Fallback
        lead = first if (i == 0 and first is not None) else " " * indent
        head = f"{lead}{_scalar(k, key=True)}:"
        if isinstance(v, Mapping):
            if not v:
                out.append(head + " {}\n")
            else:
                out.append(head + "\n")
                _mapping(v, indent + 2, out, None)
        elif isinstance(v, list):
            if not v:
                out.append(head + " []\n")
            else:
                out.append(head + "\n")
                _sequence(v, indent + 2, out)
        elif isinstance(v, literal):
            out.append(head + " " + _literal(str(v), indent + 2))
        else:
            out.append(f"{head} {_scalar(v)}\n")


def _sequence(items: list[Any], dash: int, out: list[str]) -> None:
    """Items with their dash at column `dash`, content two columns further."""
    prefix = " " * dash + "- "
    for item in items:
        if isinstance(item, Mapping) and item:
            _mapping(item, dash + 2, out, prefix)
        elif isinstance(item, Mapping | list):
            raise _Fallback  # nested or empty collections in a list
        else:
            out.append(prefix + _scalar(item) + "\n")


def ruamel_dumper() -> YAML:
    """ruamel's dumper in the artifacts' style."""
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.width = 1 << 16  # never fold a long line (JSON strings in values)
    y.indent(mapping=2, sequence=4, offset=2)
    y.default_flow_style = False
    return y


def layout(data: Any) -> str | None:
    """`data` (a mapping, as emit._yaml_ready made it) as ruamel would dump it, or None."""
    if not isinstance(data, Mapping) or not data:
        return None
    out: list[str] = []
    try:
        _mapping(data, 0, out, None)
    except _Fallback:
        return None
    return "".join(out)


def dump(data: Any) -> str:
    """`data` in the artifacts' YAML style: laid out here where it can be, else by ruamel."""
    fast = layout(data)
    if fast is not None:
        return fast
    buf = io.StringIO()
    ruamel_dumper().dump(data, buf)
    return buf.getvalue()
