"""Hostile: the commands apply prints for the user to run ("review, and remove with") hold
live values. A live value another team controls must stay one argument when the printed
command is pasted into a shell. Against moto, with the real CLI; the printed command is run
by bash with a stand-in `aws` on PATH."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostile import cli, finding
from live_servers import FakeKube, RecordingMotoServer
from test_apply import World


@pytest.fixture
def world(tmp_path: Path, moto: RecordingMotoServer) -> Iterator[World]:
    with FakeKube() as kube:
        yield World(tmp_path, moto, kube)


@finding("a live OIDC audience is pasted unquoted into a printed shell command")
def test_an_oidc_audience_is_quoted_in_the_printed_remove_command(
    world: World, tmp_path: Path
) -> None:
    """The cluster's OIDC provider is shared; another team added an audience. IAM defines
    no format for a client id (CreateOpenIDConnectProvider: "There is no defined format for
    a client ID", up to 255 characters). airspec prints
    `aws iam remove-client-id-from-open-id-connect-provider … --client-id <audience>`
    unquoted, so the audience `x;touch <file>` runs a second command when pasted."""
    marker = tmp_path / "pwned"
    audience = f"x;touch {marker}"
    arn = world.iam.list_open_id_connect_providers()["OpenIDConnectProviderList"][0]["Arn"]
    world.iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    world.iam.create_open_id_connect_provider(
        Url=world.issuer, ClientIDList=["sts.amazonaws.com", audience], ThumbprintList=["9" * 40]
    )
    args = ["apply", str(world.spec), "--out", str(world.out), "-t", "iam", "--yes"]
    code, out, err, exc = cli(args, world.env)
    assert exc is None and code == 3, out + err
    command = next(
        line.strip() for line in out.splitlines() if "remove-client-id-from-open-id-connect" in line
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "aws.log"
    (bin_dir / "aws").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\n')
    (bin_dir / "aws").chmod(0o755)
    subprocess.run(
        ["bash", "-c", command], env={"PATH": f"{bin_dir}:/usr/bin:/bin"}, check=False
    )
    assert not marker.exists(), f"pasting the printed command ran a second one: {command}"
    assert log.read_text().splitlines()[-1] == audience, command
