"""The observability of one instance, wherever it was made: :class:`HostObservability`.

It attaches to what it is handed, like cdk-monitoring-constructs' ``EC2Monitoring`` and unlike a ``from_*`` import:
an ``ec2.Instance`` of your stack (an ``ec2.IInstance``) or the id of an instance made elsewhere (another stack,
the console, Terraform), and the instance's role. It creates the monitoring and changes nothing of the instance:

- the setup: one SSM State Manager association that installs and configures the CloudWatch agent and the
  ``docker-events`` service on the running instance (:class:`~constructs_obs.host.setup.HostSetup`), with no
  reboot and no replacement, and which CloudFormation waits for;
- the role's grants: writes to the container log groups and the docker-events group (and the Prometheus group
  with scrapes), ``cloudwatch:PutMetricData`` in the host's namespace only, and with ``ssm_agent_permissions`` what
  the SSM agent needs;
- the docker-events log group and its crash metric filter, the agent's memory and disk metrics, Prometheus scrapes;
- the metric methods (:class:`~constructs_obs.host.interface.IObservedHost`) that alarms, queries and dashboards
  read, and the metadata ``obs-doctor`` reads (:data:`~constructs_obs.contract.HOST_METADATA_KEY`).

:class:`~constructs_obs.host.instance.ObservedEc2Host` is a secure ``ec2.Instance`` plus one of these.

**Metrics never cross between hosts.** The agent's metrics carry the ``InstanceId`` dimension. The metric-filter
metrics (container crashes, nginx 5xx, backend errors) cannot: a metric filter's dimensions can only be fields of
the log event (Amazon CloudWatch Logs User Guide, "Publishing dimensions with metrics from values in JSON or
space-delimited log events"), and container output does not name its host. So each host gets its own namespace:
by default ``ConstructsObs/{stack name}/{host path}`` (:func:`default_metrics_namespace`), unique per host in an
account and Region because CloudFormation stack names are; a namespace passed by hand is checked at synth across
the whole app (:func:`constructs_obs.checks._registry.claim_series`), so two hosts' filters cannot feed one series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import CfnResource, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_obs.alarms.specs import BUILT_IN_ALARMS, AlarmSpec
from constructs_obs.checks import _validation as check
from constructs_obs.checks.compliance import AcknowledgedFinding, acknowledge, declare, nag_label
from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    HOST_METADATA_KEY as HOST_METADATA_KEY,
)
from constructs_obs.contract import SSM_CHANNEL_ACTIONS as SSM_CHANNEL_ACTIONS  # re-exported
from constructs_obs.contract import SSM_REGISTRATION_ACTION, HostFields
from constructs_obs.host.agent import CloudWatchAgent
from constructs_obs.host.docker_events import DockerEventsLog
from constructs_obs.host.log_groups import ContainerLogGroups
from constructs_obs.host.metric_options import DEFAULT_METRIC_PERIOD as DEFAULT_METRIC_PERIOD  # re-exported
from constructs_obs.host.metric_options import metric_options
from constructs_obs.host.prometheus.metrics import PrometheusMetrics
from constructs_obs.host.prometheus.scrape import PROMETHEUS_LOG_NAME, PrometheusScrape, validate_scrapes
from constructs_obs.host.setup import HostSetup

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.host.metric_options import MetricOptions

#: The log group of the host's Docker container events is ``{log group prefix}/docker-events``.
DOCKER_EVENTS_LOG_NAME = "docker-events"

#: CloudWatch namespaces: at most 255 of letters, digits, ``. - _ / # : `` and space (PutMetricData reference).
_NAMESPACE_UNSAFE = re.compile(r"[^A-Za-z0-9._\-/#: ]")
MAX_NAMESPACE_LENGTH = 255

#: An EC2 instance id: ``i-`` and 8 (older instances) or 17 hex digits.
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8}(?:[0-9a-f]{9})?")

#: The construct id that stands for its parent: aws-cdk-lib leaves a path component ``Default`` out of logical ids
#: (``makeUniqueId`` in aws-cdk-lib core, ``HIDDEN_ID``), and this library leaves it out of a host's name.
DEFAULT_ID = "Default"

SESSION_MANAGER_REGISTRATION = declare(
    "host.ssm-registration",
    owner="HostObservability(ssm_agent_permissions=True)",
    target="the instance's role",
    rules=("AwsSolutions-IAM5[Resource::{instances}]",),
    placeholders={"instances": "arn:<partition>:ec2:<region>:<account>:instance/*"},
    reason="""`ssm:UpdateInstanceInformation` (the SSM agent registering the host for Session Manager) is scoped
    to the EC2 instances of this account and region. Naming the instance itself would need a policy created after
    the instance launches, and the agent would fail to register until it exists.""",
)
NO_RESOURCE_LEVEL_PERMISSIONS = declare(
    "host.actions-without-resource-scope",
    owner="HostObservability",
    target="the instance's role",
    rules=("AwsSolutions-IAM5[Resource::*]",),
    reason="""`Resource: *` only for actions that support no resource-level permissions: the CloudWatch agent's
    `cloudwatch:PutMetricData`, limited by a `cloudwatch:namespace` condition to the host's own metrics namespace,
    and with `ssm_agent_permissions=True` (as `ObservedEc2Host` gives its role) the SSM agent's `ssmmessages:*`
    and `ec2messages:*` channel actions for Session Manager (listed one by one, no action wildcard). Every other
    statement names its resources (the container, docker-events and Prometheus log groups).""",
)
ROLE_POLICY = declare(
    "host.role-policy",
    owner="HostObservability",
    target="the instance's role",
    rules=("NIST.800.53.R5-IAMNoInlinePolicy", "HIPAA.Security-IAMNoInlinePolicy"),
    reason="""The statements the library adds to the instance's role (this host's log writes and metrics, its
    setup, and with `ssm_agent_permissions=True` Session Manager) are one policy attached to that role only: the
    role's default policy for a role of the app (created and deleted with the role, as `ObservedEc2Host`'s is),
    or one policy this construct owns and deletes with it for an imported role. A standalone managed policy would
    hold the same statements with nothing to share them with.""",
)


def host_path(host: Construct) -> str:
    """The path that names ``host``: its own, or its parent's when its id is ``Default`` (:data:`DEFAULT_ID`)."""
    node = host.node
    if node.id == DEFAULT_ID and node.scope is not None:
        return node.scope.node.path
    return node.path


def default_metrics_namespace(host: Construct) -> str:
    """``ConstructsObs/{stack name}/{path of host in its stack}``: unique per host in an account and Region.

    A stack name is unique per account and Region (CloudFormation refuses a second stack of that name) and a
    construct path is unique in its stack, so no two hosts share a namespace. Characters CloudWatch refuses in a
    namespace become ``-``; a name longer than 255 characters keeps its end and the construct's unique address. A
    construct with the id ``Default`` is named by its parent's path (:func:`host_path`).
    """
    stack = Stack.of(host)
    stack_name = stack.stack_name if not Token.is_unresolved(stack.stack_name) else stack.node.id
    path = host_path(host)
    relative = path[len(stack.node.path) :].strip("/") if stack.node.path else path
    namespace = _NAMESPACE_UNSAFE.sub("-", f"ConstructsObs/{stack_name}/{relative}")
    if len(namespace) > MAX_NAMESPACE_LENGTH:
        namespace = f"ConstructsObs/{host.node.addr}"
    return namespace


def _role_reference(grantee: iam.IGrantable) -> dict[str, str | None]:
    """``RoleName`` (literal names only) and ``RoleLogicalId`` (a role created in the stack) of ``grantee``."""
    name = getattr(grantee, "role_name", None)
    cfn_role = grantee.node.default_child if isinstance(grantee, iam.Role) else None
    return {
        HostFields.ROLE_NAME: name if isinstance(name, str) and not Token.is_unresolved(name) else None,
        HostFields.ROLE_LOGICAL_ID: Stack.of(cfn_role).get_logical_id(cfn_role)
        if isinstance(cfn_role, CfnResource)
        else None,
    }


#: What a host may do in its transfer bucket: put and get objects (a database dump on its way to a new host).
TRANSFER_ACTIONS: tuple[str, ...] = ("s3:GetObject", "s3:PutObject")

TRANSFER_BUCKET_OBJECTS = declare(
    "host.transfer-bucket-objects",
    owner="HostObservability(transfer_bucket=...)",
    target="the instance's role",
    rules=("AwsSolutions-IAM5[Resource::{objects}]",),
    placeholders={"objects": "<the transfer bucket's ARN>/*"},
    reason="""Only when asked (`transfer_bucket=`): `s3:GetObject` and `s3:PutObject` on the objects of that one
    bucket, which carries a database dump from the old host to the new one during a move (docs/migration.md). The
    dump's object name is chosen at the move, so the statement names the bucket's objects, not one key.""",
)


def grant_transfer(bucket: s3.IBucket, role: iam.IRole) -> iam.Grant:
    """Let ``role`` get and put the objects of ``bucket``, and nothing else of S3 (with the bucket's KMS key, if
    it has one, for those objects only: aws-cdk-lib's key grant)."""
    objects = bucket.arn_for_objects("*")
    grant = iam.Grant.add_to_principal(grantee=role, actions=list(TRANSFER_ACTIONS), resource_arns=[objects])
    if bucket.encryption_key is not None:
        bucket.encryption_key.grant_encrypt_decrypt(role)
    acknowledge(role, TRANSFER_BUCKET_OBJECTS, objects=nag_label(role, objects))
    return grant


def check_log_groups(log_groups: object) -> None:
    """``log_groups`` is a :class:`ContainerLogGroups` without a container named like a group the host needs."""
    if log_groups is None:
        raise TypeError(
            "log_groups is required: the ContainerLogGroups this host's containers ship their output to "
            "(its role may write to those groups and nowhere else), got None"
        )
    check.require_type(
        "log_groups",
        log_groups,
        ContainerLogGroups,
        "the ContainerLogGroups this host's containers ship to (wrap plain log groups in ContainerLogGroups)",
    )
    if isinstance(log_groups, ContainerLogGroups) and DOCKER_EVENTS_LOG_NAME in log_groups.containers:
        raise ValueError(
            f"log_groups has a container named {DOCKER_EVENTS_LOG_NAME!r}, whose log group "
            f"{log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME)!r} the host needs for Docker events; "
            "rename the container"
        )
    if isinstance(log_groups, ContainerLogGroups):
        # The longest name the host adds to the prefix (its Prometheus group, "{prefix}/prometheus", is shorter).
        check.log_group_name(
            f"log_groups' prefix {log_groups.prefix!r}", log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME)
        )


def _instance_id(instance: object) -> str:
    """The id of ``instance`` (an ``ec2.IInstance`` or an id), checked unless it is a token."""
    if isinstance(instance, str):
        if not check.unresolved(instance) and not _INSTANCE_ID.fullmatch(instance):
            raise ValueError(
                f"instance must be an ec2.IInstance or an EC2 instance id, 'i-' and 8 or 17 hex digits like "
                f"'i-0123456789abcdef0', got {instance!r}"
            )
        return instance
    check.require_interface(
        "instance",
        instance,
        "instance_id",
        "an ec2.IInstance (an ec2.Instance of your stack) or an instance id",
    )
    instance_id: str = instance.instance_id  # type: ignore[attr-defined]
    return instance_id


def _instance_role(instance: object, role: object) -> iam.IRole:
    """``role``, or the role of an ``ec2.Instance`` (its ``role``) when none is given."""
    if role is None:
        role = getattr(instance, "role", None) if not isinstance(instance, str) else None
        if role is None:
            raise TypeError(
                "role is required: the instance's role, from its instance profile (e.g. "
                "iam.Role.from_role_name(self, 'InstanceRole', 'my-ec2-role')); an instance id carries no role"
            )
    check.require_interface("role", role, "role_arn", "an iam.IRole (e.g. iam.Role.from_role_name(...))")
    return role  # type: ignore[return-value]


@dataclass(frozen=True)
class ObservedParts:
    """What :func:`attach_observability` creates for a host or a fleet.

    Attributes:
        setup: the setup association (its steps: the agent and the docker-events service).
        docker_events: the docker-events log group, service and crash metric.
        prometheus: the Prometheus scraping, or None without scrapes.
        agent: the CloudWatch agent.
        grants: every grant made to the role, each applied before the setup association runs.
    """

    setup: HostSetup
    docker_events: DockerEventsLog
    prometheus: PrometheusMetrics | None
    agent: CloudWatchAgent
    grants: list[iam.Grant]


def attach_observability(
    scope: Construct,
    *,
    role: iam.IRole,
    log_groups: ContainerLogGroups,
    namespace: str,
    scrapes: Sequence[PrometheusScrape],
    ssm_agent_permissions: bool,
    instance_id: str | None = None,
    auto_scaling_group_name: str | None = None,
    declare_metrics_on: CfnResource | None = None,
    wait_for_setup: bool = True,
    instances: int = 1,
    no_resource_scope: AcknowledgedFinding | None = None,
) -> ObservedParts:
    """The observability of one instance or of a group's instances, created in ``scope``: the setup association
    (``Setup``), the docker-events log group and service (``DockerEvents``), the Prometheus scraping
    (``Prometheus``, with ``scrapes``), the CloudWatch agent (``Agent``) and ``role``'s grants, each applied before
    the setup runs (the setup starts the agent, which publishes at once).

    ``instance_id`` for one instance, or ``auto_scaling_group_name`` for the instances of a group (see :class:`~constructs_obs.host.setup.HostSetup` and
    :class:`~constructs_obs.host.agent.CloudWatchAgent`). ``instances``: how many instances scrape Prometheus at
    most (the log group's ingestion estimate). ``no_resource_scope``: the acknowledgment of the role's ``Resource:
    *`` statements (default :data:`NO_RESOURCE_LEVEL_PERMISSIONS`).

    Raises:
        ValueError: ``role`` imported with ``mutable=False`` (it would keep none of the grants).
    """
    grants = [log_groups.grant_write(role)]
    if ssm_agent_permissions:
        grants += allow_ssm_agent(scope, role)
    setup = HostSetup(
        scope,
        "Setup",
        role=role if ssm_agent_permissions else None,
        wait_for_success=wait_for_setup,
        instance_id=instance_id,
        auto_scaling_group_name=auto_scaling_group_name,
    )
    docker_events = DockerEventsLog(
        scope,
        "DockerEvents",
        grantee=role,
        setup=setup,
        log_group_name=log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
        namespace=namespace,
        retention=log_groups.retention,
        removal_policy=log_groups.removal_policy,
        encryption_key=log_groups.encryption_key,
    )
    prometheus = (
        PrometheusMetrics(
            scope,
            "Prometheus",
            scrapes=scrapes,
            namespace=namespace,
            grantee=role,
            log_group_name=log_groups.log_group_name(PROMETHEUS_LOG_NAME),
            retention=log_groups.retention,
            removal_policy=log_groups.removal_policy,
            encryption_key=log_groups.encryption_key,
            instances=instances,
        )
        if scrapes
        else None
    )
    agent = CloudWatchAgent(
        scope,
        "Agent",
        grantee=role,
        setup=setup,
        namespace=namespace,
        log_files=[docker_events.agent_log_file],
        declare_metrics_on=declare_metrics_on,
        prometheus=prometheus.agent_prometheus if prometheus is not None else None,
        instance_id=instance_id,
        auto_scaling_group_name=auto_scaling_group_name,
    )
    grants.append(docker_events.write_grant)
    if prometheus is not None:
        grants.append(prometheus.write_grant)
    grants.append(agent.put_metric_data_grant)
    if agent.describe_tags_grant is not None:
        grants.append(agent.describe_tags_grant)
    refuse_immutable_role(role, grants)
    for grant in grants:
        grant.apply_before(setup.association)
    acknowledge(role, no_resource_scope or NO_RESOURCE_LEVEL_PERMISSIONS)
    acknowledge(role, ROLE_POLICY)
    return ObservedParts(setup, docker_events, prometheus, agent, grants)


def allow_ssm_agent(scope: Construct, role: iam.IRole) -> list[iam.Grant]:
    """Let ``role``'s SSM agent register the instance (the account's instances), then open its message channels.

    Its State Manager calls come with the setup (:class:`~constructs_obs.host.setup.HostSetup`).
    """
    account_instances = Stack.of(scope).format_arn(service="ec2", resource="instance", resource_name="*")
    grants = [
        iam.Grant.add_to_principal(
            grantee=role, actions=[SSM_REGISTRATION_ACTION], resource_arns=[account_instances]
        ),
        iam.Grant.add_to_principal(grantee=role, actions=list(SSM_CHANNEL_ACTIONS), resource_arns=["*"]),
    ]
    acknowledge(role, SESSION_MANAGER_REGISTRATION, instances=nag_label(scope, account_instances))
    return grants


def refuse_immutable_role(role: iam.IRole, grants: Sequence[iam.Grant]) -> None:
    """Raise unless ``role`` keeps ``grants``.

    An immutable import (``from_role_name(..., mutable=False)``) reports success and keeps nothing: the
    statements land in no policy. A mutable import gets an ``iam.Policy`` child (``Policy``, or ``Policy<id>``
    with ``@aws-cdk/aws-iam:importedRoleStackSafeDefaultPolicyName``), a role of this app its ``DefaultPolicy``.
    """
    kept = any(isinstance(child, iam.Policy) for child in role.node.children)
    if not kept or not all(grant.success for grant in grants):
        raise ValueError(
            f"role {role.node.path} cannot be changed by this stack (imported with mutable=False): the host "
            "needs its log writes and cloudwatch:PutMetricData added to it; import it mutable "
            "(iam.Role.from_role_arn(..., mutable=True), the default)"
        )


def describe_host(
    host: Construct,
    identity: Mapping[str, str],
    *,
    namespace: str,
    role: iam.IRole,
    log_groups: ContainerLogGroups,
    prometheus: PrometheusMetrics | None,
) -> dict[str, Any]:
    """The host metadata ``obs-doctor`` reads (:class:`~constructs_obs.contract.HostFields`): ``identity`` (the
    instance, ``InstanceId``, or the group, ``AutoScalingGroupName``), then the namespace, role and log groups."""
    groups, scraping = log_groups, prometheus
    return {
        HostFields.HOST_PATH: host_path(host),
        **identity,
        HostFields.METRICS_NAMESPACE: namespace,
        **_role_reference(role),
        HostFields.CONTAINER_LOG_GROUPS: {c: groups.log_group_name(c) for c in groups.containers},
        HostFields.DOCKER_EVENTS_LOG_GROUP: groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
        **({HostFields.PROMETHEUS: scraping.describe()} if scraping is not None else {}),
    }


@jsii.implements(iam.IGrantable)
class HostObservability(Construct):
    """Observe a Docker host on an Amazon Linux 2023 instance made anywhere: setup, grants, metrics.

    ``HostObservability(self, "Host", instance=web, log_groups=logs)`` for an ``ec2.Instance`` of your stack (its
    role is ``web.role``), or ``HostObservability(self, "Host", instance="i-0123456789abcdef0",
    role=iam.Role.from_role_name(self, "Role", "web-ec2"), log_groups=logs)`` for an instance made elsewhere. The
    instance is neither replaced nor rebooted; what it needs:

    - the SSM agent running (preinstalled on Amazon Linux 2023) and registered with Systems Manager, reaching the
      SSM endpoints (internet or VPC endpoints), and a role that lets it receive State Manager associations: the
      AWS-managed ``AmazonSSMManagedInstanceCore`` policy (``ec2.Instance(ssm_session_permissions=True)`` attaches
      it), or ``ssm_agent_permissions=True`` here for the least-privilege statements ``ObservedEc2Host`` gives its
      own role;
    - Docker installed (the setup installs the CloudWatch agent with dnf).

    The role gets exactly: ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on the container groups, the
    docker-events group and (with scrapes) the Prometheus group; ``cloudwatch:PutMetricData`` limited to
    ``metrics_namespace``; with ``ssm_agent_permissions`` the SSM agent's statements. A role of your app gets them in
    its default policy; an imported role (``iam.Role.from_role_name``, mutable as by default) in one policy this
    construct owns; a role imported with ``mutable=False`` is refused, since CDK would report the grants as made
    and keep none.

    Alarms (:class:`~constructs_obs.alarms.basic.BasicAlarms`), saved queries, the dashboard and
    :class:`~constructs_obs.host.prometheus.cache.CachePerformance` take it as they take an
    :class:`~constructs_obs.host.instance.ObservedEc2Host` (:class:`~constructs_obs.host.interface.IObservedHost`).

    Attributes:
        instance_id: the instance's id (a token for an instance of the app).
        role: the instance's role.
        log_groups: the container log groups the host ships to.
        setup: the association that sets up the agent and the docker-events service (add steps to it).
        docker_events: the container events log group, its service and the crash metric.
        agent: the CloudWatch agent (memory and disk metrics).
        prometheus: the Prometheus endpoints the agent scrapes (``prometheus_scrapes``), or None.
        grants: every grant made to ``role`` (each applied before the setup association runs).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance: ec2.IInstance | str,
        log_groups: ContainerLogGroups,
        role: iam.IRole | None = None,
        metrics_namespace: str | None = None,
        prometheus_scrapes: Sequence[PrometheusScrape] = (),
        ssm_agent_permissions: bool = False,
        transfer_bucket: s3.IBucket | None = None,
    ) -> None:
        """Attach the setup, grants and metrics to ``instance``.

        Args:
            scope: the parent construct.
            construct_id: the construct id. ``Default`` names the host by its parent's path (as ``ObservedEc2Host``
                does), and keeps its resources' logical ids as if they were the parent's own.
            instance: the instance: an ``ec2.IInstance`` (an ``ec2.Instance`` of your app), or an instance id
                (``i-`` and 8 or 17 hex digits) of one made elsewhere.
            log_groups: the container log groups its Docker daemon writes to.
            role: the instance's role (from its instance profile). Default: ``instance.role`` for an
                ``ec2.Instance``; required with an instance id.
            metrics_namespace: CloudWatch namespace of the host's custom metrics; the role may publish into it and
                no other. Default ``ConstructsObs/{stack name}/{path}``, unique per host. A namespace you pass must
                be this host's alone in its account and Region: synth fails when another host in the app would
                share its series.
            prometheus_scrapes: Prometheus endpoints on the host for the CloudWatch agent to scrape
                (:class:`~constructs_obs.host.prometheus.scrape.PrometheusScrape`): their selected metrics are
                published to ``metrics_namespace`` through the log group ``{prefix}/prometheus``. Default: none.
            ssm_agent_permissions: also give ``role`` what the instance's SSM agent needs to register, open Session
                Manager's channels and receive and report the setup association (the statements of
                ``AmazonSSMManagedInstanceCore`` these use, scoped as far as the actions allow). Default off: the
                role already has them, as an instance managed by Systems Manager does.
            transfer_bucket: a bucket the host may get and put objects in (``s3:GetObject``, ``s3:PutObject`` on
                its objects, and its KMS key for them), for carrying a database dump between hosts
                (docs/migration.md, "Move to a new host"). Default: none, the role has no S3 access at all.

        Raises:
            TypeError: ``instance`` neither an ``ec2.IInstance`` nor a string, ``role`` missing with an instance
                id or not an ``iam.IRole``, ``log_groups`` not a :class:`ContainerLogGroups`, or another prop of
                the wrong type.
            ValueError: an instance id that is not ``i-`` and 8 or 17 hex digits, a metrics namespace CloudWatch
                would reject, a container named ``docker-events`` or ``prometheus`` (those groups are the
                host's), a log group prefix too long for ``{prefix}/docker-events``, or a role imported with
                ``mutable=False``.
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        instance_id = _instance_id(instance)
        host_role = _instance_role(instance, role)
        check_log_groups(log_groups)
        if metrics_namespace is not None:
            check.metrics_namespace("metrics_namespace", metrics_namespace)
        scrapes = validate_scrapes("prometheus_scrapes", prometheus_scrapes, containers=log_groups.containers)
        check.require_bool("ssm_agent_permissions", ssm_agent_permissions)
        if transfer_bucket is not None:
            check.require_interface("transfer_bucket", transfer_bucket, "bucket_arn", "an s3.IBucket")
        super().__init__(scope, construct_id)
        self.instance_id = instance_id
        self.role = host_role
        self.log_groups = log_groups
        namespace = metrics_namespace or default_metrics_namespace(self)
        parts = attach_observability(
            self,
            role=host_role,
            log_groups=log_groups,
            namespace=namespace,
            scrapes=scrapes,
            ssm_agent_permissions=ssm_agent_permissions,
            instance_id=instance_id,
            declare_metrics_on=self._instance_resource(instance),
        )
        self.setup = parts.setup
        self.docker_events = parts.docker_events
        self.prometheus = parts.prometheus
        self.agent = parts.agent
        self.grants = parts.grants
        if transfer_bucket is not None:
            transfer = grant_transfer(transfer_bucket, host_role)
            transfer.apply_before(self.setup.association)
            self.grants.append(transfer)
        self.setup.association.add_metadata(
            HOST_METADATA_KEY,
            describe_host(
                self,
                {HostFields.INSTANCE_ID: instance_id},
                namespace=namespace,
                role=host_role,
                log_groups=log_groups,
                prometheus=self.prometheus,
            ),
        )

    def _instance_resource(self, instance: object) -> CfnResource | None:
        """The ``AWS::EC2::Instance`` of an ``ec2.Instance`` in this stack (it declares the agent's metrics)."""
        resource = instance.node.default_child if isinstance(instance, ec2.Instance) else None
        if isinstance(resource, CfnResource) and Stack.of(resource) is Stack.of(self):
            return resource
        return None

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The instance's role: grant it access with ``bucket.grant_read(host)`` and the like."""
        return self.role.grant_principal

    @property
    def metrics_namespace(self) -> str:
        """The namespace of the host's custom metrics."""
        return self.agent.namespace

    @property
    def alarm_specs(self) -> tuple[AlarmSpec, ...]:
        """The alarms :class:`~constructs_obs.alarms.basic.BasicAlarms` creates for one instance: CPU, status
        check, memory, disk, container crash (:data:`~constructs_obs.alarms.specs.BUILT_IN_ALARMS`)."""
        return BUILT_IN_ALARMS

    @property
    def region(self) -> str:
        """The region the host's monitoring (and its log groups) live in."""
        return Stack.of(self).region

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """An ``AWS/EC2`` metric of the instance (dimension ``InstanceId``). Default: average over 5 minutes."""
        return self._ec2_metric(metric_name, cloudwatch.Stats.AVERAGE, options)

    def _ec2_metric(self, name: str, statistic: str, options: MetricOptions) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/EC2",
            metric_name=name,
            **metric_options(options, statistic=statistic, dimensions_map={"InstanceId": self.instance_id}),
        )

    def metric_cpu_utilization(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 CPUUtilization`` (percent). Default: average over 5 minutes (basic monitoring's period)."""
        return self._ec2_metric("CPUUtilization", cloudwatch.Stats.AVERAGE, options)

    def metric_status_check_failed(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """``AWS/EC2 StatusCheckFailed`` (0 or 1, every minute even on basic monitoring). Default: maximum over
        5 minutes."""
        return self._ec2_metric("StatusCheckFailed", cloudwatch.Stats.MAXIMUM, options)

    def metric_memory_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Memory in use (not counting buffers and page cache), percent. Default: average over 5 minutes."""
        return self.agent.metric_memory_used_percent(**options)

    def metric_disk_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Root filesystem space in use, percent. Default: maximum over 5 minutes."""
        return self.agent.metric_disk_used_percent(**options)

    def metric_container_crashes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Container crashes (see :mod:`constructs_obs.host.docker_events`). Default: sum over 5 minutes."""
        return self.docker_events.metric_crashes(**options)
