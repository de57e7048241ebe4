"""The log groups: each group of the stack exists, keeps events as long as the template says, and each container
group receives events (``PENDING`` while a new group, or the group of a host that just started, may still wait for
its first: :func:`~constructs_obs.doctor.windows.first_logs_expected_by`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.discovery import compose_logging
from constructs_obs.doctor.facts import InstanceState, StackFacts, ago, could_not_check, when
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import first_logs_expected_by, pending_row

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import LogGroupTypeDef


def _describe_log_group(logs: CloudWatchLogsClient, name: str) -> LogGroupTypeDef | None:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        for group in page.get("logGroups", []):
            if group.get("logGroupName") == name:
                return group
    return None


def _retention_text(days: int | None) -> str:
    return "never expire" if days is None else f"{days} days"


def _keeps_longer(actual: int | None, expected: int | None) -> bool:
    """Whether a group that keeps events ``actual`` days (None: never expire) keeps them longer than ``expected``."""
    return expected is not None and (actual is None or actual > expected)


def _history(group: LogGroupTypeDef, now: datetime) -> str:
    """How much history the group holds, from what DescribeLogGroups says: its age and stored bytes."""
    parts = []
    created = group.get("creationTime")
    if created:
        parts.append(f"created {ago(datetime.fromtimestamp(created / 1000, tz=timezone.utc), now)}")
    stored = group.get("storedBytes")
    if stored is not None:
        parts.append(f"{stored / 1_000_000_000:.2f} GB stored")
    return ", ".join(parts) or "its age and size unknown"


def _retention_row(
    name: str, group: LogGroupTypeDef, actual: int | None, expected: int | None, region: str, now: datetime
) -> CheckResult:
    """The row of a group whose retention is not the template's.

    A group that keeps events *longer* than the stack says is a warning, never a proposal to cut: setting the
    shorter retention makes CloudWatch Logs delete every event older than it ("Events that are older than the new
    retention period are deleted", CloudWatch Logs API Reference, PutRetentionPolicy). The row says what that would
    delete and offers first to keep it (the stack's retention set to the group's). A group that keeps events
    *shorter* than the stack says loses history sooner than intended: a failure, and restoring the stack's
    (longer) retention deletes nothing.
    """
    kept = "events never expire" if actual is None else f"events expire after {actual} days"
    found = f"{kept}, the stack sets {_retention_text(expected)}"
    if _keeps_longer(actual, expected):
        keep = "RetentionDays.INFINITE" if actual is None else f"the RetentionDays of {actual} days"
        return CheckResult(
            "log-group",
            Status.WARN,
            name,
            f"{found}: the group keeps more history than the stack says",
            f"To keep that history, set the stack's retention to the group's ({keep}) and deploy. Applying the "
            f"stack's {expected} days instead deletes every event older than {expected} days at once ({name}: "
            f"{_history(group, now)}); only if you mean to: aws logs put-retention-policy --log-group-name {name} "
            f"--retention-in-days {expected} --region {region}",
        )
    fix = (
        f"aws logs put-retention-policy --log-group-name {name} --retention-in-days {expected}"
        if expected is not None
        else f"aws logs delete-retention-policy --log-group-name {name}"
    )
    return CheckResult(
        "log-group",
        Status.FAIL,
        name,
        found,
        f"Restore the stack's retention: {fix} --region {region}",
    )


def _expected_retention(properties: Mapping[str, Any]) -> tuple[bool, int | None]:
    """(known, days): days is None for "never expire"; known is False when the template computes it."""
    value = properties.get("RetentionInDays")
    if value is None:
        return True, None
    try:
        return True, int(value)
    except (TypeError, ValueError):
        return False, None


def _has_recent_event(logs: CloudWatchLogsClient, name: str, since: datetime, now: datetime) -> bool:
    start = int(since.timestamp() * 1000)
    end = int(now.timestamp() * 1000)
    token: str | None = None
    for _ in range(10):  # a group with many streams may answer with empty pages first
        kwargs: dict[str, Any] = {"logGroupName": name, "startTime": start, "endTime": end, "limit": 1}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        if page.get("events"):
            return True
        token = page.get("nextToken")
        if not token:
            return False
    return False


def _latest_event(logs: CloudWatchLogsClient, name: str) -> tuple[bool, datetime | None]:
    """(has_streams, time of the latest event, if CloudWatch reports it)."""
    streams = logs.describe_log_streams(
        logGroupName=name, orderBy="LastEventTime", descending=True, limit=1
    ).get("logStreams", [])
    if not streams:
        return False, None
    last = streams[0].get("lastEventTimestamp")
    return True, (datetime.fromtimestamp(last / 1000, tz=timezone.utc) if last else None)


def container_services(facts: StackFacts) -> dict[str, str] | None:
    """Container log group -> its container (compose service), from the hosts' metadata and the
    ``ComposeLogging`` output; None when the stack says neither (then every group counts as a container's)."""
    compose = compose_logging(facts.inv)
    if compose is None and not facts.hosts:
        return None
    services = {s.group: s.service for s in compose or []}
    for host in facts.hosts:
        for container, group in host.container_groups.items():
            services.setdefault(group, container)
    return services


def check_log_groups(
    logs: CloudWatchLogsClient,
    facts: StackFacts,
    *,
    now: datetime,
    recent_minutes: int,
    states: Mapping[str, InstanceState],
) -> list[CheckResult]:
    """Every log group of the stack exists, keeps events as long as the template says, and receives events
    (``states``: the instances, whose launch starts a wait for their groups' first events)."""
    inv = facts.inv
    containers = container_services(facts)
    services = containers or {}
    rows: list[CheckResult] = []
    resources = inv.of_type("AWS::Logs::LogGroup")
    if not resources:
        rows.append(
            CheckResult(
                "log-group",
                Status.FAIL,
                inv.name,
                "the stack has no log group",
                "Deploy a stack built with ContainerLogGroups.",
            )
        )
    for resource in resources:
        name = resource.name("LogGroupName")
        if not name:
            rows.append(
                CheckResult(
                    "log-group",
                    Status.FAIL,
                    resource.logical_id,
                    "not in the stack's resources: CloudFormation has not created it",
                    "Check the stack's events for why, fix it and deploy again.",
                )
            )
            continue
        try:
            group = _describe_log_group(logs, name)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("log-group", name, error))
            continue
        if group is None:
            rows.append(
                CheckResult(
                    "log-group",
                    Status.FAIL,
                    name,
                    "does not exist: Docker's awslogs driver cannot ship to it (awslogs-create-group is false)",
                    guide.drift(f"Log group {name}", inv.name, inv.region),
                )
            )
            continue
        # Container groups must receive events all the time; another group of the stack (say, Docker's own
        # events) may rightly be quiet. When the stack names no container group, every group counts as one.
        container_group = containers is None or name in services
        known, expected = _expected_retention(resource.properties)
        known = known and inv.template_read
        actual = group.get("retentionInDays")
        if known and actual != expected:
            rows.append(_retention_row(name, group, actual, expected, inv.region, now))
        else:
            quiet_ok = (
                "" if container_group else "; no container ships to it, so recent events are not required"
            )
            rows.append(
                CheckResult(
                    "log-group",
                    Status.PASS,
                    name,
                    f"exists, events expire after {_retention_text(actual)}{quiet_ok}",
                )
            )
        if not container_group:
            continue

        since = now - timedelta(minutes=recent_minutes)
        try:
            recent = _has_recent_event(logs, name, since, now)
            has_streams, latest = (True, None) if recent else _latest_event(logs, name)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("log-events", name, error))
            continue
        if recent:
            rows.append(
                CheckResult("log-events", Status.PASS, name, f"events in the last {recent_minutes} min")
            )
            continue
        if not has_streams:
            found = "nothing has ever arrived (no log stream)"
        elif latest is None:
            found = f"no events in the last {recent_minutes} min"
        else:
            found = f"no events in the last {recent_minutes} min; the latest arrived {when(latest)} " + (
                f"({ago(latest, now)})"
            )
        waiting = first_logs_expected_by(facts, name, states, latest if has_streams else None, recent_minutes)
        if waiting is not None and now < waiting[0]:
            detail = f"first events not there yet: {found}; waiting since {waiting[1]}"
            rows.append(pending_row("log-events", name, detail, waiting[0]))
            continue
        rows.append(
            CheckResult(
                "log-events",
                Status.FAIL,
                name,
                f"CloudWatch Logs not appearing: {found}",
                guide.logs_not_appearing(inv.region, services.get(name)),
            )
        )
    return rows
