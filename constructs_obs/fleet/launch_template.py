"""A launch template as secure as the single host, for an Auto Scaling group of Docker hosts:
:func:`docker_launch_template`.

:class:`~constructs_obs.fleet.observability.FleetObservability` takes any group; this is the convenience for teams
that build theirs with the library's defaults: what :class:`~constructs_obs.host.instance.ObservedEc2Host` gives
its instance, in a launch template (``ec2.LaunchTemplate``) to pass to ``autoscaling.AutoScalingGroup(launch_template=
...)``.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.host.images import al2023_at_launch
from constructs_obs.host.instance import (
    DEFAULT_COMPOSE_VERSION,
    MAX_ROOT_VOLUME_GIB,
    MIN_ROOT_VOLUME_GIB,
    docker_user_data,
    encrypted_root_volume,
)

#: The root volume of each instance: the EBS free tier's 30 GiB, as the single host's.
DEFAULT_ROOT_VOLUME_GIB = 30


def docker_launch_template(
    scope: Construct,
    construct_id: str,
    *,
    role: iam.IRole,
    security_group: ec2.ISecurityGroup,
    instance_type: ec2.InstanceType | None = None,
    machine_image: ec2.IMachineImage | None = None,
    root_volume_size_gib: int = DEFAULT_ROOT_VOLUME_GIB,
    compose_version: str = DEFAULT_COMPOSE_VERSION,
) -> ec2.LaunchTemplate:
    """A launch template for Docker hosts on Amazon Linux 2023, secure as the single host.

    - IMDSv2 required, hop limit 1: only processes on the instance itself get a token, so a container on Docker's
      bridge network cannot fetch the role's credentials.
    - An encrypted gp3 root volume (``/dev/xvda``, deleted with the instance).
    - No key pair and no SSH: the shell is Session Manager's (the role needs the SSM agent's permissions:
      ``FleetObservability(ssm_agent_permissions=True)`` or ``AmazonSSMManagedInstanceCore``).
    - Basic (free) monitoring: detailed monitoring is billed per instance, like custom metrics.
    - The user data installs Docker and the Compose plugin, and nothing else (:func:`~constructs_obs.host.instance.
      docker_user_data`); the observability comes from the fleet's setup association. Start your app from your own
      user data (``template.user_data.add_commands(...)``) or an association of your own.

    Args:
        scope: the parent construct.
        construct_id: the construct id.
        role: the instances' role (the launch template's instance profile holds it).
        security_group: the instances' security group (behind a load balancer: open to the balancer only).
        instance_type: default ``t3.small``.
        machine_image: default the latest Amazon Linux 2023, resolved by EC2 at each launch
            (:func:`~constructs_obs.host.images.al2023_at_launch`).
        root_volume_size_gib: 8-16384. Default 30.
        compose_version: the Docker Compose plugin release the user data installs.

    Raises:
        TypeError: a prop of the wrong type.
        ValueError: a root volume size outside 8-16384 GiB, or a compose version that is not a release tag.
    """
    check.require_interface("role", role, "role_arn", "an iam.IRole")
    check.require_interface("security_group", security_group, "security_group_id", "an ec2.ISecurityGroup")
    if instance_type is not None:
        check.require_type("instance_type", instance_type, ec2.InstanceType, "an ec2.InstanceType")
    if machine_image is not None:
        check.require_interface("machine_image", machine_image, "get_image", "an ec2.IMachineImage")
    check.integer(
        "root_volume_size_gib",
        root_volume_size_gib,
        minimum=MIN_ROOT_VOLUME_GIB,
        maximum=MAX_ROOT_VOLUME_GIB,
        unit=" GiB (the AMI's 8 GiB snapshot up to gp3's maximum)",
    )
    user_data = docker_user_data(compose_version)
    instance_type = instance_type or ec2.InstanceType("t3.small")
    return ec2.LaunchTemplate(
        scope,
        construct_id,
        instance_type=instance_type,
        machine_image=machine_image or al2023_at_launch(instance_type),
        role=role,
        security_group=security_group,
        user_data=user_data,
        require_imdsv2=True,
        http_put_response_hop_limit=1,
        detailed_monitoring=False,
        block_devices=[encrypted_root_volume(root_volume_size_gib)],
    )
