"""An EC2 Docker host whose containers ship their output to CloudWatch Logs."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs.agent import DEFAULT_METRICS_NAMESPACE, CloudWatchAgent
from constructs_obs.docker_events import DockerEventsLog
from constructs_obs.log_groups import ContainerLogGroups

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


def docker_user_data(compose_version: str = DEFAULT_COMPOSE_VERSION) -> ec2.UserData:
    """User data that installs Docker and the Docker Compose plugin on Amazon Linux 2023."""
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

    Secure by default: IMDSv2 required, encrypted gp3 root volume, no SSH port and no key pair (shell access
    through SSM Session Manager), inbound HTTP/HTTPS only, termination protection on, basic (free) 5-minute
    monitoring. The role may write to ``log_groups`` and use Session Manager, and nothing else.

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
        user_data: the instance's user data; add commands to it to provision more.
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
        """
        super().__init__(scope, construct_id)
        if DOCKER_EVENTS_LOG_NAME in log_groups.containers:
            raise ValueError(
                f"log_groups has a container named {DOCKER_EVENTS_LOG_NAME!r}, whose log group "
                f"{log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME)!r} the host needs for Docker events; "
                "rename the container"
            )
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
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["ssm:UpdateInstanceInformation"],
                resources=[Stack.of(self).format_arn(service="ec2", resource="instance", resource_name="*")],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(actions=list(SSM_CHANNEL_ACTIONS), resources=["*"])
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Docker host: HTTP and HTTPS in for nginx; all out",
            allow_all_outbound=True,
        )
        for port, name in ((80, "HTTP"), (443, "HTTPS")):
            self.security_group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"{name} to nginx")

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
            detailed_monitoring=False,
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

        self.docker_events = DockerEventsLog(
            self,
            "DockerEvents",
            instance=self.instance,
            log_group_name=log_groups.log_group_name(DOCKER_EVENTS_LOG_NAME),
            namespace=metrics_namespace,
            retention=log_groups.retention,
        )
        self.agent = CloudWatchAgent(
            self,
            "Agent",
            instance=self.instance,
            namespace=metrics_namespace,
            log_files=[self.docker_events.agent_log_file],
        )

        if machine_image is None:
            # EC2 accepts "resolve:ssm:<parameter>" image ids; the template validator's format check does not.
            Validations.of(self.instance).acknowledge(
                Acknowledgment(
                    id="CloudFormation-Validate::E1152",
                    reason="ImageId is resolve:ssm:<AL2023 parameter>, resolved by EC2 at launch so a new AMI "
                    "never replaces the host; EC2 accepts this form, the format check does not know it.",
                )
            )

    @property
    def instance_id(self) -> str:
        """The instance id (a token until deploy)."""
        return self.instance.instance_id

    @property
    def region(self) -> str:
        """The region the host and its log groups live in."""
        return Stack.of(self).region
