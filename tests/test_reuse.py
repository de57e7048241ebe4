"""The constructs in another team's stack: other prefix, containers, name prefix, region, topic and VPC."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host
from tests.conftest import logical_id, synth_template

TOPIC_ARN = "arn:aws:sns:eu-central-1:123456789012:shop-oncall"


class ShopStack(cdk.Stack):
    """A consumer's stack: an existing VPC and topic, its own names."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id="vpc-0123456789abcdef0",
            availability_zones=["eu-central-1a"],
            public_subnet_ids=["subnet-0123456789abcdef0"],
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
            topic=sns.Topic.from_topic_arn(self, "Oncall", TOPIC_ARN),
            cpu_threshold_percent=70,
        )


@pytest.fixture(scope="session")
def shop(shop_app: cdk.App) -> assertions.Template:
    return assertions.Template.from_json(synth_template(shop_app, "Shop"))


def test_own_log_groups(shop: assertions.Template) -> None:
    shop.resource_count_is("AWS::Logs::LogGroup", 3)
    for name in ("/shop/api", "/shop/worker", "/shop/docker-events"):
        shop.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": name, "RetentionInDays": 14})


def test_own_alarm_names_on_the_existing_topic(shop: assertions.Template) -> None:
    shop.resource_count_is("AWS::SNS::Topic", 0)
    for name in (
        "shop-prod-cpu-high",
        "shop-prod-status-check",
        "shop-prod-memory-high",
        "shop-prod-disk-high",
        "shop-prod-container-crash",
    ):
        shop.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {"AlarmName": name, "AlarmActions": [TOPIC_ARN], "OKActions": [TOPIC_ARN]},
        )
    shop.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "shop-prod-cpu-high", "Threshold": 70}
    )


def test_own_region_and_subnet(shop: assertions.Template) -> None:
    shop.has_resource_properties(
        "AWS::EC2::Instance",
        {
            "InstanceType": "t3.micro",
            "SubnetId": "subnet-0123456789abcdef0",
            "ImageId": "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        },
    )
    role = logical_id(shop, "AWS::IAM::Role")
    shop.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": role}],
            "PolicyDocument": {
                "Statement": assertions.Match.array_with(
                    [
                        {
                            "Action": "ssm:UpdateInstanceInformation",
                            "Effect": "Allow",
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    ["arn:aws:ec2:eu-central-1:", {"Ref": "AWS::AccountId"}, ":instance/*"],
                                ]
                            },
                        }
                    ]
                )
            },
        },
    )


def test_generated_role_name(shop: assertions.Template) -> None:
    roles = shop.find_resources("AWS::IAM::Role")
    assert all("RoleName" not in r["Properties"] for r in roles.values())


def test_compose_logging_points_at_the_stacks_region() -> None:
    app = cdk.App()
    stack = ShopStack(app, "Shop", env=cdk.Environment(region="eu-central-1"))
    assert stack.logs.compose_logging("worker")["options"] == {
        "awslogs-group": "/shop/worker",
        "awslogs-region": "eu-central-1",
        "awslogs-create-group": "false",
        "mode": "non-blocking",
        "max-buffer-size": "4m",
    }
