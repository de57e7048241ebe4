"""The calls moto cannot answer, with botocore's Stubber and responses shaped as the AWS API references show them.

moto has no ``TestMetricFilter``, no alarm action history, no AWS-managed KMS keys and no IAM policy simulator.
Here each check runs on a client whose responses are queued with :class:`botocore.stub.Stubber`, which also
checks every request's parameters and every response against the service model. The response shapes come from:

- Amazon CloudWatch Logs API Reference: ``TestMetricFilter`` (``matches`` of ``MetricFilterMatchRecord``:
  ``eventNumber``, ``eventMessage``, ``extractedValues``), ``DescribeMetricFilters``, ``DescribeLogStreams``,
  ``GetLogEvents``;
- Amazon CloudWatch API Reference: ``DescribeAlarmHistory`` (``AlarmHistoryItems`` of ``AlarmHistoryItem``:
  ``AlarmName``, ``AlarmType``, ``Timestamp``, ``HistoryItemType``, ``HistorySummary``, ``HistoryData``); the
  summaries' text is CloudWatch's own, as AWS re:Post ("cloudwatch-receive-sns-for-alarm-trigger") and the public
  reports quoted below show it (the doctor reads ``HistorySummary`` only);
- Amazon SNS API Reference ``GetTopicAttributes`` and AWS KMS API Reference ``DescribeKey`` (``KeyMetadata``
  with ``KeyManager`` ``AWS`` for an AWS-managed key such as ``alias/aws/sns``);
- IAM API Reference: ``GetRole`` and ``SimulatePrincipalPolicy`` (``EvaluationResults`` of ``EvaluationResult``
  with ``EvalDecision`` and ``OrganizationsDecisionDetail``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ParamValidationError
from botocore.stub import ANY, Stubber

from constructs_obs.doctor import CheckResult, Status
from constructs_obs.doctor.checks.delivery import check_alarm_history, check_topic_policies
from constructs_obs.doctor.checks.log_format import check_log_formats
from constructs_obs.doctor.checks.permissions import check_permissions
from constructs_obs.doctor.discovery import discover
from constructs_obs.doctor.facts import StackFacts
from constructs_obs.doctor.stack import StackInventory, StackResource

ACCOUNT = "123456789012"
REGION = "us-east-2"
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
NGINX_5XX = (
    "[remote_addr, ident, remote_user, time_local = *:*, request = *HTTP/*, status_code = 5*, body_bytes_sent, "
    "http_referer, http_user_agent, ...]"
)
RELAXED = (
    "[remote_addr, ident, remote_user, time_local = *:*, request = *HTTP/*, status_code, body_bytes_sent, "
    "http_referer, http_user_agent, ...]"
)
MAIN_LINE = (
    '172.18.0.1 - - [27/Nov/2026:09:58:01 +0000] "GET /api/v1/lessons HTTP/1.1" 502 157 "-" "curl/8.5.0" "-"'
)
JSON_LINE = (
    '{"time":"2026-11-27T09:58:02+00:00","remote_addr":"172.18.0.1","request":"GET / HTTP/1.1","status":200}'
)
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:app-alarms"


def client(service: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )


def facts() -> StackFacts:
    """A stack with one host (its role, namespace and nginx group), an nginx-5xx filter and its alarm."""
    resources = (
        StackResource(
            "HostSetupAssociation",
            "AWS::SSM::Association",
            {"Name": "AWS-RunShellScript"},
            "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            {
                "ConstructsObs::Host": {
                    "HostPath": "App/Host",
                    "InstanceId": "i-0123456789abcdef0",
                    "MetricsNamespace": "App",
                    "RoleName": "app-ec2",
                    "ContainerLogGroups": {"nginx": "/app/nginx"},
                    "DockerEventsLogGroup": "/app/docker-events",
                }
            },
        ),
        StackResource(
            "Nginx5xxFilter",
            "AWS::Logs::MetricFilter",
            {
                "LogGroupName": "/app/nginx",
                "FilterPattern": NGINX_5XX,
                "MetricTransformations": [
                    {"MetricNamespace": "App", "MetricName": "Nginx5xxResponses", "MetricValue": "1"}
                ],
            },
            "App-Nginx5xxFilter-1A2B3C4D5E6F",
        ),
        StackResource(
            "Nginx5xx",
            "AWS::CloudWatch::Alarm",
            {"AlarmName": "app-nginx-5xx", "Namespace": "App", "MetricName": "Nginx5xxResponses"},
            "app-nginx-5xx",
        ),
    )
    inventory = StackInventory(
        "App",
        f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/App/1f2e3d4c-0000-1111-2222-333344445555",
        REGION,
        "UPDATE_COMPLETE",
        "",
        {},
        resources,
        True,
    )
    return discover(inventory)


def stub_log_reads(stubber: Stubber, lines: list[str]) -> None:
    """The live filter and the group's newest lines, as CloudWatch Logs answers."""
    stubber.add_response(
        "describe_metric_filters",
        {
            "metricFilters": [
                {
                    "filterName": "App-Nginx5xxFilter-1A2B3C4D5E6F",
                    "filterPattern": NGINX_5XX,
                    "metricTransformations": [
                        {"metricName": "Nginx5xxResponses", "metricNamespace": "App", "metricValue": "1"}
                    ],
                    "creationTime": 1764230400000,
                    "logGroupName": "/app/nginx",
                }
            ]
        },
        {"logGroupName": "/app/nginx"},
    )
    stubber.add_response(
        "describe_log_streams",
        {
            "logStreams": [
                {
                    "logStreamName": "3f4e5d6c7b8a",
                    "creationTime": 1764230400000,
                    "firstEventTimestamp": 1764230400000,
                    "lastEventTimestamp": 1764237482000,
                    "lastIngestionTime": 1764237482500,
                    "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/nginx:log-stream:3f4e5d6c7b8a",
                    "storedBytes": 0,
                }
            ]
        },
        {"logGroupName": "/app/nginx", "orderBy": "LastEventTime", "descending": True, "limit": 5},
    )
    stubber.add_response(
        "get_log_events",
        {
            "events": [
                {"timestamp": 1764237481000 + i, "message": line, "ingestionTime": 1764237482000}
                for i, line in enumerate(lines)
            ],
            "nextForwardToken": "f/38372939488203848912",
            "nextBackwardToken": "b/38372939488203848911",
        },
        {"logGroupName": "/app/nginx", "logStreamName": "3f4e5d6c7b8a", "startFromHead": False, "limit": 50},
    )


def test_log_format_with_test_metric_filter_none_match() -> None:
    logs = client("logs")
    stubber = Stubber(logs)
    stub_log_reads(stubber, [JSON_LINE, JSON_LINE])
    stubber.add_response(
        "test_metric_filter",
        {"matches": []},
        {"filterPattern": RELAXED, "logEventMessages": [JSON_LINE, JSON_LINE]},
    )

    with stubber:
        [row] = check_log_formats(logs, facts(), states={}, now=NOW, recent_minutes=60)

    stubber.assert_no_pending_responses()
    assert (row.check, row.status, row.resource) == ("log-format", Status.FAIL, "/app/nginx")
    assert row.detail == (
        "0 of 2 recent lines in /app/nginx have the format the app-nginx-5xx filter reads: it counts nothing, so "
        "its alarm never fires (tested with CloudWatch's TestMetricFilter)"
    )
    assert row.next_step.startswith(
        "The app-nginx-5xx filter reads space-delimited lines of 9 fields or more (remote_addr ident remote_user "
        "time_local request status_code body_bytes_sent http_referer http_user_agent ...; time_local matches *:*; "
        'request matches *HTTP/*; a [bracketed] or "quoted" text is one field). Make nginx log in the official '
        "image's main format (or combined): log_format main '$remote_addr - $remote_user [$time_local] "
    )
    assert row.next_step.endswith(f"The newest line is: {JSON_LINE}")


def test_log_format_with_test_metric_filter_matches() -> None:
    logs = client("logs")
    stubber = Stubber(logs)
    stub_log_reads(stubber, [MAIN_LINE, JSON_LINE])
    stubber.add_response(
        "test_metric_filter",
        {
            "matches": [
                {
                    "eventNumber": 1,
                    "eventMessage": MAIN_LINE,
                    "extractedValues": {
                        "$remote_addr": "172.18.0.1",
                        "$ident": "-",
                        "$remote_user": "-",
                        "$time_local": "27/Nov/2026:09:58:01 +0000",
                        "$request": "GET /api/v1/lessons HTTP/1.1",
                        "$status_code": "502",
                        "$body_bytes_sent": "157",
                        "$http_referer": "-",
                        "$http_user_agent": "curl/8.5.0",
                    },
                }
            ]
        },
        {"filterPattern": RELAXED, "logEventMessages": [JSON_LINE, MAIN_LINE]},
    )

    with stubber:
        [row] = check_log_formats(logs, facts(), states={}, now=NOW, recent_minutes=60)

    stubber.assert_no_pending_responses()
    assert row == CheckResult(
        "log-format",
        Status.PASS,
        "/app/nginx",
        "1 of 2 recent lines in /app/nginx have the format the app-nginx-5xx filter reads (tested with "
        "CloudWatch's TestMetricFilter)",
    )


def test_log_format_falls_back_to_the_evaluator_when_test_metric_filter_is_refused() -> None:
    logs = client("logs")
    stubber = Stubber(logs)
    stub_log_reads(stubber, [MAIN_LINE, JSON_LINE])
    stubber.add_client_error(
        "test_metric_filter",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: logs:TestMetricFilter",
        http_status_code=400,
    )

    with stubber:
        [row] = check_log_formats(logs, facts(), states={}, now=NOW, recent_minutes=60)

    stubber.assert_no_pending_responses()
    assert row.status is Status.PASS
    assert row.detail == (
        "1 of 2 recent lines in /app/nginx have the format the app-nginx-5xx filter reads (tested with the "
        "library's evaluator; TestMetricFilter: AccessDeniedException)"
    )


def found_alarm(name: str) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "AlarmActions": [TOPIC],
        "OKActions": [TOPIC],
    }


def history(summary: str, at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "AlarmName": "app-nginx-5xx",
        "AlarmType": "MetricAlarm",
        "Timestamp": at,
        "HistoryItemType": "Action",
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    }


def stub_history(stubber: Stubber, items: list[dict[str, Any]]) -> None:
    stubber.add_response(
        "describe_alarm_history",
        {"AlarmHistoryItems": items},
        {
            "AlarmName": "app-nginx-5xx",
            "HistoryItemType": "Action",
            "StartDate": NOW - timedelta(days=7),
            "EndDate": NOW,
            "MaxRecords": 20,
            "ScanBy": "TimestampDescending",
        },
    )


#: The KMS failure as CloudWatch recorded it for ASFHyP3/hyp3#762 (an SNS topic with the AWS-managed key).
KMS_FAILURE = (
    f'Failed to execute action {TOPIC}. Received error: "null (Service: AWSKMS; Status Code: 400; Error Code: '
    'AccessDeniedException; Request ID: 3cd919dd-06b1-4079-b38e-77dd6093875a; Proxy: null)"'
)


def test_alarm_history_reports_the_failed_action_with_its_text() -> None:
    cw = client("cloudwatch")
    stubber = Stubber(cw)
    at = NOW - timedelta(hours=5)
    stub_history(
        stubber,
        [
            history(
                KMS_FAILURE,
                at,
                {
                    "actionState": "Failed",
                    "stateUpdateTimestamp": 1764208800000,
                    "notificationResource": TOPIC,
                },
            ),
            history(
                f"Successfully executed action {TOPIC}",
                at - timedelta(days=1),
                {
                    "actionState": "Succeeded",
                    "stateUpdateTimestamp": 1764122400000,
                    "notificationResource": TOPIC,
                },
            ),
        ],
    )

    with stubber:
        [row] = check_alarm_history(cw, facts(), {"app-nginx-5xx": found_alarm("app-nginx-5xx")}, NOW)  # type: ignore[dict-item]

    stubber.assert_no_pending_responses()
    assert row == CheckResult(
        "alarm-history",
        Status.FAIL,
        "app-nginx-5xx",
        f"the latest action failed (2026-11-27 05:00 UTC): {KMS_FAILURE}",
        "CloudWatch may not use the topic's KMS key: see the topic-key row. The alarm's action history: aws "
        "cloudwatch describe-alarm-history --history-item-type Action --alarm-name app-nginx-5xx --region us-east-2",
    )


def test_alarm_history_without_failures() -> None:
    cw = client("cloudwatch")
    stubber = Stubber(cw)
    stub_history(
        stubber,
        [
            history(
                f"Successfully executed action {TOPIC}",
                NOW - timedelta(hours=1),
                {"actionState": "Succeeded"},
            )
        ],
    )

    with stubber:
        [row] = check_alarm_history(cw, facts(), {"app-nginx-5xx": found_alarm("app-nginx-5xx")}, NOW)  # type: ignore[dict-item]

    assert row == CheckResult(
        "alarm-history",
        Status.PASS,
        "app-nginx-5xx",
        "no failed action in the last 7 days (1 action; the latest ran 2026-11-27 09:00 UTC)",
    )


def test_topic_encrypted_with_the_aws_managed_key() -> None:
    sns, kms = client("sns"), client("kms")
    sns_stub, kms_stub = Stubber(sns), Stubber(kms)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": TOPIC,
            }
        ],
    }
    sns_stub.add_response(
        "get_topic_attributes",
        {"Attributes": {"TopicArn": TOPIC, "Policy": json.dumps(policy), "KmsMasterKeyId": "alias/aws/sns"}},
        {"TopicArn": TOPIC},
    )
    kms_stub.add_response(
        "describe_key",
        {
            "KeyMetadata": {
                "AWSAccountId": ACCOUNT,
                "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
                "Arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "CreationDate": NOW - timedelta(days=300),
                "Enabled": True,
                "Description": "Default key that protects my SNS topics when no other key is defined",
                "KeyUsage": "ENCRYPT_DECRYPT",
                "KeyState": "Enabled",
                "Origin": "AWS_KMS",
                "KeyManager": "AWS",
                "KeySpec": "SYMMETRIC_DEFAULT",
                "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
                "MultiRegion": False,
            }
        },
        {"KeyId": "alias/aws/sns"},
    )
    clients = {"sns": sns, "kms": kms}

    with sns_stub, kms_stub:
        rows = check_topic_policies(
            lambda service, region: clients[service],
            facts(),
            {"app-nginx-5xx": found_alarm("app-nginx-5xx")},  # type: ignore[dict-item]
        )

    assert [(r.check, r.status) for r in rows] == [("topic-policy", Status.PASS), ("topic-key", Status.FAIL)]
    assert rows[1].resource == "app-alarms key sns"
    assert rows[1].detail == (
        "the topic is encrypted with the AWS-managed key alias/aws/sns, whose key policy cannot let "
        "cloudwatch.amazonaws.com use it: every alarm notification fails"
    )


def test_role_denied_by_an_organizations_policy() -> None:
    iam = client("iam")
    stubber = Stubber(iam)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/app-ec2"
    stubber.add_response(
        "get_role",
        {
            "Role": {
                "Path": "/",
                "RoleName": "app-ec2",
                "RoleId": "AROADBQP57FF2AEXAMPLE",
                "Arn": role_arn,
                "CreateDate": NOW - timedelta(days=30),
            }
        },
        {"RoleName": "app-ec2"},
    )
    streams = [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}:log-stream:*"
        for group in ("/app/nginx", "/app/docker-events")
    ]
    stubber.add_response(
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "logs:PutLogEvents",
                    "EvalResourceName": stream,
                    "EvalDecision": "allowed",
                    "MatchedStatements": [
                        {"SourcePolicyId": "HostRoleDefaultPolicy", "SourcePolicyType": "IAM Policy"}
                    ],
                    "MissingContextValues": [],
                }
                for stream in streams
            ],
            "IsTruncated": False,
        },
        {"PolicySourceArn": role_arn, "ActionNames": ["logs:PutLogEvents"], "ResourceArns": streams},
    )
    stubber.add_response(
        "simulate_principal_policy",
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "cloudwatch:PutMetricData",
                    "EvalResourceName": "*",
                    "EvalDecision": "implicitDeny",
                    "MatchedStatements": [],
                    "MissingContextValues": [],
                    "OrganizationsDecisionDetail": {"AllowedByOrganizations": False},
                }
            ],
            "IsTruncated": False,
        },
        {
            "PolicySourceArn": role_arn,
            "ActionNames": ["cloudwatch:PutMetricData"],
            "ResourceArns": ["*"],
            "ContextEntries": ANY,
        },
    )

    with stubber:
        [row] = check_permissions(iam, facts())

    stubber.assert_no_pending_responses()
    assert (row.check, row.status, row.resource) == ("role-permissions", Status.FAIL, "namespace App")
    assert row.detail == (
        "the role app-ec2 may not cloudwatch:PutMetricData on namespace App: an Organizations policy (SCP) does not "
        "allow it; the agent's metrics never arrive"
    )


def test_stubbed_responses_are_checked_against_the_model() -> None:
    # The Stubber refuses a response that does not fit the operation's output shape: the shapes above do fit.
    stubber = Stubber(client("logs"))
    with pytest.raises(ParamValidationError, match="eventNumber"):
        stubber.add_response("test_metric_filter", {"matches": [{"eventNumber": "one"}]})
