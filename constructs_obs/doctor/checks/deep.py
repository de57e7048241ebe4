"""``--deep``: on each host, through SSM Run Command: each container's Docker log driver, and whether systemd runs
the docker-events service.

The command only reads: ``systemctl is-active docker-events.service``, ``docker ps -q`` and ``docker inspect`` of
the running containers. ``ssm:SendCommand`` is the one call the doctor makes that AWS records as an action (a
command invocation in Run Command's history).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import DOCKER_EVENTS_UNIT as UNIT_NAME
from constructs_obs.contract import RUN_SHELL_SCRIPT_DOCUMENT
from constructs_obs.doctor import guide
from constructs_obs.doctor.discovery import ServiceLogging, compose_logging
from constructs_obs.doctor.facts import InstanceState, StackFacts, could_not_check
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.stack import StackInventory

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

#: One JSON line per running container: its name, docker-compose service and log configuration.
INSPECT_FORMAT = (
    '{"name":{{json .Name}},'
    '"service":{{json (index .Config.Labels "com.docker.compose.service")}},'
    '"logConfig":{{json .HostConfig.LogConfig}}}'
)


def _quoted(text: str) -> str:
    """``text`` as one single-quoted shell word with no ``{{`` in it: Run Command resolves ``{{ssm:...}}``
    references in parameter values (Systems Manager User Guide, "Referencing Parameter Store parameters"), so
    ``{{`` is split into ``{'``+``'{`` (adjacent quoted strings are one word to the shell)."""
    return "'" + text.replace("{{", "{''{") + "'"


#: The shell script run on the host (AWS-RunShellScript, as root). Read-only. The first line of its output is
#: the docker-events unit's state as JSON (printed before docker is asked, so a stopped Docker still shows it).
HOST_COMMANDS: tuple[str, ...] = (
    "set -eu",
    f"state=$(systemctl is-active {UNIT_NAME} 2>/dev/null || true)",
    f'printf \'{{"unit":"{UNIT_NAME}","state":"%s"}}\\n\' "${{state:-unknown}}"',
    "ids=$(docker ps -q)",
    f'if [ -n "$ids" ]; then docker inspect --format {_quoted(INSPECT_FORMAT)} $ids; fi',
)

_WAITING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})


@dataclass(frozen=True)
class Container:
    """A running container as ``docker inspect`` describes it."""

    name: str
    service: str
    driver: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostProbe:
    """What the command printed: the docker-events unit's state (None if not printed) and the containers."""

    unit_state: str | None
    containers: list[Container]


def parse_host_output(output: str) -> HostProbe:
    """The unit state and containers in the command's output (one JSON object per line; other lines are ignored)."""
    containers = []
    unit_state: str | None = None
    for line in output.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
            continue
        if "unit" in item:
            unit_state = str(item.get("state") or "unknown")
            continue
        log_config = item.get("logConfig") or {}
        options = log_config.get("Config") or {}
        containers.append(
            Container(
                name=str(item.get("name", "")).lstrip("/"),
                service=str(item.get("service") or ""),
                driver=str(log_config.get("Type", "")),
                options={str(k): str(v) for k, v in options.items()},
            )
        )
    return HostProbe(unit_state, containers)


def parse_inspect_output(output: str) -> list[Container]:
    """The containers in the command's output."""
    return parse_host_output(output).containers


@dataclass(frozen=True)
class CommandResult:
    """How the command ended: its status and output, or the row saying why there is none."""

    status: str = ""
    stdout: str = ""
    stderr: str = ""
    problem: CheckResult | None = None


def run_on_host(
    ssm: SSMClient,
    instance_id: str,
    *,
    timeout_seconds: float,
    poll_interval_seconds: float,
    sleep: Callable[[float], None],
) -> CommandResult:
    """Run :data:`HOST_COMMANDS` on the instance and wait for it to end."""
    try:
        command = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=RUN_SHELL_SCRIPT_DOCUMENT,
            Comment="obs-doctor --deep: read-only systemctl is-active and docker inspect",
            TimeoutSeconds=max(30, int(timeout_seconds)),
            Parameters={"commands": list(HOST_COMMANDS)},
        )["Command"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidInstanceId":
            return CommandResult(
                problem=CheckResult(
                    "docker-logging",
                    Status.FAIL,
                    instance_id,
                    "not reachable through SSM Run Command: its SSM agent is offline or not registered",
                    "Check AWS Console → Systems Manager → Fleet Manager lists the instance as Online. The agent "
                    "ships with Amazon Linux 2023 and registers with the instance role (see the instance-profile "
                    "row).",
                )
            )
        return CommandResult(problem=could_not_check("docker-logging", instance_id, error))
    command_id = command.get("CommandId", "")
    waited = 0.0
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            status = invocation.get("Status", "Pending")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                return CommandResult(problem=could_not_check("docker-logging", instance_id, error))
            status = "Pending"  # Run Command has not registered the invocation yet
        if status not in _WAITING:
            break
        if waited >= timeout_seconds:
            return CommandResult(
                problem=CheckResult(
                    "docker-logging",
                    Status.FAIL,
                    instance_id,
                    f"docker inspect did not finish within {timeout_seconds:g} s (command {command_id}, {status})",
                    f"Look at the command in AWS Console → Systems Manager → Run Command, or run obs-doctor --deep "
                    f"again. Shell on the host: aws ssm start-session --target {instance_id}",
                )
            )
        sleep(poll_interval_seconds)
        waited += poll_interval_seconds
    return CommandResult(
        status=status,
        stdout=invocation.get("StandardOutputContent", ""),
        stderr=invocation.get("StandardErrorContent", ""),
    )


def compare_containers(
    stack: str,
    region: str,
    instance_id: str,
    services: Sequence[ServiceLogging],
    containers: Sequence[Container],
) -> list[CheckResult]:
    """One row per container of each service: awslogs, the service's group, the stack's region."""
    rows = []
    for service in services:
        running = [c for c in containers if c.service == service.service]
        if not running:
            rows.append(
                CheckResult(
                    "docker-logging",
                    Status.FAIL,
                    f"service {service.service}",
                    f"no running container of service {service.service} on {instance_id}: nothing ships to "
                    f"{service.group}",
                    f"{guide.container_running()}. {guide.apply_override(stack, region)}",
                )
            )
        for container in running:
            group = container.options.get("awslogs-group", "")
            container_region = container.options.get("awslogs-region", "")
            if container.driver != "awslogs":
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"log driver is {container.driver or 'unknown'}, not awslogs: its output never reaches "
                        f"{service.group}",
                        f"{guide.log_driver(container.name)}. {guide.apply_override(stack, region)}",
                    )
                )
            elif group != service.group:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"awslogs ships to {group or '(no group)'}, not {service.group}",
                        f"{guide.log_driver(container.name)}. {guide.apply_override(stack, region)}",
                    )
                )
            elif container_region != region:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"awslogs-region is {container_region or 'not set'}, but {service.group} is in {region}",
                        f"{guide.region_matches(region)}. {guide.apply_override(stack, region)}",
                    )
                )
            else:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.PASS,
                        container.name,
                        f"awslogs → {group} in {container_region}",
                    )
                )
    return rows


def unit_row(region: str, instance_id: str, state: str | None) -> CheckResult:
    """The docker-events service's state as systemd reports it on the host."""
    if state == "active":
        return CheckResult(
            "docker-events-service", Status.PASS, instance_id, f"systemd reports {UNIT_NAME} active"
        )
    return CheckResult(
        "docker-events-service",
        Status.FAIL,
        instance_id,
        f"systemd reports {UNIT_NAME} {state or 'unknown (the command printed no state)'}, not active: "
        "container crashes are not recorded",
        f"On the host (aws ssm start-session --target {instance_id} --region {region}): sudo systemctl status "
        f"{UNIT_NAME}; sudo journalctl -u {UNIT_NAME} -n 50. The setup association installs and starts it: see "
        "the setup row (aws ssm start-associations-once re-applies it).",
    )


@dataclass(frozen=True)
class _Target:
    instance_id: str
    services: list[ServiceLogging]
    unit: bool
    host: str | None = None


def _targets(facts: StackFacts) -> list[_Target] | None:
    """What to probe on which instance: each host's containers (from its metadata) and unit; without hosts, each
    instance against ``ComposeLogging``; None when the stack says neither."""
    region = facts.region
    if facts.hosts:
        return [
            _Target(
                h.instance_id,
                [ServiceLogging(c, "awslogs", g, region) for c, g in h.container_groups.items()],
                unit=bool(h.docker_events_group),
                host=h.path,
            )
            for h in facts.hosts
            if h.instance_id
        ]
    services = compose_logging(facts.inv)
    if services is None:
        return None
    return [_Target(i, services, unit=False) for i in facts.instance_ids]


def check_deep(
    ssm: SSMClient,
    facts: StackFacts,
    *,
    states: Mapping[str, InstanceState],
    timeout_seconds: float,
    poll_interval_seconds: float,
    sleep: Callable[[float], None],
) -> list[CheckResult]:
    """On each running host: every container logs with awslogs to its group in the stack's region, and systemd
    runs the docker-events service."""
    inv: StackInventory = facts.inv
    targets = _targets(facts)
    if targets is None:
        return [
            CheckResult(
                "docker-logging",
                Status.WARN,
                inv.name,
                "the stack describes no host and has no readable ComposeLogging output: nothing to compare the "
                "containers with",
                guide.log_driver(),
            )
        ]
    rows: list[CheckResult] = []
    for target in targets:
        found = _probe(ssm, facts, target, states, timeout_seconds, poll_interval_seconds, sleep)
        rows += [dataclasses.replace(r, host=target.host) for r in found]
    return rows


def _probe(
    ssm: SSMClient,
    facts: StackFacts,
    target: _Target,
    states: Mapping[str, InstanceState],
    timeout_seconds: float,
    poll_interval_seconds: float,
    sleep: Callable[[float], None],
) -> list[CheckResult]:
    """The rows of one instance."""
    inv = facts.inv
    instance_id = target.instance_id
    state = states.get(instance_id)
    if state is not None and not state.running:
        return [
            CheckResult(
                "docker-logging",
                Status.WARN,
                instance_id,
                "not running, so its containers were not checked",
                "Start the instance, then run obs-doctor --deep again.",
            )
        ]
    try:
        result = run_on_host(
            ssm,
            instance_id,
            timeout_seconds=timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            sleep=sleep,
        )
    except BotoCoreError as error:
        result = CommandResult(problem=could_not_check("docker-logging", instance_id, error))
    if result.problem is not None:
        return [result.problem]
    probe = parse_host_output(result.stdout)
    rows = [unit_row(inv.region, instance_id, probe.unit_state)] if target.unit else []
    if result.status != "Success":
        stderr = " ".join(result.stderr.split())[:300]
        return [
            *rows,
            CheckResult(
                "docker-logging",
                Status.FAIL,
                instance_id,
                f"docker inspect on the host ended {result.status}" + (f": {stderr}" if stderr else ""),
                "Check Docker runs on the host (sudo systemctl status docker); shell on the host: "
                f"aws ssm start-session --target {instance_id}",
            ),
        ]
    return rows + compare_containers(inv.name, inv.region, instance_id, target.services, probe.containers)
