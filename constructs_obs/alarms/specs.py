"""What an alarm of a host is, independent of the construct that creates it: :class:`AlarmSpec`.

A host says which alarms watch it (its ``alarm_specs``): :data:`BUILT_IN_ALARMS` for one instance
(:class:`~constructs_obs.host.observability.HostObservability`, :class:`~constructs_obs.host.instance.ObservedEc2Host`),
the fleet's own for an Auto Scaling group (:mod:`constructs_obs.fleet.alarms`).
:class:`~constructs_obs.alarms.basic.BasicAlarms` creates them, so ``BasicAlarms(host=fleet)`` needs no case of its
own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import aws_cloudwatch as cloudwatch

#: The built-in alarms, by the name ``leave_out`` takes (also their alarm-name suffix).
CPU_HIGH = "cpu-high"
STATUS_CHECK = "status-check"
MEMORY_HIGH = "memory-high"
DISK_HIGH = "disk-high"
CONTAINER_CRASH = "container-crash"


@dataclass(frozen=True)
class AlarmSettings:
    """An alarm's metric and threshold as its host decides them (an alarm whose settings are not BasicAlarms' props).

    Attributes:
        metric: the metric (or metric-math expression) the alarm watches.
        threshold: the threshold.
        evaluation_periods: how many consecutive periods must breach.
        minutes: the alarm's duration in minutes, for its description.
        graph_lines: the lines its dashboard graph shows instead of ``metric`` (none: ``metric``).
    """

    metric: cloudwatch.IMetric
    threshold: float
    evaluation_periods: int
    minutes: float
    graph_lines: tuple[cloudwatch.IMetric, ...] = ()


@dataclass(frozen=True)
class AlarmSpec:
    """One built-in alarm: what it compares, how it treats missing data, and how it is shown.

    The alarm's description, sent in every notification, is ``description`` (what happened: a template filled
    with ``threshold``, ``minutes`` of the alarm's duration, ``periods`` and ``host``, the host's construct path),
    a space, and ``advice`` (what to do), which ``BasicAlarms(runbook=...)`` replaces.

    ``measures``: the built-in alarm whose BasicAlarms settings (threshold, duration) this one takes, when its
    name differs (default: its own name). ``own``: for an alarm whose metric and threshold come from the host,
    not from BasicAlarms' props: called with the host, it returns the :class:`AlarmSettings`.
    """

    name: str
    construct_id: str
    title: str
    y_axis_max: float | None
    comparison_operator: cloudwatch.ComparisonOperator
    treat_missing_data: cloudwatch.TreatMissingData
    description: str
    advice: str
    measures: str = ""
    own: Callable[[Any], AlarmSettings] | None = field(default=None, compare=False)

    @property
    def settings_key(self) -> str:
        """Which of BasicAlarms' settings (threshold, duration, period) apply: a built-in alarm's name."""
        return self.measures or self.name


_GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
_GE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD

#: The alarm specification table (see :class:`BasicAlarms` for why each treats missing data as it does).
BUILT_IN_ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        CPU_HIGH,
        "CpuHigh",
        "CPU utilization (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        "CPU above {threshold:g}% for {minutes:g} minutes on {host}: the server is under heavy load.",
        "Find the busy container with `docker stats` (Session Manager) and the slow requests in the web server's "
        "access log; scale up if the load is real.",
    ),
    AlarmSpec(
        STATUS_CHECK,
        "StatusCheck",
        "Status check failed",
        1,
        _GE,
        cloudwatch.TreatMissingData.MISSING,
        "EC2 status check failed for {periods} minutes on {host}: the instance is unreachable or unhealthy.",
        "EC2 console > instance > Status checks: a failed system check is fixed by stop and start (new "
        "hardware), a failed instance check by a reboot and the system log.",
    ),
    AlarmSpec(
        MEMORY_HIGH,
        "MemoryHigh",
        "Memory used (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.MISSING,
        "Memory used above {threshold:g}% for {minutes:g} minutes on {host}: containers risk being killed by the "
        "OOM killer.",
        "Find the largest with `docker stats`; restart or limit it (`mem_limit`), or move to a larger instance.",
    ),
    AlarmSpec(
        DISK_HIGH,
        "DiskHigh",
        "Root disk used (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.MISSING,
        "Root filesystem above {threshold:g}% used on {host}:",
        "prune Docker images (docker system prune) before writes start failing.",
    ),
    AlarmSpec(
        CONTAINER_CRASH,
        "ContainerCrash",
        "Container crashes",
        None,
        _GE,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        "A container on {host} crashed (non-zero exit other than a stop, or OOM kill).",
        "See the docker-events log group or the container-crashes saved query.",
    ),
)


def alarm_specs_of(host: object) -> tuple[AlarmSpec, ...]:
    """The alarms that watch ``host``: its ``alarm_specs``, or :data:`BUILT_IN_ALARMS` for a host that names none."""
    specs: Sequence[AlarmSpec] = getattr(host, "alarm_specs", BUILT_IN_ALARMS)
    return tuple(specs)
