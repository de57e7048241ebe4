"""A cache's performance from two counters the host's CloudWatch agent publishes: :class:`CachePerformance`."""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs

from constructs_obs.checks import _validation as check
from constructs_obs.host.interface import IObservedHost
from constructs_obs.host.prometheus.metrics import PrometheusMetrics

#: The hit rate, percent, of a period: hits / (hits + misses). A period with neither (0/0) yields no point, not 0:
#: ``IF`` without a false value drops the point ("Using metric math", Amazon CloudWatch User Guide: "is an empty
#: time series ... if scalar3/metric3 is omitted"), and metric math drops a division by zero anyway.
HIT_RATE_EXPRESSION = "IF((hits + misses) > 0, 100 * hits / (hits + misses))"


def _prometheus_of(source: object) -> PrometheusMetrics:
    """The Prometheus metrics of ``source``: a host's (``host.prometheus``), or ``source`` itself."""
    if isinstance(source, PrometheusMetrics):
        return source
    check.require_interface(
        "source",
        source,
        "metric_container_crashes",
        "a host (ObservedEc2Host or HostObservability) with prometheus_scrapes, or its PrometheusMetrics",
    )
    prometheus = getattr(source, "prometheus", None)
    if not isinstance(prometheus, PrometheusMetrics):
        path = source.node.path  # type: ignore[attr-defined]
        raise ValueError(
            f"source {path} scrapes no Prometheus endpoint: give it prometheus_scrapes=[PrometheusScrape(...)] "
            "with the cache's counters"
        )
    return prometheus


def _money(value: float) -> str:
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return text or "0"


class CachePerformance:
    """A cache's performance from two counters the host's agent publishes: hits and misses.

    - :meth:`hit_rate`: ``hits / (hits + misses)`` per period, percent (:data:`HIT_RATE_EXPRESSION`); a period
      without traffic has no point.
    - :meth:`estimated_savings`: ``hits x saving_per_hit_usd`` per period: what the hits saved if each miss
      costs that much (an estimate the caller supplies, e.g. the price of the paid API call a hit avoids).
    - :meth:`widgets`: the two graphs, the two figures over the dashboard's time range, and a note saying what
      they mean (``HostDashboard(cache=...)`` shows them).
    - :meth:`breakdown_query`: a Logs Insights query over the EMF events: hits, misses, hit rate and savings per
      value of ``breakdown_label`` (``SavedQueries(cache=...)`` saves it), so per-item detail needs no per-item
      metric.

    For example, a response cache in front of a paid API: ``hits="cache_hits_total"``,
    ``misses="cache_misses_total"``, ``breakdown_label="route"``, ``saving_per_hit_usd=0.002``,
    ``title="Response cache"``.

    Attributes:
        source: the host's Prometheus metrics (``host.prometheus``).
        hits, misses: the counters' names.
        saving_per_hit_usd: what one hit saves, in USD.
        breakdown_label: the label the saved query breaks down by, or None.
        title: what the widgets call the cache.
    """

    def __init__(
        self,
        *,
        source: IObservedHost | PrometheusMetrics,
        hits: str,
        misses: str,
        saving_per_hit_usd: float,
        breakdown_label: str | None = None,
        title: str = "Cache",
    ) -> None:
        """Check the names against ``source``.

        Args:
            source: the host whose CloudWatch agent scrapes the counters (an
                :class:`~constructs_obs.host.interface.IObservedHost` with ``prometheus_scrapes``: an
                ``ObservedEc2Host`` or a ``HostObservability``), or its ``PrometheusMetrics``.
            hits: the name of the counter of hits, as kept by the scrape.
            misses: the name of the counter of misses, from the same scrape job.
            saving_per_hit_usd: what one hit saves, in USD (an estimate, e.g. the price of the call it avoids).
            breakdown_label: a label of the job to break the saved query down by. Default: none (no query).
            title: what the widgets call the cache. Default ``Cache``.

        Raises:
            TypeError: ``source`` is neither a host nor a :class:`PrometheusMetrics`, or a prop of the wrong type.
            ValueError: a host that scrapes no Prometheus endpoint; ``hits`` or ``misses`` not kept by ``source``,
                kept by different jobs, the same, or kept with dimensions; ``breakdown_label`` not a label of their
                job; a negative saving; an empty title.
        """
        source = _prometheus_of(source)
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
        check.require_type("title", title, str, "a short name like 'Response cache'")
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

        A cache's hit rate by item, from the EMF events: each event carries one scrape's increase of
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
        """``response-cache-hit-rate-by-route`` (title ``Response cache``, label ``route``): the saved query's name
        after its folder."""
        words = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "cache"
        return f"{words}-hit-rate-by-{self.breakdown_label}"
