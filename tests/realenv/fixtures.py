"""pytest fixtures of the real-environment harness (imported by tests/conftest.py).

Tests that use them should carry ``pytest.mark.xdist_group("docker")`` (all Docker users on one xdist worker)
and ``pytest.mark.realenv``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.realenv.docker import DockerDaemon, ensure_dockerd, release_dockerd
from tests.realenv.images import busybox_image, systemd_image
from tests.realenv.motoserver import MotoServer, moto_server, stop_moto_server
from tests.realenv.systemd import SystemdHost, boot_systemd_host

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient


@pytest.fixture(scope="session")
def docker_daemon() -> Iterator[DockerDaemon]:
    """A Docker daemon (skips, or fails under CI=true, when none can be had); stopped after the session."""
    daemon = ensure_dockerd()
    yield daemon
    release_dockerd()


@pytest.fixture(scope="session")
def busybox(docker_daemon: DockerDaemon) -> str:
    """The tag of the busybox image."""
    return busybox_image()


@pytest.fixture(scope="session")
def bookworm_systemd(docker_daemon: DockerDaemon) -> str:
    """The tag of the Debian bookworm + systemd image."""
    return systemd_image()


@pytest.fixture(scope="session")
def systemd_host(bookworm_systemd: str) -> Iterator[SystemdHost]:
    """One booted systemd host for the session (state persists between tests: use boot_systemd_host() for a
    fresh one)."""
    with boot_systemd_host(bookworm_systemd) as host:
        yield host


@pytest.fixture(scope="session")
def moto(docker_daemon: DockerDaemon) -> Iterator[MotoServer]:
    """The session's moto server (a separate process on a loopback port)."""
    yield moto_server()
    stop_moto_server()


@pytest.fixture
def moto_logs(moto: MotoServer) -> CloudWatchLogsClient:
    """A CloudWatch Logs client against the moto server, region us-east-1."""
    return moto.logs("us-east-1")
