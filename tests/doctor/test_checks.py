"""The doctor against moto: a healthy deployment of the staging stack, then one scenario per failure."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from constructs_obs.doctor import CheckResult, DoctorOptions, Report, Status
from constructs_obs.doctor.checks import check_stack_status
from constructs_obs.doctor.stack import StackInventory
from tests.conftest import ROOT
from tests.doctor.conftest import moto_session
from tests.doctor.deployment import Deployment

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse .* but it.s not supported by moto.s CloudFormation:UserWarning"
)

SEED_IAM = "Check the IAM role is attached: AWS Console → EC2 → your instance → Security tab → IAM Role"
SEED_INSUFFICIENT_DATA = (
    "Normal for the first 10 minutes after creation. EC2 basic monitoring reports metrics every 5 minutes. "
    "If it persists beyond 15 minutes, check that the EC2 instance ID in the alarm matches the actual instance."
)
CPU = "ai-tutor-staging-cpu-high"
STATUS_CHECK = "ai-tutor-staging-status-check"

#: The staging stack's container log groups (the ones containers ship to, so recent events are expected).
CONTAINER_GROUPS = ["/ai-tutor/backend", "/ai-tutor/frontend", "/ai-tutor/nginx"]


def problems(report: Report) -> list[CheckResult]:
    """Every row that did not pass."""
    return [r for r in report.results if r.status is not Status.PASS]


def rows(report: Report, check: str) -> list[CheckResult]:
    return [r for r in report.results if r.check == check]


def only_problem(report: Report) -> CheckResult:
    found = problems(report)
    assert len(found) == 1, "\n".join(f"{r.status.value} {r.check} {r.resource}: {r.detail}" for r in found)
    return found[0]


# --- the healthy deployment ------------------------------------------------------------------------------------


def test_healthy_deployment_passes_every_check(healthy: Deployment) -> None:
    report = healthy.doctor()

    assert problems(report) == []
    assert report.exit_code == 0
    assert report.stack_id and report.stack_id.startswith("arn:aws:cloudformation:us-east-2:")
    # Every log group and alarm of the stack is found from the stack itself, whatever their logical ids.
    assert healthy.log_groups == [*CONTAINER_GROUPS, "/ai-tutor/docker-events"]
    assert [r.resource for r in rows(report, "log-group")] == healthy.log_groups
    assert [r.resource for r in rows(report, "log-events")] == CONTAINER_GROUPS
    assert {CPU, STATUS_CHECK} <= set(healthy.alarm_names)
    for check in ("alarm", "alarm-state"):
        assert [r.resource for r in rows(report, check)] == healthy.alarm_names
    instance = healthy.instance_id
    assert rows(report, "stack") == [CheckResult("stack", Status.PASS, "AiTutorStaging", "CREATE_COMPLETE")]
    assert rows(report, "instance") == [CheckResult("instance", Status.PASS, instance, "running (t3.small)")]
    [profile] = rows(report, "instance-profile")
    assert profile.detail.startswith("AiTutorStaging-HostInstanceInstanceProfile")
    assert rows(report, "log-group")[0].detail == "exists, events expire after 30 days"
    assert rows(report, "log-events")[0].detail == "events in the last 60 min"
    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert rows(report, "alarm")[0].detail == f"exists, notifies {topic} on ALARM and OK"
    # Every alarm with an InstanceId dimension (the agent's memory and disk alarms too) watches this instance.
    assert {r.resource: r.detail for r in rows(report, "alarm-instance")} == {
        CPU: f"watches {instance}",
        STATUS_CHECK: f"watches {instance}",
        "ai-tutor-staging-memory-high": f"watches {instance}",
        "ai-tutor-staging-disk-high": f"watches {instance}",
    }
    assert rows(report, "alarm-state")[0].detail.startswith("OK since ")
    assert rows(report, "subscriptions") == [
        CheckResult("subscriptions", Status.PASS, topic, "1 confirmed email subscription: ops@example.com")
    ]
    assert rows(report, "logging-region") == [
        CheckResult(
            "logging-region",
            Status.PASS,
            "ComposeLogging",
            "3 services log to the stack's groups in us-east-2: backend, frontend, nginx",
        )
    ]


def record_calls(session: boto3.Session) -> set[str]:
    """Every AWS call made through ``session`` from now on, as IAM actions (boto3's service name is the IAM
    prefix for every service the doctor uses)."""
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.service_name}:{model.name}")

    session.events.register("before-call", record)
    return calls


def runbook_permissions() -> set[str]:
    """The actions of the IAM policy the runbook tells users to grant."""
    text = (ROOT / "docs" / "runbook.md").read_text()
    policy = json.loads(re.search(r"```json\n(\{\n  \"Version\".*?)\n```", text, re.DOTALL)[1])  # type: ignore[index]
    return {action for statement in policy["Statement"] for action in statement["Action"]}


def test_the_doctor_only_reads(healthy: Deployment) -> None:
    calls = record_calls(healthy.session)

    healthy.doctor()

    assert calls == {
        "cloudformation:DescribeStacks",
        "cloudformation:ListStackResources",
        "cloudformation:GetTemplate",
        "ec2:DescribeInstances",
        "logs:DescribeLogGroups",
        "logs:FilterLogEvents",
        "cloudwatch:DescribeAlarms",
        "sns:ListSubscriptionsByTopic",
    }
    assert calls <= runbook_permissions()


# --- the stack -------------------------------------------------------------------------------------------------


def test_stack_still_deploying(deploy_staging: Callable[..., Deployment]) -> None:
    # The VPC's custom resource never answers in moto (its Lambda needs Docker): the stack stays in progress.
    deployment = deploy_staging(answer_custom=False)

    problem = only_problem(deployment.doctor())

    assert problem == CheckResult(
        "stack",
        Status.FAIL,
        "AiTutorStaging",
        "CREATE_IN_PROGRESS: a deploy is still running",
        "Wait for it to finish (cdk deploy prints the progress), then run obs-doctor again.",
    )


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="recent_minutes must be a positive number of minutes, got 0"):
        DoctorOptions(recent_minutes=0)
    with pytest.raises(ValueError, match="deep_timeout_seconds must be positive, got -1"):
        DoctorOptions(deep_timeout_seconds=-1)


def _inventory(status: str, reason: str = "") -> StackInventory:
    return StackInventory("S", "arn:stack", "us-east-2", status, reason, {}, (), True)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CREATE_COMPLETE", Status.PASS),
        ("UPDATE_COMPLETE", Status.PASS),
        ("IMPORT_COMPLETE", Status.PASS),
        ("UPDATE_ROLLBACK_COMPLETE", Status.WARN),
        ("UPDATE_IN_PROGRESS", Status.FAIL),
        ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Status.FAIL),
        ("ROLLBACK_COMPLETE", Status.FAIL),
        ("UPDATE_ROLLBACK_FAILED", Status.FAIL),
        ("CREATE_FAILED", Status.FAIL),
    ],
)
def test_stack_states(status: str, expected: Status) -> None:
    [row] = check_stack_status(_inventory(status))
    assert row.status is expected
    assert row.detail.startswith(status)
    assert bool(row.next_step) is (expected is not Status.PASS)


def test_unreadable_template_is_a_warning() -> None:
    inventory = StackInventory("S", "arn:stack", "us-east-2", "UPDATE_COMPLETE", "", {}, (), False)
    assert [(r.check, r.status) for r in check_stack_status(inventory)] == [
        ("stack", Status.PASS),
        ("stack-template", Status.WARN),
    ]


def test_failed_stack_names_the_reason_and_the_events_command() -> None:
    [row] = check_stack_status(
        _inventory("ROLLBACK_COMPLETE", "The following resource(s) failed to create: [Host]")
    )
    assert row.detail == "ROLLBACK_COMPLETE: The following resource(s) failed to create: [Host]"
    assert "aws cloudformation describe-stack-events --stack-name S --region us-east-2" in row.next_step


def test_logging_configuration_points_at_another_region(deploy_staging: Callable[..., Deployment]) -> None:
    # The template synthesized for us-east-2, deployed by hand into us-east-1.
    deployment = deploy_staging(session=moto_session("us-east-1"))

    report = deployment.doctor()

    assert report.region == "us-east-1"
    assert problems(report) == [
        CheckResult(
            "logging-region",
            Status.FAIL,
            f"service {service}",
            "awslogs-region is us-east-2, but the stack and its log groups are in us-east-1",
            "Check the region matches: awslogs-region in docker-compose.yml should be us-east-1 (deploy the stack "
            "to the region it was synthesized for, or synthesize it for this one).",
        )
        for service in ("backend", "frontend", "nginx")
    ]
    assert report.exit_code == 1


# --- the instance ----------------------------------------------------------------------------------------------


def test_instance_stopped(healthy: Deployment) -> None:
    healthy.client("ec2").stop_instances(InstanceIds=[healthy.instance_id])

    assert only_problem(healthy.doctor()) == CheckResult(
        "instance",
        Status.FAIL,
        healthy.instance_id,
        "stopped, not running: no container runs and no logs or metrics arrive",
        f"Start it: aws ec2 start-instances --instance-ids {healthy.instance_id} --region us-east-2",
    )


def test_instance_profile_not_attached(healthy: Deployment) -> None:
    ec2 = healthy.client("ec2")
    [association] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    profile = association["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource) == (
        "instance-profile",
        Status.FAIL,
        healthy.instance_id,
    )
    assert problem.detail == "no IAM instance profile attached: Docker cannot write to CloudWatch Logs"
    assert problem.next_step == (
        f"{SEED_IAM}. Attach the stack's profile: aws ec2 associate-iam-instance-profile "
        f"--instance-id {healthy.instance_id} --iam-instance-profile Name={profile} --region us-east-2"
    )


def test_another_instance_profile_attached(healthy: Deployment) -> None:
    ec2, iam = healthy.client("ec2"), healthy.client("iam")
    iam.create_instance_profile(InstanceProfileName="someone-elses-profile")
    [association] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    ours = association["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
    # (moto's replace_iam_instance_profile_association leaves the instance's profile as it was.)
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    ec2.associate_iam_instance_profile(
        InstanceId=healthy.instance_id, IamInstanceProfile={"Name": "someone-elses-profile"}
    )

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status) == ("instance-profile", Status.FAIL)
    assert problem.detail == f"instance profile someone-elses-profile attached, but the stack's is {ours}"
    assert problem.next_step.startswith(SEED_IAM)


# --- the log groups --------------------------------------------------------------------------------------------


def test_log_group_deleted(healthy: Deployment) -> None:
    healthy.client("logs").delete_log_group(logGroupName="/ai-tutor/frontend")

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource) == (
        "log-group",
        Status.FAIL,
        "/ai-tutor/frontend",
    )
    assert (
        problem.detail
        == "does not exist: Docker's awslogs driver cannot ship to it (awslogs-create-group is false)"
    )
    assert (
        "aws cloudformation detect-stack-drift --stack-name AiTutorStaging --region us-east-2"
        in problem.next_step
    )


def test_log_group_retention_changed(healthy: Deployment) -> None:
    healthy.client("logs").put_retention_policy(logGroupName="/ai-tutor/backend", retentionInDays=7)

    assert only_problem(healthy.doctor()) == CheckResult(
        "log-group",
        Status.FAIL,
        "/ai-tutor/backend",
        "events expire after 7 days, the stack sets 30 days",
        "Restore the stack's retention: aws logs put-retention-policy --log-group-name /ai-tutor/backend "
        "--retention-in-days 30 --region us-east-2",
    )


def test_log_group_that_never_received_anything(healthy: Deployment) -> None:
    logs = healthy.client("logs")
    logs.delete_log_group(logGroupName="/ai-tutor/nginx")
    logs.create_log_group(logGroupName="/ai-tutor/nginx")
    logs.put_retention_policy(logGroupName="/ai-tutor/nginx", retentionInDays=30)

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource) == ("log-events", Status.FAIL, "/ai-tutor/nginx")
    assert problem.detail == "CloudWatch Logs not appearing: nothing has ever arrived (no log stream)"
    # The seed's four steps for "CloudWatch Logs not appearing", for this container.
    assert problem.next_step == (
        f"{SEED_IAM}; Check the container is running: docker compose --env-file .env.production ps; "
        "Check the Docker log driver: docker inspect $(docker compose ps -q nginx) | grep -A5 LogConfig "
        "(should show awslogs); Check the region matches: awslogs-region in docker-compose.yml should be "
        "us-east-2 (obs-doctor --deep checks the log driver and region for you)"
    )


def test_log_groups_without_recent_events(healthy: Deployment) -> None:
    later = healthy.deployed_at + timedelta(hours=3)
    calls = record_calls(healthy.session)

    report = healthy.doctor(now=later, recent_minutes=60)

    assert [(r.check, r.status, r.resource) for r in problems(report)] == [
        ("log-events", Status.FAIL, group) for group in CONTAINER_GROUPS
    ]
    detail = problems(report)[0].detail
    assert detail.startswith(
        "CloudWatch Logs not appearing: no events in the last 60 min; the latest arrived "
    )
    assert detail.endswith("(3 h ago)")
    assert "logs:DescribeLogStreams" in calls
    assert calls <= runbook_permissions()
    # A longer window finds them.
    assert problems(healthy.doctor(now=later, recent_minutes=240)) == []


def test_log_group_no_container_ships_to(
    deploy_staging: Callable[..., Deployment], staging_template_json: dict[str, Any]
) -> None:
    # A group of the stack that no ComposeLogging service uses (Docker's own events) may be quiet.
    deployment = deploy_staging(template=staging_template_json)

    report = deployment.doctor(now=deployment.deployed_at + timedelta(hours=3))

    assert [r for r in rows(report, "log-group") if r.resource == "/ai-tutor/docker-events"] == [
        CheckResult(
            "log-group",
            Status.PASS,
            "/ai-tutor/docker-events",
            "exists, events expire after 30 days; no container ships to it, so recent events are not required",
        )
    ]
    assert [r.resource for r in problems(report)] == [
        "/ai-tutor/backend",
        "/ai-tutor/frontend",
        "/ai-tutor/nginx",
    ]
    # Its retention is checked like any other group's.
    deployment.client("logs").put_retention_policy(logGroupName="/ai-tutor/docker-events", retentionInDays=1)
    problem = only_problem(deployment.doctor())
    assert (problem.check, problem.resource) == ("log-group", "/ai-tutor/docker-events")


# --- the alarms ------------------------------------------------------------------------------------------------


def test_alarm_deleted(healthy: Deployment) -> None:
    healthy.client("cloudwatch").delete_alarms(AlarmNames=[CPU])

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource, problem.detail) == (
        "alarm",
        Status.FAIL,
        CPU,
        "does not exist",
    )
    assert problem.next_step.startswith(f"Alarm {CPU} was changed or deleted outside CloudFormation")


def test_alarm_without_ok_action(healthy: Deployment) -> None:
    healthy.update_alarm(STATUS_CHECK, OKActions=[])
    healthy.set_alarm_state(STATUS_CHECK, "OK")

    problem = only_problem(healthy.doctor())

    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert (problem.check, problem.status, problem.resource) == ("alarm", Status.FAIL, STATUS_CHECK)
    assert problem.detail == f"does not notify topic {topic} on OK"


def test_alarm_notifying_another_topic(healthy: Deployment) -> None:
    other = healthy.client("sns").create_topic(Name="elsewhere")["TopicArn"]
    healthy.update_alarm(CPU, AlarmActions=[other], OKActions=[other])
    healthy.set_alarm_state(CPU, "OK")

    problem = only_problem(healthy.doctor())

    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert problem.detail == f"does not notify topic {topic} on ALARM and OK"


def test_alarm_actions_disabled(healthy: Deployment) -> None:
    healthy.client("cloudwatch").disable_alarm_actions(AlarmNames=[CPU])

    assert only_problem(healthy.doctor()) == CheckResult(
        "alarm",
        Status.FAIL,
        CPU,
        "actions are disabled: state changes notify nobody",
        f"Enable them: aws cloudwatch enable-alarm-actions --alarm-names {CPU} --region us-east-2",
    )


def test_alarm_watching_another_instance(healthy: Deployment) -> None:
    healthy.update_alarm(STATUS_CHECK, Dimensions=[{"Name": "InstanceId", "Value": "i-0123456789abcdef0"}])
    healthy.set_alarm_state(STATUS_CHECK, "OK")

    problem = only_problem(healthy.doctor())

    assert (problem.check, problem.status, problem.resource) == ("alarm-instance", Status.FAIL, STATUS_CHECK)
    assert problem.detail == f"watches i-0123456789abcdef0, but the stack's instance is {healthy.instance_id}"
    assert problem.next_step.startswith(
        "The EC2 instance ID in the alarm does not match the actual instance."
    )


def test_alarm_in_insufficient_data(healthy: Deployment) -> None:
    healthy.set_alarm_state(CPU, "INSUFFICIENT_DATA")
    updated = healthy.describe_alarm(CPU)["StateUpdatedTimestamp"]

    # Within 15 minutes of the state change: normal, and said so.
    soon = healthy.doctor(now=updated + timedelta(minutes=5))
    assert problems(soon) == []
    [state] = [r for r in rows(soon, "alarm-state") if r.resource == CPU]
    assert state.detail == f"INSUFFICIENT_DATA for 5 min: {SEED_INSUFFICIENT_DATA}"

    # Beyond 15 minutes: the seed's explanation, and a failure (an EC2 metric of a running instance has data).
    problem = only_problem(healthy.doctor(now=updated + timedelta(minutes=20)))
    assert (problem.check, problem.status, problem.resource) == ("alarm-state", Status.FAIL, CPU)
    assert problem.detail.startswith("INSUFFICIENT_DATA for 20 min since ")
    assert problem.detail.endswith(", longer than 15 min")
    assert problem.next_step.startswith(SEED_INSUFFICIENT_DATA)


def test_alarm_in_alarm_state_is_a_warning(healthy: Deployment) -> None:
    healthy.set_alarm_state(CPU, "ALARM", "Threshold Crossed: 2 datapoints [93.1, 95.2] were greater than 80")

    report = healthy.doctor()

    problem = only_problem(report)
    assert (problem.check, problem.status, problem.resource) == ("alarm-state", Status.WARN, CPU)
    assert problem.detail.endswith(": Threshold Crossed: 2 datapoints [93.1, 95.2] were greater than 80")
    assert problem.next_step.startswith("The alarm works and something needs attention: CPU above 80%")
    assert report.exit_code == 0


def test_alarms_without_an_instance_dimension(
    deploy_staging: Callable[..., Deployment], staging_template_json: dict[str, Any]
) -> None:
    # The staging stack's backend-errors alarm watches a metric-filter metric: no InstanceId dimension.
    deployment = deploy_staging(template=staging_template_json)
    name = "ai-tutor-staging-backend-errors"

    report = deployment.doctor()

    assert problems(report) == []
    assert name in [r.resource for r in rows(report, "alarm")]
    assert name in [r.resource for r in rows(report, "alarm-state")]
    assert name not in [r.resource for r in rows(report, "alarm-instance")]

    # No data for long is a warning here: a log pattern may simply not have occurred.
    deployment.set_alarm_state(name, "INSUFFICIENT_DATA")
    updated = deployment.describe_alarm(name)["StateUpdatedTimestamp"]
    problem = only_problem(deployment.doctor(now=updated + timedelta(minutes=30)))
    assert (problem.check, problem.status, problem.resource) == ("alarm-state", Status.WARN, name)
    assert problem.detail.endswith("AiTutor/Staging/BackendErrorLines has no datapoints")


# --- the topic -------------------------------------------------------------------------------------------------


def test_no_email_subscription(deploy_staging: Callable[..., Deployment]) -> None:
    deployment = deploy_staging(emails=())

    problem = only_problem(deployment.doctor())

    topic = deployment.topic_arn.rsplit(":", 1)[-1]
    assert (problem.check, problem.status, problem.resource) == ("subscriptions", Status.FAIL, topic)
    assert problem.detail == "no confirmed email subscription: alarms reach nobody"
    assert problem.next_step.startswith("Subscribe an address and confirm it: cdk deploy -c alarm_emails=")


def _pending(session: boto3.Session, *endpoints: str) -> None:
    """moto confirms email subscriptions at once; AWS lists an unconfirmed one as 'PendingConfirmation'."""

    def mark(parsed: dict[str, Any], **_: Any) -> None:
        for subscription in parsed.get("Subscriptions", []):
            if subscription.get("Endpoint") in endpoints:
                subscription["SubscriptionArn"] = "PendingConfirmation"

    session.events.register("after-call.sns.ListSubscriptionsByTopic", mark)


def test_pending_confirmation_is_flagged(deploy_staging: Callable[..., Deployment]) -> None:
    deployment = deploy_staging(emails=("ops@example.com", "oncall@example.com"))
    _pending(deployment.session, "oncall@example.com")

    report = deployment.doctor()

    topic = deployment.topic_arn.rsplit(":", 1)[-1]
    assert rows(report, "subscriptions")[0].detail == "1 confirmed email subscription: ops@example.com"
    problem = only_problem(report)
    assert (problem.check, problem.status, problem.resource) == (
        "subscription",
        Status.WARN,
        "oncall@example.com",
    )
    assert problem.detail == f"email subscription to {topic} is pending confirmation"
    assert problem.next_step.startswith("Check your inbox and confirm: oncall@example.com got an")
    assert report.exit_code == 0


def test_only_pending_confirmations_fail(healthy: Deployment) -> None:
    _pending(healthy.session, "ops@example.com")

    report = healthy.doctor()

    assert [(r.check, r.status, r.detail) for r in problems(report)] == [
        ("subscriptions", Status.FAIL, "no confirmed email subscription (1 pending confirmation): alarms reach nobody"),
        ("subscription", Status.WARN, f"email subscription to {healthy.topic_arn.rsplit(':', 1)[-1]} is pending confirmation"),
    ]  # fmt: skip


def test_declared_subscription_gone(
    deploy_staging: Callable[..., Deployment], staging_template_json: dict[str, Any]
) -> None:
    template = copy.deepcopy(staging_template_json)
    topic = next(lid for lid, r in template["Resources"].items() if r["Type"] == "AWS::SNS::Topic")
    template["Resources"]["LeadSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Properties": {"Protocol": "email", "Endpoint": "lead@example.com", "TopicArn": {"Ref": topic}},
    }
    deployment = deploy_staging(template=template)
    sns = deployment.client("sns")
    [lead] = [
        s
        for s in sns.list_subscriptions_by_topic(TopicArn=deployment.topic_arn)["Subscriptions"]
        if s["Endpoint"] == "lead@example.com"
    ]
    sns.unsubscribe(SubscriptionArn=lead["SubscriptionArn"])

    problem = only_problem(deployment.doctor())

    assert (problem.check, problem.status, problem.resource) == (
        "subscription",
        Status.WARN,
        "lead@example.com",
    )
    assert problem.detail.startswith("declared in the stack but not subscribed")
    assert "--notification-endpoint lead@example.com" in problem.next_step


# --- AWS refusing a call ---------------------------------------------------------------------------------------


def test_a_refused_call_is_a_failed_row_not_a_crash(healthy: Deployment) -> None:
    def deny(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": "not authorized to perform logs:FilterLogEvents",
                }
            },
            "FilterLogEvents",
        )

    healthy.session.events.register("before-call.logs.FilterLogEvents", deny)

    report = healthy.doctor()

    assert [(r.check, r.status, r.resource) for r in problems(report)] == [
        ("log-events", Status.FAIL, group) for group in CONTAINER_GROUPS
    ]
    assert problems(report)[0].detail == (
        "could not check: AccessDeniedException: not authorized to perform logs:FilterLogEvents"
    )
    assert report.exit_code == 1


def test_json_document_is_stable(healthy: Deployment) -> None:
    healthy.client("logs").put_retention_policy(logGroupName="/ai-tutor/backend", retentionInDays=7)

    document = json.loads(json.dumps(healthy.doctor().to_json()))

    assert set(document) == {
        "schema_version", "stack", "stack_id", "region", "checked_at", "status", "exit_code", "error", "summary",
        "checks",
    }  # fmt: skip
    assert document["schema_version"] == 1
    assert (document["status"], document["exit_code"], document["error"]) == ("fail", 1, None)
    assert document["summary"]["fail"] == 1
    assert sum(document["summary"].values()) == len(document["checks"])
    assert all(set(c) == {"check", "status", "resource", "detail", "next_step"} for c in document["checks"])
    [failed] = [c for c in document["checks"] if c["status"] == "fail"]
    assert failed["resource"] == "/ai-tutor/backend"
    assert failed["next_step"].startswith("Restore the stack's retention")
    assert document["checks"][0]["next_step"] is None
