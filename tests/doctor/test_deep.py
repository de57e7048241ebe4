"""``--deep``: the containers' Docker log driver, read on the host through SSM Run Command.

moto accepts the command and reports it successful with empty output; each test plays the host by filling in
what ``docker inspect`` would have printed (a botocore event on GetCommandInvocation).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from constructs_obs.doctor import CheckResult, Report, Status
from constructs_obs.doctor.deep import DOCKER_INSPECT_COMMANDS, parse_inspect_output
from tests.doctor.deployment import Deployment
from tests.doctor.test_checks import record_calls, runbook_permissions

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse .* but it.s not supported by moto.s CloudFormation:UserWarning"
)


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


HEALTHY_HOST = [
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


def test_healthy_containers(healthy: Deployment) -> None:
    sent = host_prints(healthy.session, HEALTHY_HOST)

    report = healthy.doctor(deep=True)

    assert [r for r in report.results if r.status is not Status.PASS] == []
    assert deep_rows(report) == [
        CheckResult("docker-logging", Status.PASS, f"ai-tutor-{s}-1", f"awslogs → /ai-tutor/{s} in us-east-2")
        for s in ("backend", "frontend", "nginx")
    ]
    # One read-only command: docker ps and docker inspect, nothing else.
    [command] = sent
    assert command["InstanceIds"] == [healthy.instance_id]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"] == {"commands": list(DOCKER_INSPECT_COMMANDS)}
    script = "\n".join(DOCKER_INSPECT_COMMANDS)
    assert script.count("docker ") == 2
    assert "ids=$(docker ps -q)" in script
    assert "docker inspect --format" in script


def test_the_deep_check_adds_only_run_command(healthy: Deployment) -> None:
    host_prints(healthy.session, HEALTHY_HOST)
    calls = record_calls(healthy.session)

    healthy.doctor(deep=True)

    assert {c for c in calls if c.startswith("ssm:")} == {"ssm:SendCommand", "ssm:GetCommandInvocation"}
    assert calls <= runbook_permissions()


def test_container_with_the_json_file_driver(healthy: Deployment) -> None:
    host_prints(
        healthy.session, [container("backend", "json-file"), container("frontend"), container("nginx")]
    )

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

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


def test_container_shipping_to_another_group(healthy: Deployment) -> None:
    host_prints(
        healthy.session,
        [
            container("backend"),
            container("frontend", **{"awslogs-group": "/old/frontend"}),
            container("nginx"),
        ],
    )

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

    assert problem.detail == "awslogs ships to /old/frontend, not /ai-tutor/frontend"


def test_container_shipping_to_another_region(healthy: Deployment) -> None:
    host_prints(
        healthy.session,
        [container("backend"), container("frontend"), container("nginx", **{"awslogs-region": "us-east-1"})],
    )

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.resource, problem.detail) == (
        "ai-tutor-nginx-1",
        "awslogs-region is us-east-1, but /ai-tutor/nginx is in us-east-2",
    )
    assert problem.next_step.startswith(
        "Check the region matches: awslogs-region in docker-compose.yml should be us-east-2."
    )


def test_service_without_a_running_container(healthy: Deployment) -> None:
    host_prints(healthy.session, [container("backend"), container("nginx")])

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.status, problem.resource) == (
        "docker-logging",
        Status.FAIL,
        "service frontend",
    )
    assert problem.detail == (
        f"no running container of service frontend on {healthy.instance_id}: nothing ships to /ai-tutor/frontend"
    )
    assert problem.next_step.startswith(
        "Check the container is running: docker compose --env-file .env.production ps."
    )


def test_docker_not_running_on_the_host(healthy: Deployment) -> None:
    host_prints(
        healthy.session,
        [],
        status="Failed",
        stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\nIs the docker daemon running?",
    )

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

    assert (problem.check, problem.resource) == ("docker-logging", healthy.instance_id)
    assert problem.detail == (
        "docker inspect on the host ended Failed: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?"
    )


def test_command_that_never_finishes(healthy: Deployment) -> None:
    host_prints(healthy.session, [], status="InProgress")
    waits: list[float] = []

    report = healthy.doctor(deep=True, deep_timeout_seconds=10, poll_interval_seconds=2, sleep=waits.append)

    [problem] = [r for r in report.results if r.status is not Status.PASS]
    assert problem.detail.startswith("docker inspect did not finish within 10 s (command ")
    assert waits == [2, 2, 2, 2, 2]


def test_instance_not_managed_by_ssm(healthy: Deployment) -> None:
    def refuse(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "InvalidInstanceId", "Message": "Instances not in a valid state"}},
            "SendCommand",
        )

    healthy.session.events.register("before-call.ssm.SendCommand", refuse)

    [problem] = [r for r in healthy.doctor(deep=True).results if r.status is not Status.PASS]

    assert (
        problem.detail == "not reachable through SSM Run Command: its SSM agent is offline or not registered"
    )
    assert "Systems Manager → Fleet Manager" in problem.next_step


def test_stopped_instance_is_not_inspected(healthy: Deployment) -> None:
    sent = host_prints(healthy.session, HEALTHY_HOST)
    healthy.client("ec2").stop_instances(InstanceIds=[healthy.instance_id])

    report = healthy.doctor(deep=True)

    assert sent == []
    assert deep_rows(report) == [
        CheckResult(
            "docker-logging",
            Status.WARN,
            healthy.instance_id,
            "not running, so its containers were not checked",
            "Start the instance, then run obs-doctor --deep again.",
        )
    ]


def test_parse_inspect_output_ignores_noise() -> None:
    output = "\n".join(["Warning: something", container("backend"), "", "[1, 2]"])
    [parsed] = parse_inspect_output(output)
    assert (parsed.name, parsed.service, parsed.driver) == ("ai-tutor-backend-1", "backend", "awslogs")
    assert parsed.options["awslogs-group"] == "/ai-tutor/backend"
