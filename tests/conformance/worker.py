"""What the AWS and GCP conformance tests share: a component's env from the compiled tree,
and running `driver.py` in it, either at this environment's Airflow (3.3.2) or as deployed:
in the stand-in of the agent image (tests/standin, Airflow 3.0.2) with what the component's
init command installed first on its PYTHONPATH (`as_deployed.py`)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
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


def values(tree: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load((tree / "helm" / "values.yaml").read_text())
    return data


def components(tree: Path) -> list[str]:
    """The Remote Execution components of a tree: workers[<name>], triggerer, dagProcessor
    (none for a Software tree)."""
    if not (tree / "helm" / "values.yaml").exists():
        return []
    return [f"workers[{w['name']}]" for w in values(tree)["workers"]] + [
        "triggerer",
        "dagProcessor",
    ]


def component_values(tree: Path, component: str) -> dict[str, Any]:
    """The chart values of one component (a worker entry, `triggerer`, `dagProcessor`)."""
    v = values(tree)
    if component.startswith("workers["):
        name = component.removeprefix("workers[").removesuffix("]")
        entry: dict[str, Any] = next(w for w in v["workers"] if w["name"] == name)
        return entry
    part: dict[str, Any] = v[component]
    return part


def worker_env(tree: Path, component: str | None = None) -> dict[str, str]:
    """The env vars a component's container gets from the compiled artifacts (default: the
    first worker): the chart's commonEnv, what it sets from secretBackend, xcomBackend and
    dagBundleConfigList, and the component's own env (PYTHONPATH). Env vars from Secrets
    (secretKeyRef) are left out: their values are not in the artifacts."""
    values_file = tree / "helm" / "values.yaml"
    if values_file.exists():
        v = values(tree)
        env = {e["name"]: e["value"] for e in v.get("commonEnv", []) if "value" in e}
        if "secretBackend" in v:  # the chart sets AIRFLOW__SECRETS__BACKEND from it
            env["AIRFLOW__SECRETS__BACKEND"] = v["secretBackend"]
        if "xcomBackend" in v:  # and AIRFLOW__CORE__XCOM_BACKEND from this
            env["AIRFLOW__CORE__XCOM_BACKEND"] = v["xcomBackend"]
        if "dagBundleConfigList" in v:  # and this one from dagBundleConfigList
            env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = v["dagBundleConfigList"]
        own = component_values(tree, component or components(tree)[0])
        env.update({e["name"]: e["value"] for e in own.get("env", []) if "value" in e})
        return env
    env = {}
    for line in (tree / "software" / "Dockerfile.env").read_text().splitlines():
        if line.startswith("ENV "):
            name, _, value = line[4:].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


@cache
def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def adc_file(tmp: Path, token_uri: str = "http://127.0.0.1:9/token") -> Path:
    """Application Default Credentials for the Google clients: a service account key whose
    token_uri is `token_uri` (the GCS double serves it; an `authorized_user` file always
    refreshes at Google, which the Google provider 17's gcsfs filesystem does on every
    use). The key is generated for the run and signs nothing anyone checks."""
    adc = tmp / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "conformance",
                "private_key_id": "conformance",
                "private_key": _private_key(),
                "client_email": "conformance@conformance.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return adc


class DriverFailed(Exception):
    pass


@dataclass(frozen=True)
class Runtime:
    """Where the driver runs: this environment's Python (Airflow 3.3.2, PYTHONPATH unset), or
    the image stand-in's with the component's install folder as PYTHONPATH (as deployed)."""

    name: str
    python: str = sys.executable
    pythonpath: str | None = None
    component: str | None = None


LATEST = Runtime("airflow-3.3.2")


def run_driver(
    tmp: Path,
    args: tuple[str, ...],
    env: dict[str, str],
    overrides: dict[str, str],
    runtime: Runtime = LATEST,
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
    # PYTHONPATH as the pod sets it: the component's install folder, or none at all
    run_env.pop("PYTHONPATH", None)
    if runtime.pythonpath is not None:
        run_env["PYTHONPATH"] = runtime.pythonpath
    got = subprocess.run(
        [runtime.python, str(DRIVER), *args],
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
