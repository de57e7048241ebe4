"""The check families in the order they run, what each needs from the ones before it, and how a family that can
be ``PENDING`` is narrowed to its pending rows when ``--wait`` runs it again.

Order matters: the instances give each host's launch time and state (a fleet's instances' too, whose
capacity row comes next), the setup gives when the host's agent and
docker-events service started (:func:`~constructs_obs.doctor.windows.host_start`), and the alarms as CloudWatch
describes them feed the delivery checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from constructs_obs.doctor.checks.agent import FLEET_CHECK, check_agent_metrics
from constructs_obs.doctor.checks.alarms import check_alarms
from constructs_obs.doctor.checks.deep import check_deep
from constructs_obs.doctor.checks.delivery import (
    check_alarm_history,
    check_subscriptions,
    check_topic_policies,
)
from constructs_obs.doctor.checks.docker_events import check_docker_events
from constructs_obs.doctor.checks.fleet import check_fleet_capacity
from constructs_obs.doctor.checks.instances import check_instances
from constructs_obs.doctor.checks.log_format import check_log_formats
from constructs_obs.doctor.checks.log_groups import check_log_groups
from constructs_obs.doctor.checks.permissions import check_permissions
from constructs_obs.doctor.checks.prometheus import check_prometheus_metrics
from constructs_obs.doctor.checks.setup import check_setup
from constructs_obs.doctor.checks.stack_status import check_logging_region, check_stack_status
from constructs_obs.doctor.facts import DoctorOptions, InstanceState, SetupRun, StackFacts
from constructs_obs.doctor.report import CheckResult
from constructs_obs.doctor.windows import Start, host_start

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef

#: ``client(service, region=None)``: the boto3 client of a service, in the stack's region unless another is named.
ClientFor = Callable[..., Any]


@dataclass
class Context:
    """What the families of one stack share: clients, options, the time of this round, and what earlier families
    found (kept from the first round when a later round runs only some families)."""

    client: ClientFor
    options: DoctorOptions
    sleep: Callable[[float], None]
    now: datetime
    states: dict[str, InstanceState] = field(default_factory=dict)
    setups: dict[str, SetupRun] = field(default_factory=dict)
    alarms: dict[str, MetricAlarmTypeDef] = field(default_factory=dict)

    def starts(self) -> dict[str, Start]:
        """Instance -> when its agent and docker-events service started, at the latest."""
        found = {i: host_start(self.states.get(i), self.setups.get(i)) for i in {*self.states, *self.setups}}
        return {i: start for i, start in found.items() if start is not None}


def _instances(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    rows, ctx.states = check_instances(ctx.client("ec2"), facts, ctx.client("iam"))
    return rows


def _setup(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    rows, runs = check_setup(ctx.client("ssm"), facts, ctx.states, ctx.now)
    ctx.setups.update(runs)
    return rows


def _alarms(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    rows, found = check_alarms(ctx.client("cloudwatch"), facts, now=ctx.now)
    ctx.alarms.update(found)
    return rows


def _log_groups(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    recent = ctx.options.recent_minutes
    return check_log_groups(ctx.client("logs"), facts, now=ctx.now, recent_minutes=recent, states=ctx.states)


def _log_formats(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    recent = ctx.options.recent_minutes
    return check_log_formats(ctx.client("logs"), facts, states=ctx.states, now=ctx.now, recent_minutes=recent)


def _deep(ctx: Context, facts: StackFacts) -> list[CheckResult]:
    if not ctx.options.deep:
        return []
    options = ctx.options
    return check_deep(
        ctx.client("ssm"),
        facts,
        states=ctx.states,
        timeout_seconds=options.deep_timeout_seconds,
        poll_interval_seconds=options.poll_interval_seconds,
        sleep=ctx.sleep,
    )


# --- narrowing a family to its pending rows ----------------------------------------------------------------------

Narrow = Callable[[StackFacts, Sequence[CheckResult]], StackFacts]


def _hosts_of(facts: StackFacts, pending: Sequence[CheckResult]) -> StackFacts:
    """Only the hosts whose instance (or fleet: its group) a pending row is about."""
    about = {r.resource for r in pending}
    return dataclasses.replace(
        facts,
        hosts=tuple(h for h in facts.hosts if h.instance_id in about or h.auto_scaling_group in about),
    )


def _jobs_of(facts: StackFacts, pending: Sequence[CheckResult]) -> StackFacts:
    """Only the pending scrape jobs, of their hosts."""
    wanted = {(r.host, r.resource) for r in pending}
    hosts = []
    for host in facts.hosts:
        jobs = tuple(j for j in host.prometheus_jobs if (host.path, f"job {j.job_name}") in wanted)
        if jobs:
            hosts.append(dataclasses.replace(host, prometheus_jobs=jobs))
    return dataclasses.replace(facts, hosts=tuple(hosts))


def _groups_of(facts: StackFacts, pending: Sequence[CheckResult]) -> StackFacts:
    """Only the pending log groups (the stack's other resources stay: they say which groups are containers')."""
    groups = {r.resource for r in pending}
    inv = facts.inv
    kept = tuple(
        r
        for r in inv.resources
        if r.resource_type != "AWS::Logs::LogGroup" or r.name("LogGroupName") in groups
    )
    return dataclasses.replace(facts, inv=dataclasses.replace(inv, resources=kept))


def _alarms_of(facts: StackFacts, pending: Sequence[CheckResult]) -> StackFacts:
    names = {r.resource for r in pending}
    return dataclasses.replace(facts, alarms=tuple(a for a in facts.alarms if a.name in names))


def _filters_of(facts: StackFacts, pending: Sequence[CheckResult]) -> StackFacts:
    groups = {r.resource for r in pending}
    return dataclasses.replace(facts, filters=tuple(f for f in facts.filters if f.log_group in groups))


@dataclass(frozen=True)
class Family:
    """A family of checks.

    Attributes:
        name: the check named by the row it makes when it fails as a whole (an answer it did not expect).
        run: makes its rows (and records what later families need in the context).
        checks: the checks of its rows that can be ``PENDING``.
        narrow: the stack's facts narrowed to the pending rows of those checks, to run them again.
    """

    name: str
    run: Callable[[Context, StackFacts], list[CheckResult]]
    checks: frozenset[str] = frozenset()
    narrow: Narrow | None = None


FAMILIES: tuple[Family, ...] = (
    Family("stack", lambda ctx, facts: check_stack_status(facts.inv)),
    Family("logging-region", lambda ctx, facts: check_logging_region(facts)),
    Family("instance", _instances),
    Family(
        "fleet-capacity",
        lambda ctx, f: check_fleet_capacity(ctx.client("autoscaling"), f, ctx.states, ctx.now),
        frozenset({"fleet-capacity"}),
        _hosts_of,
    ),
    Family("setup", _setup, frozenset({"setup"}), _hosts_of),
    Family("log-group", _log_groups, frozenset({"log-events"}), _groups_of),
    Family("alarm", _alarms, frozenset({"alarm-state"}), _alarms_of),
    Family("topic-policy", lambda ctx, facts: check_topic_policies(ctx.client, facts, ctx.alarms)),
    Family(
        "alarm-history", lambda ctx, f: check_alarm_history(ctx.client("cloudwatch"), f, ctx.alarms, ctx.now)
    ),
    Family("subscriptions", lambda ctx, facts: check_subscriptions(ctx.client, facts)),
    Family(
        "agent-metrics",
        lambda ctx, f: check_agent_metrics(ctx.client("cloudwatch"), f, ctx.states, ctx.starts(), ctx.now),
        frozenset({"agent-metrics", FLEET_CHECK}),
        _hosts_of,
    ),
    Family(
        "prometheus-metrics",
        lambda ctx, f: check_prometheus_metrics(
            ctx.client("cloudwatch"), ctx.client("logs"), f, ctx.states, ctx.starts(), ctx.now
        ),
        frozenset({"prometheus-metrics"}),
        _jobs_of,
    ),
    Family(
        "docker-events",
        lambda ctx, f: check_docker_events(ctx.client("logs"), f, ctx.states, ctx.starts(), ctx.now),
        frozenset({"docker-events"}),
        _hosts_of,
    ),
    Family("log-format", _log_formats, frozenset({"log-format"}), _filters_of),
    Family("role-permissions", lambda ctx, facts: check_permissions(ctx.client("iam"), facts)),
    Family("docker-logging", _deep),
)
