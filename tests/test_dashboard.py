"""HostDashboard: one graph per alarm, every alarm's state, within the free tier's 50 metrics."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, ObservedEc2Host
from tests.conftest import logical_id


def _token(value: dict[str, Any]) -> str:
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}.{value['Fn::GetAtt'][1]}>"
    return f"<{next(iter(value))}>"


def dashboard_body(template: assertions.Template) -> dict[str, Any]:
    """The single dashboard's body, deploy-time values shown as <LogicalId> or <Pseudo::Param>."""
    boards = template.find_resources("AWS::CloudWatch::Dashboard")
    assert len(boards) == 1
    separator, parts = next(iter(boards.values()))["Properties"]["DashboardBody"]["Fn::Join"]
    body: dict[str, Any] = json.loads(separator.join(p if isinstance(p, str) else _token(p) for p in parts))
    return body


def test_dashboard_named_from_the_prefix(staging: assertions.Template) -> None:
    staging.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    staging.has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": "ai-tutor-staging"})


def test_one_graph_per_alarm_with_its_threshold(staging: assertions.Template) -> None:
    widgets = dashboard_body(staging)["widgets"]
    # The alarm graphs (the LLM cache row's graphs carry no alarm: tests/test_prometheus.py).
    graphs = [w for w in widgets if w["type"] == "metric" and "annotations" in w["properties"]]
    alarm_ids = {
        name: logical_id(staging, "AWS::CloudWatch::Alarm", AlarmName=f"ai-tutor-staging-{name}")
        for name in (
            "cpu-high",
            "status-check",
            "memory-high",
            "disk-high",
            "container-crash",
            "nginx-5xx",
            "backend-errors",
        )
    }
    assert [(g["properties"]["title"], g["properties"]["annotations"]["alarms"]) for g in graphs] == [
        ("CPU utilization (%)", [f"<{alarm_ids['cpu-high']}.Arn>"]),
        ("Status check failed", [f"<{alarm_ids['status-check']}.Arn>"]),
        ("Memory used (%)", [f"<{alarm_ids['memory-high']}.Arn>"]),
        ("Root disk used (%)", [f"<{alarm_ids['disk-high']}.Arn>"]),
        ("Container crashes", [f"<{alarm_ids['container-crash']}.Arn>"]),
        ("nginx 5xx responses", [f"<{alarm_ids['nginx-5xx']}.Arn>"]),
        ("Backend error lines", [f"<{alarm_ids['backend-errors']}.Arn>"]),
    ]
    assert graphs[0]["properties"]["yAxis"] == {"left": {"min": 0, "max": 100}}
    # Three graphs a row.
    assert [(g["x"], g["y"], g["width"]) for g in graphs[:4]] == [(0, 0, 8), (8, 0, 8), (16, 0, 8), (0, 6, 8)]


def test_every_alarms_state(staging: assertions.Template) -> None:
    widgets = dashboard_body(staging)["widgets"]
    status = [w for w in widgets if w["type"] == "alarm"]
    assert len(status) == 1
    alarms = staging.find_resources("AWS::CloudWatch::Alarm")
    assert sorted(status[0]["properties"]["alarms"]) == sorted(f"<{a}.Arn>" for a in alarms)
    assert status[0]["properties"]["title"] == "Alarms"
    assert status[0]["width"] == 24


def test_within_the_free_tiers_metrics(staging: assertions.Template) -> None:
    graphs = [w for w in dashboard_body(staging)["widgets"] if w["type"] == "metric"]
    shown = sum(
        len([m for m in g["properties"].get("metrics", []) if isinstance(m[0], str)])
        + len(g["properties"].get("annotations", {}).get("alarms", []))
        for g in graphs
    )
    assert shown == 7 + 5 <= 50  # 7 alarm graphs, the LLM cache row's 5 metric lines


def _stack() -> tuple[cdk.Stack, BasicAlarms]:
    stack = cdk.Stack(cdk.App(), "DashboardTest", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    host = ObservedEc2Host(
        stack,
        "Host",
        vpc=vpc,
        log_groups=ContainerLogGroups(
            stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"]
        ),
    )
    return stack, BasicAlarms(stack, "Alarms", host=host, name_prefix="shop", emails=["a@example.com"])


def test_an_alarm_added_after_the_dashboard_fails_synth() -> None:
    stack, alarms = _stack()
    HostDashboard(stack, "Dashboard", alarms=alarms, dashboard_name="shop-ops")
    alarms.add_alarm(
        "Late",
        suffix="late",
        metric=cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name="NetworkIn",
            dimensions_map={"InstanceId": alarms.host.instance_id},
            statistic="Sum",
            period=cdk.Duration.minutes(5),
        ),
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        description="late",
    )
    with pytest.raises(
        RuntimeError, match=r"DashboardTest/Alarms/Late.*create HostDashboard after every alarm"
    ):
        assertions.Template.from_stack(stack)


def test_dashboard_name_and_metric_count() -> None:
    stack, alarms = _stack()
    dashboard = HostDashboard(stack, "Dashboard", alarms=alarms, dashboard_name="shop-ops")
    assert dashboard.metric_count == 5
    assertions.Template.from_stack(stack).has_resource_properties(
        "AWS::CloudWatch::Dashboard", {"DashboardName": "shop-ops"}
    )


def _leave_out_stack(leave_out: list[str], *, host_graphs: bool) -> assertions.Template:
    stack = cdk.Stack(cdk.App(), "LeaveOut", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/lo", containers=["web"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)
    alarms = BasicAlarms(
        stack, "Alarms", host=host, name_prefix="lo", emails=["a@example.com"], leave_out=leave_out
    )
    alarms.add_alarm(
        "NetworkOut",
        suffix="network-out-high",
        metric=cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name="NetworkOut",
            dimensions_map={"InstanceId": host.instance_id},
            statistic="Sum",
            period=cdk.Duration.minutes(5),
        ),
        threshold=5e9,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=3,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        description="More than 5 GB out in 5 minutes for 15 minutes.",
        graph_title="Network out (bytes)",
    )
    HostDashboard(stack, "Dashboard", alarms=alarms, host=host if host_graphs else None)
    return assertions.Template.from_stack(stack)


def test_left_out_alarms_leave_the_dashboard_and_added_ones_join_it_with_their_title() -> None:
    template = _leave_out_stack(["cpu-high", "container-crash"], host_graphs=False)
    names = sorted(
        a["Properties"]["AlarmName"] for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    )
    assert names == ["lo-disk-high", "lo-memory-high", "lo-network-out-high", "lo-status-check"]
    titles = [w["properties"].get("title") for w in dashboard_body(template)["widgets"]]
    assert titles == [
        "Status check failed",
        "Memory used (%)",
        "Root disk used (%)",
        "Network out (bytes)",
        "Alarms",
    ]


def test_with_the_host_the_left_out_alarms_metrics_are_still_graphed() -> None:
    template = _leave_out_stack(["cpu-high", "container-crash"], host_graphs=True)
    widgets = dashboard_body(template)["widgets"]
    plain = {
        w["properties"]["title"]: w["properties"]["metrics"]
        for w in widgets
        if "annotations" not in w["properties"] and w["type"] == "metric"
    }
    assert sorted(plain) == ["CPU utilization (%)", "Container crashes"]
    assert plain["CPU utilization (%)"][0][:2] == ["AWS/EC2", "CPUUtilization"]
    assert plain["Container crashes"][0][:2] == ["ConstructsObs/LeaveOut/Host", "ContainerCrashes"]


def test_leave_out_names_the_known_alarms() -> None:
    with pytest.raises(
        ValueError,
        match=r"leave_out names unknown alarms \['cpu'\]; the built-in alarms are \['cpu-high', 'status-check', "
        r"'memory-high', 'disk-high', 'container-crash'\]",
    ):
        _leave_out_stack(["cpu"], host_graphs=False)
