"""One CloudWatch dashboard for a host: a graph per alarm and every alarm's state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import jsii
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct, IValidation, Node

from constructs_obs.alarms.notifier import AlarmGraph
from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_name
from constructs_obs.host.interface import IObservedHost
from constructs_obs.host.prometheus.cache import CachePerformance

#: The free tier covers 3 dashboards of up to 50 metrics each.
FREE_TIER_METRICS_PER_DASHBOARD = 50

GRAPH_WIDTH = 8
GRAPHS_PER_ROW = 24 // GRAPH_WIDTH


@runtime_checkable
class AlarmSource(Protocol):
    """What a dashboard shows alarms from: :class:`~constructs_obs.alarms.basic.BasicAlarms`,
    :class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`, or your own construct with ``graphs``."""

    @property
    def node(self) -> Node:
        """The construct's node."""
        ...

    @property
    def name_prefix(self) -> str:
        """The alarm names' prefix."""
        ...

    @property
    def graphs(self) -> list[AlarmGraph]:
        """The alarms, each with its graph."""
        ...


#: Graphs of a host's metrics for alarms that were left out (``BasicAlarms(leave_out=...)``), by the metric's
#: method: title, y-axis maximum.
HOST_GRAPHS: tuple[tuple[str, str, float | None], ...] = (
    ("metric_cpu_utilization", "CPU utilization (%)", 100),
    ("metric_memory_used_percent", "Memory used (%)", 100),
    ("metric_disk_used_percent", "Root disk used (%)", 100),
    ("metric_status_check_failed", "Status check failed", 1),
    ("metric_container_crashes", "Container crashes", None),
)


class HostDashboard(Construct):
    """A dashboard named ``dashboard_name`` (default: the first alarms' name prefix) for one host or service.

    One graph per alarm of ``alarms`` (each alarm carries its title and y-axis, :class:`AlarmGraph`), with the
    alarm's threshold line; then an alarm-status widget with every alarm's state. With BasicAlarms and LogPatternAlarms: CPU,
    status checks, memory, disk, container crashes, nginx 5xx and backend errors. With ``host``, the host's
    metrics that no alarm watches (a built-in alarm left out) get a plain graph, so the dashboard still shows
    them. Each graph shows one metric, so the dashboard stays far below the free tier's 50 metrics. With ``cache``,
    a row shows a cache's hit rate and estimated savings (metric math) and a note saying what they mean.

    Create it after every alarm: synth fails, naming them, if alarms were added to ``alarms`` later.

    Attributes:
        dashboard: the CloudWatch dashboard.
        metric_count: metrics shown on the dashboard.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarms: AlarmSource | Sequence[AlarmSource],
        host: IObservedHost | None = None,
        dashboard_name: str | None = None,
        default_interval: Duration | None = None,
        cache: CachePerformance | None = None,
    ) -> None:
        """Create the dashboard.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            alarms: the alarms to show: a :class:`~constructs_obs.alarms.basic.BasicAlarms` (which includes the
                log-pattern alarms added through it), a :class:`~constructs_obs.alarms.log_patterns.LogPatternAlarms`, or
                a list of them.
            host: the host whose metrics to graph when no alarm watches them. Default: none.
            dashboard_name: the dashboard's name: 1-255 letters, digits, ``-`` and ``_`` (CloudWatch's rule).
                Default the first alarms' ``name_prefix``.
            default_interval: time range shown when the dashboard opens. Default one day.
            cache: a cache's hit rate and estimated savings (:class:`~constructs_obs.host.prometheus.cache.CachePerformance`),
                shown as one row of graphs, figures over the time range and a note, before the alarms' states.
                Default: none.

        Raises:
            TypeError: ``alarms`` is not an alarm source (or a list of them), or ``host`` not an IObservedHost.
            ValueError: no alarms and no host, more graphs than a free-tier dashboard may show, or a dashboard
                name CloudWatch would reject.
        """
        sources = _sources(alarms)
        if dashboard_name is not None:
            check.dashboard_name("dashboard_name", dashboard_name)
        elif sources:
            check.dashboard_name(
                f"dashboard_name (default: the name_prefix of {sources[0].node.path})", sources[0].name_prefix
            )
        if host is not None:
            check.require_interface("host", host, "metric_container_crashes", "an IObservedHost")
        shown: list[AlarmGraph] = []
        for source in sources:
            for graph in source.graphs:
                if all(graph.alarm is not other.alarm for other in shown):
                    shown.append(graph)
        extra = self._host_graphs(host, shown) if host is not None else []
        if cache is not None:
            check.require_type("cache", cache, CachePerformance, "a CachePerformance")
        cache_lines = CachePerformance.METRIC_LINES if cache is not None else 0
        total = sum(max(1, len(g.lines)) for g in shown) + len(extra) + cache_lines
        if total > FREE_TIER_METRICS_PER_DASHBOARD:
            raise ValueError(
                f"alarms has {total} alarms and metrics; one graph each would exceed the "
                f"{FREE_TIER_METRICS_PER_DASHBOARD} metrics a free-tier dashboard may show"
            )
        if not sources and not extra and cache is None:
            raise ValueError("HostDashboard has nothing to show: give alarms= (or host=, or cache=)")
        super().__init__(scope, construct_id)
        graphs: list[cloudwatch.IWidget] = [_alarm_graph(g) for g in shown]
        graphs += extra
        rows: list[list[cloudwatch.IWidget]] = [
            graphs[i : i + GRAPHS_PER_ROW] for i in range(0, len(graphs), GRAPHS_PER_ROW)
        ]
        if cache is not None:
            cache_widgets = cache.widgets()
            rows.append(cache_widgets[:GRAPHS_PER_ROW])
            rows.append(cache_widgets[GRAPHS_PER_ROW:])
        if shown:
            rows.append(
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms",
                        alarms=[g.alarm for g in shown],
                        width=24,
                        height=max(3, 1 + (len(shown) + 3) // 4),
                        sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                    )
                ]
            )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name or (sources[0].name_prefix if sources else None),
            default_interval=default_interval or Duration.days(1),
            widgets=rows,
        )
        self.metric_count = total
        name = dashboard_name or (sources[0].name_prefix if sources else None)
        if name is not None:
            claim_name(self.dashboard, kind="dashboard", name=name, level="account")
        for source in sources:
            self.node.add_validation(_AllAlarmsShown(source, len(source.graphs)))

    @staticmethod
    def _host_graphs(host: IObservedHost, shown: Sequence[AlarmGraph]) -> list[cloudwatch.IWidget]:
        """Plain graphs of the host's metrics that no shown alarm watches."""
        watched = set()
        for graph in shown:
            metric = graph.alarm.metric
            if isinstance(metric, cloudwatch.Metric):
                watched.add((metric.namespace, metric.metric_name))
        widgets: list[cloudwatch.IWidget] = []
        for method, title, y_max in HOST_GRAPHS:
            metric = getattr(host, method)()
            if (metric.namespace, metric.metric_name) in watched:
                continue
            widgets.append(
                cloudwatch.GraphWidget(
                    title=title,
                    left=[metric],
                    left_y_axis=cloudwatch.YAxisProps(min=0, max=y_max),
                    width=GRAPH_WIDTH,
                )
            )
        return widgets


def _alarm_graph(graph: AlarmGraph) -> cloudwatch.IWidget:
    """The alarm's graph: its metric with the threshold line, or the lines it names (a metric-math alarm's
    metrics, e.g. a fleet's instances in service and desired)."""
    if graph.lines:
        return cloudwatch.GraphWidget(
            title=graph.title, left=list(graph.lines), left_y_axis=graph.left_y_axis, width=GRAPH_WIDTH
        )
    return cloudwatch.AlarmWidget(
        alarm=graph.alarm, title=graph.title, left_y_axis=graph.left_y_axis, width=GRAPH_WIDTH
    )


def _sources(alarms: object) -> list[AlarmSource]:
    items = list(alarms) if isinstance(alarms, (list, tuple)) else [alarms]
    for item in items:
        if not isinstance(item, AlarmSource):
            raise TypeError(
                "alarms must be a BasicAlarms, a LogPatternAlarms (anything with name_prefix and graphs) or a "
                f"list of them, got {type(item).__name__}: {item!r}"
            )
    return items  # type: ignore[return-value]


@jsii.implements(IValidation)
class _AllAlarmsShown:
    """Fails synth when alarms were added to a source after the dashboard was built."""

    def __init__(self, source: AlarmSource, count: int) -> None:
        self.source = source
        self.count = count

    def validate(self) -> list[str]:
        late = self.source.graphs[self.count :]
        if not late:
            return []
        return [
            f"alarms {[g.alarm.node.path for g in late]} were added to {self.source.node.path} after the "
            "dashboard was created and are not on it; create HostDashboard after every alarm"
        ]
