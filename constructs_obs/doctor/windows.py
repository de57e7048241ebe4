"""When the data a check waits for can first be there: the windows behind ``PENDING`` rows.

A check that waits for data to arrive (the agent's datapoints, the docker-events start line, the first container
logs, scraped Prometheus metrics, a setup association still running, an alarm's first evaluation) does not fail
while that data cannot have arrived yet. Its row is ``PENDING``, "expected by HH:MM", from a fact the doctor
already reads (the instance's ``LaunchTime``, the setup association's last run, the stack's last update, the
alarm's last state change) plus the documented intervals below. After that moment the same row fails as before.

A host's setup (the CloudWatch agent and the docker-events service) starts at the latest of its instance's launch
and its setup association's last run (:func:`host_start`): a stop and start, or a re-applied setup, restarts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from constructs_obs.doctor.facts import InstanceState, SetupRun, StackFacts, clock_time
from constructs_obs.doctor.report import CheckResult, Status

#: The CloudWatch agent collects its metrics every ``metrics_collection_interval``: 60 s, the agent's default and
#: what :mod:`constructs_obs.agent` configures (Amazon CloudWatch User Guide, "Manually create or edit the
#: CloudWatch agent configuration file", the ``agent`` section).
AGENT_COLLECTION_INTERVAL = timedelta(seconds=60)
#: ... and sends them at the latest every ``force_flush_interval`` of its ``metrics`` section, 60 s by default
#: (same page, the ``metrics`` section).
AGENT_METRICS_FLUSH = timedelta(seconds=60)
#: It sends the lines of the files it ships (and the Prometheus EMF events) at the latest every
#: ``force_flush_interval`` of its ``logs`` section, 5 s by default (same page, the ``logs`` section).
AGENT_LOGS_FLUSH = timedelta(seconds=5)
#: "When you create a metric, it can take up to two minutes before you can retrieve statistics for the new
#: metric" (Amazon CloudWatch User Guide, "Publish custom metrics"): agent metrics and those CloudWatch Logs
#: extracts from EMF events alike.
NEW_METRIC_DELAY = timedelta(minutes=2)
#: EC2 publishes its basic-monitoring metrics (``CPUUtilization``) in 5-minute periods (Amazon EC2 User Guide,
#: "Manage detailed monitoring for your EC2 instances").
EC2_BASIC_MONITORING = timedelta(minutes=5)
#: A new alarm shows INSUFFICIENT_DATA until its first periods have data: 10 minutes for two 5-minute periods of
#: basic monitoring, which is normal; one still without data after 15 minutes is not waiting any more (its metric
#: or its instance id is wrong): no alarm waits for less.
ALARM_GRACE = timedelta(minutes=15)
#: CloudWatch Logs documents no delay between an agent's ``PutLogEvents`` and the event showing in
#: ``FilterLogEvents``: the doctor allows this much (its own margin, not an AWS figure).
LOG_DELIVERY_MARGIN = timedelta(minutes=1)
#: The ``AWS-RunShellScript`` document's ``executionTimeout`` default, 3600 s (the document's parameters), for a
#: setup association whose template gives no timeout.
RUN_SHELL_SCRIPT_TIMEOUT = timedelta(seconds=3600)
#: A fleet's instance enters service this long after its launch at most, once the group's health-check grace
#: period (``HealthCheckGracePeriod``) is over: boot, Docker and the app starting, the load balancer's first
#: health checks. The doctor's own margin, not an AWS figure, and the default grace of the fleet's capacity alarm.
INSTANCE_ENTERS_SERVICE = timedelta(minutes=10)
#: An alarm period the doctor assumes when the alarm does not say (CloudWatch's own minimum for a standard metric).
_DEFAULT_PERIOD_SECONDS = 60

#: Systems Manager's statuses of an association that has not finished.
SETUP_RUNNING = frozenset({"Pending", "InProgress"})


@dataclass(frozen=True)
class Start:
    """When a host's CloudWatch agent and docker-events service last (re)started, at the latest, and why.

    Attributes:
        at: the moment.
        reason: what it comes from, e.g. ``the setup ran 10:02 UTC``.
    """

    at: datetime
    reason: str


def host_start(state: InstanceState | None, setup: SetupRun | None) -> Start | None:
    """The latest of the instance's launch and its setup's last run (or, for a setup still running, when it is
    expected to end); None when neither is known."""
    found: list[Start] = []
    if state is not None and state.launch_time is not None:
        found.append(Start(state.launch_time, f"the instance started {clock_time(state.launch_time)}"))
    if setup is not None:
        if setup.status and setup.status not in SETUP_RUNNING and setup.at is not None:
            found.append(Start(setup.at, f"its setup ran {clock_time(setup.at)}"))
        elif setup.expected_by is not None:
            found.append(Start(setup.expected_by, f"its setup may run until {clock_time(setup.expected_by)}"))
    return max(found, key=lambda s: s.at, default=None)


def agent_expected_by(start: Start) -> datetime:
    """The agent's first datapoints: one collection, one flush, and CloudWatch's delay for a new metric."""
    return start.at + AGENT_COLLECTION_INTERVAL + AGENT_METRICS_FLUSH + NEW_METRIC_DELAY


def start_line_expected_by(start: Start) -> datetime:
    """The docker-events start line (written when the service starts): the agent's log flush and delivery."""
    return start.at + AGENT_LOGS_FLUSH + LOG_DELIVERY_MARGIN


def scrape_expected_by(start: Start, interval_seconds: int) -> datetime:
    """A scrape job's first metrics: one scrape interval (the host metadata's ``IntervalSeconds``), the agent's
    log flush of the EMF event, and CloudWatch's delay for a new metric."""
    return start.at + timedelta(seconds=interval_seconds) + AGENT_LOGS_FLUSH + NEW_METRIC_DELAY


def in_service_expected_by(launched: datetime, grace_seconds: object) -> datetime:
    """A fleet's instance launched at ``launched``: in service once the group's health-check grace period
    (``grace_seconds``, as DescribeAutoScalingGroups gives it; none: 0) and :data:`INSTANCE_ENTERS_SERVICE` are over."""
    grace = grace_seconds if isinstance(grace_seconds, int) and grace_seconds > 0 else 0
    return launched + timedelta(seconds=grace) + INSTANCE_ENTERS_SERVICE


def setup_expected_by(since: datetime, timeout_seconds: int | None) -> datetime:
    """A setup association (re)applied at ``since`` (the instance's launch or the stack's update): done within
    its timeout (:attr:`~constructs_obs.doctor.facts.Host.setup_timeout_seconds`), else the document's."""
    return since + (timedelta(seconds=timeout_seconds) if timeout_seconds else RUN_SHELL_SCRIPT_TIMEOUT)


def first_logs_expected_by(
    facts: StackFacts,
    group: str,
    states: Mapping[str, InstanceState],
    latest: datetime | None,
    minutes: int,
) -> tuple[datetime, str] | None:
    """When a log group still waiting for its first events may expect them (``--recent-minutes`` after the
    moment it starts waiting), with that moment in words; None when it is not waiting.

    A group waits when it has never received an event (from the later of its host's launch and the stack's last
    change: the app's containers start after the deploy), or when its host was (re)started after the group's
    latest event (from the launch). A group whose events stopped while its host ran does not wait: a deploy
    since then does not excuse it.
    """
    launches = [
        state.launch_time
        for host in facts.hosts
        if host.instance_id and group in host.log_groups
        if (state := states.get(host.instance_id)) is not None and state.launch_time is not None
    ]
    launch = max(launches, default=None)
    if latest is None:
        changed = facts.inv.updated_at
        candidates = [
            (t, what) for t, what in ((launch, "the instance started"), (changed, "the stack changed")) if t
        ]
        if not candidates:
            return None
        since, what = max(candidates, key=lambda c: c[0])
    elif launch is not None and latest < launch:
        since, what = launch, "the instance started"
    else:
        return None
    return since + timedelta(minutes=minutes), f"{what} {clock_time(since)}"


def alarm_expected_by(updated: datetime, alarm: Mapping[str, Any]) -> datetime:
    """An alarm in INSUFFICIENT_DATA since ``updated`` leaves it once its evaluation range (period x evaluation
    periods) holds a datapoint: that range, plus its metric's delay (EC2's 5-minute basic monitoring, else a new
    metric's), and never less than :data:`ALARM_GRACE`."""
    periods = [alarm.get("Period")] + [
        q.get("MetricStat", {}).get("Period") for q in alarm.get("Metrics", []) if isinstance(q, Mapping)
    ]
    period = max((int(p) for p in periods if isinstance(p, int) and p > 0), default=_DEFAULT_PERIOD_SECONDS)
    evaluations = alarm.get("EvaluationPeriods")
    evaluations = evaluations if isinstance(evaluations, int) and evaluations > 0 else 1
    delay = EC2_BASIC_MONITORING if alarm.get("Namespace") == "AWS/EC2" else NEW_METRIC_DELAY
    return updated + max(ALARM_GRACE, timedelta(seconds=period * evaluations) + delay)


def pending_row(check: str, resource: str, detail: str, expected_by: datetime) -> CheckResult:
    """A ``PENDING`` row: ``detail`` (what is not there yet, and from when it is counted), expected by
    ``expected_by``."""
    at = clock_time(expected_by)
    return CheckResult(
        check,
        Status.PENDING,
        resource,
        f"{detail}; expected by {at}",
        f"Nothing to fix yet: run obs-doctor again after {at}, or let it wait for the data (--wait 15m).",
        expected_by=expected_by,
    )
