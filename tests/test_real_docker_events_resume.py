"""docker-events across restarts and rotations, under real systemd 252 with the real Docker daemon.

The setup's portable steps (the program, the unit, the logrotate configuration, exactly as the association
delivers them) run on a freshly booted Debian bookworm host (systemd 252, as on Amazon Linux 2023; logrotate from
Debian). Containers crash on the real daemon while the service is stopped, killed or its file rotated, and the
events file must then hold each crash exactly once.

``docker events --since`` / ``--until`` on the real daemon (Docker 20.10): ``--since T`` includes an event at
exactly ``T``, ``T + 1 ns`` excludes it, ``--until`` is inclusive, and ``--since`` without ``--until`` replays the
past events and then follows new ones. The first test pins that, since the program relies on it.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest

from constructs_obs.host.docker_events import CONTAINER_CRASH_PATTERN
from constructs_obs.host.instance import ObservedEc2Host
from constructs_obs.testing.filter_pattern import matches
from stacks.staging import STACK_NAME
from tests.realenv import DockerDaemon, SystemdHost, boot_systemd_host
from tests.user_data import setup_script

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]

#: Written out (not taken from the constants under test): where the host keeps the events and their rotation.
EVENTS_FILE = "/var/log/docker-events/events.log"
LOGROTATE_FILE = "/etc/logrotate.d/docker-events"
UNIT = "docker-events.service"


def _nano(value: int) -> str:
    """``docker events`` time format for a ``timeNano``: seconds and 9 fraction digits."""
    return f"{value // 1_000_000_000}.{value % 1_000_000_000:09d}"


def _crash(daemon: DockerDaemon, busybox: str, code: int) -> str:
    name = f"resume-{code}-{uuid.uuid4().hex[:8]}"
    daemon.run("run", "--name", name, "--network", "none", busybox, "sh", "-c", f"exit {code}", check=False)
    daemon.run("rm", "-f", name, check=False)
    return name


def _lines_of(host: SystemdHost, name: str, path: str = EVENTS_FILE) -> list[dict[str, Any]]:
    return [
        event
        for event in (json.loads(line) for line in host.read_file(path).splitlines() if line.strip())
        if (event.get("Actor") or {}).get("Attributes", {}).get("name") == name
    ]


def _wait_for(host: SystemdHost, name: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = _lines_of(host, name)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def _last_time_nano(host: SystemdHost, path: str = EVENTS_FILE) -> int:
    """The ``timeNano`` of the last event in ``path`` (any container's: the daemon is shared by every test)."""
    lines = (json.loads(line) for line in host.read_file(path).splitlines() if line.strip())
    return [e["timeNano"] for e in lines if "timeNano" in e][-1]


def _starts(host: SystemdHost) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in host.read_file(EVENTS_FILE).splitlines() if line.strip())
    return [e for e in lines if e.get("Type") == "docker-events" and e.get("Action") == "start"]


def _wait_active(host: SystemdHost, starts_before: int) -> None:
    """The unit is active and its program has written a new start line (so ``docker events`` runs next)."""
    deadline = time.monotonic() + 30
    while not (host.unit_state(UNIT) == "active" and len(_starts(host)) > starts_before):
        assert time.monotonic() < deadline, host.journal(UNIT)
        time.sleep(0.3)
    time.sleep(1)  # docker events subscribes right after the start line


@pytest.fixture(scope="module")
def events_host(
    bookworm_systemd: str, staging_app: cdk.App, staging_template_json: dict[str, Any]
) -> Iterator[SystemdHost]:
    """A fresh host with the staging setup's portable steps run, as delivered by the association."""
    host_construct = staging_app.node.find_child(STACK_NAME).node.find_child("Host")
    assert isinstance(host_construct, ObservedEc2Host)
    portable = host_construct.setup.script(portable_only=True)
    delivered = setup_script(staging_template_json).splitlines()
    assert all(line in delivered for line in portable.splitlines())
    with boot_systemd_host(bookworm_systemd) as host:
        host.run(portable, timeout=120)
        assert host.unit_state(UNIT) == "active"
        yield host


def test_since_and_until_semantics_of_the_real_daemon(docker_daemon: DockerDaemon, busybox: str) -> None:
    started = time.time() - 1
    names = [_crash(docker_daemon, busybox, 3) for _ in range(3)]
    now = time.time() + 1
    common = ("--filter", "type=container", "--filter", "event=die", "--format", "{{json .}}")

    def names_between(since: str, until: str) -> list[str]:
        out = docker_daemon.run("events", "--since", since, "--until", until, *common).stdout
        events = [json.loads(line) for line in out.splitlines()]
        return [e["Actor"]["Attributes"]["name"] for e in events if e["Actor"]["Attributes"]["name"] in names]

    assert names_between(f"{started:.9f}", f"{now:.9f}") == names
    out = docker_daemon.run("events", "--since", f"{started:.9f}", "--until", f"{now:.9f}", *common).stdout
    times = {
        e["Actor"]["Attributes"]["name"]: e["timeNano"]
        for e in (json.loads(line) for line in out.splitlines())
    }
    first, second = times[names[0]], times[names[1]]
    assert names_between(_nano(first), f"{now:.9f}") == names  # --since is inclusive
    assert names_between(_nano(first + 1), f"{now:.9f}") == names[1:]  # one nanosecond later excludes it
    assert names_between(f"{started:.9f}", _nano(second)) == names[:2]  # --until is inclusive


def test_a_crash_while_the_service_is_stopped_is_recorded_once_after_it_starts(
    events_host: SystemdHost, docker_daemon: DockerDaemon, busybox: str
) -> None:
    before = _crash(docker_daemon, busybox, 3)
    assert len(_wait_for(events_host, before)) == 1
    events_host.run(f"systemctl stop {UNIT}")
    assert events_host.unit_state(UNIT) != "active"
    last_recorded = _last_time_nano(events_host)
    during = _crash(docker_daemon, busybox, 7)
    starts = len(_starts(events_host))
    events_host.run(f"systemctl start {UNIT}")
    _wait_active(events_host, starts)

    recorded = _wait_for(events_host, during)
    assert [(e["Action"], e["Actor"]["Attributes"]["exitCode"]) for e in recorded] == [("die", "7")]
    assert matches(CONTAINER_CRASH_PATTERN, json.dumps(recorded[0], separators=(",", ":")))
    # The event before the stop is not replayed a second time.
    assert len(_lines_of(events_host, before)) == 1
    # Resumed 1 ns after the last event written before the stop.
    assert _starts(events_host)[-1]["since"] == _nano(last_recorded + 1)
    after = _crash(docker_daemon, busybox, 9)
    assert len(_wait_for(events_host, after)) == 1  # and it follows new events after the replay


def test_a_crash_while_docker_events_restarts_is_recorded_once(
    events_host: SystemdHost, docker_daemon: DockerDaemon, busybox: str
) -> None:
    # As when the Docker daemon restarts: `docker events` exits and systemd starts the program again 5 s later.
    starts = len(_starts(events_host))
    events_host.run(f"systemctl kill --kill-whom=main --signal=KILL {UNIT}")
    during = _crash(docker_daemon, busybox, 11)
    _wait_active(events_host, starts)
    assert [e["Actor"]["Attributes"]["exitCode"] for e in _wait_for(events_host, during)] == ["11"]
    time.sleep(1)
    assert len(_lines_of(events_host, during)) == 1


def test_the_rotation_config_is_valid_for_the_real_logrotate(events_host: SystemdHost) -> None:
    assert events_host.run("logrotate --version 2>&1 | head -1").stdout.startswith("logrotate ")
    config = events_host.read_file(LOGROTATE_FILE)
    assert "copytruncate" in config.split()
    debug = events_host.run(f"logrotate -d {LOGROTATE_FILE} 2>&1").stdout
    assert "error" not in debug.lower(), debug
    # The events file is small: a normal run leaves it alone (rotation only past the size limit).
    state = "/tmp/logrotate-small.state"  # noqa: S108 (inside the container)
    events_host.run(f"logrotate -s {state} {LOGROTATE_FILE}")
    assert events_host.run(f"ls {EVENTS_FILE}.1 2>/dev/null || true").stdout.strip() == ""


def test_a_rotation_keeps_the_writer_appending_and_a_restart_resumes_from_the_copy(
    events_host: SystemdHost, docker_daemon: DockerDaemon, busybox: str
) -> None:
    before = _crash(docker_daemon, busybox, 13)
    assert len(_wait_for(events_host, before)) == 1
    # Past the size limit: 11 MB of filler start lines (what a long-lived host accumulates).
    filler = '{"Type":"docker-events","Action":"filler"}'  # 43 bytes a line with its newline
    events_host.run(f"(yes '{filler}' || true) | head -n 270000 >> {EVENTS_FILE}")  # yes ends on SIGPIPE
    # The filler pushed the last real event out of the file's tail, so make it the last line again.
    last = _crash(docker_daemon, busybox, 15)
    assert len(_wait_for(events_host, last)) == 1
    state = "/tmp/logrotate-big.state"  # noqa: S108 (inside the container)
    events_host.run(f"logrotate -s {state} {LOGROTATE_FILE}")
    sizes = events_host.run(f"stat -c %s {EVENTS_FILE} {EVENTS_FILE}.1").stdout.split()
    assert int(sizes[0]) < 4096 < 11_000_000 < int(sizes[1]), sizes
    # The writer keeps its descriptor (no restart) and appends at the new end: no hole of NUL bytes.
    after_rotation = _crash(docker_daemon, busybox, 17)
    assert len(_wait_for(events_host, after_rotation)) == 1
    assert "\0" not in events_host.read_file(EVENTS_FILE)
    # A restart now finds the last event in the current file; truncate it to check the rotated copy is read too.
    events_host.run(f"systemctl stop {UNIT} && : > {EVENTS_FILE}")
    last_in_copy = _last_time_nano(events_host, f"{EVENTS_FILE}.1")
    stopped = _crash(docker_daemon, busybox, 19)
    events_host.run(f"systemctl start {UNIT}")
    _wait_active(events_host, 0)
    assert [e["Actor"]["Attributes"]["exitCode"] for e in _wait_for(events_host, stopped)] == ["19"]
    current = events_host.read_file(EVENTS_FILE)
    # Resumed after the last event of the rotated copy: nothing of it is written again.
    assert last not in current and before not in current
    assert _starts(events_host)[-1]["since"] == _nano(last_in_copy + 1)
    assert _lines_of(events_host, last, f"{EVENTS_FILE}.1")[0]["timeNano"] <= last_in_copy


def test_rotations_keep_a_bounded_number_of_files(events_host: SystemdHost) -> None:
    state = "/tmp/logrotate-many.state"  # noqa: S108 (inside the container)
    for _ in range(7):
        events_host.run(f"echo '{{}}' >> {EVENTS_FILE} && logrotate -f -s {state} {LOGROTATE_FILE}")
    files = sorted(events_host.run("ls /var/log/docker-events").stdout.split())
    assert files == ["events.log", "events.log.1", "events.log.2.gz", "events.log.3.gz", "events.log.4.gz"]


def test_the_program_is_posix_sh() -> None:
    from constructs_obs.host.docker_events import docker_events_program

    result = subprocess.run(
        ["sh", "-n"], input=docker_events_program(), text=True, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
