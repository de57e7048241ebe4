"""The CloudWatch agent on an Amazon Linux 2023 host: memory and root-disk metrics, log files, least privilege.

The agent can also scrape Prometheus endpoints on the host (see :mod:`constructs_obs.host.prometheus`): its
``logs.metrics_collected.prometheus`` section and the scrape configuration file come in an
:class:`AgentPrometheus`, and the setup writes both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_cdk import CfnResource, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    AGENT_CONFIG_PATH as AGENT_CONFIG_PATH,
)
from constructs_obs.contract import (
    CUSTOM_METRICS_METADATA_KEY as CUSTOM_METRICS_METADATA_KEY,
)
from constructs_obs.contract import (
    DISK_USED_PERCENT as DISK_USED_PERCENT,
)
from constructs_obs.contract import (
    FLEET_DIMENSION,
)
from constructs_obs.contract import (
    MEMORY_USED_PERCENT as MEMORY_USED_PERCENT,
)
from constructs_obs.contract import (
    PROMETHEUS_CONFIG_PATH as PROMETHEUS_CONFIG_PATH,
)
from constructs_obs.host.metric_options import metric_options
from constructs_obs.host.setup import HostSetup, SetupStep

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.host.metric_options import MetricOptions

#: Namespace of the agent's metrics when :class:`CloudWatchAgent` is used alone and names none. A host gives
#: its agent a namespace of its own (see :func:`constructs_obs.host.observability.default_metrics_namespace`).
DEFAULT_METRICS_NAMESPACE = "ConstructsObs/Host"

AGENT_CTL = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
#: The heredoc delimiter around the configuration in the setup script (tests extract the file by it).
AGENT_CONFIG_HEREDOC = "CLOUDWATCH_AGENT_CONFIG"
#: The heredoc delimiter around the scrape configuration in the setup script.
PROMETHEUS_CONFIG_HEREDOC = "PROMETHEUS_SCRAPE_CONFIG"


@dataclass(frozen=True)
class AgentLogFile:
    """A file on the host that the agent ships to a CloudWatch log group (one stream per instance)."""

    file_path: str
    log_group_name: str
    log_stream_name: str = "{instance_id}"


@dataclass(frozen=True)
class AgentPrometheus:
    """What the agent needs to scrape Prometheus endpoints (built by :class:`constructs_obs.host.prometheus.metrics.PrometheusMetrics`).

    Attributes:
        section: the agent's ``logs.metrics_collected.prometheus`` section (``log_group_name``,
            ``prometheus_config_path``, ``emf_processor``).
        scrape_config: the text of the Prometheus scrape configuration written to ``prometheus_config_path``.
        metrics: the custom metrics it publishes, as declared under :data:`CUSTOM_METRICS_METADATA_KEY`
            (``Namespace``, ``MetricName``, ``Dimensions`` and, for dimensions taken from labels,
            ``PerDimensionValue``).
    """

    section: Mapping[str, Any]
    scrape_config: str
    metrics: tuple[Mapping[str, Any], ...] = field(default=())


def agent_config(
    *,
    namespace: str,
    log_files: Sequence[AgentLogFile] = (),
    collection_interval: Duration | None = None,
    prometheus: Mapping[str, Any] | None = None,
    fleet: bool = False,
) -> dict[str, Any]:
    """The agent's JSON configuration: memory and root-disk used percent, plus ``log_files``.

    Dimensions stay stable across AMIs and device names: every metric carries ``InstanceId`` (from instance
    metadata) and nothing else. Memory has no other dimension. The root disk is selected by mount path ``/``;
    its device, path and filesystem-type dimensions are rolled up into an ``InstanceId``-only aggregate and the
    original per-device series is dropped (``drop_original_metrics``), so ``nvme0n1p1`` vs ``xvda1`` or ``xfs``
    vs ``ext4`` never change the metric an alarm watches. Memory keeps its original series: its only dimension
    is already ``InstanceId``, and the agent publishes no roll-up identical to the original, so dropping the
    original would publish nothing. The agent runs as the unprivileged ``cwagent`` user its package creates.

    ``prometheus``: the ``logs.metrics_collected.prometheus`` section (see :class:`AgentPrometheus`), for the
    agent to scrape Prometheus endpoints and write what it selects as embedded metric format to a log group.

    ``fleet``: the instances of an Auto Scaling group publish one series per metric for the whole group, dimension
    ``AutoScalingGroupName`` only, however many instances run. Each instance appends ``InstanceId`` and
    ``AutoScalingGroupName`` (the agent reads the group's name from the instance's ``aws:autoscaling:groupName``
    tag with ``ec2:DescribeTags``), rolls both metrics up to ``AutoScalingGroupName`` and drops the originals, so
    no per-instance series is published and CloudWatch's statistics of the one series are across the instances
    (``Maximum``: the worst instance). Memory's original can be dropped here: it has two dimensions, so the
    roll-up to one differs from it. Checked against the agent's source at ab55b8d (1.300071.0 and 9 commits):
    ``plugins/processors/ec2tagger`` (the dimensions appended, the ``host`` dimension removed),
    ``processor/rollupprocessor`` (a roll-up group only when it has fewer dimensions than the original, the
    originals of ``drop_original`` dropped; in this form since 1.300048.0) and
    ``translator/translate/otel/common/metrics.go`` (``drop_original_metrics`` names); tests/agent_rollup.py
    transcribes them.
    """
    interval = int((collection_interval or Duration.minutes(1)).to_seconds())
    dimension = FLEET_DIMENSION if fleet else "InstanceId"
    appended = {"InstanceId": "${aws:InstanceId}"}
    if fleet:
        appended[FLEET_DIMENSION] = "${aws:" + FLEET_DIMENSION + "}"
    mem: dict[str, Any] = {"measurement": [MEMORY_USED_PERCENT]}
    if fleet:
        mem["drop_original_metrics"] = [MEMORY_USED_PERCENT]
    config: dict[str, Any] = {
        "agent": {"metrics_collection_interval": interval, "run_as_user": "cwagent"},
        "metrics": {
            "namespace": namespace,
            "append_dimensions": appended,
            "aggregation_dimensions": [[dimension]],
            "metrics_collected": {
                "mem": mem,
                "disk": {
                    "measurement": ["used_percent"],
                    "resources": ["/"],
                    "drop_device": True,
                    "drop_original_metrics": [DISK_USED_PERCENT],
                },
            },
        },
    }
    if log_files:
        config["logs"] = {
            "logs_collected": {
                "files": {
                    "collect_list": [
                        {
                            "file_path": f.file_path,
                            "log_group_name": f.log_group_name,
                            "log_stream_name": f.log_stream_name,
                            "timezone": "UTC",
                        }
                        for f in log_files
                    ]
                }
            }
        }
    if prometheus is not None:
        config.setdefault("logs", {})["metrics_collected"] = {"prometheus": dict(prometheus)}
    return config


def agent_setup_steps(config: dict[str, Any], prometheus_scrape_config: str | None = None) -> list[SetupStep]:
    """The setup: the agent from the Amazon Linux 2023 repositories, its configuration file, then (re)start it.

    The configuration file steps are portable (files only). With ``prometheus_scrape_config``, a step before the
    agent's configuration writes it to :data:`PROMETHEUS_CONFIG_PATH` (mode 0644: the agent runs as ``cwagent``).
    ``fetch-config -s`` validates the configuration, translates it and (re)starts the agent, which then reads the
    scrape configuration afresh; ``systemctl enable`` makes systemd start it again after every reboot; the step
    fails unless the agent then reports ``running``. The SHA-256 of each file is printed, so the association's
    output tells which configuration the host has.

    The agent does not check the scrape configuration when it starts: a scrape configuration the Prometheus
    library refuses only stops the scraping (plugins/inputs/prometheus/start.go logs the error) while the agent
    keeps ``running``, so the library validates what it writes (:mod:`constructs_obs.host.prometheus`).
    """
    text = json.dumps(config, indent=2, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    steps = [
        SetupStep(
            name="cloudwatch-agent package",
            commands=("dnf install -y amazon-cloudwatch-agent",),
            portable=False,
        ),
    ]
    if prometheus_scrape_config is not None:
        scrape = prometheus_scrape_config.rstrip("\n")
        scrape_digest = hashlib.sha256((scrape + "\n").encode()).hexdigest()
        steps.append(
            SetupStep(
                name="cloudwatch-agent prometheus scrape configuration",
                commands=(
                    f"install -d -m 755 {PROMETHEUS_CONFIG_PATH.rsplit('/', 1)[0]}",
                    f"cat > {PROMETHEUS_CONFIG_PATH} <<'{PROMETHEUS_CONFIG_HEREDOC}'\n{scrape}\n"
                    f"{PROMETHEUS_CONFIG_HEREDOC}",
                    f"chmod 0644 {PROMETHEUS_CONFIG_PATH}",
                    f"echo 'prometheus scrape configuration sha256 {scrape_digest}'",
                ),
            )
        )
    return [
        *steps,
        SetupStep(
            name="cloudwatch-agent configuration",
            commands=(
                f"install -d -m 755 {AGENT_CONFIG_PATH.rsplit('/', 1)[0]}",
                f"cat > {AGENT_CONFIG_PATH} <<'{AGENT_CONFIG_HEREDOC}'\n{text}\n{AGENT_CONFIG_HEREDOC}",
                f"echo 'cloudwatch-agent configuration sha256 {digest}'",
            ),
        ),
        SetupStep(
            name="cloudwatch-agent start",
            commands=(
                f"{AGENT_CTL} -a fetch-config -m ec2 -s -c file:{AGENT_CONFIG_PATH}",
                "systemctl enable amazon-cloudwatch-agent",
                f'{AGENT_CTL} -a status | grep -q \'"status": "running"\' '
                "|| { echo 'amazon-cloudwatch-agent is not running' >&2; exit 1; }",
            ),
            portable=False,
        ),
    ]


class CloudWatchAgent(Construct):
    """Installs and configures the CloudWatch agent on an instance and lets it publish to its namespace only.

    - The agent publishes ``mem_used_percent`` and ``disk_used_percent`` (root filesystem), dimension
      ``InstanceId`` only (see :func:`agent_config`), every ``collection_interval``. With
      ``auto_scaling_group_name``, every instance of the group publishes into one series per metric, dimension
      ``AutoScalingGroupName`` only, and ``grantee`` may also call ``ec2:DescribeTags``, which the agent needs to
      read the group's name from its instance's tags.
    - ``grantee`` (the instance's role) gets ``cloudwatch:PutMetricData`` with the condition
      ``cloudwatch:namespace`` equal to ``namespace`` (the action has no resource-level permissions, so the
      resource is ``*`` and the condition is what limits it). No AWS-managed policy. Writing ``log_files`` needs
      the owning log groups' grants.
    - ``declare_metrics_on`` (default: the setup's association) declares the two metrics under the resource
      metadata key :data:`CUSTOM_METRICS_METADATA_KEY`, so the free-tier check counts them, once per host.
    - With ``prometheus`` (:class:`AgentPrometheus`), the agent also scrapes the Prometheus endpoints of the scrape
      configuration and writes the selected metrics to a log group in embedded metric format; their metrics are
      declared with the agent's. CloudWatch Logs, not the agent, turns those events into metrics, so they need no
      ``cloudwatch:PutMetricData``: the log group's own write grant covers them.

    Attributes:
        namespace: the metrics namespace.
        config: the agent's JSON configuration, as written to the host.
        prometheus: the Prometheus scraping it was given, or None.
        instance_id: the instance the agent runs on (None for a group's agents).
        auto_scaling_group_name: the group whose instances the agent runs on (None for one instance's agent).
        put_metric_data_grant: the grant of ``cloudwatch:PutMetricData`` to ``grantee``.
        describe_tags_grant: with ``auto_scaling_group_name``, the grant of ``ec2:DescribeTags``; else None.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance_id: str | None = None,
        grantee: iam.IGrantable,
        setup: HostSetup,
        namespace: str = DEFAULT_METRICS_NAMESPACE,
        log_files: Sequence[AgentLogFile] = (),
        collection_interval: Duration | None = None,
        declare_metrics_on: CfnResource | None = None,
        prometheus: AgentPrometheus | None = None,
        auto_scaling_group_name: str | None = None,
    ) -> None:
        """Add the agent to the host's setup and ``grantee``'s policy.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            instance_id: the Amazon Linux 2023 instance to run the agent on.
            grantee: the instance's role (may publish into ``namespace`` only).
            setup: the host's setup association, which installs, configures and starts the agent.
            namespace: CloudWatch namespace of the metrics (must not start with ``AWS/``).
            log_files: files on the host to ship to CloudWatch Logs.
            collection_interval: how often the agent samples. Default 1 minute (standard resolution).
            declare_metrics_on: the resource whose metadata declares the agent's metrics for the free-tier
                check. Default: the setup's association.
            prometheus: the Prometheus endpoints to scrape (see :mod:`constructs_obs.host.prometheus`). Default: none.
            auto_scaling_group_name: instead of ``instance_id``, the Auto Scaling group whose instances run the
                agent: one series per metric for the whole group (see :func:`agent_config`).

        Raises:
            ValueError: neither or both of ``instance_id`` and ``auto_scaling_group_name``, or a namespace
                CloudWatch would reject (or one of ``AWS/``).
        """
        if (instance_id is None) == (auto_scaling_group_name is None):
            raise ValueError(
                "CloudWatchAgent runs on one instance (instance_id=) or on the instances of an Auto Scaling group "
                f"(auto_scaling_group_name=), got instance_id={instance_id!r} and "
                f"auto_scaling_group_name={auto_scaling_group_name!r}"
            )
        check.metrics_namespace("namespace", namespace)
        if prometheus is not None:
            check.require_type("prometheus", prometheus, AgentPrometheus, "an AgentPrometheus")
        super().__init__(scope, construct_id)
        self.namespace = namespace
        self.instance_id = instance_id
        self.auto_scaling_group_name = auto_scaling_group_name
        self.prometheus = prometheus
        fleet = auto_scaling_group_name is not None
        self._dimensions = (
            {FLEET_DIMENSION: auto_scaling_group_name} if fleet else {"InstanceId": str(instance_id)}
        )
        self.config = agent_config(
            namespace=namespace,
            log_files=log_files,
            collection_interval=collection_interval,
            prometheus=prometheus.section if prometheus is not None else None,
            fleet=fleet,
        )
        self.put_metric_data_grant = self.grant_put_metric_data(grantee)
        # The agent reads the group's name from its instance's aws:autoscaling:groupName tag (ec2tagger,
        # ec2:DescribeTags, which supports no resource-level permissions); without it the agent publishes nothing.
        self.describe_tags_grant = (
            iam.Grant.add_to_principal(grantee=grantee, actions=["ec2:DescribeTags"], resource_arns=["*"])
            if fleet
            else None
        )
        for step in agent_setup_steps(
            self.config, prometheus.scrape_config if prometheus is not None else None
        ):
            setup.add_step(step)
        (declare_metrics_on or setup.association).add_metadata(
            CUSTOM_METRICS_METADATA_KEY,
            [
                *(
                    {"Namespace": namespace, "MetricName": name, "Dimensions": list(self._dimensions)}
                    for name in (MEMORY_USED_PERCENT, DISK_USED_PERCENT)
                ),
                *(dict(metric) for metric in (prometheus.metrics if prometheus is not None else ())),
            ],
        )

    def grant_put_metric_data(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish metrics into this agent's namespace and no other."""
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["cloudwatch:PutMetricData"],
            resource_arns=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
        )

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """An agent metric of this instance (dimension ``InstanceId``), or of the group's instances (dimension
        ``AutoScalingGroupName``). Default: average over 5 minutes."""
        return self._metric(metric_name, cloudwatch.Stats.AVERAGE, options)

    def _metric(self, metric_name: str, statistic: str, options: MetricOptions) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=metric_name,
            **metric_options(options, statistic=statistic, dimensions_map=dict(self._dimensions)),
        )

    def metric_memory_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Memory in use (not counting buffers and page cache), percent of total. Default: average over 5
        minutes; for a group's agents, maximum (the fullest instance)."""
        statistic = cloudwatch.Stats.MAXIMUM if self.auto_scaling_group_name else cloudwatch.Stats.AVERAGE
        return self._metric(MEMORY_USED_PERCENT, statistic, options)

    def metric_disk_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Root filesystem space in use, percent. Default: maximum over 5 minutes."""
        return self._metric(DISK_USED_PERCENT, cloudwatch.Stats.MAXIMUM, options)
