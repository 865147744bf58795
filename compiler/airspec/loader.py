"""Load a spec file into plain Python data plus a map of where every key and value stands.

The YAML is composed into ruamel's node tree and constructed here, not by ruamel's
constructors, so that every key and value keeps its 1-based line:col, every duplicate key is
reported (not only the first), and no YAML oddity escapes as a traceback.
"""

from __future__ import annotations

import math
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from airspec import codes, inputs
from airspec.codes import make
from airspec.diagnostics import Diagnostic, DiagnosticsError

PathKey = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"

EXPANSION_BUDGET = 100_000  # nodes a document may expand into, aliases counted each time
MAX_DEPTH = 64  # nesting levels; a spec needs about eight


class _ExpansionError(Exception):
    """The document is refused while it is composed; `mark` is where (an alias, a node)."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


class _BudgetComposer(Composer):
    """ruamel's composer, counting what each node expands into so an alias bomb stops early.

    Each node's expanded size (itself plus its children, an alias counting as the whole node
    it names) is known when the node is finished; the running total of the document is
    checked at every alias, so composition stays linear in the text and the first alias that
    passes the budget is the one reported. An alias to a node still being composed is a cycle.
    """

    def compose_document(self) -> Any:
        self.explicit_tags: list[tuple[str, Any]] = []
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._depth = 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                size = self._sizes.get(id(target))
                if size is None:
                    raise _ExpansionError(
                        f"alias *{event.anchor} refers to a node that contains it (a cycle)",
                        event.start_mark,
                    )
                self._expanded += size
                if self._expanded > EXPANSION_BUDGET:
                    raise _ExpansionError(
                        f"alias *{event.anchor} expands the document past "
                        f"{EXPANSION_BUDGET:,} nodes",
                        event.start_mark,
                    )
            return super().compose_node(parent, index)
        event = self.parser.peek_event()
        tag = getattr(event, "tag", None)
        if tag is not None:  # written in the text; resolved tags are not on the event
            self.explicit_tags.append((str(getattr(tag, "value", tag)), event.start_mark))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _ExpansionError(
                f"nesting deeper than {MAX_DEPTH} levels", self.parser.peek_event().start_mark
            )
        before = self._expanded
        self._expanded += 1
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = self._expanded - before
        self._depth -= 1
        return node


@dataclass(frozen=True)
class SourceMap:
    """Where each key and value of a loaded document stands (1-based line, col)."""

    file: str
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: PathKey, *, key: bool = False) -> tuple[str, int, int]:
        """The position of `path`'s value (or key), else of its nearest ancestor."""
        table = self.keys if key else self.values
        p = tuple(path)
        while p:
            if p in table:
                return (self.file, *table[p])
            if p in self.values:
                return (self.file, *self.values[p])
            p = p[:-1]
        return (self.file, *self.values.get((), (1, 1)))


@dataclass(frozen=True)
class Document:
    """A loaded spec: its data, where each part stands, and its path."""

    path: Path
    display: str
    data: Any
    source: SourceMap
    problems: tuple[Diagnostic, ...] = ()  # non-fatal: duplicate keys, unsupported tags


def _pos(node: Node) -> tuple[int, int]:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag) or "")


class _Builder:
    def __init__(self, file: str) -> None:
        self.source = SourceMap(file)
        self.problems: list[Diagnostic] = []

    def where(self, node: Node) -> tuple[str, int, int]:
        return (self.source.file, *_pos(node))

    def build(self, node: Node, path: PathKey) -> Any:
        self.source.values.setdefault(path, _pos(node))
        if isinstance(node, MappingNode):
            return self.mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self.scalar(node)

    def scalar(self, node: ScalarNode) -> Any:
        tag, text = _tag(node), str(node.value)
        try:
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return text.lower() == "true"
            if tag == _TAG + "int":
                clean = text.replace("_", "")
                sign = -1 if clean.startswith("-") else 1
                digits = clean.lstrip("+-")
                if digits[:2].lower() in ("0o", "0x", "0b"):
                    return sign * int(digits, 0)
                return sign * int(digits, 10)
            if tag == _TAG + "float":
                low = text.lower().replace("_", "")
                if low.endswith(".nan"):
                    return math.nan
                if low.endswith(".inf"):
                    return -math.inf if low.startswith("-") else math.inf
                return float(low)
        except ValueError:
            pass  # an odd numeral: keep it as the text the user wrote
        return text

    def mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        seen: dict[str, tuple[int, int]] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if _tag(key_node) == _TAG + "merge":
                merged.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problems.append(
                    make(
                        codes.UNSUPPORTED_YAML,
                        self.where(key_node),
                        "a mapping key must be a plain scalar",
                        "use a plain name as the key",
                    )
                )
                continue
            key = str(key_node.value)
            if key in seen:
                first = seen[key]
                self.problems.append(
                    make(
                        codes.DUPLICATE_KEY,
                        self.where(key_node),
                        f"duplicate key {key!r} (first defined at line {first[0]})",
                        "keep one of the two entries; YAML would silently keep only the last",
                    )
                )
                continue
            seen[key] = _pos(key_node)
            self.source.keys[(*path, key)] = _pos(key_node)
            out[key] = self.build(value_node, (*path, key))
        for source in merged:  # YAML merge keys: explicit entries win
            for key_node, value_node in source.value:
                key = str(key_node.value)
                if key not in out:
                    self.source.keys[(*path, key)] = _pos(key_node)
                    out[key] = self.build(value_node, (*path, key))
        return out

    def _merge_sources(self, node: Node) -> list[MappingNode]:
        if isinstance(node, MappingNode):
            return [node]
        if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            return list(node.value)
        self.problems.append(
            make(
                codes.UNSUPPORTED_YAML,
                self.where(node),
                "a merge key '<<' must name a mapping or a list of mappings",
                "point '<<' at an anchored mapping, e.g. '<<: *defaults'",
            )
        )
        return []


def load_text(
    text: str, display: str, *, root: type = dict
) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """Parse spec text into (data, positions, non-fatal problems).

    Raises DiagnosticsError when nothing usable can be built (syntax error, empty, not a
    mapping). A duplicate key keeps its first value and is reported, so later stages can
    still report everything else at once.
    """
    # the safe (pure-Python) pipeline: positions and tags as the round-trip one gives them,
    # without gathering comments, which a spec's meaning never depends on (~20 % faster)
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _BudgetComposer
    try:
        node = yaml.compose(text)
    except _ExpansionError as exc:
        raise DiagnosticsError(
            [
                make(
                    codes.YAML_TOO_LARGE,
                    (display, exc.mark.line + 1, exc.mark.column + 1),
                    exc.message,
                    "write the values out, or anchor smaller pieces; a spec needs no deep "
                    "or repeated aliases",
                )
            ]
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise DiagnosticsError(
            [
                make(
                    codes.YAML_SYNTAX,
                    (display, line, col),
                    f"YAML syntax error: {problem}",
                    "check indentation and quoting near this position",
                )
            ]
        ) from None
    except YAMLError as exc:
        raise DiagnosticsError(
            [make(codes.YAML_SYNTAX, (display, 1, 1), f"YAML syntax error: {exc}", "")]
        ) from None
    if node is None:
        raise DiagnosticsError(
            [
                make(
                    codes.EMPTY_FILE,
                    (display, 1, 1),
                    "the spec is empty",
                    "start from an example in specs/, or run 'airspec schema' for the fields",
                )
            ]
        )
    builder = _Builder(display)
    for tag, mark in yaml.composer.explicit_tags:
        shown = tag.replace(_TAG, "!!") if tag.startswith(_TAG) else tag
        builder.problems.append(
            make(
                codes.UNSUPPORTED_YAML,
                (display, mark.line + 1, mark.column + 1),
                f"YAML tag {shown!r} is not allowed in a spec",
                "remove the tag (quote the value if it must stay a string); a spec holds "
                "plain mappings, lists and scalars, and a tag could make a reader build "
                "something else",
            )
        )
    data = builder.build(node, ())
    if not isinstance(data, list if root is list else dict):  # the ignore file is a list
        kind = "a list" if isinstance(data, list) else "a single value"
        builder.problems.append(
            make(
                codes.ROOT_NOT_MAPPING,
                builder.where(node),
                f"the spec must be a mapping, found {kind}",
                "the top level holds apiVersion, kind, metadata, deployment, cloud, ...",
            )
        )
        raise DiagnosticsError(builder.problems)
    return data, builder.source, builder.problems


MAX_SPEC_BYTES = 1 << 20  # a real spec is a few kilobytes


def read_spec_text(path: Path, display: str) -> str:
    """Read a spec file as UTF-8 text, as a diagnostic on any failure.

    Only a regular file of at most MAX_SPEC_BYTES is read: a FIFO or a device (`/dev/zero`)
    would block or never end."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):
            problem, hint = "is not a regular file", "name a *.airspec.yaml file"
        elif info.st_size > MAX_SPEC_BYTES:
            problem = f"is {info.st_size:,} bytes; a spec is at most {MAX_SPEC_BYTES:,}"
            hint = "is this the right file?"
        else:
            raw = inputs.read(path.parent, path.name)
            try:
                return raw.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                problem, hint = f"not UTF-8 text (byte {exc.start})", "save the spec as UTF-8"
    except FileNotFoundError:
        problem, hint = "file not found", "check the path"
    except IsADirectoryError:
        problem, hint = "is a directory, not a spec file", "name a *.airspec.yaml file"
    except OSError as exc:
        problem, hint = f"cannot read the file: {exc.strerror}", "check permissions"
    raise DiagnosticsError([make(codes.UNREADABLE, (display, 1, 1), problem, hint)])


def load_document(path: Path, display: str | None = None) -> Document:
    """Read and parse one spec file."""
    shown = display or str(path)
    data, source, problems = load_text(read_spec_text(path, shown), shown)
    return Document(path, shown, data, source, tuple(problems))
