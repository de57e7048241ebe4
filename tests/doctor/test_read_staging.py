"""The doctor on one healthy staging deployment, shared by every test of this module: none of them changes it.

Tests that only register botocore event handlers (a refused call, a pending confirmation) do so on their own
session (the ``staging`` fixture), so nothing leaks into the next test.
"""

from __future__ import annotations

import json
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from botocore.exceptions import ClientError

from constructs_obs.doctor import CheckResult, Status
from constructs_obs.doctor.cli import main
from constructs_obs.doctor.text import render
from tests.doctor.deployment import Deployment
from tests.doctor.helpers import (
    MOTO_CFN_WARNINGS,
    problems,
    record_calls,
    rows,
    runbook_permissions,
    summary_of,
)

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-read-staging")]

CPU = "ai-tutor-staging-cpu-high"
STATUS_CHECK = "ai-tutor-staging-status-check"
HOST = "AiTutorStaging/Host"
ARGS = ["--stack", "AiTutorStaging", "--region", "us-east-2"]

#: The staging stack's container log groups (the ones containers ship to, so recent events are expected).
CONTAINER_GROUPS = ["/ai-tutor/backend", "/ai-tutor/frontend", "/ai-tutor/nginx"]


def test_healthy_deployment_passes_every_check(staging: Deployment) -> None:
    report = staging.doctor()

    assert problems(report) == []
    assert report.exit_code == 0
    assert report.stack_id and report.stack_id.startswith("arn:aws:cloudformation:us-east-2:")
    # Every log group and alarm of the stack is found from the stack itself, whatever their logical ids.
    assert staging.log_groups[:4] == [*CONTAINER_GROUPS, "/ai-tutor/docker-events"]
    assert [r.resource for r in rows(report, "log-group")] == staging.log_groups
    assert [r.resource for r in rows(report, "log-events")] == [
        "/ai-tutor/backend",
        "/ai-tutor/frontend",
        "/ai-tutor/nginx",
    ]
    assert {CPU, STATUS_CHECK} <= set(staging.alarm_names)
    for check in ("alarm", "alarm-state", "alarm-history"):
        # In the order moto lists the stack's resources (it creates a DependsOn list's resources first).
        assert sorted(r.resource for r in rows(report, check)) == sorted(staging.alarm_names)
    instance = staging.instance_id
    assert rows(report, "stack") == [CheckResult("stack", Status.PASS, "AiTutorStaging", "CREATE_COMPLETE")]
    assert rows(report, "instance") == [
        CheckResult("instance", Status.PASS, instance, "running (t3.small)", host=HOST)
    ]
    [profile] = rows(report, "instance-profile")
    assert profile.detail.startswith("AiTutorStaging-HostInstanceInstanceProfile")
    assert rows(report, "log-group")[0].detail == "exists, events expire after 30 days"
    assert rows(report, "log-events")[0].detail == "events in the last 60 min"
    topic = staging.topic_arn.rsplit(":", 1)[-1]
    # ALARM only: the recovery rule emails the way back to OK.
    assert rows(report, "alarm")[0].detail == f"exists, notifies {topic} on ALARM"
    # Every alarm with an InstanceId dimension (the agent's memory and disk alarms too) watches this instance.
    assert {r.resource: r.detail for r in rows(report, "alarm-instance")} == {
        CPU: f"watches {instance}",
        STATUS_CHECK: f"watches {instance}",
        "ai-tutor-staging-memory-high": f"watches {instance}",
        "ai-tutor-staging-disk-high": f"watches {instance}",
    }
    assert rows(report, "alarm-state")[0].detail.startswith("OK since ")
    assert rows(report, "subscriptions") == [
        CheckResult("subscriptions", Status.PASS, topic, "1 confirmed email subscription: ops@example.com")
    ]
    assert rows(report, "logging-region") == [
        CheckResult(
            "logging-region",
            Status.PASS,
            "ComposeLogging",
            "3 services log to the stack's groups in us-east-2: backend, frontend, nginx",
        )
    ]
    # The alert path as AWS runs it.
    assert rows(report, "topic-policy") == [
        CheckResult(
            "topic-policy",
            Status.PASS,
            topic,
            f"cloudwatch.amazonaws.com may publish for all {len(staging.alarm_names)} alarms (allowed by "
            "CloudWatchAlarmsPublish)",
        )
    ]
    assert rows(report, "topic-key") == []  # the staging topic is not encrypted
    assert rows(report, "alarm-history")[0].detail == "no failed action in the last 7 days (0 actions)"
    assert rows(report, "agent-metrics") == [
        CheckResult(
            "agent-metrics",
            Status.PASS,
            instance,
            "mem_used_percent and disk_used_percent in AiTutor/Staging have datapoints in the last 15 min",
            host=HOST,
        )
    ]
    assert rows(report, "prometheus-metrics") == [
        CheckResult(
            "prometheus-metrics",
            Status.PASS,
            "job backend",
            "llm_cache_hits_total 12, llm_cache_misses_total 4 in the last 15 min (AiTutor/Staging, scraped from "
            "http://127.0.0.1:9898/metrics)",
            host=HOST,
        )
    ]
    [events] = rows(report, "docker-events")
    assert events.detail.startswith("the docker-events service started ")
    assert "(its start line is in /ai-tutor/docker-events)" in events.detail
    assert {r.resource: r.detail.split(" (tested with")[0] for r in rows(report, "log-format")} == {
        "/ai-tutor/nginx": "1 of 1 recent lines in /ai-tutor/nginx have the format the ai-tutor-staging-nginx-5xx "
        "filter reads",
        "/ai-tutor/docker-events": "1 of 1 recent lines in /ai-tutor/docker-events have the format the "
        "ai-tutor-staging-container-crash filter reads",
        "/ai-tutor/backend": "the ai-tutor-staging-backend-errors filter selects lines by their content (a term or "
        "regular-expression pattern), not by a layout: no format to check",
    }
    [setup] = rows(report, "setup")
    assert setup.detail.startswith("setup association ") and " succeeded " in setup.detail
    [permissions] = rows(report, "role-permissions")
    assert permissions.resource == "ai-tutor-staging-ec2-role"
    assert permissions.detail.startswith("may logs:PutLogEvents on its ")
    assert permissions.detail.endswith(
        "log groups and cloudwatch:PutMetricData in AiTutor/Staging (IAM policy simulator)"
    )


def test_rows_are_grouped_by_host(staging: Deployment) -> None:
    report = staging.doctor()

    [(none, stack_rows), (host, host_rows)] = report.groups()
    assert (none, host) == (None, HOST)
    assert {r.check for r in stack_rows} == {"stack", "logging-region", "topic-policy", "subscriptions"}
    assert {
        "instance",
        "agent-metrics",
        "prometheus-metrics",
        "docker-events",
        "setup",
        "role-permissions",
        "log-format",
    } <= {r.check for r in host_rows}
    assert report.hosts == (
        {
            "host": HOST,
            "instance_id": staging.instance_id,
            "created_by_stack": True,
            "auto_scaling_group": None,
            "metrics_namespace": "AiTutor/Staging",
            "role_name": "ai-tutor-staging-ec2-role",
            "log_groups": report.hosts[0]["log_groups"],
        },
    )
    assert report.hosts[0]["log_groups"][:4] == [*CONTAINER_GROUPS, "/ai-tutor/docker-events"]
    table = render(report, verbose=True, width=200).splitlines()
    heading = table.index(f"host {HOST} ({staging.instance_id})")
    assert table[heading - 1] == ""
    assert table[heading + 1].split()[:3] == ["PASS", "instance", staging.instance_id]


def test_the_doctor_only_reads(staging: Deployment) -> None:
    calls = record_calls(staging.session)

    staging.doctor()

    assert calls == {
        "cloudformation:DescribeStacks",
        "cloudformation:ListStackResources",
        "cloudformation:GetTemplate",
        "ec2:DescribeInstances",
        "logs:DescribeLogGroups",
        "logs:FilterLogEvents",
        "logs:DescribeMetricFilters",
        "logs:DescribeLogStreams",
        "logs:GetLogEvents",
        "logs:TestMetricFilter",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DescribeAlarmHistory",
        "cloudwatch:GetMetricData",
        "sns:GetTopicAttributes",
        "sns:ListSubscriptionsByTopic",
        "ssm:DescribeInstanceAssociationsStatus",
        "ssm:DescribeAssociation",  # the setup check: the current version
        "iam:GetRole",
        "iam:SimulatePrincipalPolicy",
    }
    assert calls <= runbook_permissions()


def test_log_groups_without_recent_events(staging: Deployment) -> None:
    later = staging.deployed_at + timedelta(hours=3)
    calls = record_calls(staging.session)

    report = staging.doctor(now=later, recent_minutes=60)

    assert [(r.check, r.status, r.resource) for r in problems(report) if r.check == "log-events"] == [
        ("log-events", Status.FAIL, group) for group in CONTAINER_GROUPS
    ]
    detail = rows(report, "log-events")[0].detail
    assert detail.startswith(
        "CloudWatch Logs not appearing: no events in the last 60 min; the latest arrived "
    )
    assert detail.endswith("(3 h ago)")
    # Three hours on, the agent's datapoints are old too, and so are the backend's cache counts (a warning: no
    # traffic, or no scrape).
    assert {r.check for r in problems(report)} == {"log-events", "agent-metrics", "prometheus-metrics"}
    assert "logs:DescribeLogStreams" in calls
    assert calls <= runbook_permissions()
    # A longer window finds them.
    assert [
        r for r in problems(staging.doctor(now=later, recent_minutes=240)) if r.check == "log-events"
    ] == []


def test_a_refused_call_is_an_unknown_row_not_a_crash(staging: Deployment) -> None:
    def deny(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": "not authorized to perform logs:FilterLogEvents",
                }
            },
            "FilterLogEvents",
        )

    staging.session.events.register("before-call.logs.FilterLogEvents", deny)

    report = staging.doctor()

    # Not a finding about the stack: the doctor's own access. Nothing failed, so the exit code is 3.
    assert [(r.check, r.status, r.resource) for r in problems(report)] == [
        *[("log-events", Status.UNKNOWN, group) for group in CONTAINER_GROUPS],
        ("docker-events", Status.UNKNOWN, staging.instance_id),
    ]
    assert problems(report)[0].detail == (
        "could not check: AccessDeniedException: not authorized to perform logs:FilterLogEvents"
    )
    assert problems(report)[0].next_step.startswith(
        "Give the credentials obs-doctor runs with this read permission"
    )
    assert report.exit_code == 3


def test_an_unexpected_answer_is_an_unknown_row_not_a_crash(staging: Deployment) -> None:
    def garbage(parsed: dict[str, Any], **_: Any) -> None:
        parsed["MetricDataResults"] = [{"Values": "not a list of numbers"}]

    staging.session.events.register("after-call.cloudwatch.GetMetricData", garbage)

    report = staging.doctor()

    # Both checks that read metrics fail on it, each in its own row.
    assert [(r.check, r.status, r.resource, r.detail.split(":")[0]) for r in problems(report)] == [
        ("agent-metrics", Status.UNKNOWN, "AiTutorStaging", "could not check"),
        ("prometheus-metrics", Status.UNKNOWN, "AiTutorStaging", "could not check"),
    ]
    assert problems(report)[0].detail == "could not check: KeyError: 'Id'"


def _pending(staging: Deployment, *endpoints: str) -> None:
    """moto confirms email subscriptions at once; AWS lists an unconfirmed one as 'PendingConfirmation'."""

    def mark(parsed: dict[str, Any], **_: Any) -> None:
        for subscription in parsed.get("Subscriptions", []):
            if subscription.get("Endpoint") in endpoints:
                subscription["SubscriptionArn"] = "PendingConfirmation"

    staging.session.events.register("after-call.sns.ListSubscriptionsByTopic", mark)


def test_only_pending_confirmations_fail(staging: Deployment) -> None:
    _pending(staging, "ops@example.com")

    report = staging.doctor()

    assert [(r.check, r.status, r.detail) for r in problems(report)] == [
        ("subscriptions", Status.FAIL, "no confirmed email subscription (1 pending confirmation): alarms reach nobody"),
        ("subscription", Status.WARN, f"email subscription to {staging.topic_arn.rsplit(':', 1)[-1]} is pending confirmation"),
    ]  # fmt: skip


# --- the command on the shared deployment -------------------------------------------------------------------------


def test_healthy_stack_exits_0_with_a_summary(
    staging: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(ARGS) == 0

    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("obs-doctor: stack AiTutorStaging in us-east-2, ")
    # One line per area, every one passing, and no problem to list.
    summary = summary_of(out)
    assert summary == {
        "stack and delivery": (
            "PASS",
            "CREATE_COMPLETE, 1 of 1 service logging here, 1 of 1 topic open to CloudWatch, 1 of 1 topic with a "
            "confirmed email subscriber",
        ),
        "hosts": ("PASS", "1 of 1 instance running, all with its instance profile"),
        "logs": ("PASS", "5 of 5 log groups in place, 3 of 3 container groups receiving events, 3 of 3 filters "
                 "matching their logs"),
        "alarms": ("PASS", "7 of 7 alarms notifying their topic, 4 of 4 on its instances, all OK, all without a "
                   "failed action"),
        "agent": ("PASS", "1 of 1 instance reporting"),
        "docker-events": ("PASS", "1 of 1 instance with its start line"),
        "setup": ("PASS", "1 of 1 instance set up"),
        "permissions": ("PASS", "1 of 1 host role may write"),
        "prometheus": ("PASS", "1 of 1 scrape job reaching CloudWatch"),
    }  # fmt: skip
    assert len(lines) == 2 + len(out.split("\n\n")[1].splitlines()) + 2
    assert lines[-1] == "47 checks: 47 pass; exit code 0 (--verbose: every row)"
    assert err == ""


def test_verbose_lists_every_row(staging: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--verbose"]) == 0

    lines = capsys.readouterr().out.splitlines()
    report = staging.doctor()
    header = next(
        i for i, line in enumerate(lines) if line.split() == ["STATUS", "CHECK", "RESOURCE", "DETAIL"]
    )
    rows = [line for line in lines[header + 1 :] if line.startswith("PASS ")]
    assert len(rows) == len(report.results)
    assert rows[0].split()[:4] == ["PASS", "stack", "AiTutorStaging", "CREATE_COMPLETE"]
    assert f"host {HOST} ({staging.instance_id})" in lines


def test_json_output(staging: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--json"]) == 0

    document = json.loads(capsys.readouterr().out)
    assert (document["schema_version"], document["stack"], document["region"]) == (
        2,
        "AiTutorStaging",
        "us-east-2",
    )
    assert (document["status"], document["exit_code"], document["error"]) == ("pass", 0, None)
    assert document["checks"][0] == {
        "check": "stack",
        "status": "pass",
        "resource": "AiTutorStaging",
        "detail": "CREATE_COMPLETE",
        "next_step": None,
        "host": None,
        "expected_by": None,
    }
    assert document["wait"] is None
    assert [h["host"] for h in document["hosts"]] == [HOST]
    assert {c["host"] for c in document["checks"] if c["check"] == "agent-metrics"} == {HOST}


def test_recent_minutes_option(staging: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--recent-minutes", "5", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {c["detail"] for c in document["checks"] if c["check"] == "log-events"} == {
        "events in the last 5 min"
    }


class _Refusing(BaseHTTPRequestHandler):
    """What a proxy or firewall between the doctor and AWS may answer: CPython's own HTML error page."""

    def do_POST(self) -> None:
        self.send_error(403, "Forbidden", "This network does not allow the request")

    def log_message(self, *_: Any) -> None:
        pass


def test_an_html_page_in_place_of_aws_is_one_unknown_line(
    staging: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CloudWatch Logs answered by a web page: botocore makes a body it cannot parse the error message
    # (BaseJSONParser), which once put a whole HTML page into a row.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", f"http://127.0.0.1:{server.server_port}")
    try:
        report = staging.doctor()
    finally:
        server.shutdown()

    unknown = [r for r in report.results if r.status is Status.UNKNOWN]
    # (The scrape job has datapoints, so its row does not read the logs.)
    assert {r.check for r in unknown} == {"log-group", "docker-events", "log-format"}
    assert {r.detail for r in unknown} == {
        "could not check: 403: the endpoint answered HTTP 403 with an HTML page titled 'Error response', not an "
        "AWS response (a proxy, firewall or captive portal between here and AWS?)"
    }
    assert report.failures() == []
    assert report.exit_code == 3
