"""The pods as deployed: a component's init command, run as written against the package index
into a temporary folder that stands for its /shared/packages, in the stand-in of the agent
image (tests/standin: apache-airflow 3.0.2 and the image list's providers at their versions,
in its own locked environment).

Only paths change: /shared/packages is a temporary folder, the constraints file the
ConfigMap mounts is written from k8s/provider-constraints.yaml, and `pip` is the stand-in's
(the image's pip in the pod). pip runs without this machine's pip configuration, as in the
image. Components with the same command share one run (the same command gives the same
folder); each command runs once per test session, by whichever pytest-xdist worker needs it
first (the others wait on its lock and reuse the folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from worker import ROOT, Runtime, component_values, components, values

STANDIN = ROOT / "tests" / "standin" / ".venv"
PACKAGES_DIR = "/shared/packages"
CONSTRAINTS_DIR = "/etc/airspec/constraints"
WORK_VAR = "AIRSPEC_AS_DEPLOYED"  # one folder per test session (conftest.py), shared by workers


def work() -> Path:
    """The session's folder for installs: conftest.py makes it before pytest-xdist starts its
    workers (they inherit the variable) and removes it at the end."""
    if WORK_VAR not in os.environ:  # run without the conftest (a script)
        os.environ[WORK_VAR] = tempfile.mkdtemp(prefix="airspec-as-deployed-")
    return Path(os.environ[WORK_VAR])


class InstallFailed(Exception):
    pass


def standin_python() -> str:
    python = STANDIN / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            "the image stand-in is not installed: .venv/bin/uv sync --locked --project tests/standin"
        )
    return str(python)


def init_commands(tree: Path, component: str) -> list[list[str]]:
    """The commands of the component's init containers, as the values hold them."""
    return [c["command"] for c in component_values(tree, component).get("initContainers", [])]


def _constraints(tree: Path) -> Path | None:
    manifest = tree / "k8s" / "provider-constraints.yaml"
    if not manifest.exists():
        return None
    data = YAML(typ="safe").load(manifest.read_text())
    ((name, text),) = data["data"].items()
    folder = work() / ("constraints-" + hashlib.sha256(text.encode()).hexdigest()[:16])
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


@cache
def _run(command: tuple[str, ...], constraints: str | None) -> Path:
    """Run one init command (once per session); returns its /shared/packages folder."""
    key = hashlib.sha256(json.dumps([command, constraints]).encode()).hexdigest()[:16]
    target = work() / f"packages-{key}"
    with (work() / f"packages-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be running this command
        if (work() / f"packages-{key}.done").exists():
            return target
        _install(command, constraints, target)
        (work() / f"packages-{key}.done").touch()
    return target


def _install(command: tuple[str, ...], constraints: str | None, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    argv = []
    for arg in command:
        arg = arg.replace(PACKAGES_DIR, str(target))
        if constraints is not None:
            arg = arg.replace(CONSTRAINTS_DIR, constraints)
        argv.append(arg)
    assert argv[0] == "pip", argv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run(
        [standin_python(), "-m", "pip", *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        raise InstallFailed(f"{' '.join(command)}\n{done.stderr[-4000:]}")


def runtime(tree: Path, component: str) -> Runtime:
    """The component as deployed: the stand-in's Python with its init command's folder as
    PYTHONPATH when the pod sets one."""
    constraints = _constraints(tree)
    folders = [
        _run(tuple(c), str(constraints) if constraints else None)
        for c in init_commands(tree, component)
    ]
    env = {e["name"]: e.get("value") for e in component_values(tree, component).get("env", [])}
    pythonpath = None
    if env.get("PYTHONPATH") == PACKAGES_DIR:
        assert len(folders) == 1, "one install folder per pod"
        pythonpath = str(folders[0])
    return Runtime(f"image:{component}", standin_python(), pythonpath, component)


def remote_trees(trees: list[Path]) -> list[Path]:
    return [t for t in trees if components(t)]


# What each component does with a backend in Airflow 3.0.2 (README, "Each component's Python
# environment"): workers run tasks (task logs, XCom, secrets); the triggerer runs triggers and
# uploads their logs, which may read connections; the dag processor reads secrets when DAG
# files call Variable.get at parse time. Every component imports every configured class at
# start: test_as_deployed.py checks that for all of them.
USES = {
    "logs": ("workers[", "triggerer"),
    "xcom": ("workers[",),
    "secrets": ("workers[", "triggerer", "dagProcessor"),
}


def cases(trees: list[Path], use: str = "secrets") -> list[tuple[Path, str]]:
    """(tree, runtime name) for each tree: Airflow 3.3.2 (its worker), and as deployed each
    component that uses the backend `use`."""
    out: list[tuple[Path, str]] = []
    for tree in trees:
        out.append((tree, "airflow-3.3.2"))
        out += [(tree, f"image:{c}") for c in components(tree) if c.startswith(USES[use])]
    return out


def environments(tree: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tree / "python" / "environments.json").read_text())
    return data


def image_of(tree: Path) -> str:
    image: str = values(tree)["triggerer"]["image"]
    return image
