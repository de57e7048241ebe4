"""Scenario 4: an instance managed elsewhere.

The CRM's instance is created and run by Terraform (or by hand, or by another stack). This stack creates no
instance and does not touch it: it creates the container log groups, gives the instance's existing role
exactly the log writes and ``cloudwatch:PutMetricData`` it needs (one policy, attached to that role), brings
the CloudWatch agent and the docker-events service onto the running instance through an SSM State Manager
association (no reboot, no replacement), and watches it with the usual alarms, saved queries and dashboard.

What the instance needs: the SSM agent running and registered with Systems Manager, a role with
AmazonSSMManagedInstanceCore, Docker installed, and a route to the SSM and CloudWatch endpoints.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, HostObservability, SavedQueries

INSTANCE_ID = "i-0123456789abcdef0"
ROLE_NAME = "crm-prod-ec2-role"


class CrmObservabilityStack(cdk.Stack):
    """Observability for an instance this stack does not own."""

    def __init__(
        self, scope: Construct, construct_id: str, *, instance_id: str, role_name: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.logs = ContainerLogGroups(self, "Logs", prefix="/crm", containers=["nginx", "backend"])
        # The role of the instance's profile, imported by name: the host's policy is added to it.
        role = iam.Role.from_role_name(self, "InstanceRole", role_name)
        self.host = HostObservability(self, "Host", instance=instance_id, role=role, log_groups=self.logs)
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.host, name_prefix="crm-prod", emails=["crm-oncall@example.com"]
        )
        SavedQueries(
            self,
            "Queries",
            host=self.host,
            name_prefix="crm-prod",
            nginx_container="nginx",
            backend_container="backend",
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


def build(app: cdk.App) -> CrmObservabilityStack:
    """Observe the CRM's instance in us-east-2."""
    return CrmObservabilityStack(
        app,
        "CrmObservability",
        instance_id=INSTANCE_ID,
        role_name=ROLE_NAME,
        env=cdk.Environment(region="us-east-2"),
    )
