"""constructs_obs: AWS CDK constructs that observe a Docker host on EC2.

- :class:`ContainerLogGroups`: one CloudWatch log group per container, for Docker's ``awslogs`` driver.
- :class:`HostObservability`: the observability of an instance made anywhere (an ``ec2.Instance`` of your stack
  or an instance id): the setup that runs the CloudWatch agent (memory and disk metrics, :class:`CloudWatchAgent`)
  and a service that sends container crash events to a log group of their own (:class:`DockerEventsLog`), the
  role's grants, the metric methods.
- :class:`ObservedEc2Host`: a secure-by-default EC2 Docker host allowed to write only to those groups: an
  ``ec2.Instance`` plus a :class:`HostObservability`.
- :class:`DataVolume`: the host's data (Docker's data root) on an encrypted volume that outlives the instance.
- :class:`IObservedHost`: what alarms, queries and the dashboard read from a host; implemented by both.
- :class:`FleetObservability`: the observability of an EC2 Auto Scaling group's instances as one fleet (every
  instance set up, one series per metric for the group, a capacity alarm), usable wherever a host is;
  :func:`docker_launch_template` builds a launch template as secure as the single host.
- :class:`BasicAlarms`: CPU, status-check, memory, disk and container-crash alarms notifying an SNS topic.
- :class:`LogPatternAlarms`: nginx 5xx and backend error-line alarms from metric filters, on a host's containers
  or any log groups (ECS, Fargate, ...).
- :class:`PrometheusScrape`, :class:`PrometheusMetrics`, :class:`CachePerformance`: the host's CloudWatch agent
  scrapes a Prometheus endpoint of an app (selected metrics only, at $0), with a cache hit-rate view.
- :class:`SavedQueries`: Logs Insights saved queries for backend errors, nginx 5xx by path, container crashes.
- :class:`HostDashboard`: one dashboard with a graph per alarm and every alarm's state.
- :class:`FreeTierCheck` and :func:`count_billables`: what a stack bills in CloudWatch, checked at synth.
- :mod:`constructs_obs.doctor`: the ``obs-doctor`` command, which checks a deployed stack (boto3: the
  ``doctor`` extra, ``pip install "constructs-obs[doctor]"``).
- :mod:`constructs_obs.testing`: check CloudWatch Logs filter patterns against your own log lines in your
  tests, without AWS.

The packages show the architecture: :mod:`constructs_obs.host` (one host: the instance, its observability, setup,
agent, docker-events, log groups, images, Prometheus), :mod:`constructs_obs.fleet` (an Auto Scaling group observed
as one), :mod:`constructs_obs.alarms`, :mod:`constructs_obs.views`
(saved queries, dashboard), :mod:`constructs_obs.checks` (what runs at synth), :mod:`constructs_obs.doctor`,
:mod:`constructs_obs.testing`, and :mod:`constructs_obs.contract` (the names the constructs and the doctor share).

The constructs are imported on first use, so ``obs-doctor`` (which needs boto3, not the CDK) starts without
loading aws-cdk-lib and its Node.js runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_obs.alarms.basic import BasicAlarms
    from constructs_obs.alarms.log_patterns import LogPatternAlarms
    from constructs_obs.alarms.notifier import AlarmGraph
    from constructs_obs.checks.free_tier import FreeTierCheck, count_billables
    from constructs_obs.fleet.launch_template import docker_launch_template
    from constructs_obs.fleet.observability import FleetObservability
    from constructs_obs.host.agent import CloudWatchAgent
    from constructs_obs.host.data_volume import DataVolume
    from constructs_obs.host.docker_events import DockerEventsLog
    from constructs_obs.host.images import al2023_at_launch
    from constructs_obs.host.instance import ObservedEc2Host
    from constructs_obs.host.interface import IObservedHost
    from constructs_obs.host.log_groups import ContainerLogGroups
    from constructs_obs.host.metric_options import MetricOptions
    from constructs_obs.host.observability import HostObservability
    from constructs_obs.host.prometheus.cache import CachePerformance
    from constructs_obs.host.prometheus.metrics import PrometheusMetrics
    from constructs_obs.host.prometheus.scrape import PrometheusScrape
    from constructs_obs.host.setup import HostSetup
    from constructs_obs.views.dashboard import HostDashboard
    from constructs_obs.views.queries import SavedQueries

#: Public name -> the module that defines it.
_EXPORTS = {
    "AlarmGraph": "constructs_obs.alarms.notifier",
    "BasicAlarms": "constructs_obs.alarms.basic",
    "CachePerformance": "constructs_obs.host.prometheus.cache",
    "CloudWatchAgent": "constructs_obs.host.agent",
    "ContainerLogGroups": "constructs_obs.host.log_groups",
    "DataVolume": "constructs_obs.host.data_volume",
    "DockerEventsLog": "constructs_obs.host.docker_events",
    "FleetObservability": "constructs_obs.fleet.observability",
    "FreeTierCheck": "constructs_obs.checks.free_tier",
    "HostDashboard": "constructs_obs.views.dashboard",
    "HostSetup": "constructs_obs.host.setup",
    "HostObservability": "constructs_obs.host.observability",
    "IObservedHost": "constructs_obs.host.interface",
    "MetricOptions": "constructs_obs.host.metric_options",
    "LogPatternAlarms": "constructs_obs.alarms.log_patterns",
    "ObservedEc2Host": "constructs_obs.host.instance",
    "PrometheusMetrics": "constructs_obs.host.prometheus.metrics",
    "PrometheusScrape": "constructs_obs.host.prometheus.scrape",
    "SavedQueries": "constructs_obs.views.queries",
    "al2023_at_launch": "constructs_obs.host.images",
    "count_billables": "constructs_obs.checks.free_tier",
    "docker_launch_template": "constructs_obs.fleet.launch_template",
}

__all__ = [
    "AlarmGraph",
    "BasicAlarms",
    "CachePerformance",
    "CloudWatchAgent",
    "ContainerLogGroups",
    "DataVolume",
    "DockerEventsLog",
    "FleetObservability",
    "FreeTierCheck",
    "HostDashboard",
    "HostObservability",
    "HostSetup",
    "IObservedHost",
    "LogPatternAlarms",
    "MetricOptions",
    "ObservedEc2Host",
    "PrometheusMetrics",
    "PrometheusScrape",
    "SavedQueries",
    "al2023_at_launch",
    "count_billables",
    "docker_launch_template",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_obs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
