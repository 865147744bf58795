"""What the AWS and GCP conformance tests share: the worker's env from the compiled tree, and
running `driver.py` in it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.py")
CONN_ID, VAR_KEY = "conformance_conn", "conformance_var"


def trees(marker: str) -> list[Path]:
    """Every compiled tree (out/ and the golden fixtures) holding `marker`."""
    return sorted(
        p.parents[1]
        for base in (ROOT / "out", ROOT / "tests" / "golden")
        for p in base.glob(f"*/{marker}")
    )


def worker_env(tree: Path) -> dict[str, str]:
    """The env vars a worker container gets from the compiled artifacts."""
    values_file = tree / "helm" / "values.yaml"
    if values_file.exists():
        values = YAML(typ="safe").load(values_file.read_text())
        env = {e["name"]: e["value"] for e in values.get("commonEnv", []) if "value" in e}
        if "secretBackend" in values:  # the chart sets AIRFLOW__SECRETS__BACKEND from it
            env["AIRFLOW__SECRETS__BACKEND"] = values["secretBackend"]
        if "xcomBackend" in values:  # and AIRFLOW__CORE__XCOM_BACKEND from this
            env["AIRFLOW__CORE__XCOM_BACKEND"] = values["xcomBackend"]
        return env
    env = {}
    for line in (tree / "software" / "Dockerfile.env").read_text().splitlines():
        if line.startswith("ENV "):
            name, _, value = line[4:].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


class DriverFailed(Exception):
    pass


def run_driver(
    tmp: Path, args: tuple[str, ...], env: dict[str, str], overrides: dict[str, str]
) -> dict[str, Any]:
    """driver.py ARGS with the worker's `env`, then `overrides` (what must point at the local
    double; each test module says which and why). Also, for both clouds:
    - AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS is removed: it names Astro Runtime's logging
      module, which the open-source Airflow installed here does not ship;
    - AIRFLOW_HOME and AIRFLOW__LOGGING__BASE_LOG_FOLDER are a temporary folder."""
    run_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "AWS_", "GOOGLE_", "STORAGE_"))
    }
    run_env.update(env)
    run_env.pop("AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS", None)
    run_env.update(overrides)
    run_env.update(
        AIRFLOW_HOME=str(tmp / "airflow"), AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp / "logs")
    )
    got = subprocess.run(
        [sys.executable, str(DRIVER), *args],
        cwd=tmp,  # a misconfigured object store path falls back to local files: keep them here
        env=run_env,
        capture_output=True,
        text=True,
        timeout=int(os.environ.get("DRIVER_TIMEOUT", "300")),
    )
    line = next((x for x in got.stdout.splitlines() if x.startswith("DRIVER-RESULT ")), None)
    if got.returncode != 0 or line is None:
        raise DriverFailed(got.stderr[-3000:])
    return json.loads(line.removeprefix("DRIVER-RESULT "))
