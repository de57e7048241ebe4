"""Scenario 8 (the stack under test): the todo app's production stack, as a team would write it.

``test_my_stack.py``, beside it, is the team's unit tests of this stack.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, LogPatternAlarms, ObservedEc2Host

ENV = cdk.Environment(account="123456789012", region="us-east-2")


class TodoStack(cdk.Stack):
    """The todo app: nginx and an API on one host, alarms to the on-call address, one dashboard."""

    def __init__(
        self, scope: Construct, construct_id: str, *, name: str = "todo-prod", **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.logs = ContainerLogGroups(self, "Logs", prefix=f"/{name}", containers=["nginx", "api"])
        self.host = ObservedEc2Host(self, "Host", vpc=vpc, log_groups=self.logs)
        self.alarms = BasicAlarms(
            self,
            "Alarms",
            host=self.host,
            name_prefix=name,
            emails=["oncall@example.com"],
            cpu_threshold_percent=70,
        )
        LogPatternAlarms(
            self, "LogAlarms", alarms=self.alarms, nginx_container="nginx", backend_container="api"
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


def build(app: cdk.App) -> TodoStack:
    """The production stack."""
    return TodoStack(app, "TodoProd", env=ENV)
