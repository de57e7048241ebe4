"""The CloudWatch agent reports: each host's ``mem_used_percent`` and root ``disk_used_percent`` have datapoints.

One ``cloudwatch:GetMetricData`` call (per 250 hosts) asks for the sample count of both metrics, dimension
``InstanceId``, in each host's namespace, over the last :data:`AGENT_WINDOW`: the agent publishes every minute,
so a running agent leaves several datapoints there. Without them the memory and disk alarms show
INSUFFICIENT_DATA, and nothing says why. Until the agent's first datapoints can be there (after the host's setup
started it: :func:`~constructs_obs.doctor.windows.agent_expected_by`), their absence is ``PENDING``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

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

#: GetMetricData takes at most 500 queries per call.
_MAX_QUERIES = 500


def _queries(hosts: Sequence[Host]) -> list[dict[str, Any]]:
    return [
        {
            "Id": f"h{index}m{metric_index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": host.metrics_namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "InstanceId", "Value": host.instance_id}],
                },
                "Period": 60,
                "Stat": "SampleCount",
            },
            "ReturnData": True,
        }
        for index, host in enumerate(hosts)
        for metric_index, metric in enumerate(AGENT_METRICS)
    ]


def _datapoints(cw: CloudWatchClient, hosts: Sequence[Host], now: datetime) -> dict[str, int]:
    """Query id -> how many datapoints it has in the window."""
    counts: dict[str, int] = {}
    queries = _queries(hosts)
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


def check_agent_metrics(
    cw: CloudWatchClient,
    facts: StackFacts,
    states: Mapping[str, InstanceState],
    starts: Mapping[str, Start],
    now: datetime,
) -> list[CheckResult]:
    """Each running host's agent published both metrics in the last :data:`AGENT_WINDOW` (or, since the agent
    started, cannot have yet: ``starts``, by instance)."""
    rows: list[CheckResult] = []
    hosts = []
    for host in facts.hosts:
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
        hosts.append(host)
    if not hosts:
        return rows
    try:
        counts = _datapoints(cw, hosts, now)
    except (ClientError, BotoCoreError) as error:
        return rows + [could_not_check("agent-metrics", str(h.instance_id), error) for h in hosts]
    minutes = int(AGENT_WINDOW.total_seconds() // 60)
    for index, host in enumerate(hosts):
        silent = [m for i, m in enumerate(AGENT_METRICS) if not counts.get(f"h{index}m{i}")]
        namespace = host.metrics_namespace
        start = starts.get(str(host.instance_id))
        if silent and start is not None and now < agent_expected_by(start):
            detail = f"no {' or '.join(silent)} in {namespace} yet; waiting since {start.reason}"
            rows.append(pending_row("agent-metrics", str(host.instance_id), detail, agent_expected_by(start)))
            continue
        if not silent:
            rows.append(
                CheckResult(
                    "agent-metrics",
                    Status.PASS,
                    str(host.instance_id),
                    f"{' and '.join(AGENT_METRICS)} in {namespace} have datapoints in the last {minutes} min",
                )
            )
            continue
        alarms = [
            a.name
            for a in facts.alarms
            if a.name
            and a.namespace == namespace
            and a.metric_name in silent
            and host.instance_id in a.instance_ids
        ]
        why = (
            f"so {', '.join(alarms)} {'shows' if len(alarms) == 1 else 'show'} INSUFFICIENT_DATA"
            if alarms
            else "so alarms on them show INSUFFICIENT_DATA"
        )
        if len(silent) == len(AGENT_METRICS):
            detail = (
                f"the CloudWatch agent on {host.instance_id} is not reporting: no {' or '.join(silent)} in "
                f"{namespace} in the last {minutes} min, {why}"
            )
        else:
            reporting = [m for m in AGENT_METRICS if m not in silent]
            detail = (
                f"the CloudWatch agent on {host.instance_id} reports {', '.join(reporting)} but not "
                f"{', '.join(silent)} in {namespace} (last {minutes} min), {why}"
            )
        rows.append(
            CheckResult(
                "agent-metrics",
                Status.FAIL,
                str(host.instance_id),
                detail,
                f"On the host (aws ssm start-session --target {host.instance_id} --region {facts.region}): "
                f"sudo systemctl status amazon-cloudwatch-agent; sudo tail -n 50 {AGENT_LOG} (AccessDenied "
                "there means the role may not PutMetricData: see the role-permissions row). The agent is "
                "installed and started by the setup association: see the setup row.",
            )
        )
    return rows
