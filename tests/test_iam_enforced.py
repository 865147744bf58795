"""The compiled permission policy works for what Airflow does, and denies everything else.

A moto server (real HTTP on 127.0.0.1) with IAM enforcement on; a user that holds only the
compiled policy replays the S3 task handler's boto3 calls and the XCom backend's s3fs calls.
moto checks actions and resources, not condition keys (the `s3:prefix` conditions are
asserted structurally in test_artifacts.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import s3fs
from botocore.exceptions import ClientError

from conftest import ROOT
from moto_server import moto_server, set_auth_enforcement

REGION = "us-east-1"
BUCKET = "my-airflow-bucket"  # the example spec's bucket
OTHER = "someone-elses-bucket"
EXISTING_LOG = "logs/dag_id=etl/run_id=manual/task_id=extract/attempt=1.log"
POLICY = json.loads((ROOT / "out" / "remote-exec-demo" / "aws" / "iam-policy.json").read_text())


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class World:
    url: str
    worker: Keys  # holds exactly the compiled policy
    mutant: Keys  # the compiled policy without its XCom object statement


def _admin(url: str, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="admin",
        aws_secret_access_key="admin",
    )


def _user_with(iam: Any, name: str, policy: dict[str, Any]) -> Keys:
    iam.create_user(UserName=name)
    arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))[
        "Policy"
    ]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with moto_server() as url:
        s3 = _admin(url, "s3")
        for bucket in (BUCKET, OTHER):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=BUCKET, Key=EXISTING_LOG, Body=b"line 1\n")
        iam = _admin(url, "iam")
        worker = _user_with(iam, "airflow-worker", POLICY)
        mutant_policy = {
            **POLICY,
            "Statement": [s for s in POLICY["Statement"] if s["Sid"] != "ReadWriteXComObjects"],
        }
        mutant = _user_with(iam, "mutant", mutant_policy)
        set_auth_enforcement(url, enforce=True)
        yield World(url, worker, mutant)


def _s3(world: World, keys: Keys) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=world.url,
        region_name=REGION,
        aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
    )


def _fs(world: World, keys: Keys) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        key=keys.access_key,
        secret=keys.secret_key,
        client_kwargs={"endpoint_url": world.url, "region_name": REGION},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def _denied(call: Any) -> bool:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("AccessDenied", "403")
    except PermissionError:
        return True
    return False


def test_s3_task_handler_calls_succeed(world: World) -> None:
    s3 = _s3(world, world.worker)
    assert s3.head_object(Bucket=BUCKET, Key=EXISTING_LOG)["ContentLength"] == 7
    with pytest.raises(ClientError) as missing:
        s3.head_object(
            Bucket=BUCKET, Key="logs/dag_id=etl/run_id=manual/task_id=load/attempt=1.log"
        )
    assert missing.value.response["Error"]["Code"] == "404"  # a 404, not a 403
    assert s3.get_object(Bucket=BUCKET, Key=EXISTING_LOG)["Body"].read() == b"line 1\n"
    s3.put_object(Bucket=BUCKET, Key=EXISTING_LOG, Body=b"line 1\nline 2\n")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="logs/dag_id=etl/")
    assert [o["Key"] for o in listed["Contents"]] == [EXISTING_LOG]


def test_xcom_object_storage_calls_succeed(world: World) -> None:
    fs = _fs(world, world.worker)
    path = f"{BUCKET}/xcom/etl/manual/extract/{uuid.uuid4()}"
    parent = path.rsplit("/", 1)[0]
    assert fs.exists(parent) is False
    fs.makedirs(parent, exist_ok=True)  # what ObjectStoragePath.mkdir(parents=True) does
    with fs.open(path, "wb") as f:
        f.write(b'{"rows": 3}')
    with fs.open(path, "rb") as f:
        assert f.read() == b'{"rows": 3}'
    assert fs.exists(path)
    # XCom purge: ObjectStoragePath.unlink -> s3fs rm -> DeleteObjects, which S3 authorizes
    # as s3:DeleteObject per key. moto (5.x, s3/responses.py _bucket_response_post) first checks
    # s3:DeleteObject on the *bucket* ARN and refuses every key when that fails, so the
    # per-key check S3 makes is replayed with DeleteObject itself.
    fs.rm_file(path)
    with pytest.raises(ClientError) as gone:
        _s3(world, world.worker).head_object(Bucket=BUCKET, Key=path.split("/", 1)[1])
    assert gone.value.response["Error"]["Code"] == "404"


def test_everything_else_is_denied(world: World) -> None:
    s3 = _s3(world, world.worker)
    assert _denied(lambda: s3.put_object(Bucket=BUCKET, Key="elsewhere/x", Body=b"x"))
    assert _denied(lambda: s3.get_object(Bucket=BUCKET, Key="elsewhere/x"))
    assert _denied(
        lambda: s3.delete_object(Bucket=BUCKET, Key=EXISTING_LOG)
    )  # logs are not deletable
    assert _denied(lambda: s3.put_object(Bucket=OTHER, Key="logs/x", Body=b"x"))
    assert _denied(lambda: s3.list_objects_v2(Bucket=OTHER, Prefix="logs/"))
    assert _denied(lambda: s3.create_bucket(Bucket="new-bucket-by-s3fs"))
    assert _denied(lambda: s3.delete_bucket(Bucket=BUCKET))
    fs = _fs(world, world.worker)
    assert _denied(lambda: fs.pipe(f"{OTHER}/xcom/a", b"x"))
    with pytest.raises((PermissionError, OSError)):
        fs.makedirs("bucket-that-does-not-exist/xcom/a", exist_ok=True)  # s3fs would CreateBucket


def test_the_replay_can_fail(world: World) -> None:
    """Without its XCom statement the same replay is refused: the test above means something."""
    fs = _fs(world, world.mutant)
    assert _denied(lambda: fs.pipe(f"{BUCKET}/xcom/etl/manual/extract/x", b"x"))
