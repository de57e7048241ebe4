"""Real programs for the test suite: a Docker daemon, locally built images, a systemd host, a moto server.

Tests grounded in real behaviour (issue "Alerts that really arrive") use this package instead of hand-written
fixtures. Everything needs root and Debian's ``docker.io``, ``debootstrap`` and ``busybox-static`` (installed by
``scripts/setup.sh``). Without them a test is skipped with instructions; with ``CI=true`` it fails instead.

API (also re-exported here):

- ``env.unavailable(reason) -> NoReturn``: skip, or fail under ``CI=true``, saying how to run the test.
- ``env.cache_dir() -> Path``: ``/var/cache/constructs-obs`` for root (``$CONSTRUCTS_OBS_CACHE`` overrides).
- ``docker.ensure_dockerd() -> DockerDaemon``: as root with ``dockerd`` installed, Debian's dockerd started by
  the harness on ``unix:///run/constructs-obs-docker.sock`` (``--iptables=false --bridge=none
  --storage-driver=vfs``, AWS credentials ``testing`` in its environment, so awslogs can ship to moto), shared by
  xdist workers and concurrent sessions; else the ambient daemon if ``docker info`` answers
  (``CONSTRUCTS_OBS_DOCKER=ambient`` prefers that one). ``release_dockerd()`` stops the harness daemon when
  the last user is done. ``DockerDaemon.run(*args, check=True, input=None, timeout=120)``
  runs the docker CLI against it.
- ``docker.docker_events(daemon, args=DOCKER_EVENTS_ARGS)``: a context manager giving a connected
  ``DockerEventStream`` (``docker events`` with the library unit's flags); ``.until(name, action="die")`` waits
  for a container's lines, ``.lines`` has them all.
- ``images.busybox_image() -> str`` and ``images.systemd_image() -> str``: image tags, built with
  ``docker import`` once per recipe (tarballs in ``<cache>/images``).
- ``systemd.boot_systemd_host(image=None) -> ContextManager[SystemdHost]``: systemd 252 as PID 1 with the
  daemon's socket at ``/var/run/docker.sock`` and the docker CLI at ``/usr/bin/docker``.
  ``SystemdHost.run(script, check=True, timeout=120) -> CompletedProcess[str]`` (``bash -euo pipefail -c``,
  root), ``.read_file(path) -> str``, ``.write_file(path, text)``, ``.unit_state(unit) -> str``
  (``systemctl is-active``), ``.journal(unit) -> str``, ``.system_state() -> str``, ``.boot_state``.
- ``localstack.localstack() -> ContextManager[LocalStack]``: LocalStack on a free loopback port (``.endpoint``,
  ``.pid``, ``.client(service, region)``), installed on first use into ``<cache>/localstack/venv`` (Python 3.13).
- ``motoserver.moto_server() -> MotoServer`` (``.endpoint``, ``.logs(region)``, ``.client(service, region)``),
  ``moto_endpoint() -> str``, ``logs_client(region="us-east-1")``.
- ``awslogs.ship_lines(lines, *, group, options) -> list[str]``: a real container prints ``lines`` through
  Docker's awslogs driver with ``options`` (e.g. ``ContainerLogGroups.compose_logging(c)["options"]``) into moto;
  returns the messages that arrived. ``awslogs.ship(...) -> Shipment`` also gives the container id / stream.

pytest fixtures (``tests/realenv/fixtures.py``, imported by ``tests/conftest.py``): ``docker_daemon``,
``busybox``, ``bookworm_systemd``, ``systemd_host`` (session-wide), ``moto``, ``moto_logs``. Mark such tests
``@pytest.mark.realenv`` and ``@pytest.mark.xdist_group("docker")`` so they share one xdist worker.
"""

from tests.realenv.awslogs import Shipment, ship, ship_lines
from tests.realenv.docker import (
    DOCKER_EVENTS_ARGS,
    DockerDaemon,
    DockerEventStream,
    docker_events,
    ensure_dockerd,
    memory_cgroup_available,
    release_dockerd,
)
from tests.realenv.env import cache_dir, in_ci, unavailable
from tests.realenv.images import busybox_image, debian_mirror, systemd_image
from tests.realenv.motoserver import MotoServer, logs_client, moto_endpoint, moto_server
from tests.realenv.systemd import SystemdHost, boot_systemd_host

__all__ = [
    "DOCKER_EVENTS_ARGS",
    "DockerDaemon",
    "DockerEventStream",
    "MotoServer",
    "Shipment",
    "SystemdHost",
    "boot_systemd_host",
    "busybox_image",
    "cache_dir",
    "debian_mirror",
    "docker_events",
    "ensure_dockerd",
    "in_ci",
    "logs_client",
    "memory_cgroup_available",
    "moto_endpoint",
    "moto_server",
    "release_dockerd",
    "ship",
    "ship_lines",
    "systemd_image",
    "unavailable",
]
