"""The observability of an EC2 Auto Scaling group's instances, as one fleet: :class:`FleetObservability`.

A sibling of :class:`~constructs_obs.host.observability.HostObservability` (the same setup, grants, docker-events
and agent, through :func:`~constructs_obs.host.observability.attach_observability`), for compute that comes and
goes: it attaches to the group it is handed and changes nothing of it but its metrics collection.

**Every instance is set up, including those launched later.** One setup association targets the tag Auto Scaling
puts on each instance it launches, ``aws:autoscaling:groupName`` = the group's name; State Manager applies it to
instances that get the tag later ("For dynamic targets, such as an AWS Resource Groups or an AWS Auto Scaling
Group, State Manager applies the configuration when new instances are added to the group", CloudFormation User
Guide, ``AWS::SSM::Association``; Systems Manager User Guide, "Running Auto Scaling groups with associations"
recommends tag targets). The association refers to the group's name, so CloudFormation creates it after the group.

**What CloudFormation waits for.** With ``WaitForSuccessTimeoutSeconds`` the resource handler
(aws-cloudformation/aws-cloudformation-resource-providers-ssm, ``InProgressHandler``) polls ``DescribeAssociation``
every 15 seconds: ``Overview.Status`` ``Success`` completes the resource, ``Pending`` waits until the timeout and
then fails it, anything else fails it at once. The overview covers every targeted instance, so with instances in
the group the deploy waits until the setup succeeded on all of them, and a group whose instances launch just after
the association gets them by the tag and still reaches ``Success``. What the overview says for a tag that matches
no instance at all is not documented; if it is ``Pending``, the deploy of a group with no instance (desired
capacity 0) would wait the whole timeout and fail. So the fleet waits only when the group can never be empty: its
minimum capacity is 1 or more (a literal); with a minimum of 0, or one set by a token, the deploy does not wait
(``wait_for_setup`` decides otherwise). Either way ``obs-doctor`` checks the setup on each instance, and instances
launched between deploys are checked by nothing else: see docs/fleet.md, "When an instance's setup fails".

**Metrics per fleet, not per instance.** The agent publishes one series per metric for the whole group
(``AutoScalingGroupName`` only; per-instance series dropped): the custom-metric count does not grow with the group
(:func:`~constructs_obs.host.agent.agent_config`). CPU and status checks come from EC2's own metrics of the group.
The group's ``GroupDesiredCapacity`` and ``GroupInServiceInstances`` are collected (the group's metrics collection
is switched on for them, keeping any the group already collects). Group metrics cost nothing once enabled
(Amazon EC2 Auto Scaling User Guide, "Monitor CloudWatch metrics for your Auto Scaling groups and instances"):
they are AWS metrics, not custom ones, and only the capacity alarm's two alarm metrics count in the free tier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Annotations, Duration, IResolvable, IResolveContext, Stack, Token
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs.alarms.specs import AlarmSettings, AlarmSpec
from constructs_obs.checks import _validation as check
from constructs_obs.checks.compliance import declare
from constructs_obs.contract import (
    FLEET_DIMENSION,
    GROUP_DESIRED_CAPACITY,
    GROUP_IN_SERVICE_INSTANCES,
    HOST_METADATA_KEY,
    HostFields,
)
from constructs_obs.fleet.alarms import FLEET_ALARMS
from constructs_obs.host.log_groups import ContainerLogGroups
from constructs_obs.host.metric_options import metric_options
from constructs_obs.host.observability import (
    attach_observability,
    check_log_groups,
    default_metrics_namespace,
    describe_host,
)
from constructs_obs.host.prometheus.scrape import PrometheusScrape, validate_scrapes

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.host.agent import CloudWatchAgent
    from constructs_obs.host.docker_events import DockerEventsLog
    from constructs_obs.host.metric_options import MetricOptions
    from constructs_obs.host.prometheus.metrics import PrometheusMetrics
    from constructs_obs.host.setup import HostSetup

#: How long the group may have fewer instances in service than it wants before the capacity alarm fires: a
#: launch, the boot and the instance entering service take a few minutes; ten minutes short is a failure.
DEFAULT_CAPACITY_GRACE = Duration.minutes(10)
#: The group metrics publish every minute once collected.
GROUP_METRICS_PERIOD = Duration.minutes(1)

FLEET_NO_RESOURCE_LEVEL_PERMISSIONS = declare(
    "fleet.actions-without-resource-scope",
    owner="FleetObservability",
    target="the group's role",
    rules=("AwsSolutions-IAM5[Resource::*]",),
    reason="""`Resource: *` only for actions that support no resource-level permissions: the CloudWatch agent's
    `cloudwatch:PutMetricData`, limited by a `cloudwatch:namespace` condition to the fleet's own metrics namespace;
    `ec2:DescribeTags`, with which the agent reads its instance's `aws:autoscaling:groupName` tag to publish the
    fleet's series (without it the agent publishes nothing); and with `ssm_agent_permissions=True` the SSM agent's
    `ssmmessages:*` and `ec2messages:*` channel actions (listed one by one). Every other statement names its
    resources (the container, docker-events and Prometheus log groups).""",
)


@jsii.implements(IResolvable)
class _GroupMetricsCollection:
    """The group's ``MetricsCollection`` with ``metrics`` added: what the group already collects (its
    ``group_metrics``, rendered by aws-cdk-lib when the template is) plus the fleet's, in one more entry; nothing
    added when the group collects all of its metrics already."""

    def __init__(self, existing: Any, metrics: Sequence[str]) -> None:
        self._existing = existing
        self._metrics = list(metrics)

    @property
    def creation_stack(self) -> list[str]:
        return []

    def to_string(self) -> str:
        return "FleetObservability.MetricsCollection"

    def resolve(self, context: IResolveContext) -> Any:
        current = context.resolve(self._existing) if self._existing is not None else None
        entries = [dict(entry) for entry in (current or [])]
        if any(not entry.get("metrics") for entry in entries):
            return entries  # an entry without metrics collects every group metric
        collected = {metric for entry in entries for metric in entry["metrics"]}
        missing = [metric for metric in self._metrics if metric not in collected]
        if missing:
            entries.append({"granularity": "1Minute", "metrics": missing})
        return entries


def collect_group_metrics(group: autoscaling.AutoScalingGroup, metrics: Sequence[str]) -> None:
    """Switch on the group's collection of ``metrics`` (1-minute), keeping what it collects already."""
    cfn = group.node.default_child
    if not isinstance(cfn, autoscaling.CfnAutoScalingGroup):
        raise TypeError(f"auto_scaling_group {group.node.path} has no AWS::AutoScaling::AutoScalingGroup")
    merged: IResolvable = _GroupMetricsCollection(cfn.metrics_collection, metrics)  # type: ignore[assignment]
    cfn.metrics_collection = merged


def _literal_size(value: object) -> int | None:
    """A group size from the template (``MinSize``, ``MaxSize``: strings), or None when it is a token."""
    if value is None or Token.is_unresolved(value):
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _group_role(group: autoscaling.AutoScalingGroup, role: object) -> iam.IRole:
    if role is None:
        try:
            role = group.role
        except RuntimeError:  # a group made with a launch template that has no role (aws-cdk-lib throws)
            role = None
        if role is None:
            raise TypeError(
                f"role is required: auto_scaling_group {group.node.path} has no role of its own (a launch template "
                "without one); pass the instances' role (role=), or give the launch template a role"
            )
    check.require_interface("role", role, "role_arn", "an iam.IRole")
    return role  # type: ignore[return-value]


@jsii.implements(iam.IGrantable)
class FleetObservability(Construct):
    """Observe the Docker hosts of an EC2 Auto Scaling group as one fleet: setup, grants, fleet metrics, capacity.

    ``FleetObservability(self, "Fleet", auto_scaling_group=asg, log_groups=logs)``. What the instances need is
    what :class:`~constructs_obs.host.observability.HostObservability` says (the SSM agent, Docker); each instance,
    whenever launched, gets the setup association (see the module docstring for what CloudFormation waits for).

    The group's role gets exactly: ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on the container groups, the
    docker-events group and (with scrapes) the Prometheus group; ``cloudwatch:PutMetricData`` limited to
    ``metrics_namespace``; ``ec2:DescribeTags`` (the agent reads the group's name from its instance's tags); with
    ``ssm_agent_permissions`` the SSM agent's statements.

    Usable wherever a host is (:class:`~constructs_obs.host.interface.IObservedHost`): ``BasicAlarms(host=fleet)``
    creates the fleet's alarms (:mod:`constructs_obs.fleet.alarms`, with ``capacity``), ``SavedQueries(host=fleet)``
    adds queries by instance, ``HostDashboard`` and ``CachePerformance`` take it.

    Attributes:
        auto_scaling_group: the group.
        auto_scaling_group_name: its name (a token until deploy).
        role: the instances' role.
        log_groups: the container log groups the instances ship to.
        setup: the association that sets up every instance of the group (add steps to it).
        docker_events: the container events log group (one stream per instance), its service and the crash metric.
        agent: the CloudWatch agent (the fleet's memory and disk series).
        prometheus: the Prometheus endpoints the agents scrape, or None.
        grants: every grant made to ``role`` (each applied before the setup association runs).
        capacity_grace: how long the group may have fewer instances in service than desired before the capacity
            alarm fires.
        waits_for_setup: whether CloudFormation waits for the setup to succeed on the group's instances.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        auto_scaling_group: autoscaling.AutoScalingGroup,
        log_groups: ContainerLogGroups,
        role: iam.IRole | None = None,
        metrics_namespace: str | None = None,
        prometheus_scrapes: Sequence[PrometheusScrape] = (),
        ssm_agent_permissions: bool = False,
        capacity_grace: Duration = DEFAULT_CAPACITY_GRACE,
        wait_for_setup: bool | None = None,
    ) -> None:
        """Attach the setup, grants and metrics to the group's instances; collect the group's capacity metrics.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            auto_scaling_group: the group (an ``autoscaling.AutoScalingGroup`` of your app, with Amazon Linux 2023
                instances that run Docker).
            log_groups: the container log groups the instances ship to (one group per container for the whole
                fleet; each container's stream is its own).
            role: the instances' role. Default: the group's ``role`` (the one aws-cdk-lib creates for it, or the one
                given to it); required when the group's launch template has none.
            metrics_namespace: CloudWatch namespace of the fleet's custom metrics; the role may publish into it and
                no other. Default ``ConstructsObs/{stack name}/{path}``, unique per fleet.
            prometheus_scrapes: Prometheus endpoints on each instance for the agent to scrape (see
                :class:`~constructs_obs.host.prometheus.scrape.PrometheusScrape`); their series are the fleet's
                (no instance dimension). The log ingestion estimate counts the group's maximum of instances.
            ssm_agent_permissions: also give ``role`` what the instances' SSM agent needs (as for
                ``HostObservability``). Default off: the role has ``AmazonSSMManagedInstanceCore`` or the like.
            capacity_grace: how long fewer instances may be in service than desired before the capacity alarm
                fires; whole minutes, 2 minutes to 1 day. Default 10 minutes.
            wait_for_setup: whether CloudFormation waits (up to its 15-minute timeout) for the setup to succeed on the group's
                instances. Default: when the group's minimum capacity is 1 or more (see the module docstring).

        Raises:
            TypeError: ``auto_scaling_group`` not an ``autoscaling.AutoScalingGroup``, no role, ``log_groups`` not a
                :class:`ContainerLogGroups`, or another prop of the wrong type.
            ValueError: a metrics namespace CloudWatch would reject, a container named ``docker-events`` or
                ``prometheus``, a ``capacity_grace`` outside 2 minutes to 1 day or not whole minutes, or a role
                imported with ``mutable=False``.
        """
        check.require_type(
            "auto_scaling_group",
            auto_scaling_group,
            autoscaling.AutoScalingGroup,
            "an autoscaling.AutoScalingGroup of your app",
        )
        group_role = _group_role(auto_scaling_group, role)
        check_log_groups(log_groups)
        if metrics_namespace is not None:
            check.metrics_namespace("metrics_namespace", metrics_namespace)
        scrapes = validate_scrapes("prometheus_scrapes", prometheus_scrapes, containers=log_groups.containers)
        check.require_bool("ssm_agent_permissions", ssm_agent_permissions)
        grace_periods = check.whole_periods(
            "capacity_grace",
            capacity_grace,
            "the group metrics' period",
            int(GROUP_METRICS_PERIOD.to_seconds()),
        )
        if grace_periods is not None:
            check.integer("capacity_grace (minutes)", grace_periods, minimum=2, maximum=1440)
        if wait_for_setup is not None:
            check.require_bool("wait_for_setup", wait_for_setup)
        cfn_group = auto_scaling_group.node.default_child
        assert isinstance(cfn_group, autoscaling.CfnAutoScalingGroup)
        minimum = _literal_size(cfn_group.min_size)
        maximum = _literal_size(cfn_group.max_size)
        super().__init__(scope, construct_id)
        self.auto_scaling_group = auto_scaling_group
        self.auto_scaling_group_name = auto_scaling_group.auto_scaling_group_name
        self.role = group_role
        self.log_groups = log_groups
        self.capacity_grace = capacity_grace
        self._grace_periods = grace_periods or int(capacity_grace.to_minutes())
        self.waits_for_setup = wait_for_setup if wait_for_setup is not None else (minimum or 0) >= 1
        if wait_for_setup is None and not self.waits_for_setup:
            Annotations.of(self).add_info(
                f"{self.node.path}: the group's minimum capacity is {minimum if minimum is not None else 'unknown'}, "
                "so the deploy does not wait for the instances' setup (a group with no instance would make it "
                "wait in vain); obs-doctor checks the setup on each instance."
            )
        namespace = metrics_namespace or default_metrics_namespace(self)
        parts = attach_observability(
            self,
            role=group_role,
            log_groups=log_groups,
            namespace=namespace,
            scrapes=scrapes,
            ssm_agent_permissions=ssm_agent_permissions,
            auto_scaling_group_name=self.auto_scaling_group_name,
            wait_for_setup=self.waits_for_setup,
            instances=maximum or 1,
            no_resource_scope=FLEET_NO_RESOURCE_LEVEL_PERMISSIONS,
        )
        self.setup: HostSetup = parts.setup
        self.docker_events: DockerEventsLog = parts.docker_events
        self.prometheus: PrometheusMetrics | None = parts.prometheus
        self.agent: CloudWatchAgent = parts.agent
        self.grants = parts.grants
        collect_group_metrics(auto_scaling_group, [GROUP_DESIRED_CAPACITY, GROUP_IN_SERVICE_INSTANCES])
        self.setup.association.add_metadata(
            HOST_METADATA_KEY,
            describe_host(
                self,
                {HostFields.AUTO_SCALING_GROUP_NAME: self.auto_scaling_group_name},
                namespace=namespace,
                role=group_role,
                log_groups=log_groups,
                prometheus=self.prometheus,
            ),
        )

    # --- IObservedHost ------------------------------------------------------------------------------------------

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The instances' role: grant it access with ``bucket.grant_read(fleet)`` and the like."""
        return self.role.grant_principal

    @property
    def metrics_namespace(self) -> str:
        """The namespace of the fleet's custom metrics."""
        return self.agent.namespace

    @property
    def region(self) -> str:
        """The region the fleet's monitoring (and its log groups) live in."""
        return Stack.of(self).region

    @property
    def alarm_specs(self) -> tuple[AlarmSpec, ...]:
        """The fleet's alarms (:data:`~constructs_obs.fleet.alarms.FLEET_ALARMS`), with ``capacity``."""
        return FLEET_ALARMS

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """An ``AWS/EC2`` metric of the group's instances (dimension ``AutoScalingGroupName``). Default: average
        over 5 minutes."""
        return self._ec2_metric(metric_name, cloudwatch.Stats.AVERAGE, options)

    def _ec2_metric(self, name: str, statistic: str, options: MetricOptions) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name=name,
            **metric_options(
                options, statistic=statistic, dimensions_map={FLEET_DIMENSION: self.auto_scaling_group_name}
            ),
        )

    def metric_cpu_utilization(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 CPUUtilization`` of the group's instances (percent). Default: average over 5 minutes."""
        return self._ec2_metric("CPUUtilization", cloudwatch.Stats.AVERAGE, options)

    def metric_status_check_failed(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 StatusCheckFailed`` of the group's instances. Default: maximum over 5 minutes (1 when any
        instance fails)."""
        return self._ec2_metric("StatusCheckFailed", cloudwatch.Stats.MAXIMUM, options)

    def metric_memory_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Memory in use, percent, the fleet's series. Default: maximum over 5 minutes (the fullest instance)."""
        return self.agent.metric_memory_used_percent(**options)

    def metric_disk_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Root filesystem space in use, percent, the fleet's series. Default: maximum over 5 minutes."""
        return self.agent.metric_disk_used_percent(**options)

    def metric_container_crashes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Container crashes on any instance (see :mod:`constructs_obs.host.docker_events`). Default: sum over 5
        minutes."""
        return self.docker_events.metric_crashes(**options)

    # --- the group's capacity ------------------------------------------------------------------------------------

    def _group_metric(self, name: str, statistic: str, options: MetricOptions) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/AutoScaling",
            metric_name=name,
            **metric_options(
                options,
                statistic=statistic,
                period=GROUP_METRICS_PERIOD,
                dimensions_map={FLEET_DIMENSION: self.auto_scaling_group_name},
            ),
        )

    def metric_in_service_instances(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/AutoScaling GroupInServiceInstances``. Default: minimum over 1 minute."""
        return self._group_metric(GROUP_IN_SERVICE_INSTANCES, cloudwatch.Stats.MINIMUM, options)

    def metric_desired_capacity(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/AutoScaling GroupDesiredCapacity``. Default: maximum over 1 minute."""
        return self._group_metric(GROUP_DESIRED_CAPACITY, cloudwatch.Stats.MAXIMUM, options)

    def metric_capacity_shortfall(self) -> cloudwatch.MathExpression:
        """How many instances the group wants beyond those in service, each minute: the most it wanted minus the
        fewest it had in service (so a minute with any shortfall shows it; a scale-in, wanting fewer, is below 0)."""
        return cloudwatch.MathExpression(
            expression="desired - inService",
            using_metrics={
                "desired": self.metric_desired_capacity(),
                "inService": self.metric_in_service_instances(),
            },
            label="Instances short",
            period=GROUP_METRICS_PERIOD,
        )

    def capacity_alarm_settings(self) -> AlarmSettings:
        """The capacity alarm: 1 or more instances short in every minute of ``capacity_grace``; its graph shows
        the instances in service and desired."""
        return AlarmSettings(
            metric=self.metric_capacity_shortfall(),
            threshold=1,
            evaluation_periods=self._grace_periods,
            minutes=self.capacity_grace.to_minutes(),
            graph_lines=(
                self.metric_in_service_instances(label="In service"),
                self.metric_desired_capacity(label="Desired"),
            ),
        )
