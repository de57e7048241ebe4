"""CloudWatch alarms on an EC2 Docker host, notifying an SNS topic by email."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aws_cdk import Annotations, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_obs.alarms.notifier import (  # re-exported: where they were
    CLOUDWATCH_PRINCIPAL as CLOUDWATCH_PRINCIPAL,
)
from constructs_obs.alarms.notifier import AlarmGraph as AlarmGraph
from constructs_obs.alarms.notifier import AlarmNotifier, alarm_arn_pattern, allow_cloudwatch_to_publish
from constructs_obs.alarms.recovery import EVENTS_PRINCIPAL, recovery_rule
from constructs_obs.alarms.specs import (  # re-exported: where they were
    BUILT_IN_ALARMS as BUILT_IN_ALARMS,
)
from constructs_obs.alarms.specs import (
    CONTAINER_CRASH as CONTAINER_CRASH,
)
from constructs_obs.alarms.specs import (
    CPU_HIGH as CPU_HIGH,
)
from constructs_obs.alarms.specs import (
    DISK_HIGH as DISK_HIGH,
)
from constructs_obs.alarms.specs import (
    MEMORY_HIGH as MEMORY_HIGH,
)
from constructs_obs.alarms.specs import (
    STATUS_CHECK as STATUS_CHECK,
)
from constructs_obs.alarms.specs import AlarmSettings, AlarmSpec, alarm_specs_of
from constructs_obs.checks import _validation as check
from constructs_obs.checks.compliance import acknowledge, declare
from constructs_obs.host.interface import IObservedHost

#: EC2 basic monitoring publishes CPUUtilization every 5 minutes, free of charge.
BASIC_MONITORING_PERIOD = Duration.minutes(5)

#: Metrics with 1-minute data (status checks even on basic monitoring, the crash metric filter) are alarmed on
#: 1-minute periods: a standard-resolution alarm costs the same at 60 seconds as at 300 (CloudWatch pricing), and
#: the alert comes minutes sooner. EC2 publishes ``StatusCheckFailed`` every minute on basic monitoring ("Status
#: check metrics are available at a 1-minute frequency at no charge", Amazon EC2 User Guide, "Instance metrics").
FAST_PERIOD = Duration.minutes(1)
#: A status check must fail in 2 consecutive minutes: one failed minute can be a transient probe failure.
STATUS_CHECK_PERIODS = 2

#: CPU above 80% for 10 minutes: sustained load, not a spike.
DEFAULT_CPU_THRESHOLD_PERCENT = 80.0
DEFAULT_CPU_DURATION = Duration.minutes(10)

#: A t3.small has 2 GiB and no swap: at 85% used (page cache not counted) about 300 MiB is left before the
#: kernel's OOM killer starts; a few containers (app, web server, database) already use most of the memory.
DEFAULT_MEMORY_THRESHOLD_PERCENT = 85.0
DEFAULT_MEMORY_DURATION = Duration.minutes(10)
#: 80% of the 30 GiB root volume leaves about 6 GiB for image pulls and logs.
DEFAULT_DISK_THRESHOLD_PERCENT = 80.0
#: The longest alarm name suffix ``name_prefix`` must leave room for (alarm names are at most 255 characters).
LONGEST_ALARM_SUFFIX = "container-crash"

#: SNS topic display names are at most 100 characters.
MAX_TOPIC_DISPLAY_NAME_LENGTH = 100

#: What CloudWatch needs on a topic's KMS key to publish alarm notifications to it.
CLOUDWATCH_TOPIC_KEY_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:GenerateDataKey*")

TOPIC_ENCRYPTION = declare(
    "alarms.topic-encryption",
    owner="BasicAlarms",
    target="Topic",
    rules=("NIST.800.53.R5-SNSEncryptedKMS", "HIPAA.Security-SNSEncryptedKMS"),
    reason="""The topic carries alarm state changes (alarm name, metric, threshold), no application data.
    Encrypting it with the AWS-managed `alias/aws/sns` key silently breaks alarm delivery (its key policy cannot
    let CloudWatch use it), and a customer-managed key costs about $1/month, outside the free-tier budget.
    Publishing requires TLS (`enforce_ssl`).""",
    stricter="`BasicAlarms(topic_encryption_key=key)`: the topic is encrypted with your KMS key, and the key policy "
    "lets CloudWatch (`cloudwatch.amazonaws.com`) use it to publish.",
)


class BasicAlarms(Construct):
    """The host's alarms, every one notifying an SNS topic on ALARM, and their recovery after a real ALARM.

    The topic's policy lets CloudWatch publish these alarms (and only them) to it: see
    :func:`~constructs_obs.alarms.notifier.allow_cloudwatch_to_publish`. Each alarm can be left out (``leave_out``): a team with its own alarm
    for it, or one saving free-tier slots (10 alarm metrics per account); the dashboard follows.

    - ``{name_prefix}-cpu-high``: ``AWS/EC2 CPUUtilization`` average above ``cpu_threshold_percent`` for
      ``cpu_duration`` (default 80% for 10 minutes: two 5-minute basic-monitoring periods). Missing data is
      *not breaching*: a stopped host sends no CPU data, and that is not a load problem.
    - ``{name_prefix}-status-check``: ``AWS/EC2 StatusCheckFailed`` maximum of 1 or more in 2 consecutive
      1-minute periods (any failure of the instance or system check, reported within about 3 minutes). Missing
      data is *missing*: EC2 publishes status checks every minute while the instance runs, hung or not, so
      missing data means the instance is pending, stopping or stopped. Treating it as breaching (as before) emailed
      ALARM for every new host before its first datapoint and on every stop/start; a stopped or terminated host
      now shows INSUFFICIENT_DATA on the dashboard and the site going down is the external uptime check's job.
    - ``{name_prefix}-memory-high``: the CloudWatch agent's ``mem_used_percent`` average above
      ``memory_threshold_percent`` for ``memory_duration`` (default 85% for 10 minutes). Missing data is
      *missing*: the alarm goes to INSUFFICIENT_DATA when the agent stops reporting (a stopped host is the
      status-check alarm's job), which the dashboard shows, instead of pretending memory is fine.
    - ``{name_prefix}-disk-high``: the agent's root-filesystem ``disk_used_percent`` maximum above
      ``disk_threshold_percent`` in one period (default 80%). Missing data is *missing*, as for memory.
    - ``{name_prefix}-container-crash``: one or more container crashes (see :mod:`constructs_obs.host.docker_events`)
      in a 1-minute period: it fires on the first crash. Missing data is *not breaching*: the crash count has data only
      when something crashed.

    Add your own with :meth:`add_alarm`: same topic, same naming, and a graph on the dashboard.

    Attributes:
        topic: the SNS topic alarms notify (created with SSL enforced, or the caller's).
        recovery: the EventBridge rule that emails the topic when one of these alarms goes from ALARM to OK
            (:func:`~constructs_obs.alarms.recovery.recovery_rule`).
        host: the watched host.
        cpu_high: the CPU alarm (None when left out).
        status_check: the status-check alarm (None when left out).
        memory_high: the memory alarm (None when left out).
        disk_high: the root-disk alarm (None when left out).
        container_crash: the container-crash alarm (None when left out).
        alarms: every alarm of this construct and every alarm added through :meth:`add_alarm` (for instance
            :class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`'), in creation order.
        graphs: the same alarms with their dashboard graphs.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: IObservedHost,
        name_prefix: str,
        emails: Sequence[str] = (),
        topic: sns.ITopic | None = None,
        cpu_threshold_percent: float = DEFAULT_CPU_THRESHOLD_PERCENT,
        cpu_duration: Duration = DEFAULT_CPU_DURATION,
        period: Duration = BASIC_MONITORING_PERIOD,
        memory_threshold_percent: float = DEFAULT_MEMORY_THRESHOLD_PERCENT,
        memory_duration: Duration = DEFAULT_MEMORY_DURATION,
        disk_threshold_percent: float = DEFAULT_DISK_THRESHOLD_PERCENT,
        topic_encryption_key: kms.IKey | None = None,
        leave_out: Sequence[str] = (),
        runbook: Mapping[str, str] | None = None,
    ) -> None:
        """Create the topic (unless given), its email subscriptions and the alarms.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            host: the host to watch (:class:`~constructs_obs.host.interface.IObservedHost`): an
                :class:`~constructs_obs.host.instance.ObservedEc2Host` or a
                :class:`~constructs_obs.host.observability.HostObservability`. Every metric comes from its
                ``metric_*`` methods.
            name_prefix: alarm names are ``{name_prefix}-cpu-high``, ``{name_prefix}-status-check``, ...
            emails: one email subscription per address. Each recipient must confirm the subscription email.
                With none (and no ``topic``), synth warns that nobody will be notified.
            topic: an existing topic to notify instead of creating one; ``emails`` are subscribed to it.
            cpu_threshold_percent: CPU average that counts as high. Default 80.
            cpu_duration: how long CPU must stay high; a whole multiple of ``period``. Default 10 minutes.
            period: period of the CPU, memory and disk alarms. Default 5 minutes, EC2 basic monitoring (free);
                use 1 minute only with detailed monitoring, which is billed. A multiple of 60 seconds. The
                status-check and container-crash alarms always use 1-minute periods (their data is per minute).
            memory_threshold_percent: memory used (average) that counts as high. Default 85.
            memory_duration: how long memory must stay high; a whole multiple of ``period``. Default 10 minutes.
            disk_threshold_percent: root filesystem used that counts as high. Default 80.
            topic_encryption_key: a customer-managed KMS key to encrypt the created topic with. Default: none
                (the AWS-managed SNS key would break alarm delivery; a customer-managed key costs about
                $1/month). A key created in this app gets a key-policy statement that lets CloudWatch publish;
                for an imported key, add it yourself (synth warns). Not with ``topic``.
            leave_out: built-in alarms not to create, by name: ``"cpu-high"``, ``"status-check"``,
                ``"memory-high"``, ``"disk-high"``, ``"container-crash"``. Default: none left out.
            runbook: your team's advice for a built-in alarm, by name (the names of ``leave_out``), e.g.
                ``{"cpu-high": "Check the slow endpoints in our APM; page the on-call if it lasts."}``. Each
                notification's description says what happened, then this text instead of the library's
                generic advice. Default: the library's advice for every alarm.

        Raises:
            ValueError: a malformed or repeated email address, an alarm name prefix CloudWatch would reject,
                a threshold, period or duration outside what CloudWatch accepts, ``topic_encryption_key``
                together with ``topic``, an unknown name in ``leave_out`` or ``runbook``, or a runbook text that is
                empty or makes a description longer than CloudWatch's 1024 characters.
            TypeError: a prop of the wrong type (for example one string instead of a list of emails, or a host
                that is not an IObservedHost).
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        check.require_interface(
            "host",
            host,
            "metric_container_crashes",
            "an IObservedHost (ObservedEc2Host or HostObservability)",
        )
        check.alarm_name_prefix("name_prefix", name_prefix, longest_suffix=LONGEST_ALARM_SUFFIX)
        emails = check.email_addresses("emails", emails)
        if topic is not None:
            check.require_interface("topic", topic, "topic_arn", "an sns.ITopic")
        if topic_encryption_key is not None:
            check.require_interface("topic_encryption_key", topic_encryption_key, "key_arn", "a kms.IKey")
            if topic is not None:
                raise ValueError(
                    "topic_encryption_key encrypts the topic BasicAlarms creates, but topic= was given too: "
                    "encrypt your own topic instead, or drop topic="
                )
        specs = alarm_specs_of(host)
        left_out = _leave_out(leave_out, specs)
        advice = _runbook(runbook, specs)
        check.percent_threshold("cpu_threshold_percent", cpu_threshold_percent)
        period_seconds = check.alarm_period("period", period)
        cpu_periods = check.whole_periods("cpu_duration", cpu_duration, "period", period_seconds)
        if cpu_periods is not None:
            check.evaluation_range("cpu_duration", cpu_periods, period_seconds)
        check.percent_threshold("memory_threshold_percent", memory_threshold_percent)
        memory_periods = check.whole_periods("memory_duration", memory_duration, "period", period_seconds)
        if memory_periods is not None:
            check.evaluation_range("memory_duration", memory_periods, period_seconds)
        check.percent_threshold("disk_threshold_percent", disk_threshold_percent)
        built_in = self._settings(
            host=host,
            period=period,
            cpu=(cpu_threshold_percent, cpu_duration, cpu_periods),
            memory=(memory_threshold_percent, memory_duration, memory_periods),
            disk_threshold_percent=disk_threshold_percent,
        )
        settings = {
            spec.name: spec.own(host) if spec.own is not None else built_in[spec.settings_key]()
            for spec in specs
            if spec.name not in left_out
        }
        descriptions: dict[str, str] = {}
        for spec in specs:
            if spec.name not in settings:
                continue
            threshold = settings[spec.name].threshold
            evaluation_periods = settings[spec.name].evaluation_periods
            minutes = settings[spec.name].minutes
            happened = spec.description.format(
                threshold=threshold, minutes=minutes, periods=evaluation_periods, host=host.node.path
            )
            descriptions[spec.name] = f"{happened} {advice.get(spec.name, spec.advice)}"
            if spec.name in advice:
                check.alarm_description(f"runbook[{spec.name!r}]", descriptions[spec.name])
        super().__init__(scope, construct_id)
        self.name_prefix = name_prefix
        self.host = host
        self.period = period
        self.topic = self._topic(topic, topic_encryption_key, emails)
        self._notifier = AlarmNotifier(self.topic, name_prefix)
        self.recovery = recovery_rule(self, "Recovery", topic=self.topic, name_prefix=name_prefix)

        built: dict[str, cloudwatch.Alarm | None] = {}
        for spec in specs:
            if spec.name in left_out:
                built[spec.name] = None
                continue
            chosen = settings[spec.name]
            built[spec.name] = self.add_alarm(
                spec.construct_id,
                suffix=spec.name,
                metric=chosen.metric,
                threshold=chosen.threshold,
                comparison_operator=spec.comparison_operator,
                evaluation_periods=chosen.evaluation_periods,
                treat_missing_data=spec.treat_missing_data,
                description=descriptions[spec.name],
                graph_title=spec.title,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=spec.y_axis_max),
                graph_lines=chosen.graph_lines,
            )
        self.by_name = built
        self.cpu_high = built.get(CPU_HIGH)
        self.status_check = built.get(STATUS_CHECK)
        self.memory_high = built.get(MEMORY_HIGH)
        self.disk_high = built.get(DISK_HIGH)
        self.container_crash = built.get(CONTAINER_CRASH)

    @staticmethod
    def _settings(
        *,
        host: IObservedHost,
        period: Duration,
        cpu: tuple[float, Duration, int | None],
        memory: tuple[float, Duration, int | None],
        disk_threshold_percent: float,
    ) -> dict[str, Callable[[], AlarmSettings]]:
        """Built-in alarm name -> its settings from these props (its metric made on demand, from the host)."""

        def periods(duration: Duration, whole: int | None) -> int:
            return whole or int(duration.to_seconds() // period.to_seconds())

        return {
            CPU_HIGH: lambda: AlarmSettings(
                host.metric_cpu_utilization(period=period),
                cpu[0],
                periods(cpu[1], cpu[2]),
                cpu[1].to_minutes(),
            ),
            STATUS_CHECK: lambda: AlarmSettings(
                host.metric_status_check_failed(period=FAST_PERIOD),
                1,
                STATUS_CHECK_PERIODS,
                STATUS_CHECK_PERIODS,
            ),
            MEMORY_HIGH: lambda: AlarmSettings(
                host.metric_memory_used_percent(period=period),
                memory[0],
                periods(memory[1], memory[2]),
                memory[1].to_minutes(),
            ),
            DISK_HIGH: lambda: AlarmSettings(
                host.metric_disk_used_percent(period=period), disk_threshold_percent, 1, 0
            ),
            CONTAINER_CRASH: lambda: AlarmSettings(
                host.metric_container_crashes(period=FAST_PERIOD), 1, 1, 1
            ),
        }

    def _topic(self, topic: sns.ITopic | None, key: kms.IKey | None, emails: Sequence[str]) -> sns.ITopic:
        """The caller's topic or a new one, CloudWatch allowed to publish, ``emails`` subscribed."""
        given = topic is not None
        if topic is None:
            created = sns.Topic(
                self,
                "Topic",
                display_name=_display_name(self.name_prefix),
                enforce_ssl=True,
                master_key=key,
            )
            if key is None:
                acknowledge(created, TOPIC_ENCRYPTION)
            else:
                self._allow_cloudwatch_to_use(key)
            topic = created
        allow_cloudwatch_to_publish(self, topic, self.name_prefix, sid="CloudWatchAlarmsPublish")
        for email in emails:
            topic.add_subscription(subscriptions.EmailSubscription(email))
        if not emails and not given:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:no-alarm-emails",
                f"{self.name_prefix}: the alarm topic has no email subscription, so alarms notify nobody. "
                "Pass emails=['oncall@example.com'] (each address confirms its subscription once), or topic= an "
                "existing topic with its own subscribers.",
            )
        return topic

    @property
    def alarm_arn_pattern(self) -> str:
        """The ARN pattern of every alarm this construct creates, ``arn:...:alarm:{name_prefix}-*``."""
        return alarm_arn_pattern(self, self.name_prefix)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm created through this construct, in creation order."""
        return [graph.alarm for graph in self._notifier.graphs]

    @property
    def graphs(self) -> list[AlarmGraph]:
        """Every alarm created through this construct with its dashboard graph, in creation order."""
        return list(self._notifier.graphs)

    def _allow_cloudwatch_to_use(self, key: kms.IKey) -> None:
        """Let CloudWatch publish alarm notifications to the topic encrypted with ``key``."""
        added = key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=list(CLOUDWATCH_TOPIC_KEY_ACTIONS),
                resources=["*"],
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRecoveryPublish",
                principals=[iam.ServicePrincipal(EVENTS_PRINCIPAL)],
                actions=list(CLOUDWATCH_TOPIC_KEY_ACTIONS),
                resources=["*"],
            )
        )
        if not added.statement_added:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:imported-topic-key",
                "topic_encryption_key is imported, so its key policy cannot be changed here: allow the service "
                f"principals cloudwatch.amazonaws.com and events.amazonaws.com "
                f"{', '.join(CLOUDWATCH_TOPIC_KEY_ACTIONS)} on it, or alarm and recovery notifications are silently "
                "dropped.",
            )

    def add_alarm(
        self,
        construct_id: str,
        *,
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
        scope: Construct | None = None,
        graph_lines: Sequence[cloudwatch.IMetric] = (),
    ) -> cloudwatch.Alarm:
        """Add an alarm named ``{name_prefix}-{suffix}`` that notifies the topic on ALARM (and, through the recovery
        rule, when it goes from ALARM back to OK).

        The topic's policy already lets CloudWatch publish it (its name matches ``{name_prefix}-*``), and a
        :class:`~constructs_obs.views.dashboard.HostDashboard` built afterwards shows it: a graph titled
        ``graph_title`` with ``left_y_axis``, and its state in the alarm list. Example::

            alarms.add_alarm(
                "NetworkOut",
                suffix="network-out-high",
                metric=host.metric("NetworkOut", statistic="Sum"),
                threshold=5e9,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                description="More than 5 GB out in 5 minutes for 15 minutes: check nginx's access log.",
                graph_title="Network out (bytes)",
            )

        Args:
            construct_id: the alarm's construct id (in ``scope``).
            suffix: the alarm name's suffix.
            metric: the metric to watch.
            threshold: the threshold.
            comparison_operator: how the metric compares to the threshold.
            evaluation_periods: how many recent periods are evaluated.
            treat_missing_data: what missing data means.
            description: the alarm's description, sent in every notification: say what to do.
            datapoints_to_alarm: how many of the evaluated periods must breach. Default: all.
            graph_title: the dashboard graph's title. Default: ``suffix``.
            left_y_axis: the dashboard graph's y-axis. Default: from 0.
            scope: the construct that owns the alarm. Default: this one.
            graph_lines: the lines the dashboard graph shows instead of the alarm's metric (for an alarm on a
                metric-math expression, the metrics it compares). Default: the alarm's metric.

        Raises:
            ValueError: an alarm name CloudWatch would reject, a description longer than its 1024 characters,
                evaluation periods below 1 or beyond
                CloudWatch's evaluation range for the metric's period, ``datapoints_to_alarm`` outside
                1..``evaluation_periods``, or a threshold that is not a finite number.
        """
        return self._notifier.add_alarm(
            construct_id,
            scope=scope or self,
            suffix=suffix,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison_operator,
            evaluation_periods=evaluation_periods,
            treat_missing_data=treat_missing_data,
            description=description,
            datapoints_to_alarm=datapoints_to_alarm,
            graph_title=graph_title,
            left_y_axis=left_y_axis,
            graph_lines=graph_lines,
        )


def _leave_out(value: object, specs: Sequence[AlarmSpec]) -> frozenset[str]:
    names = check.string_list("leave_out", value, "built-in alarm names")
    known = [spec.name for spec in specs]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"leave_out names unknown alarms {unknown}; the built-in alarms are {known}")
    return frozenset(names)


def _runbook(value: object, specs: Sequence[AlarmSpec]) -> dict[str, str]:
    """``runbook`` checked: built-in alarm names to non-empty texts."""
    return check.runbook_texts("runbook", value, [spec.name for spec in specs])


def _display_name(name_prefix: str) -> str:
    """``{name_prefix} alarms``, cut to the 100 characters SNS allows (alarm names allow 255)."""
    name = f"{name_prefix} alarms"
    if check.unresolved(name_prefix) or len(name) <= MAX_TOPIC_DISPLAY_NAME_LENGTH:
        return name
    return name_prefix[:MAX_TOPIC_DISPLAY_NAME_LENGTH]
