"""Delivery: may CloudWatch publish each alarm's notification to its topic, and does the notification reach someone?

- ``topic-policy``: the live topic policy (``sns:GetTopicAttributes``) is evaluated, with
  :func:`constructs_obs.testing.policy.evaluate`, for the request CloudWatch makes for each alarm: the service principal
  ``cloudwatch.amazonaws.com``, ``sns:Publish`` on the topic, over TLS, with ``aws:SourceAccount`` and
  ``aws:SourceArn`` set to the alarm (Amazon CloudWatch User Guide, "Confused deputy prevention";
  ``aws:SourceOwner``, which SNS's default topic policy tests, is the alarm's account too). An Allow must apply
  and no Deny. Topics the stack imported are read the same way (in their own region).
- ``topic-key``: for an encrypted topic, the key (``kms:DescribeKey``) and its key policy (``kms:GetKeyPolicy``):
  CloudWatch needs ``kms:GenerateDataKey*`` and ``kms:Decrypt`` on it (Amazon SNS Developer Guide, "Enable
  compatibility between event sources from AWS services and encrypted topics"), which an AWS-managed key such as
  ``alias/aws/sns`` can never give.
- ``alarm-history``: each alarm's action history of the last :data:`HISTORY_DAYS` days
  (``cloudwatch:DescribeAlarmHistory``, ``HistoryItemType=Action``): a "Failed to execute action" item is what
  CloudWatch recorded when a notification did not go out, with AWS's own error text.
- ``subscriptions`` / ``subscription``: each alarm topic has a confirmed email subscription.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.facts import (
    CLOUDWATCH_PRINCIPAL,
    StackFacts,
    could_not_check,
    error_code,
    is_topic_arn,
    missing_or_could_not_check,
    plural,
    topic_name,
    when,
)
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.testing.policy import Request, UnsupportedPolicyError, evaluate

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef

#: How far back the alarm history is read.
HISTORY_DAYS = 7

#: How CloudWatch's alarm history starts the summary of an action that did not go out.
FAILED_ACTION = "Failed to execute action"

#: What CloudWatch needs on an encrypted topic's key.
KEY_ACTIONS: tuple[str, ...] = ("kms:GenerateDataKey*", "kms:Decrypt")

EMAIL_PROTOCOLS = frozenset({"email", "email-json"})

ClientFor = Callable[[str, str], Any]


def _region(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def alarm_arn(facts: StackFacts, name: str, alarm: Mapping[str, Any]) -> str:
    """The alarm's ARN (CloudWatch's, or built from the stack's region and account)."""
    arn = alarm.get("AlarmArn")
    if isinstance(arn, str) and arn:
        return arn
    return f"arn:{facts.partition}:cloudwatch:{facts.region}:{facts.account}:alarm:{name}"


def publish_request(topic_arn: str, source_alarm: str) -> Request:
    """The request CloudWatch makes to publish ``source_alarm``'s notification to ``topic_arn``."""
    account = source_alarm.split(":")[4] if source_alarm.count(":") >= 5 else ""
    return Request(
        action="sns:Publish",
        resource=topic_arn,
        service=CLOUDWATCH_PRINCIPAL,
        context={
            "aws:SourceAccount": account,
            "aws:SourceOwner": account,
            "aws:SourceArn": source_alarm,
            "aws:SecureTransport": True,
        },
    )


def topic_senders(facts: StackFacts, found: Mapping[str, MetricAlarmTypeDef]) -> dict[str, list[str]]:
    """Topic ARN -> the ARNs of the stack's alarms that notify it (their live ALARM and OK actions)."""
    senders: dict[str, list[str]] = {}
    for name, alarm in found.items():
        arn = alarm_arn(facts, name, alarm)
        for action in (*alarm.get("AlarmActions", []), *alarm.get("OKActions", [])):
            if is_topic_arn(action) and arn not in senders.setdefault(action, []):
                senders[action].append(arn)
    return senders


def publish_statement(topic_arn: str, account: str, partition: str, region: str) -> str:
    """The topic-policy statement that lets this account's alarms in ``region`` publish, as JSON."""
    return json.dumps(
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDWATCH_PRINCIPAL},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account}:alarm:*"},
            },
        }
    )


def _names(arns: Sequence[str]) -> str:
    shown = [a.rsplit(":", 1)[-1] for a in arns[:3]]
    return ", ".join(shown) + (f" and {len(arns) - 3} more" if len(arns) > 3 else "")


def check_topic_policies(
    client_for: ClientFor, facts: StackFacts, found: Mapping[str, MetricAlarmTypeDef]
) -> list[CheckResult]:
    """For each topic the stack's alarms notify: CloudWatch may publish there for each of them (topic policy)
    and, for an encrypted topic, use its key (key policy)."""
    rows: list[CheckResult] = []
    for topic_arn, sources in topic_senders(facts, found).items():
        topic = topic_name(topic_arn)
        region = _region(topic_arn, facts.region)
        try:
            attributes = client_for("sns", region).get_topic_attributes(TopicArn=topic_arn)["Attributes"]
        except (ClientError, BotoCoreError) as error:
            rows.append(
                missing_or_could_not_check(
                    "topic-policy",
                    topic,
                    error,
                    missing_code="NotFound",
                    detail=f"the topic does not exist: {plural(len(sources), 'alarm')} notify nobody",
                    what=f"Topic {topic}",
                    stack=facts.inv.name,
                    region=facts.region,
                )
            )
            continue
        rows.append(_policy_row(facts, topic_arn, attributes.get("Policy", ""), sources))
        key = attributes.get("KmsMasterKeyId")
        if key:
            rows.append(_key_row(client_for("kms", region), topic_arn, key, sources))
    return rows


def _policy_row(facts: StackFacts, topic_arn: str, policy_text: str, sources: Sequence[str]) -> CheckResult:
    topic = topic_name(topic_arn)
    try:
        policy = json.loads(policy_text) if policy_text else {}
        decisions = [(source, evaluate(policy, publish_request(topic_arn, source))) for source in sources]
    except (ValueError, UnsupportedPolicyError) as error:
        return CheckResult(
            "topic-policy",
            Status.WARN,
            topic,
            f"cannot evaluate the topic policy ({error}); whether CloudWatch may publish is unknown",
            "Read it (aws sns get-topic-attributes --topic-arn "
            f"{topic_arn}) and check that it allows {CLOUDWATCH_PRINCIPAL} sns:Publish; the alarm-history rows "
            "show whether a notification failed.",
        )
    denied = [(source, d) for source, d in decisions if not d.allowed]
    if not denied:
        reasons = sorted({d.reason.removeprefix("allowed by ") for _, d in decisions})
        return CheckResult(
            "topic-policy",
            Status.PASS,
            topic,
            f"{CLOUDWATCH_PRINCIPAL} may publish for all {plural(len(sources), 'alarm')} "
            f"(allowed by {', '.join(reasons)})",
        )
    account = denied[0][0].split(":")[4]
    statement = publish_statement(topic_arn, account, facts.partition, _region(denied[0][0], facts.region))
    return CheckResult(
        "topic-policy",
        Status.FAIL,
        topic,
        f"{CLOUDWATCH_PRINCIPAL} may not publish for {len(denied)} of {plural(len(sources), 'alarm')} "
        f"({_names([s for s, _ in denied])}): {denied[0][1].reason}. Their notifications fail (alarm history: "
        "'Failed to execute action ... is not authorized to perform: SNS:Publish').",
        "Add this statement to the topic's access policy (a topic policy replaces SNS's default one; for a "
        "topic of the stack, deploy BasicAlarms, which adds it): " + statement,
    )


def _key_row(kms: Any, topic_arn: str, key: str, sources: Sequence[str]) -> CheckResult:
    topic = topic_name(topic_arn)
    resource = f"{topic} key {key.rsplit('/', 1)[-1]}"
    try:
        metadata = kms.describe_key(KeyId=key)["KeyMetadata"]
        if metadata.get("KeyManager") == "AWS":
            return CheckResult(
                "topic-key",
                Status.FAIL,
                resource,
                f"the topic is encrypted with the AWS-managed key {key}, whose key policy cannot let "
                f"{CLOUDWATCH_PRINCIPAL} use it: every alarm notification fails",
                "Encrypt the topic with a customer-managed key whose policy allows cloudwatch.amazonaws.com "
                "kms:GenerateDataKey* and kms:Decrypt (BasicAlarms(topic_encryption_key=...) adds that "
                "statement), or remove the encryption.",
            )
        key_arn = str(metadata.get("Arn") or key)
        policy = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    except (ClientError, BotoCoreError, ValueError) as error:
        return could_not_check("topic-key", resource, error)
    denied: list[str] = []
    try:
        for action in KEY_ACTIONS:
            for source in sources:
                request = publish_request(topic_arn, source)
                decision = evaluate(
                    policy,
                    Request(
                        action=action.rstrip("*"),
                        resource=key_arn,
                        service=CLOUDWATCH_PRINCIPAL,
                        context=request.context,
                    ),
                )
                if not decision.allowed:
                    denied.append(f"{action}: {decision.reason}")
                    break
    except UnsupportedPolicyError as error:
        return CheckResult(
            "topic-key",
            Status.WARN,
            resource,
            f"cannot evaluate the key policy ({error}); whether CloudWatch may use the key is unknown",
            f"Check that the key policy of {key_arn} allows {CLOUDWATCH_PRINCIPAL} kms:GenerateDataKey* and "
            "kms:Decrypt.",
        )
    if not denied:
        return CheckResult(
            "topic-key",
            Status.PASS,
            resource,
            f"{CLOUDWATCH_PRINCIPAL} may use the topic's key ({' and '.join(KEY_ACTIONS)})",
        )
    return CheckResult(
        "topic-key",
        Status.FAIL,
        resource,
        f"the key policy does not let {CLOUDWATCH_PRINCIPAL} use the topic's key ({'; '.join(denied)}): every "
        "alarm notification fails (alarm history: 'Failed to execute action ... AccessDeniedException' from "
        "KMS)",
        "Add to the key policy: "
        + json.dumps(
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": CLOUDWATCH_PRINCIPAL},
                "Action": list(KEY_ACTIONS),
                "Resource": "*",
            }
        ),
    )


def check_alarm_history(
    cw: CloudWatchClient, facts: StackFacts, found: Mapping[str, MetricAlarmTypeDef], now: datetime
) -> list[CheckResult]:
    """No alarm action of the last :data:`HISTORY_DAYS` days failed (a failure of the latest one fails)."""
    rows: list[CheckResult] = []
    command = "aws cloudwatch describe-alarm-history --history-item-type Action --alarm-name"
    for name in found:
        try:
            items = list(
                cw.describe_alarm_history(
                    AlarmName=name,
                    HistoryItemType="Action",
                    StartDate=now - timedelta(days=HISTORY_DAYS),
                    EndDate=now,
                    MaxRecords=20,
                    ScanBy="TimestampDescending",
                ).get("AlarmHistoryItems", [])
            )
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("alarm-history", name, error))
            continue
        items.sort(key=lambda item: item.get("Timestamp") or now, reverse=True)
        failed = [i for i in items if str(i.get("HistorySummary", "")).startswith(FAILED_ACTION)]
        if not failed:
            latest = (
                f"; the latest ran {when(items[0]['Timestamp'])}" if items and "Timestamp" in items[0] else ""
            )
            rows.append(
                CheckResult(
                    "alarm-history",
                    Status.PASS,
                    name,
                    f"no failed action in the last {HISTORY_DAYS} days ({plural(len(items), 'action')}{latest})",
                )
            )
            continue
        item = failed[0]
        summary = " ".join(str(item.get("HistorySummary", "")).split())
        summary = summary if len(summary) <= 500 else summary[:497] + "..."
        at = when(item["Timestamp"]) if "Timestamp" in item else "recently"
        next_step = _history_next_step(summary, f"{command} {name} --region {facts.region}")
        if item is items[0]:
            rows.append(
                CheckResult(
                    "alarm-history",
                    Status.FAIL,
                    name,
                    f"the latest action failed ({at}): {summary}",
                    next_step,
                )
            )
        else:
            rows.append(
                CheckResult(
                    "alarm-history",
                    Status.WARN,
                    name,
                    f"an action failed ({at}): {summary}; a later one succeeded",
                    next_step,
                )
            )
    return rows


def _history_next_step(summary: str, command: str) -> str:
    if "SNS:Publish" in summary or "not authorized" in summary:
        cause = "The topic's access policy does not let CloudWatch publish: see the topic-policy row. "
    elif "KMS" in summary or "encryption key" in summary:
        cause = "CloudWatch may not use the topic's KMS key: see the topic-key row. "
    else:
        cause = ""
    return f"{cause}The alarm's action history: {command}"


# --- subscriptions ---------------------------------------------------------------------------------------------


def _declared_emails(facts: StackFacts, topic_arn: str) -> list[str]:
    inv = facts.inv
    emails = []
    for resource in inv.of_type("AWS::SNS::Subscription"):
        props = resource.properties
        if props.get("Protocol") in EMAIL_PROTOCOLS and inv.ref(props.get("TopicArn")) == topic_arn:
            endpoint = props.get("Endpoint")
            if isinstance(endpoint, str):
                emails.append(endpoint)
    return emails


def check_subscriptions(client_for: ClientFor, facts: StackFacts) -> list[CheckResult]:
    """Each alarm topic has at least one confirmed email subscription; pending and lost ones are flagged."""
    inv = facts.inv
    rows: list[CheckResult] = []
    topics = facts.alarm_topics()
    if not topics:
        return [
            CheckResult(
                "subscriptions",
                Status.FAIL,
                inv.name,
                "the stack has no alarm topic (no alarm notifies a topic, no AlarmTopicArn output, no SNS topic)",
                "Build the stack with BasicAlarms, which creates the topic and outputs AlarmTopicArn.",
            )
        ]
    for arn in topics:
        topic = topic_name(arn)
        region = _region(arn, inv.region)
        subscribe = (
            f"aws sns subscribe --topic-arn {arn} --protocol email --notification-endpoint you@example.com "
            f"--region {region}"
        )
        try:
            sns = client_for("sns", region)
            subscriptions = [
                s
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for s in page.get("Subscriptions", [])
            ]
        except ClientError as error:
            if error_code(error) == "NotFound":
                rows.append(
                    CheckResult(
                        "subscriptions",
                        Status.FAIL,
                        topic,
                        "the topic does not exist: alarms notify nobody",
                        guide.drift(f"Topic {topic}", inv.name, inv.region),
                    )
                )
            else:
                rows.append(could_not_check("subscriptions", topic, error))
            continue
        except BotoCoreError as error:
            rows.append(could_not_check("subscriptions", topic, error))
            continue
        emails = [s for s in subscriptions if s.get("Protocol") in EMAIL_PROTOCOLS]
        confirmed = [s.get("Endpoint", "") for s in emails if s.get("SubscriptionArn", "").startswith("arn:")]
        pending = [s.get("Endpoint", "") for s in emails if s.get("SubscriptionArn") == "PendingConfirmation"]
        if confirmed:
            rows.append(
                CheckResult(
                    "subscriptions",
                    Status.PASS,
                    topic,
                    f"{len(confirmed)} confirmed email subscription{'s' if len(confirmed) > 1 else ''}: "
                    + ", ".join(confirmed),
                )
            )
        else:
            found = f" ({len(pending)} pending confirmation)" if pending else ""
            rows.append(
                CheckResult(
                    "subscriptions",
                    Status.FAIL,
                    topic,
                    f"no confirmed email subscription{found}: alarms reach nobody",
                    "Subscribe an address and confirm it: BasicAlarms(emails=['you@example.com']) and deploy "
                    f"(or {subscribe}), then click the link in the confirmation email.",
                )
            )
        for endpoint in pending:
            rows.append(
                CheckResult(
                    "subscription",
                    Status.WARN,
                    endpoint,
                    f"email subscription to {topic} is pending confirmation",
                    guide.confirm_subscription(endpoint),
                )
            )
        present = {s.get("Endpoint") for s in emails}
        for endpoint in _declared_emails(facts, arn):
            if endpoint not in present:
                rows.append(
                    CheckResult(
                        "subscription",
                        Status.WARN,
                        endpoint,
                        f"declared in the stack but not subscribed to {topic} (deleted, or never confirmed "
                        "in time)",
                        f"Subscribe it again and confirm: {subscribe.replace('you@example.com', endpoint)}",
                    )
                )
    return rows
