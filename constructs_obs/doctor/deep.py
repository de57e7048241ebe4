"""``--deep``: each container's Docker log driver, read on the host through SSM Run Command.

The command only reads: ``docker ps -q`` and ``docker inspect`` of the running containers. ``ssm:SendCommand`` is
the one call the doctor makes that AWS records as an action (a command invocation in Run Command's history).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.checks import InstanceFacts, ServiceLogging, compose_logging, could_not_check
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

#: The shell script run on the host (AWS-RunShellScript, as root). Read-only.
DOCKER_INSPECT_COMMANDS: tuple[str, ...] = (
    "set -eu",
    "ids=$(docker ps -q)",
    f"if [ -n \"$ids\" ]; then docker inspect --format '{INSPECT_FORMAT}' $ids; fi",
)

_WAITING = frozenset({"Pending", "InProgress", "Delayed", "Cancelling"})


@dataclass(frozen=True)
class Container:
    """A running container as ``docker inspect`` describes it."""

    name: str
    service: str
    driver: str
    options: dict[str, str] = field(default_factory=dict)


def parse_inspect_output(output: str) -> list[Container]:
    """The containers in the command's output (one JSON object per line; other lines are ignored)."""
    containers = []
    for line in output.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if not isinstance(item, dict):
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
    return containers


def _run_inspect(
    ssm: SSMClient,
    instance_id: str,
    *,
    timeout_seconds: float,
    poll_interval_seconds: float,
    sleep: Callable[[float], None],
) -> tuple[str | None, CheckResult | None]:
    """(stdout, None) when the command succeeded, else (None, the failing row)."""
    try:
        command = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName="AWS-RunShellScript",
            Comment="obs-doctor --deep: read-only docker inspect of the running containers",
            TimeoutSeconds=max(30, int(timeout_seconds)),
            Parameters={"commands": list(DOCKER_INSPECT_COMMANDS)},
        )["Command"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "InvalidInstanceId":
            return None, CheckResult(
                "docker-logging",
                Status.FAIL,
                instance_id,
                "not reachable through SSM Run Command: its SSM agent is offline or not registered",
                "Check AWS Console → Systems Manager → Fleet Manager lists the instance as Online. The agent "
                "ships with Amazon Linux 2023 and registers with the instance role (see the instance-profile row).",
            )
        return None, could_not_check("docker-logging", instance_id, error)
    command_id = command.get("CommandId", "")
    waited = 0.0
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
            status = invocation.get("Status", "Pending")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                return None, could_not_check("docker-logging", instance_id, error)
            status = "Pending"  # Run Command has not registered the invocation yet
        if status not in _WAITING:
            break
        if waited >= timeout_seconds:
            return None, CheckResult(
                "docker-logging",
                Status.FAIL,
                instance_id,
                f"docker inspect did not finish within {timeout_seconds:g} s (command {command_id}, {status})",
                f"Look at the command in AWS Console → Systems Manager → Run Command, or run obs-doctor --deep "
                f"again. Shell on the host: aws ssm start-session --target {instance_id}",
            )
        sleep(poll_interval_seconds)
        waited += poll_interval_seconds
    if status != "Success":
        stderr = " ".join(invocation.get("StandardErrorContent", "").split())[:300]
        return None, CheckResult(
            "docker-logging",
            Status.FAIL,
            instance_id,
            f"docker inspect on the host ended {status}" + (f": {stderr}" if stderr else ""),
            "Check Docker runs on the host (sudo systemctl status docker); shell on the host: "
            f"aws ssm start-session --target {instance_id}",
        )
    return invocation.get("StandardOutputContent", ""), None


def compare_containers(
    inv: StackInventory, instance_id: str, services: Sequence[ServiceLogging], containers: Sequence[Container]
) -> list[CheckResult]:
    """One row per container of each service of the override: awslogs, the service's group, the stack's region."""
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
                    f"{guide.container_running()}. {guide.apply_override(inv.name, inv.region)}",
                )
            )
        for container in running:
            group = container.options.get("awslogs-group", "")
            region = container.options.get("awslogs-region", "")
            if container.driver != "awslogs":
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"log driver is {container.driver or 'unknown'}, not awslogs: its output never reaches "
                        f"{service.group}",
                        f"{guide.log_driver(container.name)}. {guide.apply_override(inv.name, inv.region)}",
                    )
                )
            elif group != service.group:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"awslogs ships to {group or '(no group)'}, not {service.group}",
                        f"{guide.log_driver(container.name)}. {guide.apply_override(inv.name, inv.region)}",
                    )
                )
            elif region != inv.region:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.FAIL,
                        container.name,
                        f"awslogs-region is {region or 'not set'}, but {service.group} is in {inv.region}",
                        f"{guide.region_matches(inv.region)}. {guide.apply_override(inv.name, inv.region)}",
                    )
                )
            else:
                rows.append(
                    CheckResult(
                        "docker-logging",
                        Status.PASS,
                        container.name,
                        f"awslogs → {group} in {region}",
                    )
                )
    return rows


def check_docker_logging(
    ssm: SSMClient,
    inv: StackInventory,
    *,
    instances: InstanceFacts,
    timeout_seconds: float,
    poll_interval_seconds: float,
    sleep: Callable[[float], None],
) -> list[CheckResult]:
    """On each running instance of the stack, every service of ``ComposeLogging`` runs with the awslogs driver,
    its log group and the stack's region."""
    services = compose_logging(inv)
    if services is None:
        return [
            CheckResult(
                "docker-logging",
                Status.WARN,
                inv.name,
                "the stack has no readable ComposeLogging output: nothing to compare the containers with",
                guide.log_driver(),
            )
        ]
    rows: list[CheckResult] = []
    for instance_id in instances.ids:
        if instance_id not in instances.running:
            rows.append(
                CheckResult(
                    "docker-logging",
                    Status.WARN,
                    instance_id,
                    "not running, so its containers were not checked",
                    "Start the instance, then run obs-doctor --deep again.",
                )
            )
            continue
        try:
            output, problem = _run_inspect(
                ssm,
                instance_id,
                timeout_seconds=timeout_seconds,
                poll_interval_seconds=poll_interval_seconds,
                sleep=sleep,
            )
        except BotoCoreError as error:
            output, problem = None, could_not_check("docker-logging", instance_id, error)
        if problem is not None or output is None:
            rows.append(problem or could_not_check("docker-logging", instance_id, ValueError("no output")))
            continue
        rows += compare_containers(inv, instance_id, services, parse_inspect_output(output))
    return rows
