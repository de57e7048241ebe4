"""The doctor against moto: the staging stack, deployed anew for each scenario, broken one way at a time.

(The healthy deployment itself, and the scenarios that only read it, are in ``test_read_staging.py``, which
shares one deployment.)"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest

from constructs_obs.doctor import CheckResult, DoctorOptions, Status
from constructs_obs.doctor.checks.stack_status import check_stack_status
from constructs_obs.doctor.stack import StackInventory
from tests.doctor.conftest import moto_session
from tests.doctor.deployment import Deployment
from tests.doctor.helpers import (
    MOTO_CFN_WARNINGS,
    only_problem,
    problems,
    record_calls,
    rows,
    runbook_permissions,
)

pytestmark = pytest.mark.filterwarnings(MOTO_CFN_WARNINGS)

SEED_IAM = "Check the IAM role is attached: AWS Console → EC2 → your instance → Security tab → IAM Role"
SEED_INSUFFICIENT_DATA = (
    "Normal for the first 10 minutes after creation. EC2 basic monitoring reports metrics every 5 minutes. "
    "If it persists beyond 15 minutes, check that the EC2 instance ID in the alarm matches the actual instance."
)
CPU = "ai-tutor-staging-cpu-high"
STATUS_CHECK = "ai-tutor-staging-status-check"


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
    assert [r for r in problems(report) if r.check == "logging-region"] == [
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
    # The topic policy the template wrote lets alarms of us-east-2 publish: those of us-east-1 may not, as AWS
    # would decide.
    [policy] = [r for r in problems(report) if r.check != "logging-region"]
    assert (policy.check, policy.status) == ("topic-policy", Status.FAIL)
    alarms = len(deployment.alarm_names)
    assert f"may not publish for {alarms} of {alarms} alarms" in policy.detail
    assert report.exit_code == 1


# --- the instance ----------------------------------------------------------------------------------------------


def test_instance_stopped(healthy: Deployment) -> None:
    healthy.client("ec2").stop_instances(InstanceIds=[healthy.instance_id])

    report = healthy.doctor()

    assert report.failures() == [
        CheckResult(
            "instance",
            Status.FAIL,
            healthy.instance_id,
            "stopped, not running: no container runs and no logs or metrics arrive",
            f"Start it: aws ec2 start-instances --instance-ids {healthy.instance_id} --region us-east-2",
            host="AiTutorStaging/Host",
        )
    ]
    # What needs a running host is not checked, and says so.
    assert [(r.check, r.status, r.detail) for r in problems(report) if r.status is Status.WARN] == [
        ("agent-metrics", Status.WARN, "not checked: the instance is stopped, so its agent cannot report"),
        (
            "prometheus-metrics",
            Status.WARN,
            "not checked: the instance is stopped, so its agent cannot scrape",
        ),
        ("docker-events", Status.WARN, "not checked: the instance is stopped"),
    ]


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
        host="AiTutorStaging/Host",
    )


def test_log_group_that_keeps_more_history_never_gets_a_cut_proposed_without_its_cost(
    healthy: Deployment,
) -> None:
    # An adopted group that never expires (CloudWatch Logs' default: no retention policy) under a stack that says 30
    # days: PutRetentionPolicy with 30 would delete every older event (CloudWatch Logs API Reference,
    # PutRetentionPolicy), so the row warns, offers to keep the history first, and names what the cut deletes.
    logs = healthy.client("logs")
    logs.delete_retention_policy(logGroupName="/ai-tutor/backend")
    logs.put_retention_policy(logGroupName="/ai-tutor/frontend", retentionInDays=400)

    report = healthy.doctor()
    rows = {r.resource: r for r in report.results if r.check == "log-group" and r.status is Status.WARN}
    assert sorted(rows) == ["/ai-tutor/backend", "/ai-tutor/frontend"]
    backend, frontend = rows["/ai-tutor/backend"], rows["/ai-tutor/frontend"]
    assert backend.detail == (
        "events never expire, the stack sets 30 days: the group keeps more history than the stack says"
    )
    assert backend.next_step.startswith(
        "To keep that history, set the stack's retention to the group's (RetentionDays.INFINITE) and deploy. "
        "Applying the stack's 30 days instead deletes every event older than 30 days at once (/ai-tutor/backend: "
        "created "
    )
    assert (
        "GB stored); only if you mean to: aws logs put-retention-policy --log-group-name /ai-tutor/backend "
        "--retention-in-days 30 --region us-east-2" in backend.next_step
    )
    assert "(the RetentionDays of 400 days)" in frontend.next_step
    assert "deletes every event older than 30 days" in frontend.next_step
    # Not a failure: nothing is lost while the group keeps more than the stack says.
    assert report.exit_code == 0


def test_log_group_that_never_received_anything(healthy: Deployment) -> None:
    logs = healthy.client("logs")
    logs.delete_log_group(logGroupName="/ai-tutor/nginx")
    logs.create_log_group(logGroupName="/ai-tutor/nginx")
    logs.put_retention_policy(logGroupName="/ai-tutor/nginx", retentionInDays=30)

    report = healthy.doctor()

    [problem] = [r for r in problems(report) if r.check == "log-events"]
    assert (problem.check, problem.status, problem.resource) == ("log-events", Status.FAIL, "/ai-tutor/nginx")
    assert problem.detail == "CloudWatch Logs not appearing: nothing has ever arrived (no log stream)"
    # The seed's four steps for "CloudWatch Logs not appearing", for this container.
    assert problem.next_step == (
        f"{SEED_IAM}; Check the container is running: docker compose --env-file .env.production ps; "
        "Check the Docker log driver: docker inspect $(docker compose ps -q nginx) | grep -A5 LogConfig "
        "(should show awslogs); Check the region matches: awslogs-region in docker-compose.yml should be "
        "us-east-2 (obs-doctor --deep checks the log driver and region for you)"
    )


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
            host="AiTutorStaging/Host",
        )
    ]
    assert [r.resource for r in problems(report) if r.check.startswith("log-")] == [
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


def test_alarm_without_ok_action_is_expected(healthy: Deployment) -> None:
    # Recovery is emailed by the recovery rule (after a real ALARM only): the alarms have no OK action, and the
    # alarm check expects none.
    healthy.update_alarm(STATUS_CHECK, OKActions=[])
    healthy.set_alarm_state(STATUS_CHECK, "OK")

    rows = [r for r in healthy.doctor().results if (r.check, r.resource) == ("alarm", STATUS_CHECK)]

    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert [(r.status, r.detail) for r in rows] == [(Status.PASS, f"exists, notifies {topic} on ALARM")]


def test_alarm_without_alarm_action(healthy: Deployment) -> None:
    healthy.update_alarm(STATUS_CHECK, AlarmActions=[])
    healthy.set_alarm_state(STATUS_CHECK, "OK")

    problem = only_problem(healthy.doctor())

    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert (problem.check, problem.status, problem.resource) == ("alarm", Status.FAIL, STATUS_CHECK)
    assert problem.detail == f"does not notify topic {topic} on ALARM"


def test_alarm_notifying_another_topic(healthy: Deployment) -> None:
    other = healthy.client("sns").create_topic(Name="elsewhere")["TopicArn"]
    healthy.update_alarm(CPU, AlarmActions=[other], OKActions=[other])
    healthy.set_alarm_state(CPU, "OK")

    problem = only_problem(healthy.doctor())

    topic = healthy.topic_arn.rsplit(":", 1)[-1]
    assert problem.detail == f"does not notify topic {topic} on ALARM"


def test_alarm_actions_disabled(healthy: Deployment) -> None:
    healthy.client("cloudwatch").disable_alarm_actions(AlarmNames=[CPU])

    assert only_problem(healthy.doctor()) == CheckResult(
        "alarm",
        Status.FAIL,
        CPU,
        "actions are disabled: state changes notify nobody",
        f"Enable them: aws cloudwatch enable-alarm-actions --alarm-names {CPU} --region us-east-2",
        host="AiTutorStaging/Host",
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

    # Within 15 minutes of the state change (the CPU alarm: 2 periods of 5 minutes, and EC2's 5-minute basic
    # monitoring; the seed's 15 minutes): normal, pending, and said so.
    soon = healthy.doctor(now=updated + timedelta(minutes=5))
    [state] = problems(soon)
    assert (state.check, state.status, state.resource) == ("alarm-state", Status.PENDING, CPU)
    assert state.expected_by == updated + timedelta(minutes=15)
    expected = (updated + timedelta(minutes=15)).strftime("%H:%M UTC")
    assert state.detail == f"INSUFFICIENT_DATA for 5 min: {SEED_INSUFFICIENT_DATA}; expected by {expected}"
    assert soon.exit_code == 0

    # Beyond 15 minutes: the seed's explanation, and a failure (an EC2 metric of a running instance has data).
    later = healthy.doctor(now=updated + timedelta(minutes=20))
    [problem] = [r for r in problems(later) if r.check == "alarm-state"]
    assert (problem.check, problem.status, problem.resource) == ("alarm-state", Status.FAIL, CPU)
    assert problem.detail.startswith("INSUFFICIENT_DATA for 20 min since ")
    assert problem.detail.endswith(", longer than 15 min")
    assert problem.next_step.startswith(SEED_INSUFFICIENT_DATA)


def test_a_longer_evaluation_range_waits_longer(healthy: Deployment) -> None:
    # 4 periods of 5 minutes, and EC2's 5-minute basic monitoring: 25 minutes before the alarm can have data.
    healthy.update_alarm(CPU, EvaluationPeriods=4, DatapointsToAlarm=2)
    healthy.set_alarm_state(CPU, "INSUFFICIENT_DATA")
    updated = healthy.describe_alarm(CPU)["StateUpdatedTimestamp"]

    [state] = [
        r
        for r in rows(healthy.doctor(now=updated + timedelta(minutes=20)), "alarm-state")
        if r.resource == CPU
    ]
    assert (state.status, state.expected_by) == (Status.PENDING, updated + timedelta(minutes=25))

    [state] = [
        r
        for r in rows(healthy.doctor(now=updated + timedelta(minutes=26)), "alarm-state")
        if r.resource == CPU
    ]
    assert state.status is Status.FAIL
    assert state.detail.endswith(", longer than 25 min")


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
    later = deployment.doctor(now=updated + timedelta(minutes=30))
    [problem] = [r for r in problems(later) if r.check == "alarm-state"]
    assert (problem.check, problem.status, problem.resource) == ("alarm-state", Status.WARN, name)
    assert problem.detail.endswith("AiTutor/Staging/BackendErrorLines has no datapoints")


# --- the topic -------------------------------------------------------------------------------------------------


def test_no_email_subscription(deploy_staging: Callable[..., Deployment]) -> None:
    deployment = deploy_staging(emails=())

    problem = only_problem(deployment.doctor())

    topic = deployment.topic_arn.rsplit(":", 1)[-1]
    assert (problem.check, problem.status, problem.resource) == ("subscriptions", Status.FAIL, topic)
    assert problem.detail == "no confirmed email subscription: alarms reach nobody"
    assert problem.next_step.startswith(
        "Subscribe an address and confirm it: BasicAlarms(emails=['you@example.com']) and deploy (or aws sns "
        "subscribe --topic-arn "
    )


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


# --- the JSON document --------------------------------------------------------------------------------------


def test_json_document_is_stable(healthy: Deployment) -> None:
    healthy.client("logs").put_retention_policy(logGroupName="/ai-tutor/backend", retentionInDays=7)

    document = json.loads(json.dumps(healthy.doctor().to_json()))

    assert set(document) == {
        "schema_version", "stack", "stack_id", "region", "checked_at", "status", "exit_code", "error", "summary",
        "wait", "hosts", "checks",
    }  # fmt: skip
    assert document["schema_version"] == 2
    assert (document["status"], document["exit_code"], document["error"], document["wait"]) == (
        "fail",
        1,
        None,
        None,
    )
    assert document["summary"] == {
        "pass": len(document["checks"]) - 1, "pending": 0, "warn": 0, "fail": 1, "unknown": 0,
    }  # fmt: skip
    assert all(
        set(c) == {"check", "status", "resource", "detail", "next_step", "host", "expected_by"}
        for c in document["checks"]
    )
    [failed] = [c for c in document["checks"] if c["status"] == "fail"]
    assert failed["resource"] == "/ai-tutor/backend"
    assert failed["next_step"].startswith("Restore the stack's retention")
    assert document["checks"][0]["next_step"] is None
    assert {c["expected_by"] for c in document["checks"]} == {None}


# --- the Prometheus scrape (the rows on the shared deployment are in test_prometheus.py) -------------------------


def test_prometheus_log_group_deleted(healthy: Deployment) -> None:
    healthy.client("logs").delete_log_group(logGroupName="/ai-tutor/prometheus")
    later = healthy.deployed_at + timedelta(hours=1)  # the datapoints of the deploy are outside the window

    [row] = rows(healthy.doctor(now=later), "prometheus-metrics")

    assert (row.status, row.resource, row.host) == (Status.FAIL, "job backend", "AiTutorStaging/Host")
    assert row.detail == (
        "/ai-tutor/prometheus does not exist: the agent cannot write the scraped metrics, so "
        "llm_cache_hits_total and llm_cache_misses_total never reach AiTutor/Staging"
    )
    assert row.next_step.startswith("See the log-group row of that group")


def _prometheus_job(template: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The template with its host's scrape job changed as ``changes`` say (the host metadata the doctor reads)."""
    changed = copy.deepcopy(template)
    [association] = [
        r
        for r in changed["Resources"].values()
        if r["Type"] == "AWS::SSM::Association" and "ConstructsObs::Host" in r.get("Metadata", {})
    ]
    [job] = association["Metadata"]["ConstructsObs::Host"]["Prometheus"]["Jobs"]
    job.update(changes)
    return changed


def test_prometheus_job_with_dimensions_and_a_longer_interval(
    deploy_staging: Callable[..., Deployment], assembly_dir: Any
) -> None:
    # A job that keeps content_item_id as a dimension: one metric per content item. Scraped every 4 minutes, so
    # the window is 3 scrapes and 5 minutes: 17 minutes.
    template = json.loads((assembly_dir / "AiTutorStaging.template.json").read_text())
    deployment = deploy_staging(
        template=_prometheus_job(template, Dimensions=["content_item_id"], IntervalSeconds=240)
    )
    [host] = deployment.hosts()
    # The healthy deployment published lesson-1's (12 hits, 4 misses); lesson-2's and a series without the
    # dimension (not the job's: it does not count) are added here.
    deployment.put_prometheus_metrics(
        host, {"llm_cache_hits_total": 5.0}, dimensions={"content_item_id": "lesson-2"}
    )
    deployment.put_prometheus_metrics(host, {"llm_cache_hits_total": 100.0, "llm_cache_misses_total": 100.0})
    calls = record_calls(deployment.session)

    [row] = rows(deployment.doctor(), "prometheus-metrics")

    assert (row.status, row.detail) == (
        Status.PASS,
        "llm_cache_hits_total 17, llm_cache_misses_total 4 in the last 17 min (AiTutor/Staging, dimension "
        "content_item_id: 2 series, scraped from http://127.0.0.1:9898/metrics)",
    )
    assert "cloudwatch:ListMetrics" in calls
    assert calls <= runbook_permissions()
