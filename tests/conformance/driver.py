"""Run Apache Airflow's own classes with the environment a worker gets; print what happened.

Run by the conformance tests in a subprocess of the conformance environment (Airflow reads
its configuration from the environment once, at import), with the compiled env vars set.
Usage: `python driver.py ACTION`; prints one JSON object. Actions:

- `logs`: the remote log IO Airflow builds from `[logging] remote_base_log_folder`
  (`airflow_local_settings.REMOTE_TASK_LOG`) uploads a task log, reads it back, and reads
  one that does not exist.
- `xcom store|read|purge`: the class `AIRFLOW__CORE__XCOM_BACKEND` names stores a value over
  the threshold, reads it back, purges it (one step per process).
- `secrets CONN_ID VAR_KEY`: the class `AIRFLOW__SECRETS__BACKEND` names, built with
  `AIRFLOW__SECRETS__BACKEND_KWARGS`, looks up a connection and a variable.
- `secret-names CONN_ID VAR_KEY`: the Secret Manager names that backend would read.
- `probe CLASS...`: imports each dotted class path; reports the file each came from, the
  Airflow imported (version and file) and the distributions in each PYTHONPATH folder.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any


def load(class_path: str) -> Any:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def logs() -> dict[str, Any]:
    from airflow.config_templates import airflow_local_settings

    io = airflow_local_settings.REMOTE_TASK_LOG
    out: dict[str, Any] = {"class": f"{type(io).__module__}.{type(io).__qualname__}"}
    relative = "dag_id=conformance/run_id=manual__1/task_id=hello/attempt=1.log"
    local = Path(io.base_log_folder) / relative
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text("hello from a task\n")
    io.upload(relative, None)
    out["uploaded_to"] = f"{io.remote_base}/{relative}"
    messages, texts = io.read(relative, None)
    out["read"] = texts
    out["read_sources"] = messages
    messages, texts = io.read("dag_id=conformance/run_id=none/task_id=none/attempt=1.log", None)
    out["missing"] = {"sources": messages, "logs": texts}
    return out


VALUE = {"rows": ["x" * 64] * 64}  # over any threshold the specs use


def xcom(step: str, stored: str = "") -> dict[str, Any]:
    """One step of an XCom's life, each in its own process as in Airflow (the task writes,
    a downstream task reads, the API server purges on clear): `store`, `read STORED`,
    `purge STORED`, where STORED is what the backend returned for the metadata database."""
    backend = load(os.environ["AIRFLOW__CORE__XCOM_BACKEND"])
    out: dict[str, Any] = {"class": os.environ["AIRFLOW__CORE__XCOM_BACKEND"]}
    if step == "store":
        out["stored"] = backend.serialize_value(
            VALUE, key="return_value", task_id="hello", dag_id="conformance", run_id="manual__1"
        )
    elif step == "read":
        out["round_trip"] = backend.deserialize_value(types.SimpleNamespace(value=stored)) == VALUE
    elif step == "purge":
        try:  # Airflow 3.3 moved serde into the Task SDK; 3.0 keeps it in airflow.serialization
            deserialize = load("airflow.sdk.serde.deserialize")
        except ModuleNotFoundError:
            deserialize = load("airflow.serialization.serde.deserialize")
        pointer = deserialize(stored)
        backend.purge(types.SimpleNamespace(value=pointer))
        out["purged"] = pointer
    return out


def secrets(conn_id: str, var_key: str) -> dict[str, Any]:
    cls = load(os.environ["AIRFLOW__SECRETS__BACKEND"])
    kwargs = json.loads(os.environ.get("AIRFLOW__SECRETS__BACKEND_KWARGS", "{}"))
    backend = cls(**kwargs)
    conn = backend.get_connection(conn_id)
    return {
        "class": os.environ["AIRFLOW__SECRETS__BACKEND"],
        "connection": None if conn is None else conn.get_uri(),
        "variable": backend.get_variable(var_key),
    }


def secret_names(conn_id: str, var_key: str) -> dict[str, Any]:
    """The Secret Manager resource names the backend would access, computed by Airflow's
    backend (`build_path` with its prefixes and separator, as `_get_secret` does) and the
    Google client (`secret_version_path`, as `_SecretManagerClient.get_secret` does); the
    gRPC call itself is not made (no local Secret Manager)."""
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

    cls = load(os.environ["AIRFLOW__SECRETS__BACKEND"])
    backend = cls(**json.loads(os.environ.get("AIRFLOW__SECRETS__BACKEND_KWARGS", "{}")))
    path = SecretManagerServiceClient.secret_version_path

    def name(prefix: str, key: str) -> str:
        return path(backend.project_id, backend.build_path(prefix, key, backend.sep), "latest")

    return {
        "class": os.environ["AIRFLOW__SECRETS__BACKEND"],
        "project": backend.project_id,
        "connection": name(backend.connections_prefix, conn_id),
        "variable": name(backend.variables_prefix, var_key),
    }


def probe(*class_paths: str) -> dict[str, Any]:
    """Import every class as the component would; where each came from, which Airflow."""
    from importlib import metadata

    import airflow

    found: dict[str, Any] = {}
    for path in class_paths:
        module, _, name = path.rpartition(".")
        try:
            getattr(importlib.import_module(module), name)
            found[path] = {"file": sys.modules[module].__file__}
        except Exception as exc:
            found[path] = {"error": f"{type(exc).__name__}: {exc}"}
    folders = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {
        "classes": found,
        "airflow": {"version": airflow.__version__, "file": airflow.__file__},
        "pythonpath": {
            folder: sorted(
                f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions(path=[folder])
            )
            for folder in folders
        },
        "site": sorted(
            f"{d.metadata['Name']}=={d.version}"
            for d in metadata.distributions(path=[p for p in sys.path if p not in folders])
        ),
    }


def main() -> None:
    action, *args = sys.argv[1:]
    actions = {
        "logs": logs,
        "xcom": xcom,
        "secrets": secrets,
        "secret-names": secret_names,
        "probe": probe,
    }
    result = actions[action](*args)
    print("DRIVER-RESULT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
