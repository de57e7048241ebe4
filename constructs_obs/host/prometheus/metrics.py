"""The Prometheus scraping of one host: :class:`PrometheusMetrics` (the agent's configuration for it, the EMF log
group, the role's write grant, the free-tier declarations)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_series
from constructs_obs.contract import LOG_INGESTION_METADATA_KEY, PrometheusFields
from constructs_obs.host.agent import AgentPrometheus
from constructs_obs.host.log_groups import DEFAULT_REMOVAL_POLICY, claimed_log_group
from constructs_obs.host.prometheus.agent_section import agent_section
from constructs_obs.host.prometheus.cost import event_bytes, monthly_ingestion_bytes, scrapes_per_month
from constructs_obs.host.prometheus.scrape import PrometheusScrape, validate_scrapes
from constructs_obs.host.prometheus.scrape_config import scrape_config_yaml

#: The actions the agent's EMF exporter calls on a log group that exists (``cwlog_client.go``).
EMF_WRITE_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")


class PrometheusMetrics(Construct):
    """The Prometheus scraping of one host: the agent's configuration for it, the EMF log group, the grants.

    - ``scrapes``: the endpoints (:class:`PrometheusScrape`). Their metric names must differ: without dimensions
      two jobs' metrics of one name would be one CloudWatch metric.
    - The log group ``log_group_name`` (retention and removal policy as given; kept by default) holds the EMF
      events: every kept sample with all its labels, one event per label set and scrape.
    - ``grantee`` (the host's role) may create streams in and write to that log group, and nothing else
      (:data:`EMF_WRITE_ACTIONS`); no ``logs:CreateLogGroup``.
    - The log group declares its estimated monthly ingestion (:func:`monthly_ingestion_bytes`) under
      :data:`~constructs_obs.contract.LOG_INGESTION_METADATA_KEY`; the metrics are declared by the agent
      (:attr:`agent_prometheus`), both for the free-tier check.
    - Each metric's series is claimed app-wide: a second host publishing the same name to the same namespace fails
      synth, as for the metric filters.

    Pass :attr:`agent_prometheus` to :class:`~constructs_obs.host.agent.CloudWatchAgent` (hosts do it for you with
    ``prometheus_scrapes=``).

    Attributes:
        scrapes: the endpoints.
        namespace: the metrics' namespace.
        log_group: the EMF log group.
        log_group_name: its name.
        write_grant: the grant of :data:`EMF_WRITE_ACTIONS` on the log group to ``grantee``.
        scrape_config: the scrape configuration file's text.
        agent_prometheus: what the agent is given (section, scrape configuration, declared metrics).
        monthly_ingestion_bytes: the estimated bytes the log group ingests a month.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        scrapes: Sequence[PrometheusScrape],
        namespace: str,
        grantee: iam.IGrantable,
        log_group_name: str,
        retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = DEFAULT_REMOVAL_POLICY,
        encryption_key: kms.IKey | None = None,
        instances: int = 1,
    ) -> None:
        """Create the log group and the grant; build the agent's configuration.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            scrapes: the endpoints to scrape (at least one; job and metric names unique).
            namespace: the namespace of the metrics (the host's).
            grantee: the host's role.
            log_group_name: the EMF log group's name.
            retention: how long the events are kept. Default one month.
            removal_policy: what happens to the log group when it leaves the stack. Default
                ``RETAIN_ON_UPDATE_OR_DELETE``: kept, except when the deploy that created it rolls back.
            encryption_key: a customer-managed KMS key for the log group. Default none.
            instances: how many instances scrape these endpoints at most (an Auto Scaling group's maximum): each
                writes its own events, so the ingestion estimate is that many times one host's. Default 1.

        Raises:
            TypeError: ``scrapes`` is not a list of :class:`PrometheusScrape`.
            ValueError: no scrapes, a job or metric name repeated across them, a namespace CloudWatch refuses.
        """
        validated = validate_scrapes("scrapes", scrapes)
        check.integer("instances", instances, minimum=1)
        if not validated:
            raise ValueError("scrapes must hold at least one PrometheusScrape")
        check.metrics_namespace("namespace", namespace)
        super().__init__(scope, construct_id)
        self.scrapes = validated
        self.namespace = namespace
        self.log_group_name = log_group_name
        self.log_group = claimed_log_group(
            self,
            "LogGroup",
            name=log_group_name,
            retention=retention,
            removal_policy=removal_policy,
            encryption_key=encryption_key,
            hint="each host needs its own Prometheus group: give each host its own ContainerLogGroups prefix",
        )
        self.write_grant = iam.Grant.add_to_principal(
            grantee=grantee, actions=list(EMF_WRITE_ACTIONS), resource_arns=[self.log_group.log_group_arn]
        )
        self.scrape_config = scrape_config_yaml(validated)
        self.monthly_ingestion_bytes = instances * sum(
            monthly_ingestion_bytes(s, namespace=namespace) for s in validated
        )
        per_instances = f" x {instances} instances" if instances > 1 else ""
        cfn_group = self.log_group.node.default_child
        assert isinstance(cfn_group, logs.CfnLogGroup)
        cfn_group.add_metadata(
            LOG_INGESTION_METADATA_KEY,
            {
                "BytesPerMonth": self.monthly_ingestion_bytes,
                "Basis": "; ".join(
                    f"job {s.job_name}: {s.expected_label_sets} label sets x {event_bytes(s, namespace=namespace)} "
                    f"bytes x {scrapes_per_month(s)} scrapes ({s.interval_seconds} s){per_instances}"
                    for s in validated
                ),
            },
        )
        declared: list[dict[str, Any]] = []
        for s in validated:
            for name in s.metrics:
                claim_series(
                    self.log_group,
                    namespace=namespace,
                    metric_name=name,
                    dimensions={label: f"${label}" for label in s.dimensions},
                )
                entry: dict[str, Any] = {
                    "Namespace": namespace,
                    "MetricName": name,
                    "Dimensions": list(s.dimensions),
                }
                if s.dimensions:
                    entry["PerDimensionValue"] = True
                declared.append(entry)
        self.agent_prometheus = AgentPrometheus(
            section=agent_section(validated, namespace=namespace, log_group_name=log_group_name),
            scrape_config=self.scrape_config,
            metrics=tuple(declared),
        )

    @property
    def metric_names(self) -> list[str]:
        """Every kept metric name, in the order given."""
        return [name for s in self.scrapes for name in s.metrics]

    def scrape_of(self, metric_name: str) -> PrometheusScrape:
        """The scrape that keeps ``metric_name`` (``KeyError`` naming the kept metrics otherwise)."""
        for s in self.scrapes:
            if metric_name in s.metrics:
                return s
        raise KeyError(f"{metric_name!r} is not a kept Prometheus metric; kept: {self.metric_names}")

    @property
    def loopback_ports(self) -> dict[str, list[int]]:
        """Compose service -> ports to publish on the host's loopback, for scrapes that name their container."""
        ports: dict[str, list[int]] = {}
        for s in self.scrapes:
            if s.container is not None and s.address == "127.0.0.1":
                ports.setdefault(s.container, []).append(s.port)
        return ports

    def describe(self) -> dict[str, Any]:
        """What the host metadata tells ``obs-doctor``: the log group and, per job, target, metrics, dimensions."""
        return {
            PrometheusFields.LOG_GROUP: self.log_group_name,
            PrometheusFields.JOBS: [
                {
                    PrometheusFields.JOB_NAME: s.job_name,
                    PrometheusFields.URL: s.url,
                    PrometheusFields.INTERVAL_SECONDS: s.interval_seconds,
                    PrometheusFields.METRICS: list(s.metrics),
                    PrometheusFields.DIMENSIONS: list(s.dimensions),
                }
                for s in self.scrapes
            ],
        }

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` write EMF events to the log group (and nothing else)."""
        return iam.Grant.add_to_principal(
            grantee=grantee, actions=list(EMF_WRITE_ACTIONS), resource_arns=[self.log_group.log_group_arn]
        )

    def metric(
        self,
        metric_name: str,
        *,
        period: Duration | None = None,
        statistic: str | None = None,
        dimensions_map: Mapping[str, str] | None = None,
    ) -> cloudwatch.Metric:
        """A kept metric. Default: ``Sum`` over 5 minutes, no dimensions (a counter's increase in the period).

        ``dimensions_map`` must name exactly the scrape's dimensions, when it keeps some.
        """
        scrape = self.scrape_of(metric_name)
        dims = dict(dimensions_map or {})
        if sorted(dims) != sorted(scrape.dimensions):
            raise ValueError(
                f"{metric_name} has dimensions {list(scrape.dimensions)}: give dimensions_map with exactly those, "
                f"got {sorted(dims)}"
            )
        return cloudwatch.Metric(
            namespace=self.namespace,
            metric_name=metric_name,
            dimensions_map=dims or None,
            statistic=statistic or cloudwatch.Stats.SUM,
            period=period or Duration.minutes(5),
        )
