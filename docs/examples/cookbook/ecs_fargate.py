"""Scenario 7: log groups that are not a Docker host's (ECS, Fargate, anything).

The orders API runs on Fargate; its task definition sends each container's output to a log group of the team's
own with ``ecs.LogDrivers.aws_logs(log_group=...)`` (one event per line, like Docker's awslogs driver). The
log-pattern alarms, the saved queries and the dashboard take those plain ``logs.ILogGroup``s: no host, no
``ContainerLogGroups``. The alarms notify a topic created in this app, so ``LogPatternAlarms`` adds the
statement that lets CloudWatch publish ``orders-prod-*`` alarms to its policy.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from constructs_obs import HostDashboard, LogPatternAlarms, SavedQueries


class OrdersStack(cdk.Stack):
    """The orders API's Fargate task definition, its log groups, alarms, saved queries and dashboard."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.nginx_logs = logs.LogGroup(
            self, "NginxLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.RETAIN
        )
        self.api_logs = logs.LogGroup(
            self, "ApiLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=cdk.RemovalPolicy.RETAIN
        )
        task = ecs.FargateTaskDefinition(self, "Task", cpu=256, memory_limit_mib=512)
        task.add_container(
            "nginx",
            image=ecs.ContainerImage.from_registry("public.ecr.aws/nginx/nginx:1.27"),
            port_mappings=[ecs.PortMapping(container_port=80)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="nginx", log_group=self.nginx_logs),
        )
        task.add_container(
            "api",
            image=ecs.ContainerImage.from_registry("public.ecr.aws/docker/library/python:3.12-slim"),
            logging=ecs.LogDrivers.aws_logs(stream_prefix="api", log_group=self.api_logs),
        )

        self.topic = sns.Topic(self, "Alerts", enforce_ssl=True)
        self.topic.add_subscription(subscriptions.EmailSubscription("orders-oncall@example.com"))

        self.log_alarms = LogPatternAlarms(
            self,
            "LogAlarms",
            topic=self.topic,
            name_prefix="orders-prod",
            nginx_log_group=self.nginx_logs,
            backend_log_group=self.api_logs,
        )
        SavedQueries(
            self,
            "Queries",
            name_prefix="orders-prod",
            nginx_log_group=self.nginx_logs,
            backend_log_group=self.api_logs,
        )
        HostDashboard(self, "Dashboard", alarms=self.log_alarms)


def build(app: cdk.App) -> OrdersStack:
    """The orders service in us-east-2."""
    return OrdersStack(app, "OrdersProd", env=cdk.Environment(region="us-east-2"))
