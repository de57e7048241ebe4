"""What the checks share: the options, the facts discovered about a stack, and how an AWS error becomes a row.

This module imports no check and no AWS client: every check family imports it, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import DISK_USED_PERCENT, MEMORY_USED_PERCENT
from constructs_obs.doctor import guide
from constructs_obs.doctor.report import CheckResult, Status

if TYPE_CHECKING:
    from constructs_obs.doctor.stack import StackInventory

#: Default window in which every container log group must have received an event.
DEFAULT_RECENT_MINUTES = 60

#: The CloudWatch agent's metrics (dimension ``InstanceId``), as :mod:`constructs_obs.host.agent` configures it.
AGENT_METRICS: tuple[str, ...] = (MEMORY_USED_PERCENT, DISK_USED_PERCENT)

#: The CloudWatch agent's own log file on the host (amazon-cloudwatch-agent package): scrape and publish errors.
AGENT_LOG = "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log"


#: The service principal that publishes alarm notifications.
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class DoctorOptions:
    """How the doctor runs.

    Attributes:
        recent_minutes: every container log group must have received an event this recently.
        deep: also check, on each host through SSM Run Command, each container's Docker log driver and that
            systemd runs the docker-events service.
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
class PrometheusJob:
    """One Prometheus endpoint a host's CloudWatch agent scrapes, as the host metadata's ``Prometheus.Jobs`` says.

    The agent writes one EMF event per label set and scrape to the host's Prometheus log group, in a stream named
    after the job; CloudWatch extracts each metric into the host's namespace with exactly :attr:`dimensions`.

    Attributes:
        job_name: the scrape job (the ``job`` label, and the log stream's name).
        url: the endpoint the agent fetches, e.g. ``http://127.0.0.1:9000/metrics``.
        interval_seconds: how often the agent scrapes it.
        metrics: the metric names kept, as exposed (a counter's ``_total`` name).
        dimensions: the labels kept as CloudWatch dimensions (empty: one metric per name, no dimension).
    """

    job_name: str
    url: str
    interval_seconds: int
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    """A host the constructs observe, as its setup association's metadata describes it.

    Attributes:
        path: the host construct's path, e.g. ``ShopProd/Host`` (how the report names the host).
        instance_id: the EC2 instance, or None when the template's value cannot be resolved.
        metrics_namespace: the namespace of the agent's metrics.
        role_name: the instance role's name (the one the constructs grant the writes to).
        container_groups: container name -> its log group.
        docker_events_group: the log group of the docker-events service.
        prometheus_group: the log group the agent writes scraped Prometheus metrics to, if it scrapes any.
        prometheus_jobs: the endpoints it scrapes (none without a ``Prometheus`` block).
        association_id: the setup association's id (its physical id), if the stack lists it.
        created_by_stack: whether the stack creates the instance (False for ``HostObservability`` on an instance made elsewhere).
        setup_timeout_seconds: how long the setup may take, as the template says: the association's
            ``WaitForSuccessTimeoutSeconds`` (how long CloudFormation waits for it), else its script's
            ``executionTimeout``; None when the template says neither.
        auto_scaling_group: for an instance of a fleet (``FleetObservability``), its Auto Scaling group's name:
            the fleet's instances are listed from the group (:mod:`constructs_obs.doctor.fleets`), each a host of
            the fleet's path; a fleet whose group has no instance (or could not be read) is one host without
            ``instance_id``.
    """

    path: str
    instance_id: str | None
    metrics_namespace: str | None
    role_name: str | None
    container_groups: Mapping[str, str] = field(default_factory=dict)
    docker_events_group: str | None = None
    prometheus_group: str | None = None
    prometheus_jobs: tuple[PrometheusJob, ...] = ()
    association_id: str | None = None
    created_by_stack: bool = True
    setup_timeout_seconds: int | None = None
    auto_scaling_group: str | None = None

    @property
    def log_groups(self) -> list[str]:
        """Every group the host writes to: its containers', docker-events' and the agent's Prometheus group."""
        groups = list(self.container_groups.values())
        return groups + [g for g in (self.docker_events_group, self.prometheus_group) if g]


@dataclass(frozen=True)
class AlarmSpec:
    """An alarm as the template declares it (values resolved against the stack).

    Attributes:
        logical_id: its id in the template.
        name: its name, or None when unresolved.
        namespace: the metric's namespace.
        metric_name: the metric's name.
        instance_ids: the values of its ``InstanceId`` dimensions.
        auto_scaling_groups: the values of its ``AutoScalingGroupName`` dimensions (a fleet's alarms).
        alarm_actions: the actions on ALARM (ARNs), as the template says.
        ok_actions: the actions on OK.
    """

    logical_id: str
    name: str | None
    namespace: str | None = None
    metric_name: str | None = None
    instance_ids: tuple[str, ...] = ()
    auto_scaling_groups: tuple[str, ...] = ()
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilterSpec:
    """A metric filter as the template declares it.

    Attributes:
        logical_id: its id in the template.
        log_group: the group it reads (a group of the stack or any other), or None when unresolved.
        pattern: its filter pattern as the template says.
        metric_namespace: the namespace it publishes to.
        metric_name: the metric it publishes.
    """

    logical_id: str
    log_group: str | None
    pattern: str
    metric_namespace: str | None
    metric_name: str | None


@dataclass(frozen=True)
class StackFacts:
    """Everything discovered about one deployed stack.

    Attributes:
        inv: the stack's status, template and resources.
        account: the stack's account (from its ARN).
        partition: ``aws``, ``aws-cn``, ...
        hosts: the observed hosts, in template order.
        alarms: the stack's alarms.
        filters: the stack's metric filters.
        instance_ids: every instance the stack creates or observes.
    """

    inv: StackInventory
    account: str
    partition: str
    hosts: tuple[Host, ...]
    alarms: tuple[AlarmSpec, ...]
    filters: tuple[FilterSpec, ...]
    instance_ids: tuple[str, ...]

    @property
    def region(self) -> str:
        """The stack's region."""
        return self.inv.region

    def alarm_topics(self) -> list[str]:
        """The SNS topics the stack's alarms notify, as the template says (imported topics included); else the
        ``AlarmTopicArn`` output, else the stack's topics."""
        topics: list[str] = []
        for alarm in self.alarms:
            for action in (*alarm.alarm_actions, *alarm.ok_actions):
                if is_topic_arn(action) and action not in topics:
                    topics.append(action)
        if topics:
            return topics
        output = self.inv.outputs.get("AlarmTopicArn")
        if output:
            return [output]
        return [r.physical_id for r in self.inv.of_type("AWS::SNS::Topic") if r.physical_id]

    def alarms_on(self, namespace: str | None, metric_name: str | None) -> list[AlarmSpec]:
        """The alarms that watch ``namespace``/``metric_name``."""
        return [a for a in self.alarms if (a.namespace, a.metric_name) == (namespace, metric_name)]


@dataclass(frozen=True)
class InstanceState:
    """What DescribeInstances said about an instance.

    Attributes:
        instance_id: the instance.
        state: ``running``, ``stopped``, ... or ``missing``.
        launch_time: when it last started (EC2's ``LaunchTime``: set again at each start).
        profile_arn: the attached instance profile's ARN, if any.
    """

    instance_id: str
    state: str
    launch_time: datetime | None = None
    profile_arn: str | None = None

    @property
    def running(self) -> bool:
        """Whether it is running."""
        return self.state == "running"


@dataclass(frozen=True)
class SetupRun:
    """What Systems Manager said about a host's setup association on its instance.

    Attributes:
        instance_id: the instance.
        status: ``Success``, ``Failed``, ``Pending``, ``InProgress``, ... or ``""`` when it has not run there.
        at: when it last ran (``ExecutionDate``), if known.
        expected_by: for a setup that has not finished: when it should have (the end of its window).
    """

    instance_id: str
    status: str
    at: datetime | None = None
    expected_by: datetime | None = None


def is_topic_arn(arn: str) -> bool:
    """Whether ``arn`` is an SNS topic's ARN."""
    parts = arn.split(":")
    return len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns"


def topic_name(arn: str) -> str:
    """The topic's name (the last part of its ARN)."""
    return arn.rsplit(":", 1)[-1]


#: The longest AWS error message a row quotes; the rest is cut.
MAX_ERROR_TEXT = 300
_MARKUP = re.compile(r"<\s*(?:!doctype|html|head|body|\?xml)\b", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def one_line(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _message(message: str, status: object) -> str:
    """An error message in one line. botocore makes the whole response body the message when it is not the
    service's format (``BaseJSONParser._parse_body_as_json``): a proxy's or firewall's HTML page becomes its
    title and what it means, never the page."""
    if _MARKUP.search(message):
        title = _TITLE.search(message)
        named = f" titled '{one_line(title.group(1), 80)}'" if title and title.group(1).strip() else ""
        http = f"HTTP {status} with " if status else ""
        return (
            f"the endpoint answered {http}an HTML page{named}, not an AWS response (a proxy, firewall or "
            "captive portal between here and AWS?)"
        )
    return one_line(message)


def error_text(error: BaseException) -> str:
    """An AWS error in one line: ``Code: message`` for service errors (an HTML page in place of AWS's answer is
    named, never quoted), the message for botocore's own errors, ``Type: message`` for anything else (an answer
    the doctor did not expect). Never longer than about :data:`MAX_ERROR_TEXT` characters."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = one_line(str(details.get("Code") or (f"HTTP {status}" if status else "Error")), 80)
        message = _message(str(details.get("Message") or ""), status)
        return f"{code}: {message}" if message else code
    text = one_line(str(error))
    if isinstance(error, BotoCoreError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def error_code(error: BaseException) -> str:
    """The AWS error code of a service error, else ``""``."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


#: Error codes that mean the doctor's own credentials may not make the call.
DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden"}
)
#: Error codes that mean AWS did not answer this time.
TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable",
     "ServiceUnavailableException", "InternalFailure", "InternalError", "InternalServiceError"}
)  # fmt: skip


def could_not_check(check: str, resource: str, error: BaseException) -> CheckResult:
    """The ``UNKNOWN`` row for a check AWS refused or failed to answer (or that failed on an unexpected answer):
    the doctor's own access or an AWS error, not a finding about the stack."""
    code = error_code(error)
    if code in DENIED_CODES or "AccessDenied" in code:
        step = (
            "Give the credentials obs-doctor runs with this read permission (the runbook's policy lists every "
            "call), then run it again."
        )
    elif code in TRANSIENT_CODES or code.startswith("5") or isinstance(error, BotoCoreError):
        step = "AWS did not answer this time: run obs-doctor again; if it persists, check the network path to AWS."
    else:
        step = (
            "Run obs-doctor with credentials that may read this resource (the runbook lists the permissions)."
        )
    return CheckResult(check, Status.UNKNOWN, resource, f"could not check: {error_text(error)}", step)


def missing_or_could_not_check(
    check: str,
    resource: str,
    error: BaseException,
    *,
    missing_code: str,
    detail: str,
    what: str,
    stack: str,
    region: str,
) -> CheckResult:
    """A failed row saying ``detail`` when AWS answered ``missing_code`` (the resource ``what`` is gone: the
    drift guide's next step), else :func:`could_not_check`."""
    if error_code(error) != missing_code:
        return could_not_check(check, resource, error)
    return CheckResult(check, Status.FAIL, resource, detail, guide.drift(what, stack, region))


def when(moment: datetime) -> str:
    """``2026-11-27 10:00 UTC``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def clock_time(moment: datetime) -> str:
    """``10:05 UTC``: the time of day of a moment in the next hours (an "expected by")."""
    return moment.astimezone(timezone.utc).strftime("%H:%M UTC")


def ago(then: datetime, now: datetime) -> str:
    """``12 min ago``, ``3 h ago`` or ``5 days ago``."""
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{round(minutes / 60)} h ago"
    return f"{round(minutes / (24 * 60))} days ago"


def plural(count: int, word: str) -> str:
    """``1 alarm``, ``2 alarms``."""
    return f"{count} {word}{'' if count == 1 else 's'}"
