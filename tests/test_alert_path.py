"""Every alarm's notification can reach its topic: alarm -> action -> topic -> topic policy (-> key policy).

A topic policy replaces SNS's default policy; CDK's ``enforce_ssl`` writes one whose only statement is the TLS
Deny, so nothing allowed CloudWatch to publish and every alarm action failed on a real deploy ("... is not
authorized to perform: SNS:Publish ... because no resource-based policy allows",
aws-solutions/automated-security-response-on-aws#43) while every other test passed. These tests walk each
alarm's actions to the policies that decide, and evaluate them for the request CloudWatch makes: the service
principal ``cloudwatch.amazonaws.com``, ``sns:Publish`` on the topic, over TLS, with ``aws:SourceAccount`` and
``aws:SourceArn`` set to the alarm (Amazon CloudWatch User Guide, "Confused deputy prevention"). An encrypted
topic also needs CloudWatch to use its key: ``kms:GenerateDataKey*`` and ``kms:Decrypt`` (Amazon SNS Developer
Guide, "Enable compatibility between event sources from AWS services and encrypted topics").
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns

from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host
from constructs_obs.testing.policy import Request, evaluate
from tests.cfn import ACCOUNT, Resolver, alarm_arn

CLOUDWATCH = "cloudwatch.amazonaws.com"
STAGING_REGION = "us-east-2"


def _topic_policies(template: dict[str, Any], resolver: Resolver) -> dict[str, list[dict[str, Any]]]:
    """Topic ARN -> the statements of every AWS::SNS::TopicPolicy attached to it."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::SNS::TopicPolicy":
            continue
        document = resolver.resolve(resource["Properties"]["PolicyDocument"])
        for topic in resource["Properties"]["Topics"]:
            policies.setdefault(resolver.resolve(topic), []).extend(document["Statement"])
    return policies


def _topics(template: dict[str, Any], resolver: Resolver) -> dict[str, dict[str, Any]]:
    return {
        resolver.ref(logical_id): resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SNS::Topic"
    }


def delivery_problems(template: dict[str, Any], region: str) -> list[str]:
    """Why an alarm's notification would not reach its topic, one line per alarm action; [] when all would."""
    resolver = Resolver(template, region)
    policies = _topic_policies(template, resolver)
    topics = _topics(template, resolver)
    problems: list[str] = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        name = resolver.resolve(props["AlarmName"])
        actions = resolver.resolve(props.get("AlarmActions", []) + props.get("OKActions", []))
        if not actions:
            problems.append(f"{name}: no actions")
        for topic_arn in actions:
            context = {
                "aws:SourceAccount": ACCOUNT,
                "aws:SourceArn": alarm_arn(region, name),
                "aws:SecureTransport": True,
            }
            if topic_arn in policies:
                decision = evaluate(
                    {"Statement": policies[topic_arn]},
                    Request(action="sns:Publish", resource=topic_arn, service=CLOUDWATCH, context=context),
                )
                if not decision.allowed:
                    problems.append(f"{name} -> {topic_arn}: {decision.reason}")
            elif topic_arn not in topics:
                problems.append(f"{name} -> {topic_arn}: topic not in the template, its policy is unknown")
            key = topics.get(topic_arn, {}).get("Properties", {}).get("KmsMasterKeyId")
            if key is not None:
                problems.extend(f"{name} -> {topic_arn}: {p}" for p in _key_problems(template, resolver, key))
    return problems


def _key_problems(template: dict[str, Any], resolver: Resolver, key: Any) -> list[str]:
    if not isinstance(key, dict) or not ("Fn::GetAtt" in key or "Ref" in key):
        return [f"key {key!r} is not in the template: its key policy is unknown"]
    logical_id = key["Fn::GetAtt"][0] if "Fn::GetAtt" in key else key["Ref"]
    key_arn = resolver.get_att(logical_id, "Arn")
    document = resolver.resolve(template["Resources"][logical_id]["Properties"]["KeyPolicy"])
    problems = []
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        decision = evaluate(document, Request(action=action, resource=key_arn, service=CLOUDWATCH))
        if not decision.allowed:
            problems.append(f"{action} on the topic's key: {decision.reason}")
    return problems


def _alarm_count(template: dict[str, Any]) -> int:
    return sum(1 for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")


def test_every_staging_alarm_can_notify_its_topic(staging_template_json: dict[str, Any]) -> None:
    assert _alarm_count(staging_template_json) == 7
    assert delivery_problems(staging_template_json, STAGING_REGION) == []


@pytest.mark.parametrize("stack_name", ["Consumer", "ConsumerStrict", "ConsumerTuned", "ConsumerPinned"])
def test_every_consumer_alarm_can_notify_its_topic(consumer_app: cdk.App, stack_name: str) -> None:
    template = consumer_app.synth().get_stack_by_name(stack_name).template
    assert _alarm_count(template) == 5
    assert delivery_problems(template, "eu-west-1") == []


def test_the_encrypted_topic_is_checked_through_its_key(consumer_app: cdk.App) -> None:
    template = consumer_app.synth().get_stack_by_name("ConsumerStrict").template
    keys = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert len(keys) == 1
    statements = keys[0]["Properties"]["KeyPolicy"]["Statement"]
    # Without the key's CloudWatch statement the walk reports both key actions.
    keys[0]["Properties"]["KeyPolicy"]["Statement"] = [
        s for s in statements if s.get("Sid") != "CloudWatchAlarmsPublish"
    ]
    problems = delivery_problems(template, "eu-west-1")
    assert len(problems) == 5 * 2  # 5 alarms (ALARM actions only), two key actions each
    assert all("no statement allows" in p for p in problems)


def test_the_walk_catches_a_topic_policy_with_only_the_tls_deny(
    staging_template_json: dict[str, Any],
) -> None:
    """The defect as first released: the policy CDK's enforce_ssl writes, and nothing else."""
    template = {"Resources": dict(staging_template_json["Resources"])}
    (policy_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::TopicPolicy"]
    (topic_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic"]
    template["Resources"][policy_id] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "AllowPublishThroughSSLOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "sns:Publish",
                        "Resource": {"Ref": topic_id},
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
            "Topics": [{"Ref": topic_id}],
        },
    }
    problems = delivery_problems(template, STAGING_REGION)
    assert len(problems) == 7  # one ALARM action each (recovery goes through the rule)
    topic_arn = f"arn:aws:sns:us-east-2:111122223333:{topic_id}"
    assert problems[0] == (
        f"ai-tutor-staging-cpu-high -> {topic_arn}: no statement allows sns:Publish for this principal on {topic_arn}"
    )


def test_the_staging_topic_policy_allows_only_this_accounts_alarms_of_this_prefix(
    staging_template_json: dict[str, Any],
) -> None:
    resolver = Resolver(staging_template_json, STAGING_REGION)
    ((topic_arn, statements),) = _topic_policies(staging_template_json, resolver).items()
    policy = {"Statement": statements}

    def publish(source_arn: str, account: str = ACCOUNT, tls: bool = True) -> bool:
        context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn, "aws:SecureTransport": tls}
        request = Request(action="sns:Publish", resource=topic_arn, service=CLOUDWATCH, context=context)
        return evaluate(policy, request).allowed

    own = alarm_arn(STAGING_REGION, "ai-tutor-staging-cpu-high")
    assert publish(own)
    assert publish(alarm_arn(STAGING_REGION, "ai-tutor-staging-added-later"))
    assert not publish(alarm_arn(STAGING_REGION, "other-team-cpu-high"))
    assert not publish(own.replace(ACCOUNT, "444455556666"), account="444455556666")
    assert not publish(own, tls=False)
    # Nobody else may publish through this statement: not another service, not an IAM user.
    assert not evaluate(
        policy, Request(action="sns:Publish", resource=topic_arn, service="events.amazonaws.com")
    ).allowed


def test_the_statement_is_literal(staging: assertions.Template) -> None:
    topic = next(iter(staging.find_resources("AWS::SNS::Topic")))
    staging.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": assertions.Match.array_with(
                    [
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": {"Ref": topic},
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                "ArnLike": {
                                    "aws:SourceArn": {
                                        "Fn::Join": [
                                            "",
                                            [
                                                "arn:aws:cloudwatch:us-east-2:",
                                                {"Ref": "AWS::AccountId"},
                                                ":alarm:ai-tutor-staging-*",
                                            ],
                                        ]
                                    }
                                },
                            },
                        }
                    ]
                )
            }
        },
    )


def _small_host_stack() -> tuple[cdk.Stack, ObservedEc2Host]:
    app = cdk.App()
    stack = cdk.Stack(app, "Small", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["eu-west-1a"],
        public_subnet_ids=["subnet-0123456789abcdef0"],
    )
    logs = ContainerLogGroups(stack, "Logs", prefix="/small", containers=["api"])
    return stack, ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)


def test_an_alarm_added_later_with_add_alarm_can_notify_too() -> None:
    stack, host = _small_host_stack()
    alarms = BasicAlarms(stack, "Alarms", host=host, name_prefix="small", emails=["ops@example.com"])
    alarms.add_alarm(
        "QueueDepth",
        suffix="queue-depth",
        metric=cloudwatch.Metric(namespace="Small", metric_name="QueueDepth", period=cdk.Duration.minutes(1)),
        threshold=100,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        description="Queue too deep.",
    )
    template = assertions.Template.from_stack(stack).to_json()
    assert _alarm_count(template) == 6
    assert delivery_problems(template, "eu-west-1") == []


def test_an_imported_topic_gets_a_warning_saying_what_its_policy_needs() -> None:
    stack, host = _small_host_stack()
    topic = sns.Topic.from_topic_arn(stack, "Theirs", "arn:aws:sns:eu-west-1:111122223333:their-topic")
    BasicAlarms(stack, "Alarms", host=host, name_prefix="small", topic=topic)
    annotations = assertions.Annotations.from_stack(stack)
    annotations.has_warning(
        "/Small/Alarms",
        assertions.Match.string_like_regexp(
            r"topic is imported.*cloudwatch\.amazonaws\.com sns:Publish.*aws:SourceArn like "
        ),
    )


def test_a_topic_created_elsewhere_in_the_app_gets_the_statement() -> None:
    stack, host = _small_host_stack()
    topic = sns.Topic(stack, "Shared", enforce_ssl=True)
    BasicAlarms(stack, "Alarms", host=host, name_prefix="small", topic=topic)
    template = assertions.Template.from_stack(stack).to_json()
    assert delivery_problems(template, "eu-west-1") == []
