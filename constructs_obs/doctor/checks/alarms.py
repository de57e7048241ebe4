"""The alarms: each alarm of the stack exists, notifies what the template says on ALARM and OK, watches an
instance of the stack, and is not stuck without data (``PENDING`` while a new alarm may still wait for its first
evaluation: :func:`~constructs_obs.doctor.windows.alarm_expected_by`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.facts import AlarmSpec, StackFacts, could_not_check, is_topic_arn, topic_name, when
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import alarm_expected_by, pending_row

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef


def alarm_instance_ids(alarm: MetricAlarmTypeDef) -> list[str]:
    """The values of every ``InstanceId`` dimension of the alarm's metric (or metric-math metrics)."""
    dimensions = list(alarm.get("Dimensions", []))
    for query in alarm.get("Metrics", []):
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return [d.get("Value", "") for d in dimensions if d.get("Name") == "InstanceId"]


def describe_alarms(cw: CloudWatchClient, names: Sequence[str]) -> dict[str, MetricAlarmTypeDef]:
    """The metric alarms of those names that exist."""
    found: dict[str, MetricAlarmTypeDef] = {}
    paginator = cw.get_paginator("describe_alarms")
    for start in range(0, len(names), 100):
        for page in paginator.paginate(
            AlarmNames=list(names[start : start + 100]), AlarmTypes=["MetricAlarm"]
        ):
            for alarm in page.get("MetricAlarms", []):
                found[alarm.get("AlarmName", "")] = alarm
    return found


def _expected_actions(facts: StackFacts, spec: AlarmSpec) -> list[tuple[str, list[str]]]:
    """(state, topics) the alarm must notify: the template's topics, or the stack's alarm topic."""
    fallback = facts.alarm_topics()[:1] if not (spec.alarm_actions or spec.ok_actions) else []
    expected = []
    for state, actions in (("ALARM", spec.alarm_actions), ("OK", spec.ok_actions)):
        topics = [a for a in actions if is_topic_arn(a)] or fallback
        if topics:
            expected.append((state, topics))
    return expected


def _check_alarm_actions(
    facts: StackFacts, spec: AlarmSpec, name: str, alarm: MetricAlarmTypeDef
) -> CheckResult:
    inv = facts.inv
    expected = _expected_actions(facts, spec)
    if not expected:
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            "notifies no SNS topic (the template gives it no topic action and the stack has no alarm topic), "
            "so nobody is notified",
            "Build the stack with BasicAlarms, which creates the topic and outputs AlarmTopicArn.",
        )
    topic = topic_name(expected[0][1][0])
    if not alarm.get("ActionsEnabled", True):
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            "actions are disabled: state changes notify nobody",
            f"Enable them: aws cloudwatch enable-alarm-actions --alarm-names {name} --region {inv.region}",
        )
    live = {"ALARM": set(alarm.get("AlarmActions", [])), "OK": set(alarm.get("OKActions", []))}
    missing = [state for state, topics in expected if not live[state] & set(topics)]
    if missing:
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            f"does not notify topic {topic} on {' and '.join(missing)}",
            guide.drift(f"Alarm {name}", inv.name, inv.region),
        )
    states = " and ".join(state for state, _ in expected)
    return CheckResult("alarm", Status.PASS, name, f"exists, notifies {topic} on {states}")


def _check_alarm_instance(
    stack: str, region: str, name: str, watched: list[str], instances: Sequence[str]
) -> CheckResult:
    wrong = [i for i in watched if i not in instances]
    if not wrong:
        return CheckResult("alarm-instance", Status.PASS, name, f"watches {', '.join(watched)}")
    actual = ", ".join(instances) or "none"
    return CheckResult(
        "alarm-instance",
        Status.FAIL,
        name,
        f"watches {', '.join(wrong)}, but the stack's instance is {actual}",
        "The EC2 instance ID in the alarm does not match the actual instance. "
        + guide.drift(f"Alarm {name}", stack, region),
    )


def _check_alarm_state(
    name: str, alarm: MetricAlarmTypeDef, watches_instance: bool, now: datetime
) -> CheckResult:
    state = alarm.get("StateValue", "")
    updated = alarm.get("StateUpdatedTimestamp")
    since = f" since {when(updated)}" if updated else ""
    if state == "OK":
        return CheckResult("alarm-state", Status.PASS, name, f"OK{since}")
    if state == "ALARM":
        return CheckResult(
            "alarm-state",
            Status.WARN,
            name,
            f"ALARM{since}: {alarm.get('StateReason', '')}".rstrip(": "),
            f"The alarm works and something needs attention: {alarm.get('AlarmDescription') or name}",
        )
    if updated is not None and now < (expected_by := alarm_expected_by(updated, alarm)):
        minutes = max(int((now - updated).total_seconds() // 60), 0)
        return pending_row(
            "alarm-state", name, f"{state} for {minutes} min: {guide.INSUFFICIENT_DATA}", expected_by
        )
    lasted = (
        f"{state} for {int((now - updated).total_seconds() // 60)} min{since}, longer than "
        f"{int((alarm_expected_by(updated, alarm) - updated).total_seconds() // 60)} min"
        if updated
        else f"{state} (since an unknown time)"
    )
    if watches_instance:
        return CheckResult(
            "alarm-state",
            Status.FAIL,
            name,
            lasted,
            guide.INSUFFICIENT_DATA
            + " Also check the instance is running and, for agent metrics, that the CloudWatch agent runs.",
        )
    metric = "/".join(filter(None, (alarm.get("Namespace"), alarm.get("MetricName")))) or "its metric"
    return CheckResult(
        "alarm-state",
        Status.WARN,
        name,
        f"{lasted}: {metric} has no datapoints",
        f"Check what publishes {metric} (the metric filter's log group receives events, the agent runs); an "
        "alarm on rare events should treat missing data as notBreaching.",
    )


def check_alarms(
    cw: CloudWatchClient,
    facts: StackFacts,
    *,
    now: datetime,
) -> tuple[list[CheckResult], dict[str, MetricAlarmTypeDef]]:
    """Every alarm of the stack exists, notifies what the template says on ALARM and OK, watches an instance of
    the stack (when it has an ``InstanceId`` dimension) and is not stuck in INSUFFICIENT_DATA.

    Returns the rows and the alarms as CloudWatch describes them, for the delivery checks.
    """
    inv = facts.inv
    rows: list[CheckResult] = []
    names = [a.name for a in facts.alarms if a.name]
    try:
        found = describe_alarms(cw, names)
    except (ClientError, BotoCoreError) as error:
        return [could_not_check("alarm", n, error) for n in names], {}
    for spec in facts.alarms:
        name = spec.name
        if not name:
            rows.append(
                CheckResult(
                    "alarm",
                    Status.FAIL,
                    spec.logical_id,
                    "not in the stack's resources: CloudFormation has not created it",
                    "Check the stack's events for why, fix it and deploy again.",
                )
            )
            continue
        alarm = found.get(name)
        if alarm is None:
            rows.append(
                CheckResult(
                    "alarm",
                    Status.FAIL,
                    name,
                    "does not exist",
                    guide.drift(f"Alarm {name}", inv.name, inv.region),
                )
            )
            continue
        rows.append(_check_alarm_actions(facts, spec, name, alarm))
        watched = alarm_instance_ids(alarm)
        if watched:
            rows.append(_check_alarm_instance(inv.name, inv.region, name, watched, facts.instance_ids))
        rows.append(_check_alarm_state(name, alarm, bool(watched), now))
    return rows, found
