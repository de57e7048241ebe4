"""The Prometheus metrics a host's CloudWatch agent scrapes reach CloudWatch: one row per host and scrape job.

How they travel (:mod:`constructs_obs.host.prometheus`): the agent scrapes the job's endpoint every ``IntervalSeconds``
and writes one EMF event per label set and scrape to the host's Prometheus log group, in a stream named after the
job, holding each selected counter's increase since the previous scrape (also when it is 0); CloudWatch Logs
extracts one metric per selected name into the host's namespace, with exactly the job's dimensions (none by
default: one metric per name).

Over the window :func:`window` (three scrapes and five minutes, at least 15 minutes) the row reads:

1. ``cloudwatch:GetMetricData``, one call per job: the ``Sum`` and ``SampleCount`` of each metric, the period the
   whole window, with no dimension, or for a job with dimensions, for each series ``cloudwatch:ListMetrics`` finds
   with exactly those dimension names; and the group's ``AWS/Logs`` ``EMFValidationErrors`` and
   ``EMFParsingErrors`` (CloudWatch Logs' count of events it could not turn into metrics).
2. Only when no metric has a datapoint: ``logs:FilterLogEvents`` (a few events) for the job's stream.

- PASS: some metric's ``Sum`` is above 0: the backend counted, and the counts reached CloudWatch.
- WARN: datapoints, all 0: the scrape works, the backend counted nothing (no traffic).
- WARN: no datapoints and no events: ambiguous. A labelled counter has no sample before it first counts, so a
  backend that has served no cache lookup since it started exposes nothing to write, as a scrape that does not
  run writes nothing.
- FAIL: events but no datapoints: CloudWatch does not extract the metrics (the newest event read is checked for
  what it declares); or the log group does not exist.
- PENDING: no datapoints yet while the first can still come: one scrape interval after the host's setup started
  the agent, plus its flush and CloudWatch's delay for a new metric
  (:func:`~constructs_obs.doctor.windows.scrape_expected_by`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import AGENT_LIVE_CONFIG_PATH, PROMETHEUS_CONFIG_PATH
from constructs_obs.doctor.facts import (
    AGENT_LOG,
    Host,
    InstanceState,
    PrometheusJob,
    StackFacts,
    could_not_check,
    error_code,
)
from constructs_obs.doctor.fleets import one_per_fleet
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import Start, pending_row, scrape_expected_by

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_logs import CloudWatchLogsClient

CHECK = "prometheus-metrics"

#: The window is at least this long, and holds :data:`SCRAPES_IN_WINDOW` scrapes plus :data:`EXTRACTION_SLACK`.
MIN_WINDOW = timedelta(minutes=15)
SCRAPES_IN_WINDOW = 3
#: Room for a late scrape and for CloudWatch Logs to extract the metrics.
EXTRACTION_SLACK = timedelta(minutes=5)

#: CloudWatch Logs' metrics of the EMF events it could not turn into metrics (namespace ``AWS/Logs``, dimension
#: ``LogGroupName``).
EMF_ERROR_METRICS: tuple[str, ...] = ("EMFValidationErrors", "EMFParsingErrors")

#: Events asked for per ``FilterLogEvents`` page, and pages read at most (an empty page may carry a token).
_EVENTS_LIMIT = 5
_MAX_PAGES = 5
#: GetMetricData takes at most 500 queries per call.
_MAX_QUERIES = 500


def window(job: PrometheusJob) -> timedelta:
    """``max(3 x interval + 5 min, 15 min)``, in whole minutes (a metric period is a multiple of 60 seconds)."""
    seconds = max(
        SCRAPES_IN_WINDOW * job.interval_seconds + EXTRACTION_SLACK.total_seconds(),
        MIN_WINDOW.total_seconds(),
    )
    return timedelta(minutes=math.ceil(seconds / 60))


@dataclass
class Datapoints:
    """What GetMetricData said about one job over the window.

    Attributes:
        sums: metric name -> the ``Sum`` over the window, for the metrics with datapoints.
        samples: metric name -> the ``SampleCount`` over the window (how many values CloudWatch received).
        series: the distinct dimension value sets with datapoints (a job with dimensions).
        emf_errors: ``EMFValidationErrors``/``EMFParsingErrors`` -> the group's count, when above 0.
    """

    sums: dict[str, float] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)
    series: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    emf_errors: dict[str, float] = field(default_factory=dict)


def _series(
    cw: CloudWatchClient, namespace: str, job: PrometheusJob
) -> dict[str, list[list[dict[str, str]]]]:
    """Metric name -> the dimension lists of its series: ``[[]]`` without dimensions, else those ListMetrics
    finds with exactly the job's dimension names."""
    if not job.dimensions:
        return {metric: [[]] for metric in job.metrics}
    wanted = sorted(job.dimensions)
    found: dict[str, list[list[dict[str, str]]]] = {}
    for metric in job.metrics:
        found[metric] = []
        pages = cw.get_paginator("list_metrics").paginate(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": name} for name in job.dimensions],
            RecentlyActive="PT3H",
        )
        for page in pages:
            for listed in page.get("Metrics", []):
                dimensions = [{"Name": d["Name"], "Value": d["Value"]} for d in listed.get("Dimensions", [])]
                if sorted(d["Name"] for d in dimensions) == wanted and dimensions not in found[metric]:
                    found[metric].append(dimensions)
    return found


def _metric_query(query_id: str, namespace: str, metric: str, dimensions: Any, period: int, stat: str) -> Any:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _values(cw: CloudWatchClient, queries: Sequence[Any], start: datetime, end: datetime) -> dict[str, float]:
    """Query id -> the total of its values, for the queries with any."""
    totals: dict[str, float] = {}
    for first in range(0, len(queries), _MAX_QUERIES):
        kwargs: dict[str, Any] = {
            "MetricDataQueries": list(queries[first : first + _MAX_QUERIES]),
            "StartTime": start,
            "EndTime": end,
        }
        while True:
            page = cw.get_metric_data(**kwargs)
            for result in page.get("MetricDataResults", []):
                values = [float(v) for v in result.get("Values", [])]
                if values:
                    totals[result["Id"]] = totals.get(result["Id"], 0.0) + sum(values)
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return totals


def read_datapoints(
    cw: CloudWatchClient, host: Host, job: PrometheusJob, start: datetime, end: datetime
) -> Datapoints:
    """The job's metrics and its group's EMF errors over ``start``-``end`` (one period)."""
    namespace = str(host.metrics_namespace)
    period = int((end - start).total_seconds())
    queries: list[Any] = []
    meaning: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {}
    for m, (metric, series) in enumerate(_series(cw, namespace, job).items()):
        for s, dimensions in enumerate(series):
            key = tuple(sorted((d["Name"], d["Value"]) for d in dimensions))
            for stat in ("Sum", "SampleCount"):
                query_id = f"m{m}s{s}{stat.lower()}"
                queries.append(_metric_query(query_id, namespace, metric, dimensions, period, stat))
                meaning[query_id] = (stat, metric, key)
    if host.prometheus_group:
        group = [{"Name": "LogGroupName", "Value": host.prometheus_group}]
        for e, metric in enumerate(EMF_ERROR_METRICS):
            queries.append(_metric_query(f"emf{e}", "AWS/Logs", metric, group, period, "Sum"))
            meaning[f"emf{e}"] = ("EMF", metric, ())
    found = Datapoints()
    for query_id, total in _values(cw, queries, start, end).items():
        stat, metric, key = meaning[query_id]
        if stat == "EMF":
            if total > 0:
                found.emf_errors[metric] = total
            continue
        target = found.sums if stat == "Sum" else found.samples
        target[metric] = target.get(metric, 0.0) + total
        if key:
            found.series.add(key)
    return found


def stream_events(
    logs: CloudWatchLogsClient, group: str, job: PrometheusJob, start: datetime, end: datetime
) -> list[str]:
    """A few messages of the job's stream (exactly that stream) in the window; ``[]`` when it has none.

    ``logStreamNamePrefix`` rather than ``logStreamNames``: FilterLogEvents refuses a stream name that does not
    exist (``ResourceNotFoundException``, as for a missing group), and a missing stream is an answer here.
    """
    kwargs: dict[str, Any] = {
        "logGroupName": group,
        "logStreamNamePrefix": job.job_name,
        "startTime": int(start.timestamp() * 1000),
        "endTime": int(end.timestamp() * 1000),
        "limit": _EVENTS_LIMIT,
    }
    messages: list[str] = []
    for _ in range(_MAX_PAGES):
        page = logs.filter_log_events(**kwargs)
        messages += [
            str(e.get("message", ""))
            for e in page.get("events", [])
            if e.get("logStreamName") == job.job_name
        ]
        token = page.get("nextToken")
        if messages or not token:
            break
        kwargs["nextToken"] = token
    return messages


def _declarations(document: Mapping[str, Any]) -> list[Any]:
    """The metric directives of an EMF event: ``_aws.CloudWatchMetrics`` (the specification), or the top-level
    ``CloudWatchMetrics`` the agent's exporter writes (its default ``Version`` 0)."""
    meta = document.get("_aws")
    directives = meta.get("CloudWatchMetrics") if isinstance(meta, Mapping) else None
    directives = directives if directives is not None else document.get("CloudWatchMetrics")
    return [d for d in directives if isinstance(d, Mapping)] if isinstance(directives, list) else []


def what_the_events_declare(message: str, namespace: str, job: PrometheusJob) -> str | None:
    """Why CloudWatch would extract no metric of ``job`` into ``namespace`` from this event, or None when it
    declares them as the job says."""
    try:
        document = json.loads(message)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return "its events are not EMF (not a JSON object)"
    directives = _declarations(document)
    if not directives:
        return "its events declare no metrics (no CloudWatchMetrics)"
    ours = [d for d in directives if d.get("Namespace") == namespace]
    if not ours:
        others = sorted({str(d.get("Namespace")) for d in directives})
        return f"its events declare their metrics in {', '.join(others)}, not {namespace}"
    names = {m.get("Name") for d in ours for m in d.get("Metrics") or [] if isinstance(m, Mapping)}
    declared = [m for m in job.metrics if m in names]
    missing = [m for m in job.metrics if m not in names]
    if missing:
        if not declared:
            return f"its events declare none of {', '.join(job.metrics)} in {namespace}"
        return f"its events declare {_and(declared)} but not {_and(missing)}"
    sets = [sorted(s) for d in ours for s in d.get("Dimensions") or [] if isinstance(s, list)]
    if sorted(job.dimensions) not in sets:
        return f"its events declare the dimension sets {sets}, not {sorted(job.dimensions)}"
    unset = [m for m in job.metrics if not isinstance(document.get(m), (int, float))]
    if unset:
        return f"its events carry no numeric value for {_and(unset)}"
    return None


def _and(items: Sequence[str]) -> str:
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _is_cache(job: PrometheusJob) -> bool:
    return all("cache" in metric for metric in job.metrics)


def _grep(job: PrometheusJob) -> str:
    """``grep '^cache_'`` for ``cache_hits_total`` and ``cache_misses_total``: the metrics' common prefix, else the
    names."""
    prefix = job.metrics[0]
    for metric in job.metrics[1:]:
        while not metric.startswith(prefix):
            prefix = prefix[:-1]
    return f"grep '^{prefix}'" if prefix else f"grep -E '^({'|'.join(job.metrics)})'"


def _on_host(host: Host, region: str) -> str:
    if not host.instance_id:
        return "On the host"
    return f"On the host (aws ssm start-session --target {host.instance_id} --region {region})"


def _row(status: Status, job: PrometheusJob, host: Host, detail: str, next_step: str = "") -> CheckResult:
    return CheckResult(CHECK, status, f"job {job.job_name}", detail, next_step, host=host.path)


def _judge(
    host: Host,
    job: PrometheusJob,
    found: Datapoints,
    events: list[str] | None,
    start: datetime,
    now: datetime,
    region: str,
    waiting: Start | None = None,
) -> CheckResult:
    """The row, from the datapoints and (when there are none) the stream's events; ``PENDING`` without
    datapoints until the first can be there, counted from ``waiting`` (when the agent started)."""
    namespace, group = str(host.metrics_namespace), host.prometheus_group or "(no log group)"
    minutes = int((now - start).total_seconds() // 60)
    with_data = [m for m in job.metrics if found.samples.get(m)]
    expected_by = scrape_expected_by(waiting, job.interval_seconds) if waiting else None
    if not with_data and waiting is not None and expected_by is not None and now < expected_by:
        seen = f"the agent's events reach {group}, but " if events else ""
        detail = f"{seen}no datapoints of {_and(list(job.metrics))} in {namespace} yet; waiting since {waiting.reason}"
        return _with_host(pending_row(CHECK, f"job {job.job_name}", detail, expected_by), host)
    if any(found.sums.get(m, 0) > 0 for m in job.metrics):
        totals = ", ".join(
            f"{m} {_number(found.sums[m])}" if m in with_data else f"{m} (no datapoints)" for m in job.metrics
        )
        where = namespace
        if job.dimensions:
            names = ", ".join(job.dimensions)
            where += (
                f", dimension{'s' if len(job.dimensions) > 1 else ''} {names}: {len(found.series)} series"
            )
        source = f", scraped from {job.url}" if job.url else ""
        return _row(Status.PASS, job, host, f"{totals} in the last {minutes} min ({where}{source})")
    who = f"the {job.job_name}"
    if with_data:
        counted = "served no cache lookups" if _is_cache(job) else "counted nothing"
        return _row(
            Status.WARN,
            job,
            host,
            f"the scrape works ({_and(with_data)} {'has' if len(with_data) == 1 else 'have'} datapoints in "
            f"{namespace}, all 0): {who} {counted} in the last {minutes} min",
            f"Nothing to fix if {who} had no requests: send it one that "
            f"{'looks up its cache' if _is_cache(job) else 'these counters count'} and run obs-doctor again; "
            f"the increase reaches {namespace} within a scrape or two (every {job.interval_seconds} s).",
        )
    metrics = " or ".join(job.metrics) if len(job.metrics) < 3 else ", ".join(job.metrics)
    if not events:
        traffic = "cache traffic" if _is_cache(job) else "traffic"
        url = job.url or "the endpoint"
        return _row(
            Status.WARN,
            job,
            host,
            f"no datapoints of {metrics} in {namespace} and no events in {group} (stream {job.job_name}) in the "
            f"last {minutes} min: no {traffic} since {who} started, or the scrape is not running",
            f"{_on_host(host, region)}: curl -s {url} | {_grep(job)} (lines there: {who} counts, and the agent "
            f"does not scrape or ship them; no lines: nothing counted since {who} started, a labelled counter "
            f"appears with its first count; no answer: nothing listens at {url}); sudo tail -n 50 {AGENT_LOG} "
            f"(the agent's scrape and EMF errors); sudo cat {PROMETHEUS_CONFIG_PATH} (the scrape configuration). "
            "The setup association installs the agent's configuration: see the setup row.",
        )
    finding = what_the_events_declare(events[-1], namespace, job)
    errors = ", ".join(f"{_number(count)} {name}" for name, count in found.emf_errors.items())
    counted_errors = f"CloudWatch Logs counted {errors} in the group" if errors else None
    if finding is None and counted_errors is None:
        finding = (
            f"they declare the metrics in {namespace} as the job says and CloudWatch Logs counted no EMF errors "
            "in the group: if the agent has only just started, run obs-doctor again in a few minutes"
        )
    because = "; ".join(part for part in (finding, counted_errors) if part)
    selectors = ", ".join(f'"^{m}$"' for m in job.metrics)
    dimensions = ", ".join(f'"{d}"' for d in job.dimensions)
    return _row(
        Status.FAIL,
        job,
        host,
        f"the agent's events reach {group} (stream {job.job_name}) in the last {minutes} min, but "
        f"{_and(list(job.metrics))} have no datapoints in {namespace}: CloudWatch does not extract the metrics "
        f"from them (EMF); {because}",
        "CloudWatch Logs counts the events it cannot turn into metrics: aws cloudwatch get-metric-statistics "
        f"--namespace AWS/Logs --metric-name EMFValidationErrors --dimensions Name=LogGroupName,Value={group} "
        f"--statistics Sum --period 3600 --start-time {_iso(now - timedelta(hours=3))} --end-time {_iso(now)} "
        f"--region {region} (and EMFParsingErrors). Compare the agent's emf_processor (logs.metrics_collected."
        f"prometheus in {AGENT_LIVE_CONFIG_PATH} on the host, the agent's live configuration) with the job: metric_namespace "
        f'"{namespace}", a metric_declaration with source_labels ["job"], label_matcher "^{job.job_name}$", '
        f"metric_selectors [{selectors}], dimensions [[{dimensions}]]; {AGENT_LOG} shows the agent's EMF errors. "
        "The setup association writes that configuration: see the setup row.",
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_job(
    cw: CloudWatchClient,
    logs: CloudWatchLogsClient,
    facts: StackFacts,
    host: Host,
    job: PrometheusJob,
    now: datetime,
    waiting: Start | None,
) -> CheckResult:
    start = now - window(job)
    events: list[str] | None = None
    try:
        found = read_datapoints(cw, host, job, start, now)
        if not found.samples and host.prometheus_group:
            try:
                events = stream_events(logs, host.prometheus_group, job, start, now)
            except ClientError as error:
                if error_code(error) != "ResourceNotFoundException":
                    raise
                return _row(
                    Status.FAIL,
                    job,
                    host,
                    f"{host.prometheus_group} does not exist: the agent cannot write the scraped metrics, so "
                    f"{_and(list(job.metrics))} never reach {host.metrics_namespace}",
                    "See the log-group row of that group: the stack creates it, the agent's EMF exporter does not.",
                )
    except (ClientError, BotoCoreError) as error:
        return _with_host(could_not_check(CHECK, f"job {job.job_name}", error), host)
    return _judge(host, job, found, events, start, now, facts.region, waiting)


def _with_host(row: CheckResult, host: Host) -> CheckResult:
    return dataclasses.replace(row, host=host.path)


def check_prometheus_metrics(
    cw: CloudWatchClient,
    logs: CloudWatchLogsClient,
    facts: StackFacts,
    states: Mapping[str, InstanceState],
    starts: Mapping[str, Start],
    now: datetime,
) -> list[CheckResult]:
    """One row per running host and scrape job (none for a host without a ``Prometheus`` block); ``starts``:
    when each instance's agent started."""
    rows: list[CheckResult] = []
    for host in one_per_fleet(facts.hosts):  # a fleet's series are its own, not its instances'
        if not host.prometheus_jobs or not host.metrics_namespace:
            continue
        state = states.get(host.instance_id or "")
        for job in host.prometheus_jobs:
            if state is not None and not state.running:
                rows.append(
                    _row(
                        Status.WARN,
                        job,
                        host,
                        f"not checked: the instance is {state.state}, so its agent cannot scrape",
                        "Start the instance, then run obs-doctor again.",
                    )
                )
                continue
            rows.append(_check_job(cw, logs, facts, host, job, now, starts.get(host.instance_id or "")))
    return rows
