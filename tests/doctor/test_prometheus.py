"""The ``prometheus-metrics`` row: the LLM cache counters the staging host's agent scrapes from the backend.

The agent writes one EMF event per label set and scrape to ``/ai-tutor/prometheus`` (stream ``backend``, the job),
and CloudWatch Logs extracts ``llm_cache_hits_total`` and ``llm_cache_misses_total`` (no dimensions) into
``AiTutor/Staging``. moto stores EMF events but does not extract metrics from them: a test publishes the agent's
events with ``put_log_events`` and, where CloudWatch would have extracted them, the datapoints with
``put_metric_data`` (:meth:`Deployment.put_prometheus_event`, :meth:`Deployment.put_prometheus_metrics`).

Every test here only reads the one healthy staging deployment this module shares (its own boto3 session).
moto cannot delete metric data, so each test that publishes runs the doctor at an hour of its own before the
deployment (``now``, :func:`hour`) and publishes in the minutes before it: no test sees another's datapoints or
events, nor the healthy deployment's (published a minute before it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constructs_obs.doctor import CheckResult, Report, Status
from constructs_obs.doctor.checks.prometheus import window
from constructs_obs.doctor.discovery import discover
from constructs_obs.doctor.facts import PrometheusJob
from constructs_obs.doctor.stack import load_stack
from tests.doctor.deployment import Deployment, HostInfo
from tests.doctor.helpers import MOTO_CFN_WARNINGS, record_calls, rows, runbook_permissions

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-prometheus")]

HOST = "AiTutorStaging/Host"
GROUP = "/ai-tutor/prometheus"
NAMESPACE = "AiTutor/Staging"
HITS, MISSES = "llm_cache_hits_total", "llm_cache_misses_total"
AGENT_LOG = "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log"


def hour(staging: Deployment, hours: int) -> datetime:
    """The doctor's ``now`` for a test of its own: ``hours`` before the deployment (see the module docstring)."""
    return staging.deployed_at - timedelta(hours=hours)


def prometheus_row(report: Report) -> CheckResult:
    [row] = rows(report, "prometheus-metrics")
    return row


def host_of(staging: Deployment) -> HostInfo:
    [host] = staging.hosts()
    return host


@pytest.mark.parametrize(("interval", "minutes"), [(10, 15), (120, 15), (200, 15), (210, 16), (240, 17)])
def test_the_window_holds_three_scrapes_and_five_minutes_at_least_15(interval: int, minutes: int) -> None:
    job = PrometheusJob(job_name="backend", url="", interval_seconds=interval, metrics=(HITS,))
    assert window(job) == timedelta(minutes=minutes)


def test_the_host_metadata_names_the_scrape_job(staging: Deployment) -> None:
    facts = discover(load_stack(staging.client("cloudformation"), staging.stack_name, staging.region))

    [host] = facts.hosts
    assert host.prometheus_group == "/ai-tutor/prometheus"
    assert host.prometheus_jobs == (
        PrometheusJob(
            job_name="backend",
            url="http://127.0.0.1:9898/metrics",
            interval_seconds=120,
            metrics=(HITS, MISSES),
            dimensions=(),
        ),
    )


def test_cache_traffic_passes_with_the_totals(staging: Deployment) -> None:
    # The healthy deployment: the last scrape counted 12 hits and 4 misses.
    assert prometheus_row(staging.doctor()) == CheckResult(
        "prometheus-metrics",
        Status.PASS,
        "job backend",
        f"{HITS} 12, {MISSES} 4 in the last 15 min ({NAMESPACE}, scraped from http://127.0.0.1:9898/metrics)",
        host=HOST,
    )


def test_the_totals_add_up_every_scrape_in_the_window(staging: Deployment) -> None:
    host, now = host_of(staging), hour(staging, 1)
    # Three scrapes 2 minutes apart (the job's interval), and one 20 minutes ago: outside the 15-minute window.
    for minutes, hits, misses in ((20, 100, 100), (5, 3, 1), (3, 0, 2), (1, 4, 0)):
        at = now - timedelta(minutes=minutes)
        staging.put_prometheus_event(host, {HITS: hits, MISSES: misses}, at)
        staging.put_prometheus_metrics(host, {HITS: hits, MISSES: misses}, at)

    row = prometheus_row(staging.doctor(now=now))

    assert (row.status, row.detail.split(" (")[0]) == (
        Status.PASS,
        f"{HITS} 7, {MISSES} 3 in the last 15 min",
    )


def test_the_scrape_works_but_the_backend_served_no_cache_lookups(staging: Deployment) -> None:
    host, now = host_of(staging), hour(staging, 2)
    for minutes in (5, 3, 1):  # the agent writes every counter's increase, also when it is 0
        staging.put_prometheus_event(host, {HITS: 0, MISSES: 0}, now - timedelta(minutes=minutes))
        staging.put_prometheus_metrics(host, {HITS: 0, MISSES: 0}, now - timedelta(minutes=minutes))

    row = prometheus_row(staging.doctor(now=now))

    assert (row.status, row.resource, row.host) == (Status.WARN, "job backend", HOST)
    assert row.detail == (
        f"the scrape works ({HITS} and {MISSES} have datapoints in {NAMESPACE}, all 0): the backend served no "
        "cache lookups in the last 15 min"
    )
    assert row.next_step.startswith("Nothing to fix if the backend had no requests")


def test_no_datapoints_and_no_events_is_a_warning_that_names_both_causes(staging: Deployment) -> None:
    host, now = host_of(staging), hour(staging, 3)

    row = prometheus_row(staging.doctor(now=now))

    assert (row.status, row.resource, row.host) == (Status.WARN, "job backend", HOST)
    assert row.detail == (
        f"no datapoints of {HITS} or {MISSES} in {NAMESPACE} and no events in {GROUP} (stream backend) in the "
        "last 15 min: no cache traffic since the backend started, or the scrape is not running"
    )
    assert row.next_step.startswith(
        f"On the host (aws ssm start-session --target {host.instance_id} --region us-east-2): "
        "curl -s http://127.0.0.1:9898/metrics | grep '^llm_cache_' "
    )
    assert f"sudo tail -n 50 {AGENT_LOG}" in row.next_step
    assert "the setup row" in row.next_step


def test_events_without_datapoints_fail_emf_extraction(staging: Deployment) -> None:
    host, now = host_of(staging), hour(staging, 4)
    staging.put_prometheus_event(host, {HITS: 5, MISSES: 1}, now - timedelta(minutes=3))
    staging.put_prometheus_event(host, {HITS: 2, MISSES: 0}, now - timedelta(minutes=1))
    # CloudWatch Logs' own count of the events it could not turn into metrics (dimension LogGroupName).
    staging.client("cloudwatch").put_metric_data(
        Namespace="AWS/Logs",
        MetricData=[
            {
                "MetricName": "EMFValidationErrors",
                "Dimensions": [{"Name": "LogGroupName", "Value": GROUP}],
                "Value": 2.0,
                "Timestamp": now - timedelta(minutes=1),
            }
        ],
    )

    row = prometheus_row(staging.doctor(now=now))

    assert (row.status, row.resource, row.host) == (Status.FAIL, "job backend", HOST)
    assert row.detail == (
        f"the agent's events reach {GROUP} (stream backend) in the last 15 min, but {HITS} and {MISSES} have no "
        f"datapoints in {NAMESPACE}: CloudWatch does not extract the metrics from them (EMF); CloudWatch Logs "
        "counted 2 EMFValidationErrors in the group"
    )
    assert (
        "aws cloudwatch get-metric-statistics --namespace AWS/Logs --metric-name EMFValidationErrors "
        f"--dimensions Name=LogGroupName,Value={GROUP} "
    ) in row.next_step
    assert "EMFParsingErrors" in row.next_step
    assert "emf_processor" in row.next_step
    assert f'metric_namespace "{NAMESPACE}"' in row.next_step


@pytest.mark.parametrize(
    ("hours", "message", "found"),
    [
        (5, "INFO served /api/v1/lessons", "its events are not EMF (not a JSON object)"),
        (
            6,
            '{"job": "backend", "llm_cache_hits_total": 3}',
            "its events declare no metrics (no CloudWatchMetrics)",
        ),
        (
            7,
            '{"job": "backend", "CloudWatchMetrics": [{"Namespace": "AiTutor/Old", "Dimensions": [[]], '
            '"Metrics": [{"Name": "llm_cache_hits_total"}, {"Name": "llm_cache_misses_total"}]}], '
            '"llm_cache_hits_total": 3, "llm_cache_misses_total": 1}',
            f"its events declare their metrics in AiTutor/Old, not {NAMESPACE}",
        ),
        (
            8,
            '{"job": "backend", "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "AiTutor/Staging", '
            '"Dimensions": [[]], "Metrics": [{"Name": "llm_cache_hits_total"}]}]}, "llm_cache_hits_total": 3}',
            f"its events declare {HITS} but not {MISSES}",
        ),
    ],
    ids=["not-json", "no-declaration", "another-namespace", "a-metric-missing"],
)
def test_events_without_datapoints_say_what_they_declare(
    staging: Deployment, hours: int, message: str, found: str
) -> None:
    now = hour(staging, hours)
    staging.put_log_event(GROUP, message, now - timedelta(minutes=2), stream="backend")

    row = prometheus_row(staging.doctor(now=now))

    assert row.status is Status.FAIL
    assert row.detail.endswith(f"CloudWatch does not extract the metrics from them (EMF); {found}")


def test_events_of_another_stream_do_not_count(staging: Deployment) -> None:
    now = hour(staging, 9)
    # A stream whose name only starts with the job's (another job, "backend-canary").
    staging.put_log_event(
        GROUP, '{"job": "backend-canary"}', now - timedelta(minutes=2), stream="backend-canary"
    )

    assert prometheus_row(staging.doctor(now=now)).status is Status.WARN


def _refuse(staging: Deployment, operation: str) -> None:
    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to perform {operation}"}},
            operation,
        )

    service = "cloudwatch" if operation.startswith("cloudwatch") else "logs"
    staging.session.events.register(f"before-call.{service}.{operation.split(':')[1]}", deny)


def test_a_refused_metrics_read_is_an_unknown_row(staging: Deployment) -> None:
    _refuse(staging, "cloudwatch:GetMetricData")

    row = prometheus_row(staging.doctor())

    assert (row.status, row.resource, row.host, row.detail) == (
        Status.UNKNOWN,
        "job backend",
        HOST,
        "could not check: AccessDeniedException: not authorized to perform cloudwatch:GetMetricData",
    )


def test_a_refused_events_read_is_an_unknown_row(staging: Deployment) -> None:
    # No datapoints at this hour, so the doctor reads the job's stream, and may not.
    _refuse(staging, "logs:FilterLogEvents")

    row = prometheus_row(staging.doctor(now=hour(staging, 10)))

    assert (row.status, row.detail) == (
        Status.UNKNOWN,
        "could not check: AccessDeniedException: not authorized to perform logs:FilterLogEvents",
    )


def test_the_calls_are_reads_the_runbook_allows(staging: Deployment) -> None:
    calls = record_calls(staging.session)

    staging.doctor(now=hour(staging, 11))  # no datapoints: the stream is read too

    assert {"cloudwatch:GetMetricData", "logs:FilterLogEvents"} <= calls
    assert calls <= runbook_permissions()
