"""The block YAML writer (airspec.block_yaml) against ruamel.yaml, which it stands in for:
on generated data of every shape artifacts hold, its output is ruamel's byte for byte, or
it declines (None) and ruamel writes the document."""

from __future__ import annotations

import io
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airspec import block_yaml
from airspec.emit import _yaml_ready

texts = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + "-_./:", max_size=20),
    st.text(alphabet=string.printable, max_size=20),
    st.text(max_size=8),  # any unicode: declined, not mis-written
    st.sampled_from(
        [
            "",
            "yes",
            "True",
            "null",
            "~",
            "1.5",
            "0o17",
            "1_000",
            "2024-01-01",
            "x: y",
            "a #b",
            "- x",
            "-x",
            "--flag",
            "'q'",
            '"q"',
            "it's",
            "[a]",
            "{a}",
            "*a",
            "&a",
            "!t",
            "%p",
            "@x",
            "`x",
            "a:b",
            "a:",
            "? x",
            "?x",
            ",x",
            "x,",
            " lead",
            "trail ",
            "a\tb",
            "line\nbreak",
            "two\nlines\n",
            "keep\n\n",
            " indented\nblock\n",
            "=",
            "<<",
            "x" * 130,
            '{"json": [1, 2]}',
            "s3://bucket/prefix",
            "apache-airflow-providers-amazon[s3fs]==9.9.0",
        ]
    ),
)
scalars = st.one_of(texts, st.integers(), st.booleans())
data = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=25,
)


def _ruamel(value: Any) -> str:
    out = io.StringIO()
    block_yaml.ruamel_dumper().dump(value, out)
    return out.getvalue()


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(texts, data, min_size=1, max_size=5))
def test_block_yaml_is_ruamels_output_or_declines(doc: dict[str, Any]) -> None:
    ready = _yaml_ready(doc)
    fast = block_yaml.layout(ready)
    if fast is not None:
        assert fast == _ruamel(ready)


def test_the_shapes_of_artifacts_are_written_without_ruamel() -> None:
    """Not declining everything: a Helm-values-like document is laid out here."""
    doc = _yaml_ready(
        {
            "namespace": "agents",
            "replicas": 2,
            "createNamespace": False,
            "remoteLogging": "True",
            "dagBundleConfigList": '[{"name": "dags"}]',
            "commonEnv": [
                {"name": "A", "value": "s3://b/logs"},
                {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ],
            "volumes": [{"name": "v", "emptyDir": {}}],
            "command": ["pip", "install", "--target", "/x", "pkg[extra]==1.0"],
            "data": {"constraints.txt": "a==1\nb==2\n"},
        }
    )
    assert block_yaml.layout(doc) == _ruamel(doc)
