"""The host setup, exactly as the association delivers it, under real systemd 252 (the major version of AL2023).

The setup's portable steps (folders, the program, the unit, the agent's configuration file, ``systemctl``) run in
a Debian bookworm container booted with systemd as PID 1 and wired to the real Docker daemon; the steps that
need Amazon Linux packages or AWS (``dnf install``, the agent's ``fetch-config``) are the only ones left out.
Then the unit must be ``active``, its start line in its file, a real container crash must arrive as a line the
crash filter counts, and the agent's configuration must be in place.

The first release's unit (``LogsDirectory=`` + ``StandardOutput=append:`` into it) is run the same way and
fails with status 209/STDOUT (systemd/systemd#27591), so this harness would have caught it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam

from constructs_obs.host.docker_events import CONTAINER_CRASH_PATTERN
from constructs_obs.host.instance import ObservedEc2Host
from constructs_obs.host.log_groups import ContainerLogGroups
from constructs_obs.host.observability import HostObservability
from constructs_obs.host.setup import HostSetup
from constructs_obs.testing.filter_pattern import matches
from stacks.staging import STACK_NAME
from tests.realenv import SystemdHost, boot_systemd_host
from tests.realenv.docker import DockerDaemon
from tests.user_data import setup_script

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]

EVENTS_FILE = "/var/log/docker-events/events.log"
AGENT_CONFIG = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"

#: The docker-events unit as first released (literal text of that version), for the regression test.
FIRST_RELEASE_UNIT = """[Unit]
Description=Append Docker container die and oom events to /var/log/docker-events/events.log
Wants=docker.service
After=docker.service
StartLimitIntervalSec=0

[Service]
Type=simple
LogsDirectory=docker-events
ExecStart=/usr/bin/docker events --filter type=container --filter event=die --filter event=oom --format "{{json .}}"
StandardOutput=append:/var/log/docker-events/events.log
StandardError=journal
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
"""


def _host(app: cdk.App) -> ObservedEc2Host:
    stack = app.node.find_child(STACK_NAME)
    host = stack.node.find_child("Host")
    assert isinstance(host, ObservedEc2Host)
    return host


@pytest.fixture(scope="module")
def fresh_host(bookworm_systemd: str) -> Iterator[SystemdHost]:
    """A freshly booted host: nothing of the setup on it yet."""
    with boot_systemd_host(bookworm_systemd) as host:
        yield host


def _run_portable_steps(host: SystemdHost, setup: HostSetup, template: dict[str, Any]) -> None:
    """Run the setup's portable steps on ``host``, after checking they are the delivered script's own lines."""
    portable = setup.script(portable_only=True)
    delivered_lines = setup_script(template).splitlines()
    # The portable steps are the delivered script's own lines, in the same order.
    positions = [
        delivered_lines.index(line) for line in portable.splitlines() if line.startswith("systemctl")
    ]
    assert positions == sorted(positions)
    assert all(line in delivered_lines for line in portable.splitlines())
    result = host.run(portable, timeout=120)
    assert "docker-events.service is not active" not in result.stderr


@pytest.fixture(scope="module")
def set_up(
    fresh_host: SystemdHost, staging_app: cdk.App, staging_template_json: dict[str, Any]
) -> SystemdHost:
    _run_portable_steps(fresh_host, _host(staging_app).setup, staging_template_json)
    return fresh_host


def test_a_fresh_host_gets_an_active_unit_that_writes_its_start_line(set_up: SystemdHost) -> None:
    assert set_up.unit_state("docker-events.service") == "active"
    assert set_up.run("systemctl is-enabled docker-events.service").stdout.strip() == "enabled"
    lines = set_up.read_file(EVENTS_FILE).splitlines()
    start = json.loads(lines[0])
    assert (start["Type"], start["Action"]) == ("docker-events", "start")
    assert abs(start["time"] - time.time()) < 600
    assert not matches(CONTAINER_CRASH_PATTERN, lines[0])
    # Readable by the agent's unprivileged user: a world-readable file in a world-searchable folder.
    modes = set_up.run(f"stat -c %a /var/log/docker-events {EVENTS_FILE}").stdout.split()
    assert modes == ["755", "644"]


def test_a_real_crash_reaches_the_file_as_a_counted_line(
    set_up: SystemdHost, docker_daemon: DockerDaemon, busybox: str
) -> None:
    name = f"crash-{int(time.time() * 1000)}"
    docker_daemon.run("run", "--name", name, busybox, "sh", "-c", "exit 3", check=False)
    try:
        deadline = time.monotonic() + 30
        crash_lines: list[str] = []
        while time.monotonic() < deadline and not crash_lines:
            lines = set_up.read_file(EVENTS_FILE).splitlines()
            crash_lines = [line for line in lines if name in line]
            time.sleep(0.5)
    finally:
        docker_daemon.run("rm", "-f", name, check=False)
    assert len(crash_lines) == 1
    event = json.loads(crash_lines[0])
    assert (event["Action"], event["Actor"]["Attributes"]["exitCode"]) == ("die", "3")
    assert matches(CONTAINER_CRASH_PATTERN, crash_lines[0])


def test_the_unit_comes_back_after_docker_events_exits(set_up: SystemdHost) -> None:
    before = set_up.read_file(EVENTS_FILE).count('"Action":"start"')
    # docker events exits (as when the daemon restarts): systemd starts the program again after RestartSec.
    set_up.run("systemctl kill --kill-whom=main --signal=KILL docker-events.service")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if set_up.read_file(EVENTS_FILE).count('"Action":"start"') > before:
            break
        time.sleep(0.5)
    assert set_up.read_file(EVENTS_FILE).count('"Action":"start"') == before + 1
    assert set_up.unit_state("docker-events.service") == "active"


def test_the_agent_configuration_is_in_place(set_up: SystemdHost) -> None:
    config = json.loads(set_up.read_file(AGENT_CONFIG))
    assert config["metrics"]["namespace"] == "AiTutor/Staging"
    assert config["logs"]["logs_collected"]["files"]["collect_list"][0]["file_path"] == EVENTS_FILE


def test_running_the_setup_again_changes_nothing_and_stays_active(
    set_up: SystemdHost, staging_app: cdk.App
) -> None:
    """The association runs again on every change: it must be idempotent."""
    set_up.run(_host(staging_app).setup.script(portable_only=True), timeout=120)
    assert set_up.unit_state("docker-events.service") == "active"


def test_an_existing_instance_gets_the_same_setup_without_reboot(bookworm_systemd: str) -> None:
    """``HostObservability`` on an instance id: the association alone brings the service and the agent's
    configuration."""
    app = cdk.App()
    stack = cdk.Stack(app, "Team", env=cdk.Environment(region="eu-west-1"))
    logs = ContainerLogGroups(stack, "Logs", prefix="/team", containers=["api"])
    role = iam.Role.from_role_name(stack, "InstanceRole", "team-ec2-role")
    existing = HostObservability(stack, "Host", instance="i-0123456789abcdef0", role=role, log_groups=logs)
    template = assertions.Template.from_stack(stack).to_json()
    with boot_systemd_host(bookworm_systemd) as host:
        uptime = host.run("cat /proc/1/stat").stdout.split()[21]
        _run_portable_steps(host, existing.setup, template)
        assert host.unit_state("docker-events.service") == "active"
        assert json.loads(host.read_file(EVENTS_FILE).splitlines()[0])["Action"] == "start"
        config = json.loads(host.read_file(AGENT_CONFIG))
        assert config["metrics"]["namespace"] == "ConstructsObs/Team/Host"
        assert config["logs"]["logs_collected"]["files"]["collect_list"][0]["log_group_name"] == (
            "/team/docker-events"
        )
        # Same PID 1, same start time: nothing was rebooted to set the instance up.
        assert host.run("cat /proc/1/stat").stdout.split()[21] == uptime


def test_the_first_release_unit_fails_with_209_stdout(bookworm_systemd: str) -> None:
    with boot_systemd_host(bookworm_systemd) as host:
        host.write_file("/etc/systemd/system/docker-events.service", FIRST_RELEASE_UNIT)
        # `enable --now` reports success although the service cannot start.
        host.run("systemctl daemon-reload && systemctl enable --now docker-events.service")
        time.sleep(2)
        journal = host.journal("docker-events.service")
        assert "status=209/STDOUT" in journal
        assert host.unit_state("docker-events.service") != "active"
