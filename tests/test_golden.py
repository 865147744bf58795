"""Golden out/ trees for the fixture specs in tests/specs/.

The examples in specs/ are golden-tested by `compile --check` against the checked-in out/.
Regenerate with `AIRSPEC_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py` and review
the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, invoke

FIXTURES = sorted((ROOT / "tests" / "specs").glob("*.airspec.yaml"))
GOLDEN = ROOT / "tests" / "golden"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("spec", FIXTURES, ids=lambda p: p.name)
def test_golden_tree(spec: Path, tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out"
    # run from the repo root so the header names the spec as tests/specs/<file>
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = invoke(runner, "compile", str(spec.relative_to(ROOT)), "--out", str(out))
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.stdout + result.stderr
    (produced,) = list(out.iterdir())
    golden = GOLDEN / produced.name
    if os.environ.get("AIRSPEC_UPDATE_GOLDEN") == "1":
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(produced, golden)
    assert _tree(produced) == _tree(golden), (
        f"golden differs; regenerate with AIRSPEC_UPDATE_GOLDEN=1 and review {golden}"
    )
