"""``obs-doctor preflight``: the requirements of an instance the library will attach to, read-only, against moto.

Which behaviour comes from where: instances, AMIs (moto's copy of Amazon's AMI list, names included), instance
profiles and metadata options are moto's own; moto implements neither ``DescribeInstanceInformation`` nor
``SimulatePrincipalPolicy`` ("has not been implemented"), so both come from tests/doctor/moto_gaps.py: registered
instances are recorded by the test (an SSM agent registers once its role allows it), and the simulator evaluates
the role's policies in moto with the library's policy evaluator (identity policies only: an explicit Deny wins,
else an Allow is needed, as IAM's simulator does for them).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from constructs_obs.contract import SSM_CHANNEL_ACTIONS, STATE_MANAGER_ACTIONS
from constructs_obs.doctor.cli import main
from constructs_obs.doctor.preflight import run_preflight
from constructs_obs.doctor.report import Status
from tests.doctor.moto_gaps import GAPS

REGION = "us-east-2"
ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
#: The seed's Terraform policy: log writes to /ai-tutor/* only (aws_iam_role_policy.cloudwatch_logs).
LOGS_ONLY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ai-tutor/*",
        }
    ],
}
#: The statements AmazonSSMManagedInstanceCore grants the agent (written out: the AWS managed policy reference).
SSM_CORE = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "ssm:DescribeAssociation",
                "ssm:GetDeployablePatchSnapshotForInstance",
                "ssm:GetDocument",
                "ssm:DescribeDocument",
                "ssm:GetManifest",
                "ssm:GetParameter",
                "ssm:GetParameters",
                "ssm:ListAssociations",
                "ssm:ListInstanceAssociations",
                "ssm:PutInventory",
                "ssm:PutComplianceItems",
                "ssm:PutConfigurePackageResult",
                "ssm:UpdateAssociationStatus",
                "ssm:UpdateInstanceAssociationStatus",
                "ssm:UpdateInstanceInformation",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Action": [
                "ec2messages:AcknowledgeMessage",
                "ec2messages:DeleteMessage",
                "ec2messages:FailMessage",
                "ec2messages:GetEndpoint",
                "ec2messages:GetMessages",
                "ec2messages:SendReply",
            ],
            "Resource": "*",
        },
    ],
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        GAPS.reset()
        yield
        GAPS.reset()


#: Image names as Amazon publishes them (``aws ec2 describe-images --owners amazon``), by their prefix.
IMAGE_NAMES = {
    "al2023-ami-2023": "al2023-ami-2023.6.20241212.0-kernel-6.1-x86_64",
    "amzn2-ami-hvm": "amzn2-ami-hvm-2.0.20241217.0-x86_64-gp2",
}


def instance(*, image_prefix: str = "al2023-ami-2023", ssm_policy: bool = True, registered: bool = True,
             tokens: str = "required") -> str:  # fmt: skip
    """The team's instance: its role has Terraform's log policy, and (``ssm_policy``) the SSM agent's."""
    ec2 = boto3.client("ec2", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName="ai-tutor-staging-ec2-role", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="ai-tutor-staging-ec2-role",
        PolicyName="cloudwatch_logs",
        PolicyDocument=json.dumps(LOGS_ONLY),
    )
    if ssm_policy:
        iam.put_role_policy(
            RoleName="ai-tutor-staging-ec2-role", PolicyName="ssm", PolicyDocument=json.dumps(SSM_CORE)
        )
    iam.create_instance_profile(InstanceProfileName="ai-tutor-staging-ec2-profile")
    iam.add_role_to_instance_profile(
        InstanceProfileName="ai-tutor-staging-ec2-profile", RoleName="ai-tutor-staging-ec2-role"
    )
    # The image, registered under a name of the form Amazon publishes (not taken from moto's catalogue of public
    # AMIs, which the other doctor tests switch off for speed).
    image_id = ec2.register_image(Name=IMAGE_NAMES[image_prefix], RootDeviceName="/dev/xvda")["ImageId"]
    instance_id: str = ec2.run_instances(
        ImageId=image_id, MinCount=1, MaxCount=1, InstanceType="t3.small",
        IamInstanceProfile={"Name": "ai-tutor-staging-ec2-profile"}, MetadataOptions={"HttpTokens": tokens},
    )["Instances"][0]["InstanceId"]  # fmt: skip
    if registered:
        GAPS.register_instance(ACCOUNT, REGION, instance_id)
    return instance_id


def rows(instance_id: str, **kwargs: Any) -> dict[str, Any]:
    found = run_preflight(boto3.Session(region_name=REGION), instance_id, region=REGION, **kwargs)
    return {r.check: r for r in found.results}


def test_a_ready_instance_passes_every_requirement(aws: None) -> None:
    found = rows(instance())
    assert {check: r.status for check, r in found.items()} == {
        "image": Status.PASS,
        "ssm-registration": Status.PASS,
        "role-permissions": Status.PASS,
        "imds": Status.PASS,
    }
    assert found["image"].detail.startswith("Amazon Linux 2023 (al2023-ami-2023.")


def test_an_instance_not_registered_in_ssm_fails_with_the_fix(aws: None) -> None:
    instance_id = instance(registered=False)
    row = rows(instance_id)["ssm-registration"]
    assert row.status is Status.FAIL
    assert row.detail.startswith(
        "not registered with Systems Manager: State Manager cannot deliver the setup"
    )
    assert "sudo systemctl restart amazon-ssm-agent" in row.next_step
    assert f"Key=InstanceIds,Values={instance_id}" in row.next_step


def test_a_role_without_ssm_permissions_names_what_it_lacks_and_how_terraform_adds_it(aws: None) -> None:
    row = rows(instance(ssm_policy=False))["role-permissions"]
    assert row.status is Status.FAIL
    # Every action the constructs grant the agent (constructs_obs.contract), none of which Terraform's policy has.
    for action in (
        "ssm:UpdateInstanceInformation",
        *SSM_CHANNEL_ACTIONS,
        *STATE_MANAGER_ACTIONS,
        "ssm:GetDocument",
    ):
        assert action in row.detail
    assert 'resource "aws_iam_role_policy_attachment" "ssm"' in row.next_step
    assert "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" in row.next_step


def test_a_non_al2023_image_fails(aws: None) -> None:
    row = rows(instance(image_prefix="amzn2-ami-hvm"))["image"]
    assert row.status is Status.FAIL
    assert row.detail.startswith("the instance runs amzn2-ami-hvm-")
    assert row.detail.endswith("not Amazon Linux 2023")
    assert "Move to a new host" in row.next_step


def test_imdsv1_allowed_is_a_warning(aws: None) -> None:
    row = rows(instance(tokens="optional"))["imds"]
    assert row.status is Status.WARN
    assert "--http-tokens required" in row.next_step


def test_deep_reads_free_memory_over_run_command(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's Run Command answers any command with empty output, so the host's /proc/meminfo is what Linux prints
    # (proc(5), /proc/meminfo: "MemAvailable: ... kB"); the read itself is moto's SendCommand/GetCommandInvocation.
    from moto.ssm import models

    original = models.Command.invocation_response

    def meminfo(self: Any, instance_id: str, plugin_name: str | None) -> dict[str, Any]:
        response: dict[str, Any] = original(self, instance_id, plugin_name)
        response["StandardOutputContent"] = "MemTotal:        1962028 kB\nMemAvailable:     204800 kB\n"
        return response

    monkeypatch.setattr(models.Command, "invocation_response", meminfo)
    row = rows(instance(), deep=True, sleep=lambda _: None)["free-memory"]
    assert row.status is Status.WARN
    assert row.detail.startswith("200 MiB available of 1916 MiB: the setup's dnf install needs about 300 MiB")


def test_the_command_line_prints_the_rows_and_exits_1_on_a_failure(
    aws: None, capsys: pytest.CaptureFixture[str]
) -> None:
    instance_id = instance(registered=False)
    code = main(["preflight", "--instance", instance_id, "--region", REGION])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0] == f"obs-doctor preflight {instance_id} ({REGION}): FAIL"
    assert "FAIL    ssm-registration" in out
    assert main(["preflight", "--instance", instance_id, "--region", REGION, "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 1
    assert {c["check"] for c in document["checks"]} == {
        "image",
        "ssm-registration",
        "role-permissions",
        "imds",
    }


def test_an_unknown_instance_cannot_be_checked(aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", "--instance", "i-0123456789abcdef0", "--region", REGION]) == 2
    assert "cannot check i-0123456789abcdef0" in capsys.readouterr().err
