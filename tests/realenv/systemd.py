"""A Debian bookworm container booted with systemd 252 as PID 1, talking to the real Docker daemon.

It runs ``docker run -d --network host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock
--tmpfs /tmp -e container=docker IMAGE /sbin/init`` (no ``--privileged``), plus the daemon's socket as
``/var/run/docker.sock`` and the host's docker CLI as ``/usr/bin/docker``: a unit inside that runs
``/usr/bin/docker events ...`` sees the daemon's real events.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator

from tests.realenv.docker import DockerDaemon, ensure_dockerd
from tests.realenv.images import systemd_image

BOOT_TIMEOUT = 90.0


class SystemdHost:
    """A booted systemd container. Everything runs as root through ``docker exec``.

    Attributes:
        container: the container's name.
        boot_state: what ``systemctl is-system-running`` said after boot (``running`` or ``degraded``).
    """

    def __init__(self, daemon: DockerDaemon, container: str) -> None:
        self.daemon = daemon
        self.container = container
        self.boot_state = ""

    def run(
        self, script: str, *, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run ``script`` with ``bash -euo pipefail -c``; with ``check``, a non-zero exit raises with its output."""
        result = self.daemon.run(
            "exec",
            "-i",
            self.container,
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"script exited {result.returncode} in {self.container}:\n{script}\n"
                f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
            )
        return result

    def read_file(self, path: str) -> str:
        """The text of ``path`` inside the host (``FileNotFoundError`` when it does not exist)."""
        result = self.daemon.run("exec", self.container, "cat", "--", path, check=False)
        if result.returncode != 0:
            raise FileNotFoundError(f"{path} in {self.container}: {result.stderr.strip()}")
        return result.stdout

    def write_file(self, path: str, text: str) -> None:
        """Write ``text`` to ``path`` inside the host (parent directories created)."""
        self.daemon.run(
            "exec",
            "-i",
            self.container,
            "sh",
            "-c",
            'mkdir -p "$(dirname "$1")" && cat > "$1"',
            "sh",
            path,
            input=text,
        )

    def unit_state(self, unit: str) -> str:
        """``systemctl is-active UNIT``: ``active``, ``activating``, ``failed``, ``inactive``, ..."""
        return self.run(f"systemctl is-active {unit} || true").stdout.strip()

    def journal(self, unit: str) -> str:
        """The unit's journal, this boot (``journalctl -b -u UNIT --no-pager``)."""
        return self.run(f"journalctl -b -u {unit} --no-pager || true").stdout

    def system_state(self) -> str:
        """``systemctl is-system-running`` now."""
        return self.run("systemctl is-system-running || true").stdout.strip()


def _boot_state(daemon: DockerDaemon, container: str) -> str:
    result = daemon.run("exec", container, "systemctl", "is-system-running", check=False, timeout=30)
    return result.stdout.strip() if result.stdout.strip() else result.stderr.strip()


@contextlib.contextmanager
def boot_systemd_host(image: str | None = None, *, timeout: float = BOOT_TIMEOUT) -> Iterator[SystemdHost]:
    """Boot a fresh :class:`SystemdHost` from ``image`` (default :func:`systemd_image`); removed on exit."""
    daemon = ensure_dockerd()
    if daemon.socket is None:
        raise RuntimeError(f"DOCKER_HOST={daemon.host} is not a unix socket: cannot mount it into the host")
    image = image or systemd_image()
    name = f"constructs-obs-systemd-{uuid.uuid4().hex[:8]}"
    daemon.run(
        "run", "-d", "--name", name, "--network", "host",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",  # noqa: S108 (inside the container)
        "-e", "container=docker",
        "-v", f"{daemon.socket}:/var/run/docker.sock",
        "-v", f"{daemon.cli}:/usr/bin/docker:ro",
        image, "/sbin/init",
    )  # fmt: skip
    try:
        host = SystemdHost(daemon, name)
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = _boot_state(daemon, name)
            if state in ("running", "degraded"):
                break
            running = daemon.run(
                "inspect", "--format", "{{.State.Running}}", name, check=False
            ).stdout.strip()
            if running != "true":
                logs = daemon.run("logs", name, check=False)
                raise RuntimeError(f"{name} stopped while booting:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.5)
        else:
            failed = daemon.run("exec", name, "systemctl", "--failed", "--no-pager", check=False).stdout
            raise RuntimeError(f"{name} did not finish booting in {timeout} s (state {state!r}):\n{failed}")
        host.boot_state = state
        check = host.run("docker version --format '{{.Server.Version}}'", check=False)
        if check.returncode != 0:
            raise RuntimeError(
                f"the host's docker CLI ({daemon.cli}) does not reach the daemon from inside {name}:\n{check.stderr}"
            )
        yield host
    finally:
        daemon.run("rm", "-f", "-v", name, check=False)
