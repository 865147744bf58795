"""The as-deployed installs' folder: one per test session, made before pytest-xdist starts its
workers (they inherit the variable naming it), removed when the session ends."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

WORK_VAR = "AIRSPEC_AS_DEPLOYED"  # as_deployed.WORK_VAR


def _controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _controller(config):
        os.environ[WORK_VAR] = tempfile.mkdtemp(prefix="airspec-as-deployed-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _controller(config):
        shutil.rmtree(os.environ.pop(WORK_VAR), ignore_errors=True)
