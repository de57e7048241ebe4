"""The checks. Each reads the account (never writes) and returns report rows.

Resources are found generically: the stack's template says what should exist (every log group, alarm, instance,
instance profile and email subscription of the stack, whatever their logical ids) and its resource list says
what CloudFormation created, by physical id. Expected values (retention, the instance profile, the topic) come
from the template and the stack's outputs (``InstanceId``, ``AlarmTopicArn``, ``ComposeLogging``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from constructs_obs.doctor import guide
from constructs_obs.doctor.report import CheckResult, Report, Status
from constructs_obs.doctor.stack import COMPLETE_STATES, ROLLED_BACK_STATES, StackInventory, load_stack

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricAlarmTypeDef
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import LogGroupTypeDef
    from mypy_boto3_sns import SNSClient

#: The seed: an alarm still without data this long after its last state change is no longer "normal".
INSUFFICIENT_DATA_GRACE = timedelta(minutes=15)

#: Default window in which every container log group must have received an event.
DEFAULT_RECENT_MINUTES = 60

EMAIL_PROTOCOLS = frozenset({"email", "email-json"})


@dataclass(frozen=True)
class DoctorOptions:
    """How the doctor runs.

    Attributes:
        recent_minutes: every container log group must have received an event this recently.
        deep: also check each container's Docker log driver on the host, through SSM Run Command.
        deep_timeout_seconds: how long to wait for the SSM command.
        poll_interval_seconds: how often to ask SSM whether the command has finished.
    """

    recent_minutes: int = DEFAULT_RECENT_MINUTES
    deep: bool = False
    deep_timeout_seconds: float = 120.0
    poll_interval_seconds: float = 2.0

    def __post_init__(self) -> None:
        """Reject windows and timeouts that are not positive."""
        if self.recent_minutes <= 0:
            raise ValueError(
                f"recent_minutes must be a positive number of minutes, got {self.recent_minutes}"
            )
        if self.deep_timeout_seconds <= 0:
            raise ValueError(f"deep_timeout_seconds must be positive, got {self.deep_timeout_seconds}")


@dataclass(frozen=True)
class ServiceLogging:
    """One service of the ``ComposeLogging`` override: where Docker ships its output."""

    service: str
    driver: str
    group: str
    region: str


def error_text(error: Exception) -> str:
    """An AWS error in one line: ``Code: message`` for service errors, the message otherwise."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', str(error))}"
    return str(error)


def could_not_check(check: str, resource: str, error: Exception) -> CheckResult:
    """The row for a check AWS refused or failed to answer."""
    return CheckResult(
        check,
        Status.FAIL,
        resource,
        f"could not check: {error_text(error)}",
        "Run obs-doctor with credentials that may read this resource (the runbook lists the permissions).",
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _gone_or_unchecked(
    check: str, resource: str, error: ClientError, not_found_code: str, detail: str, next_step: str
) -> CheckResult:
    """A failed row: the resource is gone (``not_found_code``: ``detail``, ``next_step``) or AWS refused to say."""
    if _code(error) == not_found_code:
        return CheckResult(check, Status.FAIL, resource, detail, next_step)
    return could_not_check(check, resource, error)


def _ago(then: datetime, now: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{round(minutes / 60)} h ago"
    return f"{round(minutes / (24 * 60))} days ago"


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --- the stack ---------------------------------------------------------------------------------------------------


def check_stack_status(inv: StackInventory) -> list[CheckResult]:
    """The stack exists (or the doctor would not run) and is in a complete state; its template is readable."""
    rows = [_stack_status_row(inv)]
    if not inv.template_read:
        rows.append(
            CheckResult(
                "stack-template",
                Status.WARN,
                inv.name,
                "the template is not JSON, so the settings it expects (retention, names of resources the stack "
                "does not list) are unknown and not checked",
                "Deploy the JSON template cdk synth writes.",
            )
        )
    return rows


def _stack_status_row(inv: StackInventory) -> CheckResult:
    events = f"aws cloudformation describe-stack-events --stack-name {inv.name} --region {inv.region}"
    reason = f": {inv.status_reason}" if inv.status_reason else ""
    if inv.status in COMPLETE_STATES:
        return CheckResult("stack", Status.PASS, inv.name, inv.status)
    if inv.status in ROLLED_BACK_STATES:
        return CheckResult(
            "stack",
            Status.WARN,
            inv.name,
            f"{inv.status}: the last deploy failed and was rolled back; the previous version is running",
            f"Find the failed resource: {events}, fix it and deploy again.",
        )
    if inv.status.endswith("_IN_PROGRESS"):
        return CheckResult(
            "stack",
            Status.FAIL,
            inv.name,
            f"{inv.status}: a deploy is still running{reason}",
            "Wait for it to finish (cdk deploy prints the progress), then run obs-doctor again.",
        )
    return CheckResult(
        "stack",
        Status.FAIL,
        inv.name,
        f"{inv.status}{reason}",
        f"The stack is not usable: find the failed resource with {events}, fix it and deploy again.",
    )


def parse_compose_logging(value: str) -> list[ServiceLogging]:
    """The services of a ``ComposeLogging`` override; ``ValueError`` when it is not one."""
    document = json.loads(value)
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ValueError("no 'services' mapping")
    result = []
    for service, definition in services.items():
        logging = definition.get("logging", {}) if isinstance(definition, dict) else {}
        options = logging.get("options", {}) if isinstance(logging, dict) else {}
        result.append(
            ServiceLogging(
                service=str(service),
                driver=str(logging.get("driver", "")),
                group=str(options.get("awslogs-group", "")),
                region=str(options.get("awslogs-region", "")),
            )
        )
    return result


def compose_logging(inv: StackInventory) -> list[ServiceLogging] | None:
    """The stack's ``ComposeLogging`` services, or ``None`` when it has no (readable) such output."""
    value = inv.outputs.get("ComposeLogging")
    if value is None:
        return None
    try:
        return parse_compose_logging(value)
    except (ValueError, AttributeError):
        return None


def log_group_names(inv: StackInventory) -> list[str]:
    """The names of the stack's log groups."""
    names = (r.name("LogGroupName") for r in inv.of_type("AWS::Logs::LogGroup"))
    return [n for n in names if n]


def check_logging_region(inv: StackInventory) -> list[CheckResult]:
    """The logging configuration (``ComposeLogging``) points at the stack's region and its log groups."""
    resource = "ComposeLogging output"
    value = inv.outputs.get("ComposeLogging")
    if value is None:
        return [
            CheckResult(
                "logging-region",
                Status.WARN,
                resource,
                "the stack has no ComposeLogging output, so the region and groups the containers log to are "
                "unknown",
                guide.region_matches(inv.region)
                + " (and awslogs-group names one of the stack's log groups).",
            )
        ]
    try:
        services = parse_compose_logging(value)
    except (ValueError, AttributeError) as error:
        return [
            CheckResult(
                "logging-region",
                Status.FAIL,
                resource,
                f"not a docker-compose logging override: {error}",
                "Output ContainerLogGroups.compose_override() rendered with Stack.to_json_string.",
            )
        ]
    groups = set(log_group_names(inv))
    rows = []
    for s in services:
        where = f"service {s.service}"
        if s.driver != "awslogs":
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"logging driver is {s.driver or 'not set'}, not awslogs",
                    guide.log_driver(s.service),
                )
            )
        if s.region != inv.region:
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"awslogs-region is {s.region or 'not set'}, but the stack and its log groups are in "
                    f"{inv.region}",
                    guide.region_matches(inv.region)
                    + " (deploy the stack to the region it was synthesized for, or synthesize it for this one).",
                )
            )
        if s.group not in groups:
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"awslogs-group {s.group or '(not set)'} is not a log group of this stack",
                    f"Point it at one of: {', '.join(sorted(groups)) or 'none (the stack has no log group)'}.",
                )
            )
    if not rows:
        names = ", ".join(s.service for s in services)
        rows.append(
            CheckResult(
                "logging-region",
                Status.PASS,
                "ComposeLogging",
                f"{len(services)} services log to the stack's groups in {inv.region}: {names}",
            )
        )
    return rows


# --- the instance --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceFacts:
    """What the instance checks learned, for the checks after them."""

    ids: tuple[str, ...]
    running: tuple[str, ...]


def _profile_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def check_instances(ec2: EC2Client, inv: StackInventory) -> tuple[list[CheckResult], InstanceFacts]:
    """Every instance of the stack is running and has the stack's instance profile attached."""
    resources = inv.of_type("AWS::EC2::Instance")
    if not resources:
        return [
            CheckResult(
                "instance",
                Status.FAIL,
                inv.name,
                "the stack has no EC2 instance",
                "Deploy a stack built with ObservedEc2Host.",
            )
        ], InstanceFacts((), ())
    stack_profiles = [r.physical_id for r in inv.of_type("AWS::IAM::InstanceProfile") if r.physical_id]
    rows: list[CheckResult] = []
    ids: list[str] = []
    running: list[str] = []
    for resource in resources:
        instance_id = resource.physical_id
        if not instance_id:
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    resource.logical_id,
                    "not in the stack's resources: CloudFormation has not created it",
                    "Check the stack's events for why, fix it and deploy again.",
                )
            )
            continue
        ids.append(instance_id)
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as error:
            rows.append(
                _gone_or_unchecked(
                    "instance",
                    instance_id,
                    error,
                    "InvalidInstanceID.NotFound",
                    "does not exist",
                    guide.drift(f"Instance {instance_id}", inv.name, inv.region),
                )
            )
            continue
        found = [i for r in reservations for i in r.get("Instances", [])]
        if not found:
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    instance_id,
                    "does not exist",
                    guide.drift(f"Instance {instance_id}", inv.name, inv.region),
                )
            )
            continue
        instance = found[0]
        state = instance.get("State", {}).get("Name", "unknown")
        kind = instance.get("InstanceType", "")
        if state == "running":
            running.append(instance_id)
            rows.append(CheckResult("instance", Status.PASS, instance_id, f"running ({kind})"))
        else:
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    instance_id,
                    f"{state}, not running: no container runs and no logs or metrics arrive",
                    (
                        f"Start it: aws ec2 start-instances --instance-ids {instance_id} --region {inv.region}"
                        if state in ("stopped", "stopping")
                        else guide.drift(f"Instance {instance_id}", inv.name, inv.region)
                    ),
                )
            )

        expected = inv.ref(resource.properties.get("IamInstanceProfile"))
        if expected is None and len(stack_profiles) == 1:
            expected = stack_profiles[0]
        attached_arn = instance.get("IamInstanceProfile", {}).get("Arn")
        attached = _profile_name(attached_arn) if attached_arn else None
        attach = (
            f"aws ec2 associate-iam-instance-profile --instance-id {instance_id} "
            f"--iam-instance-profile Name={expected} --region {inv.region}"
            if expected
            else ""
        )
        if attached is None:
            rows.append(
                CheckResult(
                    "instance-profile",
                    Status.FAIL,
                    instance_id,
                    "no IAM instance profile attached: Docker cannot write to CloudWatch Logs",
                    guide.iam_role_attached()
                    + (f". Attach the stack's profile: {attach}" if attach else "."),
                )
            )
        elif expected and attached != expected:
            rows.append(
                CheckResult(
                    "instance-profile",
                    Status.FAIL,
                    instance_id,
                    f"instance profile {attached} attached, but the stack's is {expected}",
                    guide.iam_role_attached()
                    + f". Replace it with {expected} (Actions → Security → Modify IAM role).",
                )
            )
        else:
            rows.append(CheckResult("instance-profile", Status.PASS, instance_id, f"{attached} attached"))
    return rows, InstanceFacts(tuple(ids), tuple(running))


# --- the log groups ------------------------------------------------------------------------------------------------


def _describe_log_group(logs: CloudWatchLogsClient, name: str) -> LogGroupTypeDef | None:
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        for group in page.get("logGroups", []):
            if group.get("logGroupName") == name:
                return group
    return None


def _retention_text(days: int | None) -> str:
    return "never expire" if days is None else f"{days} days"


def _expected_retention(properties: Mapping[str, Any]) -> tuple[bool, int | None]:
    """(known, days): days is None for "never expire"; known is False when the template computes it."""
    value = properties.get("RetentionInDays")
    if value is None:
        return True, None
    try:
        return True, int(value)
    except (TypeError, ValueError):
        return False, None


def _has_recent_event(logs: CloudWatchLogsClient, name: str, since: datetime, now: datetime) -> bool:
    start = int(since.timestamp() * 1000)
    end = int(now.timestamp() * 1000)
    token: str | None = None
    for _ in range(10):  # a group with many streams may answer with empty pages first
        kwargs: dict[str, Any] = {"logGroupName": name, "startTime": start, "endTime": end, "limit": 1}
        if token:
            kwargs["nextToken"] = token
        page = logs.filter_log_events(**kwargs)
        if page.get("events"):
            return True
        token = page.get("nextToken")
        if not token:
            return False
    return False


def _latest_event(logs: CloudWatchLogsClient, name: str) -> tuple[bool, datetime | None]:
    """(has_streams, time of the latest event, if CloudWatch reports it)."""
    streams = logs.describe_log_streams(
        logGroupName=name, orderBy="LastEventTime", descending=True, limit=1
    ).get("logStreams", [])
    if not streams:
        return False, None
    last = streams[0].get("lastEventTimestamp")
    return True, (datetime.fromtimestamp(last / 1000, tz=timezone.utc) if last else None)


def check_log_groups(
    logs: CloudWatchLogsClient,
    inv: StackInventory,
    *,
    now: datetime,
    recent_minutes: int,
) -> list[CheckResult]:
    """Every log group of the stack exists, keeps events as long as the template says, and receives events."""
    compose = compose_logging(inv)
    services = {s.group: s.service for s in compose or []}
    rows: list[CheckResult] = []
    resources = inv.of_type("AWS::Logs::LogGroup")
    if not resources:
        rows.append(
            CheckResult(
                "log-group",
                Status.FAIL,
                inv.name,
                "the stack has no log group",
                "Deploy a stack built with ContainerLogGroups.",
            )
        )
    for resource in resources:
        name = resource.name("LogGroupName")
        if not name:
            rows.append(
                CheckResult(
                    "log-group",
                    Status.FAIL,
                    resource.logical_id,
                    "not in the stack's resources: CloudFormation has not created it",
                    "Check the stack's events for why, fix it and deploy again.",
                )
            )
            continue
        try:
            group = _describe_log_group(logs, name)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("log-group", name, error))
            continue
        if group is None:
            rows.append(
                CheckResult(
                    "log-group",
                    Status.FAIL,
                    name,
                    "does not exist: Docker's awslogs driver cannot ship to it (awslogs-create-group is false)",
                    guide.drift(f"Log group {name}", inv.name, inv.region),
                )
            )
            continue
        # Container groups must receive events all the time; another group of the stack (say, Docker's own
        # events) may rightly be quiet. Without a ComposeLogging output every group counts as a container's.
        container_group = compose is None or name in services
        known, expected = _expected_retention(resource.properties)
        known = known and inv.template_read
        actual = group.get("retentionInDays")
        if known and actual != expected:
            fix = (
                f"aws logs put-retention-policy --log-group-name {name} --retention-in-days {expected}"
                if expected is not None
                else f"aws logs delete-retention-policy --log-group-name {name}"
            )
            rows.append(
                CheckResult(
                    "log-group",
                    Status.FAIL,
                    name,
                    f"events expire after {_retention_text(actual)}, the stack sets {_retention_text(expected)}",
                    f"Restore the stack's retention: {fix} --region {inv.region}",
                )
            )
        else:
            quiet_ok = (
                "" if container_group else "; no container ships to it, so recent events are not required"
            )
            rows.append(
                CheckResult(
                    "log-group",
                    Status.PASS,
                    name,
                    f"exists, events expire after {_retention_text(actual)}{quiet_ok}",
                )
            )
        if not container_group:
            continue

        since = now - timedelta(minutes=recent_minutes)
        try:
            recent = _has_recent_event(logs, name, since, now)
            has_streams, latest = (True, None) if recent else _latest_event(logs, name)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("log-events", name, error))
            continue
        if recent:
            rows.append(
                CheckResult("log-events", Status.PASS, name, f"events in the last {recent_minutes} min")
            )
            continue
        if not has_streams:
            found = "nothing has ever arrived (no log stream)"
        elif latest is None:
            found = f"no events in the last {recent_minutes} min"
        else:
            found = f"no events in the last {recent_minutes} min; the latest arrived {_when(latest)} " + (
                f"({_ago(latest, now)})"
            )
        rows.append(
            CheckResult(
                "log-events",
                Status.FAIL,
                name,
                f"CloudWatch Logs not appearing: {found}",
                guide.logs_not_appearing(inv.region, services.get(name)),
            )
        )
    return rows


# --- the alarms ----------------------------------------------------------------------------------------------------


def alarm_topics(inv: StackInventory) -> list[str]:
    """The topic ARNs alarms must notify: the ``AlarmTopicArn`` output, else every topic of the stack."""
    output = inv.outputs.get("AlarmTopicArn")
    if output:
        return [output]
    return [r.physical_id for r in inv.of_type("AWS::SNS::Topic") if r.physical_id]


def _topic_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def alarm_instance_ids(alarm: MetricAlarmTypeDef) -> list[str]:
    """The values of every ``InstanceId`` dimension of the alarm's metric (or metric-math metrics)."""
    dimensions = list(alarm.get("Dimensions", []))
    for query in alarm.get("Metrics", []):
        dimensions += query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
    return [d.get("Value", "") for d in dimensions if d.get("Name") == "InstanceId"]


def _describe_alarms(cw: CloudWatchClient, names: Sequence[str]) -> dict[str, MetricAlarmTypeDef]:
    found: dict[str, MetricAlarmTypeDef] = {}
    paginator = cw.get_paginator("describe_alarms")
    for start in range(0, len(names), 100):
        for page in paginator.paginate(
            AlarmNames=list(names[start : start + 100]), AlarmTypes=["MetricAlarm"]
        ):
            for alarm in page.get("MetricAlarms", []):
                found[alarm.get("AlarmName", "")] = alarm
    return found


def _check_alarm_actions(
    inv: StackInventory, name: str, alarm: MetricAlarmTypeDef, topics: Sequence[str]
) -> CheckResult:
    if not topics:
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            "the stack has no alarm topic (no AlarmTopicArn output, no SNS topic), so nobody is notified",
            "Build the stack with BasicAlarms, which creates the topic and outputs AlarmTopicArn.",
        )
    topic = _topic_name(topics[0])
    redeploy = guide.drift(f"Alarm {name}", inv.name, inv.region)
    if not alarm.get("ActionsEnabled", True):
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            "actions are disabled: state changes notify nobody",
            f"Enable them: aws cloudwatch enable-alarm-actions --alarm-names {name} --region {inv.region}",
        )
    missing = [
        state
        for state, actions in (("ALARM", alarm.get("AlarmActions", [])), ("OK", alarm.get("OKActions", [])))
        if not set(actions) & set(topics)
    ]
    if missing:
        return CheckResult(
            "alarm",
            Status.FAIL,
            name,
            f"does not notify topic {topic} on {' and '.join(missing)}",
            redeploy,
        )
    return CheckResult("alarm", Status.PASS, name, f"exists, notifies {topic} on ALARM and OK")


def _check_alarm_instance(
    inv: StackInventory, name: str, watched: list[str], instances: Sequence[str]
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
        + guide.drift(f"Alarm {name}", inv.name, inv.region),
    )


def _check_alarm_state(
    name: str, alarm: MetricAlarmTypeDef, watches_instance: bool, now: datetime
) -> CheckResult:
    state = alarm.get("StateValue", "")
    updated = alarm.get("StateUpdatedTimestamp")
    since = f" since {_when(updated)}" if updated else ""
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
    age = now - updated if updated else INSUFFICIENT_DATA_GRACE * 2
    minutes = max(int(age.total_seconds() // 60), 0)
    if age <= INSUFFICIENT_DATA_GRACE:
        return CheckResult(
            "alarm-state", Status.PASS, name, f"{state} for {minutes} min: {guide.INSUFFICIENT_DATA}"
        )
    if watches_instance:
        return CheckResult(
            "alarm-state",
            Status.FAIL,
            name,
            f"{state} for {minutes} min{since}, longer than 15 min",
            guide.INSUFFICIENT_DATA
            + " Also check the instance is running and, for agent metrics, that the CloudWatch agent runs.",
        )
    metric = "/".join(filter(None, (alarm.get("Namespace"), alarm.get("MetricName")))) or "its metric"
    return CheckResult(
        "alarm-state",
        Status.WARN,
        name,
        f"{state} for {minutes} min{since}: {metric} has no datapoints",
        f"Check what publishes {metric} (the metric filter's log group receives events, the agent runs); an "
        "alarm on rare events should treat missing data as notBreaching.",
    )


def check_alarms(
    cw: CloudWatchClient,
    inv: StackInventory,
    *,
    instances: Sequence[str],
    now: datetime,
) -> list[CheckResult]:
    """Every alarm of the stack exists, notifies the topic on ALARM and OK, watches the stack's instance (when it
    has an ``InstanceId`` dimension) and is not stuck in INSUFFICIENT_DATA."""
    topics = alarm_topics(inv)
    rows: list[CheckResult] = []
    named: list[tuple[str, str | None]] = [
        (r.logical_id, r.name("AlarmName")) for r in inv.of_type("AWS::CloudWatch::Alarm")
    ]
    names = [n for _, n in named if n]
    try:
        found = _describe_alarms(cw, names)
    except (ClientError, BotoCoreError) as error:
        return [could_not_check("alarm", n, error) for n in names]
    for logical_id, name in named:
        if not name:
            rows.append(
                CheckResult(
                    "alarm",
                    Status.FAIL,
                    logical_id,
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
        rows.append(_check_alarm_actions(inv, name, alarm, topics))
        watched = alarm_instance_ids(alarm)
        if watched:
            rows.append(_check_alarm_instance(inv, name, watched, instances))
        rows.append(_check_alarm_state(name, alarm, bool(watched), now))
    return rows


# --- the topic -----------------------------------------------------------------------------------------------------


def _declared_emails(inv: StackInventory, topic_arn: str) -> list[str]:
    emails = []
    for resource in inv.of_type("AWS::SNS::Subscription"):
        props = resource.properties
        if props.get("Protocol") in EMAIL_PROTOCOLS and inv.ref(props.get("TopicArn")) == topic_arn:
            endpoint = props.get("Endpoint")
            if isinstance(endpoint, str):
                emails.append(endpoint)
    return emails


def check_subscriptions(sns: SNSClient, inv: StackInventory) -> list[CheckResult]:
    """The alarm topic has at least one confirmed email subscription; pending and lost ones are flagged."""
    rows: list[CheckResult] = []
    topics = alarm_topics(inv)
    if not topics:
        return [
            CheckResult(
                "subscriptions",
                Status.FAIL,
                inv.name,
                "the stack has no alarm topic (no AlarmTopicArn output, no SNS topic)",
                "Build the stack with BasicAlarms, which creates the topic and outputs AlarmTopicArn.",
            )
        ]
    for arn in topics:
        topic = _topic_name(arn)
        subscribe = (
            f"aws sns subscribe --topic-arn {arn} --protocol email --notification-endpoint you@example.com "
            f"--region {inv.region}"
        )
        try:
            subscriptions = [
                s
                for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
                for s in page.get("Subscriptions", [])
            ]
        except ClientError as error:
            rows.append(
                _gone_or_unchecked(
                    "subscriptions",
                    topic,
                    error,
                    "NotFound",
                    "the topic does not exist: alarms notify nobody",
                    guide.drift(f"Topic {topic}", inv.name, inv.region),
                )
            )
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
                    "Subscribe an address and confirm it: cdk deploy -c alarm_emails=you@example.com (or "
                    f"{subscribe}), then click the link in the confirmation email.",
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
        for endpoint in _declared_emails(inv, arn):
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


# --- all of them ---------------------------------------------------------------------------------------------------


def _section(check: str, resource: str, run: Callable[[], Iterable[CheckResult]]) -> list[CheckResult]:
    try:
        return list(run())
    except (ClientError, BotoCoreError) as error:
        return [could_not_check(check, resource, error)]


def run_doctor(
    session: boto3.Session,
    stack_name: str,
    *,
    options: DoctorOptions | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Check the deployed stack ``stack_name`` in the session's region and return the report.

    Raises:
        StackNotFoundError: no such stack in the region.
        botocore.exceptions.NoRegionError: the session has no region.
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: the stack could not be read
            (no credentials, access denied, no network): the doctor cannot run.
    """
    options = options or DoctorOptions()
    now = now or datetime.now(timezone.utc)
    region = session.region_name
    if not region:
        raise NoRegionError()
    inv = load_stack(session.client("cloudformation", region_name=region), stack_name, region)

    ec2 = session.client("ec2", region_name=region)
    logs = session.client("logs", region_name=region)
    cw = session.client("cloudwatch", region_name=region)
    sns = session.client("sns", region_name=region)

    rows = check_stack_status(inv) + check_logging_region(inv)
    try:
        instance_rows, facts = check_instances(ec2, inv)
    except (ClientError, BotoCoreError) as error:
        instance_rows, facts = [could_not_check("instance", inv.name, error)], InstanceFacts((), ())
    rows += instance_rows
    rows += _section(
        "log-group",
        inv.name,
        lambda: check_log_groups(logs, inv, now=now, recent_minutes=options.recent_minutes),
    )
    rows += _section("alarm", inv.name, lambda: check_alarms(cw, inv, instances=facts.ids, now=now))
    rows += _section("subscriptions", inv.name, lambda: check_subscriptions(sns, inv))
    if options.deep:
        from constructs_obs.doctor.deep import check_docker_logging

        ssm = session.client("ssm", region_name=region)
        rows += _section(
            "docker-logging",
            inv.name,
            lambda: check_docker_logging(
                ssm,
                inv,
                instances=facts,
                timeout_seconds=options.deep_timeout_seconds,
                poll_interval_seconds=options.poll_interval_seconds,
                sleep=sleep,
            ),
        )
    return Report(
        stack_name=inv.name,
        region=region,
        checked_at=now,
        results=tuple(rows),
        stack_id=inv.stack_id or None,
    )
