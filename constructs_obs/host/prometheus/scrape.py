"""One Prometheus endpoint on the host and the metrics of it that reach CloudWatch: :class:`PrometheusScrape`.

Every field is validated when the scrape is made (``ValueError``/``TypeError`` naming the field, the value and what
is expected), and :func:`validate_scrapes` checks a host's scrapes together (unique job and metric names). What the
agent does with a scrape: see :mod:`constructs_obs.host.prometheus`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aws_cdk import Duration

from constructs_obs.checks import _validation as check
from constructs_obs.contract import DEFAULT_SCRAPE_INTERVAL_SECONDS, DISK_USED_PERCENT, MEMORY_USED_PERCENT
from constructs_obs.host.docker_events import CONTAINER_CRASHES_METRIC

#: The host's EMF log group is ``{log group prefix}/prometheus``.
PROMETHEUS_LOG_NAME = "prometheus"

#: The scrape interval when none is given (Prometheus's own default, and the agent documentation's).
DEFAULT_SCRAPE_INTERVAL = Duration.seconds(DEFAULT_SCRAPE_INTERVAL_SECONDS)
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

#: The label sets (distinct combinations of the application's labels, e.g. content items) assumed when none are
#: given.
DEFAULT_EXPECTED_LABEL_SETS = 50


@dataclass(frozen=True)
class PrometheusScrape:
    """One Prometheus endpoint on the host and the metrics of it that reach CloudWatch.

    Nothing here defaults to one application's values: the port, the metric names and the labels are the caller's
    (for example an API's ``cache_hits_total`` and ``cache_misses_total`` at ``:9000/metrics``, with label
    ``route``).

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
            ``("route",)``: what the saved queries may break down by and the ingestion estimate sizes.
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
