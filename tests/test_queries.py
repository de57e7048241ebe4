"""SavedQueries: names, log groups and query text; the regexes checked on the same sample lines as the alarms."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2

from constructs_obs import ContainerLogGroups, ObservedEc2Host, SavedQueries
from constructs_obs.alarms.log_patterns import BACKEND_ERROR_PATTERN
from constructs_obs.testing.filter_pattern import matches
from tests.conftest import logical_id
from tests.test_log_alarms import (
    BACKEND_ERRORS,
    BACKEND_HOSTILE,
    BACKEND_NOT_ERRORS,
    NGINX_5XX,
    NGINX_NOT_5XX,
)


def _query(template: assertions.Template, name: str) -> dict[str, Any]:
    found = template.find_resources("AWS::Logs::QueryDefinition", {"Properties": {"Name": name}})
    assert len(found) == 1, f"no single query named {name}"
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


def _metric_filter_pattern(template: assertions.Template, metric_name: str) -> str:
    """The filter pattern of the metric filter that publishes ``metric_name``, as deployed."""
    (found,) = [
        f["Properties"]["FilterPattern"]
        for f in template.find_resources("AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == metric_name
    ]
    pattern: str = found
    return pattern


def _python_regex(insights: str) -> re.Pattern[str]:
    """Logs Insights names groups (?<name>...); Python's re spells it (?P<name>...)."""
    return re.compile(insights.replace("(?<", "(?P<"))


def test_three_saved_queries_in_the_prefix_folder(staging: assertions.Template) -> None:
    # And the LLM cache breakdown over the agent's Prometheus log group (tests/test_prometheus.py).
    staging.resource_count_is("AWS::Logs::QueryDefinition", 4)
    for name, group in (
        ("ai-tutor-staging/backend-errors", "/ai-tutor/backend"),
        ("ai-tutor-staging/nginx-5xx-by-path", "/ai-tutor/nginx"),
        ("ai-tutor-staging/container-crashes", "/ai-tutor/docker-events"),
        ("ai-tutor-staging/llm-cache-hit-rate-by-content_item_id", "/ai-tutor/prometheus"),
    ):
        assert _query(staging, name)["LogGroupNames"] == [
            {"Ref": logical_id(staging, "AWS::Logs::LogGroup", LogGroupName=group)}
        ]


def test_backend_errors_query(staging: assertions.Template) -> None:
    assert _query(staging, "ai-tutor-staging/backend-errors")["QueryString"] == (
        "fields @timestamp, @logStream, @message\n"
        r"| filter @message like /^ERROR:|^\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d,\d{3}\s-\s\S+\s-\sERROR\s-|"
        r"^\[\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d\s\S+\]\s\[\d+\]\s\[ERROR\]|^CRITICAL:|"
        r"^\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d,\d{3}\s-\s\S+\s-\sCRITICAL\s-|"
        r"^\[\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d\s\S+\]\s\[\d+\]\s\[CRITICAL\]/"
        "\n| sort @timestamp desc\n| limit 100"
    )


def test_backend_query_finds_exactly_what_the_alarm_counts(staging: assertions.Template) -> None:
    """Logs Insights' ``like /.../`` is a regex search; Python's ``re`` reads this subset the same way."""
    query = _query(staging, "ai-tutor-staging/backend-errors")["QueryString"]
    body = query.split("like /", 1)[1].split("/\n", 1)[0]
    regex = re.compile(body)
    for line in BACKEND_ERRORS + BACKEND_NOT_ERRORS + BACKEND_HOSTILE:
        assert bool(regex.search(line)) is matches(BACKEND_ERROR_PATTERN, line), line
    assert not [line for line in BACKEND_HOSTILE if regex.search(line)]


def test_nginx_5xx_by_path_query(staging: assertions.Template) -> None:
    assert _query(staging, "ai-tutor-staging/nginx-5xx-by-path")["QueryString"] == (
        'parse @message /^\\S+ \\S+ \\S+ \\[[^\\]]*\\] "(?<method>[A-Z]+) (?<path>[^ ?"]*)[^"]*" (?<status>5\\d\\d) /\n'
        "| filter ispresent(status)\n"
        "| stats count(*) as responses by status, method, path\n"
        "| sort responses desc\n"
        "| limit 50"
    )


def test_nginx_parse_regex_extracts_method_path_and_status_of_5xx_only(staging: assertions.Template) -> None:
    query = _query(staging, "ai-tutor-staging/nginx-5xx-by-path")["QueryString"]
    regex = _python_regex(query.split("parse @message /", 1)[1].split("/\n", 1)[0])
    parsed = [m.groupdict() if (m := regex.search(line)) else None for line in NGINX_5XX]
    assert parsed == [
        {"method": "GET", "path": "/api/v1/lessons", "status": "502"},
        {"method": "POST", "path": "/api/v1/chat", "status": "504"},
        {"method": "GET", "path": "/api/v1/lessons", "status": "500"},  # the query string is dropped
        {"method": "GET", "path": "/", "status": "503"},
    ]
    assert [line for line in NGINX_NOT_5XX if regex.search(line)] == []


def test_container_crashes_query(staging: assertions.Template) -> None:
    query = _query(staging, "ai-tutor-staging/container-crashes")["QueryString"]
    assert query == (
        "fields @timestamp, Action, Actor.Attributes.name, Actor.Attributes.image, Actor.Attributes.exitCode\n"
        '| filter Action = "oom" or (Action = "die" and Actor.Attributes.exitCode not in ["0", "137", "143"])\n'
        "| sort @timestamp desc\n"
        "| limit 50"
    )
    # The query lists what the crash metric filter counts: the exit codes it leaves out are the ones the filter
    # does not count, and the filter counts any other.
    pattern = _metric_filter_pattern(staging, "ContainerCrashes")
    for code, counted in (("0", False), ("137", False), ("143", False), ("1", True), ("139", True)):
        event = json.dumps(
            {"Type": "container", "Action": "die", "Actor": {"Attributes": {"exitCode": code}}}
        )
        assert matches(pattern, event) is counted, code


def test_queries_follow_the_container_names() -> None:
    stack = cdk.Stack(cdk.App(), "QueriesTest", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)
    queries = SavedQueries(
        stack, "Queries", host=host, name_prefix="shop", backend_container="api", nginx_container=None
    )
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::Logs::QueryDefinition", 2)
    assert queries.nginx_5xx_by_path is None
    assert _query(template, "shop/backend-errors")["LogGroupNames"] == [
        {"Ref": logical_id(template, "AWS::Logs::LogGroup", LogGroupName="/shop/api")}
    ]
    assert _query(template, "shop/container-crashes")["LogGroupNames"] == [
        {"Ref": logical_id(template, "AWS::Logs::LogGroup", LogGroupName="/shop/docker-events")}
    ]
