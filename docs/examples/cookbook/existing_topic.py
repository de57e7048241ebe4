"""Scenario 6: an existing topic, and your own alarms.

The team already has an on-call SNS topic (created elsewhere, with its subscribers); the alarms notify it and
nothing new is created for them. The built-in CPU alarm (80% for 10 minutes) is too eager for this batch-heavy
host, so it is left out and replaced by the team's own: CPU above 95% for 30 minutes. ``add_alarm`` names it
like the others (``shop-prod-cpu-sustained``), notifies the same topic on ALARM and on OK, and gives it a graph
on the dashboard, which is created last so that it shows every alarm.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, HostDashboard, ObservedEc2Host

ONCALL_TOPIC_ARN = "arn:aws:sns:us-east-2:123456789012:oncall"


class ShopStack(cdk.Stack):
    """A host whose alarms go to the team's existing on-call topic, with a CPU alarm of the team's own."""

    def __init__(self, scope: Construct, construct_id: str, *, oncall_topic_arn: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=1,
            nat_gateways=0,
            subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
        )
        logs = ContainerLogGroups(self, "Logs", prefix="/shop", containers=["nginx", "api", "batch"])
        self.host = ObservedEc2Host(self, "Host", vpc=vpc, log_groups=logs)
        self.alarms = BasicAlarms(
            self,
            "Alarms",
            host=self.host,
            name_prefix="shop-prod",
            topic=sns.Topic.from_topic_arn(self, "Oncall", oncall_topic_arn),
            leave_out=["cpu-high"],
        )
        self.cpu_sustained = self.alarms.add_alarm(
            "CpuSustained",
            suffix="cpu-sustained",
            metric=self.host.metric_cpu_utilization(period=cdk.Duration.minutes(5)),
            threshold=95,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=6,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            description="CPU above 95% for 30 minutes: the batch jobs are starving the API. Check `docker stats`.",
            graph_title="CPU, sustained load (%)",
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
        )
        self.dashboard = HostDashboard(self, "Dashboard", alarms=self.alarms, host=self.host)


def build(app: cdk.App) -> ShopStack:
    """The shop in us-east-2, alarms to the on-call topic."""
    return ShopStack(
        app, "ShopProd", oncall_topic_arn=ONCALL_TOPIC_ARN, env=cdk.Environment(region="us-east-2")
    )
