"""One CloudWatch log group per Docker container, written by Docker's ``awslogs`` driver."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Annotations, ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_name
from constructs_obs.checks.compliance import acknowledge, declare

#: 30 days keeps 1-3 GB/month of container output well inside the 5 GB CloudWatch Logs free tier.
DEFAULT_RETENTION = logs.RetentionDays.ONE_MONTH

#: What happens to a log group the library creates when it leaves the stack: ``DeletionPolicy: RetainExceptOnCreate``
#: and ``UpdateReplacePolicy: Retain``. The groups (and their events) outlive a stack deletion and a replacement,
#: but when the deploy that *created* them fails and rolls back, CloudFormation deletes them: a plain ``Retain``
#: keeps them then too, and the retry fails on "already exists" because their names are fixed. "RetainExceptOnCreate
#: behaves like Retain for stack operations, except for the stack operation that initially created the resource. If
#: the stack operation that created the resource is rolled back, CloudFormation deletes the resource" (AWS
#: CloudFormation User Guide, "DeletionPolicy attribute"; aws-cdk-lib ``RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE``).
DEFAULT_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE

#: Docker's awslogs driver buffer per container in non-blocking mode (Docker's own default is 1 MB).
DEFAULT_MAX_BUFFER_SIZE = "4m"

#: A size as Docker parses ``max-buffer-size`` (go-units ``RAMInBytes``: binary multiples, ``k`` = 1024):
#: digits, an optional fraction, an optional space, an optional unit letter, optional ``i`` and ``b``.
_DOCKER_SIZE = re.compile(r"^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$")

#: The only actions Docker's awslogs driver needs when the groups already exist.
WRITE_ACTIONS: tuple[str, ...] = ("logs:CreateLogStream", "logs:PutLogEvents")

#: What CloudWatch Logs needs on a customer-managed key to encrypt and read a log group's events.
KMS_LOGS_ACTIONS: tuple[str, ...] = (
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
)

LOG_GROUP_ENCRYPTION = declare(
    "log-groups.default-encryption",
    owner="ContainerLogGroups",
    target="each log group",
    rules=("NIST.800.53.R5-CloudWatchLogGroupEncrypted", "HIPAA.Security-CloudWatchLogGroupEncrypted"),
    reason="""CloudWatch Logs always encrypts log data at rest with keys it manages. A customer-managed KMS key
    adds about $1/month per key plus request charges, outside the free-tier budget, and its key policy becomes one
    more thing that can lock the team out of its own logs.""",
    stricter="`ContainerLogGroups(encryption_key=key)`: the groups use your KMS key and the key policy lets "
    "CloudWatch Logs use it for these groups only.",
)


def claimed_log_group(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
    encryption_key: kms.IKey | None,
    hint: str | None = None,
) -> logs.LogGroup:
    """A log group the library creates: named, claimed app-wide (``hint``: how to fix a repeat), and, without a
    customer-managed key, acknowledged for CloudWatch Logs' own encryption (:data:`LOG_GROUP_ENCRYPTION`)."""
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=retention,
        removal_policy=removal_policy,
        encryption_key=encryption_key,
    )
    claim_name(group, kind="log group", name=name, hint=hint)
    if encryption_key is None:
        acknowledge(group, LOG_GROUP_ENCRYPTION)
    return group


class ContainerLogGroups(Construct):
    """CloudWatch log groups named ``{prefix}/{container}``, one per container.

    Example::

        logs = ContainerLogGroups(self, "Logs", prefix="/shop", containers=["api", "web", "nginx"])
        logs.grant_write(role)
        compose_logging = logs.compose_logging("api")

    Containers log in Docker's ``non-blocking`` mode by default: a container's writes to stdout and stderr never
    wait for CloudWatch Logs. Docker's default, ``blocking``, makes them wait whenever CloudWatch is slow or
    unreachable, which stalls the application. The trade-off: while CloudWatch cannot keep up, lines queue in a
    per-container buffer in the Docker daemon (``max_buffer_size``, default 4 MB) and are dropped only when that
    buffer is full.

    Attributes:
        log_groups: container name -> its log group, in the order given.
        prefix: the log group name prefix, e.g. ``/shop``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        containers: Sequence[str],
        retention: logs.RetentionDays = DEFAULT_RETENTION,
        removal_policy: RemovalPolicy = DEFAULT_REMOVAL_POLICY,
        encryption_key: kms.IKey | None = None,
        allow_database_containers: bool = False,
        blocking: bool = False,
        max_buffer_size: str | None = None,
    ) -> None:
        """Create the log groups.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            prefix: log group name prefix; each group is named ``{prefix}/{container}`` (for example
                ``/shop``). Required: one per application and environment, so two stacks never create the same
                groups.
            containers: container (docker-compose service) names, one log group each. Required.
            retention: how long CloudWatch keeps events. Default: one month, which keeps a small app's
                1-3 GB/month inside the 5 GB free tier.
            removal_policy: what happens to the groups (and their logs) when they leave the stack.
                Default: ``RETAIN_ON_UPDATE_OR_DELETE`` (``DeletionPolicy: RetainExceptOnCreate``,
                ``UpdateReplacePolicy: Retain``): deleting or replacing the stack never deletes logs, and a
                failed first deploy removes the groups it created, so the retry can create them again under
                the same names (see :data:`DEFAULT_REMOVAL_POLICY`).
            encryption_key: a customer-managed KMS key to encrypt the groups with. Default: none, CloudWatch
                Logs' own encryption at rest (free). A key created in this app gets a key-policy statement that
                lets CloudWatch Logs in this region use it for ``{prefix}/*`` groups only; for an imported key,
                add that statement to its policy yourself (synth warns).
            allow_database_containers: ship the logs of database containers (postgres, mysql, mariadb, redis,
                mongo, ...) too. Default: refused, because their logs can hold query data; they stay on the host.
            blocking: use Docker's ``blocking`` logging mode: no line is ever dropped, but a container's writes to
                stdout/stderr stall while CloudWatch Logs is slow or unreachable. Default: ``non-blocking``.
            max_buffer_size: in non-blocking mode, how much output Docker buffers per container (in the daemon's
                memory) before it drops lines, in Docker's size format (``"4m"``, ``"512k"``, ``"1g"``; binary
                multiples). Default ``"4m"``. Not allowed with ``blocking=True``: Docker refuses the option there.

        Raises:
            ValueError: a prefix or container name CloudWatch Logs would reject, no containers, a repeated
                container, a database container without ``allow_database_containers``, a ``max_buffer_size``
                Docker would not parse (or zero), or a ``max_buffer_size`` with ``blocking=True``.
            TypeError: a prop of the wrong type (for example one string instead of a list of containers).
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        check.require_bool("allow_database_containers", allow_database_containers)
        check.require_bool("blocking", blocking)
        buffer_size = _max_buffer_size(max_buffer_size, blocking=blocking)
        names = check.container_names(
            "containers", containers, allow_database_containers=allow_database_containers
        )
        normalized_prefix = check.log_group_prefix(
            "prefix", prefix, longest_suffix=max((len(name) + 1 for name in names), default=1)
        )
        check.require_type("retention", retention, logs.RetentionDays, "a logs.RetentionDays")
        check.require_type("removal_policy", removal_policy, RemovalPolicy, "a RemovalPolicy")
        if encryption_key is not None:
            check.require_interface("encryption_key", encryption_key, "key_arn", "a kms.IKey")
        super().__init__(scope, construct_id)
        self.prefix = normalized_prefix
        self.retention = retention
        self.removal_policy = removal_policy
        self.encryption_key = encryption_key
        self.blocking = blocking
        self.max_buffer_size = buffer_size
        self._log_groups: dict[str, logs.LogGroup] = {}
        for container in names:
            # The construct id is the container name: it is public API, renaming replaces the group.
            group = claimed_log_group(
                self,
                container,
                name=self.log_group_name(container),
                retention=retention,
                removal_policy=removal_policy,
                encryption_key=encryption_key,
            )
            self._log_groups[container] = group
        if encryption_key is not None:
            self._allow_logs_to_use(encryption_key)

    def _allow_logs_to_use(self, key: kms.IKey) -> None:
        """Let CloudWatch Logs (this region) use ``key`` for this construct's groups, and nothing else."""
        stack = Stack.of(self)
        groups_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{self.prefix}/*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        added = key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=self._key_statement_id(),
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.{stack.url_suffix}")],
                actions=list(KMS_LOGS_ACTIONS),
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": groups_arn}},
            )
        )
        if not added.statement_added:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:imported-log-key",
                f"encryption_key is imported, so its key policy cannot be changed here: allow the service "
                f"principal logs.<region>.amazonaws.com {', '.join(KMS_LOGS_ACTIONS)} on it for "
                f"{self.prefix}/* log groups, or CloudWatch Logs cannot create them.",
            )

    def _key_statement_id(self) -> str:
        """``CloudWatchLogsShopProd`` for ``/shop-prod``: unique per prefix, as the group names are."""
        words = re.split(r"[^A-Za-z0-9]+", self.prefix) if not check.unresolved(self.prefix) else []
        name = "".join(word[:1].upper() + word[1:] for word in words if word)
        return f"CloudWatchLogs{name or self.node.addr}"

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

        Docker's ``awslogs`` driver, this container's group, the stack's region,
        ``awslogs-create-group: "false"`` since the group already exists, and the logging mode:
        ``mode: "non-blocking"`` with ``max-buffer-size`` (lines are dropped only when that buffer is full), or
        ``mode: "blocking"`` with ``blocking=True``. The region is a token when the stack is
        environment-agnostic; render it with ``Stack.to_json_string`` in that case.
        """
        self.log_group(container)  # KeyError naming the known containers
        options = {
            "awslogs-group": self.log_group_name(container),
            "awslogs-region": Stack.of(self).region,
            "awslogs-create-group": "false",
        }
        if self.blocking:
            options["mode"] = "blocking"
        else:
            options["mode"] = "non-blocking"
            options["max-buffer-size"] = self.max_buffer_size or DEFAULT_MAX_BUFFER_SIZE
        return {"driver": "awslogs", "options": options}

    def compose_override(
        self, *, loopback_ports: Mapping[str, Sequence[int]] | None = None
    ) -> dict[str, Any]:
        """A docker-compose override file that sets ``logging:`` for every container.

        Use it beside the app's own compose file: ``docker compose -f docker-compose.yml -f logging.json up -d``
        (JSON is valid YAML).

        ``loopback_ports`` (container -> ports, e.g. ``host.prometheus.loopback_ports``) also publishes those
        container ports on the host's loopback only: ``ports: ["127.0.0.1:9000:9000"]``, the same port on the
        host. Processes on the host (the CloudWatch agent scraping a metrics endpoint) reach them, the internet
        does not: "Publishing container ports is insecure by default ... If you include the localhost IP address
        (127.0.0.1) with the publish flag, only the Docker host can access the published container port" (Docker
        documentation, networking, port publishing), and Docker's own iptables rules bypass host firewalls for
        ports published on every interface. The host's security group does not open these ports either; the one
        known gap of a loopback binding is a machine on the same layer-2 segment sending packets to the container's
        own address (moby/moby#45610), which EC2's source/destination check stops: "the instance must be the source
        or destination of any traffic it sends or receives" (Amazon EC2 User Guide). Compose adds these to the app file's own ``ports``: a port
        the app file already publishes on all interfaces stays published there.
        """
        ports = _loopback_ports(loopback_ports or {}, self._log_groups)
        services: dict[str, Any] = {}
        for name in self._log_groups:
            services[name] = {"logging": self.compose_logging(name)}
            if name in ports:
                services[name]["ports"] = [f"127.0.0.1:{port}:{port}" for port in ports[name]]
        return {"services": services}


def _loopback_ports(value: Any, containers: Mapping[str, Any]) -> dict[str, list[int]]:
    """``loopback_ports`` checked: known containers, TCP ports given once."""
    if not isinstance(value, Mapping):
        raise TypeError(f"loopback_ports must map container names to lists of ports, got {value!r}")
    out: dict[str, list[int]] = {}
    for container, ports in value.items():
        if container not in containers:
            raise ValueError(
                f"loopback_ports names container {container!r}, which has no log group here; containers: "
                f"{sorted(containers)}"
            )
        if isinstance(ports, (str, bytes)) or not isinstance(ports, Sequence):
            raise TypeError(f"loopback_ports[{container!r}] must be a list of ports, got {ports!r}")
        checked = [
            check.integer(f"loopback_ports[{container!r}]", p, minimum=1, maximum=65_535) for p in ports
        ]
        if len(set(checked)) != len(checked):
            raise ValueError(f"loopback_ports[{container!r}] repeats a port: {checked}")
        out[container] = checked
    return out


def _max_buffer_size(value: Any, *, blocking: bool) -> str | None:
    """The validated ``max_buffer_size``: ``None`` in blocking mode, the default when not given."""
    if value is None:
        return None if blocking else DEFAULT_MAX_BUFFER_SIZE
    if blocking:
        raise ValueError(
            "max_buffer_size applies to non-blocking mode only: Docker refuses max-buffer-size with mode=blocking"
        )
    check.require_type("max_buffer_size", value, str, 'a size string such as "4m"')
    match = _DOCKER_SIZE.match(value)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(
            f'max_buffer_size must be a positive size in Docker\'s format, e.g. "4m", "512k" or "1g"; got {value!r}'
        )
    return str(value)
