"""The crash filter over REAL ``docker events`` lines from real containers (issue "Alerts that really arrive").

Each scenario runs a busybox container on a real Docker daemon while ``docker events`` runs with the library
unit's flags; the lines it printed are evaluated with the local CloudWatch filter evaluator. The exit codes and
events asserted here are what Docker really produced (20.10, cgroup v1 and v2 alike).
"""

from __future__ import annotations

import itertools
import json
import shlex
import time
import uuid
from collections.abc import Iterator

import pytest

from constructs_obs.host import docker_events as events_module
from constructs_obs.host.docker_events import CONTAINER_CRASH_PATTERN
from constructs_obs.testing.filter_pattern import matches
from tests.realenv import (
    DOCKER_EVENTS_ARGS,
    DockerDaemon,
    DockerEventStream,
    SystemdHost,
    docker_events,
    memory_cgroup_available,
    unavailable,
)

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]


@pytest.fixture(scope="module")
def events(docker_daemon: DockerDaemon, busybox: str) -> Iterator[DockerEventStream]:
    with docker_events(docker_daemon, DOCKER_EVENTS_ARGS) as stream:
        yield stream


def _name(scenario: str) -> str:
    return f"crash-{scenario}-{uuid.uuid4().hex[:8]}"


def _summary(lines: list[str]) -> list[tuple[str, str | None]]:
    """(Action, exitCode) of each real line, in order."""
    return [
        (event["Action"], event["Actor"]["Attributes"].get("exitCode"))
        for event in (json.loads(line) for line in lines)
    ]


def _crashes(lines: list[str]) -> int:
    return sum(matches(CONTAINER_CRASH_PATTERN, line) for line in lines)


def _run_to_exit(daemon: DockerDaemon, busybox: str, name: str, *args: str) -> None:
    daemon.run(
        "run", "--name", name, "--network", "none", *args[:-1], busybox, "sh", "-c", args[-1], check=False
    )


def _start(daemon: DockerDaemon, busybox: str, name: str, *run_args: str, command: list[str]) -> None:
    daemon.run("run", "-d", "--name", name, "--network", "none", *run_args, busybox, *command)


def _wait_running(daemon: DockerDaemon, name: str, probe: str) -> None:
    """Wait until ``probe`` succeeds inside the container (its signal handling is installed)."""
    deadline = time.monotonic() + 20
    while daemon.run("exec", name, "sh", "-c", probe, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"{name} never got ready ({probe})"
        time.sleep(0.1)


def _events_of(events: DockerEventStream, daemon: DockerDaemon, name: str) -> list[str]:
    lines = events.until(name, "die")
    daemon.run("rm", "-f", name, check=False)
    return lines


def test_the_flags_are_the_units() -> None:
    # The unit runs `docker events` itself or through its program (docker_events_program, when there is one).
    program = getattr(events_module, "docker_events_program", None)
    text = events_module.docker_events_unit() + (program() if callable(program) else "")
    command = next(line for line in text.splitlines() if "docker events " in line)
    words = shlex.split(command.split("docker ", 1)[1])  # as the shell (or systemd) splits it
    # "$@" is the program's `--since <last event + 1 ns>` when it resumes (tests/test_real_docker_events_resume.py).
    words = [word for word in words if word != "$@"]
    args = tuple(itertools.takewhile(lambda word: not word.startswith((">", "<", "|")), words))
    assert args == DOCKER_EVENTS_ARGS
    assert DOCKER_EVENTS_ARGS == (
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


def test_non_zero_exit_counts_once(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    name = _name("exit3")
    _run_to_exit(docker_daemon, busybox, name, "exit 3")
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "3")]
    assert _crashes(lines) == 1


def test_clean_exit_does_not_count(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    name = _name("exit0")
    _run_to_exit(docker_daemon, busybox, name, "exit 0")
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "0")]
    assert _crashes(lines) == 0


def test_segfault_counts_once(docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream) -> None:
    # A child killed by SIGSEGV; the shell (PID 1) reports it the POSIX way, 128 + 11.
    name = _name("segv")
    _run_to_exit(docker_daemon, busybox, name, 'sh -c "kill -SEGV \\$\\$"; exit $?')
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "139")]
    assert _crashes(lines) == 1


def test_handled_sigterm_on_stop_does_not_count(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    name = _name("term-trap")
    script = "trap 'exit 143' TERM; touch /tmp/ready; while :; do sleep 0.1; done"
    _start(docker_daemon, busybox, name, command=["sh", "-c", script])
    _wait_running(docker_daemon, name, "test -e /tmp/ready")
    docker_daemon.run("stop", "-t", "10", name)
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "143")]
    assert _crashes(lines) == 0


def test_sigterm_default_action_under_init_does_not_count(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    # `--init` (Docker's tini) forwards SIGTERM to `sleep`, which dies of it; tini exits 128 + 15.
    name = _name("term-init")
    _start(docker_daemon, busybox, name, "--init", command=["sleep", "600"])
    _wait_running(docker_daemon, name, "pidof sleep")
    docker_daemon.run("stop", "-t", "10", name)
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "143")]
    assert _crashes(lines) == 0


def test_stop_of_a_pid1_that_ignores_sigterm_does_not_count(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    # Like a Node.js server as PID 1: SIGTERM does nothing, Docker SIGKILLs it after the stop timeout.
    name = _name("term-ignored")
    _start(docker_daemon, busybox, name, command=["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    _wait_running(docker_daemon, name, "true")
    started = time.monotonic()
    docker_daemon.run("stop", "-t", "1", name)
    assert time.monotonic() - started >= 1  # it really waited for the timeout
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "137")]
    assert _crashes(lines) == 0


def test_docker_kill_does_not_count(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    name = _name("kill")
    _start(docker_daemon, busybox, name, command=["sleep", "600"])
    _wait_running(docker_daemon, name, "true")
    docker_daemon.run("kill", name)
    lines = _events_of(events, docker_daemon, name)
    assert _summary(lines) == [("die", "137")]
    assert _crashes(lines) == 0


#: OOM kills tried before the test fails for want of an ``oom`` event. Docker leaves it out of about 1 kill in 25
#: here (see below), so 5 kills without one (about 1 chance in 10 million) mean it no longer sends it.
OOM_TRIES = 5


def test_oom_kill_counts_exactly_once(
    docker_daemon: DockerDaemon, busybox: str, events: DockerEventStream
) -> None:
    if not memory_cgroup_available(docker_daemon):
        unavailable("the daemon cannot limit memory (no memory cgroup controller), so no OOM kill can happen")
    missed: list[str] = []
    for _ in range(OOM_TRIES):
        name = _name("oom")
        # --memory-swap equal to --memory: no swap, so the kernel OOM-kills instead of swapping.
        script = 'x=a; while :; do x="$x$x"; done'
        _run_to_exit(docker_daemon, busybox, name, "--memory", "16m", "--memory-swap", "16m", script)
        state = docker_daemon.run(
            "inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name
        ).stdout
        events.until(name, "die")
        time.sleep(1)  # an `oom` event that came late would show up now (none was ever seen after `die`)
        lines = _events_of(events, docker_daemon, name)
        if _summary(lines) == [("die", "137")]:
            # Seen here about once in 25 OOM kills (Docker 20.10, cgroup v1; reported for cgroup v2 too,
            # hashicorp/nomad#13119): Docker emits no `oom` event and leaves State.OOMKilled false. A die 137
            # alone is a deliberate stop to the filter, so the crash metric misses this OOM kill: try another.
            assert state.split() == ["false", "137"]
            assert _crashes(lines) == 0
            missed.append(name)
            continue
        assert state.split() == ["true", "137"]
        assert _summary(lines) == [("oom", None), ("die", "137")]
        assert _crashes(lines) == 1
        return
    pytest.fail(
        f"no `oom` event in {OOM_TRIES} OOM kills ({missed}: each only `die` 137, which the crash filter does not "
        "count): this Docker does not report OOM kills as the filter expects"
    )


def test_every_real_line_is_one_json_object(events: DockerEventStream) -> None:
    assert events.lines, "the stream saw no events"
    for line in events.lines:
        event = json.loads(line)
        assert event["Type"] == "container"
        assert event["Action"] in ("die", "oom")


def test_the_units_start_marker_does_not_count() -> None:
    marker = json.dumps({"Type": "docker-events", "Action": "start", "time": int(time.time())})
    assert marker.startswith('{"Type": "docker-events", "Action": "start"')
    assert not matches(CONTAINER_CRASH_PATTERN, marker)


def test_docker_events_in_a_systemd_host_sees_the_daemons_events(
    docker_daemon: DockerDaemon, busybox: str, systemd_host: SystemdHost
) -> None:
    # The harness's systemd host: systemd 252 as PID 1, /usr/bin/docker talking to the real daemon.
    assert systemd_host.boot_state in ("running", "degraded")
    assert systemd_host.run("systemctl --version | head -1").stdout.startswith("systemd 252 ")
    command = " ".join(shlex.quote(arg) for arg in ("/usr/bin/docker", *DOCKER_EVENTS_ARGS))
    systemd_host.run(
        f"systemd-run --unit=events-probe -p StandardOutput=file:/var/log/events-probe.jsonl {command}"
    )
    deadline = time.monotonic() + 20
    while systemd_host.unit_state("events-probe") != "active":
        assert time.monotonic() < deadline, systemd_host.journal("events-probe")
        time.sleep(0.1)
    name = _name("in-host")
    lines: list[str] = []
    while not any(_summary([line])[0][0] == "die" for line in lines):
        # `docker events` prints nothing once subscribed: retry until the first container's die shows up.
        assert time.monotonic() < deadline + 20, systemd_host.journal("events-probe")
        docker_daemon.run("rm", "-f", name, check=False)
        _run_to_exit(docker_daemon, busybox, name, "exit 3")
        time.sleep(0.5)
        text = systemd_host.read_file("/var/log/events-probe.jsonl")
        lines = [
            line for line in text.splitlines() if json.loads(line)["Actor"]["Attributes"].get("name") == name
        ]
    docker_daemon.run("rm", "-f", name, check=False)
    systemd_host.run("systemctl stop events-probe")
    assert _summary(lines[-1:]) == [("die", "3")]
    assert _crashes(lines[-1:]) == 1
