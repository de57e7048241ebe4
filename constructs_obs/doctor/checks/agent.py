"""The CloudWatch agent reports: each host's ``mem_used_percent`` and root ``disk_used_percent`` have datapoints.

One ``cloudwatch:GetMetricData`` call (per 250 hosts) asks for the sample count of both metrics, dimension
``InstanceId``, in each host's namespace, over the last :data:`AGENT_WINDOW`: the agent publishes every minute,
so a running agent leaves several datapoints there. A fleet's agents publish one series per group (dimension
``AutoScalingGroupName``; the per-instance series are dropped): one row per fleet. Without them the memory and disk alarms show
INSUFFICIENT_DATA, and nothing says why. Until the agent's first datapoints can be there (after the host's setup
started it: :func:`~constructs_obs.doctor.windows.agent_expected_by`), their absence is ``PENDING``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import FLEET_DIMENSION
from constructs_obs.doctor.facts import (
    AGENT_LOG,
    AGENT_METRICS,
    Host,
    InstanceState,
    StackFacts,
    could_not_check,
)
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import Start, agent_expected_by, pending_row

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

#: How recent the agent's datapoints must be.
AGENT_WINDOW = timedelta(minutes=15)

#: The row of a fleet's series (one per fleet, its group as the resource).
FLEET_CHECK = "fleet-agent-metrics"

#: GetMetricData takes at most 500 queries per call.
_MAX_QUERIES = 500


def _queries(series: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """One query per agent metric of each ``(namespace, dimension, value)``."""
    return [
        {
            "Id": f"h{index}m{metric_index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": dimension, "Value": value}],
                },
                "Period": 60,
                "Stat": "SampleCount",
            },
            "ReturnData": True,
        }
        for index, (namespace, dimension, value) in enumerate(series)
        for metric_index, metric in enumerate(AGENT_METRICS)
    ]


def _datapoints(
    cw: CloudWatchClient, series: Sequence[tuple[str, str, str]], now: datetime
) -> dict[str, int]:
    """Query id -> how many datapoints it has in the window."""
    counts: dict[str, int] = {}
    queries = _queries(series)
    for start in range(0, len(queries), _MAX_QUERIES):
        batch = queries[start : start + _MAX_QUERIES]
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "MetricDataQueries": batch,
                "StartTime": now - AGENT_WINDOW,
                "EndTime": now,
            }
            if token:
                kwargs["NextToken"] = token
            page = cw.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                counts[result["Id"]] = counts.get(result["Id"], 0) + len(result.get("Values", []))
            token = page.get("NextToken")
            if not token:
                break
    return counts


@dataclass(frozen=True)
class _Series:
    """The agent series of one host, or of one fleet (its instances' agents publish one series per group).

    Attributes:
        check: ``agent-metrics`` (a host's) or ``fleet-agent-metrics``.
        resource: the instance, or the group.
        namespace: the metrics' namespace.
        dimension: ``InstanceId`` or ``AutoScalingGroupName``.
        start: when the (first) agent started, if known.
        who: how the row names the agent(s).
        target: an instance to open a session on.
        host: the host's (the fleet's) path.
    """

    check: str
    resource: str
    namespace: str
    dimension: str
    start: Start | None
    who: str
    target: str
    host: str


def _series(
    facts: StackFacts, states: Mapping[str, InstanceState], starts: Mapping[str, Start]
) -> tuple[list[_Series], list[CheckResult]]:
    """What to query: each running host's series and each fleet's (with a running instance); the rows of those
    not checked."""
    found: list[_Series] = []
    rows: list[CheckResult] = []
    fleets: dict[str, list[Host]] = {}
    for host in facts.hosts:
        if host.auto_scaling_group:
            fleets.setdefault(host.path, []).append(host)
            continue
        if not host.instance_id or not host.metrics_namespace:
            continue
        state = states.get(host.instance_id)
        if state is not None and not state.running:
            rows.append(
                CheckResult(
                    "agent-metrics",
                    Status.WARN,
                    host.instance_id,
                    f"not checked: the instance is {state.state}, so its agent cannot report",
                    "Start the instance, then run obs-doctor again.",
                )
            )
            continue
        found.append(
            _Series(
                "agent-metrics",
                host.instance_id,
                host.metrics_namespace,
                "InstanceId",
                starts.get(host.instance_id),
                f"the CloudWatch agent on {host.instance_id}",
                host.instance_id,
                host.path,
            )
        )
    for path, members in fleets.items():
        group, namespace = str(members[0].auto_scaling_group), members[0].metrics_namespace
        if not namespace:
            continue
        running = [
            h.instance_id for h in members if h.instance_id and (s := states.get(h.instance_id)) and s.running
        ]
        if not running:
            rows.append(
                CheckResult(
                    FLEET_CHECK,
                    Status.WARN,
                    group,
                    "not checked: no instance of the group runs, so no agent can report",
                    "See the fleet-capacity row.",
                    host=path,
                )
            )
            continue
        begun = [starts[i] for i in running if i in starts]
        found.append(
            _Series(
                FLEET_CHECK,
                group,
                namespace,
                FLEET_DIMENSION,
                min(begun, key=lambda b: b.at, default=None),
                f"the CloudWatch agents of the fleet ({len(running)} running instances)",
                running[0],
                path,
            )
        )
    return found, rows


def check_agent_metrics(
    cw: CloudWatchClient,
    facts: StackFacts,
    states: Mapping[str, InstanceState],
    starts: Mapping[str, Start],
    now: datetime,
) -> list[CheckResult]:
    """Each running host's agent published both metrics in the last :data:`AGENT_WINDOW` (or, since the agent
    started, cannot have yet: ``starts``, by instance); each fleet's agents, the fleet's series (dimension
    ``AutoScalingGroupName`` only: the per-instance series are not published), since its first instance's agent
    started. Which instance of a fleet ships nothing shows in its docker-events row (the agent ships that file)."""
    series, rows = _series(facts, states, starts)
    if not series:
        return rows
    try:
        counts = _datapoints(cw, [(s.namespace, s.dimension, s.resource) for s in series], now)
    except (ClientError, BotoCoreError) as error:
        return rows + [
            dataclasses.replace(could_not_check(s.check, s.resource, error), host=s.host) for s in series
        ]
    minutes = int(AGENT_WINDOW.total_seconds() // 60)
    for index, one in enumerate(series):
        silent = [m for i, m in enumerate(AGENT_METRICS) if not counts.get(f"h{index}m{i}")]
        where = f"{one.namespace}" + (
            f" ({one.dimension}={one.resource})" if one.check == FLEET_CHECK else ""
        )
        start = one.start
        if silent and start is not None and now < agent_expected_by(start):
            detail = f"no {' or '.join(silent)} in {where} yet; waiting since {start.reason}"
            rows.append(
                dataclasses.replace(
                    pending_row(one.check, one.resource, detail, agent_expected_by(start)), host=one.host
                )
            )
            continue
        if not silent:
            rows.append(
                CheckResult(
                    one.check,
                    Status.PASS,
                    one.resource,
                    f"{' and '.join(AGENT_METRICS)} in {where} have datapoints in the last {minutes} min",
                    host=one.host,
                )
            )
            continue
        alarms = [
            a.name
            for a in facts.alarms
            if a.name
            and a.namespace == one.namespace
            and a.metric_name in silent
            and one.resource in (*a.instance_ids, *a.auto_scaling_groups)
        ]
        why = (
            f"so {', '.join(alarms)} {'shows' if len(alarms) == 1 else 'show'} INSUFFICIENT_DATA"
            if alarms
            else "so alarms on them show INSUFFICIENT_DATA"
        )
        if len(silent) == len(AGENT_METRICS):
            detail = (
                f"{one.who} {'are' if one.check == FLEET_CHECK else 'is'} not reporting: no "
                f"{' or '.join(silent)} in {where} in the last {minutes} min, {why}"
            )
        else:
            reporting = [m for m in AGENT_METRICS if m not in silent]
            detail = (
                f"{one.who} {'report' if one.check == FLEET_CHECK else 'reports'} {', '.join(reporting)} but "
                f"not {', '.join(silent)} in {where} (last {minutes} min), {why}"
            )
        rows.append(
            CheckResult(
                one.check,
                Status.FAIL,
                one.resource,
                detail,
                f"On the host (aws ssm start-session --target {one.target} --region {facts.region}): "
                f"sudo systemctl status amazon-cloudwatch-agent; sudo tail -n 50 {AGENT_LOG} (AccessDenied "
                "there means the role may not PutMetricData: see the role-permissions row). The agent is "
                "installed and started by the setup association: see the setup row"
                + (" of each instance." if one.check == FLEET_CHECK else "."),
                host=one.host,
            )
        )
    return rows
