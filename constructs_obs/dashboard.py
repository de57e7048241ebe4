"""One CloudWatch dashboard for the host: a graph per alarm and every alarm's state."""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct, IValidation

from constructs_obs.alarms import BasicAlarms

#: The free tier covers 3 dashboards of up to 50 metrics each.
FREE_TIER_METRICS_PER_DASHBOARD = 50

#: Graph titles and y-axes by the alarm's construct id; other alarms get their id as title.
GRAPHS: dict[str, tuple[str, cloudwatch.YAxisProps]] = {
    "CpuHigh": ("CPU utilization (%)", cloudwatch.YAxisProps(min=0, max=100)),
    "MemoryHigh": ("Memory used (%)", cloudwatch.YAxisProps(min=0, max=100)),
    "DiskHigh": ("Root disk used (%)", cloudwatch.YAxisProps(min=0, max=100)),
    "StatusCheck": ("Status check failed", cloudwatch.YAxisProps(min=0, max=1)),
    "Nginx5xx": ("nginx 5xx responses", cloudwatch.YAxisProps(min=0)),
    "BackendErrors": ("Backend error lines", cloudwatch.YAxisProps(min=0)),
    "ContainerCrash": ("Container crashes", cloudwatch.YAxisProps(min=0)),
}

GRAPH_WIDTH = 8
GRAPHS_PER_ROW = 24 // GRAPH_WIDTH


class HostDashboard(Construct):
    """A dashboard named ``dashboard_name`` (default: the alarms' name prefix) for one host.

    One graph per alarm of ``alarms`` (:attr:`BasicAlarms.alarms`, which includes the log-pattern alarms added
    through it): CPU, memory, disk, status checks, nginx 5xx, backend errors and container crashes for the
    staging stack, each with its alarm's threshold line; then an alarm-status widget with every alarm's state.
    Each graph shows one metric, so the dashboard stays far below the free tier's 50 metrics.

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
        alarms: BasicAlarms,
        dashboard_name: str | None = None,
        default_interval: Duration | None = None,
    ) -> None:
        """Create the dashboard.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            alarms: the alarms to show.
            dashboard_name: default ``alarms.name_prefix``.
            default_interval: time range shown when the dashboard opens. Default one day.
        """
        super().__init__(scope, construct_id)
        shown = list(alarms.alarms)
        if len(shown) > FREE_TIER_METRICS_PER_DASHBOARD:
            raise ValueError(
                f"alarms has {len(shown)} alarms; one graph each would exceed the "
                f"{FREE_TIER_METRICS_PER_DASHBOARD} metrics a free-tier dashboard may show"
            )
        graphs: list[cloudwatch.IWidget] = []
        for alarm in shown:
            title, axis = GRAPHS.get(alarm.node.id, (alarm.node.id, cloudwatch.YAxisProps(min=0)))
            graphs.append(
                cloudwatch.AlarmWidget(alarm=alarm, title=title, left_y_axis=axis, width=GRAPH_WIDTH)
            )
        rows: list[list[cloudwatch.IWidget]] = [
            graphs[i : i + GRAPHS_PER_ROW] for i in range(0, len(graphs), GRAPHS_PER_ROW)
        ]
        rows.append(
            [
                cloudwatch.AlarmStatusWidget(
                    title="Alarms",
                    alarms=shown,
                    width=24,
                    height=max(3, 1 + (len(shown) + 3) // 4),
                    sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
                )
            ]
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name or alarms.name_prefix,
            default_interval=default_interval or Duration.days(1),
            widgets=rows,
        )
        self.metric_count = len(graphs)
        self.node.add_validation(_AllAlarmsShown(alarms, len(shown)))


@jsii.implements(IValidation)
class _AllAlarmsShown:
    """Fails synth when alarms were added to the BasicAlarms after the dashboard was built."""

    def __init__(self, alarms: BasicAlarms, count: int) -> None:
        self.alarms = alarms
        self.count = count

    def validate(self) -> list[str]:
        late = self.alarms.alarms[self.count :]
        if not late:
            return []
        return [
            f"alarms {[a.node.path for a in late]} were added to {self.alarms.node.path} after the dashboard "
            "was created and are not on it; create HostDashboard after every alarm"
        ]
