"""Property tests: the loader and validate never raise on any input; output is deterministic."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from airspec.emit import render_tree
from airspec.frontend import check_spec
from airspec.loader import load_text
from airspec.pipeline import compile_spec
from conftest import EXAMPLES, MINIMAL

yaml_safe = YAML(typ="safe")
EXAMPLE_DATA = [yaml_safe.load(p.read_text()) for p in EXAMPLES] + [yaml_safe.load(MINIMAL)]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["", "~", "yes", "0o17", "1e3", "AKIAABCDEFGHIJKLMNOP", "https://u:p@h"]),
)
trees = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _check_text(text: str) -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.airspec.yaml"
        path.write_text(text, encoding="utf-8")
        checked = check_spec(path, for_compile=True)
    for d in checked.diagnostics:
        assert d.line >= 1 and d.col >= 1 and d.code.startswith("AS") and d.message
    return list(checked.diagnostics)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_gives_diagnostics_not_tracebacks(text: str) -> None:
    _check_text(text)


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t{}[]'\"&*!|>#%@`,?.0")), max_size=120))
def test_yaml_shaped_noise(text: str) -> None:
    _check_text(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _dump(data: Any) -> str:
    import io

    buf = io.StringIO()
    YAML(typ="safe").dump(data, buf)
    return buf.getvalue()


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(draw(st.sampled_from(EXAMPLE_DATA)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["delete", "replace", "rename"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(trees)
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = parent.pop(path[-1])
    return data


@SETTINGS
@given(mutated_examples())
def test_mutated_examples_give_diagnostics_not_tracebacks(data: Any) -> None:
    _check_text(_dump(data))


@SETTINGS
@given(st.text(max_size=200))
def test_loader_positions_are_in_the_text(text: str) -> None:
    try:
        _, source, _ = load_text(text, "x")
    except Exception as exc:  # only the one error family may come out
        from airspec.diagnostics import DiagnosticsError

        assert isinstance(exc, DiagnosticsError)
        return
    lines = text.splitlines() or [""]
    for line, col in list(source.values.values()) + list(source.keys.values()):
        assert 1 <= line <= len(lines) + 1 and col >= 1


@settings(max_examples=20, deadline=None)
@given(st.permutations(["logs", "xcom", "secrets"]), st.permutations(["a-bucket", "b-bucket"]))
def test_compile_is_deterministic_and_order_of_keys_in_the_spec_does_not_matter(
    order: list[str], buckets: list[str]
) -> None:
    base = yaml_safe.load(MINIMAL)
    base["buckets"] = [{"name": b} for b in buckets]
    base["backends"] = {
        "logs": {"bucket": "a-bucket"},
        "xcom": {"bucket": "b-bucket"},
        "secrets": {"type": "aws-ssm"},
    }
    shuffled = copy.deepcopy(base)
    shuffled["backends"] = {k: base["backends"][k] for k in order}
    outs = []
    for data in (base, shuffled, base):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "d.airspec.yaml"
            path.write_text(_dump(data))
            result = compile_spec(path, "d", "d.airspec.yaml")
            assert result.resolved is not None
            outs.append(render_tree(result.resolved.name, result.artifacts, "d.airspec.yaml"))
    assert outs[0] == outs[1] == outs[2]
