"""Hostile: what the one redactor lets through, and what it hides that is not a credential.

Live state comes from moto and FakeKube through the real clients, the report from the real
CLI (`apply --dry-run`) in all three formats, as tests/test_reports.py does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile import cli, finding
from live_servers import FakeKube, RecordingMotoServer
from test_apply import World

FORMATS = ["text", "json", "markdown"]
POLICY_ARN = "arn:aws:iam::123456789012:policy/AirflowS3Access"


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


def _dry_runs(world: World, target: str) -> Iterator[tuple[str, str]]:
    """(format, stdout + stderr) of `apply --dry-run -t target` in each format (exit 3)."""
    for fmt, out, err in _dry_runs_apart(world, target):
        yield fmt, out + err


def _dry_runs_apart(world: World, target: str) -> Iterator[tuple[str, str, str]]:
    for fmt in FORMATS:
        args = ["apply", str(world.spec), "--dry-run", "--out", str(world.out), "-t", target]
        code, out, err, exc = cli([*args, "-f", fmt], world.env)
        assert exc is None and code == 3, (fmt, out + err)
        yield fmt, out, err


def _helm(world: World, **extra: object) -> None:
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values.update(extra)
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)


# --- over-redaction: a grant hidden because of a word near it ---------------------------------


@finding("over-redaction: a broadening in Statement[ReadAirflowSecrets] prints as <redacted string>")
def test_broadening_in_the_secrets_statement_is_shown(world: World) -> None:
    """The compiled policy's secrets statement has Sid `ReadAirflowSecrets`. Someone widens
    its Resource to `*` (every secret in the account). The finding is broadening, and both
    its compiled and live values print as `<redacted string>`: the path holds a key whose
    last word is `Secrets`. A Sid is a name, not a credential; the `*` must show."""
    doc = json.loads(json.dumps(world.art["aws/iam-policy.json"]))
    for st in doc["Statement"]:
        if st["Sid"] == "ReadAirflowSecrets":
            st["Resource"] = "*"
    world.iam.create_policy_version(
        PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(doc), SetAsDefault=True
    )
    for fmt, out, _ in _dry_runs_apart(world, "iam"):
        assert "ReadAirflowSecrets" in out, (fmt, out)
        if fmt == "json":
            found = [f for f in json.loads(out)["findings"] if "ReadAirflowSecrets" in f["path"]]
            assert found and all(f["status"] == "broadening" for f in found), found
            assert any(f["live"] in ("*", ["*"]) for f in found), found
        else:
            assert "<redacted" not in out, (fmt, out)


# --- under-redaction: credentials the redactor lets through ------------------------------------

PEM_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"{PEM_BODY}\n"
    "AAAAIHostileTestPrivateKeyMaterialNeverShown00000000000000000000000\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@finding("a private key's body is printed (only its BEGIN line is cut)")
@pytest.mark.parametrize("where", ["helm", "kubernetes"])
def test_a_private_key_in_a_live_value_is_hidden_whole(world: World, where: str) -> None:
    """A deploy key pasted into the live release under a key that is not credential-named
    (`gitSync.sshKey`), or into the provider ConfigMap as `id_ed25519`: the redactor cuts
    out only the `-----BEGIN … PRIVATE KEY-----` line; the key material is printed."""
    if where == "helm":
        _helm(world, gitSync={"enabled": True, "sshKey": PRIVATE_KEY})
        shown = "sshKey"
    else:
        cm = json.loads(json.dumps(world.art["k8s/provider-constraints.yaml"]))
        cm["data"]["id_ed25519"] = PRIVATE_KEY
        world.kube.put(cm)
        shown = "id_ed25519"
    for fmt, out in _dry_runs(world, where):
        assert shown in out, (fmt, out)  # the finding is reported ...
        assert PEM_BODY not in out, (fmt, out)  # ... without the key


# (env name, value, the part that is the credential)
ENV_CREDENTIALS = [
    # Airflow's Fernet key decrypts every connection and variable in the metadata DB
    ("AIRFLOW__CORE__FERNET_KEY", "81HqDtbqAywKSOumSha3BhWNOdQ26slT6K0YaZeZyPs=", "81HqDtbqAywKSOumSha3"),
    ("SMTP_PASS", "NeverShownSmtpPass", "NeverShownSmtpPass"),
    ("HTTP_HEADERS", "Authorization: Bearer NeverShownBearerToken", "NeverShownBearerToken"),
    (
        "STORAGE",
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=NeverShownKey==",
        "NeverShownKey",
    ),
]


@finding("Fernet key, *_PASS, Authorization headers, Azure connection strings printed")
def test_common_credential_env_values_are_hidden(world: World) -> None:
    """Env entries added by hand to the live release whose value is a credential, in the
    usual forms: Airflow's Fernet key, a `_PASS` suffix, an HTTP Authorization header, an
    Azure storage connection string. Each is printed in full, in every format."""
    values = json.loads(json.dumps(world.art["helm/values.yaml"]))
    values["commonEnv"] += [{"name": n, "value": v} for n, v, _ in ENV_CREDENTIALS]
    world.kube.put_helm_release("airflow-agents", "remote-exec-demo", 2, values)
    leaked = []
    for fmt, out in _dry_runs(world, "helm"):
        for name, _, secret in ENV_CREDENTIALS:
            assert name in out, (fmt, name)
            if secret in out:
                leaked.append((fmt, name))
    assert leaked == []


@finding("names of Secrets (imagePullSecrets, existingSecret) hidden as credentials")
def test_the_name_of_a_secret_is_shown(world: World) -> None:
    """Keys that *name* a Kubernetes Secret end in `Secret`/`Secrets` (`imagePullSecrets`,
    the chart convention `existingSecret`). The redactor hides them as credentials, so a
    release repointed at another Secret shows `<redacted …>` where the Secret's name
    belongs (the README: "imagePullSecretName *names* a Secret and is shown")."""
    _helm(
        world,
        imagePullSecrets=[{"name": "someone-elses-registry"}],
        existingSecret="someone-elses-agent-token",
    )
    for fmt, out in _dry_runs(world, "helm"):
        assert "someone-elses-registry" in out, (fmt, out)
        assert "someone-elses-agent-token" in out, (fmt, out)
