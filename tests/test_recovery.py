"""Recovery emails only after a real ALARM: no OKActions, one EventBridge rule per alarm topic and name prefix.

The event is CloudWatch's documented "CloudWatch Alarm State Change" example (Amazon CloudWatch User Guide,
"Alarm events and EventBridge", Single Metric Alarm; reasons shortened), with the alarm's name, ARN and states
substituted. The rule's pattern is evaluated by moto's EventBridge pattern matcher (moto 5.2,
``moto.events.models.EventPattern``), the one of the well-kept emulator, not a hand-written one.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from moto.events.models import EventPattern

from constructs_obs import BasicAlarms, ContainerLogGroups, LogPatternAlarms, ObservedEc2Host
from tests.alarm_events import DOCUMENTED_EVENT
from tests.cfn import ACCOUNT, Resolver


def _event(region: str, name: str, previous: str, state: str) -> dict[str, Any]:
    event = copy.deepcopy(DOCUMENTED_EVENT)
    event["region"] = region
    event["account"] = ACCOUNT
    event["resources"] = [f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}"]
    event["detail"]["alarmName"] = name
    event["detail"]["previousState"]["value"] = previous
    event["detail"]["state"]["value"] = state
    return event


def _rules(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Events::Rule"}


def _pattern(template: dict[str, Any], region: str, rule: dict[str, Any]) -> EventPattern:
    return EventPattern.load(
        json.dumps(Resolver(template, region).resolve(rule["Properties"]["EventPattern"]))
    )


def _alarm_names(template: dict[str, Any]) -> list[str]:
    return [
        r["Properties"]["AlarmName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]


def test_no_alarm_has_ok_actions_and_each_notifies_the_topic_on_alarm(
    staging_template_json: dict[str, Any],
) -> None:
    alarms = [r for r in staging_template_json["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 7
    topic = next(k for k, r in staging_template_json["Resources"].items() if r["Type"] == "AWS::SNS::Topic")
    for alarm in alarms:
        assert "OKActions" not in alarm["Properties"]
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_the_recovery_rule_matches_alarm_to_ok_only_for_every_alarm(
    staging_template_json: dict[str, Any],
) -> None:
    rules = _rules(staging_template_json)
    assert len(rules) == 1
    (rule,) = rules.values()
    pattern = _pattern(staging_template_json, "us-east-2", rule)
    names = _alarm_names(staging_template_json)
    suffixes = [
        "cpu-high",
        "status-check",
        "memory-high",
        "disk-high",
        "container-crash",
        "nginx-5xx",
        "backend-errors",
    ]
    assert sorted(names) == sorted(f"ai-tutor-staging-{s}" for s in suffixes)
    for name in names:
        assert pattern.matches_event(_event("us-east-2", name, "ALARM", "OK")), name
        # A new alarm's first evaluation and the way back after a stop/start: no email.
        assert not pattern.matches_event(_event("us-east-2", name, "INSUFFICIENT_DATA", "OK")), name
        assert not pattern.matches_event(_event("us-east-2", name, "OK", "ALARM")), name
        assert not pattern.matches_event(_event("us-east-2", name, "ALARM", "INSUFFICIENT_DATA")), name
    # Another stack's alarms (another prefix, or the same name in another Region) are not this rule's.
    assert not pattern.matches_event(_event("us-east-2", "shop-prod-cpu-high", "ALARM", "OK"))
    assert not pattern.matches_event(_event("eu-west-1", "ai-tutor-staging-cpu-high", "ALARM", "OK"))


def test_the_message_names_the_alarm_and_says_it_recovered(staging_template_json: dict[str, Any]) -> None:
    (rule,) = _rules(staging_template_json).values()
    (target,) = rule["Properties"]["Targets"]
    topic = next(k for k, r in staging_template_json["Resources"].items() if r["Type"] == "AWS::SNS::Topic")
    assert target["Arn"] == {"Ref": topic}
    transformer = target["InputTransformer"]
    event = _event("us-east-2", "ai-tutor-staging-status-check", "ALARM", "OK")

    def value(path: str) -> str:
        node: Any = event
        for part in path.removeprefix("$.").split("."):
            node = node[part]
        return str(node)

    # What EventBridge does with an InputTemplate: each <name> becomes the value at its InputPathsMap path.
    message = json.loads(
        re.sub(
            r"<([\w-]+)>",
            lambda m: value(transformer["InputPathsMap"][m.group(1)]),
            transformer["InputTemplate"],
        )
    )
    assert message.startswith(
        "OK: alarm ai-tutor-staging-status-check recovered (ALARM -> OK) at 2019-10-02T"
    )
    assert "in us-east-2" in message


def test_the_topic_policy_lets_eventbridge_publish_for_that_rule_only(
    staging_template_json: dict[str, Any],
) -> None:
    (rule_id,) = _rules(staging_template_json)
    policies = [
        r for r in staging_template_json["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"
    ]
    assert len(policies) == 1
    statements = policies[0]["Properties"]["PolicyDocument"]["Statement"]
    events = [s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert len(events) == 1
    assert events[0]["Effect"] == "Allow" and events[0]["Action"] == "sns:Publish"
    assert events[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    # No other statement lets EventBridge in (aws-events-targets' own grant has no condition).
    assert not [s for s in statements if "events.amazonaws.com" in json.dumps(s) and s is not events[0]]


def _app_stack() -> tuple[cdk.Stack, ObservedEc2Host]:
    from aws_cdk import aws_ec2 as ec2

    stack = cdk.Stack(cdk.App(), "Team", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/team", containers=["api", "nginx"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)
    return stack, host


def test_log_pattern_alarms_on_their_own_topic_get_their_own_rule() -> None:
    stack, _ = _app_stack()
    topic = sns.Topic(stack, "Topic")
    group = stack.node.find_child("Logs").log_group("nginx")  # type: ignore[attr-defined]
    LogPatternAlarms(stack, "LogAlarms", topic=topic, name_prefix="team-web", nginx_log_group=group)
    template = assertions.Template.from_stack(stack).to_json()
    (rule,) = _rules(template).values()
    pattern = _pattern(template, "eu-west-1", rule)
    assert pattern.matches_event(_event("eu-west-1", "team-web-nginx-5xx", "ALARM", "OK"))
    assert not pattern.matches_event(_event("eu-west-1", "team-web-nginx-5xx", "INSUFFICIENT_DATA", "OK"))
    for alarm in (r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"):
        assert "OKActions" not in alarm["Properties"]


def test_a_customer_managed_topic_key_lets_eventbridge_use_it() -> None:
    stack, host = _app_stack()
    key = kms.Key(stack, "Key")
    BasicAlarms(
        stack, "Alarms", host=host, name_prefix="team", emails=["ops@example.com"], topic_encryption_key=key
    )
    template = assertions.Template.from_stack(stack).to_json()
    (key_resource,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    statements = key_resource["Properties"]["KeyPolicy"]["Statement"]
    events = [s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert len(events) == 1
    assert events[0]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_an_imported_topic_warns_what_its_policy_needs() -> None:
    stack, host = _app_stack()
    topic = sns.Topic.from_topic_arn(stack, "Theirs", "arn:aws:sns:eu-west-1:123456789012:theirs")
    BasicAlarms(stack, "Alarms", host=host, name_prefix="team", topic=topic)
    warnings = assertions.Annotations.from_stack(stack).find_warning(
        "*", assertions.Match.string_like_regexp(".*events.amazonaws.com.*")
    )
    assert warnings, "synth must say the imported topic's policy needs events.amazonaws.com"


@pytest.mark.parametrize("previous", ["ALARM"])
def test_the_documented_event_itself_is_a_transition_to_alarm(previous: str) -> None:
    # The example as documented goes OK -> ALARM: the ALARM action emails that one, the rule does not.
    assert DOCUMENTED_EVENT["detail"]["previousState"]["value"] == "OK"
    assert DOCUMENTED_EVENT["detail"]["state"]["value"] == previous
