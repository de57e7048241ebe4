"""Alarms on log patterns: nginx 5xx responses and backend (uvicorn/FastAPI) error lines.

The patterns match the formats the seed's containers really write:

- nginx's default ``combined`` access log, ``$remote_addr - $remote_user [$time_local] "$request" $status
  $body_bytes_sent "$http_referer" "$http_user_agent"``: :data:`NGINX_5XX_PATTERN` is a space-delimited
  pattern with one slot per field (the bracketed time and the quoted request, referer and user agent are one
  field each) and ``status_code = 5*``. nginx's error-log lines (``2026/11/27 10:15:32 [error] 29#29: ...``), which
  the nginx image also writes to the container's output, have another shape and are not counted: every
  upstream failure there also produces a 502/504 access-log line, which is.
- uvicorn/FastAPI output: uvicorn's ``ERROR:    Exception in ASGI application`` and ``CRITICAL:`` lines, Python
  ``logging`` at ERROR/CRITICAL in its default (``ERROR:app.db:...``), common (``... - ERROR - ...``) and
  gunicorn (``[ERROR]``) formats. :data:`BACKEND_ERROR_PATTERN` is a term pattern of those exact phrases
  (case-sensitive). Traceback lines are not counted: each follows an error line that already is, so an
  exception counts once. uvicorn's access line for a 500 (``"GET /x HTTP/1.1" 500 Internal Server Error``) is
  not counted either, for the same reason. Run uvicorn without colours (the default without a TTY, so no
  ``tty: true`` in the compose file): coloured level names do not match.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.alarms import BasicAlarms

#: Field names of nginx's default ``combined`` log format, in order.
NGINX_COMBINED_FIELDS: tuple[str, ...] = (
    "remote_addr",
    "ident",
    "remote_user",
    "time_local",
    "request",
    "status_code",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
)

#: nginx access-log lines (combined format) whose status is 5xx.
NGINX_5XX_PATTERN = (
    "[" + ", ".join(f"{f} = 5*" if f == "status_code" else f for f in NGINX_COMBINED_FIELDS) + "]"
)

#: Phrases that start an error in uvicorn/FastAPI output (see the module docstring).
BACKEND_ERROR_TERMS: tuple[str, ...] = (
    "ERROR:",
    "CRITICAL:",
    "- ERROR -",
    "- CRITICAL -",
    "[ERROR]",
    "[CRITICAL]",
)

#: Backend lines containing any of :data:`BACKEND_ERROR_TERMS`.
BACKEND_ERROR_PATTERN = " ".join(f'?"{term}"' for term in BACKEND_ERROR_TERMS)

NGINX_5XX_METRIC = "Nginx5xxResponses"
BACKEND_ERRORS_METRIC = "BackendErrorLines"

#: Defaults: a few 502s while a deploy restarts the backend are normal; five in five minutes are not.
DEFAULT_NGINX_5XX_THRESHOLD = 5
#: Sentry already reports each new exception; this alarm is for a burst of them.
DEFAULT_BACKEND_ERRORS_THRESHOLD = 5


class LogPatternAlarms(Construct):
    """Metric filters on container log groups and their alarms, added to a :class:`BasicAlarms`.

    - ``{name_prefix}-nginx-5xx``: at least ``nginx_5xx_threshold`` 5xx responses in the nginx access log in
      one period (default 5 in 5 minutes).
    - ``{name_prefix}-backend-errors``: at least ``backend_errors_threshold`` error lines in the backend's output
      in one period (default 5 in 5 minutes).

    Each filter publishes ``1`` per matching line to ``{namespace}/{metric}`` without dimensions and without a
    default value, so a quiet log publishes no data: missing data is *not breaching* (no error lines, no
    errors) and the alarm returns to OK, notifying the topic, once a period passes without errors. The alarms
    are created through ``alarms.add_alarm`` so they share its topic, naming and the dashboard's alarm list.

    Attributes:
        nginx_5xx: the nginx alarm, or None without an nginx container.
        backend_errors: the backend alarm, or None without a backend container.
        metric_filters: the metric filters, by metric name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarms: BasicAlarms,
        nginx_container: str | None = "nginx",
        backend_container: str | None = "backend",
        nginx_5xx_threshold: int = DEFAULT_NGINX_5XX_THRESHOLD,
        backend_errors_threshold: int = DEFAULT_BACKEND_ERRORS_THRESHOLD,
        period: Duration | None = None,
        namespace: str | None = None,
    ) -> None:
        """Create the metric filters and alarms.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            alarms: the host's alarms; their host's ``log_groups`` hold the containers' groups.
            nginx_container: the container writing nginx's access log; None for no nginx alarm.
            backend_container: the uvicorn/FastAPI container; None for no backend alarm.
            nginx_5xx_threshold: 5xx responses per period that raise the alarm. Default 5.
            backend_errors_threshold: error lines per period that raise the alarm. Default 5.
            period: the alarm period. Default: the same as ``alarms`` (5 minutes).
            namespace: namespace of the filters' metrics. Default: the host's metrics namespace.
        """
        super().__init__(scope, construct_id)
        for name, threshold in (
            ("nginx_5xx_threshold", nginx_5xx_threshold),
            ("backend_errors_threshold", backend_errors_threshold),
        ):
            if threshold < 1:
                raise ValueError(f"{name} must be at least 1, got {threshold}")
        self.alarms = alarms
        log_groups = alarms.host.log_groups
        namespace = namespace or alarms.host.agent.namespace
        period = period or alarms.period
        self.metric_filters: dict[str, logs.MetricFilter] = {}
        self.nginx_5xx: cloudwatch.Alarm | None = None
        self.backend_errors: cloudwatch.Alarm | None = None

        if nginx_container is not None:
            self.nginx_5xx = self._count_alarm(
                "Nginx5xx",
                "nginx-5xx",
                alarms,
                log_groups.log_group(nginx_container),
                NGINX_5XX_PATTERN,
                NGINX_5XX_METRIC,
                namespace,
                period,
                nginx_5xx_threshold,
                f"{nginx_5xx_threshold} or more 5xx responses in {period.to_minutes():g} minutes in "
                f"{log_groups.log_group_name(nginx_container)} (502/504: the backend is down or slow). "
                "See the nginx-5xx-by-path saved query.",
            )
        if backend_container is not None:
            self.backend_errors = self._count_alarm(
                "BackendErrors",
                "backend-errors",
                alarms,
                log_groups.log_group(backend_container),
                BACKEND_ERROR_PATTERN,
                BACKEND_ERRORS_METRIC,
                namespace,
                period,
                backend_errors_threshold,
                f"{backend_errors_threshold} or more ERROR/CRITICAL lines in {period.to_minutes():g} minutes "
                f"in {log_groups.log_group_name(backend_container)}. See the backend-errors saved query.",
            )

    def _count_alarm(
        self,
        construct_id: str,
        suffix: str,
        alarms: BasicAlarms,
        log_group: logs.ILogGroup,
        pattern: str,
        metric_name: str,
        namespace: str,
        period: Duration,
        threshold: float,
        description: str,
    ) -> cloudwatch.Alarm:
        """A metric filter counting ``pattern`` in ``log_group`` and ``{prefix}-{suffix}`` on its sum."""
        metric = self._filter(f"{construct_id}Filter", log_group, pattern, metric_name, namespace)
        return alarms.add_alarm(
            construct_id,
            suffix=suffix,
            metric=metric.metric(statistic=cloudwatch.Stats.SUM, period=period),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=description,
        )

    def _filter(
        self, construct_id: str, log_group: logs.ILogGroup, pattern: str, metric_name: str, namespace: str
    ) -> logs.MetricFilter:
        metric_filter = logs.MetricFilter(
            self,
            construct_id,
            log_group=log_group,
            filter_pattern=logs.FilterPattern.literal(pattern),
            metric_namespace=namespace,
            metric_name=metric_name,
            metric_value="1",
        )
        self.metric_filters[metric_name] = metric_filter
        return metric_filter
