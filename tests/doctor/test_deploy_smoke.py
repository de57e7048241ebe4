"""Deploy smoke test: the synthesized staging template, created as a stack in moto's CloudFormation.

moto creates what it supports (asserted below) and skips some types with a warning (listed, and each must be a
known moto gap, so a template moto cannot handle fails here rather than later). The VPC's
``Custom::VpcRestrictDefaultSG`` is backed by a Node.js Lambda from the stack's file asset: moto creates the
function from the published asset and invokes it, but cannot run it (that needs Docker), so the stack waits in
CREATE_IN_PROGRESS for the handler's answer. The test shows that this custom resource is the only thing pending;
what its handler does (removing the default security group's rules) is not exercised here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from stacks.staging import STACK_NAME
from tests.doctor.deployment import (
    CUSTOM_RESOURCE,
    MOTO_CFN_SKIPS,
    MOTO_NO_PHYSICAL_ID,
    answer_custom_resources,
    create_stack,
    listed_resources,
    publish_assets,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse .* but it.s not supported by moto.s CloudFormation:UserWarning"
)


def _of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == resource_type}


def test_staging_template_deploys_in_moto(
    aws: boto3.Session,
    assembly_dir: Path,
    staging_template_json: dict[str, Any],
    record_property: Any,
) -> None:
    template = staging_template_json
    published = publish_assets(aws, assembly_dir, STACK_NAME)
    assert any(url.endswith(".zip") for url in published), "the custom resource handler's code is published"

    stack_id = create_stack(aws, STACK_NAME, template)

    cfn = aws.client("cloudformation")
    listed = listed_resources(aws, STACK_NAME)
    skipped = {lid: r["Type"] for lid, r in template["Resources"].items() if lid not in listed}
    skipped_types = sorted(set(skipped.values()))
    record_property("moto_skipped_resource_types", skipped_types)
    print(f"moto skipped {len(skipped)} resources of types {skipped_types}")
    assert set(skipped_types) <= MOTO_CFN_SKIPS, (
        f"moto skipped types it is not known to skip: {skipped_types}"
    )
    assert "AWS::CloudWatch::Alarm" not in skipped_types, "alarms are created (the harness's adapter)"
    # Everything else was created, with a physical id (but where moto's model has none).
    without_id = {lid for lid, pid in listed.items() if not pid}
    assert {template["Resources"][lid]["Type"] for lid in without_id} <= MOTO_NO_PHYSICAL_ID, without_id
    assert set(listed) == set(template["Resources"]) - set(skipped)

    # Log groups with their retention.
    logs = aws.client("logs")
    for logical_id, resource in _of_type(template, "AWS::Logs::LogGroup").items():
        name = resource["Properties"]["LogGroupName"]
        assert listed[logical_id] == name
        [group] = [
            g
            for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
            if g["logGroupName"] == name
        ]
        assert group["retentionInDays"] == resource["Properties"]["RetentionInDays"] == 30

    # The role, its policy on exactly the log groups, and the instance profile holding it.
    iam = aws.client("iam")
    role = iam.get_role(RoleName="ai-tutor-staging-ec2-role")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    [role_id] = [
        lid
        for lid, r in _of_type(template, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == "ai-tutor-staging-ec2-role"
    ]
    [policy_name] = [  # the role's own policy (not the termination-protection one)
        r["Properties"]["PolicyName"]
        for r in _of_type(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in r["Properties"]["Roles"] and "DefaultPolicy" in r["Properties"]["PolicyName"]
    ]
    document = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    [logs_statement] = [s for s in document["Statement"] if "logs:PutLogEvents" in s["Action"]]
    # (CloudFormation's Fn::GetAtt Arn of a log group ends in ":*", moto's does not.)
    groups = sorted(
        r["Properties"]["LogGroupName"] for r in _of_type(template, "AWS::Logs::LogGroup").values()
    )
    assert {"/ai-tutor/backend", "/ai-tutor/docker-events", "/ai-tutor/frontend", "/ai-tutor/nginx"} <= set(
        groups
    )
    assert sorted(arn.removesuffix(":*") for arn in logs_statement["Resource"]) == [
        f"arn:aws:logs:us-east-2:123456789012:log-group:{group}" for group in groups
    ]
    [profile_id] = _of_type(template, "AWS::IAM::InstanceProfile")
    profile = iam.get_instance_profile(InstanceProfileName=listed[profile_id])["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["ai-tutor-staging-ec2-role"]

    # The instance, running with that profile, in the stack's VPC.
    [instance_id] = [listed[lid] for lid in _of_type(template, "AWS::EC2::Instance")]
    [instance] = aws.client("ec2").describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"
    ]
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t3.small"
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"/{profile['InstanceProfileName']}")
    [vpc_id] = [listed[lid] for lid in _of_type(template, "AWS::EC2::VPC")]
    assert instance["VpcId"] == vpc_id
    assert {"Key": "Name", "Value": "ai-tutor-staging"} in instance["Tags"]

    # The alarm topic.
    [topic_id] = _of_type(template, "AWS::SNS::Topic")
    attributes = aws.client("sns").get_topic_attributes(TopicArn=listed[topic_id])["Attributes"]
    assert attributes["DisplayName"] == "ai-tutor-staging alarms"

    # The outputs resolve to the created resources.
    stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["InstanceId"] == instance_id
    assert outputs["AlarmTopicArn"] == listed[topic_id]
    assert outputs["InstanceRoleName"] == "ai-tutor-staging-ec2-role"
    compose = json.loads(outputs["ComposeLogging"])
    assert {s["logging"]["options"]["awslogs-region"] for s in compose["services"].values()} == {"us-east-2"}

    # The custom resource: its Lambda exists (built from the published asset), moto cannot run it, and it is
    # the only thing the stack still waits for.
    custom = {lid: r for lid, r in template["Resources"].items() if CUSTOM_RESOURCE.match(r["Type"])}
    assert {r["Type"] for r in custom.values()} == {"Custom::VpcRestrictDefaultSG"}
    [handler_id] = _of_type(template, "AWS::Lambda::Function")
    function = aws.client("lambda").get_function(FunctionName=listed[handler_id])["Configuration"]
    assert function["Runtime"].startswith("nodejs")
    assert stack["StackStatus"] == "CREATE_IN_PROGRESS"
    assert answer_custom_resources(aws, stack_id, template) == list(custom)
    assert cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_what_the_smoke_test_catches(aws: boto3.Session) -> None:
    # A template CloudFormation would reject: moto rejects it too, so the smoke test fails at create_stack.
    dangling = {
        "Resources": {
            "T": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::GetAtt": ["Gone", "Arn"]}}}
        }
    }
    with pytest.raises(ClientError, match="Fn::GetAtt references undefined resource Gone"):
        create_stack(aws, "Dangling", dangling)

    # A type moto does not know is skipped silently (the stack completes): it shows up as skipped, and is not one
    # of moto's known gaps, so the smoke test's assertion names it.
    template = {"Resources": {"X": {"Type": "AWS::Nope::Thing", "Properties": {}}}}
    create_stack(aws, "Unknown", template)
    assert aws.client("cloudformation").describe_stacks(StackName="Unknown")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )
    assert listed_resources(aws, "Unknown") == {}
    assert "AWS::Nope::Thing" not in MOTO_CFN_SKIPS
