"""Scenario 4b: your own ``ec2.Instance``, observed.

The team builds its instance with aws-cdk-lib's ``ec2.Instance`` (its own choices of subnet, image, size and
disk) and adds the library's observability to it: ``HostObservability`` takes the instance and its role
(``web.role``), installs the CloudWatch agent and the docker-events service through an SSM State Manager
association, grants the role exactly its log writes and metrics, and gives the alarms and the dashboard their
metrics. The instance's SSM agent receives the setup because the instance has ``ssm_session_permissions=True``
(aws-cdk-lib attaches ``AmazonSSMManagedInstanceCore`` to its role).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, HostObservability, SavedQueries


class BlogStack(cdk.Stack):
    """A blog on the team's own instance, with the library's alarms, queries and dashboard."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.web = ec2.Instance(
            self,
            "Web",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            instance_type=ec2.InstanceType("t3.micro"),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            require_imdsv2=True,
            ssm_session_permissions=True,
        )
        self.logs = ContainerLogGroups(self, "Logs", prefix="/blog", containers=["nginx", "backend"])
        self.host = HostObservability(self, "Observability", instance=self.web, log_groups=self.logs)
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.host, name_prefix="blog-prod", emails=["blog-oncall@example.com"]
        )
        SavedQueries(
            self,
            "Queries",
            host=self.host,
            name_prefix="blog-prod",
            nginx_container="nginx",
            backend_container="backend",
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


def build(app: cdk.App) -> BlogStack:
    """The blog in eu-west-1."""
    return BlogStack(app, "BlogProd", env=cdk.Environment(region="eu-west-1"))
