"""A consumer's stack built from constructs_obs: its own names, VPC, region and an existing on-call topic."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host


class ShopStack(cdk.Stack):
    """An API and a worker container on one host, alarms to the team's existing on-call topic."""

    def __init__(self, scope: Construct, construct_id: str, *, oncall_topic_arn: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        self.logs = ContainerLogGroups(
            self, "Logs", prefix="/shop", containers=["api", "worker"], retention=logs.RetentionDays.TWO_WEEKS
        )
        self.host = ObservedEc2Host(
            self, "Host", vpc=vpc, log_groups=self.logs, instance_type=ec2.InstanceType("t3.micro")
        )
        self.alarms = BasicAlarms(
            self,
            "Alarms",
            host=self.host,
            name_prefix="shop-prod",
            topic=sns.Topic.from_topic_arn(self, "Oncall", oncall_topic_arn),
            cpu_threshold_percent=70,
        )
        cdk.CfnOutput(self, "ComposeLogging", value=self.to_json_string(self.logs.compose_override()))


if __name__ == "__main__":
    app = cdk.App()
    ShopStack(
        app,
        "Shop",
        env=cdk.Environment(region="eu-central-1"),
        oncall_topic_arn="arn:aws:sns:eu-central-1:123456789012:shop-oncall",
    )
    app.synth()
