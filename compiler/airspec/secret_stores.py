"""Where each secrets backend looks for a connection or variable, and how a user stores one.

Each backend joins its prefix and the id with its own separator: the Amazon backends
(`SecretsManagerBackend`, `SystemsManagerParameterStoreBackend`) with '/', the Google
`CloudSecretManagerBackend` with '-' (its `sep` default). aws-ssm prefixes begin with '/'
(AS219), so the joined name is a valid hierarchical parameter name.
"""

from __future__ import annotations

import shlex

SEPARATORS = {"aws-secrets-manager": "/", "aws-ssm": "/", "gcp-secret-manager": "-"}


def stored_name(backend: str, prefix: str, key: str) -> str:
    """The name under which `backend` looks up `key` below `prefix`."""
    return f"{prefix}{SEPARATORS[backend]}{key}"


def store_command(
    backend: str, prefix: str, key_var: str, value_var: str, *, region: str = "", project: str = ""
) -> str:
    """A create-or-update command that stores `$value_var` as `$key_var` under `prefix`.

    The value is read from the environment at run time; the command never holds one.
    """
    name = f'"{stored_name(backend, prefix, "")}${key_var}"'
    value = f'"${value_var}"'
    if backend == "aws-ssm":
        return (
            f"aws ssm put-parameter --region {shlex.quote(region)} --name {name} "
            f"--type SecureString --value {value} --overwrite"
        )
    if backend == "aws-secrets-manager":
        return (
            f"aws secretsmanager create-secret --region {shlex.quote(region)} --name {name} "
            f"--secret-string {value} \\\n  || aws secretsmanager put-secret-value "
            f"--region {shlex.quote(region)} --secret-id {name} --secret-string {value}"
        )
    if backend == "gcp-secret-manager":
        return (
            f"printf '%s' {value} | gcloud secrets create {name} --project={shlex.quote(project)} "
            "--replication-policy=automatic --data-file=- \\\n  || "
            f"printf '%s' {value} | gcloud secrets versions add {name} "
            f"--project={shlex.quote(project)} --data-file=-"
        )
    raise ValueError(f"no store command for secrets backend {backend!r}")
