"""ObservedEc2Host: instance, AMI stability, security defaults, IAM least privilege, user data."""

from __future__ import annotations

import json
import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from constructs_obs import ContainerLogGroups, ObservedEc2Host
from tests.conftest import logical_id


def _instance(template: assertions.Template) -> dict[str, Any]:
    instances = template.find_resources("AWS::EC2::Instance")
    assert len(instances) == 1
    props: dict[str, Any] = next(iter(instances.values()))["Properties"]
    return props


def test_t3_small_with_basic_monitoring_and_termination_protection_after_the_deploy(
    staging: assertions.Template,
) -> None:
    props = _instance(staging)
    assert (props["InstanceType"], props["Monitoring"]) == ("t3.small", False)
    # Never at launch: the rollback of a failed create must be able to terminate it (tests/test_lifecycle.py).
    assert "DisableApiTermination" not in props
    # Switched on by an Automation runbook once the stack is deployed (tests/test_lifecycle.py walks it).
    runbooks = staging.find_resources("AWS::SSM::Document", {"Properties": {"DocumentType": "Automation"}})
    assert [r["Properties"]["Content"]["mainSteps"][0]["inputs"]["Api"] for r in runbooks.values()] == [
        "ModifyInstanceAttribute"
    ]


def test_ami_is_resolved_at_launch_so_a_new_ami_never_replaces_the_host(staging: assertions.Template) -> None:
    assert _instance(staging)["ImageId"] == (
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    )
    # No CloudFormation parameter resolves the AMI at deploy time (which would replace the host on change).
    assert not [p for p in staging.to_json().get("Parameters", {}) if p.startswith("SsmParameterValue")]


def test_arm_instance_types_get_the_arm64_image() -> None:
    stack = cdk.Stack(cdk.App(), "Arm", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"])
    ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, instance_type=ec2.InstanceType("t4g.small"))
    props = _instance(assertions.Template.from_stack(stack))
    assert props["ImageId"] == (
        "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
    )


def test_pinned_parameter_version_is_explicit() -> None:
    stack = cdk.Stack(cdk.App(), "Pinned", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    from constructs_obs.host.instance import al2023_at_launch

    image = al2023_at_launch(ec2.InstanceType("t3.small"), parameter_version="42")
    ObservedEc2Host(
        stack,
        "Host",
        vpc=vpc,
        log_groups=ContainerLogGroups(
            stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"]
        ),
        machine_image=image,
    )
    assert _instance(assertions.Template.from_stack(stack))["ImageId"].endswith("x86_64:42")


def test_imdsv2_required_on_the_instance_itself(staging: assertions.Template) -> None:
    # Hop limit 1: an IMDSv2 token's PUT response does not survive the extra hop into a bridged container, so
    # containers cannot fetch the role's credentials (Amazon EC2 User Guide, "Configure the instance metadata
    # options": "In a container environment, we recommend setting the hop limit to 2" is what opens it).
    assert _instance(staging)["MetadataOptions"] == {"HttpPutResponseHopLimit": 1, "HttpTokens": "required"}
    # Set on the instance, not through a launch template an aspect adds (which breaks on a second synth).
    staging.resource_count_is("AWS::EC2::LaunchTemplate", 0)


def test_root_volume_encrypted_gp3(staging: assertions.Template) -> None:
    assert _instance(staging)["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"DeleteOnTermination": True, "Encrypted": True, "VolumeSize": 30, "VolumeType": "gp3"},
        }
    ]


def test_no_key_pair_and_no_ssh(staging: assertions.Template, staging_template_json: dict[str, Any]) -> None:
    assert "KeyName" not in _instance(staging)
    staging.resource_count_is("AWS::EC2::KeyPair", 0)
    staging.resource_count_is("AWS::EC2::SecurityGroupIngress", 0)


def test_inbound_only_http_and_https(staging: assertions.Template) -> None:
    sg = staging.find_resources("AWS::EC2::SecurityGroup")
    ingress = [rule for group in sg.values() for rule in group["Properties"].get("SecurityGroupIngress", [])]
    assert sorted((r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in ingress) == [
        ("tcp", 80, 80, "0.0.0.0/0"),
        ("tcp", 443, 443, "0.0.0.0/0"),
    ]


def test_role_is_named_like_the_seed_and_assumed_by_ec2_only(staging: assertions.Template) -> None:
    staging.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": "ai-tutor-staging-ec2-role",
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                    }
                ]
            },
        },
    )
    role = logical_id(staging, "AWS::IAM::Role", RoleName="ai-tutor-staging-ec2-role")
    roles = staging.find_resources(
        "AWS::IAM::Role", {"Properties": {"RoleName": "ai-tutor-staging-ec2-role"}}
    )
    assert "ManagedPolicyArns" not in roles[role]["Properties"]
    staging.has_resource_properties("AWS::IAM::InstanceProfile", {"Roles": [{"Ref": role}]})
    profile = logical_id(staging, "AWS::IAM::InstanceProfile")
    assert _instance(staging)["IamInstanceProfile"] == {"Ref": profile}


def test_role_policy_is_log_writes_session_manager_and_own_metrics_and_nothing_else(
    staging: assertions.Template,
) -> None:
    role = logical_id(staging, "AWS::IAM::Role", RoleName="ai-tutor-staging-ec2-role")
    policies = staging.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    # One policy: switching on the host's termination protection is the Automation runbook's role's, not the host's
    # (tests/test_lifecycle.py).
    assert len(policies) == 1
    (default,) = policies.values()
    statements = default["Properties"]["PolicyDocument"]["Statement"]
    # The docker-events and Prometheus groups (written by the CloudWatch agent) merge into the container groups'
    # statement.
    groups = [
        logical_id(staging, "AWS::Logs::LogGroup", LogGroupName=f"/ai-tutor/{c}")
        for c in ("docker-events", "prometheus", "backend", "frontend", "nginx")
    ]
    assert statements[0] == {
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Effect": "Allow",
        "Resource": [{"Fn::GetAtt": [g, "Arn"]} for g in groups],
    }
    assert statements[1]["Action"] == "ssm:UpdateInstanceInformation"
    assert statements[1]["Resource"] == {
        "Fn::Join": ["", ["arn:aws:ec2:us-east-2:", {"Ref": "AWS::AccountId"}, ":instance/*"]]
    }
    # Session Manager's channels and State Manager's association calls (the SSM agent's, as
    # AmazonSSMManagedInstanceCore lists them); none of them takes a resource here.
    assert statements[2] == {
        "Action": [
            "ec2messages:AcknowledgeMessage",
            "ec2messages:DeleteMessage",
            "ec2messages:FailMessage",
            "ec2messages:GetEndpoint",
            "ec2messages:GetMessages",
            "ec2messages:SendReply",
            "ssm:DescribeAssociation",
            "ssm:ListAssociations",
            "ssm:ListInstanceAssociations",
            "ssm:PutComplianceItems",
            "ssm:UpdateAssociationStatus",
            "ssm:UpdateInstanceAssociationStatus",
            "ssmmessages:CreateControlChannel",
            "ssmmessages:CreateDataChannel",
            "ssmmessages:OpenControlChannel",
            "ssmmessages:OpenDataChannel",
        ],
        "Effect": "Allow",
        "Resource": "*",
    }
    # The setup association's document, and no other.
    assert statements[3] == {
        "Action": ["ssm:DescribeDocument", "ssm:GetDocument"],
        "Effect": "Allow",
        "Resource": "arn:aws:ssm:us-east-2::document/AWS-RunShellScript",
    }
    assert statements[4] == {
        "Action": "cloudwatch:PutMetricData",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "AiTutor/Staging"}},
        "Effect": "Allow",
        "Resource": "*",
    }
    assert len(statements) == 5
    # No statement allows any logs action on a wildcard.
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert not (any(a.startswith("logs:") for a in actions) and s["Resource"] == "*")


def test_elastic_ip_by_default_and_opt_out() -> None:
    stack = cdk.Stack(cdk.App(), "Eip", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/x", containers=["app"])
    other_logs = ContainerLogGroups(stack, "OtherLogs", prefix="/y", containers=["app"])
    with_eip = ObservedEc2Host(stack, "WithEip", vpc=vpc, log_groups=logs)
    ObservedEc2Host(stack, "Behind", vpc=vpc, log_groups=other_logs, elastic_ip=False, metadata_hop_limit=2)
    template = assertions.Template.from_stack(stack)
    instance = stack.get_logical_id(with_eip.instance.node.default_child)  # type: ignore[arg-type]
    eips = template.find_resources("AWS::EC2::EIP")
    assert [e["Properties"] for e in eips.values()] == [{"Domain": "vpc", "InstanceId": {"Ref": instance}}]
    hop_limits = sorted(
        r["Properties"]["MetadataOptions"]["HttpPutResponseHopLimit"]
        for r in template.find_resources("AWS::EC2::Instance").values()
    )
    assert hop_limits == [1, 2]


def test_staging_host_has_an_elastic_ip(staging: assertions.Template) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    staging.has_resource_properties("AWS::EC2::EIP", {"Domain": "vpc", "InstanceId": {"Ref": instance}})


def test_user_data_installs_docker_and_compose(staging: assertions.Template) -> None:
    script = _instance(staging)["UserData"]["Fn::Base64"]
    assert script.startswith("#!/bin/bash\nset -euo pipefail\n")
    for line in (
        "dnf install -y docker",
        "systemctl enable --now docker",
        "COMPOSE_VERSION=v2.40.3",
        "sha256sum -c compose.sha256",
        "docker compose version",
    ):
        assert line in script.splitlines()


def test_public_subnet_by_default(staging: assertions.Template) -> None:
    subnet = _instance(staging)["SubnetId"]["Ref"]
    staging.has_resource_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True})
    subnets = staging.find_resources("AWS::EC2::Subnet", {"Properties": {"MapPublicIpOnLaunch": True}})
    assert subnet in subnets


def test_attributes_exposed() -> None:
    stack = cdk.Stack(cdk.App(), "Attrs", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, termination_protection=False)
    assert isinstance(host.instance, ec2.Instance)
    assert host.log_groups is logs
    assert host.region == "eu-west-1"
    template = assertions.Template.from_stack(stack)
    group = logical_id(template, "AWS::EC2::SecurityGroup")
    role = logical_id(template, "AWS::IAM::Role")
    # The attributes are the security group and the role the instance runs with (a token is always truthy:
    # resolve it to see which resource it stands for).
    assert stack.resolve(host.security_group.security_group_id) == {"Fn::GetAtt": [group, "GroupId"]}
    assert stack.resolve(host.role.role_arn) == {"Fn::GetAtt": [role, "Arn"]}
    props = _instance(template)
    assert props["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    assert props["IamInstanceProfile"] == {"Ref": logical_id(template, "AWS::IAM::InstanceProfile")}
    template.has_resource_properties("AWS::IAM::InstanceProfile", {"Roles": [{"Ref": role}]})
    assert "DisableApiTermination" not in props
    assert host.termination_protection is None
    template.resource_count_is("AWS::SSM::Association", 1)  # the setup only


def _citizen_stack(**props: Any) -> tuple[cdk.Stack, ObservedEc2Host, ec2.Vpc]:
    stack = cdk.Stack(cdk.App(), "Citizen", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/citizen", containers=["web"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, **props)
    return stack, host, vpc


def test_no_public_ports_opens_nothing_to_the_internet() -> None:
    stack, host, vpc = _citizen_stack(public_ports=(), elastic_ip=False)
    # A load balancer in front may reach the host: the host is IConnectable.
    balancer = ec2.SecurityGroup(stack, "Balancer", vpc=vpc)
    host.connections.allow_from(balancer, ec2.Port.tcp(80), "from the load balancer")
    template = assertions.Template.from_stack(stack)
    (group,) = [
        g
        for k, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if k.startswith("HostSecurityGroup")
    ]
    assert "SecurityGroupIngress" not in group["Properties"]
    assert group["Properties"]["GroupDescription"] == "Docker host: nothing in from the internet; all out"
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress")
    assert [
        (i["Properties"]["FromPort"], "SourceSecurityGroupId" in i["Properties"]) for i in ingress.values()
    ] == [(80, True)]
    resources = template.to_json()["Resources"].values()
    inline = [
        r
        for g in resources
        if g["Type"] == "AWS::EC2::SecurityGroup"
        for r in g["Properties"].get("SecurityGroupIngress", [])
    ]
    standalone = [g["Properties"] for g in resources if g["Type"] == "AWS::EC2::SecurityGroupIngress"]
    assert [
        r for r in inline + standalone if r.get("CidrIp") == "0.0.0.0/0" or r.get("CidrIpv6") == "::/0"
    ] == []


def test_other_public_ports_are_opened_and_not_acknowledged_as_web() -> None:
    stack, _, _ = _citizen_stack(public_ports=(8443,))
    template = assertions.Template.from_stack(stack)
    (group,) = [
        g
        for k, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if k.startswith("HostSecurityGroup")
    ]
    assert [(r["FromPort"], r["CidrIp"]) for r in group["Properties"]["SecurityGroupIngress"]] == [
        (8443, "0.0.0.0/0")
    ]
    assert "AwsSolutions-EC23" not in json.dumps(
        stack.node.find_child("Host").node.find_child("SecurityGroup").node.metadata
    )


def test_remote_login_is_opened_to_the_internet_only_when_asked_by_name() -> None:
    with pytest.raises(ValueError, match=r"^public_ports would open 22 \(SSH\) to the whole internet"):
        _citizen_stack(public_ports=(443, 22))
    stack, _, _ = _citizen_stack(public_ports=(443, 22), allow_remote_login_from_internet=True)
    template = assertions.Template.from_stack(stack)
    (group,) = [
        g
        for k, g in template.find_resources("AWS::EC2::SecurityGroup").items()
        if k.startswith("HostSecurityGroup")
    ]
    assert [(r["FromPort"], r["CidrIp"]) for r in group["Properties"]["SecurityGroupIngress"]] == [
        (443, "0.0.0.0/0"),
        (22, "0.0.0.0/0"),
    ]
    # Not acknowledged as web ingress: a compliance pack reports it, as the caller chose.
    assert "AwsSolutions-EC23" not in json.dumps(
        stack.node.find_child("Host").node.find_child("SecurityGroup").node.metadata
    )


@pytest.mark.parametrize(
    ("ports", "error", "message"),
    [
        (
            "80",
            TypeError,
            "public_ports must be a sequence of TCP port numbers like (80, 443), or () for none, got '80'",
        ),
        ((80, 80), ValueError, r"public_ports repeats \[80\]; give each port once, got \[80, 80\]"),
        ((0,), ValueError, "public_ports must be between 1 and 65535, got 0"),
    ],
)
def test_public_ports_are_checked(ports: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message) if error is TypeError else message):
        _citizen_stack(public_ports=ports)


def test_own_role_and_security_group_are_used() -> None:
    stack = cdk.Stack(cdk.App(), "Own", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    role = iam.Role(stack, "TeamRole", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    group = ec2.SecurityGroup(stack, "TeamGroup", vpc=vpc)
    logs = ContainerLogGroups(stack, "Logs", prefix="/own", containers=["web"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, role=role, security_group=group)
    assert host.role is role and host.security_group is group
    assert host.grant_principal is role.grant_principal
    template = assertions.Template.from_stack(stack)
    # The team's role, and the termination-protection runbook's own (assumed by Systems Manager, not EC2).
    roles = template.find_resources("AWS::IAM::Role")
    assert sorted(
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
        for r in roles.values()
    ) == ["ec2.amazonaws.com", "ssm.amazonaws.com"]
    template.resource_count_is("AWS::EC2::SecurityGroup", 1)
    props = _instance(template)
    assert props["SecurityGroupIds"] == [
        {"Fn::GetAtt": [stack.get_logical_id(group.node.default_child), "GroupId"]}
    ]  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match="role_name='x' names the role the host creates, but role= was given too"
    ):
        ObservedEc2Host(stack, "Other", vpc=vpc, log_groups=logs, role=role, role_name="x")


def test_the_host_is_grantable_and_has_metric_methods() -> None:
    stack, host, _ = _citizen_stack()
    bucket = s3.Bucket(stack, "Bucket")
    bucket.grant_read(host)
    template = assertions.Template.from_stack(stack)
    statements = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any("s3:GetObject*" in s["Action"] for s in statements)
    cpu = host.metric_cpu_utilization()
    assert (cpu.namespace, cpu.metric_name, cpu.statistic, cpu.period.to_minutes()) == (
        "AWS/EC2",
        "CPUUtilization",
        "Average",
        5,
    )
    status = host.metric_status_check_failed(period=cdk.Duration.minutes(1))
    assert (status.metric_name, status.statistic, status.period.to_minutes()) == (
        "StatusCheckFailed",
        "Maximum",
        1,
    )
    memory = host.metric_memory_used_percent(statistic="p90")
    assert (memory.namespace, memory.metric_name, memory.statistic) == (
        "ConstructsObs/Citizen/Host",
        "mem_used_percent",
        "p90",
    )
    assert host.metric_disk_used_percent().statistic == "Maximum"
    crashes = host.metric_container_crashes()
    assert (crashes.namespace, crashes.metric_name, crashes.statistic) == (
        "ConstructsObs/Citizen/Host",
        "ContainerCrashes",
        "Sum",
    )
    for metric in (cpu, status, memory):
        assert stack.resolve(metric.dimensions) == {
            "InstanceId": {"Ref": stack.get_logical_id(host.instance.node.default_child)}
        }  # type: ignore[arg-type]
