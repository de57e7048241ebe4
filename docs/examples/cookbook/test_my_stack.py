"""Scenario 8: unit tests of your own stack (pytest, aws-cdk-lib's assertions, a syrupy snapshot).

Run with ``pytest docs/examples/cookbook/test_my_stack.py``. In your project this file sits in ``tests/`` and
imports your stack module the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Capture, Match, Template
from my_stack import ENV, TodoStack, build
from syrupy.extensions.json import JSONSnapshotExtension

from constructs_obs.testing import matching

#: The context `cdk synth` applies (cdk.json's feature flags change templates): test the template you deploy.
#: The nearest cdk.json above this file: in your project, the one next to your app.py.
CDK_JSON = next(d / "cdk.json" for d in Path(__file__).resolve().parents if (d / "cdk.json").is_file())


def new_app() -> cdk.App:
    # A minimal cdk.json ({"app": "python app.py"}) has no "context" block: no feature flags, then.
    return cdk.App(context=json.loads(CDK_JSON.read_text()).get("context", {}))


@pytest.fixture(scope="module")
def template() -> Template:
    """The production stack's template, synthesized once for the module."""
    # The stack sits directly under the App, so this synthesizes the whole app, and the constructs' app-wide
    # checks (names and metric series created twice) run here as they do in `cdk synth`.
    return Template.from_stack(build(new_app()))


def test_log_groups_keep_a_month_of_logs_and_survive_the_stack(template: Template) -> None:
    for name in ("/todo-prod/nginx", "/todo-prod/api"):
        template.has_resource(
            "AWS::Logs::LogGroup",
            {
                "Properties": {"LogGroupName": name, "RetentionInDays": 30},
                "DeletionPolicy": "RetainExceptOnCreate",
                "UpdateReplacePolicy": "Retain",
            },
        )


def test_log_groups_keep_their_logical_ids(template: Template) -> None:
    # A new logical id replaces the resource: for a log group that means a new, empty group. Pin them.
    assert sorted(template.find_resources("AWS::Logs::LogGroup")) == [
        "HostDockerEventsLogGroup46554761",
        "Logsapi3151F358",
        "Logsnginx3C5523AF",
    ]


def test_cpu_alarm_uses_our_threshold_and_emails_oncall(template: Template) -> None:
    topic = Capture()
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": "todo-prod-cpu-high",
            "Threshold": 70,
            "AlarmActions": [{"Ref": topic}],
            "OKActions": Match.absent(),  # recovery emails come from the alarms' EventBridge rule
        },
    )
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": topic.as_string()}},
    )


def test_only_http_and_https_are_open(template: Template) -> None:
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 80, "ToPort": 80}),
                Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443}),
            ]
        },
    )
    template.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def _filter_pattern(template: Template, metric_name: str) -> str:
    found = template.find_resources(
        "AWS::Logs::MetricFilter",
        {"Properties": {"MetricTransformations": [Match.object_like({"MetricName": metric_name})]}},
    )
    assert len(found) == 1, found
    pattern: str = next(iter(found.values()))["Properties"]["FilterPattern"]
    return pattern


#: Lines our own nginx wrote (its log_format, copied from `docker compose logs nginx`).
OUR_NGINX_LINES = [
    '203.0.113.7 - - [27/Nov/2026:10:15:32 +0000] "GET /api/todos HTTP/1.1" 502 157 "-" "Mozilla/5.0" "-" 0.004',
    '203.0.113.7 - - [27/Nov/2026:10:15:33 +0000] "GET /api/todos HTTP/1.1" 200 1841 "-" "Mozilla/5.0" "-" 0.012',
    '203.0.113.9 - - [27/Nov/2026:10:15:34 +0000] "GET /search?q=500 HTTP/1.1" 404 153 "-" "curl/8.5.0" "-" 0.001',
]


def test_the_5xx_alarm_counts_our_nginx_502_and_nothing_else(template: Template) -> None:
    # The pattern as deployed (read from the template), checked against our own lines without AWS.
    pattern = _filter_pattern(template, "Nginx5xxResponses")
    assert matching(pattern, OUR_NGINX_LINES) == [OUR_NGINX_LINES[0]]


def test_two_stacks_with_the_same_names_fail_synth() -> None:
    app = new_app()
    TodoStack(app, "TodoStaging", env=ENV)  # forgot name="todo-staging": same log groups, alarms, dashboard
    prod = TodoStack(app, "TodoProd", env=ENV)
    with pytest.raises(
        RuntimeError, match=r"'/todo-prod/api' is created twice .* by TodoStaging/Logs/api and by"
    ):
        Template.from_stack(prod)


def test_template_matches_the_snapshot(template: Template, snapshot: Any) -> None:
    # Catches every change nobody asked for. Update it deliberately (pytest --snapshot-update), review the diff,
    # and say in the commit message why the template changed.
    assert template.to_json() == snapshot(extension_class=JSONSnapshotExtension)
