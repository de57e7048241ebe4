"""An EC2 Docker host whose containers ship their output to CloudWatch Logs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jsii
from aws_cdk import Annotations, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_obs.alarms.specs import AlarmSpec
from constructs_obs.checks import _validation as check
from constructs_obs.checks._registry import claim_name
from constructs_obs.checks.compliance import acknowledge, declare
from constructs_obs.host.agent import CloudWatchAgent
from constructs_obs.host.data_volume import DataVolume, HostDataVolume, validate_data_volume
from constructs_obs.host.docker_events import DockerEventsLog
from constructs_obs.host.images import AL2023_PARAMETERS as AL2023_PARAMETERS  # re-exported
from constructs_obs.host.images import ImageFacts, al2023_at_launch, inspect_image
from constructs_obs.host.log_groups import ContainerLogGroups
from constructs_obs.host.observability import (
    DEFAULT_ID,
    HostObservability,
    check_log_groups,
    default_metrics_namespace,
)
from constructs_obs.host.prometheus.metrics import PrometheusMetrics
from constructs_obs.host.prometheus.scrape import PrometheusScrape, validate_scrapes
from constructs_obs.host.protection import TerminationProtection
from constructs_obs.host.setup import HostSetup

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.host.metric_options import MetricOptions

#: Docker Compose plugin release installed by the user data (checked against the release's .sha256 file).
DEFAULT_COMPOSE_VERSION = "v2.40.3"

#: The ports open to the internet by default: nginx's HTTP and HTTPS.
DEFAULT_PUBLIC_PORTS: tuple[int, ...] = (80, 443)
#: Remote-login ports ``public_ports`` refuses to open to the internet unless told so by name: the host's shell is
#: Session Manager's, and these are what internet-wide scanners try first.
REMOTE_LOGIN_PORTS = {22: "SSH", 3389: "RDP"}
#: The ports :data:`PUBLIC_WEB_INGRESS` explains; other public ports are the caller's finding to acknowledge.
WEB_PORTS = frozenset(DEFAULT_PUBLIC_PORTS)

#: The root volume: at least the Amazon Linux 2023 AMI's 8 GiB snapshot, at most gp3's 16 TiB.
MIN_ROOT_VOLUME_GIB = 8
MAX_ROOT_VOLUME_GIB = 16_384

_COMPOSE_VERSION = re.compile(r"v\d+\.\d+\.\d+")

AMI_RESOLVED_AT_LAUNCH = declare(
    "host.ami-resolved-at-launch",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("CloudFormation-Validate::E1152", "cfn-lint::E1152"),
    reason="""ImageId is `resolve:ssm:<Amazon Linux 2023 parameter>`, resolved by EC2 when the instance launches, so
    a newly published AMI never replaces a running host. EC2 accepts this form; the validators' format check
    expects a literal `ami-...` id.""",
)
PINNED_AMI = declare(
    "host.pinned-ami",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("CloudFormation-Validate::W9010",),
    reason="""Only when you pass a literal AMI id (`machine_image=ec2.MachineImage.generic_linux({...})`): pinning
    it is the point, the deliberate way to move the host to a newer AMI. A parameter resolved at deploy time, as
    the warning suggests, would replace the running host whenever AWS publishes a new AMI.""",
)
DETAILED_MONITORING = declare(
    "host.basic-monitoring",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("AwsSolutions-EC28", "HIPAA.Security-EC2InstanceDetailedMonitoringEnabled"),
    reason="""Detailed (1-minute) monitoring is billed like custom metrics; basic 5-minute monitoring is free and
    the alarms are built for 5-minute data (CPU high for two periods, status check for one).""",
    stricter="`ObservedEc2Host(detailed_monitoring=True)`, then `BasicAlarms(period=Duration.minutes(1))` to use "
    "the 1-minute data.",
)
IMDSV2_ON_THE_INSTANCE = declare(
    "host.imdsv2-on-the-instance",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("NIST.800.53.R5-EC2IMDSv2Enabled", "HIPAA.Security-EC2IMDSv2Enabled"),
    reason="""The instance requires IMDSv2 in its own `MetadataOptions` (`HttpTokens: required`, hop limit 1).
    cdk-nag 2, which teams on aws-cdk-lib before 2.257 run, looks for IMDSv2 only in a launch template and reports
    this instance; cdk-nag 3 reads `MetadataOptions` and finds nothing.""",
)
SUBNET_AVAILABILITY_ZONE = declare(
    "host.subnet-availability-zone",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("CloudFormation-Validate::W3010",),
    reason="""With an imported VPC (`Vpc.from_lookup`, `Vpc.from_vpc_attributes`) CDK writes the subnet's
    availability zone into the instance as a literal. It is the zone of the subnet the instance launches in
    and cannot differ from it, so it is not a hard-coded choice.""",
)
PUBLIC_WEB_INGRESS = declare(
    "host.public-web-ingress",
    owner="ObservedEc2Host",
    target="SecurityGroup",
    rules=("AwsSolutions-EC23",),
    reason="""The host serves a public web site through nginx, so HTTP (80) and HTTPS (443) are open to the
    internet; nothing else is (no SSH: shell access goes through Session Manager).""",
)


def _check_compose_version(compose_version: object) -> None:
    check.require_type("compose_version", compose_version, str, "a Docker Compose release tag like 'v2.40.3'")
    if not _COMPOSE_VERSION.fullmatch(str(compose_version)):
        raise ValueError(
            f"compose_version must be a Docker Compose release tag like 'v2.40.3' (it goes into the "
            f"download URL and the user data script), got {compose_version!r}"
        )


def encrypted_root_volume(size_gib: int) -> ec2.BlockDevice:
    """The root volume of a Docker host (``/dev/xvda``, Amazon Linux 2023's root device): encrypted gp3 of
    ``size_gib``, deleted with the instance."""
    return ec2.BlockDevice(
        device_name="/dev/xvda",
        volume=ec2.BlockDeviceVolume.ebs(
            size_gib, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
        ),
    )


def docker_user_data(compose_version: str = DEFAULT_COMPOSE_VERSION) -> ec2.UserData:
    """User data that installs Docker and the Docker Compose plugin on Amazon Linux 2023.

    Raises:
        ValueError: ``compose_version`` is not a release tag like ``v2.40.3`` (it goes into a shell script).
    """
    _check_compose_version(compose_version)
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        "set -euo pipefail",
        "dnf install -y docker",
        "systemctl enable --now docker",
        "usermod -aG docker ec2-user",
        f"COMPOSE_VERSION={compose_version}",
        'COMPOSE_URL="https://github.com/docker/compose/releases/download/${COMPOSE_VERSION}'
        '/docker-compose-linux-$(uname -m)"',
        "mkdir -p /usr/local/lib/docker/cli-plugins",
        "cd /usr/local/lib/docker/cli-plugins",
        'curl -fsSL --retry 5 -o "docker-compose-linux-$(uname -m)" "$COMPOSE_URL"',
        'curl -fsSL --retry 5 -o compose.sha256 "$COMPOSE_URL.sha256"',
        "sha256sum -c compose.sha256",
        'mv "docker-compose-linux-$(uname -m)" docker-compose && rm compose.sha256',
        "chmod 755 docker-compose",
        "docker compose version",
    )
    return user_data


def _check_public_ports(
    public_ports: Any, *, allow_remote_login_from_internet: object = False
) -> tuple[int, ...]:
    if isinstance(public_ports, (str, bytes)) or not isinstance(public_ports, Sequence):
        raise TypeError(
            f"public_ports must be a sequence of TCP port numbers like (80, 443), or () for none, "
            f"got {public_ports!r}"
        )
    ports = tuple(check.integer("public_ports", p, minimum=1, maximum=65_535) for p in public_ports)
    repeated = sorted({p for p in ports if ports.count(p) > 1})
    if repeated:
        raise ValueError(f"public_ports repeats {repeated}; give each port once, got {list(ports)}")
    check.require_bool("allow_remote_login_from_internet", allow_remote_login_from_internet)
    login = [f"{port} ({REMOTE_LOGIN_PORTS[port]})" for port in ports if port in REMOTE_LOGIN_PORTS]
    if login and not allow_remote_login_from_internet:
        raise ValueError(
            f"public_ports would open {', '.join(login)} to the whole internet, got {list(ports)}. The host needs "
            "no open port for a shell: Session Manager (aws ssm start-session --target <instance id>). To let "
            "your own network in, use host.connections.allow_from(ec2.Peer.ipv4('203.0.113.0/24'), "
            "ec2.Port.tcp(22)); to open it to the internet anyway, pass allow_remote_login_from_internet=True"
        )
    return ports


def _host_role(scope: Construct, role: iam.IRole | None, role_name: str | None) -> iam.IRole:
    """The instance's role: ``role`` when given, else a new role for EC2, with Session Manager's permissions."""
    if role is None:
        role = iam.Role(
            scope,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"EC2 host {scope.node.path}: writes container logs to CloudWatch; Session Manager access",
        )
        if role_name is not None:
            claim_name(role, kind="IAM role", name=role_name, level="account")
    return role


def _security_group(
    scope: Construct, vpc: ec2.IVpc, security_group: ec2.ISecurityGroup | None, public_ports: Sequence[int]
) -> ec2.ISecurityGroup:
    """``security_group`` or a new one with all outbound; ``public_ports`` open to the internet on it."""
    if security_group is None:
        security_group = ec2.SecurityGroup(
            scope,
            "SecurityGroup",
            vpc=vpc,
            description=_security_group_description(public_ports),
            allow_all_outbound=True,
        )
    names = {80: "HTTP", 443: "HTTPS"}
    for port in public_ports:
        security_group.add_ingress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"{names.get(port, f'TCP {port}')} to nginx"
        )
    if public_ports and set(public_ports) <= WEB_PORTS:
        acknowledge(security_group, PUBLIC_WEB_INGRESS)
    return security_group


def _instance(
    scope: Construct,
    *,
    vpc: ec2.IVpc,
    vpc_subnets: ec2.SubnetSelection | None,
    instance_type: ec2.InstanceType,
    machine_image: ec2.IMachineImage,
    role: iam.IRole,
    security_group: ec2.ISecurityGroup,
    user_data: ec2.UserData,
    instance_name: str | None,
    metadata_hop_limit: int,
    detailed_monitoring: bool,
    root_volume_size_gib: int,
) -> ec2.Instance:
    """The instance: IMDSv2 only, an encrypted gp3 root volume, public subnets unless told otherwise.

    No ``DisableApiTermination``: a protected instance cannot be terminated by the rollback of a failed create
    (see :mod:`constructs_obs.host.protection`, which switches the protection on after the deploy).
    """
    instance = ec2.Instance(
        scope,
        "Instance",
        vpc=vpc,
        vpc_subnets=vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        instance_type=instance_type,
        machine_image=machine_image,
        role=role,
        security_group=security_group,
        user_data=user_data,
        instance_name=instance_name,
        detailed_monitoring=detailed_monitoring,
        block_devices=[encrypted_root_volume(root_volume_size_gib)],
    )
    # IMDSv2 only, hop limit as given: on the L1 (CloudFormation's MetadataOptions, the same template as the L2's
    # http_tokens/http_put_response_hop_limit, which aws-cdk-lib has only from 2.231.0; see checks/cdk_versions.py).
    instance.instance.metadata_options = ec2.CfnInstance.MetadataOptionsProperty(
        http_tokens="required", http_put_response_hop_limit=metadata_hop_limit
    )
    return instance


def _security_group_description(public_ports: Sequence[int]) -> str:
    if tuple(public_ports) == DEFAULT_PUBLIC_PORTS:
        return "Docker host: HTTP and HTTPS in for nginx; all out"
    if not public_ports:
        return "Docker host: nothing in from the internet; all out"
    return f"Docker host: TCP {', '.join(str(p) for p in public_ports)} in; all out"


@jsii.implements(ec2.IConnectable, iam.IGrantable)
class ObservedEc2Host(Construct):
    """An EC2 instance ready to run a docker-compose app whose containers log to CloudWatch, observed.

    A secure ``ec2.Instance`` plus a :class:`~constructs_obs.host.observability.HostObservability` of it
    (:attr:`observability`): composition, as aws-cdk-lib's ``ec2.Instance`` is a ``CfnInstance``, a role, a security
    group and an instance profile. To observe an instance made elsewhere, use ``HostObservability`` alone.

    Secure by default: IMDSv2 required with a hop limit of 1 (containers cannot reach the role's credentials),
    encrypted gp3 root volume, no SSH port and no key pair (shell access through SSM Session Manager), inbound
    HTTP/HTTPS only (``public_ports``; ``()`` for a host behind a load balancer), termination protection on
    once the stack is deployed,
    basic (free) 5-minute monitoring, an Elastic IP so the address survives stop/start. The role may write to
    ``log_groups``, use Session Manager and receive its setup, and nothing else (the observability's
    ``ssm_agent_permissions``).

    A CDK citizen: it is :class:`~constructs_obs.host.interface.IObservedHost` (what alarms, saved queries and the
    dashboard read), ``ec2.IConnectable`` (``db.connections.allow_from(host, ec2.Port.tcp(5432))``) and
    ``iam.IGrantable`` (``bucket.grant_read(host)``), with ``metric()``, ``metric_cpu_utilization()``,
    ``metric_status_check_failed()``, ``metric_memory_used_percent()``, ``metric_disk_used_percent()`` and
    ``metric_container_crashes()`` (each takes aws-cdk-lib's metric options, see
    :class:`~constructs_obs.host.metric_options.MetricOptions`). Its ``node.default_child`` is the ``CfnInstance``, as
    for ``ec2.Instance``.

    Set up in two parts: the user data installs Docker and the Compose plugin at first boot, and nothing else;
    everything the library runs on the host (the CloudWatch agent and its configuration, the docker-events
    service) comes from an SSM State Manager association (:class:`~constructs_obs.host.setup.HostSetup`), which
    CloudFormation waits for, so a host whose monitoring cannot be set up fails the deploy, and which is
    re-applied on every change without stopping or replacing the instance.

    Observed from the inside too: the CloudWatch agent (:class:`~constructs_obs.host.agent.CloudWatchAgent`) publishes
    memory and root-disk used percent to ``metrics_namespace``, and a ``docker-events`` service
    (:class:`~constructs_obs.host.docker_events.DockerEventsLog`) sends container ``die``/``oom`` events to
    ``{prefix}/docker-events``, where a metric filter counts crashes. The role may also publish metrics into
    ``metrics_namespace`` (only) and write to the docker-events log group (only).

    Attributes:
        instance: the EC2 instance.
        role: the instance's IAM role (created unless ``role`` was given; its instance profile is created with
            the instance).
        security_group: the instance's security group (created unless ``security_group`` was given).
        connections: the instance's connections (its security groups).
        user_data: the instance's user data (first boot only: Docker and the Compose plugin). Changing it
            later stops and starts the instance, and cloud-init does not run it again: add your own first-boot
            commands here, and anything that must reach a running host to :attr:`setup`.
        elastic_ip: the host's Elastic IP, or None with ``elastic_ip=False``.
        observability: the instance's :class:`~constructs_obs.host.observability.HostObservability` (setup,
            grants, docker-events, agent, Prometheus, metrics); :attr:`log_groups`, :attr:`setup`,
            :attr:`docker_events`, :attr:`agent`, :attr:`prometheus` and :attr:`metrics_namespace` are its.
        termination_protection: what switches the instance's termination protection on after the deploy, or
            None with ``termination_protection=False``.
        data_volume: the data volume, its attachment and its mount step, or None without ``data_volume``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        log_groups: ContainerLogGroups,
        instance_type: ec2.InstanceType | None = None,
        machine_image: ec2.IMachineImage | None = None,
        role: iam.IRole | None = None,
        role_name: str | None = None,
        security_group: ec2.ISecurityGroup | None = None,
        public_ports: Sequence[int] = DEFAULT_PUBLIC_PORTS,
        instance_name: str | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        root_volume_size_gib: int = 30,
        compose_version: str = DEFAULT_COMPOSE_VERSION,
        termination_protection: bool = True,
        metrics_namespace: str | None = None,
        detailed_monitoring: bool = False,
        metadata_hop_limit: int = 1,
        elastic_ip: bool = True,
        prometheus_scrapes: Sequence[PrometheusScrape] = (),
        allow_remote_login_from_internet: bool = False,
        data_volume: DataVolume | None = None,
        transfer_bucket: s3.IBucket | None = None,
    ) -> None:
        """Create the host.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            vpc: the VPC to launch in.
            log_groups: the container log groups this host's Docker daemon writes to.
            instance_type: default ``t3.small``.
            machine_image: default Amazon Linux 2023 for the instance type's architecture, resolved by EC2 at
                launch (see :func:`al2023_at_launch`), so a new AMI never replaces a running host. Pass another
                image (for example ``ec2.MachineImage.generic_linux({...})``) to move to a newer AMI
                deliberately; that deploy replaces the instance (the log groups, and so the logs, stay).
            role: an existing role for the instance (it must trust ``ec2.amazonaws.com``); the host adds its
                statements to it. Default: a new role.
            role_name: physical name of the role the host creates. Default: generated by CloudFormation. Not with
                ``role``.
            security_group: an existing security group for the instance. Default: a new one with all outbound.
            public_ports: TCP ports open to the whole internet (IPv4) on the security group. Default ``(80,
                443)`` for nginx; ``()`` for a host behind a load balancer (open the balancer's access with
                ``host.connections.allow_from(alb, ec2.Port.tcp(80))``). 22 (SSH) and 3389 (RDP) only with
                ``allow_remote_login_from_internet``.
            instance_name: the ``Name`` tag. Default: the construct path.
            vpc_subnets: where to launch. Default: public subnets (no NAT gateway needed).
            root_volume_size_gib: root gp3 volume size. Default 30 GiB (the EBS free tier).
            compose_version: the Docker Compose plugin release to install.
            termination_protection: EC2 API termination protection, switched on by the host once the whole
                stack is deployed (:class:`~constructs_obs.host.protection.TerminationProtection`), never at launch:
                a failed first deploy, or a failed update that replaces the instance, rolls back cleanly. Default
                on. To delete the stack, switch it off first: ``aws ec2 modify-instance-attribute --instance-id
                <id> --no-disable-api-termination``.
            metrics_namespace: CloudWatch namespace of the host's custom metrics (the agent's memory and disk
                metrics and the container-crash count); the role may publish into it and no other. Default
                ``ConstructsObs/{stack name}/{host path}``, unique per host. A namespace you pass must be this
                host's alone in its account and Region (the container-crash count cannot carry the host's
                instance id): synth fails when another host in the app would share its series.
            detailed_monitoring: 1-minute EC2 metrics. Default off: they are billed, and basic 5-minute
                monitoring is free and what the alarms are built for.
            metadata_hop_limit: the instance metadata service's PUT response hop limit. Default 1: only
                processes on the host itself (Docker's awslogs driver runs in the daemon, on the host) can get
                an IMDSv2 token, so a container on Docker's bridge network cannot fetch the instance role's
                credentials. Set 2 only for an app that calls AWS from a bridged container with the host's
                role (containers with ``network_mode: host`` reach the service either way).
            elastic_ip: give the host an Elastic IP, so its public address survives stop/start (DNS keeps
                working). Default on; it costs nothing beyond the public IPv4 address the host pays for
                anyway. Turn off for a host behind a load balancer.
            prometheus_scrapes: Prometheus endpoints on the host for the CloudWatch agent to scrape
                (:class:`~constructs_obs.host.prometheus.scrape.PrometheusScrape`): their selected metrics are published to
                ``metrics_namespace`` through the log group ``{prefix}/prometheus``. Default: none.
            allow_remote_login_from_internet: let ``public_ports`` open 22 (SSH) or 3389 (RDP) to the whole
                internet. Default off: the host's shell is Session Manager's, which needs no open port; open a
                login port to your own network with ``host.connections.allow_from(...)`` instead.
            data_volume: keep the app's data off the root volume
                (:class:`~constructs_obs.host.data_volume.DataVolume`): an encrypted gp3 volume of its own, mounted
                at Docker's data root by default, kept when the stack is deleted and never swapped under a running
                host by a deploy (see :mod:`constructs_obs.host.data_volume`). Default: none; the root volume,
                deleted with the instance, holds everything. A host that runs a database needs one.
            transfer_bucket: a bucket whose objects the host's role may get and put, for a database dump on its
                way between hosts (see ``HostObservability``). Default: none, no S3 access.

        Raises:
            TypeError: ``log_groups`` missing or not a :class:`ContainerLogGroups`, or another prop of the
                wrong type.
            ValueError: a role name IAM would reject, ``role`` with ``role_name``, a root volume size outside
                8-16384 GiB, a compose version that is not a release tag like ``v2.40.3``, a metrics namespace
                CloudWatch would reject, a public port outside 1-65535 or repeated, 22 or 3389 in
                ``public_ports`` without ``allow_remote_login_from_internet``, or a container named
                ``docker-events`` (that log group is the host's).
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        ports = self._validate(
            vpc=vpc,
            log_groups=log_groups,
            instance_type=instance_type,
            machine_image=machine_image,
            role=role,
            role_name=role_name,
            security_group=security_group,
            public_ports=public_ports,
            instance_name=instance_name,
            vpc_subnets=vpc_subnets,
            root_volume_size_gib=root_volume_size_gib,
            compose_version=compose_version,
            termination_protection=termination_protection,
            detailed_monitoring=detailed_monitoring,
            metrics_namespace=metrics_namespace,
            metadata_hop_limit=metadata_hop_limit,
            elastic_ip=elastic_ip,
            allow_remote_login_from_internet=allow_remote_login_from_internet,
        )
        scrapes = validate_scrapes("prometheus_scrapes", prometheus_scrapes, containers=log_groups.containers)
        volume_options = validate_data_volume("data_volume", data_volume)
        instance_type = instance_type or ec2.InstanceType("t3.small")
        machine_image = machine_image or al2023_at_launch(instance_type)
        image = inspect_image(scope, machine_image, instance_type)
        super().__init__(scope, construct_id)

        self.role = _host_role(self, role, role_name)
        self.security_group = _security_group(self, vpc, security_group, ports)
        self.user_data = docker_user_data(compose_version)
        self.instance = _instance(
            self,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            instance_type=instance_type,
            machine_image=machine_image,
            role=self.role,
            security_group=self.security_group,
            user_data=self.user_data,
            instance_name=instance_name,
            metadata_hop_limit=metadata_hop_limit,
            detailed_monitoring=detailed_monitoring,
            root_volume_size_gib=root_volume_size_gib,
        )
        self.connections = self.instance.connections
        self.node.default_child = self.instance.node.default_child

        if elastic_ip:
            # A fixed public address: DNS records keep pointing at the host across stop/start. An address
            # associated with a running instance costs the same as the public IPv4 it replaces.
            self.elastic_ip: ec2.CfnEIP | None = ec2.CfnEIP(
                self, "ElasticIp", domain="vpc", instance_id=self.instance.instance_id
            )
        else:
            self.elastic_ip = None

        # The id "Default" keeps the logical ids of the association, the docker-events and Prometheus log groups
        # and the crash filter as they were when this construct held them directly (HostSetupAssociation...,
        # HostDockerEventsLogGroup...): aws-cdk-lib leaves a "Default" path component out of logical ids
        # (makeUniqueId, aws-cdk-lib core), and the observability names the host by this construct's path. No
        # override_logical_id: resources added to the observability later get stable ids the same way.
        self.observability = HostObservability(
            self,
            DEFAULT_ID,
            instance=self.instance,
            role=self.role,
            log_groups=log_groups,
            metrics_namespace=metrics_namespace or default_metrics_namespace(self),
            prometheus_scrapes=scrapes,
            ssm_agent_permissions=True,
            transfer_bucket=transfer_bucket,
        )
        self.data_volume: HostDataVolume | None = (
            HostDataVolume(
                self,
                "DataVolume",
                instance=self.instance,
                options=volume_options,
                setup=self.observability.setup,
            )
            if volume_options is not None
            else None
        )
        if self.elastic_ip is not None:
            # The setup downloads packages (dnf): it starts once the public address is final, not while EC2
            # swaps the auto-assigned address for the Elastic IP under it.
            self.observability.setup.association.node.add_dependency(self.elastic_ip)
        self.termination_protection: TerminationProtection | None = (
            TerminationProtection(self, "TerminationProtection", instance=self.instance)
            if termination_protection
            else None
        )
        self._acknowledge(image, detailed_monitoring)

    def _acknowledge(self, image: ImageFacts, detailed_monitoring: bool) -> None:
        acknowledge(self.instance, IMDSV2_ON_THE_INSTANCE)
        if image.resolved_at_launch and image.al2023:
            # EC2 accepts "resolve:ssm:<parameter>" image ids; the template validators' format check does not.
            # Any Amazon Linux 2023 parameter, pinned to a version or not (al2023_at_launch(parameter_version=...)).
            acknowledge(self.instance, AMI_RESOLVED_AT_LAUNCH)
        if image.minimal:
            Annotations.of(self).add_warning_v2(
                "constructs-obs:minimal-image",
                "machine_image is an Amazon Linux 2023 minimal image: the host's setup arrives through the SSM "
                "agent, which the minimal image may not include. Install amazon-ssm-agent in the user data, or "
                "use the standard image (al2023_at_launch).",
            )
        if not detailed_monitoring:
            acknowledge(self.instance, DETAILED_MONITORING)
        image_id = self.instance.instance.image_id
        if image.literal_ami and image_id is not None and not Token.is_unresolved(image_id):
            acknowledge(self.instance, PINNED_AMI)
        zone = self.instance.instance.availability_zone
        if zone is not None and not Token.is_unresolved(zone):
            acknowledge(self.instance, SUBNET_AVAILABILITY_ZONE)

    @staticmethod
    def _validate(
        *,
        vpc: object,
        log_groups: object,
        instance_type: object,
        machine_image: object,
        role: object,
        role_name: object,
        security_group: object,
        public_ports: object,
        instance_name: object,
        vpc_subnets: object,
        root_volume_size_gib: object,
        compose_version: object,
        termination_protection: object,
        detailed_monitoring: object,
        metrics_namespace: object,
        metadata_hop_limit: object = 1,
        elastic_ip: object = True,
        allow_remote_login_from_internet: object = False,
    ) -> tuple[int, ...]:
        check_log_groups(log_groups)
        check.require_interface("vpc", vpc, "vpc_id", "an ec2.IVpc")
        if instance_type is not None:
            check.require_type("instance_type", instance_type, ec2.InstanceType, "an ec2.InstanceType")
        if machine_image is not None:
            check.require_interface("machine_image", machine_image, "get_image", "an ec2.IMachineImage")
        if role is not None:
            check.require_interface("role", role, "role_arn", "an iam.IRole")
            if role_name is not None:
                raise ValueError(
                    f"role_name={role_name!r} names the role the host creates, but role= was given too: "
                    "drop one of them"
                )
        if role_name is not None:
            check.role_name("role_name", role_name)
        if security_group is not None:
            check.require_interface(
                "security_group", security_group, "security_group_id", "an ec2.ISecurityGroup"
            )
        ports = _check_public_ports(
            public_ports, allow_remote_login_from_internet=allow_remote_login_from_internet
        )
        if instance_name is not None:
            check.tag_value("instance_name", instance_name)
        if vpc_subnets is not None:
            check.require_type("vpc_subnets", vpc_subnets, ec2.SubnetSelection, "an ec2.SubnetSelection")
        check.integer(
            "root_volume_size_gib",
            root_volume_size_gib,
            minimum=MIN_ROOT_VOLUME_GIB,
            maximum=MAX_ROOT_VOLUME_GIB,
            unit=" GiB (the AMI's 8 GiB snapshot up to gp3's maximum)",
        )
        _check_compose_version(compose_version)
        check.require_bool("termination_protection", termination_protection)
        check.require_bool("detailed_monitoring", detailed_monitoring)
        check.require_bool("elastic_ip", elastic_ip)
        check.integer("metadata_hop_limit", metadata_hop_limit, minimum=1, maximum=64, unit="")
        if metrics_namespace is not None:
            check.metrics_namespace("metrics_namespace", metrics_namespace)
        return ports

    # --- what the observability provides (IObservedHost) ----------------------------------------------------

    @property
    def grant_principal(self) -> iam.IPrincipal:
        """The instance's role: grant it access with ``bucket.grant_read(host)`` and the like."""
        return self.role.grant_principal

    @property
    def instance_id(self) -> str:
        """The instance id (a token until deploy)."""
        return self.instance.instance_id

    @property
    def region(self) -> str:
        """The region the host and its log groups live in."""
        return Stack.of(self).region

    @property
    def log_groups(self) -> ContainerLogGroups:
        """The container log groups the host ships to."""
        return self.observability.log_groups

    @property
    def metrics_namespace(self) -> str:
        """The namespace of the host's custom metrics."""
        return self.observability.metrics_namespace

    @property
    def alarm_specs(self) -> tuple[AlarmSpec, ...]:
        """See :attr:`HostObservability.alarm_specs <constructs_obs.host.observability.HostObservability.alarm_specs>`."""
        return self.observability.alarm_specs

    @property
    def setup(self) -> HostSetup:
        """The association that sets up the agent and the docker-events service (add steps to it)."""
        return self.observability.setup

    @property
    def docker_events(self) -> DockerEventsLog:
        """The container events log group, its service and the crash metric."""
        return self.observability.docker_events

    @property
    def agent(self) -> CloudWatchAgent:
        """The CloudWatch agent (memory and disk metrics)."""
        return self.observability.agent

    @property
    def prometheus(self) -> PrometheusMetrics | None:
        """The Prometheus endpoints the agent scrapes (``prometheus_scrapes``), or None."""
        return self.observability.prometheus

    def metric(self, metric_name: str, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`HostObservability.metric <constructs_obs.host.observability.HostObservability.metric>`."""
        return self.observability.metric(metric_name, **options)

    def metric_cpu_utilization(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`~constructs_obs.host.observability.HostObservability.metric_cpu_utilization`."""
        return self.observability.metric_cpu_utilization(**options)

    def metric_status_check_failed(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`~constructs_obs.host.observability.HostObservability.metric_status_check_failed`."""
        return self.observability.metric_status_check_failed(**options)

    def metric_memory_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`~constructs_obs.host.observability.HostObservability.metric_memory_used_percent`."""
        return self.observability.metric_memory_used_percent(**options)

    def metric_disk_used_percent(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`~constructs_obs.host.observability.HostObservability.metric_disk_used_percent`."""
        return self.observability.metric_disk_used_percent(**options)

    def metric_container_crashes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """See :meth:`~constructs_obs.host.observability.HostObservability.metric_container_crashes`."""
        return self.observability.metric_container_crashes(**options)
