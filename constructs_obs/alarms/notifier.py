"""How every alarm of the library notifies: :class:`AlarmNotifier` (named alarms on one topic, each with its
dashboard graph, :class:`AlarmGraph`) and the topic policy statement that lets CloudWatch publish them
(:func:`allow_cloudwatch_to_publish`). Alarms notify on ALARM only: their recovery is emailed by
:mod:`constructs_obs.alarms.recovery`. Shared by :class:`~constructs_obs.alarms.basic.BasicAlarms` and
:class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Annotations, ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_name

#: The service principal that publishes alarm notifications to SNS.
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class AlarmGraph:
    """An alarm and how a dashboard shows it: a graph of its metric with its threshold line.

    Attributes:
        alarm: the alarm.
        title: the graph's title.
        left_y_axis: the graph's y-axis (for example 0-100 for a percentage).
        lines: the metrics the graph shows instead of the alarm's own (for an alarm on a metric-math expression,
            the metrics it compares); empty: the alarm's metric with its threshold line.
    """

    alarm: cloudwatch.Alarm
    title: str
    left_y_axis: cloudwatch.YAxisProps
    lines: tuple[cloudwatch.IMetric, ...] = ()


def alarm_arn_pattern(scope: Construct, name_prefix: str) -> str:
    """The ARN pattern of the alarms named ``{name_prefix}-...`` in ``scope``'s account and Region."""
    return Stack.of(scope).format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=f"{name_prefix}-*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def allow_cloudwatch_to_publish(scope: Construct, topic: sns.ITopic, name_prefix: str, *, sid: str) -> None:
    """Let CloudWatch publish the alarms named ``{name_prefix}-*`` to ``topic``, and nothing else.

    A topic policy replaces SNS's default policy (which lets the account's principals publish), and
    ``enforce_ssl`` writes one whose only statement denies non-TLS requests: without this statement every
    alarm action fails with "... is not authorized to perform: SNS:Publish ... because no resource-based
    policy allows" (aws-solutions/automated-security-response-on-aws#43). The statement follows the
    confused-deputy guidance for CloudWatch alarms publishing to SNS (Amazon CloudWatch User Guide, "Confused
    deputy prevention"): ``aws:SourceAccount`` is this account and ``aws:SourceArn`` matches the alarm names,
    ``{name_prefix}-*``, which covers alarms added later with the same prefix. ``sid`` must be unique in the
    topic's policy.
    """
    stack = Stack.of(scope)
    pattern = alarm_arn_pattern(scope, name_prefix)
    added = topic.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
            actions=["sns:Publish"],
            resources=[topic.topic_arn],
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {"aws:SourceArn": pattern},
            },
        )
    )
    if not added.statement_added:
        Annotations.of(scope).add_warning_v2(
            "constructs-obs:imported-topic-policy",
            "topic is imported, so its policy cannot be changed here. If it has a topic policy, that policy "
            f"must allow the service principal {CLOUDWATCH_PRINCIPAL} sns:Publish on the topic (with "
            f"aws:SourceAccount = this account and aws:SourceArn like {_readable_pattern(stack, name_prefix)!r}), "
            "or every "
            "alarm notification is refused; a topic with SNS's default policy needs nothing. See "
            "docs/usage.md, 'Your own topic'.",
        )


class AlarmNotifier:
    """Creates alarms named ``{name_prefix}-{suffix}`` that notify ``topic`` on ALARM (their recovery: the rule of
    :mod:`constructs_obs.alarms.recovery`).

    Shared by :class:`~constructs_obs.alarms.basic.BasicAlarms` and
    :class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`; each alarm is
    created in the scope of the construct that defines it, and carries its dashboard graph
    (:class:`AlarmGraph`).

    Attributes:
        topic: the topic.
        name_prefix: the alarm name prefix.
        graphs: every alarm created, with its graph, in creation order.
    """

    def __init__(self, topic: sns.ITopic, name_prefix: str) -> None:
        """Args: topic: the topic to notify. name_prefix: the alarm names' prefix."""
        self.topic = topic
        self.name_prefix = name_prefix
        self.graphs: list[AlarmGraph] = []
        self._action = cw_actions.SnsAction(topic)

    def add_alarm(
        self,
        construct_id: str,
        *,
        scope: Construct,
        suffix: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison_operator: cloudwatch.ComparisonOperator,
        evaluation_periods: int,
        treat_missing_data: cloudwatch.TreatMissingData,
        description: str,
        datapoints_to_alarm: int | None = None,
        graph_title: str | None = None,
        left_y_axis: cloudwatch.YAxisProps | None = None,
        graph_lines: Sequence[cloudwatch.IMetric] = (),
    ) -> cloudwatch.Alarm:
        """Create the alarm in ``scope`` (see :meth:`~constructs_obs.alarms.basic.BasicAlarms.add_alarm` for the arguments and errors)."""
        name = f"{self.name_prefix}-{suffix}"
        check.alarm_name("suffix", name)
        check.require_type("description", description, str, "the alarm's description")
        check.alarm_description("description", description)
        check.number("threshold", threshold)
        period_seconds = None
        if isinstance(metric, cloudwatch.Metric):
            period_seconds = check.alarm_period("metric period", metric.period, high_resolution=True)
        check.evaluation_range("evaluation_periods", evaluation_periods, period_seconds)
        if datapoints_to_alarm is not None:
            check.datapoints("datapoints_to_alarm", datapoints_to_alarm, evaluation_periods)
        if graph_title is not None:
            check.require_type("graph_title", graph_title, str, "the dashboard graph's title")
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            alarm_name=name,
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison_operator,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=treat_missing_data,
        )
        claim_name(alarm, kind="alarm", name=name)
        # No OK action: a recovery is emailed by the recovery rule, only after a real ALARM
        # (constructs_obs.alarms.recovery).
        alarm.add_alarm_action(self._action)
        self.graphs.append(
            AlarmGraph(
                alarm, graph_title or suffix, left_y_axis or cloudwatch.YAxisProps(min=0), tuple(graph_lines)
            )
        )
        return alarm


def _readable_pattern(stack: Stack, name_prefix: str) -> str:
    """The alarm ARN pattern for a message: ``<this account>`` / ``<this Region>`` where they are tokens."""
    account = "<this account>" if check.unresolved(stack.account) else stack.account
    region = "<this Region>" if check.unresolved(stack.region) else stack.region
    partition = "aws" if check.unresolved(stack.partition) else stack.partition
    return f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name_prefix}-*"
