"""One CloudWatch log group per Docker container, written by Docker's ``awslogs`` driver."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

#: The containers of the seed's application. Postgres is deliberately absent: its logs stay on the host.
DEFAULT_CONTAINERS: tuple[str, ...] = ("backend", "frontend", "nginx")

#: 30 days keeps 1-3 GB/month of container output well inside the 5 GB CloudWatch Logs free tier.
DEFAULT_RETENTION = logs.RetentionDays.ONE_MONTH

#: The only actions Docker's awslogs driver needs when the groups already exist.
WRITE_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")


class ContainerLogGroups(Construct):
    """CloudWatch log groups named ``{prefix}/{container}``, one per container.

    Example::

        logs = ContainerLogGroups(self, "Logs", prefix="/ai-tutor", containers=["backend", "frontend", "nginx"])
        logs.grant_write(role)
        compose_logging = logs.compose_logging("backend")

    Attributes:
        log_groups: container name -> its log group, in the order given.
        prefix: the log group name prefix, e.g. ``/ai-tutor``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str = "/ai-tutor",
        containers: Sequence[str] = DEFAULT_CONTAINERS,
        retention: logs.RetentionDays = DEFAULT_RETENTION,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
    ) -> None:
        """Create the log groups.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            prefix: log group name prefix; each group is named ``{prefix}/{container}``.
            containers: container (docker-compose service) names, one log group each.
            retention: how long CloudWatch keeps events. Default: one month, which keeps a small app's
                1-3 GB/month inside the 5 GB free tier.
            removal_policy: what happens to the groups (and their logs) when they leave the stack.
                Default: ``RETAIN``, so deleting or replacing the stack never deletes logs.
        """
        super().__init__(scope, construct_id)
        self.prefix = prefix.rstrip("/") if len(prefix) > 1 else prefix
        self.retention = retention
        self._log_groups: dict[str, logs.LogGroup] = {}
        for container in containers:
            # The construct id is the container name: it is public API, renaming replaces the group.
            self._log_groups[container] = logs.LogGroup(
                self,
                container,
                log_group_name=self.log_group_name(container),
                retention=retention,
                removal_policy=removal_policy,
            )

    @property
    def log_groups(self) -> Mapping[str, logs.ILogGroup]:
        """Container name -> log group."""
        return dict(self._log_groups)

    @property
    def containers(self) -> list[str]:
        """The container names, in the order given."""
        return list(self._log_groups)

    def log_group_name(self, container: str) -> str:
        """The log group name for ``container``: ``{prefix}/{container}``."""
        return f"{self.prefix}/{container}"

    def log_group(self, container: str) -> logs.ILogGroup:
        """The log group of ``container``; ``KeyError`` naming the known containers otherwise."""
        try:
            return self._log_groups[container]
        except KeyError:
            raise KeyError(
                f"container {container!r} has no log group; known containers: {sorted(self._log_groups)}"
            ) from None

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` ship container output to these groups and nowhere else.

        Exactly ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on these groups' ARNs (``...:log-group:NAME:*``,
        which covers their streams). Groups are not created by the writer (``awslogs-create-group`` is false).
        """
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=list(WRITE_ACTIONS),
            resource_arns=[group.log_group_arn for group in self._log_groups.values()],
        )

    def compose_logging(self, container: str) -> dict[str, Any]:
        """The docker-compose ``logging:`` block for ``container``.

        Docker's ``awslogs`` driver, this container's group, the stack's region, and
        ``awslogs-create-group: "false"`` since the group already exists. The region is a token when the
        stack is environment-agnostic; render it with ``Stack.to_json_string`` in that case.
        """
        self.log_group(container)  # KeyError naming the known containers
        return {
            "driver": "awslogs",
            "options": {
                "awslogs-group": self.log_group_name(container),
                "awslogs-region": Stack.of(self).region,
                "awslogs-create-group": "false",
            },
        }

    def compose_override(self) -> dict[str, Any]:
        """A docker-compose override file that sets ``logging:`` for every container.

        Use it beside the app's own compose file: ``docker compose -f docker-compose.yml -f logging.json up -d``
        (JSON is valid YAML).
        """
        return {"services": {name: {"logging": self.compose_logging(name)} for name in self._log_groups}}
