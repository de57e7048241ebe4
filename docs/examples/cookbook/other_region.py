"""Scenario 1: another service in another region.

The billing team runs its own Docker host in eu-west-1 with nginx in front of an API. Everything the constructs
name comes from the props: the log groups (``/billing/...``), the alarms, saved queries and dashboard
(``billing-prod...``). The region comes from the stack's ``env``: the compose ``logging:`` blocks, the alarm
ARNs the topic accepts and the host's image all follow it.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    HostDashboard,
    LogPatternAlarms,
    ObservedEc2Host,
    SavedQueries,
)

REGION = "eu-west-1"


class BillingStack(cdk.Stack):
    """The billing service's host, its container logs, alarms, saved queries and dashboard."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.logs = ContainerLogGroups(self, "Logs", prefix="/billing", containers=["nginx", "api"])
        self.host = ObservedEc2Host(self, "Host", vpc=vpc, log_groups=self.logs)
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.host, name_prefix="billing-prod", emails=["billing-oncall@example.com"]
        )
        LogPatternAlarms(
            self, "LogAlarms", alarms=self.alarms, nginx_container="nginx", backend_container="api"
        )
        SavedQueries(
            self,
            "Queries",
            host=self.host,
            name_prefix="billing-prod",
            nginx_container="nginx",
            backend_container="api",
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)  # last: it shows every alarm made before it
        cdk.CfnOutput(self, "ComposeLogging", value=self.to_json_string(self.logs.compose_override()))


def build(app: cdk.App) -> BillingStack:
    """The billing stack in eu-west-1 (any account: synth needs no credentials)."""
    return BillingStack(app, "BillingProd", env=cdk.Environment(region=REGION))
