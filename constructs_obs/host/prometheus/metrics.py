"""Prometheus metrics of an application on the host, scraped by the CloudWatch agent that already runs there.

No Prometheus server and no new container: the CloudWatch agent's ``prometheus`` input scrapes the endpoints of a
standard Prometheus scrape configuration and writes the metrics it selects to a CloudWatch log group in embedded
metric format (EMF); CloudWatch Logs turns those events into metrics. :class:`PrometheusScrape` describes one
endpoint and the metrics to keep; :class:`PrometheusMetrics` builds the scrape configuration, the agent's
``logs.metrics_collected.prometheus`` section, the log group, the host role's write grant and the free-tier
declarations; hosts take them as ``ObservedEc2Host(prometheus_scrapes=[...])``. :class:`CachePerformance` turns a
cache's hit and miss counters into a hit rate, an estimated saving, dashboard widgets and a per-label saved query.

What the agent does with a scrape, and what this module relies on (sources: the Amazon CloudWatch User Guide pages
"Set up and configure Prometheus metrics collection on Amazon EC2 instances" (CloudWatch-Agent-PrometheusEC2),
"Scraping additional Prometheus sources and importing those metrics" (ContainerInsights-Prometheus-Setup-configure)
and "Prometheus metric type conversion by the CloudWatch agent" (ContainerInsights-Prometheus-metrics-conversion);
the agent's source, aws/amazon-cloudwatch-agent at ab55b8daa204e95c42c0267ee5aa49ec3b3a7317, files named below;
its EMF exporter, amazon-contributing/opentelemetry-collector-contrib ``exporter/awsemfexporter``):

- **Counters arrive as per-scrape increases.** "The CloudWatch agent calculates a delta from the previous scrape and
  sends the delta value as the metric value in the log event. So the CloudWatch agent will start to produce one log
  event from the second scrape" (metrics-conversion page; ``plugins/inputs/prometheus/delta_calculator.go``). A
  counter that goes down (the application restarted) counts its new value as the increase. So the ``Sum`` of a
  counter's metric over any period is the number of events in that period, and a hit rate is
  ``hits / (hits + misses)`` over any period. Consequences: the first scrape of each series (each new label value,
  and every series after the agent restarts) is only a baseline, its count is not published; and the agent forgets
  a series' previous value 5 minutes after it last saw it (``CacheTTL`` in ``delta_calculator.go``,
  ``internal/mapWithExpiry``), so the scrape interval must stay below that (at most 4 minutes here).
- **Types come from the exposition's ``# TYPE`` lines**: the agent drops samples whose type it cannot find, and
  histograms (``plugins/inputs/prometheus/metrics_type_handler.go``, ``metrics_filter.go``). Counters, gauges and
  summaries are supported.
- **Only the selected metrics are scraped at all**: the scrape configuration's ``metric_relabel_configs`` keeps the
  configured names and drops every other sample before the agent sees it (the agent runs the Prometheus scrape
  library, ``plugins/inputs/prometheus/start.go``), so nothing else reaches the log group or CloudWatch.
- **One event per label set, one metric per name.** Samples with identical labels are merged into one log event
  (``plugins/inputs/prometheus/utils.go`` ``mergeMetrics``) carrying every label (``job``, ``instance``, the
  application's labels such as ``content_item_id``, ``prom_metric_type``, and the agent's ``host`` tag). The
  ``emf_processor`` ``metric_declaration`` selects the metrics (``metric_selectors``, anchored regular
  expressions) of the scrape job (``source_labels: ["job"]``) and names the dimensions: ``[[]]``, no dimension, by
  default, so each metric is one CloudWatch metric however many label values there are, and CloudWatch adds the
  events of one period together (use the ``Sum`` statistic). Labels not kept stay in the events, for Logs Insights.
  A dimension set naming a label that an event lacks is dropped for that event, and a metric with no dimension set
  left is not published (``metric_translator.go``, ``metric_declaration.go``).
- **The log group must exist**: with it in place the exporter calls only ``PutLogEvents`` and, for a missing
  stream, ``CreateLogStream`` (``internal/aws/cwlogs/cwlog_client.go``); the stream is named after the job. EMF
  metrics are created by CloudWatch Logs from the events, so they need no ``cloudwatch:PutMetricData`` (and its
  namespace condition does not apply to them): what bounds them is the agent's configuration and the role being
  able to write to this one log group only.

Memory: the scrape runs inside the agent process (``plugins/inputs/prometheus/prometheus.go`` starts the
Prometheus scrape manager as goroutines of the agent); there is no new process. AWS publishes no figure for one
static target; for a whole Kubernetes cluster's discovery and scraping AWS's own manifest requests 200 MiB and
limits the agent to 1000 MiB (aws-samples/amazon-cloudwatch-container-insights,
``k8s-deployment-manifest-templates/deployment-mode/service/cwagent-prometheus/prometheus-k8s.yaml``). One target
with a few series holds a few series in the scrape cache and the delta calculator; measure it on the host with
``systemctl show amazon-cloudwatch-agent -p MemoryCurrent`` before and after, and the memory alarm covers the host.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_series
from constructs_obs.checks.free_tier import LOG_INGESTION_METADATA_KEY
from constructs_obs.host.agent import (
    DISK_USED_PERCENT,
    MEMORY_USED_PERCENT,
    PROMETHEUS_CONFIG_PATH,
    AgentPrometheus,
)
from constructs_obs.host.docker_events import CONTAINER_CRASHES_METRIC
from constructs_obs.host.log_groups import claimed_log_group

#: The host's EMF log group is ``{log group prefix}/prometheus``.
PROMETHEUS_LOG_NAME = "prometheus"

#: The actions the agent's EMF exporter calls on a log group that exists (``cwlog_client.go``).
EMF_WRITE_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")

#: The scrape interval when none is given (Prometheus's own default, and the agent documentation's).
DEFAULT_SCRAPE_INTERVAL = Duration.minutes(1)
#: The agent forgets a series' previous value 5 minutes after it last saw it (``CacheTTL``); a longer interval
#: would publish no increase at all. 4 minutes leaves room for a late scrape.
MAX_SCRAPE_INTERVAL_SECONDS = 240
MIN_SCRAPE_INTERVAL_SECONDS = 10
#: Prometheus's default ``scrape_timeout``; never longer than the interval (Prometheus refuses that).
DEFAULT_SCRAPE_TIMEOUT_SECONDS = 10
#: Samples a scrape may keep after ``metric_relabel_configs``; Prometheus fails a scrape with more ("If more than
#: this number of samples are present after metric relabeling the entire scrape will be treated as failed",
#: Prometheus configuration reference, ``sample_limit``). It also bounds the log events of one scrape.
DEFAULT_SAMPLE_LIMIT = 1000

#: Prometheus metric and label names kept to ``[a-zA-Z_][a-zA-Z0-9_]*`` (no ``:``): they become JSON field names
#: read by Logs Insights and parts of regular expressions, where these need no quoting.
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: A scrape job name: also the log stream's name and a literal in the metric declaration's label matcher.
_JOB_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_-]{0,63}")
_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")

#: Units CloudWatch accepts for a metric (``MetricDatum`` ``Unit``).
METRIC_UNITS: frozenset[str] = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)

#: Names the host's other metrics use in the same namespace.
RESERVED_METRIC_NAMES: frozenset[str] = frozenset(
    {MEMORY_USED_PERCENT, DISK_USED_PERCENT, CONTAINER_CRASHES_METRIC}
)

# --- the ingestion estimate ------------------------------------------------------------------------------------

#: Seconds in the month the cost figures use (730 hours, as the AWS pricing calculator does).
SECONDS_PER_MONTH = 730 * 3600
#: What CloudWatch Logs counts per event besides its message when it sizes a ``PutLogEvents`` batch ("the sum of
#: all event messages in UTF-8, plus 26 bytes for each log event", CloudWatch Logs API reference, PutLogEvents).
#: Counted here as ingested bytes too, which can only overstate the bill.
PER_EVENT_OVERHEAD_BYTES = 26
#: Lengths assumed for values the template cannot know, in the estimate of an event's size: a label value (a UUID
#: is 36 characters), the agent's ``host`` tag (an EC2 private DNS name such as
#: ``ip-172-31-255-255.us-east-2.compute.internal`` is 44), and a metric value as the agent writes it.
ASSUMED_LABEL_VALUE_CHARS = 36
ASSUMED_HOSTNAME_CHARS = 48
ASSUMED_VALUE_CHARS = 8
#: The label sets (distinct combinations of the application's labels, e.g. content items) assumed when none are
#: given.
DEFAULT_EXPECTED_LABEL_SETS = 50


@dataclass(frozen=True)
class PrometheusScrape:
    """One Prometheus endpoint on the host and the metrics of it that reach CloudWatch.

    Nothing here defaults to one application's values: the port, the metric names and the labels are the caller's
    (the staging stack gives its backend's: port 9898, ``/metrics``, ``llm_cache_hits_total`` and
    ``llm_cache_misses_total`` with label ``content_item_id``).

    Attributes:
        job_name: the scrape job: the ``job`` label of every sample and the log stream's name. Letters, digits,
            ``_`` and ``-``, starting with a letter, at most 64.
        port: the TCP port the endpoint listens on, as reachable from the host (publish a container's port on
            the host's loopback: ``ContainerLogGroups.compose_override(loopback_ports=...)``).
        metrics: the sample names to keep, exactly as exposed (a counter's ``_total`` name). Nothing else is
            scraped or published.
        path: the HTTP path of the endpoint. Default ``/metrics``.
        address: where the agent connects. Default ``127.0.0.1``, the host's loopback.
        labels: the labels the endpoint puts on these metrics (besides ``job`` and ``instance``), e.g.
            ``("content_item_id",)``: what the saved queries may break down by and the ingestion estimate sizes.
        dimensions: labels to keep as CloudWatch dimensions. Default none: one metric per name, the label values
            added up. Each distinct value of a dimension is one more custom metric (billed beyond the free tier).
        units: CloudWatch unit per metric name (``Count``, ``Seconds``, ...). Default: none.
        interval: how often the agent scrapes. Default 1 minute; 10 seconds to 4 minutes (see the module
            docstring for why not longer).
        sample_limit: samples one scrape may keep (after the selection) before Prometheus fails the whole
            scrape. Default 1000.
        expected_label_sets: how many distinct label sets (e.g. content items) the endpoint exposes, for the log
            ingestion estimate the free-tier check counts. Default 50.
        container: the docker-compose service serving the endpoint, if any: its port is then published on the
            host's loopback by the compose override (:attr:`PrometheusMetrics.loopback_ports`).
    """

    job_name: str
    port: int
    metrics: tuple[str, ...]
    path: str = "/metrics"
    address: str = "127.0.0.1"
    labels: tuple[str, ...] = ()
    dimensions: tuple[str, ...] = ()
    units: Mapping[str, str] = field(default_factory=dict)
    interval: Duration | None = None
    sample_limit: int = DEFAULT_SAMPLE_LIMIT
    expected_label_sets: int = DEFAULT_EXPECTED_LABEL_SETS
    container: str | None = None

    def __post_init__(self) -> None:
        """Validate every field (``ValueError``/``TypeError`` naming it, the value and what is expected)."""
        check.require_type("job_name", self.job_name, str, "a scrape job name like 'backend'")
        if not _JOB_NAME.fullmatch(self.job_name):
            raise ValueError(
                "job_name must be 1-64 letters, digits, '_' and '-', starting with a letter (it is the job label, "
                f"the log stream's name and a literal in the agent's label matcher), got {self.job_name!r}"
            )
        check.integer("port", self.port, minimum=1, maximum=65_535)
        object.__setattr__(self, "metrics", _names("metrics", self.metrics, "metric"))
        if not self.metrics:
            raise ValueError(f"metrics must name at least one metric to keep, got {list(self.metrics)!r}")
        reserved = sorted(RESERVED_METRIC_NAMES.intersection(self.metrics))
        if reserved:
            raise ValueError(
                f"metrics {reserved} are names the host's own metrics use in the same namespace; rename them "
                "with the application's exposition"
            )
        check.require_type("path", self.path, str, "an HTTP path like '/metrics'")
        if not _PATH.fullmatch(self.path):
            raise ValueError(
                f"path must be an HTTP path starting with '/', like '/metrics', got {self.path!r}"
            )
        check.require_type("address", self.address, str, "a host name or IPv4 address like '127.0.0.1'")
        if not _HOST.fullmatch(self.address):
            raise ValueError(
                f"address must be a host name or IPv4 address like '127.0.0.1', got {self.address!r}"
            )
        object.__setattr__(self, "labels", _names("labels", self.labels, "label"))
        object.__setattr__(self, "dimensions", _names("dimensions", self.dimensions, "label"))
        known = {"job", "instance", *self.labels}
        unknown = [d for d in self.dimensions if d not in known]
        if unknown:
            raise ValueError(
                f"dimensions {unknown} are not labels of these metrics: name them in labels= too (the agent "
                f"publishes a metric only for events that carry every dimension), labels are {sorted(known)}"
            )
        if len(self.dimensions) > 9:
            raise ValueError(f"dimensions may name at most 9 labels (EMF), got {len(self.dimensions)}")
        if not isinstance(self.units, Mapping):
            raise TypeError(f"units must map metric names to CloudWatch units, got {self.units!r}")
        object.__setattr__(self, "units", dict(self.units))
        for name, unit in self.units.items():
            if name not in self.metrics:
                raise ValueError(f"units names {name!r}, which is not one of metrics {list(self.metrics)}")
            if unit not in METRIC_UNITS:
                raise ValueError(f"units[{name!r}] must be a CloudWatch unit such as 'Count', got {unit!r}")
        interval = self.interval or DEFAULT_SCRAPE_INTERVAL
        check.require_type("interval", interval, Duration, "a Duration")
        seconds = interval.to_seconds()
        if not MIN_SCRAPE_INTERVAL_SECONDS <= seconds <= MAX_SCRAPE_INTERVAL_SECONDS or seconds != int(
            seconds
        ):
            raise ValueError(
                f"interval must be whole seconds from {MIN_SCRAPE_INTERVAL_SECONDS} seconds to "
                f"{MAX_SCRAPE_INTERVAL_SECONDS // 60} minutes (the agent forgets a counter's previous value after "
                f"5 minutes and would publish no increase), got {seconds:g} seconds"
            )
        check.integer("sample_limit", self.sample_limit, minimum=len(self.metrics))
        check.integer("expected_label_sets", self.expected_label_sets, minimum=1)
        if self.container is not None:
            check.require_type("container", self.container, str, "a docker-compose service name")

    @property
    def interval_seconds(self) -> int:
        """The scrape interval in seconds."""
        return int((self.interval or DEFAULT_SCRAPE_INTERVAL).to_seconds())

    @property
    def timeout_seconds(self) -> int:
        """The scrape timeout: Prometheus's default 10 seconds, or the interval when that is shorter."""
        return min(DEFAULT_SCRAPE_TIMEOUT_SECONDS, self.interval_seconds)

    @property
    def target(self) -> str:
        """``address:port``, the scrape target (and the ``instance`` label)."""
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        """The URL the agent fetches."""
        return f"http://{self.target}{self.path}"

    @property
    def keep_regex(self) -> str:
        """The ``metric_relabel_configs`` regular expression (Prometheus anchors it) that keeps :attr:`metrics`."""
        return "|".join(self.metrics)

    @property
    def metric_selectors(self) -> list[str]:
        """The EMF ``metric_selectors``, one anchored regular expression per metric."""
        return [f"^{name}$" for name in self.metrics]

    @property
    def emf_dimensions(self) -> list[list[str]]:
        """The EMF dimension sets: ``[[]]`` (no dimension) or ``[[...dimensions]]``."""
        return [list(self.dimensions)]

    @property
    def scrapes_per_month(self) -> int:
        """Scrapes in a 730-hour month."""
        return SECONDS_PER_MONTH // self.interval_seconds


def _names(prop: str, values: Any, what: str) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{prop} must be a list of {what} names, got {values!r}")
    names = tuple(values)
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name.startswith("__"):
            raise ValueError(
                f"{prop} must hold Prometheus {what} names of letters, digits and '_' (not starting with a "
                f"digit or '__'), got {name!r}"
            )
    check.no_duplicates(prop, names)
    return names


# --- what the agent is given ----------------------------------------------------------------------------------


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML of dicts, lists, strings (double-quoted, JSON escapes) and ints."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, (Mapping, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _yaml(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            inner = _yaml(item, indent + 2)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines += inner[1:]
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no YAML scalar for {value!r} here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    raise TypeError(f"no YAML scalar for {value!r}")


def scrape_config_document(scrapes: Sequence[PrometheusScrape]) -> dict[str, Any]:
    """The Prometheus scrape configuration, as data: one ``scrape_configs`` job per scrape.

    Each job scrapes its one static target every ``interval`` with Prometheus's ``sample_limit`` and keeps only
    its metrics (``metric_relabel_configs`` ``keep`` on ``__name__``; Prometheus anchors the expression).
    """
    return {
        "scrape_configs": [
            {
                "job_name": s.job_name,
                "scrape_interval": f"{s.interval_seconds}s",
                "scrape_timeout": f"{s.timeout_seconds}s",
                "metrics_path": s.path,
                "scheme": "http",
                "sample_limit": s.sample_limit,
                "static_configs": [{"targets": [s.target]}],
                "metric_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": s.keep_regex, "action": "keep"}
                ],
            }
            for s in scrapes
        ]
    }


def scrape_config_yaml(scrapes: Sequence[PrometheusScrape]) -> str:
    """:func:`scrape_config_document` as the YAML file the agent reads (block style, strings double-quoted)."""
    header = [
        "# Written by constructs_obs: the CloudWatch agent's Prometheus scrape configuration",
        "# (logs.metrics_collected.prometheus.prometheus_config_path). Changes come from the stack.",
    ]
    return "\n".join([*header, *_yaml(scrape_config_document(scrapes))]) + "\n"


def agent_section(
    scrapes: Sequence[PrometheusScrape], *, namespace: str, log_group_name: str
) -> dict[str, Any]:
    """The agent's ``logs.metrics_collected.prometheus`` section for ``scrapes``.

    One ``metric_declaration`` per scrape: ``source_labels: ["job"]`` with ``label_matcher: "^<job>$"`` (the
    agent's translator drops a declaration without source labels), the metric selectors, the dimension sets.
    """
    units = {name: unit for s in scrapes for name, unit in s.units.items()}
    processor: dict[str, Any] = {
        "metric_namespace": namespace,
        "metric_declaration": [
            {
                "source_labels": ["job"],
                "label_matcher": f"^{s.job_name}$",
                "metric_selectors": s.metric_selectors,
                "dimensions": s.emf_dimensions,
            }
            for s in scrapes
        ],
    }
    if units:
        processor["metric_unit"] = units
    return {
        "log_group_name": log_group_name,
        "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
        "emf_processor": processor,
    }


def emf_event_example(
    scrape: PrometheusScrape,
    *,
    namespace: str,
    label_values: Mapping[str, str] | None = None,
    values: Mapping[str, float] | None = None,
    host: str | None = None,
    timestamp_ms: int = 1_700_000_000_000,
) -> str:
    """One log event as the agent's EMF exporter writes it for ``scrape`` (``Version`` 0, the agent's default).

    The fields are the labels (``job``, ``instance``, the application's, ``prom_metric_type``, the agent's
    ``host``), ``Version``, ``Timestamp``, ``CloudWatchMetrics``, then the metric values (``metric_translator.go``
    ``translateCWMetricToEMF``; Go's JSON encoder sorts the keys). Values not given take the assumed lengths of the
    estimate (:data:`ASSUMED_LABEL_VALUE_CHARS` and friends).
    """
    labels = dict.fromkeys(scrape.labels, "x" * ASSUMED_LABEL_VALUE_CHARS)
    labels.update(label_values or {})
    labels.update(
        {
            "job": scrape.job_name,
            "instance": scrape.target,
            "prom_metric_type": "counter",
            "host": host if host is not None else "h" * ASSUMED_HOSTNAME_CHARS,
        }
    )
    measurement = {
        "Namespace": namespace,
        "Dimensions": scrape.emf_dimensions,
        "Metrics": [
            {"Name": name, **({"Unit": scrape.units[name]} if name in scrape.units else {})}
            for name in scrape.metrics
        ],
    }
    fields: dict[str, Any] = dict(labels)
    fields.update({"Version": "0", "Timestamp": str(timestamp_ms), "CloudWatchMetrics": [measurement]})
    # Go writes a map's keys sorted and a struct's fields in declaration order (cWMeasurement: Namespace,
    # Dimensions, Metrics): only the top level is sorted here.
    head = ",".join(
        f"{json.dumps(key)}:{json.dumps(fields[key], separators=(',', ':'))}" for key in sorted(fields)
    )
    metrics = {
        name: (values or {}).get(name, float("1" * ASSUMED_VALUE_CHARS)) for name in sorted(scrape.metrics)
    }
    tail = ",".join(f"{json.dumps(name)}:{json.dumps(_go_number(value))}" for name, value in metrics.items())
    return "{" + head + "," + tail + "}"


def _go_number(value: float) -> int | float:
    """A float as Go's JSON encoder writes it: integral values without a fraction."""
    return int(value) if math.isfinite(value) and value == int(value) else value


def event_bytes(scrape: PrometheusScrape, *, namespace: str) -> int:
    """The estimated bytes of one event of ``scrape`` (every metric in it), plus the per-event overhead."""
    return len(emf_event_example(scrape, namespace=namespace).encode()) + PER_EVENT_OVERHEAD_BYTES


def monthly_ingestion_bytes(scrape: PrometheusScrape, *, namespace: str) -> int:
    """Estimated bytes a month: one event per label set per scrape (``expected_label_sets``), every scrape."""
    return event_bytes(scrape, namespace=namespace) * scrape.expected_label_sets * scrape.scrapes_per_month


class PrometheusMetrics(Construct):
    """The Prometheus scraping of one host: the agent's configuration for it, the EMF log group, the grants.

    - ``scrapes``: the endpoints (:class:`PrometheusScrape`). Their metric names must differ: without dimensions
      two jobs' metrics of one name would be one CloudWatch metric.
    - The log group ``log_group_name`` (retention and removal policy as given; kept by default) holds the EMF
      events: every kept sample with all its labels, one event per label set and scrape.
    - ``grantee`` (the host's role) may create streams in and write to that log group, and nothing else
      (:data:`EMF_WRITE_ACTIONS`); no ``logs:CreateLogGroup``.
    - The log group declares its estimated monthly ingestion (:func:`monthly_ingestion_bytes`) under
      :data:`~constructs_obs.checks.free_tier.LOG_INGESTION_METADATA_KEY`; the metrics are declared by the agent
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
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        encryption_key: kms.IKey | None = None,
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
            removal_policy: what happens to the log group when it leaves the stack. Default ``RETAIN``.
            encryption_key: a customer-managed KMS key for the log group. Default none.

        Raises:
            TypeError: ``scrapes`` is not a list of :class:`PrometheusScrape`.
            ValueError: no scrapes, a job or metric name repeated across them, a namespace CloudWatch refuses.
        """
        validated = validate_scrapes("scrapes", scrapes)
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
        self.monthly_ingestion_bytes = sum(monthly_ingestion_bytes(s, namespace=namespace) for s in validated)
        cfn_group = self.log_group.node.default_child
        assert isinstance(cfn_group, logs.CfnLogGroup)
        cfn_group.add_metadata(
            LOG_INGESTION_METADATA_KEY,
            {
                "BytesPerMonth": self.monthly_ingestion_bytes,
                "Basis": "; ".join(
                    f"job {s.job_name}: {s.expected_label_sets} label sets x {event_bytes(s, namespace=namespace)} "
                    f"bytes x {s.scrapes_per_month} scrapes ({s.interval_seconds} s)"
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
            "LogGroup": self.log_group_name,
            "Jobs": [
                {
                    "JobName": s.job_name,
                    "Url": s.url,
                    "IntervalSeconds": s.interval_seconds,
                    "Metrics": list(s.metrics),
                    "Dimensions": list(s.dimensions),
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


def validate_scrapes(
    prop: str, scrapes: Any, *, containers: Sequence[str] = ()
) -> tuple[PrometheusScrape, ...]:
    """``scrapes`` as a tuple, checked: each a :class:`PrometheusScrape`, job and metric names unique, and (with
    ``containers``, the host's container log groups) no container whose group would be the Prometheus one."""
    if isinstance(scrapes, (str, bytes)) or not isinstance(scrapes, Sequence):
        raise TypeError(f"{prop} must be a list of PrometheusScrape, got {scrapes!r}")
    items = tuple(scrapes)
    for item in items:
        check.require_type(prop, item, PrometheusScrape, "a list of PrometheusScrape")
    check.no_duplicates(f"{prop} job names", [s.job_name for s in items])
    names = [name for s in items for name in s.metrics]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(
            f"{prop} keep the metrics {repeated} in more than one job; in one namespace they would be one "
            "CloudWatch metric: keep each name in one job"
        )
    if items and PROMETHEUS_LOG_NAME in containers:
        raise ValueError(
            f"log_groups has a container named {PROMETHEUS_LOG_NAME!r}, whose log group the host needs for its "
            "Prometheus metrics; rename the container"
        )
    return items


# --- a cache's hit rate and savings ---------------------------------------------------------------------------

#: The hit rate, percent, of a period: hits / (hits + misses). A period with neither (0/0) yields no point, not 0:
#: ``IF`` without a false value drops the point ("Using metric math", Amazon CloudWatch User Guide: "is an empty
#: time series ... if scalar3/metric3 is omitted"), and metric math drops a division by zero anyway.
HIT_RATE_EXPRESSION = "IF((hits + misses) > 0, 100 * hits / (hits + misses))"


def _money(value: float) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


class CachePerformance:
    """A cache's performance from two counters the host's agent publishes: hits and misses.

    - :meth:`hit_rate`: ``hits / (hits + misses)`` per period, percent (:data:`HIT_RATE_EXPRESSION`); a period
      without traffic has no point.
    - :meth:`estimated_savings`: ``hits x saving_per_hit_usd`` per period: what the hits saved if each miss
      costs that much (an estimate the caller supplies, e.g. the price of one LLM call).
    - :meth:`widgets`: the two graphs, the two figures over the dashboard's time range, and a note saying what
      they mean (``HostDashboard(cache=...)`` shows them).
    - :meth:`breakdown_query`: a Logs Insights query over the EMF events: hits, misses, hit rate and savings per
      value of ``breakdown_label`` (``SavedQueries(cache=...)`` saves it), so per-item detail needs no per-item
      metric.

    For the seed's LLM response cache: ``hits="llm_cache_hits_total"``, ``misses="llm_cache_misses_total"``,
    ``breakdown_label="content_item_id"``, ``saving_per_hit_usd=0.01``, ``title="LLM cache"``.

    Attributes:
        source: the host's Prometheus metrics.
        hits, misses: the counters' names.
        saving_per_hit_usd: what one hit saves, in USD.
        breakdown_label: the label the saved query breaks down by, or None.
        title: what the widgets call the cache.
    """

    def __init__(
        self,
        *,
        source: PrometheusMetrics,
        hits: str,
        misses: str,
        saving_per_hit_usd: float,
        breakdown_label: str | None = None,
        title: str = "Cache",
    ) -> None:
        """Check the names against ``source``.

        Raises:
            TypeError: ``source`` is not a :class:`PrometheusMetrics`, or a prop of the wrong type.
            ValueError: ``hits`` or ``misses`` not kept by ``source``, kept by different jobs, the same, or kept
                with dimensions; ``breakdown_label`` not a label of their job; a negative saving; an empty title.
        """
        check.require_type(
            "source", source, PrometheusMetrics, "the host's PrometheusMetrics (host.prometheus)"
        )
        for prop, name in (("hits", hits), ("misses", misses)):
            check.require_type(prop, name, str, "a kept metric name")
            if name not in source.metric_names:
                raise ValueError(
                    f"{prop}={name!r} is not kept by {source.node.path}; kept: {source.metric_names}"
                )
        if hits == misses:
            raise ValueError(f"hits and misses must be two metrics, got {hits!r} twice")
        scrape = source.scrape_of(hits)
        if source.scrape_of(misses) is not scrape:
            raise ValueError(f"hits {hits!r} and misses {misses!r} must come from the same scrape job")
        if scrape.dimensions:
            raise ValueError(
                f"job {scrape.job_name} keeps dimensions {list(scrape.dimensions)}: the hit rate adds every label "
                "value together, so give the cache counters a job without dimensions"
            )
        if breakdown_label is not None and breakdown_label not in scrape.labels:
            raise ValueError(
                f"breakdown_label={breakdown_label!r} is not one of job {scrape.job_name}'s labels "
                f"{list(scrape.labels)}: add it to PrometheusScrape(labels=...)"
            )
        saving = check.number("saving_per_hit_usd", saving_per_hit_usd)
        if saving < 0:
            raise ValueError(f"saving_per_hit_usd must be 0 or more, got {saving_per_hit_usd!r}")
        check.require_type("title", title, str, "a short name like 'LLM cache'")
        if not title.strip():
            raise ValueError("title must not be empty")
        self.source = source
        self.hits = hits
        self.misses = misses
        self.saving_per_hit_usd = saving
        self.breakdown_label = breakdown_label
        self.title = title
        self.job_name = scrape.job_name

    @property
    def savings_expression(self) -> str:
        """``hits * <saving_per_hit_usd>``."""
        return f"hits * {_money(self.saving_per_hit_usd)}"

    def _inputs(self, period: Duration | None, *names: str) -> dict[str, cloudwatch.IMetric]:
        metrics = {"hits": self.hits, "misses": self.misses}
        return {key: self.source.metric(metrics[key], period=period) for key in names}

    def hit_rate(self, *, period: Duration | None = None) -> cloudwatch.MathExpression:
        """Hit rate per period, percent (:data:`HIT_RATE_EXPRESSION`). Default period 5 minutes."""
        return cloudwatch.MathExpression(
            expression=HIT_RATE_EXPRESSION,
            using_metrics=self._inputs(period, "hits", "misses"),
            label=f"{self.title} hit rate (%)",
            period=period or Duration.minutes(5),
        )

    def estimated_savings(self, *, period: Duration | None = None) -> cloudwatch.MathExpression:
        """Estimated savings per period, USD: hits x ``saving_per_hit_usd``. Default period 5 minutes."""
        return cloudwatch.MathExpression(
            expression=self.savings_expression,
            using_metrics=self._inputs(period, "hits"),
            label=f"Estimated savings (USD, ${_money(self.saving_per_hit_usd)} per hit)",
            period=period or Duration.minutes(5),
        )

    def note(self) -> str:
        """The text widget's Markdown: what the figures mean, and where the per-label breakdown is."""
        breakdown = (
            f" Per `{self.breakdown_label}`: the saved Logs Insights query `.../{self.query_slug}` over "
            f"`{self.source.log_group_name}`."
            if self.breakdown_label
            else ""
        )
        return (
            f"**{self.title}.** Hit rate = hits / (hits + misses) in each period, from the counters "
            f"`{self.hits}` and `{self.misses}` (job `{self.job_name}`): the CloudWatch agent publishes each "
            "counter's increase since its previous scrape, added up over every label value. A period without "
            "traffic has no point (not 0 %). Estimated savings = hits x "
            f"${_money(self.saving_per_hit_usd)}, the assumed cost of the call each hit avoids: an estimate, "
            f"not a bill.{breakdown}"
        )

    def widgets(self) -> list[cloudwatch.IWidget]:
        """Hit rate and savings graphs, both over the dashboard's time range, and the note (one row)."""
        return [
            cloudwatch.GraphWidget(
                title=f"{self.title} hit rate (%)",
                left=[self.hit_rate()],
                left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                width=8,
            ),
            cloudwatch.GraphWidget(
                title=f"{self.title} estimated savings (USD per 5 minutes)",
                left=[self.estimated_savings()],
                left_y_axis=cloudwatch.YAxisProps(min=0),
                width=8,
            ),
            cloudwatch.SingleValueWidget(
                title=f"{self.title} over the time range",
                metrics=[self.hit_rate(), self.estimated_savings()],
                set_period_to_time_range=True,
                width=8,
            ),
            cloudwatch.TextWidget(markdown=self.note(), width=24, height=3),
        ]

    #: Metric lines :meth:`widgets` puts on a dashboard (the hit-rate graph's two counters, the savings graph's
    #: one, the figures' two), for the free tier's 50 metrics per dashboard.
    METRIC_LINES = 5

    def breakdown_query(self) -> logs.QueryString:
        """Per ``breakdown_label`` value over the query's time range: hits, misses, hit rate, savings.

        The seed's "Cache Hit Rate by Topic", from the EMF events: each event carries one scrape's increase of
        each counter for one label value, so summing them per value gives that value's hits and misses in the
        time range. Events with no increase are skipped, so a value without traffic is not listed (no 0/0).
        """
        if self.breakdown_label is None:
            raise ValueError("breakdown_query needs a breakdown_label")
        label = self.breakdown_label
        saving = _money(self.saving_per_hit_usd)
        return logs.QueryString(
            fields=[f"coalesce({self.hits}, 0) as hits", f"coalesce({self.misses}, 0) as misses"],
            filter_statements=[f'job = "{self.job_name}" and ispresent({label}) and hits + misses > 0'],
            stats_statements=[
                "sum(hits) as cache_hits, sum(misses) as cache_misses, "
                "100 * sum(hits) / (sum(hits) + sum(misses)) as hit_rate_pct, "
                f"{saving} * sum(hits) as estimated_savings_usd by {label}"
            ],
            sort="hit_rate_pct desc",
            limit=1000,
        )

    @property
    def query_slug(self) -> str:
        """``llm-cache-hit-rate-by-content_item_id``: the saved query's name after its folder."""
        words = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "cache"
        return f"{words}-hit-rate-by-{self.breakdown_label}"
