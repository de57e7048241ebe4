"""Scenario 5: an ARM host, and pinned images.

Three hosts, three ways to choose the image:

- **ARM** (Graviton, ``t4g.small``): nothing to choose. The default image is Amazon Linux 2023 of the instance
  type's architecture, here the ``arm64`` one, resolved by EC2 at launch.
- **A pinned parameter version**: ``al2023_at_launch(instance_type, parameter_version="95")`` keeps the same
  resolve-at-launch form, pinned to one version of the public parameter. Raising the version is how you move the
  host to a newer AMI on purpose; that deploy replaces the instance.
- **A literal AMI id**: ``ec2.MachineImage.generic_linux({region: "ami-..."})``. Nothing in the template says
  which operating system it is: it must be Amazon Linux 2023 of the instance type's architecture.

An image known not to be Amazon Linux 2023 (Amazon Linux 2, Ubuntu, Windows, ...) or of the wrong architecture
is refused when the host is created.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import ContainerLogGroups, ObservedEc2Host
from constructs_obs.host.images import al2023_at_launch

REGION = "eu-west-1"
PINNED_PARAMETER_VERSION = "95"
PINNED_AMI = "ami-0123456789abcdef0"


class ImagesStack(cdk.Stack):
    """An ARM host, a host on a pinned parameter version and a host on a literal AMI id."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )

        # ARM: the instance type alone picks the arm64 Amazon Linux 2023 image.
        self.arm = ObservedEc2Host(
            self,
            "ArmHost",
            vpc=vpc,
            log_groups=ContainerLogGroups(self, "ArmLogs", prefix="/images-arm", containers=["api"]),
            instance_type=ec2.InstanceType("t4g.small"),
        )

        # One version of the public parameter, still resolved by EC2 at launch.
        small = ec2.InstanceType("t3.small")
        self.pinned_version = ObservedEc2Host(
            self,
            "PinnedVersionHost",
            vpc=vpc,
            log_groups=ContainerLogGroups(
                self, "PinnedVersionLogs", prefix="/images-pinned", containers=["api"]
            ),
            instance_type=small,
            machine_image=al2023_at_launch(small, parameter_version=PINNED_PARAMETER_VERSION),
        )

        # A literal AMI id for this stack's region.
        self.pinned_ami = ObservedEc2Host(
            self,
            "PinnedAmiHost",
            vpc=vpc,
            log_groups=ContainerLogGroups(self, "PinnedAmiLogs", prefix="/images-ami", containers=["api"]),
            instance_type=small,
            machine_image=ec2.MachineImage.generic_linux({REGION: PINNED_AMI}),
        )


def build(app: cdk.App) -> ImagesStack:
    """The three hosts in eu-west-1."""
    return ImagesStack(app, "Images", env=cdk.Environment(region=REGION))
