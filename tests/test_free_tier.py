"""The free-tier count of a template, its overage messages, and the synth-time check (warning, strict, ack)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import cx_api as cxapi

from app import _flag, build_app
from constructs_obs import FreeTierCheck, count_billables
from constructs_obs.checks.free_tier import (
    BillableUsage,
    CustomMetric,
    DashboardUsage,
    StackUsage,
    free_tier_groups,
)
from tests.conftest import make_app


def test_staging_stays_at_zero_dollars_a_month(staging_template_json: dict[str, Any]) -> None:
    usage = count_billables(staging_template_json)
    assert usage.alarm_metrics == 7
    assert len(usage.alarms) == 7
    assert sorted((m.namespace, m.metric_name, m.dimensions) for m in usage.custom_metrics) == [
        ("AiTutor/Staging", "BackendErrorLines", ()),
        ("AiTutor/Staging", "ContainerCrashes", ()),
        ("AiTutor/Staging", "Nginx5xxResponses", ()),
        ("AiTutor/Staging", "disk_used_percent", ("InstanceId",)),
        ("AiTutor/Staging", "llm_cache_hits_total", ()),
        ("AiTutor/Staging", "llm_cache_misses_total", ()),
        ("AiTutor/Staging", "mem_used_percent", ("InstanceId",)),
    ]
    assert usage.custom_metric_count == 7
    # 7 alarm graphs and the LLM cache row's 5 metric lines (tests/test_prometheus.py).
    assert [d.metrics for d in usage.dashboards] == [12]
    assert usage.detailed_monitoring == usage.high_resolution_alarms == usage.composite_alarms == ()
    assert usage.overages() == []
    assert usage.monthly_cost_usd() == 0.0


def _plugin_report(assembly_dir: str) -> dict[str, Any] | None:
    """The free-tier plugin's part of the validation report (CDK leaves out plugins that found nothing)."""
    report = json.loads((Path(assembly_dir) / "validation-report.json").read_text())
    found = [r for r in report["pluginReports"] if r["pluginName"] == "ConstructsObsFreeTier"]
    assert len(found) <= 1
    return found[0] if found else None


def test_staging_synth_finds_nothing_over(staging_artifact: cxapi.CloudFormationStackArtifact) -> None:
    assert _plugin_report(staging_artifact.assembly.directory) is None


def test_the_staging_app_checks_every_stack(tmp_path: Path) -> None:
    # The app registers the check, and counts its stacks together: staging (no account, so any) and a busy stack
    # (no account either) may share one account's free tier, so staging's 7 alarms count with Busy's 11.
    app = build_app(make_app(tmp_path), environ={})
    _ElevenAlarms(app, "Busy")
    app.synth()
    report = _plugin_report(str(tmp_path))
    assert report is not None
    assert [v["description"] for v in report["violations"]] == [
        "unknown account, all regions (stacks AiTutorStaging, Busy): 18 standard-resolution alarm metrics, "
        "the free tier covers 10: 8 over, about $0.80/month"
    ]


def _alarm(logical_id: str, **props: Any) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Period": 300, **props}}


def test_counting_rules() -> None:
    stat = {"Metric": {"Namespace": "App", "MetricName": "Latency"}, "Period": 60, "Stat": "p99"}
    template = {
        "Resources": {
            "Plain": _alarm("Plain"),
            "Math": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Metrics": [
                        {"Id": "a", "MetricStat": stat},
                        {"Id": "b", "MetricStat": stat},
                        {"Id": "e", "Expression": "a+b"},
                    ]
                },
            },
            "Anomaly": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "ThresholdMetricId": "band",
                    "Metrics": [
                        {"Id": "m", "MetricStat": stat},
                        {"Id": "band", "Expression": "ANOMALY_DETECTION_BAND(m)"},
                    ],
                },
            },
            "Fast": _alarm("Fast", Period=10),
            "Composite": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {}},
            "Filter": {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "MetricTransformations": [
                        {"MetricNamespace": "App", "MetricName": "Errors", "MetricValue": "1"},
                    ]
                },
            },
            "SameMetric": {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {"MetricTransformations": [{"MetricNamespace": "App", "MetricName": "Errors"}]},
            },
            "ByStatus": {
                "Type": "AWS::Logs::MetricFilter",
                "Properties": {
                    "MetricTransformations": [
                        {
                            "MetricNamespace": "App",
                            "MetricName": "Responses",
                            "Dimensions": [{"Key": "status", "Value": "$status"}],
                        }
                    ]
                },
            },
            "Detailed": {"Type": "AWS::EC2::Instance", "Properties": {"Monitoring": True}},
            "Basic": {"Type": "AWS::EC2::Instance", "Properties": {"Monitoring": False}},
            "Template": {
                "Type": "AWS::EC2::LaunchTemplate",
                "Properties": {"LaunchTemplateData": {"Monitoring": {"Enabled": True}}},
            },
            "LaunchConfig": {"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": {}},
            "Board": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {
                    "DashboardBody": {
                        "Fn::Join": [
                            "",
                            [
                                '{"widgets":[{"type":"metric","properties":{"metrics":[["AWS/EC2","CPUUtilization",'
                                '"InstanceId","',
                                {"Ref": "Detailed"},
                                '"],[".","NetworkIn",".","."],[{"expression":"m1*2"}]]}},'
                                '{"type":"metric","properties":{"annotations":{"alarms":["',
                                {"Fn::GetAtt": ["Plain", "Arn"]},
                                '"]}}},{"type":"alarm","properties":{"alarms":["x"]}},{"type":"text"}]}',
                            ],
                        ]
                    }
                },
            },
            "Agent": {
                "Type": "AWS::EC2::Instance",
                "Properties": {},
                "Metadata": {
                    "ConstructsObs::CustomMetrics": [
                        {"Namespace": "App", "MetricName": "mem_used_percent", "Dimensions": ["InstanceId"]}
                    ]
                },
            },
        }
    }
    usage = count_billables(template)
    assert usage.alarms == ("Plain", "Math", "Anomaly")
    assert usage.alarm_metrics == 1 + 2 + 3  # a math alarm per metric, anomaly detection three per metric
    assert (usage.high_resolution_alarms, usage.high_resolution_alarm_metrics) == (("Fast",), 1)
    assert usage.composite_alarms == ("Composite",)
    assert usage.custom_metrics == (
        CustomMetric("App", "Errors", (), "Filter"),
        CustomMetric("App", "Responses", ("status",), "ByStatus", per_dimension_value=True),
        CustomMetric("App", "mem_used_percent", ("InstanceId",), "Agent", per_resource=True),
    )
    assert usage.detailed_monitoring == ("Detailed", "Template", "LaunchConfig")
    assert usage.custom_metric_count == 3 + 3 * 7
    assert usage.dashboards == (DashboardUsage("Board", 3),)  # two metric lines and one alarm graph


def test_overages_say_what_is_over_by_how_much_and_what_it_costs() -> None:
    template = {
        "Resources": {
            **{f"Alarm{i}": _alarm(f"Alarm{i}") for i in range(12)},
            "Fast": _alarm("Fast", Period=10),
            "Detailed": {"Type": "AWS::EC2::Instance", "Properties": {"Monitoring": "true"}},
            **{
                f"Filter{i}": {
                    "Type": "AWS::Logs::MetricFilter",
                    "Properties": {
                        "MetricTransformations": [{"MetricNamespace": "App", "MetricName": f"M{i}"}]
                    },
                }
                for i in range(4)
            },
            **{
                f"Board{i}": {
                    "Type": "AWS::CloudWatch::Dashboard",
                    "Properties": {"DashboardBody": '{"widgets":[]}'},
                }
                for i in range(4)
            },
        }
    }
    overages = {o.rule: o for o in count_billables(template).overages()}
    assert overages["alarm-metrics"].description == (
        "12 standard-resolution alarm metrics, the free tier covers 10: 2 over, about $0.20/month"
    )
    assert (overages["alarm-metrics"].over, len(overages["alarm-metrics"].resources)) == (2, 12)
    assert overages["high-resolution-alarms"].description == (
        "1 high-resolution alarm metrics (period under 60 s), which the free tier does not cover: about $0.30/month"
    )
    assert overages["custom-metrics"].description == (
        "11 custom metrics, the free tier covers 10: 1 over, about $0.30/month "
        "(App M0, App M1, App M2, App M3, detailed monitoring of 1 instances (7 metrics each))"
    )
    assert overages["dashboards"].description == (
        "4 dashboards, the free tier covers 3: 1 over, about $3.00/month"
    )
    assert count_billables(template).monthly_cost_usd() == 0.20 + 0.30 + 0.30 + 3.00


def test_a_dashboard_over_fifty_metrics_is_billed() -> None:
    body = {"widgets": [{"type": "metric", "properties": {"metrics": [["A", f"m{i}"] for i in range(51)]}}]}
    template = {
        "Resources": {
            "Big": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": json.dumps(body)}}
        }
    }
    (overage,) = count_billables(template).overages()
    assert overage.rule == "dashboard-metrics"
    assert overage.description == (
        "dashboard Big shows 51 metrics, a free dashboard at most 50: 1 over, so it is billed, about $3.00/month"
    )


def _host(namespace: str) -> dict[str, Any]:
    """An instance whose CloudWatch agent declares its two metrics, as constructs_obs.host.agent writes them."""
    return {
        "Type": "AWS::EC2::Instance",
        "Properties": {},
        "Metadata": {
            "ConstructsObs::CustomMetrics": [
                {"Namespace": namespace, "MetricName": "mem_used_percent", "Dimensions": ["InstanceId"]},
                {"Namespace": namespace, "MetricName": "disk_used_percent", "Dimensions": ["InstanceId"]},
            ]
        },
    }


def _filter(namespace: str, name: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::MetricFilter",
        "Properties": {"MetricTransformations": [{"MetricNamespace": namespace, "MetricName": name}]},
    }


def test_agent_metrics_count_once_per_host() -> None:
    # Each host publishes mem/disk under its own InstanceId: two hosts in one namespace are 4 metrics, not 2.
    usage = count_billables({"Resources": {"HostA": _host("App"), "HostB": _host("App")}})
    assert [(m.metric_name, m.source) for m in usage.custom_metrics] == [
        ("mem_used_percent", "HostA"),
        ("disk_used_percent", "HostA"),
        ("mem_used_percent", "HostB"),
        ("disk_used_percent", "HostB"),
    ]
    assert usage.custom_metric_count == 4


ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


def _stack(path: str, account: str | None, region: str | None, alarms: int = 7) -> StackUsage:
    usage = count_billables({"Resources": {f"Alarm{i}": _alarm(f"Alarm{i}") for i in range(alarms)}})
    return StackUsage(path, account, region, usage)


def _groups(stacks: list[StackUsage], *, per_region: bool = False) -> list[tuple[str, list[str]]]:
    return [(g.label, [s.path for s in g.stacks]) for g in free_tier_groups(stacks, per_region=per_region)]


def test_two_stacks_of_one_account_and_region_share_one_free_tier() -> None:
    stacks = [_stack("Staging", ACCOUNT, "us-east-2"), _stack("Prod", ACCOUNT, "us-east-2")]
    (group,) = free_tier_groups(stacks, per_region=True)
    assert (group.label, group.usage.alarm_metrics) == ("aws://123456789012/us-east-2", 14)
    (overage,) = group.overages()
    assert (overage.rule, overage.used, overage.free, overage.over) == ("alarm-metrics", 14, 10, 4)
    assert round(overage.monthly_usd, 2) == 0.40
    assert overage.description == (
        "14 standard-resolution alarm metrics, the free tier covers 10: 4 over, about $0.40/month"
    )
    assert overage.stacks == ("Prod", "Staging")
    assert overage.resources[:2] == ("Prod/Alarm0", "Prod/Alarm1")
    assert len(overage.resources) == 14
    # Each alone is inside the free tier.
    assert [g.overages() for g in free_tier_groups(stacks[:1])] == [[]]


def test_stacks_in_two_regions_of_one_account_share_its_free_tier() -> None:
    stacks = [_stack("Staging", ACCOUNT, "us-east-2"), _stack("Prod", ACCOUNT, "eu-west-1")]
    (group,) = free_tier_groups(stacks)
    assert (group.label, group.usage.alarm_metrics) == ("aws://123456789012, all regions", 14)
    assert [o.rule for o in group.overages()] == ["alarm-metrics"]
    # Counted per Region (per_region=True), each Region has its own and neither is over.
    assert _groups(stacks, per_region=True) == [
        ("aws://123456789012/eu-west-1", ["Prod"]),
        ("aws://123456789012/us-east-2", ["Staging"]),
    ]
    assert [g.overages() for g in free_tier_groups(stacks, per_region=True)] == [[], []]


def test_an_account_agnostic_stack_counts_with_the_pinned_stacks_of_its_region() -> None:
    stacks = [
        _stack("Pinned", ACCOUNT, "us-east-2"),
        _stack("Agnostic", None, "us-east-2"),
        _stack("Elsewhere", OTHER_ACCOUNT, "eu-west-1"),
    ]
    assert _groups(stacks, per_region=True) == [
        ("aws://123456789012/us-east-2", ["Agnostic", "Pinned"]),
        ("aws://210987654321/eu-west-1", ["Elsewhere"]),
    ]
    # Across Regions, it could be deployed into either account.
    assert _groups(stacks) == [
        ("aws://123456789012, all regions", ["Agnostic", "Pinned"]),
        ("aws://210987654321, all regions", ["Agnostic", "Elsewhere"]),
    ]
    (pinned_group, _) = free_tier_groups(stacks, per_region=True)
    assert [(o.used, o.stacks) for o in pinned_group.overages()] == [(14, ("Agnostic", "Pinned"))]


def test_an_account_agnostic_stack_counts_with_every_account_of_its_region() -> None:
    stacks = [
        _stack("Agnostic", None, "us-east-2"),
        _stack("A", ACCOUNT, "us-east-2"),
        _stack("B", OTHER_ACCOUNT, "us-east-2"),
    ]
    assert _groups(stacks, per_region=True) == [
        ("aws://123456789012/us-east-2", ["A", "Agnostic"]),
        ("aws://210987654321/us-east-2", ["Agnostic", "B"]),
    ]


def test_stacks_of_unknown_account_count_together() -> None:
    stacks = [
        _stack("U1", None, "us-east-2"),
        _stack("U2", None, "us-east-2"),
        _stack("U3", None, "eu-west-1"),
    ]
    assert _groups(stacks, per_region=True) == [
        ("unknown account, eu-west-1", ["U3"]),
        ("unknown account, us-east-2", ["U1", "U2"]),
    ]
    assert _groups(stacks) == [("unknown account, all regions", ["U1", "U2", "U3"])]


def test_a_stack_of_unknown_region_counts_with_every_group_it_could_deploy_into() -> None:
    stacks = [
        _stack("R", ACCOUNT, None),
        _stack("A1", ACCOUNT, "us-east-2"),
        _stack("A2", ACCOUNT, "eu-west-1"),
        _stack("B", OTHER_ACCOUNT, "us-east-2"),
        _stack("Anywhere", None, None),
    ]
    assert _groups(stacks, per_region=True) == [
        ("aws://123456789012/eu-west-1", ["A2", "Anywhere", "R"]),
        ("aws://123456789012/us-east-2", ["A1", "Anywhere", "R"]),
        ("aws://210987654321/us-east-2", ["Anywhere", "B"]),
    ]
    # With nothing more known, in groups of their own.
    assert _groups(stacks[:1] + stacks[-1:], per_region=True) == [
        ("aws://123456789012, unknown region", ["Anywhere", "R"])
    ]
    assert _groups(stacks[-1:], per_region=True) == [("unknown account, unknown region", ["Anywhere"])]
    assert _groups(stacks[-1:]) == [("unknown account, all regions", ["Anywhere"])]
    assert free_tier_groups([]) == []


def test_a_group_counts_a_metric_filter_metric_once_and_agent_metrics_per_host() -> None:
    # Staging and prod built from one stack class: the same logical ids, one namespace.
    template = {"Resources": {"Host": _host("App"), "Errors": _filter("App", "Errors")}}
    stacks = [
        StackUsage("Staging", ACCOUNT, "us-east-2", count_billables(template)),
        StackUsage("Prod", ACCOUNT, "us-east-2", count_billables(template)),
    ]
    (group,) = free_tier_groups(stacks)
    assert [(m.metric_name, m.source) for m in group.usage.custom_metrics] == [
        ("mem_used_percent", "Prod/Host"),
        ("disk_used_percent", "Prod/Host"),
        ("Errors", "Prod/Errors"),
        ("mem_used_percent", "Staging/Host"),
        ("disk_used_percent", "Staging/Host"),
    ]
    assert group.usage.custom_metric_count == 5


def test_staging_and_a_copy_of_it_in_one_account(staging_template_json: dict[str, Any]) -> None:
    usage = count_billables(staging_template_json)
    stacks = [
        StackUsage("Staging", ACCOUNT, "us-east-2", usage),
        StackUsage("Prod", ACCOUNT, "us-east-2", usage),
    ]
    (group,) = free_tier_groups(stacks)
    total: BillableUsage = group.usage
    assert total.alarm_metrics == 14
    # Each host's mem/disk and LLM cache counters, the three log metrics once.
    assert total.custom_metric_count == 2 * 4 + 3
    assert [d.logical_id.split("/")[0] for d in total.dashboards] == ["Prod", "Staging"]
    # Two copies of staging in one account: 14 alarm metrics, and 11 custom metrics since each host publishes
    # its own LLM cache counters.
    assert [(o.rule, o.used, o.stacks) for o in group.overages()] == [
        ("alarm-metrics", 14, ("Prod", "Staging")),
        ("custom-metrics", 11, ("Prod", "Staging")),
    ]


class _ElevenAlarms(cdk.Stack):
    def __init__(self, scope: cdk.App, construct_id: str) -> None:
        super().__init__(scope, construct_id, env=cdk.Environment(region="eu-west-1"))
        for i in range(11):
            cloudwatch.Alarm(
                self,
                f"Alarm{i}",
                metric=cloudwatch.Metric(
                    namespace="App", metric_name=f"M{i}", period=cdk.Duration.minutes(5)
                ),
                threshold=1,
                evaluation_periods=1,
            )


def _synth(tmp_path: Path, *, strict: bool, acknowledge: bool = False) -> cdk.App:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(FreeTierCheck(strict=strict))
    stack = _ElevenAlarms(app, "Busy")
    if acknowledge:
        cdk.Validations.of(stack).acknowledge(
            cdk.Acknowledgment(
                id="ConstructsObsFreeTier::alarm-metrics", reason="an eleventh alarm is worth $0.10"
            )
        )
    app.synth()
    return app


def test_over_the_free_tier_synth_warns(tmp_path: Path) -> None:
    _synth(tmp_path, strict=False)
    report = _plugin_report(str(tmp_path))
    assert report is not None
    assert report["conclusion"] == "success"
    (violation,) = report["violations"]
    assert violation["ruleName"] == "alarm-metrics"
    assert violation["severity"] == "warning"
    assert violation["description"] == (
        "unknown account, all regions (stack Busy): 11 standard-resolution alarm metrics, the free tier covers 10: "
        "1 over, about $0.10/month"
    )
    # One entry per stack behind the overage, not one per alarm: CDK prints the description once per entry.
    assert [c["constructPath"] for c in violation["violatingConstructs"]] == ["Busy"]


def test_strict_mode_fails_synth(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"\(stack Busy\): 11 standard-resolution alarm metrics.*1 over"):
        _synth(tmp_path, strict=True)


def test_an_acknowledged_overage_passes_strict_mode(tmp_path: Path) -> None:
    _synth(tmp_path, strict=True, acknowledge=True)
    report = _plugin_report(str(tmp_path))
    assert report is not None
    assert (report["conclusion"], report["violations"]) == ("success", [])
    assert report["suppressedViolations"][0]["reason"] == "an eleventh alarm is worth $0.10"


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), (False, False), ("false", False), (True, True), ("true", True)]
)
def test_free_tier_strict_context(value: object, expected: bool) -> None:
    assert _flag("free_tier_strict", value) is expected


def test_free_tier_strict_context_of_wrong_value() -> None:
    with pytest.raises(TypeError, match=r"context free_tier_strict must be true or false, got 'yes'"):
        _flag("free_tier_strict", "yes")


def test_the_recovery_rule_is_counted_and_free(staging_template_json: dict[str, Any]) -> None:
    from constructs_obs.checks.free_tier import count_billables

    usage = count_billables(staging_template_json)
    rules = [k for k, r in staging_template_json["Resources"].items() if r["Type"] == "AWS::Events::Rule"]
    assert usage.free_event_rules == tuple(rules) and len(rules) == 1
    assert usage.billed_event_rules == ()
    # EventBridge pricing: state change events published by AWS services are free; the total stays $0.
    assert usage.monthly_cost_usd() == 0


def test_a_rule_on_custom_events_is_not_free() -> None:
    from constructs_obs.checks.free_tier import count_billables

    template = {
        "Resources": {
            "Mine": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventPattern": {"source": ["com.example"]}},
            },
            "Bus": {
                "Type": "AWS::Events::Rule",
                "Properties": {"EventPattern": {"source": ["aws.ec2"]}, "EventBusName": "orders"},
            },
        }
    }
    usage = count_billables(template)
    assert (usage.free_event_rules, usage.billed_event_rules) == ((), ("Mine", "Bus"))
