"""``--deep``: the containers' Docker log driver and the docker-events unit, read on the host through SSM Run Command.

moto accepts the command and reports it successful with empty output; each test plays the host by filling in
what the command would have printed (a botocore event on GetCommandInvocation, on the test's own session). The
deployment is shared by the module's tests: none changes it.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from constructs_obs.doctor import CheckResult, Report, Status
from constructs_obs.doctor.checks.deep import HOST_COMMANDS, parse_host_output, parse_inspect_output
from tests.doctor.deployment import Deployment
from tests.doctor.helpers import MOTO_CFN_WARNINGS, record_calls, runbook_permissions

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-read-deep")]

HOST = "AiTutorStaging/Host"


def container(service: str, driver: str = "awslogs", **options: str) -> str:
    """One line of the host's ``docker inspect`` output, as DOCKER_INSPECT_COMMANDS formats it."""
    config = {
        "awslogs-group": f"/ai-tutor/{service}",
        "awslogs-region": "us-east-2",
        "awslogs-create-group": "false",
    }
    config.update(options)
    return json.dumps(
        {
            "name": f"/ai-tutor-{service}-1",
            "service": service,
            "logConfig": {"Type": driver, "Config": config if driver == "awslogs" else {}},
        }
    )


def unit(state: str = "active") -> str:
    """The first line of the command's output: the docker-events unit's state."""
    return json.dumps({"unit": "docker-events.service", "state": state}, separators=(",", ":"))


HEALTHY_HOST = [
    unit(),
    container("backend"),
    container("frontend"),
    container("nginx"),
    container("postgres", "json-file"),
]


def host_prints(
    session: boto3.Session, lines: list[str], *, status: str = "Success", stderr: str = ""
) -> list[dict]:
    """Make the host answer the doctor's command with ``lines``; return the commands it was sent."""
    sent: list[dict[str, Any]] = []

    def on_send(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    def on_invocation(parsed: dict[str, Any], **_: Any) -> None:
        parsed.update(Status=status, StandardOutputContent="\n".join(lines), StandardErrorContent=stderr)

    session.events.register("provide-client-params.ssm.SendCommand", on_send)
    session.events.register("after-call.ssm.GetCommandInvocation", on_invocation)
    return sent


def deep_rows(report: Report) -> list[CheckResult]:
    return [r for r in report.results if r.check == "docker-logging"]


def test_healthy_containers(staging: Deployment) -> None:
    sent = host_prints(staging.session, HEALTHY_HOST)

    report = staging.doctor(deep=True)

    assert [r for r in report.results if r.status is not Status.PASS] == []
    assert deep_rows(report) == [
        CheckResult(
            "docker-logging",
            Status.PASS,
            f"ai-tutor-{s}-1",
            f"awslogs → /ai-tutor/{s} in us-east-2",
            host=HOST,
        )
        for s in ("backend", "frontend", "nginx")
    ]
    assert [r for r in report.results if r.check == "docker-events-service"] == [
        CheckResult(
            "docker-events-service",
            Status.PASS,
            staging.instance_id,
            "systemd reports docker-events.service active",
            host=HOST,
        )
    ]
    # One read-only command: systemctl is-active, docker ps and docker inspect, nothing else.
    [command] = sent
    assert command["InstanceIds"] == [staging.instance_id]
    assert command["DocumentName"] == "AWS-RunShellScript"
    commands = command["Parameters"]["commands"]
    assert commands[:4] == [
        "set -eu",
        "state=$(systemctl is-active docker-events.service 2>/dev/null || true)",
        'printf \'{"unit":"docker-events.service","state":"%s"}\\n\' "${state:-unknown}"',
        "ids=$(docker ps -q)",
    ]
    assert commands[4].startswith('if [ -n "$ids" ]; then docker inspect --format ')
    assert len(commands) == 5
    script = "\n".join(commands)
    assert script.count("docker ") == 2
    assert script.count("systemctl ") == 1
    assert "systemctl is-active docker-events.service" in script
    assert "ids=$(docker ps -q)" in script
    assert "docker inspect --format" in script


def test_the_command_prints_the_unit_state_as_json() -> None:
    # The script's printf line, run by a real shell with a state systemctl could print.
    import subprocess

    [printf] = [line for line in HOST_COMMANDS if line.startswith("printf")]
    output = subprocess.run(
        ["sh", "-c", f"state=failed; {printf}"], capture_output=True, text=True, check=True
    ).stdout
    assert output == unit("failed") + "\n"
    assert parse_host_output(output).unit_state == "failed"


def test_docker_events_service_not_active(staging: Deployment) -> None:
    # What systemd 252 reports for the unit whose StandardOutput=append: fails with 209/STDOUT and keeps
    # restarting (see the field notes): "activating" between restarts.
    host_prints(staging.session, [unit("activating"), *HEALTHY_HOST[1:]])

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "docker-events-service",
        Status.FAIL,
        staging.instance_id,
        HOST,
    )
    assert problem.detail == (
        "systemd reports docker-events.service activating, not active: container crashes are not recorded"
    )
    assert problem.next_step.startswith(
        f"On the host (aws ssm start-session --target {staging.instance_id} --region us-east-2): sudo systemctl "
        "status docker-events.service; sudo journalctl -u docker-events.service -n 50."
    )


def test_the_deep_check_adds_only_run_command(staging: Deployment) -> None:
    host_prints(staging.session, HEALTHY_HOST)
    calls = record_calls(staging.session)

    staging.doctor(deep=True)

    assert {c for c in calls if c.startswith("ssm:")} == {
        "ssm:DescribeInstanceAssociationsStatus",  # the setup check, deep or not
        "ssm:DescribeAssociation",  # the setup check: the current version
        "ssm:SendCommand",
        "ssm:GetCommandInvocation",
    }
    assert calls <= runbook_permissions()


def test_container_with_the_json_file_driver(staging: Deployment) -> None:
    host_prints(
        staging.session,
        [unit(), container("backend", "json-file"), container("frontend"), container("nginx")],
    )

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.status, problem.resource) == (
        "docker-logging",
        Status.FAIL,
        "ai-tutor-backend-1",
    )
    assert (
        problem.detail == "log driver is json-file, not awslogs: its output never reaches /ai-tutor/backend"
    )
    assert problem.next_step.startswith(
        "Check the Docker log driver: docker inspect ai-tutor-backend-1 | grep -A5 LogConfig (should show awslogs). "
        "Recreate the containers with the stack's logging override: aws cloudformation describe-stacks "
        "--stack-name AiTutorStaging --region us-east-2"
    )


def test_container_shipping_to_another_group(staging: Deployment) -> None:
    host_prints(
        staging.session,
        [
            unit(),
            container("backend"),
            container("frontend", **{"awslogs-group": "/old/frontend"}),
            container("nginx"),
        ],
    )

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert problem.detail == "awslogs ships to /old/frontend, not /ai-tutor/frontend"


def test_container_shipping_to_another_region(staging: Deployment) -> None:
    host_prints(
        staging.session,
        [
            unit(),
            container("backend"),
            container("frontend"),
            container("nginx", **{"awslogs-region": "us-east-1"}),
        ],
    )

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.resource, problem.detail) == (
        "ai-tutor-nginx-1",
        "awslogs-region is us-east-1, but /ai-tutor/nginx is in us-east-2",
    )
    assert problem.next_step.startswith(
        "Check the region matches: awslogs-region in docker-compose.yml should be us-east-2."
    )


def test_service_without_a_running_container(staging: Deployment) -> None:
    host_prints(staging.session, [unit(), container("backend"), container("nginx")])

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.status, problem.resource) == (
        "docker-logging",
        Status.FAIL,
        "service frontend",
    )
    assert problem.detail == (
        f"no running container of service frontend on {staging.instance_id}: nothing ships to /ai-tutor/frontend"
    )
    assert problem.next_step.startswith(
        "Check the container is running: docker compose --env-file .env.production ps."
    )


def test_docker_not_running_on_the_host(staging: Deployment) -> None:
    host_prints(
        staging.session,
        [unit()],
        status="Failed",
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\nIs the docker daemon running?",
    )

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.resource) == ("docker-logging", staging.instance_id)
    assert problem.detail == (
        "docker inspect on the host ended Failed: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?"
    )


def test_command_that_never_finishes(staging: Deployment) -> None:
    host_prints(staging.session, [], status="InProgress")
    waits: list[float] = []

    report = staging.doctor(deep=True, deep_timeout_seconds=10, poll_interval_seconds=2, sleep=waits.append)

    [problem] = [r for r in report.results if r.status is not Status.PASS]
    assert problem.detail.startswith("docker inspect did not finish within 10 s (command ")
    assert waits == [2, 2, 2, 2, 2]


def test_instance_not_managed_by_ssm(staging: Deployment) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InvalidInstanceId", "Message": "Instances not in a valid state"}},
            "SendCommand",
        )

    staging.session.events.register("before-call.ssm.SendCommand", refuse)

    [problem] = [r for r in staging.doctor(deep=True).results if r.status is not Status.PASS]

    assert (
        problem.detail == "not reachable through SSM Run Command: its SSM agent is offline or not registered"
    )
    assert "Systems Manager → Fleet Manager" in problem.next_step


def test_parse_inspect_output_ignores_noise() -> None:
    output = "\n".join(["Warning: something", container("backend"), "", "[1, 2]"])
    [parsed] = parse_inspect_output(output)
    assert (parsed.name, parsed.service, parsed.driver) == ("ai-tutor-backend-1", "backend", "awslogs")
    assert parsed.options["awslogs-group"] == "/ai-tutor/backend"


def test_the_host_commands_hold_no_run_command_parameter_reference() -> None:
    """Run Command resolves ``{{ssm:...}}`` in parameter values: the commands never contain ``{{``, and the shell
    still hands docker the format with its braces."""
    import subprocess

    from constructs_obs.doctor.checks.deep import HOST_COMMANDS, INSPECT_FORMAT, _quoted

    assert [c for c in HOST_COMMANDS if "{{" in c] == []
    shell = subprocess.run(
        ["sh", "-c", f"printf %s {_quoted(INSPECT_FORMAT)}"], capture_output=True, text=True
    )
    assert shell.stdout == INSPECT_FORMAT
    assert shell.stdout.startswith('{"name":{{json .Name}},')
