"""The alert path as AWS runs it, on a staging deployment in moto broken one way per scenario.

Each scenario is a defect a template-reading doctor passed: a topic CloudWatch may not publish to (policy or
key), an alarm whose notifications failed, an agent that does not report, a docker-events service that never
started, a setup association that failed, a role that may not write, a metric filter that is gone. The tests use
only the doctor's public API (``constructs_obs.doctor``) and the harness, so they run against any version of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from constructs_obs.doctor import CheckResult, Status
from tests.doctor.deployment import ACCOUNT, Deployment
from tests.doctor.helpers import (
    MOTO_CFN_WARNINGS,
    describe,
    only_problem,
    problems,
    record_calls,
    rows,
    runbook_permissions,
)
from tests.doctor.moto_gaps import STEP, history_item

pytestmark = pytest.mark.filterwarnings(MOTO_CFN_WARNINGS)

HOST = "AiTutorStaging/Host"
CPU = "ai-tutor-staging-cpu-high"
CLOUDWATCH = "cloudwatch.amazonaws.com"

#: The topic policy CDK's ``Topic(enforce_ssl=True)`` writes, and nothing else: the defect as first released.
TLS_DENY_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowPublishThroughSSLOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": "TOPIC",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ],
}


def test_topic_policy_with_only_the_tls_deny(healthy: Deployment) -> None:
    topic = healthy.topic_arn
    policy = json.loads(json.dumps(TLS_DENY_ONLY).replace("TOPIC", topic))
    healthy.client("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )

    problem = only_problem(healthy.doctor())

    alarms = len(healthy.alarm_names)
    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "topic-policy",
        Status.FAIL,
        topic.rsplit(":", 1)[-1],
        None,
    )
    assert problem.detail.startswith(f"{CLOUDWATCH} may not publish for {alarms} of {alarms} alarms (")
    assert problem.detail.endswith(
        f"): no statement allows sns:Publish for this principal on {topic}. Their notifications fail (alarm "
        "history: 'Failed to execute action ... is not authorized to perform: SNS:Publish')."
    )
    statement = json.loads(problem.next_step.split(": ", 1)[1])
    assert statement == {
        "Sid": "CloudWatchAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-2:{ACCOUNT}:alarm:*"},
        },
    }

    # The statement it proposes, added to the policy, is enough.
    policy["Statement"].append(statement)
    healthy.client("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    assert problems(healthy.doctor()) == []


#: A key policy without a statement for CloudWatch (what ``kms.Key`` writes by default: the account's root).
ROOT_ONLY_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}

#: The statement the library's BasicAlarms(topic_encryption_key=...) adds to the key policy.
CLOUDWATCH_KEY_STATEMENT = {
    "Sid": "CloudWatchAlarmsPublish",
    "Effect": "Allow",
    "Principal": {"Service": CLOUDWATCH},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
}


def test_encrypted_topic_whose_key_policy_lacks_cloudwatch(healthy: Deployment) -> None:
    kms = healthy.client("kms")
    key = kms.create_key(Policy=json.dumps(ROOT_ONLY_KEY_POLICY))["KeyMetadata"]
    topic = healthy.topic_arn
    healthy.client("sns").set_topic_attributes(
        TopicArn=topic, AttributeName="KmsMasterKeyId", AttributeValue=key["KeyId"]
    )
    calls = record_calls(healthy.session)

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource) == (
        "topic-key",
        Status.FAIL,
        f"{topic.rsplit(':', 1)[-1]} key {key['KeyId']}",
    )
    assert problem.detail == (
        f"the key policy does not let {CLOUDWATCH} use the topic's key (kms:GenerateDataKey*: no statement allows "
        f"kms:GenerateDataKey for this principal on {key['Arn']}; kms:Decrypt: no statement allows kms:Decrypt for "
        f"this principal on {key['Arn']}): every alarm notification fails (alarm history: 'Failed to execute "
        "action ... AccessDeniedException' from KMS)"
    )
    assert json.loads(problem.next_step.removeprefix("Add to the key policy: ")) == {
        "Sid": "CloudWatchAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": CLOUDWATCH},
        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
        "Resource": "*",
    }
    assert {"kms:DescribeKey", "kms:GetKeyPolicy"} <= calls <= runbook_permissions()

    # With the library's statement in the key policy, the row passes.
    fixed = {
        **ROOT_ONLY_KEY_POLICY,
        "Statement": [*ROOT_ONLY_KEY_POLICY["Statement"], CLOUDWATCH_KEY_STATEMENT],
    }
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(fixed))
    report = healthy.doctor()
    assert problems(report) == []
    assert rows(report, "topic-key")[0].detail == (
        f"{CLOUDWATCH} may use the topic's key (kms:GenerateDataKey* and kms:Decrypt)"
    )


def test_alarm_history_with_a_failed_action(healthy: Deployment) -> None:
    topic = healthy.topic_arn
    alarm_arn = f"arn:aws:cloudwatch:us-east-2:{ACCOUNT}:alarm:{CPU}"
    # The text CloudWatch records (AWS re:Post knowledge-center "cloudwatch-receive-sns-for-alarm-trigger";
    # aws-solutions/automated-security-response-on-aws#43).
    failed = (
        f'Failed to execute action {topic}. Received error: "Resource: {alarm_arn} is not authorized to perform: '
        f'SNS:Publish on resource: {topic} because no resource-based policy allows the SNS:Publish action"'
    )
    at = datetime.now(timezone.utc) - timedelta(hours=2)
    healthy.gaps.add_alarm_history(ACCOUNT, "us-east-2", history_item(CPU, failed, at))

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "alarm-history",
        Status.FAIL,
        CPU,
        HOST,
    )
    assert problem.detail == f"the latest action failed ({at:%Y-%m-%d %H:%M} UTC): {failed}"
    assert problem.next_step == (
        "The topic's access policy does not let CloudWatch publish: see the topic-policy row. The alarm's action "
        f"history: aws cloudwatch describe-alarm-history --history-item-type Action --alarm-name {CPU} "
        "--region us-east-2"
    )

    # Once a later notification went out, the failure is a warning.
    healthy.gaps.add_alarm_history(
        ACCOUNT,
        "us-east-2",
        history_item(CPU, f"Successfully executed action {topic}", at + timedelta(hours=1)),
    )
    problem = only_problem(healthy.doctor())
    assert (problem.check, problem.status) == ("alarm-history", Status.WARN)
    assert problem.detail.endswith("; a later one succeeded")


def test_no_agent_datapoints_then_datapoints(healthy: Deployment) -> None:
    [host] = healthy.hosts()
    later = healthy.deployed_at + timedelta(minutes=20)  # the datapoints of the deploy are 21 minutes old
    # The backend's scrape still reaches CloudWatch (the prometheus-metrics row has its own tests).
    healthy.put_prometheus_metrics(host, at=later - timedelta(minutes=2))

    problem = only_problem(healthy.doctor(now=later))

    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "agent-metrics",
        Status.FAIL,
        host.instance_id,
        HOST,
    )
    assert problem.detail == (
        f"the CloudWatch agent on {host.instance_id} is not reporting: no mem_used_percent or disk_used_percent in "
        "AiTutor/Staging in the last 15 min, so ai-tutor-staging-memory-high, ai-tutor-staging-disk-high show "
        "INSUFFICIENT_DATA"
    )
    assert problem.next_step.startswith(
        f"On the host (aws ssm start-session --target {host.instance_id} --region us-east-2): sudo systemctl status "
        "amazon-cloudwatch-agent; sudo tail -n 50 /opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log"
    )

    # Memory only: the agent runs, its disk metric is missing.
    healthy.put_agent_metrics(host, at=later - timedelta(minutes=2), metrics=["mem_used_percent"])
    problem = only_problem(healthy.doctor(now=later))
    assert problem.detail == (
        f"the CloudWatch agent on {host.instance_id} reports mem_used_percent but not disk_used_percent in "
        "AiTutor/Staging (last 15 min), so ai-tutor-staging-disk-high shows INSUFFICIENT_DATA"
    )

    # Both: the row clears.
    healthy.put_agent_metrics(host, at=later - timedelta(minutes=1))
    report = healthy.doctor(now=later)
    assert problems(report) == []
    assert rows(report, "agent-metrics")[0].status is Status.PASS


def test_no_docker_events_start_line(healthy: Deployment) -> None:
    [host] = healthy.hosts()
    healthy.client("logs").delete_log_stream(
        logGroupName=host.docker_events_group, logStreamName=host.instance_id
    )

    report = healthy.doctor()

    [problem] = report.failures()
    assert (problem.check, problem.resource, problem.host) == ("docker-events", host.instance_id, HOST)
    assert problem.detail.startswith(
        "no start line of the docker-events service in /ai-tutor/docker-events since the instance started ("
    )
    assert problem.detail.endswith(
        "): the service is not running, or its file is not shipped; container crashes are not counted"
    )
    assert "sudo systemctl status docker-events.service" in problem.next_step
    assert "sudo tail -n 3 /var/log/docker-events/events.log" in problem.next_step
    # The crash filter's group is empty, so its format cannot be told either.
    assert [(r.check, r.status, r.resource) for r in problems(report) if r.status is Status.WARN] == [
        ("log-format", Status.WARN, "/ai-tutor/docker-events")
    ]

    # A start line from before the instance's last start does not count; one after it does.
    healthy.put_start_line(host, at=healthy.launched_at - timedelta(hours=1))
    assert [r.check for r in healthy.doctor().failures()] == ["docker-events"]
    healthy.put_start_line(host)
    assert healthy.doctor().failures() == []


def _setup_output(deployment: Deployment, failed_step: str) -> str:
    """What the setup script printed up to ``failed_step``: its own step markers, from the deployed script."""
    [association] = [  # the setup (the host's termination-protection association has no host metadata)
        r
        for r in deployment.template["Resources"].values()
        if r["Type"] == "AWS::SSM::Association" and "ConstructsObs::Host" in r.get("Metadata", {})
    ]
    markers = [
        line.removeprefix("echo '").removesuffix("'")
        for line in association["Properties"]["Parameters"]["commands"]
        if isinstance(line, str) and line.startswith(f"echo '{STEP}")
    ]
    steps = markers[: next(i for i, m in enumerate(markers) if m == f"{STEP}{failed_step}") + 1]
    return "\n".join(
        [*steps, "Created symlink /etc/systemd/system/multi-user.target.wants/docker-events.service."]
    )


def test_failed_setup_association(healthy: Deployment) -> None:
    [host] = healthy.hosts()
    stderr = "\n".join(
        [
            "\N{MULTIPLICATION SIGN} docker-events.service - Append Docker container die and oom events to /var/log/docker-events/events.log",
            "     Active: activating (auto-restart) (Result: exit-code)",
            "docker-events.service is not active",
        ]
    )
    run = healthy.gaps.fail_association(
        host.instance_id, stdout=_setup_output(healthy, "docker-events service"), stderr=stderr
    )
    calls = record_calls(healthy.session)

    problem = only_problem(healthy.doctor())

    association = run.association_id
    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "setup",
        Status.FAIL,
        host.instance_id,
        HOST,
    )
    assert problem.detail == (
        f"setup association {association} failed on {host.instance_id} ({run.at:%Y-%m-%d %H:%M} UTC): step "
        "'docker-events service' failed: \N{MULTIPLICATION SIGN} docker-events.service - Append Docker container die and oom events to "
        "/var/log/docker-events/events.log; Active: activating (auto-restart) (Result: exit-code); "
        "docker-events.service is not active. The CloudWatch agent or the docker-events service may be missing or "
        "outdated on the host"
    )
    assert problem.next_step == (
        f"The whole output: aws ssm get-command-invocation --command-id {run.command_id} --instance-id "
        f"{host.instance_id} --region us-east-2. Fix the cause, then run it again: aws ssm "
        f"start-associations-once --association-ids {association} --region us-east-2 (or deploy a change)."
    )
    assert (
        {
            "ssm:DescribeInstanceAssociationsStatus",
            "ssm:DescribeAssociationExecutions",
            "ssm:DescribeAssociationExecutionTargets",
            "ssm:GetCommandInvocation",
        }
        <= calls
        <= runbook_permissions()
    )


def test_role_may_not_write_a_log_group(healthy: Deployment) -> None:
    [host] = healthy.hosts()
    iam = healthy.client("iam")
    # The role's own policy (the other one lets the host switch on its termination protection).
    [name] = [
        n for n in iam.list_role_policies(RoleName=host.role_name)["PolicyNames"] if "DefaultPolicy" in n
    ]
    document = iam.get_role_policy(RoleName=host.role_name, PolicyName=name)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    for statement in document["Statement"]:
        if "logs:PutLogEvents" in statement["Action"]:
            statement["Resource"] = [r for r in statement["Resource"] if not r.endswith("/ai-tutor/nginx")]
    iam.put_role_policy(RoleName=host.role_name, PolicyName=name, PolicyDocument=json.dumps(document))

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "role-permissions",
        Status.FAIL,
        "/ai-tutor/nginx",
        HOST,
    )
    assert problem.detail == (
        "the role ai-tutor-staging-ec2-role may not logs:PutLogEvents on /ai-tutor/nginx: no statement of the "
        "role's policies allows it; its lines never reach CloudWatch"
    )
    assert problem.next_step.startswith(
        "Restore the role's policy (the stack grants it on the host's log groups (logs:CreateLogStream and "
        "logs:PutLogEvents)): deploy the stack again"
    )

    # An explicit Deny of the agent's metrics is named.
    iam.put_role_policy(
        RoleName=host.role_name,
        PolicyName="NoMetrics",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "cloudwatch:*", "Resource": "*"}],
            }
        ),
    )
    report = healthy.doctor()
    assert [(r.resource, r.detail) for r in problems(report)][-1] == (
        "namespace AiTutor/Staging",
        "the role ai-tutor-staging-ec2-role may not cloudwatch:PutMetricData on namespace AiTutor/Staging: "
        "explicitly denied by NoMetrics; the agent's metrics never arrive",
    )


def test_metric_filter_deleted(healthy: Deployment) -> None:
    logs = healthy.client("logs")
    [nginx_filter] = logs.describe_metric_filters(logGroupName="/ai-tutor/nginx")["metricFilters"]
    logs.delete_metric_filter(logGroupName="/ai-tutor/nginx", filterName=nginx_filter["filterName"])

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource, problem.host) == (
        "log-format",
        Status.FAIL,
        "/ai-tutor/nginx",
        HOST,
    )
    assert problem.detail == (
        "the ai-tutor-staging-nginx-5xx filter (AiTutor/Staging/Nginx5xxResponses) does not exist on "
        "/ai-tutor/nginx: its alarm never gets a datapoint"
    )


def test_nginx_writing_json_lines_in_moto(healthy: Deployment) -> None:
    """The nginx JSON scenario with lines put by the test (the real-shipped version is test_real_log_format.py)."""
    # As an ``escape=json`` log_format writes them (with a browser's user agent: nine and more "fields").
    for status in (200, 502):
        healthy.put_log_event(
            "/ai-tutor/nginx",
            json.dumps(
                {
                    "time_local": "27/Nov/2026:10:15:32 +0000",
                    "remote_addr": "172.18.0.1",
                    "request": "GET /api/v1/lessons HTTP/1.1",
                    "status": str(status),
                    "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
                },
                separators=(",", ":"),
            ),
            stream="nginx-json",
        )
    # The newest lines come from the newest streams: both JSON lines, and the older main-format line.
    problem_rows = [r for r in problems(healthy.doctor()) if r.check == "log-format"]
    assert problem_rows == [], describe(problem_rows)  # 1 of 3 lines still has the format

    healthy.client("logs").delete_log_stream(
        logGroupName="/ai-tutor/nginx", logStreamName="obs-test/container"
    )
    problem = only_problem(healthy.doctor())
    assert problem.detail.startswith(
        "0 of 2 recent lines in /ai-tutor/nginx have the format the ai-tutor-staging-nginx-5xx filter reads: it "
        "counts nothing, so its alarm never fires"
    )


def test_stopped_instance_is_not_inspected(deploy_staging: Callable[..., Deployment]) -> None:
    deployment = deploy_staging()
    sent: list[dict[str, object]] = []
    deployment.session.events.register(
        "provide-client-params.ssm.SendCommand", lambda params, **_: sent.append(params)
    )
    deployment.client("ec2").stop_instances(InstanceIds=[deployment.instance_id])

    report = deployment.doctor(deep=True)

    assert sent == []
    assert [r for r in report.results if r.check == "docker-logging"] == [
        CheckResult(
            "docker-logging",
            Status.WARN,
            deployment.instance_id,
            "not running, so its containers were not checked",
            "Start the instance, then run obs-doctor --deep again.",
            host=HOST,
        )
    ]


def test_a_success_of_an_older_setup_version_fails_the_setup_row(healthy: Deployment) -> None:
    """The instance last ran version 1 while the association is at version 2: CloudFormation went on after the
    previous run's success (hashicorp/terraform-provider-aws#31175), the current setup has not run."""
    [host] = healthy.hosts()
    for associations in healthy.gaps.associations.values():
        for association in associations.values():
            if host.instance_id in association.runs:
                association.version = "2"
    problem = only_problem(healthy.doctor())
    assert (problem.check, problem.status, problem.resource) == ("setup", Status.FAIL, host.instance_id)
    assert "that run was version 1 and the association is at version 2" in problem.detail
    assert problem.next_step.startswith("Run it now: aws ssm start-associations-once --association-ids ")
