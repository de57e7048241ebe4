"""The staging stack: names, region, VPC, outputs, and the snapshot that pins the whole template."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import assertions
from aws_cdk import cx_api as cxapi

from app import _emails, build_app
from tests.conftest import logical_id, make_app


def test_stack_name_region_and_termination_protection(
    staging_artifact: cxapi.CloudFormationStackArtifact,
) -> None:
    assert staging_artifact.stack_name == "AiTutorStaging"
    assert staging_artifact.environment.region == "us-east-2"
    # No account: synth needs no credentials and looks nothing up.
    assert staging_artifact.environment.account == "unknown-account"
    # Off by default: the CLI could not clean up a failed first create (tests/test_lifecycle.py).
    assert staging_artifact.termination_protection is False


def test_vpc_is_public_only_without_nat(staging: assertions.Template) -> None:
    staging.resource_count_is("AWS::EC2::VPC", 1)
    staging.resource_count_is("AWS::EC2::NatGateway", 0)
    # The one Elastic IP is the host's (a NAT gateway would need one too).
    eips = staging.find_resources("AWS::EC2::EIP")
    assert [e["Properties"]["InstanceId"] for e in eips.values()] == [
        {"Ref": logical_id(staging, "AWS::EC2::Instance")}
    ]
    subnets = staging.find_resources("AWS::EC2::Subnet")
    assert len(subnets) == 2
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is True for s in subnets.values())


def test_outputs(staging: assertions.Template, staging_template_json: dict[str, Any]) -> None:
    outputs = staging_template_json["Outputs"]
    assert set(outputs) >= {"InstanceId", "InstanceRoleName", "AlarmTopicArn", "ComposeLogging"}
    compose = json.loads(outputs["ComposeLogging"]["Value"])
    expected: dict[str, Any] = {
        "services": {
            c: {
                "logging": {
                    "driver": "awslogs",
                    "options": {
                        "awslogs-group": f"/ai-tutor/{c}",
                        "awslogs-region": "us-east-2",
                        "awslogs-create-group": "false",
                        "mode": "non-blocking",
                        "max-buffer-size": "4m",
                    },
                }
            }
            for c in ("backend", "frontend", "nginx")
        }
    }
    # The backend's metrics port is published on the host's loopback only (tests/test_prometheus.py).
    expected["services"]["backend"]["ports"] = ["127.0.0.1:9898:9898"]
    assert compose == expected


def test_snapshot(staging_template_json: dict[str, Any], snapshot_json: Any) -> None:
    assert staging_template_json == snapshot_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("ops@example.com", ["ops@example.com"]),
        (" a@example.com , b@example.com,", ["a@example.com", "b@example.com"]),
        (["a@example.com"], ["a@example.com"]),
    ],
)
def test_alarm_emails_context(value: object, expected: list[str]) -> None:
    assert _emails(value) == expected


def test_alarm_emails_context_of_wrong_type() -> None:
    with pytest.raises(
        TypeError, match=r"context alarm_emails must be a comma-separated string or a list, got 3"
    ):
        _emails(3)


def test_vpc_lookup_needs_an_account(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"context vpc_id='vpc-123' needs an AWS account"):
        build_app(make_app(tmp_path, vpc_id="vpc-123"), environ={})


def test_vpc_lookup_uses_the_given_vpc(tmp_path: Any) -> None:
    app = build_app(
        make_app(
            tmp_path,
            vpc_id="vpc-0123456789abcdef0",
            account="123456789012",
            **{
                "vpc-provider:account=123456789012:filter.vpc-id=vpc-0123456789abcdef0:region=us-east-2"
                ":returnAsymmetricSubnets=true": {
                    "vpcId": "vpc-0123456789abcdef0",
                    "vpcCidrBlock": "10.0.0.0/16",
                    "availabilityZones": [],
                    "subnetGroups": [
                        {
                            "name": "Public",
                            "type": "Public",
                            "subnets": [
                                {
                                    "subnetId": "subnet-0aaaaaaaaaaaaaaaa",
                                    "cidr": "10.0.0.0/24",
                                    "availabilityZone": "us-east-2a",
                                    "routeTableId": "rtb-0aaaaaaaaaaaaaaaa",
                                }
                            ],
                        }
                    ],
                }
            },
        ),
        environ={},
    )
    template = assertions.Template.from_json(app.synth().get_stack_by_name("AiTutorStaging").template)
    template.resource_count_is("AWS::EC2::VPC", 0)
    template.has_resource_properties(
        "AWS::EC2::Instance", {"SubnetId": "subnet-0aaaaaaaaaaaaaaaa", "AvailabilityZone": "us-east-2a"}
    )
    template.has_resource_properties("AWS::EC2::SecurityGroup", {"VpcId": "vpc-0123456789abcdef0"})


def test_without_emails_one_warning_says_how_this_app_takes_them(staging_app: Any) -> None:
    from aws_cdk.assertions import Annotations, Match

    stack = staging_app.node.find_child("AiTutorStaging")
    warnings = Annotations.from_stack(stack).find_warning("*", Match.any_value())
    # The library's "pass emails=" is acknowledged in favour of the app's own, which names its context key.
    assert [(w.id, str(w.entry.data)) for w in warnings] == [
        (
            "/AiTutorStaging/Alarms",
            "ai-tutor-staging: the alarm topic has no email subscription, so alarms notify nobody: deploy with "
            "-c alarm_emails=ops@example.com (comma-separated; each address confirms its subscription once). "
            "[ack: ai-tutor:no-alarm-emails]",
        )
    ]
