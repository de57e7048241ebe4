"""CloudWatch Logs Insights saved queries for what an on-call engineer would otherwise search by hand in the console."""

from __future__ import annotations

from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.alarms.log_patterns import BACKEND_ERROR_REGEX
from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_name
from constructs_obs.host.docker_events import DELIBERATE_STOP_EXIT_CODES
from constructs_obs.host.interface import IObservedHost
from constructs_obs.host.prometheus.cache import CachePerformance

#: The backend's error lines: the same regular expression the backend-errors metric filter counts with (level
#: anchored at the start of the line, so client text in an access line is never listed).
BACKEND_ERRORS_QUERY = logs.QueryString(
    fields=["@timestamp", "@logStream", "@message"],
    filter_statements=[f"@message like /{BACKEND_ERROR_REGEX}/"],
    sort="@timestamp desc",
    limit=100,
)

#: nginx combined-format access lines with a 5xx status: method, path (without query string) and status.
NGINX_5XX_PARSE_REGEX = r'^\S+ \S+ \S+ \[[^\]]*\] "(?<method>[A-Z]+) (?<path>[^ ?"]*)[^"]*" (?<status>5\d\d) '

#: 5xx responses counted by status, method and path, most frequent first.
NGINX_5XX_BY_PATH_QUERY = logs.QueryString(
    parse_statements=[f"@message /{NGINX_5XX_PARSE_REGEX}/"],
    filter_statements=["ispresent(status)"],
    stats_statements=["count(*) as responses by status, method, path"],
    sort="responses desc",
    limit=50,
)

#: Container crashes, newest first: the same events the container-crash metric filter counts.
#: The crashes among the docker-events lines: the same events the container-crash metric filter counts.
CRASH_FILTER = (
    'Action = "oom" or (Action = "die" and Actor.Attributes.exitCode not in ['
    + ", ".join(f'"{code}"' for code in DELIBERATE_STOP_EXIT_CODES)
    + "])"
)

CONTAINER_CRASHES_QUERY = logs.QueryString(
    fields=[
        "@timestamp",
        "Action",
        "Actor.Attributes.name",
        "Actor.Attributes.image",
        "Actor.Attributes.exitCode",
    ],
    filter_statements=[CRASH_FILTER],
    sort="@timestamp desc",
    limit=50,
)


#: Crashes per instance of a fleet: the docker-events stream of each instance is named after it (the agent's
#: ``log_stream_name`` ``{instance_id}``), with the last container that crashed there.
CONTAINER_CRASHES_BY_INSTANCE_QUERY = logs.QueryString(
    filter_statements=[CRASH_FILTER],
    stats_statements=[
        "count(*) as crashes, latest(Actor.Attributes.name) as last_container, max(@timestamp) as last_crash "
        "by @logStream as instance"
    ],
    sort="crashes desc",
    limit=50,
)

#: The backend's error lines per log stream: Docker's awslogs driver writes one stream per container, and each
#: container runs on one instance of the fleet, so a container (and its instance) that fails alone stands out.
BACKEND_ERRORS_BY_STREAM_QUERY = logs.QueryString(
    filter_statements=[f"@message like /{BACKEND_ERROR_REGEX}/"],
    stats_statements=["count(*) as errors, max(@timestamp) as last_error by @logStream"],
    sort="errors desc",
    limit=50,
)


class SavedQueries(Construct):
    """Logs Insights saved queries (``AWS::Logs::QueryDefinition``) in a ``{name_prefix}`` folder.

    - ``{name_prefix}/backend-errors``: the backend's error lines, newest first (the console search for ERROR,
      with the alarm's expression).
    - ``{name_prefix}/nginx-5xx-by-path``: 5xx responses counted by status, method and path.
    - ``{name_prefix}/container-crashes``: crashed containers (name, image, exit code), newest first (hosts
      only: it reads the host's docker-events group).
    - With ``by_instance`` (a fleet's default): ``{name_prefix}/container-crashes-by-instance`` (crashes per
      instance: the docker-events stream is named after the instance) and, with a backend,
      ``{name_prefix}/backend-errors-by-stream`` (error lines per container, each on one instance).
    - ``{name_prefix}/{cache title}-hit-rate-by-{label}`` with ``cache``: a cache's hits, misses, hit rate and
      estimated savings per value of its breakdown label (:meth:`CachePerformance.breakdown_query
      <constructs_obs.host.prometheus.cache.CachePerformance.breakdown_query>`), over the agent's Prometheus log group.

    Each reads a host's container (``host`` with ``backend_container`` / ``nginx_container``) or any log group
    (``backend_log_group`` / ``nginx_log_group``: ECS, Fargate, ...). Saved queries cost nothing; running one is
    billed per GB scanned (the free tier's 5 GB of logs data covers a small app's log volume of 1-3 GB a month).

    Attributes:
        backend_errors: the backend query, or None without a backend.
        nginx_5xx_by_path: the nginx query, or None without nginx.
        container_crashes: the container-crash query, or None without a host.
        container_crashes_by_instance: crashes per instance, or None without ``by_instance``.
        backend_errors_by_stream: backend error lines per stream, or None without ``by_instance`` or a backend.
        cache_breakdown: the cache's per-label query, or None without ``cache``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        host: IObservedHost | None = None,
        backend_container: str | None = None,
        nginx_container: str | None = None,
        backend_log_group: logs.ILogGroup | None = None,
        nginx_log_group: logs.ILogGroup | None = None,
        cache: CachePerformance | None = None,
        by_instance: bool | None = None,
    ) -> None:
        """Create the saved queries.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            name_prefix: the queries' folder in the console.
            host: the host whose container log groups and docker-events log group the queries read.
            backend_container: the uvicorn/FastAPI container of ``host``; None for no backend query.
            nginx_container: the nginx container of ``host``; None for no nginx query.
            backend_log_group: the backend's log group, instead of ``backend_container``.
            nginx_log_group: nginx's log group, instead of ``nginx_container``.
            cache: a cache with a ``breakdown_label`` (:class:`~constructs_obs.host.prometheus.cache.CachePerformance`):
                save its per-label breakdown query too. Default: none.
            by_instance: also save the per-instance and per-stream breakdowns. Default: on for a fleet (a host with
                an ``auto_scaling_group_name``, :class:`~constructs_obs.fleet.observability.FleetObservability`),
                off for one instance, whose streams are all its own.

        Raises:
            ValueError: a container ``host`` has no log group for (naming the prop), a container without
                ``host``, a container and a log group for the same thing, nothing to query, or a ``name_prefix``
                that makes a query name CloudWatch Logs would reject (1-255 printable characters).
            TypeError: a prop of the wrong type.
        """
        check.require_type("name_prefix", name_prefix, str, "the queries' folder name, such as 'shop-prod'")
        if host is not None:
            check.require_interface("host", host, "metric_container_crashes", "an IObservedHost")
        groups = {
            what: _log_group(what, host, container, group)
            for what, container, group in (
                ("backend", backend_container, backend_log_group),
                ("nginx", nginx_container, nginx_log_group),
            )
        }
        if cache is not None:
            check.require_type("cache", cache, CachePerformance, "a CachePerformance")
            if cache.breakdown_label is None:
                raise ValueError(
                    "cache has no breakdown_label: there is nothing to break its hit rate down by"
                )
        if by_instance is None:
            by_instance = getattr(host, "auto_scaling_group_name", None) is not None
        check.require_bool("by_instance", by_instance)
        if host is None and not any(groups.values()) and cache is None:
            raise ValueError(
                "SavedQueries has nothing to query: give host= (with backend_container/nginx_container) or "
                "backend_log_group/nginx_log_group"
            )
        backend, nginx = groups["backend"], groups["nginx"]
        # (attribute, construct id, name after the folder, query, log group) of each query these props make.
        planned: list[tuple[str, str, str, logs.QueryString, logs.ILogGroup]] = []
        if backend is not None:
            planned.append(
                ("backend_errors", "BackendErrors", "backend-errors", BACKEND_ERRORS_QUERY, backend)
            )
        if nginx is not None:
            planned.append(
                ("nginx_5xx_by_path", "Nginx5xxByPath", "nginx-5xx-by-path", NGINX_5XX_BY_PATH_QUERY, nginx)
            )
        if host is not None:
            planned.append(
                (
                    "container_crashes",
                    "ContainerCrashes",
                    "container-crashes",
                    CONTAINER_CRASHES_QUERY,
                    host.docker_events.log_group,
                )
            )
        if by_instance and host is not None:
            planned.append(
                (
                    "container_crashes_by_instance",
                    "ContainerCrashesByInstance",
                    "container-crashes-by-instance",
                    CONTAINER_CRASHES_BY_INSTANCE_QUERY,
                    host.docker_events.log_group,
                )
            )
        if by_instance and backend is not None:
            planned.append(
                (
                    "backend_errors_by_stream",
                    "BackendErrorsByStream",
                    "backend-errors-by-stream",
                    BACKEND_ERRORS_BY_STREAM_QUERY,
                    backend,
                )
            )
        if cache is not None:
            planned.append(
                (
                    "cache_breakdown",
                    "CacheBreakdown",
                    cache.query_slug,
                    cache.breakdown_query(),
                    cache.source.log_group,
                )
            )
        for _, _, suffix, _, _ in planned:
            check.query_name("name_prefix", f"{name_prefix}/{suffix}")
        super().__init__(scope, construct_id)
        self.backend_errors: logs.QueryDefinition | None = None
        self.nginx_5xx_by_path: logs.QueryDefinition | None = None
        self.container_crashes: logs.QueryDefinition | None = None
        self.container_crashes_by_instance: logs.QueryDefinition | None = None
        self.backend_errors_by_stream: logs.QueryDefinition | None = None
        self.cache_breakdown: logs.QueryDefinition | None = None
        for attribute, query_id, suffix, query, log_group in planned:
            setattr(self, attribute, self._query(query_id, f"{name_prefix}/{suffix}", query, log_group))

    def _query(
        self, construct_id: str, name: str, query: logs.QueryString, log_group: logs.ILogGroup
    ) -> logs.QueryDefinition:
        definition = logs.QueryDefinition(
            self, construct_id, query_definition_name=name, query_string=query, log_groups=[log_group]
        )
        claim_name(definition, kind="saved query", name=name)
        return definition


def _log_group(
    what: str, host: IObservedHost | None, container: object, group: object
) -> logs.ILogGroup | None:
    """The log group a query of ``what`` reads: ``group``, or ``container``'s group on ``host``."""
    if container is not None and group is not None:
        raise ValueError(
            f"{what}_container={container!r} and {what}_log_group were both given: name the host's container or "
            "pass a log group, not both"
        )
    if group is not None:
        check.require_interface(f"{what}_log_group", group, "log_group_arn", "a logs.ILogGroup")
        return group  # type: ignore[return-value]
    if container is None:
        return None
    check.require_type(f"{what}_container", container, str, "a container name")
    if host is None:
        raise ValueError(
            f"{what}_container={container!r} names a container of a host: give host= too, or {what}_log_group="
        )
    if container not in host.log_groups.containers:
        raise ValueError(
            f"{what}_container={container!r} has no log group on {host.node.path}; its containers are "
            f"{host.log_groups.containers}"
        )
    return host.log_groups.log_group(container)
