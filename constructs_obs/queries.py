"""CloudWatch Logs Insights saved queries for what the seed searched by hand in the console."""

from __future__ import annotations

from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.docker_events import DELIBERATE_STOP_EXIT_CODES
from constructs_obs.host import ObservedEc2Host
from constructs_obs.log_alarms import BACKEND_ERROR_REGEX

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
CONTAINER_CRASHES_QUERY = logs.QueryString(
    fields=[
        "@timestamp",
        "Action",
        "Actor.Attributes.name",
        "Actor.Attributes.image",
        "Actor.Attributes.exitCode",
    ],
    filter_statements=[
        'Action = "oom" or (Action = "die" and Actor.Attributes.exitCode not in ['
        + ", ".join(f'"{code}"' for code in DELIBERATE_STOP_EXIT_CODES)
        + "])"
    ],
    sort="@timestamp desc",
    limit=50,
)


class SavedQueries(Construct):
    """Logs Insights saved queries (``AWS::Logs::QueryDefinition``) in a ``{name_prefix}`` folder.

    - ``{name_prefix}/backend-errors``: the backend's error lines, newest first (the console search for ERROR
      the seed did by hand, with the alarm's phrases).
    - ``{name_prefix}/nginx-5xx-by-path``: 5xx responses counted by status, method and path.
    - ``{name_prefix}/container-crashes``: crashed containers (name, image, exit code), newest first.

    Saved queries cost nothing; running one is billed per GB scanned (the free tier's 5 GB of logs data covers
    the seed's log volume).

    Attributes:
        backend_errors: the backend query, or None without a backend container.
        nginx_5xx_by_path: the nginx query, or None without an nginx container.
        container_crashes: the container-crash query.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        host: ObservedEc2Host,
        name_prefix: str,
        backend_container: str | None = "backend",
        nginx_container: str | None = "nginx",
    ) -> None:
        """Create the saved queries.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            host: the host whose container log groups and docker-events log group the queries read.
            name_prefix: the queries' folder in the console.
            backend_container: the uvicorn/FastAPI container; None for no backend query.
            nginx_container: the nginx container; None for no nginx query.
        """
        super().__init__(scope, construct_id)
        self.backend_errors: logs.QueryDefinition | None = None
        self.nginx_5xx_by_path: logs.QueryDefinition | None = None
        if backend_container is not None:
            self.backend_errors = logs.QueryDefinition(
                self,
                "BackendErrors",
                query_definition_name=f"{name_prefix}/backend-errors",
                query_string=BACKEND_ERRORS_QUERY,
                log_groups=[host.log_groups.log_group(backend_container)],
            )
        if nginx_container is not None:
            self.nginx_5xx_by_path = logs.QueryDefinition(
                self,
                "Nginx5xxByPath",
                query_definition_name=f"{name_prefix}/nginx-5xx-by-path",
                query_string=NGINX_5XX_BY_PATH_QUERY,
                log_groups=[host.log_groups.log_group(nginx_container)],
            )
        self.container_crashes = logs.QueryDefinition(
            self,
            "ContainerCrashes",
            query_definition_name=f"{name_prefix}/container-crashes",
            query_string=CONTAINER_CRASHES_QUERY,
            log_groups=[host.docker_events.log_group],
        )
