"""Scenario 3: two hosts in one stack.

A web host (nginx and the API, HTTP/HTTPS open to the internet) and a worker host (queue consumers, nothing open
to the internet: ``public_ports=()``). Each host is one ``ObservedService``: its own log group prefix, its own
alarm prefix and its own dashboard. Each host's metrics land in a namespace of its own,
``ConstructsObs/{stack name}/{path of the host}``, so one host's container crash never fires the other's alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, ObservedEc2Host


class ObservedService(Construct):
    """One Docker host with its container log groups, alarms and dashboard, all named ``name``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        name: str,
        containers: Sequence[str],
        emails: Sequence[str],
        public_ports: Sequence[int] = (80, 443),
        elastic_ip: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.logs = ContainerLogGroups(self, "Logs", prefix=f"/{name}", containers=containers)
        self.host = ObservedEc2Host(
            self, "Host", vpc=vpc, log_groups=self.logs, public_ports=public_ports, elastic_ip=elastic_ip
        )
        self.alarms = BasicAlarms(self, "Alarms", host=self.host, name_prefix=name, emails=emails)
        self.dashboard = HostDashboard(self, "Dashboard", alarms=self.alarms)


class ShopStack(cdk.Stack):
    """The shop's web host and worker host, in one VPC."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.web = ObservedService(
            self, "Web", vpc=vpc, name="shop-web", containers=["nginx", "api"], emails=["oncall@example.com"]
        )
        # Nothing connects to the worker: no port open to the internet, no fixed address. It still reaches
        # SSM, CloudWatch and the queue through the public subnet's internet gateway.
        self.worker = ObservedService(
            self,
            "Worker",
            vpc=vpc,
            name="shop-worker",
            containers=["worker"],
            emails=["oncall@example.com"],
            public_ports=(),
            elastic_ip=False,
        )


def build(app: cdk.App) -> ShopStack:
    """The two-host shop in us-east-2."""
    return ShopStack(app, "Shop", env=cdk.Environment(region="us-east-2"))
