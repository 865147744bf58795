"""What `pip install airspec` puts on a user's machine: one top-level package, `airspec`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from conftest import EXAMPLES, ROOT


def test_wheel_installs_only_the_airspec_package(tmp_path: Path) -> None:
    # Build from a copy of what the sdist holds, so no build/ leftovers from earlier runs leak in.
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "compiler", src / "compiler", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=src,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("airspec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"airspec", next(t for t in tops if t.endswith(".dist-info"))}
    assert "airspec/py.typed" in names and "airspec/codes.py" in names
    # the vendored image package lists and dependency metadata compile reads
    assert "airspec/data/known-images.json" in names
    assert "airspec/data/distributions.json" in names
    assert any(n.startswith("airspec/data/images/") and n.endswith(".txt") for n in names)
    assert "airspec/spec.schema.json" in names  # what the schema stage validates with
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("entry_points.txt"))
    )
    assert b"airspec = airspec.launch:main" in entry_points

    # Import from the wheel alone (zipimport), isolated from the repo's source tree and cwd.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import airspec.cli, airspec.pipeline;"
        "assert airspec.__file__.startswith(sys.argv[1]), airspec.__file__\n"
        "from airspec.environments import image_packages, install_closure\n"
        "from airspec.model import DEFAULT_AGENT_IMAGE\n"
        "from pathlib import Path\n"
        "image = image_packages(DEFAULT_AGENT_IMAGE, Path('.'))\n"
        "assert install_closure(image, ['apache-airflow-providers-git==0.0.8']).installs\n"
        "try:\n import compiler\nexcept ModuleNotFoundError: print('no compiler module')"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(wheel)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "no compiler module"


def test_python_dash_m_airspec(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "airspec", "validate", str(EXAMPLES[0])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "1 spec" in run.stdout + run.stderr
