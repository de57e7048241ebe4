"""What alarms, saved queries and dashboards read from a host, whoever created it: :class:`IObservedHost`.

Two constructs implement it:

- :class:`~constructs_obs.host.observability.HostObservability`, the observability of an instance made anywhere
  (an ``ec2.Instance`` of your stack, or an instance id);
- :class:`~constructs_obs.host.instance.ObservedEc2Host`, a secure EC2 Docker host that holds one.

:class:`~constructs_obs.alarms.basic.BasicAlarms`, :class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`
(through its alarms), :class:`~constructs_obs.views.queries.SavedQueries`,
:class:`~constructs_obs.views.dashboard.HostDashboard` and
:class:`~constructs_obs.host.prometheus.cache.CachePerformance` take either. The interface says what they need and
no more: the host's metrics come from its ``metric_*`` methods (never from an instance id), so a host made of
several instances can implement it too.

Each ``metric_*`` method takes aws-cdk-lib's metric options (:class:`~constructs_obs.host.metric_options.MetricOptions`: ``account``, ``color``,
``dimensions_map``, ``label``, ``period``, ``region``, ``statistic``, ``unit``, ``visible``, ...) as keyword
arguments and returns a ``cloudwatch.Metric``, as the metric methods of aws-cdk-lib's L2 constructs do
(``Queue.metric_approximate_number_of_messages_visible(period=...)``); an option not given keeps the method's
documented default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Node

from constructs_obs.host.metric_options import DEFAULT_METRIC_PERIOD as DEFAULT_METRIC_PERIOD  # re-exported
from constructs_obs.host.metric_options import MetricOptions as MetricOptions

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.alarms.specs import AlarmSpec
    from constructs_obs.host.docker_events import DockerEventsLog
    from constructs_obs.host.log_groups import ContainerLogGroups
    from constructs_obs.host.prometheus.metrics import PrometheusMetrics


@runtime_checkable
class IObservedHost(Protocol):
    """A Docker host whose metrics and logs the alarms, saved queries and dashboard read.

    Implemented by :class:`~constructs_obs.host.observability.HostObservability` (any instance) and
    :class:`~constructs_obs.host.instance.ObservedEc2Host` (the host the library creates).
    """

    @property
    def node(self) -> Node:
        """The construct's node (its path names the host in alarm descriptions and errors)."""
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

    @property
    def prometheus(self) -> PrometheusMetrics | None:
        """The Prometheus endpoints the host's agent scrapes, or None without scrapes."""
        ...

    @property
    def alarm_specs(self) -> Sequence[AlarmSpec]:
        """The alarms that watch the host (:class:`~constructs_obs.alarms.basic.BasicAlarms` creates them): the
        built-in ones for an instance, the fleet's for an Auto Scaling group."""
        ...

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """An ``AWS/EC2`` metric of the host, by name (for example ``NetworkOut``)."""
        ...

    def metric_cpu_utilization(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 CPUUtilization`` of the host."""
        ...

    def metric_status_check_failed(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 StatusCheckFailed`` of the host."""
        ...

    def metric_memory_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """The agent's ``mem_used_percent``."""
        ...

    def metric_disk_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """The agent's root-filesystem ``disk_used_percent``."""
        ...

    def metric_container_crashes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Container crashes counted by the docker-events metric filter."""
        ...
