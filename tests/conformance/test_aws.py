"""Conformance on AWS: Apache Airflow's own classes against the compiled artifacts.

For every compiled AWS tree (out/ and the golden fixture trees), a moto server on 127.0.0.1
holds the declared buckets, a principal with exactly `aws/iam-policy.json`, and the secrets
stored where RUNBOOK.md says to store them (as an administrator); then IAM enforcement is
turned on and `driver.py` runs Airflow's remote log IO, XCom backend and secrets backend in a
subprocess with the env a worker pod gets (helm/values.yaml, or software/Dockerfile.env).

Env vars changed for the test, and why (everything else is the compiled value):
- AWS_ENDPOINT_URL: the moto server instead of AWS.
- AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY: the test principal's keys; in the cluster the
  pod gets the role's credentials from IRSA or EKS Pod Identity, which moto cannot play.
- and, as on GCP (worker.run_driver): Astro Runtime's logging config class removed,
  AIRFLOW_HOME and the local log folder in a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from as_deployed import cases, runtime
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from worker import CONN_ID, LATEST, VAR_KEY, DriverFailed, Runtime, run_driver, trees, worker_env

pytestmark = pytest.mark.conformance

TREES = trees("aws/iam-policy.json")
# each tree at Airflow 3.3.2, and as deployed (the agent image's Airflow 3.0.2 stand-in plus
# what the component's init command installs) each component that uses the backend
LOGS_CASES, XCOM_CASES, SECRETS_CASES = (cases(TREES, use) for use in ("logs", "xcom", "secrets"))


def _ids(case: tuple[Path, str]) -> str:
    return f"{case[0].name}-{case[1]}"


def _runtime(tree: Path, name: str) -> Runtime:
    return LATEST if name == LATEST.name else runtime(tree, name.removeprefix("image:"))
CONN_URI = "postgres://user:pw@db.example.com:5432/airflow"
ADMIN = {"aws_access_key_id": "admin", "aws_secret_access_key": "admin"}


def _secret_arn(self: Any) -> str:
    """The ARN IAM evaluates a Secrets Manager call against: the secret's (with AWS's random
    suffix) when it exists, else one built from the name."""
    secret_id = self._get_param("SecretId") or "*"
    try:
        return str(self.backend.secrets[secret_id].arn)
    except (KeyError, AttributeError):
        return f"arn:aws:secretsmanager:{self.region}:{self.current_account}:secret:{secret_id}"


def _parameter_arn(self: Any) -> str:
    """The ARN of the parameter an SSM Get call names (`/a/b` -> `parameter/a/b`)."""
    name = self._get_param("Name") or (self._get_param("Names") or ["*"])[0]
    return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter/{name.lstrip('/')}"


# moto 5.x authorizes Secrets Manager and SSM calls against the resource "*" (it has no
# `_determine_resource` for them), so a policy scoped to secret ARNs - the only kind airspec
# writes - is refused, which AWS does not do. The double is extended here: each call is
# authorized against the ARN AWS would use (Secrets Manager and SSM API references,
# "Resource types defined by"), and moto's own IAM evaluation does the rest.
import xmltodict  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402
from moto.secretsmanager.responses import SecretsManagerResponse  # noqa: E402
from moto.ssm.exceptions import ValidationException  # noqa: E402
from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

SecretsManagerResponse._determine_resource = _secret_arn  # type: ignore[attr-defined]
SimpleSystemManagerResponse._determine_resource = _parameter_arn  # type: ignore[attr-defined]

# moto authorizes S3 DeleteObjects (`POST /bucket?delete`, what s3fs's rm sends) as
# s3:DeleteObject on the *bucket*; AWS checks s3:DeleteObject on each object named (Amazon S3
# API Reference, DeleteObjects: "you must have the s3:DeleteObject permission" for each key).
# With a grant on `bucket/xcom/*` moto refuses and deletes nothing, so each key is authorized
# here, as AWS does (a refused key refuses the request; AWS would report it per key).
_s3_authorize = S3Response._authenticate_and_authorize_s3_action


def _authorize_each_key(
    self: Any, bucket_name: str | None = None, key_name: str | None = None
) -> None:
    if (
        key_name is None
        and bucket_name
        and self.data.get("Action") == "DeleteObject"
        and self.is_delete_keys()
    ):
        objects = xmltodict.parse(self.body)["Delete"].get("Object", [])
        for obj in objects if isinstance(objects, list) else [objects]:
            _s3_authorize(self, bucket_name=bucket_name, key_name=obj["Key"])
        return
    _s3_authorize(self, bucket_name=bucket_name, key_name=key_name)


S3Response._authenticate_and_authorize_s3_action = _authorize_each_key  # type: ignore[method-assign]

# moto reads and writes SSM parameter names AWS refuses: a name with '/' but no leading '/'
# ("airflow/connections/x") is not a fully qualified hierarchical name, and PutParameter /
# GetParameter answer ValidationException (Systems Manager API Reference, PutParameter `Name`:
# "the fully qualified parameter name ... must begin with a forward slash" for hierarchies).
_ssm_get = SimpleSystemManagerResponse.get_parameter


def _fully_qualified(method: Any) -> Any:
    def call(self: Any) -> Any:
        name = self._get_param("Name") or ""
        if "/" in name and not name.startswith("/"):
            raise ValidationException(
                f"Parameter name: '{name}' is not fully qualified: a hierarchy begins with '/'"
            )
        return method(self)

    return call


SimpleSystemManagerResponse.get_parameter = _fully_qualified(_ssm_get)  # type: ignore[method-assign]
SimpleSystemManagerResponse.put_parameter = _fully_qualified(  # type: ignore[method-assign]
    SimpleSystemManagerResponse.put_parameter
)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _post(url: str, body: bytes = b"") -> None:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


class Account:
    """The moto account of one tree: buckets, secrets, the worker principal."""

    def __init__(
        self,
        url: str,
        tree: Path,
        policy: dict[str, Any] | None = None,
        runtime: Runtime = LATEST,
    ) -> None:
        # the server runs in this process: every request is served in the spec's account, so
        # the account in the compiled ARNs is the one moto compares them with
        os.environ["MOTO_ACCOUNT_ID"] = self.account_of(tree)
        _post(f"{url}/moto-api/reset")
        _post(f"{url}/moto-api/reset-auth", b"inf")
        self.url, self.tree, self.runtime = url, tree, runtime
        self.env = worker_env(tree, runtime.component)
        self.region = self.env.get("AWS_DEFAULT_REGION", "us-east-1")
        self.policy = policy or json.loads((tree / "aws" / "iam-policy.json").read_text())
        admin = self.client
        for bucket in [*sorted(self.buckets()), "someone-elses-bucket"]:
            args: dict[str, Any] = {"Bucket": bucket}
            if self.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            admin("s3").create_bucket(**args)
        iam = admin("iam")
        arn = iam.create_policy(PolicyName="compiled", PolicyDocument=json.dumps(self.policy))[
            "Policy"
        ]["Arn"]
        iam.create_user(UserName="worker")
        iam.attach_user_policy(UserName="worker", PolicyArn=arn)
        key = iam.create_access_key(UserName="worker")["AccessKey"]
        self.keys = {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }
        self.stored = self.store_secrets()
        # an administrator for the checks after enforcement ("as an administrator" in the issue)
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(everything)
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        admin_keys = {
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }
        _post(f"{url}/moto-api/reset-auth", b"0")  # IAM enforced from here on
        self.admin = admin_keys

    @staticmethod
    def account_of(tree: Path) -> str:
        manifest = json.loads((tree / "manifest.json").read_text())
        arns = [
            a["live"]["id"]
            for a in manifest["artifacts"]
            if (a["live"] or {}).get("id", "").startswith("arn:")
        ]
        return next(arn.split(":")[4] for arn in arns if arn.split(":")[4])

    def client(self, service: str, keys: dict[str, str] | None = None) -> Any:
        """A client with `keys`, else the administrator's (the setup's, before enforcement)."""
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.url,
            **(keys or getattr(self, "admin", ADMIN)),
        )

    def buckets(self) -> set[str]:
        arns = [
            r
            for s in self.policy["Statement"]
            for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        ]
        return {
            a.split(":::", 1)[1].split("/", 1)[0] for a in arns if re.match(r"arn:[a-z-]+:s3:::", a)
        }

    def store_secrets(self) -> dict[str, str]:
        """Store a connection and a variable under the names RUNBOOK.md's commands use, and
        one secret outside the prefixes; returns {what: name}."""
        runbook = (self.tree / "RUNBOOK.md").read_text()
        names = re.findall(r'--name "([^"$]*)\$(CONN_ID|VAR_KEY)"', runbook)
        stored: dict[str, str] = {}
        backend = self.env.get("AIRFLOW__SECRETS__BACKEND", "")
        for prefix, var in names:
            name = prefix + (CONN_ID if var == "CONN_ID" else VAR_KEY)
            value = CONN_URI if var == "CONN_ID" else "variable-value"
            self._put(backend, name, value)
            stored[var] = name
        if names:
            outside = "/elsewhere/secret" if "systems_manager" in backend else "elsewhere/secret"
            self._put(backend, outside, "not for airflow")
            stored["outside"] = outside
        return stored

    def _put(self, backend: str, name: str, value: str) -> None:
        if "systems_manager" in backend:
            self.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
        else:
            self.client("secretsmanager").create_secret(Name=name, SecretString=value)

    def run(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        """driver.py ACTION in the worker's env (changed only as the module docstring says)."""
        return run_driver(
            tmp,
            args,
            env if env is not None else self.env,
            {
                "AWS_ENDPOINT_URL": self.url,
                "AWS_ACCESS_KEY_ID": self.keys["aws_access_key_id"],
                "AWS_SECRET_ACCESS_KEY": self.keys["aws_secret_access_key"],
            },
            self.runtime,
        )

    def denied(self, service: str, call: str, **kwargs: Any) -> bool:
        try:
            getattr(self.client(service, self.keys), call)(**kwargs)
        except ClientError as exc:  # moto answers JSON-protocol denials in XML: status 403
            return exc.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        return False


def _s3_url(url: str) -> tuple[str, str]:
    bucket, _, key = re.sub(r"^s3://([^@/]+@)?", "", url).partition("/")
    return bucket, key


@pytest.mark.parametrize(("tree", "runtime_name"), LOGS_CASES, ids=list(map(_ids, LOGS_CASES)))
def test_remote_task_logs(tree: Path, runtime_name: str, moto_url: str, tmp_path: Path) -> None:
    account = Account(moto_url, tree, runtime=_runtime(tree, runtime_name))
    if "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER" not in account.env:
        pytest.skip("no logs backend")
    got = account.run(tmp_path, "logs")
    assert got["class"] == "airflow.providers.amazon.aws.log.s3_task_handler.S3RemoteLogIO"
    assert got["read"] == ["hello from a task\n"]
    bucket, key = _s3_url(got["uploaded_to"])
    base_bucket, base_key = _s3_url(account.env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"])
    assert bucket == base_bucket and key.startswith(base_key + "/")
    assert account.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    # a log that does not exist: Airflow's "not found" path (no sources), not an access error
    assert got["missing"] == {"sources": [], "logs": None}


def check_xcom(account: Account, tmp: Path, env: dict[str, str] | None = None) -> None:
    """Store, read back and purge an XCom over the threshold; it lives under the compiled path."""
    env = env if env is not None else account.env
    stored = account.run(tmp, "xcom", "store", env=env)["stored"]
    assert account.run(tmp, "xcom", "read", stored, env=env)["round_trip"] is True
    base = account.env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"]
    bucket, prefix = _s3_url(base)
    pointer = account.run(tmp, "xcom", "purge", stored, env=env)["purged"]
    got_bucket, key = _s3_url(pointer)
    assert got_bucket == bucket and key.startswith(prefix + "/conformance/manual__1/hello/")
    left = account.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    assert left.get("KeyCount", 0) == 0, "the purge left the object behind"


@pytest.mark.parametrize(("tree", "runtime_name"), XCOM_CASES, ids=list(map(_ids, XCOM_CASES)))
def test_xcom_object_storage(tree: Path, runtime_name: str, moto_url: str, tmp_path: Path) -> None:
    account = Account(moto_url, tree, runtime=_runtime(tree, runtime_name))
    if "AIRFLOW__CORE__XCOM_BACKEND" not in account.env:
        pytest.skip("no XCom backend")
    check_xcom(account, tmp_path)


@pytest.mark.parametrize(("tree", "runtime_name"), SECRETS_CASES, ids=list(map(_ids, SECRETS_CASES)))
def test_secrets_backend(tree: Path, runtime_name: str, moto_url: str, tmp_path: Path) -> None:
    account = Account(moto_url, tree, runtime=_runtime(tree, runtime_name))
    if "CONN_ID" not in account.stored:
        pytest.skip("no AWS secrets backend")
    got = account.run(tmp_path, "secrets", CONN_ID, VAR_KEY)
    assert got["connection"] == CONN_URI
    assert got["variable"] == "variable-value"
    # a secret stored outside the prefixes cannot be read with the compiled policy
    backend = account.env["AIRFLOW__SECRETS__BACKEND"]
    if "systems_manager" in backend:
        assert account.denied("ssm", "get_parameter", Name=account.stored["outside"])
    else:
        assert account.denied(
            "secretsmanager", "get_secret_value", SecretId=account.stored["outside"]
        )


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_everything_else_is_denied(tree: Path, moto_url: str) -> None:
    account = Account(moto_url, tree)
    (bucket, *_) = sorted(account.buckets())
    assert account.denied("s3", "put_object", Bucket=bucket, Key="not-a-backend/x", Body=b"x")
    assert account.denied("s3", "put_object", Bucket="someone-elses-bucket", Key="x", Body=b"x")
    assert account.denied("s3", "create_bucket", Bucket="brand-new-bucket")
    assert account.denied("s3", "delete_bucket", Bucket=bucket)
    assert account.denied("iam", "create_policy", PolicyName="more", PolicyDocument="{}")


# --- mutated artifacts: the tier must catch each ----------------------------------------------

SSM_TREE = next(
    (t for t in TREES if "systems_manager" in worker_env(t).get("AIRFLOW__SECRETS__BACKEND", "")),
    None,
)
XCOM_TREE = next(t for t in TREES if "AIRFLOW__CORE__XCOM_BACKEND" in worker_env(t))


def test_mutation_wrong_env_var_name_fails(moto_url: str, tmp_path: Path) -> None:
    account = Account(moto_url, XCOM_TREE)
    env = dict(account.env)
    env["AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATHS"] = env.pop(
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH"
    )
    # Airflow does not refuse it: with no path configured the XCom lands on the local disk,
    # which the check (stored under the compiled bucket and prefix) refuses
    with pytest.raises((DriverFailed, AssertionError)):
        check_xcom(account, tmp_path, env)


@pytest.mark.skipif(SSM_TREE is None, reason="no example uses aws-ssm")
def test_ssm_prefix_without_slash_airflow_tolerates_ssm_refuses(
    moto_url: str, tmp_path: Path
) -> None:
    """The issue expected this mutation to fail in Airflow; it does not: the Amazon provider
    in the lock prepends the '/' itself (`SystemsManagerParameterStoreBackend.
    _ensure_leading_slash`). What fails is storing the value where such a spec's runbook says:
    SSM refuses the name. So AS219 stays: it keeps the runbook's `put-parameter` name valid."""
    assert SSM_TREE is not None
    account = Account(moto_url, SSM_TREE)
    env = dict(account.env)
    kwargs = json.loads(env["AIRFLOW__SECRETS__BACKEND_KWARGS"])
    kwargs = {k: v.lstrip("/") if k.endswith("_prefix") else v for k, v in kwargs.items()}
    env["AIRFLOW__SECRETS__BACKEND_KWARGS"] = json.dumps(kwargs)
    got = account.run(tmp_path, "secrets", CONN_ID, VAR_KEY, env=env)
    assert got["connection"] == CONN_URI  # found under "/<prefix>/<id>" all the same
    unqualified = kwargs["connections_prefix"] + "/" + CONN_ID
    with pytest.raises(ClientError, match="ValidationException"):
        account.client("ssm").put_parameter(Name=unqualified, Value="x", Type="SecureString")


def test_mutation_missing_get_bucket_location_fails(moto_url: str, tmp_path: Path) -> None:
    policy = json.loads((XCOM_TREE / "aws" / "iam-policy.json").read_text())
    policy["Statement"] = [s for s in policy["Statement"] if s["Action"] != "s3:GetBucketLocation"]
    account = Account(moto_url, XCOM_TREE, policy)
    with pytest.raises(DriverFailed, match="CreateBucket"):  # s3fs's probe falls through
        check_xcom(account, tmp_path)
