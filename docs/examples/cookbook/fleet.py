"""Scenario 9: an Auto Scaling group of Docker hosts, observed as one fleet.

The team's own group (2 to 6 instances, built from ``docker_launch_template``: IMDSv2 only, an encrypted gp3
root volume, no SSH) gets ``FleetObservability``: every instance, including those launched later, is set up by one
association on the group's ``aws:autoscaling:groupName`` tag; the agent publishes one series per metric for the
whole group, so the custom-metric count does not grow with it. ``BasicAlarms(host=fleet)`` creates the fleet's
alarms (CPU and status checks on the group, memory and disk on its worst instance, container crashes, and
capacity: fewer instances in service than desired); the saved queries group by instance.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    FleetObservability,
    HostDashboard,
    SavedQueries,
    docker_launch_template,
)


class PortalFleetStack(cdk.Stack):
    """The portal's web tier: an Auto Scaling group in the team's VPC, and its observability."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id="vpc-0123456789abcdef0",
            availability_zones=["us-east-2a", "us-east-2b"],
            public_subnet_ids=["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
        )
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        hosts = ec2.SecurityGroup(self, "Hosts", vpc=vpc, description="Docker hosts of the portal")
        self.group = autoscaling.AutoScalingGroup(
            self,
            "Group",
            vpc=vpc,
            launch_template=docker_launch_template(self, "LaunchTemplate", role=role, security_group=hosts),
            min_capacity=2,
            max_capacity=6,
        )
        logs = ContainerLogGroups(self, "Logs", prefix="/portal", containers=["nginx", "api"])
        self.fleet = FleetObservability(
            self, "Fleet", auto_scaling_group=self.group, log_groups=logs, ssm_agent_permissions=True
        )
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.fleet, name_prefix="portal", emails=["oncall@example.com"]
        )
        SavedQueries(
            self,
            "Queries",
            host=self.fleet,
            name_prefix="portal",
            backend_container="api",
            nginx_container="nginx",
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


def build(app: cdk.App) -> PortalFleetStack:
    """The portal's fleet in us-east-2."""
    return PortalFleetStack(
        app, "PortalFleet", env=cdk.Environment(account="123456789012", region="us-east-2")
    )
