"""Stacks built with the constructs for the doctor's discovery scenarios (synthesized once per session).

``TwoHosts``: two hosts in one stack (a web host with nginx and an API, a worker host), each with its own log
groups, namespace, role and alarms; the web host's nginx has the log-pattern alarms. ``Fleet3``: an Auto Scaling
group of three Docker hosts (``docker_launch_template``) observed as one fleet, with the fleet's alarms. The VPC is
an existing one (``VPC_ID``/``SUBNET_ID``, placeholders the deployment replaces by the ids moto created).
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
    LogPatternAlarms,
    ObservedEc2Host,
    docker_launch_template,
)

VPC_ID = "vpc-0123456789abcdef0"
SUBNET_ID = "subnet-0123456789abcdef0"
TWO_HOSTS = "TwoHosts"
TWO_HOSTS_REGION = "us-east-2"
FLEET = "Fleet3"
FLEET_SIZE = 3


def existing_vpc(scope: Construct) -> ec2.IVpc:
    """The team's VPC (placeholder ids)."""
    return ec2.Vpc.from_vpc_attributes(
        scope,
        "Vpc",
        vpc_id=VPC_ID,
        availability_zones=[f"{TWO_HOSTS_REGION}a"],
        public_subnet_ids=[SUBNET_ID],
    )


class TwoHostsStack(cdk.Stack):
    """Two observed hosts in one stack, in an existing VPC."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = existing_vpc(self)
        web_logs = ContainerLogGroups(self, "WebLogs", prefix="/two/web", containers=["nginx", "api"])
        self.web = ObservedEc2Host(self, "Web", vpc=vpc, log_groups=web_logs)
        worker_logs = ContainerLogGroups(self, "WorkerLogs", prefix="/two/worker", containers=["worker"])
        self.worker = ObservedEc2Host(self, "Worker", vpc=vpc, log_groups=worker_logs)
        web_alarms = BasicAlarms(
            self, "WebAlarms", host=self.web, name_prefix="two-web", emails=["ops@example.com"]
        )
        BasicAlarms(self, "WorkerAlarms", host=self.worker, name_prefix="two-worker", topic=web_alarms.topic)
        LogPatternAlarms(
            self, "WebLogAlarms", alarms=web_alarms, nginx_container="nginx", backend_container="api"
        )


class FleetStack(cdk.Stack):
    """An Auto Scaling group of :data:`FLEET_SIZE` Docker hosts observed as one fleet, in an existing VPC."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = existing_vpc(self)
        logs = ContainerLogGroups(self, "Logs", prefix="/fleet3", containers=["web"])
        role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
        security_group = ec2.SecurityGroup(self, "Hosts", vpc=vpc)
        group = autoscaling.AutoScalingGroup(
            self,
            "Group",
            vpc=vpc,
            launch_template=docker_launch_template(
                self, "Template", role=role, security_group=security_group
            ),
            min_capacity=FLEET_SIZE,
            max_capacity=6,
        )
        self.fleet = FleetObservability(
            self, "Fleet", auto_scaling_group=group, log_groups=logs, ssm_agent_permissions=True
        )
        BasicAlarms(self, "Alarms", host=self.fleet, name_prefix="fleet3", emails=["ops@example.com"])
