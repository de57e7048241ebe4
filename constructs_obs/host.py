"""An EC2 Docker host whose containers ship their output to CloudWatch Logs."""

from __future__ import annotations

import re

from aws_cdk import Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs import _validation as check
from constructs_obs.agent import DEFAULT_METRICS_NAMESPACE, CloudWatchAgent
from constructs_obs.compliance import acknowledge, declare, nag_label
from constructs_obs.docker_events import DockerEventsLog
from constructs_obs.log_groups import ContainerLogGroups
from constructs_obs.setup import HostSetup

#: Docker Compose plugin release installed by the user data (checked against the release's .sha256 file).
DEFAULT_COMPOSE_VERSION = "v2.40.3"

#: The log group of the host's Docker container events is ``{log group prefix}/docker-events``.
DOCKER_EVENTS_LOG_NAME = "docker-events"

#: Public SSM parameters that always name the newest Amazon Linux 2023 AMI, per CPU architecture.
AL2023_PARAMETERS: dict[ec2.InstanceArchitecture, str] = {
    ec2.InstanceArchitecture.X86_64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    ec2.InstanceArchitecture.ARM_64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}

#: What the SSM agent needs for Session Manager's message channels (besides ssm:UpdateInstanceInformation):
#: the channel actions of AmazonSSMManagedInstanceCore. None of them supports resource-level permissions.
SSM_CHANNEL_ACTIONS: tuple[str, ...] = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)

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
SESSION_MANAGER_REGISTRATION = declare(
    "host.ssm-registration",
    owner="ObservedEc2Host",
    target="Role",
    rules=("AwsSolutions-IAM5[Resource::{instances}]",),
    placeholders={"instances": "arn:<partition>:ec2:<region>:<account>:instance/*"},
    reason="""`ssm:UpdateInstanceInformation` (the SSM agent registering the host for Session Manager) is scoped
    to the EC2 instances of this account and region. Naming the instance itself would need a policy created after
    the instance launches, and the agent would fail to register until it exists.""",
)
NO_RESOURCE_LEVEL_PERMISSIONS = declare(
    "host.actions-without-resource-scope",
    owner="ObservedEc2Host",
    target="Role",
    rules=("AwsSolutions-IAM5[Resource::*]",),
    reason="""`Resource: *` only for actions that support no resource-level permissions: the SSM agent's
    `ssmmessages:*` and `ec2messages:*` channel actions for Session Manager (listed one by one, no action
    wildcard), and the CloudWatch agent's `cloudwatch:PutMetricData`, limited by a `cloudwatch:namespace`
    condition to the host's own metrics namespace. Every other statement names its resources (the container
    and docker-events log groups).""",
)
ROLE_POLICY = declare(
    "host.role-policy",
    owner="ObservedEc2Host",
    target="Role",
    rules=("NIST.800.53.R5-IAMNoInlinePolicy", "HIPAA.Security-IAMNoInlinePolicy"),
    reason="""The role's permissions are one policy that this construct owns, created and deleted with the role and
    granting only this host's log writes and Session Manager; a standalone managed policy would hold the same
    statements with nothing to share them with.""",
)


def al2023_at_launch(
    instance_type: ec2.InstanceType, parameter_version: str | None = None
) -> ec2.IMachineImage:
    """Amazon Linux 2023 for ``instance_type``'s architecture, resolved by EC2 when the instance launches.

    The template holds ``resolve:ssm:<parameter>`` rather than an AMI id, so it never changes when AWS
    publishes a newer AMI and the instance is never replaced by a deploy for that reason (the CloudFormation
    equivalent of Terraform's ``lifecycle { ignore_changes = [ami] }``). Synth needs no AWS credentials.
    Pass ``parameter_version`` to pin one version of the parameter; changing it replaces the instance.
    """
    return ec2.MachineImage.resolve_ssm_parameter_at_launch(
        AL2023_PARAMETERS[instance_type.architecture],
        os=ec2.OperatingSystemType.LINUX,
        parameter_version=parameter_version,
    )


def _check_compose_version(compose_version: object) -> None:
    check.require_type("compose_version", compose_version, str, "a Docker Compose release tag like 'v2.40.3'")
    if not _COMPOSE_VERSION.fullmatch(str(compose_version)):
        raise ValueError(
            f"compose_version must be a Docker Compose release tag like 'v2.40.3' (it goes into the "
            f"download URL and the user data script), got {compose_version!r}"
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


class ObservedEc2Host(Construct):
    """An EC2 instance ready to run a docker-compose app whose containers log to CloudWatch.

    Secure by default: IMDSv2 required with a hop limit of 1 (containers cannot reach the role's credentials),
    encrypted gp3 root volume, no SSH port and no key pair (shell access through SSM Session Manager), inbound
    HTTP/HTTPS only, termination protection on, basic (free) 5-minute monitoring, an Elastic IP so the address
    survives stop/start. The role may write to ``log_groups``, use Session Manager and receive its setup, and
    nothing else.

    Set up in two parts: the user data installs Docker and the Compose plugin at first boot, and nothing else;
    everything the library runs on the host (the CloudWatch agent and its configuration, the docker-events
    service) comes from an SSM State Manager association (:class:`~constructs_obs.setup.HostSetup`), which
    CloudFormation waits for, so a host whose monitoring cannot be set up fails the deploy, and which is
    re-applied on every change without stopping or replacing the instance.

    Observed from the inside too: the CloudWatch agent (:class:`~constructs_obs.agent.CloudWatchAgent`) publishes
    memory and root-disk used percent to ``metrics_namespace``, and a ``docker-events`` service
    (:class:`~constructs_obs.docker_events.DockerEventsLog`) sends container ``die``/``oom`` events to
    ``{prefix}/docker-events``, where a metric filter counts crashes. The role may also publish metrics into
    ``metrics_namespace`` (only) and write to the docker-events log group (only).

    Attributes:
        instance: the EC2 instance.
        role: the instance's IAM role (its instance profile is created with the instance).
        security_group: the instance's security group.
        log_groups: the container log groups the host ships to.
        user_data: the instance's user data (first boot only: Docker and the Compose plugin). Changing it
            later stops and starts the instance, and cloud-init does not run it again: add your own first-boot
            commands here, and anything that must reach a running host to :attr:`setup`.
        setup: the association that sets up the agent and the docker-events service (add steps to it).
        elastic_ip: the host's Elastic IP, or None with ``elastic_ip=False``.
        agent: the CloudWatch agent (memory and disk metrics).
        docker_events: the container events log group, its service and the crash metric.
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
        role_name: str | None = None,
        instance_name: str | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        root_volume_size_gib: int = 30,
        compose_version: str = DEFAULT_COMPOSE_VERSION,
        termination_protection: bool = True,
        metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        detailed_monitoring: bool = False,
        metadata_hop_limit: int = 1,
        elastic_ip: bool = True,
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
            role_name: physical name of the IAM role. Default: generated by CloudFormation.
            instance_name: the ``Name`` tag. Default: the construct path.
            vpc_subnets: where to launch. Default: public subnets (no NAT gateway needed).
            root_volume_size_gib: root gp3 volume size. Default 30 GiB (the EBS free tier).
            compose_version: the Docker Compose plugin release to install.
            termination_protection: EC2 API termination protection. Default on.
            metrics_namespace: CloudWatch namespace of the host's custom metrics (the agent's memory and disk
                metrics and the container-crash count). One per application keeps each host's permission to
                publish metrics inside its own namespace.
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

        Raises:
            TypeError: ``log_groups`` missing or not a :class:`ContainerLogGroups`, or another prop of the
                wrong type.
            ValueError: a role name IAM would reject, a root volume size outside 8-16384 GiB, a compose
                version that is not a release tag like ``v2.40.3``, a metrics namespace CloudWatch would
                reject, or a container named ``docker-events`` (that log group is the host's).
        """
        # Validated before the construct joins the tree, so a refused one leaves nothing behind.
        self._validate(
            vpc=vpc,
            log_groups=log_groups,
            instance_type=instance_type,
            machine_image=machine_image,
            role_name=role_name,
            instance_name=instance_name,
            vpc_subnets=vpc_subnets,
            root_volume_size_gib=root_volume_size_gib,
            compose_version=compose_version,
            termination_protection=termination_protection,
            detailed_monitoring=detailed_monitoring,
            metrics_namespace=metrics_namespace,
            metadata_hop_limit=metadata_hop_limit,
            elastic_ip=elastic_ip,
        )
        super().__init__(scope, construct_id)
        instance_type = instance_type or ec2.InstanceType("t3.small")
        self.log_groups = log_groups

        self.role = iam.Role(
            self,
            "Role",
            role_name=role_name,
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"EC2 host {self.node.path}: writes container logs to CloudWatch; Session Manager access",
        )
        log_groups.grant_write(self.role)
        # Session Manager: the agent registers this instance (scoped to the account's instances), then opens
        # its message channels (those actions have no resource-level permissions).
        account_instances = Stack.of(self).format_arn(service="ec2", resource="instance", resource_name="*")
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["ssm:UpdateInstanceInformation"], resources=[account_instances])
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SSM_CHANNEL_ACTIONS), resources=["*"])
        )
        acknowledge(self.role, SESSION_MANAGER_REGISTRATION, instances=nag_label(self, account_instances))
        acknowledge(self.role, NO_RESOURCE_LEVEL_PERMISSIONS)
        acknowledge(self.role, ROLE_POLICY)

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Docker host: HTTP and HTTPS in for nginx; all out",
            allow_all_outbound=True,
        )
        for port, name in ((80, "HTTP"), (443, "HTTPS")):
            self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"{name} to nginx")
        acknowledge(self.security_group, PUBLIC_WEB_INGRESS)

        self.user_data = docker_user_data(compose_version)
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=vpc_subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            instance_type=instance_type,
            machine_image=machine_image or al2023_at_launch(instance_type),
            role=self.role,
            security_group=self.security_group,
            user_data=self.user_data,
            instance_name=instance_name,
            http_tokens=ec2.HttpTokens.REQUIRED,
            http_put_response_hop_limit=metadata_hop_limit,
            detailed_monitoring=detailed_monitoring,
            disable_api_termination=termination_protection,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        root_volume_size_gib,
                        encrypted=True,
                        volume_type=ec2.EbsDeviceVolumeType.GP3,
                        delete_on_termination=True,
                    ),
                )
            ],
        )

        if elastic_ip:
            # A fixed public address: DNS records keep pointing at the host across stop/start. An address
            # associated with a running instance costs the same as the public IPv4 it replaces.
            self.elastic_ip: ec2.CfnEIP | None = ec2.CfnEIP(
                self, "ElasticIp", domain="vpc", instance_id=self.instance.instance_id
            )
        else:
            self.elastic_ip = None

        self.setup = HostSetup(self, "Setup", instance_id=self.instance.instance_id, role=self.role)
        self.docker_events = DockerEventsLog(
            self,
            "DockerEvents",
            instance=self.instance,
            setup=self.setup,
            log_group_name=log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
            namespace=metrics_namespace,
            retention=log_groups.retention,
            removal_policy=log_groups.removal_policy,
            encryption_key=log_groups.encryption_key,
        )
        self.agent = CloudWatchAgent(
            self,
            "Agent",
            instance=self.instance,
            setup=self.setup,
            namespace=metrics_namespace,
            log_files=[self.docker_events.agent_log_file],
        )

        if machine_image is None:
            # EC2 accepts "resolve:ssm:<parameter>" image ids; the template validators' format check does not.
            acknowledge(self.instance, AMI_RESOLVED_AT_LAUNCH)
        if not detailed_monitoring:
            acknowledge(self.instance, DETAILED_MONITORING)
        image_id = self.instance.instance.image_id
        if image_id is not None and not Token.is_unresolved(image_id) and image_id.startswith("ami-"):
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
        role_name: object,
        instance_name: object,
        vpc_subnets: object,
        root_volume_size_gib: object,
        compose_version: object,
        termination_protection: object,
        detailed_monitoring: object,
        metrics_namespace: object,
        metadata_hop_limit: object = 1,
        elastic_ip: object = True,
    ) -> None:
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
        check.require_interface("vpc", vpc, "vpc_id", "an ec2.IVpc")
        if instance_type is not None:
            check.require_type("instance_type", instance_type, ec2.InstanceType, "an ec2.InstanceType")
        if machine_image is not None:
            check.require_interface("machine_image", machine_image, "get_image", "an ec2.IMachineImage")
        if role_name is not None:
            check.role_name("role_name", role_name)
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
        check.require_type(
            "compose_version", compose_version, str, "a Docker Compose release tag like 'v2.40.3'"
        )
        if not _COMPOSE_VERSION.fullmatch(str(compose_version)):
            raise ValueError(
                f"compose_version must be a Docker Compose release tag like 'v2.40.3' (it goes into the "
                f"download URL and the user data script), got {compose_version!r}"
            )
        check.require_bool("termination_protection", termination_protection)
        check.require_bool("detailed_monitoring", detailed_monitoring)
        check.require_bool("elastic_ip", elastic_ip)
        check.integer("metadata_hop_limit", metadata_hop_limit, minimum=1, maximum=64, unit="")
        check.metrics_namespace("metrics_namespace", metrics_namespace)
        if isinstance(log_groups, ContainerLogGroups) and DOCKER_EVENTS_LOG_NAME in log_groups.containers:
            raise ValueError(
                f"log_groups has a container named {DOCKER_EVENTS_LOG_NAME!r}, whose log group "
                f"{log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME)!r} the host needs for Docker events; "
                "rename the container"
            )

    @property
    def instance_id(self) -> str:
        """The instance id (a token until deploy)."""
        return self.instance.instance_id

    @property
    def region(self) -> str:
        """The region the host and its log groups live in."""
        return Stack.of(self).region
