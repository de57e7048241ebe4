"""What alarms, saved queries and dashboards need from a host, whoever created it.

:class:`IObservedHost` is the interface :class:`~constructs_obs.alarms.basic.BasicAlarms`,
:class:`~constructs_obs.views.queries.SavedQueries` and :class:`~constructs_obs.views.dashboard.HostDashboard` take. Two
implementations ship with the library:

- :class:`~constructs_obs.host.instance.ObservedEc2Host`, which creates the instance;
- :meth:`ObservedEc2Host.from_existing_instance <constructs_obs.host.instance.ObservedEc2Host.from_existing_instance>`,
  for an instance created elsewhere (another stack, the console, Terraform): it brings the CloudWatch agent and
  the docker-events service to the instance through the same SSM State Manager association
  (:class:`~constructs_obs.host.setup.HostSetup`), with no reboot and no replacement, and grants the instance's role
  exactly the log writes and ``cloudwatch:PutMetricData`` in its namespace.

Both share :class:`ObservedHostBase`: the setup association, the docker-events log group and crash metric, the
agent, and the ``metric_*`` methods (each returns a ``cloudwatch.Metric`` with an optional ``period`` and
``statistic``, as aws-cdk-lib's L2 constructs do).

**Metrics never cross between hosts.** The agent's metrics carry the ``InstanceId`` dimension. The metric-filter
metrics (container crashes, nginx 5xx, backend errors) cannot: a metric filter's dimensions can only be fields of
the log event (Amazon CloudWatch Logs User Guide, "Publishing dimensions with metrics from values in JSON or
space-delimited log events"), and container output does not name its host. So each host gets its own namespace:
by default ``ConstructsObs/{stack name}/{host path}`` (:func:`default_metrics_namespace`), unique per host in an
account and Region because CloudFormation stack names are; a namespace passed by hand is checked at synth across
the whole app (:func:`constructs_obs.checks._registry.claim_series`), so two hosts' filters cannot feed one series.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from aws_cdk import CfnResource, Duration, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct, Node

from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    HOST_METADATA_KEY as HOST_METADATA_KEY,
)
from constructs_obs.contract import HostFields
from constructs_obs.host.agent import CloudWatchAgent
from constructs_obs.host.docker_events import DockerEventsLog
from constructs_obs.host.log_groups import ContainerLogGroups
from constructs_obs.host.prometheus.metrics import PrometheusMetrics
from constructs_obs.host.prometheus.scrape import PROMETHEUS_LOG_NAME, PrometheusScrape
from constructs_obs.host.setup import HostSetup

#: The log group of the host's Docker container events is ``{log group prefix}/docker-events``.
DOCKER_EVENTS_LOG_NAME = "docker-events"

#: The period of ``metric_*`` when none is given (aws-cdk-lib's default for L2 metrics).
DEFAULT_METRIC_PERIOD = Duration.minutes(5)

#: CloudWatch namespaces: at most 255 of letters, digits, ``. - _ / # : `` and space (PutMetricData reference).
_NAMESPACE_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/#: ]")
MAX_NAMESPACE_LENGTH = 255


def default_metrics_namespace(host: Construct) -> str:
    """``ConstructsObs/{stack name}/{path of host in its stack}``: unique per host in an account and Region.

    A stack name is unique per account and Region (CloudFormation refuses a second stack of that name) and a
    construct path is unique in its stack, so no two hosts share a namespace. Characters CloudWatch refuses in a
    namespace become ``-``; a name longer than 255 characters keeps its end and the construct's unique address.
    """
    stack = Stack.of(host)
    stack_name = stack.stack_name if not Token.is_unresolved(stack.stack_name) else stack.node.id
    relative = host.node.path[len(stack.node.path) :].strip("/") if stack.node.path else host.node.path
    namespace = _NAMESPACE_UNSAFE.sub("-", f"ConstructsObs/{stack_name}/{relative}")
    if len(namespace) > MAX_NAMESPACE_LENGTH:
        namespace = f"ConstructsObs/{host.node.addr}"
    return namespace


def _role_reference(grantee: iam.IGrantable) -> dict[str, str | None]:
    """``RoleName`` (literal names only) and ``RoleLogicalId`` (a role created in the stack) of ``grantee``."""
    name = getattr(grantee, "role_name", None)
    cfn_role = grantee.node.default_child if isinstance(grantee, iam.Role) else None
    return {
        HostFields.ROLE_NAME: name if isinstance(name, str) and not Token.is_unresolved(name) else None,
        HostFields.ROLE_LOGICAL_ID: Stack.of(cfn_role).get_logical_id(cfn_role)
        if isinstance(cfn_role, CfnResource)
        else None,
    }


@runtime_checkable
class IObservedHost(Protocol):
    """A Docker host whose metrics and logs the alarms, saved queries and dashboard read.

    Implemented by :class:`~constructs_obs.host.instance.ObservedEc2Host` and by the host returned by
    :meth:`~constructs_obs.host.instance.ObservedEc2Host.from_existing_instance`.
    """

    @property
    def node(self) -> Node:
        """The construct's node (its path names the host in alarm descriptions and errors)."""
        ...

    @property
    def instance_id(self) -> str:
        """The EC2 instance id."""
        ...

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The instance's role."""
        ...

    @property
    def log_groups(self) -> ContainerLogGroups:
        """The container log groups the host's Docker daemon writes to."""
        ...

    @property
    def metrics_namespace(self) -> str:
        """The namespace of the host's custom metrics (agent and metric filters)."""
        ...

    @property
    def docker_events(self) -> DockerEventsLog:
        """The container-events log group, its service and the crash metric filter."""
        ...

    def metric_cpu_utilization(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """``AWS/EC2 CPUUtilization`` of the instance."""
        ...

    def metric_status_check_failed(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """``AWS/EC2 StatusCheckFailed`` of the instance."""
        ...

    def metric_memory_used_percent(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """The agent's ``mem_used_percent``."""
        ...

    def metric_disk_used_percent(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """The agent's root-filesystem ``disk_used_percent``."""
        ...

    def metric_container_crashes(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """Container crashes counted by the docker-events metric filter."""
        ...


class ObservedHostBase(Construct):
    """What both kinds of host share: the setup association, docker-events, the agent, the metric methods.

    Attributes:
        log_groups: the container log groups the host ships to.
        setup: the association that sets up the agent and the docker-events service (add steps to it).
        docker_events: the container events log group, its service and the crash metric.
        agent: the CloudWatch agent (memory and disk metrics).
        prometheus: the Prometheus endpoints the agent scrapes (log group, metrics), or None without scrapes.
    """

    log_groups: ContainerLogGroups
    setup: HostSetup
    docker_events: DockerEventsLog
    agent: CloudWatchAgent
    prometheus: PrometheusMetrics | None
    _instance_id: str
    _principal: iam.IPrincipal

    def _observe(
        self,
        *,
        instance_id: str,
        grantee: iam.IGrantable,
        setup_role: iam.IGrantable | None,
        log_groups: ContainerLogGroups,
        metrics_namespace: str,
        declare_metrics_on: CfnResource | None = None,
        prometheus_scrapes: Sequence[PrometheusScrape] = (),
    ) -> list[iam.Grant]:
        """Create the setup, docker-events and agent for ``instance_id``; return the grants made to ``grantee``.

        ``setup_role`` gets the SSM agent's State Manager permissions (None: the instance's role already has
        them, as for an instance the library did not create). With ``prometheus_scrapes`` the agent also scrapes
        them into ``{log group prefix}/prometheus`` (:class:`~constructs_obs.host.prometheus.metrics.PrometheusMetrics`).
        """
        self._instance_id = instance_id
        self._principal = grantee.grant_principal
        self.log_groups = log_groups
        self.setup = HostSetup(self, "Setup", instance_id=instance_id, role=setup_role)
        self.docker_events = DockerEventsLog(
            self,
            "DockerEvents",
            grantee=grantee,
            setup=self.setup,
            log_group_name=log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
            namespace=metrics_namespace,
            retention=log_groups.retention,
            removal_policy=log_groups.removal_policy,
            encryption_key=log_groups.encryption_key,
        )
        self.prometheus = None
        if prometheus_scrapes:
            if PROMETHEUS_LOG_NAME in log_groups.containers:
                raise ValueError(
                    f"log_groups has a container named {PROMETHEUS_LOG_NAME!r}, whose log group "
                    f"{log_groups.log_group_name(PROMETHEUS_LOG_NAME)!r} the host needs for its Prometheus metrics; "
                    "rename the container"
                )
            self.prometheus = PrometheusMetrics(
                self,
                "Prometheus",
                scrapes=prometheus_scrapes,
                namespace=metrics_namespace,
                grantee=grantee,
                log_group_name=log_groups.log_group_name(PROMETHEUS_LOG_NAME),
                retention=log_groups.retention,
                removal_policy=log_groups.removal_policy,
                encryption_key=log_groups.encryption_key,
            )
        self.agent = CloudWatchAgent(
            self,
            "Agent",
            instance_id=instance_id,
            grantee=grantee,
            setup=self.setup,
            namespace=metrics_namespace,
            log_files=[self.docker_events.agent_log_file],
            declare_metrics_on=declare_metrics_on,
            prometheus=self.prometheus.agent_prometheus if self.prometheus is not None else None,
        )
        self.setup.association.add_metadata(
            HOST_METADATA_KEY,
            {
                HostFields.HOST_PATH: self.node.path,
                HostFields.INSTANCE_ID: instance_id,
                HostFields.METRICS_NAMESPACE: metrics_namespace,
                **_role_reference(grantee),
                HostFields.CONTAINER_LOG_GROUPS: {
                    c: log_groups.log_group_name(c) for c in log_groups.containers
                },
                HostFields.DOCKER_EVENTS_LOG_GROUP: log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
                **(
                    {HostFields.PROMETHEUS: self.prometheus.describe()} if self.prometheus is not None else {}
                ),
            },
        )
        grants = [self.docker_events.write_grant, self.agent.put_metric_data_grant]
        if self.prometheus is not None:
            grants.append(self.prometheus.write_grant)
        return grants

    @property
    def instance_id(self) -> str:
        """The instance id (a token until deploy for a host the library creates)."""
        return self._instance_id

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The instance's role: grant it access with ``bucket.grant_read(host)`` and the like."""
        return self._principal

    @property
    def metrics_namespace(self) -> str:
        """The namespace of the host's custom metrics."""
        return self.agent.namespace

    @property
    def region(self) -> str:
        """The region the host and its log groups live in."""
        return Stack.of(self).region

    def _ec2_metric(self, name: str, period: Duration | None, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name=name,
            dimensions_map={"InstanceId": self.instance_id},
            statistic=statistic,
            period=period or DEFAULT_METRIC_PERIOD,
        )

    def metric_cpu_utilization(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """``AWS/EC2 CPUUtilization`` (percent). Default: average over 5 minutes (basic monitoring's period)."""
        return self._ec2_metric("CPUUtilization", period, statistic or cloudwatch.Stats.AVERAGE)

    def metric_status_check_failed(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """``AWS/EC2 StatusCheckFailed`` (0 or 1, every minute even on basic monitoring). Default: maximum."""
        return self._ec2_metric("StatusCheckFailed", period, statistic or cloudwatch.Stats.MAXIMUM)

    def metric_memory_used_percent(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """Memory in use (not counting buffers and page cache), percent. Default: average over 5 minutes."""
        return self.agent.metric_memory_used_percent(
            period=period or DEFAULT_METRIC_PERIOD, statistic=statistic or cloudwatch.Stats.AVERAGE
        )

    def metric_disk_used_percent(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """Root filesystem space in use, percent. Default: maximum over 5 minutes."""
        return self.agent.metric_disk_used_percent(
            period=period or DEFAULT_METRIC_PERIOD, statistic=statistic or cloudwatch.Stats.MAXIMUM
        )

    def metric_container_crashes(
        self, *, period: Duration | None = None, statistic: str | None = None
    ) -> cloudwatch.Metric:
        """Container crashes (see :mod:`constructs_obs.host.docker_events`). Default: sum over 5 minutes."""
        return self.docker_events.metric_crashes(
            period=period or DEFAULT_METRIC_PERIOD, statistic=statistic or cloudwatch.Stats.SUM
        )
