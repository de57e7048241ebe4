"""Recovery emails only after a real ALARM: one EventBridge rule per alarm topic and name prefix.

Alarms notify their topic on ALARM only (:class:`~constructs_obs.alarms.notifier.AlarmNotifier`); the way back
to OK is emailed by :func:`recovery_rule`, which :class:`~constructs_obs.alarms.basic.BasicAlarms` and
:class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms` (with its own topic) create.
"""

from __future__ import annotations

from aws_cdk import Annotations, ArnFormat, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

#: The service principal that delivers EventBridge rule targets (the recovery rule publishes through it).
EVENTS_PRINCIPAL = "events.amazonaws.com"

#: The event CloudWatch sends to EventBridge's default bus on every alarm state change ("Alarm events and
#: EventBridge", Amazon CloudWatch User Guide): ``detail.state.value`` and ``detail.previousState.value``.
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"

#: The recovery notification, filled in by the rule's input transformer from the state-change event.
RECOVERY_MESSAGE = (
    "OK: alarm {name} recovered (ALARM -> OK) at {time} in {region}, account {account}. {reason} "
    "Alarm description: {description}"
)


def allow_events_to_publish(scope: Construct, topic: sns.ITopic, rule: events.IRule, *, sid: str) -> None:
    """Let EventBridge publish to ``topic`` for ``rule`` only (``aws:SourceArn`` is the rule's ARN).

    The statement EventBridge's documentation gives for SNS targets ("Amazon SNS permissions", Amazon EventBridge
    User Guide), with the confused-deputy condition on the rule. For an imported topic synth warns instead.
    """
    added = topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(EVENTS_PRINCIPAL)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
        )
    )
    if not added.statement_added:
        Annotations.of(scope).add_warning_v2(
            "constructs-obs:imported-topic-recovery",
            "topic is imported, so its policy cannot be changed here. If it has a topic policy, that policy must "
            f"allow the service principal {EVENTS_PRINCIPAL} sns:Publish on the topic for the recovery rule "
            "(aws:SourceArn = the rule's ARN, the stack output of your choice), or recovery emails are refused; "
            "with a customer-managed KMS key its key policy must let events.amazonaws.com use it too. See "
            "docs/usage.md, 'Your own topic'.",
        )


def recovery_rule(scope: Construct, construct_id: str, *, topic: sns.ITopic, name_prefix: str) -> events.Rule:
    """One EventBridge rule that emails ``topic`` when an alarm named ``{name_prefix}-...`` goes from ALARM to OK.

    Alarms notify ``topic`` on ALARM only: ``OKActions`` run on every transition to OK, including a new alarm's
    INSUFFICIENT_DATA -> OK (every deploy that creates or replaces an alarm) and the way back from a stop/start
    for alarms that treat missing data as missing, so each of those emailed an "OK" for an alarm that never
    fired. The rule matches CloudWatch's "CloudWatch Alarm State Change" events on the default bus whose
    ``detail.previousState.value`` is ``ALARM`` and ``detail.state.value`` is ``OK``, for this account's and
    Region's alarms whose ARN starts with ``...:alarm:{name_prefix}-`` (the same alarms the topic policy lets
    CloudWatch publish, so alarms added later with the prefix are covered). An input transformer writes a message
    that names the alarm and says it recovered (:data:`RECOVERY_MESSAGE`). Rules that match events AWS services
    send to the default bus cost nothing ("All state change events published by AWS services by default are
    free", Amazon EventBridge pricing).

    EventBridge's own SNS target grants ``events.amazonaws.com`` publishing without a condition; the rule's target
    is therefore bound to an imported reference of the topic (CDK leaves an imported topic's policy alone) and
    :func:`allow_events_to_publish` adds the statement limited to this rule.
    """
    stack = Stack.of(scope)
    arn_prefix = stack.format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=f"{name_prefix}-",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
    message = events.RuleTargetInput.from_text(
        RECOVERY_MESSAGE.format(
            name=events.EventField.from_path("$.detail.alarmName"),
            time=events.EventField.from_path("$.detail.state.timestamp"),
            region=events.EventField.region,
            account=events.EventField.account,
            reason=events.EventField.from_path("$.detail.state.reason"),
            description=events.EventField.from_path("$.detail.configuration.description"),
        )
    )
    rule = events.Rule(
        scope,
        construct_id,
        description=f"Alarms {name_prefix}-*: email their recovery (ALARM -> OK) to the alarm topic",
        event_pattern=events.EventPattern(
            source=["aws.cloudwatch"],
            detail_type=[ALARM_STATE_CHANGE],
            resources=events.Match.prefix(arn_prefix),
            detail={"previousState": {"value": ["ALARM"]}, "state": {"value": ["OK"]}},
        ),
    )
    target_topic = sns.Topic.from_topic_arn(scope, f"{construct_id}Topic", topic.topic_arn)
    rule.add_target(targets.SnsTopic(target_topic, message=message))
    # The topic is the stack's own (or the caller's), referenced by ARN only to keep CDK from granting on it.
    Annotations.of(rule).acknowledge_warning(
        "@aws-cdk/aws-events:ruleUnresolvedEnvironment",
        "the target is this stack's alarm topic, referenced by its ARN in the same account and Region",
    )
    allow_events_to_publish(scope, topic, rule, sid=f"EventBridgeRecovery{scope.node.addr[:8]}")
    return rule
