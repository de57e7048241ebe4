"""Scenario 2: staging and prod in one account.

One app, one stack class, two stacks pinned to the same account and region. Each environment passes its own
``name``, which becomes its log group prefix (``/shop-staging``, ``/shop-prod``) and the prefix of its alarms,
saved queries and dashboard. The host's metrics namespace needs nothing: by default it is
``ConstructsObs/{stack name}/{host path}``, so staging's crash count never feeds prod's alarm.

Give both stacks the same ``name`` and synth fails, listing every name created twice and both construct paths.
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

ACCOUNT = "123456789012"
REGION = "us-east-2"


class ShopStack(cdk.Stack):
    """One environment of the shop: ``name`` prefixes everything it names."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        emails: list[str],
        instance_type: str = "t3.small",
        **kwargs: Any,
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
        self.host = ObservedEc2Host(
            self, "Host", vpc=vpc, log_groups=self.logs, instance_type=ec2.InstanceType(instance_type)
        )
        self.alarms = BasicAlarms(self, "Alarms", host=self.host, name_prefix=name, emails=emails)
        LogPatternAlarms(
            self, "LogAlarms", alarms=self.alarms, nginx_container="nginx", backend_container="api"
        )
        SavedQueries(
            self,
            "Queries",
            host=self.host,
            name_prefix=name,
            nginx_container="nginx",
            backend_container="api",
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


def build(app: cdk.App) -> tuple[ShopStack, ShopStack]:
    """Staging and prod, side by side in one account and region."""
    env = cdk.Environment(account=ACCOUNT, region=REGION)
    staging = ShopStack(app, "ShopStaging", name="shop-staging", emails=["dev@example.com"], env=env)
    prod = ShopStack(
        app,
        "ShopProd",
        name="shop-prod",
        emails=["oncall@example.com"],
        instance_type="t3.medium",
        env=env,
    )
    return staging, prod
