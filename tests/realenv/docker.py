"""A reachable Docker daemon for the session: Debian's ``dockerd`` started by the harness, or the ambient one.

Decision on which daemon: as root with ``dockerd`` installed, the harness's own daemon, even when a system daemon
answers, because only a daemon started with the ``testing`` AWS credentials in its environment lets the
``awslogs`` driver ship to moto (a system daemon has none, or real ones). Otherwise the ambient daemon
(``DOCKER_HOST`` or the default socket) when ``docker info`` answers; otherwise the tests skip (fail with CI=true).
``CONSTRUCTS_OBS_DOCKER=ambient`` prefers the ambient daemon.

Decision on the socket: the harness never takes the default ``/var/run/docker.sock`` (a system ``docker.socket``
unit may own it, and a stray daemon there would outlive the tests in people's shells). Its own daemon listens on
:data:`OWN_SOCKET` only, keeps its images in ``<cache>/docker`` (so imported images survive between sessions)
and runs with ``AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing`` so the ``awslogs`` driver can ship to
a moto server. pytest-xdist workers share it: each user holds a shared ``flock``, and the last user out stops
it (a daemon the harness did not start is never stopped).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.realenv.env import cache_dir, file_lock, is_root, unavailable

OWN_SOCKET = "/run/constructs-obs-docker.sock"
OWN_HOST = f"unix://{OWN_SOCKET}"
EXEC_ROOT = "/run/constructs-obs-docker"
PIDFILE = "/run/constructs-obs-docker.pid"
#: In the harness daemon's environment: what Docker's awslogs driver signs its requests to moto with.
DAEMON_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
}
DAEMON_FLAGS = (
    "--iptables=false",
    "--bridge=none",
    "--storage-driver=vfs",
    "--shutdown-timeout=5",
    # Apart from a system daemon's containers if both share the system containerd.
    "--containerd-namespace=constructs-obs",
    "--containerd-plugins-namespace=constructs-obs-plugins",
)
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class DockerDaemon:
    """A Docker daemon that answers ``docker info``.

    Attributes:
        host: its ``DOCKER_HOST`` (``unix:///...``).
        socket: the socket's path on this machine, or None for a non-unix ``DOCKER_HOST``.
        cli: the docker CLI binary (symlinks resolved).
        owned: started by this harness (only then does the harness stop it).
        version: the daemon's version, e.g. ``20.10.24+dfsg1``.
    """

    host: str
    socket: str | None
    cli: str
    owned: bool
    version: str

    def env(self) -> dict[str, str]:
        """This process's environment with ``DOCKER_HOST`` pointing at the daemon."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``docker ARGS...`` against this daemon; with ``check``, a failure raises naming stderr."""
        result = subprocess.run(
            [self.cli, *args],
            env=self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr.strip()}\n{result.stdout}"
            )
        return result


_daemon: DockerDaemon | None = None
_users_fd: int | None = None
_guard = threading.Lock()


def _version(cli: str, host: str | None) -> str | None:
    env = dict(os.environ)
    if host is not None:
        env["DOCKER_HOST"] = host
    try:
        result = subprocess.run(
            [cli, "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def ensure_dockerd() -> DockerDaemon:
    """The session's Docker daemon, starting the harness's own one when none answers (once per process).

    Order: as root with ``dockerd`` installed, the harness daemon on :data:`OWN_SOCKET`, started now if no
    other worker or session runs it; else the ambient daemon (``DOCKER_HOST`` or the default socket) if
    ``docker info`` answers (``CONSTRUCTS_OBS_DOCKER=ambient``: that one first). Calls
    :func:`~tests.realenv.env.unavailable` (skip, or fail under ``CI=true``) when none can be had.
    Pair with :func:`release_dockerd` (the ``docker_daemon`` fixture does; an ``atexit`` hook is the fallback).
    """
    global _daemon, _users_fd
    with _guard:
        if _daemon is not None:
            return _daemon
        cli = shutil.which("docker")
        if cli is None:
            unavailable("the docker CLI is not installed")
        cli = os.path.realpath(cli)
        dockerd = shutil.which("dockerd")
        prefer_ambient = os.environ.get("CONSTRUCTS_OBS_DOCKER") == "ambient"
        if prefer_ambient or not is_root() or dockerd is None:
            ambient = _version(cli, None)
            if ambient is not None:
                host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
                socket = host.removeprefix("unix://") if host.startswith("unix://") else None
                _daemon = DockerDaemon(host=host, socket=socket, cli=cli, owned=False, version=ambient)
                return _daemon
        if not is_root():
            unavailable("no Docker daemon answers `docker info`, and starting one needs root")
        if dockerd is None:
            unavailable("no Docker daemon answers `docker info`, and dockerd is not installed (docker.io)")
        with file_lock("dockerd"):
            users = os.open(cache_dir() / "locks" / "dockerd-users.lock", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(users, fcntl.LOCK_SH)
            try:
                version = _version(cli, OWN_HOST) or _start_own(dockerd, cli)
            except BaseException:
                os.close(users)
                raise
        _users_fd = users
        _daemon = DockerDaemon(host=OWN_HOST, socket=OWN_SOCKET, cli=cli, owned=True, version=version)
        atexit.register(release_dockerd)
        return _daemon


def _start_own(dockerd: str, cli: str) -> str:
    cache = cache_dir()
    home = cache / "dockerd-home"  # an empty HOME: the driver must not find someone's ~/.aws
    home.mkdir(exist_ok=True)
    log_path = cache / "dockerd.log"
    command = [
        dockerd,
        *DAEMON_FLAGS,
        f"--data-root={cache / 'docker'}",
        f"--exec-root={EXEC_ROOT}",
        f"--pidfile={PIDFILE}",
        "-H",
        OWN_HOST,
    ]
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        **DAEMON_AWS_ENV,
    }
    if log_path.exists() and log_path.stat().st_size > 5_000_000:
        log_path.replace(log_path.with_suffix(".log.1"))  # keep one old log, not an ever-growing one
    offset = log_path.stat().st_size if log_path.exists() else 0
    # Detached (its own session, re-parented away from this worker): another worker may be the one to stop it.
    with open(log_path, "ab") as log:
        launcher = subprocess.Popen(
            ["sh", "-c", 'exec "$@" </dev/null &', "sh", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        launcher.wait(timeout=30)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        version = _version(cli, OWN_HOST)
        if version is not None:
            return version
        time.sleep(0.5)
    with open(log_path, "rb") as log:
        log.seek(offset)
        tail = log.read().decode(errors="replace")[-3000:]
    unavailable(
        f"dockerd did not answer on {OWN_SOCKET} within {START_TIMEOUT:.0f} s; its log ({log_path}):\n{tail}"
    )


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def release_dockerd() -> None:
    """Stop using the daemon; stop it if the harness started it and no other worker or session still uses it."""
    global _daemon, _users_fd
    with _guard:
        daemon, users = _daemon, _users_fd
        _daemon, _users_fd = None, None
        if daemon is None or not daemon.owned or users is None:
            return
        with file_lock("dockerd"):
            try:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another user remains; the last one out stops it
                _stop_own()
            finally:
                os.close(users)


def _stop_own() -> None:
    try:
        pid = int(Path(PIDFILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def image_exists(daemon: DockerDaemon, ref: str) -> bool:
    """Whether ``ref`` is an image the daemon has."""
    return daemon.run("image", "inspect", "--format", "{{.Id}}", ref, check=False).returncode == 0


def memory_cgroup_available(daemon: DockerDaemon) -> bool:
    """Whether the daemon can enforce ``--memory`` (the memory cgroup controller is there)."""
    info = json.loads(daemon.run("info", "--format", "{{json .}}").stdout)
    return bool(info.get("MemoryLimit"))


#: The arguments of the library's ``docker-events`` unit: container ``die`` and ``oom`` events, one JSON a line.
DOCKER_EVENTS_ARGS: tuple[str, ...] = (
    "events",
    "--filter",
    "type=container",
    "--filter",
    "event=die",
    "--filter",
    "event=oom",
    "--format",
    "{{json .}}",
)


class DockerEventStream:
    """``docker events ARGS`` running in the background; its stdout lines, as they arrive.

    Use as a context manager. :meth:`until` waits for the lines of one container (by name).
    """

    def __init__(self, daemon: DockerDaemon, args: Sequence[str] = DOCKER_EVENTS_ARGS) -> None:
        self.daemon = daemon
        self.args = tuple(args)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> DockerEventStream:
        self._process = subprocess.Popen(
            [self.daemon.cli, *self.args],
            env=self.daemon.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)

    def of(self, name: str) -> list[str]:
        """The lines so far whose actor is the container ``name``."""
        with self._changed:
            return [line for line in self.lines if _actor_name(line) == name]

    def until(self, name: str, action: str = "die", timeout: float = 30) -> list[str]:
        """Wait until an event ``action`` of container ``name`` arrived; return that container's lines so far."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                mine = [line for line in self.lines if _actor_name(line) == name]
                if any(json.loads(line).get("Action") == action for line in mine):
                    return mine
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    stderr = ""
                    if self._process is not None and self._process.poll() is not None:
                        stderr = self._process.stderr.read() if self._process.stderr else ""
                    raise TimeoutError(
                        f"no {action!r} event for container {name!r} within {timeout} s; "
                        f"its lines: {mine}; docker events stderr: {stderr!r}"
                    )
                self._changed.wait(remaining)


def _actor_name(line: str) -> str | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    name = (event.get("Actor") or {}).get("Attributes", {}).get("name")
    return name if isinstance(name, str) else None


@contextlib.contextmanager
def docker_events(
    daemon: DockerDaemon, args: Sequence[str] = DOCKER_EVENTS_ARGS
) -> Iterator[DockerEventStream]:
    """A :class:`DockerEventStream` that is connected: a throwaway container's events already arrived."""
    from tests.realenv.images import busybox_image

    with DockerEventStream(daemon, args) as stream:
        # `docker events` prints nothing when it is subscribed: prove it with a real event first.
        image = busybox_image()
        deadline = time.monotonic() + 30
        while True:
            probe = f"constructs-obs-probe-{os.getpid()}-{time.monotonic_ns()}"
            daemon.run("run", "--rm", "--network", "none", "--name", probe, image, "true")
            try:
                stream.until(probe, timeout=2)
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
        yield stream
