"""airspec reads the common pip requirement lines itself (`name[extras]==version`,
`name @ url`) and hands every other line to packaging. Checked against packaging, the
reference implementation of PEP 508 and PEP 440 that pip vendors: on generated lines, both
accept and refuse the same lines and read the same name, extras, URL and pin, and a pin
admits the same versions as packaging's SpecifierSet."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement as Pep508
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from airspec.providers import allows, canonical_name, parse_requirement
from conftest import ROOT

names = st.one_of(
    st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,12}[A-Za-z0-9])?", fullmatch=True),
    st.sampled_from(["apache-airflow-providers-amazon", "A_b.C", "x", "-bad", "bad-", "a b"]),
)
versions = st.one_of(
    st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}", fullmatch=True),
    st.sampled_from(
        [
            "3.0.2+astro.1",
            "0.48b0",
            "2.9.0.post0",
            "1!2.0",
            "1.0.*",
            "1.0rc1",
            "1.0.dev3",
            "v1.0",
            "1.0+",
            "1..0",
            "01.2",
            "1.0-1",
            "1.0_rc1",
            "9.9",
            "9.9.0.0",
        ]
    ),
)
spaces = st.sampled_from(["", " ", "  ", "\t"])
extras = st.one_of(
    st.just(""),
    st.lists(names, min_size=0, max_size=3).flatmap(
        lambda xs: spaces.map(lambda s: "[" + s + f"{s},{s}".join(xs) + s + "]")
    ),
)
tails = st.one_of(
    st.tuples(
        spaces, st.sampled_from(["==", "===", ">=", "~=", "!=", "=", "<"]), spaces, versions
    ).map("".join),
    st.tuples(
        spaces,
        st.just("@"),
        spaces,
        st.sampled_from(
            [
                "file:///tmp/wheels/x-1.0-py3-none-any.whl#sha256=99",
                "https://example.com/x.tar.gz",
                "git+https://github.com/o/r@v1",
                "http://",
                "file:///a;b",
                "not a url",
                "://x",
            ]
        ),
    ).map("".join),
    st.sampled_from(
        ["", ">=1,<2", "==1.0; python_version >= '3.8'", " ==1.0 ;python_version<'4'", ",==1"]
    ),
)
lines = st.tuples(names, extras, tails).map("".join)


def _reference(line: str) -> Pep508 | None:
    try:
        return Pep508(line)
    except InvalidRequirement:
        return None


@settings(max_examples=2000, deadline=None)
@given(lines)
def test_requirement_lines_read_as_packaging_reads_them(line: str) -> None:
    ours, ref = parse_requirement(line), _reference(line)
    assert (ours is None) == (ref is None), line
    if ours is None or ref is None:
        return
    assert (ours.name, ours.extras, ours.url) == (ref.name, frozenset(ref.extras), ref.url)
    assert SpecifierSet(ours.specifier) == ref.specifier
    specs = list(ref.specifier)
    sole_pin = len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version
    assert (ours.pin is not None) == sole_pin, line
    if ours.pin is not None:
        assert ours.pin == Version(specs[0].version)


@settings(max_examples=1000, deadline=None)
@given(versions, versions)
@example("3.0.2", "3.0.2+astro.1")  # a pin without a local label ignores the candidate's
@example("3.0.2+astro.1", "3.0.2")
@example("9.9", "9.9.0")
@example("1.0", "1.0rc1")
def test_a_pin_admits_what_packaging_admits(pinned: str, candidate: str) -> None:
    ours = parse_requirement(f"x=={pinned}")
    try:
        version = Version(candidate)
    except ValueError:
        return
    if ours is None:
        return
    assert allows(ours, version) == SpecifierSet(f"=={pinned}").contains(
        version, prereleases=True
    ), (pinned, candidate)


@given(names)
def test_names_compare_as_pip_compares_them(name: str) -> None:
    assert canonical_name(name) == canonicalize_name(name)


def test_the_examples_requirement_lines_need_no_packaging_requirements() -> None:
    """Every line of specs/constraints.txt and of the examples' packages is a plain one, read
    by airspec itself. (A compile as a whole imports packaging.requirements since issue 24:
    the install closure parses the vendored dependency metadata with it.)"""
    probe = (
        "import sys\nfrom pathlib import Path\nfrom ruamel.yaml import YAML\n"
        "from airspec.providers import parse_requirement, pinned_versions, read_constraints\n"
        "pins = pinned_versions(read_constraints(Path('specs'), 'constraints.txt'))\n"
        "assert len(pins) > 100, len(pins)\n"
        "for spec in sorted(Path('specs').glob('*.airspec.yaml')):\n"
        "    doc = YAML(typ='safe').load(spec.read_text())\n"
        "    for line in doc['deployment'].get('providers', {}).get('packages', []):\n"
        "        assert parse_requirement(line) is not None, line\n"
        "print(sorted(m for m in sys.modules if m.startswith('packaging')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "['packaging', 'packaging.version']"
