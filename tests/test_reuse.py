"""The constructs in another team's stack: other prefix, containers, name prefix, region, topic and VPC."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    HostDashboard,
    HostObservability,
    LogPatternAlarms,
    ObservedEc2Host,
    SavedQueries,
)
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


LEGACY_INSTANCE = "i-0fedcba9876543210"


class ShopLegacyStack(cdk.Stack):
    """A host the library did not create, and an ECS service's plain log groups, watched by the constructs."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.logs = ContainerLogGroups(self, "Logs", prefix="/shop-legacy", containers=["web", "api"])
        self.host = HostObservability(
            self,
            "Host",
            instance=LEGACY_INSTANCE,
            role=iam.Role.from_role_name(self, "InstanceRole", "shop-legacy-ec2"),
            log_groups=self.logs,
        )
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.host, name_prefix="shop-legacy", emails=["ops@example.com"]
        )
        self.log_alarms = LogPatternAlarms(
            self, "LogAlarms", alarms=self.alarms, nginx_container="web", backend_container="api"
        )
        # A Fargate service's groups (made by its own stack): alarms on plain log groups with the same topic.
        self.fargate_proxy = logs.LogGroup.from_log_group_name(self, "FargateProxy", "/ecs/shop-proxy")
        self.fargate_api = logs.LogGroup.from_log_group_name(self, "FargateApi", "/ecs/shop-api")
        self.fargate_alarms = LogPatternAlarms(
            self,
            "FargateAlarms",
            topic=self.alarms.topic,
            name_prefix="shop-fargate",
            nginx_log_group=self.fargate_proxy,
            backend_log_group=self.fargate_api,
        )
        self.queries = SavedQueries(
            self,
            "Queries",
            name_prefix="shop-legacy",
            host=self.host,
            nginx_container="web",
            backend_container="api",
        )
        self.dashboard = HostDashboard(self, "Dashboard", alarms=[self.alarms, self.fargate_alarms])


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
            {"AlarmName": name, "AlarmActions": [TOPIC_ARN], "OKActions": assertions.Match.absent()},
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
    # The host's role (EC2 assumes it); the termination-protection runbook's role is assumed by SSM.
    ec2_trust = assertions.Match.object_like(
        {"Statement": [assertions.Match.object_like({"Principal": {"Service": "ec2.amazonaws.com"}})]}
    )
    role = logical_id(shop, "AWS::IAM::Role", AssumeRolePolicyDocument=ec2_trust)
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


@pytest.fixture(scope="session")
def legacy(shop_app: cdk.App) -> assertions.Template:
    return assertions.Template.from_json(synth_template(shop_app, "ShopLegacy"))


def test_existing_instance_alarms_watch_that_instance(legacy: assertions.Template) -> None:
    legacy.resource_count_is("AWS::EC2::Instance", 0)
    alarms = legacy.find_resources("AWS::CloudWatch::Alarm")
    by_name = {a["Properties"]["AlarmName"]: a["Properties"] for a in alarms.values()}
    for name in ("shop-legacy-cpu-high", "shop-legacy-status-check", "shop-legacy-memory-high"):
        assert by_name[name]["Dimensions"] == [{"Name": "InstanceId", "Value": LEGACY_INSTANCE}]
    assert by_name["shop-legacy-container-crash"]["Namespace"] == "ConstructsObs/ShopLegacy/Host"


def test_existing_instance_role_gets_exactly_log_writes_and_metrics(legacy: assertions.Template) -> None:
    (policy,) = legacy.find_resources("AWS::IAM::Policy").values()
    assert policy["Properties"]["Roles"] == ["shop-legacy-ec2"]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = sorted(
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    assert actions == ["cloudwatch:PutMetricData", "logs:CreateLogStream", "logs:PutLogEvents"]
    metrics = next(s for s in statements if s["Action"] == "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "ConstructsObs/ShopLegacy/Host"}}
    groups = next(s for s in statements if s["Action"] != "cloudwatch:PutMetricData")["Resource"]
    names = {
        logical_id(legacy, "AWS::Logs::LogGroup", LogGroupName=n)
        for n in ("/shop-legacy/web", "/shop-legacy/api", "/shop-legacy/docker-events")
    }
    assert {g["Fn::GetAtt"][0] for g in groups} == names


def test_existing_instance_gets_its_setup_after_the_grant(legacy: assertions.Template) -> None:
    (association,) = legacy.find_resources("AWS::SSM::Association").values()
    assert association["Properties"]["Targets"] == [{"Key": "InstanceIds", "Values": [LEGACY_INSTANCE]}]
    policy_id = next(iter(legacy.find_resources("AWS::IAM::Policy")))
    assert policy_id in association["DependsOn"]
    # The agent's metrics are declared on the association, for the free-tier count (one host, two metrics).
    declared = association["Metadata"]["ConstructsObs::CustomMetrics"]
    assert [m["MetricName"] for m in declared] == ["mem_used_percent", "disk_used_percent"]


def test_alarms_on_plain_log_groups(legacy: assertions.Template) -> None:
    filters = legacy.find_resources(
        "AWS::Logs::MetricFilter", {"Properties": {"LogGroupName": "/ecs/shop-proxy"}}
    )
    (nginx_filter,) = filters.values()
    transformation = nginx_filter["Properties"]["MetricTransformations"][0]
    assert transformation["MetricNamespace"] == "ConstructsObs/ShopLegacy/FargateAlarms"
    names = sorted(
        a["Properties"]["AlarmName"] for a in legacy.find_resources("AWS::CloudWatch::Alarm").values()
    )
    assert "shop-fargate-nginx-5xx" in names and "shop-fargate-backend-errors" in names
    # The topic lets CloudWatch publish both prefixes' alarms.
    (topic_policy,) = legacy.find_resources("AWS::SNS::TopicPolicy").values()
    patterns = [
        s["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1][-1]
        for s in topic_policy["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert patterns == [":alarm:shop-legacy-*", ":alarm:shop-fargate-*"]
