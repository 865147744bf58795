"""The code table: every code airspec can raise is produced by some test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airspec.apply.ignore import load_ignores
from airspec.diagnostics import DiagnosticsError
from airspec.rules import all_rules
from conftest import MINIMAL, ROOT, diagnose, write_spec


def test_every_code_has_a_test_that_produces_it() -> None:
    """Each code appears, as a literal, in some test's expectations (this function names
    none); the cases below cover those no other test did."""
    text = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    named = set(re.findall(r"\bAS\d{3}\b", text))
    assert sorted(set(all_rules()) - named) == []


def test_the_table_has_no_unknown_codes() -> None:
    import airspec.codes as table

    constants = {v for k, v in vars(table).items() if k.isupper() and isinstance(v, str)}
    codes = {c for c in constants if re.fullmatch(r"AS\d{3}", c)}
    assert codes == set(all_rules())


CASES = {
    "AS006": MINIMAL.replace("name: demo\n", "name: !Ref demo\n"),
    # the schema says integer (1.0 is one to JSON Schema); the model wants an int
    "AS199": MINIMAL.replace("desiredCapacity: 1", "desiredCapacity: 1.0"),
    "AS215": MINIMAL.replace("  astro:\n", "  cloudAccess: [workers, scheduler]\n  astro:\n"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_spec_codes(tmp_path: Path, code: str) -> None:
    assert code in {d.code for d in diagnose(tmp_path, CASES[code])}


@pytest.mark.parametrize(
    "lock",
    ["{not json", '{"kind": "something-else"}'],
)
def test_lock_file_code(tmp_path: Path, lock: str) -> None:
    spec = MINIMAL.replace(
        "      oidcIssuer: https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789\n", ""
    )
    path = write_spec(tmp_path, spec)
    (tmp_path / "demo.airspec.lock.json").write_text(lock)
    from airspec.frontend import check_spec

    diags = check_spec(path, for_compile=True).diagnostics
    lock_file = str(tmp_path / "demo.airspec.lock.json")
    assert [(d.file, d.line, d.col) for d in diags if d.code == "AS216"] == [(lock_file, 1, 1)]


def test_ignore_file_that_is_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / ".airspecignore"
    path.write_text("artifact: helm/values.yaml\nreason: x\n")
    with pytest.raises(DiagnosticsError) as err:
        load_ignores(path)
    assert [(d.code, d.line, d.col) for d in err.value.diagnostics] == [("AS401", 1, 1)]


@pytest.mark.parametrize("command", [["compile"], ["apply", "--dry-run"]])
def test_two_specs_with_one_name(tmp_path: Path, command: list[str]) -> None:
    from typer.testing import CliRunner

    from airspec.cli import app

    one = write_spec(tmp_path, MINIMAL, "one.airspec.yaml")
    two = write_spec(tmp_path, MINIMAL, "two.airspec.yaml")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [*command, str(one), str(two), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{two}:4:9: AS220 metadata.name 'demo' is already used by {one}" in result.output
    assert not out.exists()
