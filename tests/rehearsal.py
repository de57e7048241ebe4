"""The deploy rehearsal: the staging stack's whole lifecycle in LocalStack (``make rehearse``, tests/test_rehearsal.py).

Steps: synthesize the staging app without Lambda-backed custom resources (``-c rehearsal=true``: LocalStack cannot
run Lambda here), create the stack, subscribe an SQS queue to the alarm topic, drive alarms to ALARM with real
metric data (what EC2 and the crash metric filter would publish), check a message naming each alarm arrives,
deliver the documented "CloudWatch Alarm State Change" event to the default bus and check the recovery rule's
message, update the stack with a changed setting, delete it, report what was kept, and create it again with
``ImportExistingResources``.

What LocalStack (2026.3.0) models and does not, as found by this rehearsal (each gap is checked on the template in
tests/test_lifecycle.py and tests/test_recovery.py, with its AWS source):

- Alarms are evaluated on put_metric_alarm and then every EvaluationPeriods x Period; the rehearsal puts the data
  and then puts the alarm again with its own configuration, which evaluates it at once (a minute's wait
  otherwise). Alarm actions reach SNS subscribers.
- CloudWatch sends no "CloudWatch Alarm State Change" event to EventBridge: the recovery rule is rehearsed with
  the documented event put on the default bus (EventBridge's matching, input transformer and SNS target are
  LocalStack's own).
- No rollback (a failed create is ``CREATE_FAILED``), no termination protection, no DeletionPolicy: a deletion
  deletes the log groups too (AWS keeps them: ``RetainExceptOnCreate``), so the re-create's import step creates the
  groups the rehearsal put back by API first.
- Metric filters, the dashboard, saved queries and SSM associations deploy as no-ops; IAM and topic policies are
  not evaluated.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.alarm_events import DOCUMENTED_EVENT
from tests.realenv.localstack import ACCOUNT, LocalStack, localstack

STACK = "AiTutorStaging"
REGION = "us-east-2"
PREFIX = "ai-tutor-staging"
#: The alarms driven with real metric data: (alarm, namespace, metric, dimensions from the outputs).
DRIVEN = ("status-check", "container-crash")
STACK_TIMEOUT = 120.0
MESSAGE_TIMEOUT = 30.0


@dataclass
class Report:
    """What the rehearsal saw, step by step (printed by ``make rehearse``)."""

    steps: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    alarm_messages: dict[str, str] = field(default_factory=dict)
    recovery_message: str = ""
    insufficient_data_recovery_messages: int = -1
    natural_recovery_messages: int = -1
    kept_after_delete: list[str] = field(default_factory=list)
    recreated_with_import: str = ""
    recreate_actions: dict[str, str] = field(default_factory=dict)

    def say(self, line: str) -> None:
        self.steps.append(line)
        print(line, flush=True)


def template(outdir: Path, **context: Any) -> dict[str, Any]:
    """The staging template as ``cdk synth -c rehearsal=true`` writes it (plus ``context``)."""
    from stacks.synth import staging_template

    return staging_template(outdir, rehearsal="true", **context)


def _wait_stack(cfn: Any, stack: str) -> str:
    deadline = time.monotonic() + STACK_TIMEOUT
    while True:
        summaries = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == stack]
        # The newest stack of that name (a deleted one stays listed).
        newest = max(summaries, key=lambda s: s["CreationTime"]) if summaries else None
        status = str(newest["StackStatus"]) if newest else "NONE"
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def _failures(cfn: Any, stack: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if "FAILED" in e["ResourceStatus"]
    ]


def _messages(
    sqs: Any, queue: str, until: Callable[[list[str]], bool], timeout: float = MESSAGE_TIMEOUT
) -> list[str]:
    """SNS messages delivered to ``queue`` (the ``Message`` of each envelope) until ``until`` holds or time is up."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(seen):
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            seen.append(json.loads(message["Body"]).get("Message", ""))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return seen


def _stack_args(body: dict[str, Any]) -> dict[str, Any]:
    return {"StackName": STACK, "TemplateBody": json.dumps(body), "Capabilities": ["CAPABILITY_NAMED_IAM"]}


def _operate(report: Report, cfn: Any, step: str, expected: str, call: Callable[[], Any]) -> None:
    """Run one stack operation, wait for its end, time it; fail naming the failed resources unless ``expected``."""
    started = time.monotonic()
    call()
    status = _wait_stack(cfn, STACK)
    report.seconds[step] = time.monotonic() - started
    report.say(f"{step}: {status} in {report.seconds[step]:.1f} s")
    if status != expected:
        raise AssertionError(f"{step} ended {status}: {_failures(cfn, STACK)}")


def _reevaluate(cw: Any, name: str) -> None:
    """Put the alarm again with its own configuration: LocalStack evaluates an alarm when it is put."""
    alarm = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]
    keys = (
        "AlarmName", "AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
        "MetricName", "Namespace", "Statistic", "Dimensions", "Period", "EvaluationPeriods", "DatapointsToAlarm",
        "Threshold", "ComparisonOperator", "TreatMissingData",
    )  # fmt: skip
    cw.put_metric_alarm(**{k: alarm[k] for k in keys if k in alarm})


def rehearse(ls: LocalStack, workdir: Path) -> Report:
    """Run every step against ``ls``; return what was seen."""
    report = Report()
    cfn, sqs, sns = ls.client("cloudformation", REGION), ls.client("sqs", REGION), ls.client("sns", REGION)
    cw, events, logs = ls.client("cloudwatch", REGION), ls.client("events", REGION), ls.client("logs", REGION)
    ssm = ls.client("ssm", REGION)
    started = time.monotonic()
    first = template(workdir / "first")
    custom = [
        k
        for k, r in first["Resources"].items()
        if r["Type"].startswith("Custom::") or r["Type"] == "AWS::Lambda::Function"
    ]
    assert not custom, f"the rehearsal template must have no Lambda-backed custom resource, has {custom}"
    # The bootstrap version parameter the template's BootstrapVersion parameter reads (cdk bootstrap creates it).
    ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True)
    report.seconds["synth"] = time.monotonic() - started

    # 1. Create.
    _operate(report, cfn, "create", "CREATE_COMPLETE", lambda: cfn.create_stack(**_stack_args(first)))
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]
    }

    # 2. A queue on the alarm topic: every notification the topic sends lands there.
    queue = sqs.create_queue(QueueName="rehearsal")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=outputs["AlarmTopicArn"], Protocol="sqs", Endpoint=queue_arn)

    # 3. Real metric data: two failed status checks (EC2's StatusCheckFailed), one container crash (the value the
    # crash metric filter publishes for a counted docker-events line).
    step = time.monotonic()
    now = dt.datetime.now(dt.timezone.utc)
    cw.put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "StatusCheckFailed",
                "Dimensions": [{"Name": "InstanceId", "Value": outputs["InstanceId"]}],
                "Value": 1,
                "Timestamp": now - dt.timedelta(seconds=seconds),
            }
            for seconds in (0, 60)
        ],
    )
    cw.put_metric_data(
        Namespace="AiTutor/Staging",
        MetricData=[{"MetricName": "ContainerCrashes", "Value": 1, "Timestamp": now}],
    )
    time.sleep(2)  # LocalStack does not see data of the current second yet
    names = [f"{PREFIX}-{suffix}" for suffix in DRIVEN]
    for name in names:
        _reevaluate(cw, name)
    messages = _messages(sqs, queue, lambda seen: all(any(n in m for m in seen) for n in names))
    for name in names:
        found = [m for m in messages if json.loads(m).get("AlarmName") == name]
        if found:
            report.alarm_messages[name] = json.loads(found[0])["NewStateValue"]
    report.seconds["alarms"] = time.monotonic() - step
    report.say(f"alarms: {report.alarm_messages} in {report.seconds['alarms']:.1f} s")

    # 4. Recovery. LocalStack's CloudWatch sends no state-change event to EventBridge: an alarm set back to OK
    # delivers nothing through the rule (counted, expected 0), so the documented event is put on the default bus.
    cw.set_alarm_state(AlarmName=names[1], StateValue="OK", StateReason="rehearsal: back to OK")
    report.natural_recovery_messages = len(_messages(sqs, queue, lambda seen: False, timeout=4))
    event = copy.deepcopy(DOCUMENTED_EVENT)
    event["detail"]["alarmName"] = names[0]
    event["detail"]["previousState"]["value"], event["detail"]["state"]["value"] = "ALARM", "OK"
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{names[0]}"

    def put(detail: dict[str, Any]) -> None:
        result = events.put_events(
            Entries=[
                {
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Resources": [alarm_arn],
                    "Detail": json.dumps(detail),
                }
            ]
        )
        assert result["FailedEntryCount"] == 0, result

    put(event["detail"])
    recovered = _messages(sqs, queue, lambda seen: bool(seen))
    report.recovery_message = json.loads(recovered[0]) if recovered else ""
    insufficient = copy.deepcopy(event["detail"])
    insufficient["previousState"]["value"] = "INSUFFICIENT_DATA"
    put(insufficient)
    report.insufficient_data_recovery_messages = len(_messages(sqs, queue, lambda seen: False, timeout=4))
    report.say(
        f"recovery: {report.recovery_message!r}; INSUFFICIENT_DATA -> OK sent "
        f"{report.insufficient_data_recovery_messages} message(s); LocalStack's own ALARM -> OK sent "
        f"{report.natural_recovery_messages} through the rule"
    )

    # 5. Update with a changed setting (an alarm email): in place.
    changed = template(workdir / "changed", alarm_emails="ops@example.com")
    _operate(report, cfn, "update", "UPDATE_COMPLETE", lambda: cfn.update_stack(**_stack_args(changed)))

    # 6. Delete; what is kept.
    step = time.monotonic()
    cfn.delete_stack(StackName=STACK)
    status = _wait_stack(cfn, STACK)
    report.seconds["delete"] = time.monotonic() - step
    report.kept_after_delete = sorted(
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/ai-tutor")["logGroups"]
    )
    alarms_left = len(cw.describe_alarms(AlarmNamePrefix=f"{PREFIX}-")["MetricAlarms"])
    report.say(
        f"delete: {status}; log groups kept: {report.kept_after_delete or 'none (LocalStack ignores DeletionPolicy)'}; "
        f"alarms left: {alarms_left}"
    )

    # 7. Deploy again over the groups a real deletion keeps (put back by API where LocalStack deleted them).
    step = time.monotonic()
    groups = sorted(
        r["Properties"]["LogGroupName"]
        for r in first["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup"
    )
    for group in groups:
        if group not in report.kept_after_delete:
            logs.create_log_group(logGroupName=group)
    change_set = cfn.create_change_set(
        StackName=STACK,
        ChangeSetName="recreate",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(first),
        Capabilities=["CAPABILITY_NAMED_IAM"],
        ImportExistingResources=True,
    )
    while cfn.describe_change_set(ChangeSetName=change_set["Id"])["Status"] in (
        "CREATE_PENDING",
        "CREATE_IN_PROGRESS",
    ):
        time.sleep(0.5)
    described = cfn.describe_change_set(ChangeSetName=change_set["Id"])
    actions = {
        c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"]
        for c in described.get("Changes", [])
        if c["ResourceChange"]["ResourceType"] == "AWS::Logs::LogGroup"
    }
    report.recreate_actions = actions
    if described["Status"] == "CREATE_COMPLETE":
        cfn.execute_change_set(ChangeSetName=change_set["Id"])
        status = _wait_stack(cfn, STACK)
        if status != "CREATE_COMPLETE":
            failed = [f for f in _failures(cfn, STACK) if "LogGroup" in f or "Logs" in f]
            status = f"{status} ({'; '.join(failed[:2])})"
    else:
        status = f"change set {described['Status']}: {described.get('StatusReason')}"
    report.recreated_with_import = status
    report.seconds["recreate"] = time.monotonic() - step
    report.say(f"re-create with ImportExistingResources: {status}; log group actions: {actions}")
    if not status.startswith("DELETE_COMPLETE"):
        cfn.delete_stack(StackName=STACK)
        _wait_stack(cfn, STACK)
    report.seconds["total"] = time.monotonic() - started
    report.say(f"rehearsal: {report.seconds['total']:.1f} s")
    return report


def main() -> int:
    with localstack() as ls, tempfile.TemporaryDirectory(prefix="rehearsal-") as workdir:
        print(f"LocalStack {ls.endpoint} (pid {ls.pid})", flush=True)
        rehearse(ls, Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
