"""Run every check against one deployed stack and collect the rows into a report, grouped by host."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import NoRegionError

from constructs_obs.doctor.checks.agent import check_agent_metrics
from constructs_obs.doctor.checks.alarms import check_alarms
from constructs_obs.doctor.checks.deep import check_deep
from constructs_obs.doctor.checks.delivery import (
    check_alarm_history,
    check_subscriptions,
    check_topic_policies,
)
from constructs_obs.doctor.checks.docker_events import check_docker_events
from constructs_obs.doctor.checks.instances import check_instances
from constructs_obs.doctor.checks.log_format import check_log_formats
from constructs_obs.doctor.checks.log_groups import check_log_groups
from constructs_obs.doctor.checks.permissions import check_permissions
from constructs_obs.doctor.checks.prometheus import check_prometheus_metrics
from constructs_obs.doctor.checks.setup import check_setup
from constructs_obs.doctor.checks.stack_status import check_logging_region, check_stack_status
from constructs_obs.doctor.discovery import discover
from constructs_obs.doctor.facts import DoctorOptions, StackFacts, could_not_check
from constructs_obs.doctor.report import CheckResult, Report
from constructs_obs.doctor.stack import load_stack

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")


class Clients:
    """One boto3 client per service and region, made on first use."""

    def __init__(self, session: boto3.Session, region: str) -> None:
        """Clients of ``session``; ``region`` unless another is asked for."""
        self._session = session
        self._region = region
        self._made: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        """The client for ``service`` in ``region`` (default: the stack's)."""
        key = (service, region or self._region)
        if key not in self._made:
            self._made[key] = self._session.client(service, region_name=key[1])  # type: ignore[call-overload]
        return self._made[key]


def _guarded(
    check: str, resource: str, run: Callable[[], T], fallback: Callable[[list[CheckResult]], T]
) -> T:
    """``run()``; a check that fails on an AWS error or an answer it did not expect becomes a failed row, so the
    other checks still run and nothing prints a traceback."""
    try:
        return run()
    except Exception as error:  # each check family is isolated from the others
        return fallback([could_not_check(check, resource, error)])


def _rows(check: str, resource: str, run: Callable[[], Iterable[CheckResult]]) -> list[CheckResult]:
    return _guarded(check, resource, lambda: list(run()), lambda rows: rows)


def _owners(facts: StackFacts) -> dict[str, str]:
    """Resource of a row -> the path of the host it belongs to."""
    owners: dict[str, str] = {}
    for host in facts.hosts:
        for key in (host.instance_id, host.role_name, *host.log_groups):
            if key:
                owners.setdefault(key, host.path)
        if host.metrics_namespace:
            owners.setdefault(f"namespace {host.metrics_namespace}", host.path)
    for alarm in facts.alarms:
        if not alarm.name:
            continue
        for host in facts.hosts:
            if host.instance_id in alarm.instance_ids or (
                host.metrics_namespace and alarm.namespace == host.metrics_namespace
            ):
                owners.setdefault(alarm.name, host.path)
                break
    return owners


def _host_summary(facts: StackFacts) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "host": h.path,
            "instance_id": h.instance_id,
            "created_by_stack": h.created_by_stack,
            "metrics_namespace": h.metrics_namespace,
            "role_name": h.role_name,
            "log_groups": h.log_groups,
        }
        for h in facts.hosts
    )


def run_doctor(
    session: boto3.Session,
    stack_name: str,
    *,
    options: DoctorOptions | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    region: str | None = None,
) -> Report:
    """Check the deployed stack ``stack_name`` in ``region`` (default: the session's) and return the report.

    Raises:
        StackNotFoundError: no such stack in the region.
        botocore.exceptions.NoRegionError: no region given and the session has none.
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: the stack could not be read
            (no credentials, access denied, no network): the doctor cannot run.
    """
    options = options or DoctorOptions()
    now = now or datetime.now(timezone.utc)
    region = region or session.region_name
    if not region:
        raise NoRegionError()
    client = Clients(session, region)
    inv = load_stack(client("cloudformation"), stack_name, region)
    facts = discover(inv)
    name = inv.name

    rows = check_stack_status(inv) + _rows("logging-region", name, lambda: check_logging_region(facts))
    instance_rows, states = _guarded(
        "instance", name, lambda: check_instances(client("ec2"), facts, client("iam")), lambda r: (r, {})
    )
    rows += instance_rows
    rows += _rows(
        "log-group",
        name,
        lambda: check_log_groups(client("logs"), facts, now=now, recent_minutes=options.recent_minutes),
    )
    alarm_rows, alarms = _guarded(
        "alarm", name, lambda: check_alarms(client("cloudwatch"), facts, now=now), lambda r: (r, {})
    )
    rows += alarm_rows
    rows += _rows("topic-policy", name, lambda: check_topic_policies(client, facts, alarms))
    rows += _rows(
        "alarm-history", name, lambda: check_alarm_history(client("cloudwatch"), facts, alarms, now)
    )
    rows += _rows("subscriptions", name, lambda: check_subscriptions(client, facts))
    rows += _rows(
        "agent-metrics", name, lambda: check_agent_metrics(client("cloudwatch"), facts, states, now)
    )
    rows += _rows(
        "prometheus-metrics",
        name,
        lambda: check_prometheus_metrics(client("cloudwatch"), client("logs"), facts, states, now),
    )
    rows += _rows("docker-events", name, lambda: check_docker_events(client("logs"), facts, states, now))
    rows += _rows("log-format", name, lambda: check_log_formats(client("logs"), facts))
    rows += _rows("setup", name, lambda: check_setup(client("ssm"), facts))
    rows += _rows("role-permissions", name, lambda: check_permissions(client("iam"), facts))
    if options.deep:
        rows += _rows(
            "docker-logging",
            name,
            lambda: check_deep(
                client("ssm"),
                facts,
                states=states,
                timeout_seconds=options.deep_timeout_seconds,
                poll_interval_seconds=options.poll_interval_seconds,
                sleep=sleep,
            ),
        )
    owners = _owners(facts)
    rows = [r if r.host is not None else dataclasses.replace(r, host=owners.get(r.resource)) for r in rows]
    return Report(
        stack_name=name,
        region=region,
        checked_at=now,
        results=tuple(rows),
        stack_id=inv.stack_id or None,
        hosts=_host_summary(facts),
    )
