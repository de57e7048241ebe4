"""The docker-events service runs: its start line reached the host's docker-events group since the instance started.

The service writes ``{"Type":"docker-events","Action":"start","time":N}`` each time it starts, and the CloudWatch
agent ships its file to the docker-events group in a stream named after the instance. One
``logs:FilterLogEvents`` call (with the JSON pattern below and the instance's stream, from the instance's
``LaunchTime`` on) finds it; each returned event's message and stream are checked again here, so a service
answering with unfiltered events is not believed (a fleet's instances share one group, one stream each). A missing
line means the service did not start, or the agent does not ship its file: both are the docker-events alarm
never firing. ``--deep`` asks systemd itself (:mod:`constructs_obs.doctor.checks.deep`). Until the line can have
arrived after the host's setup started the service (:func:`~constructs_obs.doctor.windows.start_line_expected_by`),
its absence is ``PENDING``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import (
    DOCKER_EVENTS_LOG_FILE,
    DOCKER_EVENTS_UNIT,
    START_LINE_ACTION,
    START_LINE_TYPE,
)
from constructs_obs.doctor.facts import (
    InstanceState,
    StackFacts,
    could_not_check,
    error_code,
    when,
)
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import Start, pending_row, start_line_expected_by

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

#: The start line (``constructs_obs.contract.START_LINE_TYPE``/``_ACTION``) as a filter pattern.
START_LINE_PATTERN = f'{{ $.Type = "{START_LINE_TYPE}" && $.Action = "{START_LINE_ACTION}" }}'


_MAX_PAGES = 10


def is_start_line(message: str) -> bool:
    """Whether ``message`` is the service's start line."""
    try:
        document = json.loads(message)
    except ValueError:
        return False
    return (
        isinstance(document, dict)
        and document.get("Type") == START_LINE_TYPE
        and document.get("Action") == START_LINE_ACTION
    )


def _latest_start(
    logs: CloudWatchLogsClient, group: str, instance_id: str, since: datetime, now: datetime
) -> datetime | None:
    latest: datetime | None = None
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "logStreamNamePrefix": instance_id,
        "startTime": int(since.timestamp() * 1000),
        "endTime": int(now.timestamp() * 1000),
        "filterPattern": START_LINE_PATTERN,
    }
    for _ in range(_MAX_PAGES):
        page = logs.filter_log_events(**kwargs)
        for event in page.get("events", []):
            # Only this instance's stream counts: a fleet's instances share the group (moto 5.2 ignores the prefix).
            if not str(event.get("logStreamName", "")).startswith(instance_id):
                continue
            if is_start_line(event.get("message", "")):
                moment = datetime.fromtimestamp(event.get("timestamp", 0) / 1000, tz=timezone.utc)
                latest = max(latest or moment, moment)
        token = page.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return latest


def _retention_days(logs: CloudWatchLogsClient, group: str) -> int | None:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group):
        for found in page.get("logGroups", []):
            if found.get("logGroupName") == group:
                return found.get("retentionInDays")
    return None


def check_docker_events(
    logs: CloudWatchLogsClient,
    facts: StackFacts,
    states: Mapping[str, InstanceState],
    starts: Mapping[str, Start],
    now: datetime,
) -> list[CheckResult]:
    """Each running host's docker-events service wrote its start line since the instance last started (or, since
    the service started, cannot have yet: ``starts``, by instance)."""
    rows: list[CheckResult] = []
    for host in facts.hosts:
        group, instance_id = host.docker_events_group, host.instance_id
        if not group or not instance_id:
            continue
        state = states.get(instance_id)
        if state is not None and not state.running:
            rows.append(
                CheckResult(
                    "docker-events",
                    Status.WARN,
                    instance_id,
                    f"not checked: the instance is {state.state}",
                    "Start the instance, then run obs-doctor again.",
                )
            )
            continue
        launched = state.launch_time if state and state.launch_time else now - timedelta(days=1)
        try:
            started = _latest_start(logs, group, instance_id, launched, now)
            retention = None if started else _retention_days(logs, group)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                rows.append(
                    CheckResult(
                        "docker-events",
                        Status.FAIL,
                        instance_id,
                        f"{group} does not exist: the docker-events service's lines go nowhere",
                        "See the log-group row of that group.",
                    )
                )
            else:
                rows.append(could_not_check("docker-events", instance_id, error))
            continue
        except BotoCoreError as error:
            rows.append(could_not_check("docker-events", instance_id, error))
            continue
        if started is not None:
            rows.append(
                CheckResult(
                    "docker-events",
                    Status.PASS,
                    instance_id,
                    f"the docker-events service started {when(started)} (its start line is in {group}); the "
                    f"instance started {when(launched)}",
                )
            )
            continue
        start = starts.get(instance_id)
        if start is not None and now < start_line_expected_by(start):
            detail = (
                f"no start line of the docker-events service in {group} yet; waiting since {start.reason}"
            )
            rows.append(pending_row("docker-events", instance_id, detail, start_line_expected_by(start)))
            continue
        on_host = (
            f"On the host (aws ssm start-session --target {instance_id} --region {facts.region}): sudo systemctl "
            f"status {DOCKER_EVENTS_UNIT}; sudo journalctl -u {DOCKER_EVENTS_UNIT} -n 20; sudo tail -n 3 {DOCKER_EVENTS_LOG_FILE} (a start "
            "line there but not in CloudWatch: the CloudWatch agent does not ship the file, see the "
            "agent-metrics row). obs-doctor --deep asks systemd for you; the setup row shows whether the "
            "setup that installs the service succeeded."
        )
        if retention is not None and launched < now - timedelta(days=retention):
            rows.append(
                CheckResult(
                    "docker-events",
                    Status.WARN,
                    instance_id,
                    f"no start line of the docker-events service in {group} since the instance started "
                    f"({when(launched)}); the group keeps events {retention} days, so it may have expired",
                    on_host,
                )
            )
            continue
        rows.append(
            CheckResult(
                "docker-events",
                Status.FAIL,
                instance_id,
                f"no start line of the docker-events service in {group} since the instance started "
                f"({when(launched)}): the service is not running, or its file is not shipped; container "
                "crashes are not counted",
                on_host,
            )
        )
    return rows
