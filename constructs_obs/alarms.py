"""CloudWatch alarms on an EC2 Docker host, notifying an SNS topic by email."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Annotations, ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_obs import _validation as check
from constructs_obs.compliance import acknowledge, declare
from constructs_obs.host import ObservedEc2Host

#: EC2 basic monitoring publishes CPUUtilization every 5 minutes, free of charge.
BASIC_MONITORING_PERIOD = Duration.minutes(5)

#: Metrics with 1-minute data (status checks even on basic monitoring, the crash metric filter) are alarmed on
#: 1-minute periods: a standard-resolution alarm costs the same at 60 seconds as at 300 (CloudWatch pricing), and
#: the alert comes minutes sooner. EC2 publishes ``StatusCheckFailed`` every minute on basic monitoring ("Status
#: check metrics are available at a 1-minute frequency at no charge", Amazon EC2 User Guide, "Instance metrics").
FAST_PERIOD = Duration.minutes(1)
#: A status check must fail in 2 consecutive minutes: one failed minute can be a transient probe failure.
STATUS_CHECK_PERIODS = 2

#: The seed's "CPU > 80% for 10 min".
DEFAULT_CPU_THRESHOLD_PERCENT = 80.0
DEFAULT_CPU_DURATION = Duration.minutes(10)

#: A t3.small has 2 GiB and no swap: at 85% used (page cache not counted) about 300 MiB is left before the
#: kernel's OOM killer starts; the seed's stack already uses most of the memory.
DEFAULT_MEMORY_THRESHOLD_PERCENT = 85.0
DEFAULT_MEMORY_DURATION = Duration.minutes(10)
#: 80% of the 30 GiB root volume leaves about 6 GiB for image pulls and logs.
DEFAULT_DISK_THRESHOLD_PERCENT = 80.0
#: The longest alarm name suffix ``name_prefix`` must leave room for (alarm names are at most 255 characters).
LONGEST_ALARM_SUFFIX = "container-crash"

#: SNS topic display names are at most 100 characters.
MAX_TOPIC_DISPLAY_NAME_LENGTH = 100

#: The service principal that publishes alarm notifications to SNS.
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"

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
    """The host's alarms, every one notifying an SNS topic on ALARM and on OK.

    The topic's policy lets CloudWatch publish these alarms (and only them) to it: see
    :meth:`_allow_cloudwatch_to_publish`.

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
    - ``{name_prefix}-container-crash``: one or more container crashes (see :mod:`constructs_obs.docker_events`)
      in a 1-minute period: it fires on the first crash. Missing data is *not breaching*: the crash count has data only
      when something crashed.

    Attributes:
        topic: the SNS topic alarms notify (created with SSL enforced, or the caller's).
        cpu_high: the CPU alarm.
        status_check: the status-check alarm.
        memory_high: the memory alarm.
        disk_high: the root-disk alarm.
        container_crash: the container-crash alarm.
        alarms: every alarm added through :meth:`add_alarm` (this construct's and, for instance,
            :class:`~constructs_obs.log_alarms.LogPatternAlarms`'), in creation order.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: ObservedEc2Host,
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
    ) -> None:
        """Create the topic (unless given), its email subscriptions and the alarms.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            host: the host to watch.
            name_prefix: alarm names are ``{name_prefix}-cpu-high`` and ``{name_prefix}-status-check``.
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

        Raises:
            ValueError: a malformed or repeated email address, an alarm name prefix CloudWatch would reject,
                a threshold, period or duration outside what CloudWatch accepts, or ``topic_encryption_key``
                together with ``topic``.
            TypeError: a prop of the wrong type (for example one string instead of a list of emails).
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        check.require_type("host", host, ObservedEc2Host, "the ObservedEc2Host to watch")
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
        super().__init__(scope, construct_id)
        self.name_prefix = name_prefix
        self.host = host
        self.period = period

        if topic is None:
            created = sns.Topic(
                self,
                "Topic",
                display_name=_display_name(name_prefix),
                enforce_ssl=True,
                master_key=topic_encryption_key,
            )
            if topic_encryption_key is None:
                acknowledge(created, TOPIC_ENCRYPTION)
            else:
                self._allow_cloudwatch_to_use(topic_encryption_key)
            self.topic: sns.ITopic = created
        else:
            self.topic = topic
        self._allow_cloudwatch_to_publish()
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        if not emails and topic is None:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:no-alarm-emails",
                f"{name_prefix}: the alarm topic has no email subscription, so alarms notify nobody. "
                "Pass emails (the staging app: cdk deploy -c alarm_emails=ops@example.com).",
            )

        self._action = cw_actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []

        evaluation_periods = cpu_periods or int(cpu_duration.to_seconds() // period.to_seconds())
        self.cpu_high = self.add_alarm(
            "CpuHigh",
            suffix="cpu-high",
            metric=self.ec2_metric("CPUUtilization", statistic=cloudwatch.Stats.AVERAGE, period=period),
            threshold=cpu_threshold_percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=(
                f"CPU above {cpu_threshold_percent:g}% for {cpu_duration.to_minutes():g} minutes on "
                f"{host.node.path}: the server is under heavy load. Find the busy container with `docker stats` "
                "(Session Manager) and slow endpoints in Sentry Performance; scale up if the load is real."
            ),
        )
        self.status_check = self.add_alarm(
            "StatusCheck",
            suffix="status-check",
            metric=self.ec2_metric(
                "StatusCheckFailed", statistic=cloudwatch.Stats.MAXIMUM, period=FAST_PERIOD
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=STATUS_CHECK_PERIODS,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            description=(
                f"EC2 status check failed for {STATUS_CHECK_PERIODS} minutes on {host.node.path}: "
                "the instance is unreachable or unhealthy. EC2 console > instance > Status checks: a failed "
                "system check is fixed by stop and start (new hardware), a failed instance check by a reboot "
                "and the system log."
            ),
        )
        self.memory_high = self.add_alarm(
            "MemoryHigh",
            suffix="memory-high",
            metric=host.agent.metric_memory_used_percent(period=period),
            threshold=memory_threshold_percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=memory_periods or int(memory_duration.to_seconds() // period.to_seconds()),
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            description=(
                f"Memory used above {memory_threshold_percent:g}% for {memory_duration.to_minutes():g} minutes "
                f"on {host.node.path}: containers risk being killed by the OOM killer. Find the largest with "
                "`docker stats`; restart or limit it (`mem_limit`), or move to a larger instance."
            ),
        )
        self.disk_high = self.add_alarm(
            "DiskHigh",
            suffix="disk-high",
            metric=host.agent.metric_disk_used_percent(period=period),
            threshold=disk_threshold_percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            description=(
                f"Root filesystem above {disk_threshold_percent:g}% used on {host.node.path}: "
                "prune Docker images (docker system prune) before writes start failing."
            ),
        )
        self.container_crash = self.add_alarm(
            "ContainerCrash",
            suffix="container-crash",
            metric=host.docker_events.metric_crashes(period=FAST_PERIOD),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=(
                f"A container on {host.node.path} crashed (non-zero exit other than a stop, or OOM kill). "
                "See the docker-events log group or the container-crashes saved query."
            ),
        )

    @property
    def alarm_arn_pattern(self) -> str:
        """The ARN pattern of every alarm this construct creates, ``arn:...:alarm:{name_prefix}-*``."""
        return Stack.of(self).format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{self.name_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _allow_cloudwatch_to_publish(self) -> None:
        """Let CloudWatch publish this construct's alarms to the topic, and nothing else.

        A topic policy replaces SNS's default policy (which lets the account's principals publish), and
        ``enforce_ssl`` writes one whose only statement denies non-TLS requests: without this statement every
        alarm action fails with "... is not authorized to perform: SNS:Publish ... because no resource-based
        policy allows" (aws-solutions/automated-security-response-on-aws#43). The statement follows the
        confused-deputy guidance for CloudWatch alarms publishing to SNS (Amazon CloudWatch User Guide, "Confused
        deputy prevention"): ``aws:SourceAccount`` is this account and ``aws:SourceArn`` matches this
        construct's alarm names, ``{name_prefix}-*``, which covers alarms added later with :meth:`add_alarm`.
        """
        stack = Stack.of(self)
        added = self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": self.alarm_arn_pattern},
                },
            )
        )
        if not added.statement_added:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:imported-topic-policy",
                "topic is imported, so its policy cannot be changed here. If it has a topic policy, that policy "
                f"must allow the service principal {CLOUDWATCH_PRINCIPAL} sns:Publish on the topic (with "
                f"aws:SourceAccount = this account and aws:SourceArn like {self.alarm_arn_pattern!r}), or every "
                "alarm notification is refused; a topic with SNS's default policy needs nothing. See "
                "docs/usage.md, 'Your own topic'.",
            )

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
        if not added.statement_added:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:imported-topic-key",
                "topic_encryption_key is imported, so its key policy cannot be changed here: allow the service "
                f"principal cloudwatch.amazonaws.com {', '.join(CLOUDWATCH_TOPIC_KEY_ACTIONS)} on it, or alarm "
                "notifications are silently dropped.",
            )

    @property
    def instance(self) -> ec2.Instance:
        """The watched instance."""
        return self.host.instance

    def ec2_metric(self, metric_name: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
        """An ``AWS/EC2`` metric of the watched instance (dimension ``InstanceId``)."""
        return cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name=metric_name,
            dimensions_map={"InstanceId": self.host.instance.instance_id},
            statistic=statistic,
            period=period,
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
    ) -> cloudwatch.Alarm:
        """Add an alarm named ``{name_prefix}-{suffix}`` that notifies the topic on ALARM and on OK.

        Raises:
            ValueError: an alarm name CloudWatch would reject, evaluation periods below 1 or beyond
                CloudWatch's evaluation range for the metric's period, ``datapoints_to_alarm`` outside
                1..``evaluation_periods``, or a threshold that is not a finite number.
        """
        check.alarm_name("suffix", f"{self.name_prefix}-{suffix}")
        check.number("threshold", threshold)
        period_seconds = None
        if isinstance(metric, cloudwatch.Metric):
            period_seconds = check.alarm_period("metric period", metric.period, high_resolution=True)
        check.evaluation_range("evaluation_periods", evaluation_periods, period_seconds)
        if datapoints_to_alarm is not None:
            check.datapoints("datapoints_to_alarm", datapoints_to_alarm, evaluation_periods)
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.name_prefix}-{suffix}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison_operator,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=treat_missing_data,
        )
        alarm.add_alarm_action(self._action)
        alarm.add_ok_action(self._action)
        self.alarms.append(alarm)
        return alarm


def _display_name(name_prefix: str) -> str:
    """``{name_prefix} alarms``, cut to the 100 characters SNS allows (alarm names allow 255)."""
    name = f"{name_prefix} alarms"
    if check.unresolved(name_prefix) or len(name) <= MAX_TOPIC_DISPLAY_NAME_LENGTH:
        return name
    return name_prefix[:MAX_TOPIC_DISPLAY_NAME_LENGTH]
