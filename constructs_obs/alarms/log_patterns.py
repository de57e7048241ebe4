"""Alarms on log patterns: nginx 5xx responses and backend (uvicorn/FastAPI) error lines.

Each output line of a container is one CloudWatch event (Docker's awslogs driver ships one event per line). The
patterns were checked on lines that real nginx and uvicorn/FastAPI wrote (``tests/test_real_log_lines.py``).

**nginx** (:data:`NGINX_5XX_PATTERN`): access-log lines whose status is 5xx, in nginx's built-in ``combined``
format, ``$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer"
"$http_user_agent"`` (9 fields), in the official Docker image's ``main`` format, which adds
``"$http_x_forwarded_for"`` (10 fields; nginxinc/docker-nginx's ``nginx.conf``), and in any format that starts
with the ``combined`` fields and adds more at the end. The pattern is space-delimited (the bracketed time and
each quoted string are one field) and ends with ``...``: a pattern with a fixed number of slots matches only
lines with exactly that many fields, so the former nine-slot pattern never matched the official image's lines.
Formats that change the first nine fields are not supported.

The trailing ``...`` alone would let a client forge 5xx lines: ``$remote_user`` is the user name of any
``Authorization: Basic`` header (nginx decodes it without ``auth_basic`` configured) and is logged unquoted,
spaces included, so the user name ``a b c 500`` puts ``500`` in the sixth field of a 200 line. Two conditions
pin the fields to their places: ``time_local = *:*`` (a Basic user name cannot contain ``:``, the time always
does) and ``request = *HTTP/*`` (so the field after the time is the request line). Quotes in the request,
referer and user agent are logged as ``\x22``, so those fields cannot be broken out of. HTTP/0.9 requests (no
version in the request line) are not counted. nginx's error-log lines (``2026/11/27 10:15:32 [error] 29#29:
...``), which the image also writes to the container's output, have another shape and are not counted: every
upstream failure there also produces a 502/504 access-log line, which is.

**Backend** (:data:`BACKEND_ERROR_PATTERN`): lines the server itself writes at ERROR or CRITICAL level, and only
those: a CloudWatch regular-expression pattern (``%...%``, the documented subset, see
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html) whose alternatives are anchored
at the start of the line (``^``). Request text can never put the level there, so ``GET /search?q=ERROR:`` (whose
uvicorn access line contains ``ERROR:``, the query string unencoded) counts nothing; the former term pattern,
which counted any line *containing* ``ERROR:``, ``- ERROR -`` or ``[ERROR]``, let anyone on the internet page
the team with five such requests. Supported formats, each with the level in a fixed place at the start:

- uvicorn's own lines, ``ERROR:    Exception in ASGI application`` (one per unhandled exception) and
  ``CRITICAL: ...``, and Python ``logging``'s default format (``logging.basicConfig()``),
  ``ERROR:app.db:message``: the line starts with ``ERROR:`` or ``CRITICAL:``;
- the common ``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` format, ``2026-11-27 10:15:32,123 -
  app.db - ERROR - ...``: the level is the third part, after a timestamp and a logger name without spaces;
- gunicorn's error log (``gunicorn -k uvicorn.workers.UvicornWorker`` logs uvicorn's errors through it),
  ``[2026-11-27 10:15:32 +0000] [1] [ERROR] ...``: gunicorn's ``error_fmt`` and ``datefmt``.

Not counted: traceback lines (each follows an error line that already is, so an exception counts once),
uvicorn's access line of a 500 (``"GET /x HTTP/1.1" 500 Internal Server Error``; the exception's ERROR line is
counted), lines where ERROR appears anywhere but in the level's place, logging without a handler (Python's
last-resort handler prints the bare message, with no level: configure logging), and coloured output (run
uvicorn without a TTY, so no ``tty: true`` in the compose file: coloured level names do not match).

What no line-based pattern can tell apart: an app that logs client text containing a newline (``logger.info(
"search for %s", q)`` with ``q`` = ``x%0AERROR: forged``) writes a second line that starts with ``ERROR:``. Log
client text with ``%r`` (newlines escaped) or strip newlines. CloudWatch allows at most 5 filter patterns
containing a regular expression per log group; this construct puts one on the backend's group.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs.alarms.basic import BasicAlarms
from constructs_obs.alarms.notifier import AlarmGraph, AlarmNotifier, allow_cloudwatch_to_publish
from constructs_obs.alarms.recovery import recovery_rule
from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_series
from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    NGINX_5XX_CONDITIONS as NGINX_5XX_CONDITIONS,
)
from constructs_obs.contract import (
    NGINX_COMBINED_FIELDS as NGINX_COMBINED_FIELDS,
)
from constructs_obs.host.observability import default_metrics_namespace

#: Field names of the official nginx Docker image's ``main`` log format: ``combined`` plus X-Forwarded-For.
NGINX_MAIN_FIELDS: tuple[str, ...] = (*NGINX_COMBINED_FIELDS, "http_x_forwarded_for")


#: nginx access-log lines whose status is 5xx: the ``combined`` fields, then ``...`` for ``main`` and longer
#: formats.
NGINX_5XX_PATTERN = (
    "["
    + ", ".join(
        f"{f} = {NGINX_5XX_CONDITIONS[f]}" if f in NGINX_5XX_CONDITIONS else f for f in NGINX_COMBINED_FIELDS
    )
    + ", ...]"
)

_LOGGING_ASCTIME = r"\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d,\d{3}"
_GUNICORN_DATE = r"\[\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d\s\S+\]"

#: One regular expression per level and supported format (see the module docstring), each anchored at the start
#: of the line. Written in the subset CloudWatch documents (no parentheses, so one alternative per level; ``\s``
#: for a space), which is also valid in Logs Insights' ``/.../`` and Python's ``re``.
BACKEND_ERROR_REGEXES: tuple[str, ...] = tuple(
    alternative
    for level in ("ERROR", "CRITICAL")
    for alternative in (
        rf"^{level}:",
        rf"^{_LOGGING_ASCTIME}\s-\s\S+\s-\s{level}\s-",
        rf"^{_GUNICORN_DATE}\s\[\d+\]\s\[{level}\]",
    )
)

#: The alternatives of :data:`BACKEND_ERROR_REGEXES` as one regular expression.
BACKEND_ERROR_REGEX = "|".join(BACKEND_ERROR_REGEXES)

#: Backend lines written at ERROR or CRITICAL level: :data:`BACKEND_ERROR_REGEX` as a CloudWatch regex pattern.
BACKEND_ERROR_PATTERN = f"%{BACKEND_ERROR_REGEX}%"

#: The phrases the former term pattern counted anywhere in a line. No longer the alarm's pattern (client text
NGINX_5XX_METRIC = "Nginx5xxResponses"
BACKEND_ERRORS_METRIC = "BackendErrorLines"

#: The alarms look at 1-minute counts (metric-filter metrics have 1-minute data; a 60-second standard-resolution
#: alarm costs the same as a 300-second one) and fire when at least ``threshold`` lines a minute are counted in
#: ``datapoints_to_alarm`` of the last ``evaluation_periods`` minutes: by default 1 or more in 3 of the last 5
#: minutes, so the alarm fires 3 minutes into a lasting failure, while one minute of 502s as a deploy restarts
#: the backend (normal) does not page anyone.
DEFAULT_LOG_ALARM_PERIOD = Duration.minutes(1)
DEFAULT_NGINX_5XX_THRESHOLD = 1
#: One error line a minute, in 3 of 5 minutes: errors that keep coming, not a single exception.
DEFAULT_BACKEND_ERRORS_THRESHOLD = 1
DEFAULT_DATAPOINTS_TO_ALARM = 3
DEFAULT_EVALUATION_PERIODS = 5

#: The alarms, by the name ``runbook`` takes (also their alarm-name suffix).
NGINX_5XX = "nginx-5xx"
BACKEND_ERRORS = "backend-errors"
#: What each alarm's notification advises after what happened, unless ``runbook`` says otherwise.
LOG_ALARM_ADVICE = {
    NGINX_5XX: "See the nginx-5xx-by-path saved query.",
    BACKEND_ERRORS: "See the backend-errors saved query; each error's traceback follows its line in the log stream.",
}


class LogPatternAlarms(Construct):
    """Metric filters on nginx's and the backend's log groups, and their alarms.

    - ``{name_prefix}-nginx-5xx``: at least ``nginx_5xx_threshold`` 5xx responses a minute in the nginx access
      log, in ``datapoints_to_alarm`` of the last ``evaluation_periods`` minutes (default 1 or more in 3 of 5).
    - ``{name_prefix}-backend-errors``: at least ``backend_errors_threshold`` error lines a minute in the
      backend's output, in the same window (default 1 or more in 3 of 5).

    Two ways to use it:

    - with a host's alarms: ``LogPatternAlarms(self, "LogAlarms", alarms=alarms, nginx_container="nginx",
      backend_container="backend")``: the containers' groups come from the host's
      :class:`~constructs_obs.host.log_groups.ContainerLogGroups`, the alarms share the :class:`BasicAlarms`' topic,
      name prefix and metrics namespace, and appear in its ``alarms`` (so on its dashboard);
    - on any log groups (ECS, Fargate, Lambda, anything that writes one event per line):
      ``LogPatternAlarms(self, "LogAlarms", topic=topic, name_prefix="shop-prod",
      nginx_log_group=nginx_group, backend_log_group=api_group)``. The topic's policy gets a statement letting
      CloudWatch publish ``{name_prefix}-*`` alarms (as :class:`BasicAlarms` does for its own).

    Each filter publishes ``1`` per matching line to ``{namespace}/{metric}`` without dimensions and without a
    default value, so a quiet log publishes no data: missing data is *not breaching* (no error lines, no
    errors) and the alarm returns to OK, notifying the topic, once a period passes without errors. The namespace
    is the host's (``alarms=`` form) or, by default, ``ConstructsObs/{stack name}/{path}``: unique, so no other
    host's or service's lines feed these alarms (synth fails if two filters in the app would publish one series).

    Attributes:
        nginx_5xx: the nginx alarm, or None without nginx.
        backend_errors: the backend alarm, or None without a backend.
        metric_filters: the metric filters, by metric name.
        graphs: the alarms with their dashboard graphs.
        name_prefix: the alarm names' prefix.
        topic: the topic the alarms notify.
        recovery: the recovery rule of these alarms (``topic=`` form), or None with ``alarms=`` (whose rule covers
            them).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarms: BasicAlarms | None = None,
        topic: sns.ITopic | None = None,
        name_prefix: str | None = None,
        nginx_container: str | None = None,
        backend_container: str | None = None,
        nginx_log_group: logs.ILogGroup | None = None,
        backend_log_group: logs.ILogGroup | None = None,
        nginx_5xx_threshold: int = DEFAULT_NGINX_5XX_THRESHOLD,
        backend_errors_threshold: int = DEFAULT_BACKEND_ERRORS_THRESHOLD,
        period: Duration = DEFAULT_LOG_ALARM_PERIOD,
        datapoints_to_alarm: int = DEFAULT_DATAPOINTS_TO_ALARM,
        evaluation_periods: int = DEFAULT_EVALUATION_PERIODS,
        namespace: str | None = None,
        runbook: Mapping[str, str] | None = None,
    ) -> None:
        """Create the metric filters and alarms.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            alarms: the host's alarms: topic, name prefix, the host's container log groups and metrics
                namespace. Not with ``topic`` or ``name_prefix``.
            topic: the topic to notify (without ``alarms``).
            name_prefix: alarm names are ``{name_prefix}-nginx-5xx`` and ``{name_prefix}-backend-errors``
                (without ``alarms``).
            nginx_container: the container writing nginx's access log, one of the host's containers (with
                ``alarms``).
            backend_container: the uvicorn/FastAPI container, one of the host's containers (with ``alarms``).
            nginx_log_group: the log group of nginx's access log, any ``logs.ILogGroup``. Not with
                ``nginx_container``.
            backend_log_group: the backend's log group, any ``logs.ILogGroup``. Not with ``backend_container``.
            nginx_5xx_threshold: 5xx responses per period that count as a bad period. Default 1.
            backend_errors_threshold: error lines per period that count as a bad period. Default 1.
            period: the alarm period. Default 1 minute.
            datapoints_to_alarm: how many bad periods fire the alarm. Default 3.
            evaluation_periods: out of how many recent periods. Default 5.
            namespace: namespace of the filters' metrics. Default: the host's metrics namespace with
                ``alarms``, else ``ConstructsObs/{stack name}/{path}``.
            runbook: your team's advice for an alarm, by name (``"nginx-5xx"``, ``"backend-errors"``), e.g.
                ``{"backend-errors": "Our error tracker has each exception; see the backend-errors saved
                query."}``: each notification says what happened, then this text instead of the library's generic
                advice. Default: the library's advice.

        Raises:
            ValueError: neither nginx nor backend given, a container the host has no log group for (naming the
                prop), a container and a log group for the same thing, ``alarms`` with ``topic`` or
                ``name_prefix`` (or neither), a threshold below 1, a period or window CloudWatch would reject, an
                unknown alarm name in ``runbook`` or a runbook text that is empty or makes a description longer
                than CloudWatch's 1024 characters.
            TypeError: a prop of the wrong type.
        """
        groups = self._validate(
            alarms=alarms,
            topic=topic,
            name_prefix=name_prefix,
            containers={"nginx_container": nginx_container, "backend_container": backend_container},
            log_groups={"nginx_log_group": nginx_log_group, "backend_log_group": backend_log_group},
            thresholds={
                "nginx_5xx_threshold": nginx_5xx_threshold,
                "backend_errors_threshold": backend_errors_threshold,
            },
            period=period,
            datapoints_to_alarm=datapoints_to_alarm,
            evaluation_periods=evaluation_periods,
            namespace=namespace,
        )
        advice = check.runbook_texts("runbook", runbook, list(LOG_ALARM_ADVICE))
        self._window = (datapoints_to_alarm, evaluation_periods)
        descriptions = self._descriptions(
            groups, period, nginx_5xx_threshold, backend_errors_threshold, advice
        )
        super().__init__(scope, construct_id)
        self.name_prefix = alarms.name_prefix if alarms is not None else str(name_prefix)
        if alarms is None:
            self.topic: sns.ITopic = topic  # type: ignore[assignment]
            allow_cloudwatch_to_publish(
                self, self.topic, self.name_prefix, sid=f"CloudWatchAlarmsPublish{self.node.addr[:8]}"
            )
            self._notifier: AlarmNotifier | BasicAlarms = AlarmNotifier(self.topic, self.name_prefix)
            self.recovery: events.Rule | None = recovery_rule(
                self, "Recovery", topic=self.topic, name_prefix=self.name_prefix
            )
        else:
            self.topic = alarms.topic
            self._notifier = alarms
            self.recovery = None  # the BasicAlarms' rule covers these alarms (same name prefix)
        self._own: list[cloudwatch.Alarm] = []
        namespace = namespace or (alarms.host.metrics_namespace if alarms is not None else None)
        namespace = namespace or default_metrics_namespace(self)
        self.metric_filters: dict[str, logs.MetricFilter] = {}
        self.nginx_5xx: cloudwatch.Alarm | None = None
        self.backend_errors: cloudwatch.Alarm | None = None

        nginx = groups.get("nginx")
        if nginx is not None:
            self.nginx_5xx = self._count_alarm(
                "Nginx5xx",
                NGINX_5XX,
                "nginx 5xx responses",
                nginx[0],
                NGINX_5XX_PATTERN,
                NGINX_5XX_METRIC,
                namespace,
                period,
                nginx_5xx_threshold,
                descriptions[NGINX_5XX],
            )
        backend = groups.get("backend")
        if backend is not None:
            self.backend_errors = self._count_alarm(
                "BackendErrors",
                BACKEND_ERRORS,
                "Backend error lines",
                backend[0],
                BACKEND_ERROR_PATTERN,
                BACKEND_ERRORS_METRIC,
                namespace,
                period,
                backend_errors_threshold,
                descriptions[BACKEND_ERRORS],
            )

    @staticmethod
    def _validate(
        *,
        alarms: object,
        topic: object,
        name_prefix: object,
        containers: dict[str, object],
        log_groups: dict[str, object],
        thresholds: dict[str, object],
        period: object,
        datapoints_to_alarm: object,
        evaluation_periods: object,
        namespace: object,
    ) -> dict[str, tuple[logs.ILogGroup, str]]:
        """Check the props; return the log group (and its name for descriptions) of nginx and the backend."""
        if alarms is not None:
            check.require_type("alarms", alarms, BasicAlarms, "the host's BasicAlarms")
            for prop, value in (("topic", topic), ("name_prefix", name_prefix)):
                if value is not None:
                    raise ValueError(
                        f"{prop} comes from alarms= (its topic and name prefix); give alarms= or "
                        f"topic= and name_prefix=, not both (got {prop}={value!r})"
                    )
        else:
            if topic is None or name_prefix is None:
                raise ValueError(
                    "LogPatternAlarms needs alarms= (a BasicAlarms) or both topic= and name_prefix=; got "
                    f"topic={topic!r}, name_prefix={name_prefix!r}"
                )
            check.require_interface("topic", topic, "topic_arn", "an sns.ITopic")
            check.alarm_name_prefix("name_prefix", name_prefix, longest_suffix=BACKEND_ERRORS)
        groups: dict[str, tuple[logs.ILogGroup, str]] = {}
        for what in ("nginx", "backend"):
            container = containers[f"{what}_container"]
            group = log_groups[f"{what}_log_group"]
            if container is not None and group is not None:
                raise ValueError(
                    f"{what}_container={container!r} and {what}_log_group were both given: name the host's "
                    f"container or pass a log group, not both"
                )
            if group is not None:
                check.require_interface(f"{what}_log_group", group, "log_group_arn", "a logs.ILogGroup")
                groups[what] = (group, group.log_group_name)  # type: ignore[attr-defined, assignment]
            elif container is not None:
                check.require_type(f"{what}_container", container, str, "a container name")
                if not isinstance(alarms, BasicAlarms):
                    raise ValueError(
                        f"{what}_container={container!r} names a container of a host, which needs alarms= "
                        f"(a BasicAlarms of that host); without one pass {what}_log_group= instead"
                    )
                host_groups = alarms.host.log_groups
                if container not in host_groups.containers:
                    raise ValueError(
                        f"{what}_container={container!r} has no log group on {alarms.host.node.path}; its "
                        f"containers are {host_groups.containers}"
                    )
                groups[what] = (host_groups.log_group(container), host_groups.log_group_name(container))
        if not groups:
            raise ValueError(
                "LogPatternAlarms has nothing to watch: give nginx_container/backend_container (with alarms=) "
                "or nginx_log_group/backend_log_group"
            )
        for prop, threshold in thresholds.items():
            check.integer(prop, threshold, minimum=1)
        period_seconds = check.alarm_period("period", period)
        evaluation = check.integer("evaluation_periods", evaluation_periods, minimum=1)
        check.evaluation_range("evaluation_periods", evaluation, period_seconds)
        check.datapoints("datapoints_to_alarm", datapoints_to_alarm, evaluation)
        if namespace is not None:
            check.metrics_namespace("namespace", namespace)
        return groups

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """This construct's alarms."""
        return list(self._own)

    @property
    def graphs(self) -> list[AlarmGraph]:
        """This construct's alarms with their dashboard graphs."""
        return [graph for graph in self._notifier.graphs if graph.alarm in self._own]

    def _count_alarm(
        self,
        construct_id: str,
        suffix: str,
        title: str,
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
        alarm = self._notifier.add_alarm(
            construct_id,
            suffix=suffix,
            metric=metric.metric(statistic=cloudwatch.Stats.SUM, period=period),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=self._window[1],
            datapoints_to_alarm=self._window[0],
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            description=description,
            graph_title=title,
            scope=self,
        )
        self._own.append(alarm)
        return alarm

    def _descriptions(
        self,
        groups: Mapping[str, tuple[logs.ILogGroup, str]],
        period: Duration,
        nginx_5xx_threshold: int,
        backend_errors_threshold: int,
        advice: Mapping[str, str],
    ) -> dict[str, str]:
        """Each alarm's description: what happened, then the runbook's advice or the library's."""
        window = self._window_text(period)
        happened = {
            NGINX_5XX: f"{nginx_5xx_threshold} or more 5xx responses {window} in {{group}} (502/504: the backend is "
            "down or slow).",
            BACKEND_ERRORS: f"{backend_errors_threshold} or more ERROR/CRITICAL lines {window} in {{group}}: errors "
            "keep coming.",
        }
        descriptions: dict[str, str] = {}
        for name, what in ((NGINX_5XX, "nginx"), (BACKEND_ERRORS, "backend")):
            if what in groups:
                text = happened[name].format(group=groups[what][1])
                descriptions[name] = f"{text} {advice.get(name, LOG_ALARM_ADVICE[name])}"
                if name in advice:
                    check.alarm_description(f"runbook[{name!r}]", descriptions[name])
        return descriptions

    def _window_text(self, period: Duration) -> str:
        """``a minute, in 3 of the last 5 minutes,`` (or the same in periods of several minutes)."""
        datapoints, periods = self._window
        minutes = period.to_minutes()
        if minutes == 1:
            return f"a minute, in {datapoints} of the last {periods} minutes,"
        return f"per {minutes:g} minutes, in {datapoints} of the last {periods} such periods,"

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
        claim_series(metric_filter, namespace=namespace, metric_name=metric_name)
        return metric_filter
