"""BasicAlarms: the seed's two alarms, their actions, missing data, the topic and its subscriptions."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns

from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host
from tests.conftest import logical_id

Match = assertions.Match


def _alarm(template: assertions.Template, name: str) -> dict[str, Any]:
    found = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": name}})
    assert len(found) == 1, f"no single alarm named {name}: {sorted(found)}"
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


def _host_stack(**alarm_props: Any) -> tuple[cdk.Stack, BasicAlarms]:
    stack = cdk.Stack(cdk.App(), "AlarmsTest", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    host = ObservedEc2Host(
        stack,
        "Host",
        vpc=vpc,
        log_groups=ContainerLogGroups(
            stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"]
        ),
    )
    alarms = BasicAlarms(stack, "Alarms", host=host, **{"name_prefix": "shop", **alarm_props})
    return stack, alarms


def test_cpu_high_is_the_seeds_alarm(staging: assertions.Template) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    topic = logical_id(staging, "AWS::SNS::Topic")
    props = _alarm(staging, "ai-tutor-staging-cpu-high")
    assert props.pop("AlarmDescription").startswith("CPU above 80% for 10 minutes")
    assert props == {
        "AlarmName": "ai-tutor-staging-cpu-high",
        "Namespace": "AWS/EC2",
        "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "InstanceId", "Value": {"Ref": instance}}],
        "Statistic": "Average",
        "Period": 300,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 80,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": topic}],
    }


def test_status_check_fires_on_two_failed_minutes_and_not_on_missing_data(
    staging: assertions.Template,
) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    topic = logical_id(staging, "AWS::SNS::Topic")
    props = _alarm(staging, "ai-tutor-staging-status-check")
    assert props["Namespace"] == "AWS/EC2"
    assert props["MetricName"] == "StatusCheckFailed"
    assert props["Dimensions"] == [{"Name": "InstanceId", "Value": {"Ref": instance}}]
    assert (props["Statistic"], props["Threshold"], props["ComparisonOperator"]) == (
        "Maximum",
        1,
        "GreaterThanOrEqualToThreshold",
    )
    # StatusCheckFailed has 1-minute data on basic monitoring: two failed minutes, 120 s.
    assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (60, 2, 2)
    # Missing data (a new host before its first datapoint, a stop/start) leaves the alarm without data
    # instead of emailing ALARM on every deploy.
    assert props["TreatMissingData"] == "missing"
    # ALARM only: the recovery is emailed by the recovery rule after a real ALARM (tests/test_recovery.py).
    assert props["AlarmActions"] == [{"Ref": topic}]
    assert "OKActions" not in props


#: Every staging alarm and the missing-data treatment chosen for it (see BasicAlarms and LogPatternAlarms).
STAGING_ALARMS = {
    "ai-tutor-staging-cpu-high": "notBreaching",
    "ai-tutor-staging-status-check": "missing",
    "ai-tutor-staging-memory-high": "missing",
    "ai-tutor-staging-disk-high": "missing",
    "ai-tutor-staging-container-crash": "notBreaching",
    "ai-tutor-staging-nginx-5xx": "notBreaching",
    "ai-tutor-staging-backend-errors": "notBreaching",
}


def test_every_alarm_is_named_from_the_prefix_and_notifies_on_alarm_and_on_recovery(
    staging: assertions.Template,
) -> None:
    topic = logical_id(staging, "AWS::SNS::Topic")
    alarms = staging.find_resources("AWS::CloudWatch::Alarm")
    assert {a["Properties"]["AlarmName"]: a["Properties"]["TreatMissingData"] for a in alarms.values()} == (
        STAGING_ALARMS
    )
    for alarm in alarms.values():
        props = alarm["Properties"]
        # ALARM only: the recovery is emailed by the recovery rule after a real ALARM (tests/test_recovery.py).
        assert props["AlarmActions"] == [{"Ref": topic}]
        assert "OKActions" not in props
        assert "InsufficientDataActions" not in props


def test_every_notification_says_what_happened_and_what_to_do(staging: assertions.Template) -> None:
    alarms = staging.find_resources("AWS::CloudWatch::Alarm")
    descriptions = {
        a["Properties"]["AlarmName"]: a["Properties"]["AlarmDescription"] for a in alarms.values()
    }
    # The library's advice, except where the staging app gives its own (its runbook: Sentry, the seed's error
    # tracker, for cpu-high and backend-errors).
    assert descriptions == {
        "ai-tutor-staging-cpu-high": "CPU above 80% for 10 minutes on AiTutorStaging/Host: the server is under "
        "heavy load. Find the busy container with `docker stats` (Session Manager) and slow endpoints in Sentry "
        "Performance; scale up if the load is real.",
        "ai-tutor-staging-status-check": "EC2 status check failed for 2 minutes on AiTutorStaging/Host: the "
        "instance is unreachable or unhealthy. EC2 console > instance > Status checks: a failed system check is "
        "fixed by stop and start (new hardware), a failed instance check by a reboot and the system log.",
        "ai-tutor-staging-memory-high": "Memory used above 85% for 10 minutes on AiTutorStaging/Host: containers "
        "risk being killed by the OOM killer. Find the largest with `docker stats`; restart or limit it "
        "(`mem_limit`), or move to a larger instance.",
        "ai-tutor-staging-disk-high": "Root filesystem above 80% used on AiTutorStaging/Host: prune Docker images "
        "(docker system prune) before writes start failing.",
        "ai-tutor-staging-container-crash": "A container on AiTutorStaging/Host crashed (non-zero exit other than "
        "a stop, or OOM kill). See the docker-events log group or the container-crashes saved query.",
        "ai-tutor-staging-nginx-5xx": "1 or more 5xx responses a minute, in 3 of the last 5 minutes, in "
        "/ai-tutor/nginx (502/504: the backend is down or slow). See the nginx-5xx-by-path saved query.",
        "ai-tutor-staging-backend-errors": "1 or more ERROR/CRITICAL lines a minute, in 3 of the last 5 minutes, "
        "in /ai-tutor/backend: errors keep coming. Sentry has each exception; see the backend-errors saved query.",
    }


def test_the_librarys_advice_names_no_particular_tool_and_a_runbook_replaces_it() -> None:
    stack, _ = _host_stack()
    cpu = _alarm(assertions.Template.from_stack(stack), "shop-cpu-high")["AlarmDescription"]
    assert cpu == (
        "CPU above 80% for 10 minutes on AlarmsTest/Host: the server is under heavy load. Find the busy container "
        "with `docker stats` (Session Manager) and the slow requests in the web server's access log; scale up if "
        "the load is real."
    )
    stack, _ = _host_stack(runbook={"disk-high": "Page #storage; the runbook is go/disk."})
    template = assertions.Template.from_stack(stack)
    assert _alarm(template, "shop-disk-high")["AlarmDescription"] == (
        "Root filesystem above 80% used on AlarmsTest/Host: Page #storage; the runbook is go/disk."
    )
    assert _alarm(template, "shop-cpu-high")["AlarmDescription"] == cpu  # the others keep the library's


def test_memory_high_watches_the_agents_metric(staging: assertions.Template) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    props = _alarm(staging, "ai-tutor-staging-memory-high")
    assert props.pop("AlarmDescription").startswith("Memory used above 85% for 10 minutes")
    props.pop("AlarmActions")
    assert props == {
        "AlarmName": "ai-tutor-staging-memory-high",
        "Namespace": "AiTutor/Staging",
        "MetricName": "mem_used_percent",
        "Dimensions": [{"Name": "InstanceId", "Value": {"Ref": instance}}],
        "Statistic": "Average",
        "Period": 300,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 85,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }


def test_disk_high_watches_the_root_filesystem(staging: assertions.Template) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    props = _alarm(staging, "ai-tutor-staging-disk-high")
    assert props.pop("AlarmDescription").startswith("Root filesystem above 80% used")
    props.pop("AlarmActions")
    assert props == {
        "AlarmName": "ai-tutor-staging-disk-high",
        "Namespace": "AiTutor/Staging",
        "MetricName": "disk_used_percent",
        "Dimensions": [{"Name": "InstanceId", "Value": {"Ref": instance}}],
        "Statistic": "Maximum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 80,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",
    }


def test_memory_and_disk_thresholds_are_configurable() -> None:
    stack, _ = _host_stack(
        memory_threshold_percent=90, memory_duration=cdk.Duration.minutes(15), disk_threshold_percent=70
    )
    template = assertions.Template.from_stack(stack)
    memory = _alarm(template, "shop-memory-high")
    assert (memory["Threshold"], memory["EvaluationPeriods"], memory["Namespace"]) == (
        90,
        3,
        "ConstructsObs/AlarmsTest/Host",
    )
    assert _alarm(template, "shop-disk-high")["Threshold"] == 70


def test_topic_enforces_ssl(staging: assertions.Template) -> None:
    topic = logical_id(staging, "AWS::SNS::Topic")
    staging.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": topic}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Principal": "*",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_no_emails_means_no_subscription_and_a_warning(staging: assertions.Template) -> None:
    staging.resource_count_is("AWS::SNS::Subscription", 0)
    stack, _ = _host_stack()
    assertions.Annotations.from_stack(stack).has_warning(
        "/AlarmsTest/Alarms", Match.string_like_regexp("alarm topic has no email subscription")
    )


def test_one_email_subscription_per_address(staging_with_emails: assertions.Template) -> None:
    topic = logical_id(staging_with_emails, "AWS::SNS::Topic")
    staging_with_emails.resource_count_is("AWS::SNS::Subscription", 2)
    for email in ("ops@example.com", "oncall@example.com"):
        staging_with_emails.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": email, "TopicArn": {"Ref": topic}}
        )


def test_threshold_and_duration_are_configurable() -> None:
    stack, _ = _host_stack(cpu_threshold_percent=90, cpu_duration=cdk.Duration.minutes(15))
    props = _alarm(assertions.Template.from_stack(stack), "shop-cpu-high")
    assert (props["Threshold"], props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (
        90,
        300,
        3,
        3,
    )


def test_existing_topic_is_used_and_none_is_created() -> None:
    stack = cdk.Stack(cdk.App(), "Existing", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    host = ObservedEc2Host(
        stack,
        "Host",
        vpc=vpc,
        log_groups=ContainerLogGroups(
            stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"]
        ),
    )
    arn = "arn:aws:sns:eu-west-1:111111111111:ops"
    topic = sns.Topic.from_topic_arn(stack, "Ops", arn)
    alarms = BasicAlarms(
        stack, "Alarms", host=host, name_prefix="shop", topic=topic, emails=["a@example.com"]
    )
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::SNS::Topic", 0)
    template.has_resource_properties("AWS::SNS::Subscription", {"TopicArn": arn, "Endpoint": "a@example.com"})
    assert alarms.topic is topic
    assert _alarm(template, "shop-status-check")["AlarmActions"] == [arn]
    # The one warning: an imported topic's policy cannot be checked or changed here.
    warnings = assertions.Annotations.from_stack(stack).find_warning("*", Match.any_value())
    # One for CloudWatch (alarm actions), one for EventBridge (the recovery rule).
    assert [w.id for w in warnings] == ["/Existing/Alarms", "/Existing/Alarms"]
    assert "must allow the service principal cloudwatch.amazonaws.com sns:Publish" in str(
        warnings[0].entry.data
    )


def test_attributes() -> None:
    stack, alarms = _host_stack()
    assert alarms.alarms == [
        alarms.cpu_high,
        alarms.status_check,
        alarms.memory_high,
        alarms.disk_high,
        alarms.container_crash,
    ]
    assert alarms.period.to_minutes() == 5
    # The topic attribute is the topic the construct created, the one every alarm notifies.
    template = assertions.Template.from_stack(stack)
    topic = logical_id(template, "AWS::SNS::Topic")
    assert stack.resolve(alarms.topic.topic_arn) == {"Ref": topic}
    assert {
        json.dumps(a["Properties"]["AlarmActions"])
        for a in template.find_resources("AWS::CloudWatch::Alarm").values()
    } == {json.dumps([{"Ref": topic}])}


@pytest.mark.parametrize(
    ("props", "error"),
    [
        (
            {"memory_threshold_percent": 120},
            r"memory_threshold_percent must be between 0 and 100 \(below 100: .*\), got 120",
        ),
        (
            {"disk_threshold_percent": 100},
            r"disk_threshold_percent must be between 0 and 100 \(below 100: .*\), got 100",
        ),
        (
            {"memory_duration": cdk.Duration.minutes(7)},
            r"memory_duration must be a whole multiple of period \(300 seconds\), got 7 minutes \(420 seconds\)",
        ),
        (
            {"memory_duration": cdk.Duration.minutes(1)},
            r"memory_duration must be a whole multiple of period \(300 seconds\), got 1 minute \(60 seconds\)",
        ),
    ],
)
def test_memory_and_disk_props_are_checked(props: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _host_stack(**props)
