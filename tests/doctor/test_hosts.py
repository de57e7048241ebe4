"""Any stack built with the constructs: hosts found from the template's metadata, rows grouped by host.

- two hosts in one stack (``TwoHosts``, tests/doctor/apps.py);
- a host the library did not create (``ShopLegacy``: ``HostObservability`` on an instance id with the team's own role, and an
  ECS service's plain log groups with log-pattern alarms);
- a second team's stack in another region (``Shop``: its own names, an existing VPC and an imported topic),
  checked in the same run as the staging stack (``--stack`` repeated).

The placeholder ids the stacks were synthesized with (an existing VPC, subnet and instance) are replaced by those
moto created, as the teams' real ids would be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import aws_cdk as cdk
import boto3
import pytest

from constructs_obs.doctor import Status
from constructs_obs.doctor.cli import main
from tests.doctor.apps import SUBNET_ID, TWO_HOSTS, VPC_ID
from tests.doctor.conftest import moto_session
from tests.doctor.deployment import Deployment, deploy
from tests.doctor.helpers import (
    MOTO_CFN_WARNINGS,
    describe,
    problems,
    record_calls,
    rows,
    runbook_permissions,
)
from tests.test_reuse import LEGACY_INSTANCE, TOPIC_ARN

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-hosts")]

SHOP_REGION = "eu-central-1"


def existing_vpc(session: boto3.Session) -> dict[str, str]:
    """A VPC and subnet in moto, as the placeholder ids' substitutes."""
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    zone = f"{session.region_name}a"
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24", AvailabilityZone=zone)["Subnet"][
        "SubnetId"
    ]
    return {VPC_ID: vpc, SUBNET_ID: subnet}


def assembly(app: cdk.App) -> Path:
    return Path(app.synth().directory)


# --- two hosts in one stack ----------------------------------------------------------------------------------------


def test_two_hosts_in_one_stack(aws: boto3.Session, doctor_app: cdk.App) -> None:
    deployment = deploy(aws, assembly(doctor_app), TWO_HOSTS, substitutions=existing_vpc(aws))
    web, worker = deployment.hosts()

    report = deployment.doctor()

    assert problems(report) == [], describe(problems(report))
    assert [host for host, _ in report.groups()] == [None, "TwoHosts/Web", "TwoHosts/Worker"]
    by_host = dict(report.groups())
    for host, info in (("TwoHosts/Web", web), ("TwoHosts/Worker", worker)):
        checks = {(r.check, r.resource) for r in by_host[host]}
        assert {
            ("instance", info.instance_id),
            ("agent-metrics", info.instance_id),
            ("docker-events", info.instance_id),
            ("setup", info.instance_id),
            ("role-permissions", info.role_name),
        } <= checks
        assert {g for c, g in checks if c == "log-group"} == {
            *info.container_groups.values(),
            info.docker_events_group,
        }
    # Each host's alarms watch its own instance, and their rows are under it.
    assert {r.resource: r.detail for r in rows(report, "alarm-instance") if r.host == "TwoHosts/Worker"} == {
        "two-worker-cpu-high": f"watches {worker.instance_id}",
        "two-worker-status-check": f"watches {worker.instance_id}",
        "two-worker-memory-high": f"watches {worker.instance_id}",
        "two-worker-disk-high": f"watches {worker.instance_id}",
    }
    assert [r.resource for r in rows(report, "log-format") if r.host == "TwoHosts/Web"] == [
        "/two/web/docker-events",
        "/two/web/nginx",
        "/two/web/api",
    ]
    # Neither host scrapes a Prometheus endpoint (no Prometheus block in its metadata): no row.
    assert (web.prometheus, worker.prometheus) == (None, None)
    assert rows(report, "prometheus-metrics") == []
    # One topic for both hosts' alarms (worker alarms reuse the web alarms' topic and add their statement).
    [policy] = rows(report, "topic-policy")
    assert policy.detail.startswith("cloudwatch.amazonaws.com may publish for all 12 alarms (allowed by ")

    # A problem on the worker is reported under the worker.
    deployment.client("logs").delete_log_stream(
        logGroupName=worker.docker_events_group, logStreamName=worker.instance_id
    )
    [failure] = deployment.doctor().failures()
    assert (failure.check, failure.resource, failure.host) == (
        "docker-events",
        worker.instance_id,
        "TwoHosts/Worker",
    )


# --- an instance the library did not create, and plain log groups ----------------------------------------------------


def legacy_instance(session: boto3.Session, role: str = "shop-legacy-ec2") -> str:
    """The other team's instance, with its own role in its own instance profile."""
    iam, ec2 = session.client("iam"), session.client("ec2")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.create_instance_profile(InstanceProfileName=role)
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    image = ec2.register_image(Name="al2023", RootDeviceName="/dev/xvda")["ImageId"]
    [instance] = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.small", IamInstanceProfile={"Name": role}
    )["Instances"]
    return str(instance["InstanceId"])


def test_existing_instance_and_an_ecs_services_plain_log_groups(
    aws: boto3.Session, doctor_app: cdk.App
) -> None:
    session = moto_session(SHOP_REGION)
    instance = legacy_instance(session)
    logs = session.client("logs")
    for group in ("/ecs/shop-proxy", "/ecs/shop-api"):  # made by the ECS service's own stack
        logs.create_log_group(logGroupName=group)
    deployment = deploy(
        session, assembly(doctor_app), "ShopLegacy", substitutions={LEGACY_INSTANCE: instance}
    )
    deployment.put_log_event(
        "/ecs/shop-proxy",
        '10.0.1.7 - - [27/Nov/2026:10:15:32 +0000] "GET / HTTP/1.1" 200 12 "-" "ELB-HealthChecker/2.0" "-"',
    )
    calls = record_calls(deployment.session)

    report = deployment.doctor()

    assert problems(report) == [], describe(problems(report))
    assert report.hosts[0]["instance_id"] == instance
    assert report.hosts[0]["created_by_stack"] is False
    host = "ShopLegacy/Host"
    assert [(r.check, r.host) for r in rows(report, "instance-profile")] == [("instance-profile", host)]
    assert rows(report, "instance-profile")[0].detail == "shop-legacy-ec2 attached, holding shop-legacy-ec2"
    assert rows(report, "role-permissions")[0].resource == "shop-legacy-ec2"
    # The ECS service's groups are not the host's: their rows are the stack's.
    assert {r.resource: r.host for r in rows(report, "log-format")} == {
        "/shop-legacy/docker-events": host,
        "/shop-legacy/web": host,
        "/shop-legacy/api": host,
        "/ecs/shop-proxy": None,
        "/ecs/shop-api": None,
    }
    assert {r.host for r in rows(report, "alarm") if r.resource.startswith("shop-fargate-")} == {None}
    assert "iam:GetInstanceProfile" in calls
    assert calls <= runbook_permissions()

    # Someone attached a profile with another role: the stack's grants are on shop-legacy-ec2.
    iam, ec2 = session.client("iam"), session.client("ec2")
    iam.create_role(RoleName="someone-else", AssumeRolePolicyDocument="{}")
    iam.create_instance_profile(InstanceProfileName="someone-else")
    iam.add_role_to_instance_profile(InstanceProfileName="someone-else", RoleName="someone-else")
    [association] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    ec2.disassociate_iam_instance_profile(AssociationId=association["AssociationId"])
    ec2.associate_iam_instance_profile(InstanceId=instance, IamInstanceProfile={"Name": "someone-else"})

    [failure] = deployment.doctor().failures()
    assert (failure.check, failure.resource, failure.host) == ("instance-profile", instance, host)
    assert failure.detail == (
        "instance profile someone-else holds someone-else, but the stack grants the log and metric writes to "
        "shop-legacy-ec2"
    )


# --- a second team's stack, in another region, in the same run ----------------------------------------------------------


def deploy_shop(app: cdk.App, topic_policy: dict[str, object] | None) -> Deployment:
    """The Shop team's stack in eu-central-1, with their own topic (``topic_policy``: its access policy)."""
    session = moto_session(SHOP_REGION)
    sns = session.client("sns")
    attributes = {"Policy": json.dumps(topic_policy)} if topic_policy else {}
    created = sns.create_topic(Name="shop-oncall", Attributes=attributes)["TopicArn"]
    assert created == "arn:aws:sns:eu-central-1:123456789012:shop-oncall" == TOPIC_ARN  # the stack's import
    return deploy(session, assembly(app), "Shop", substitutions=existing_vpc(session))


def test_a_second_teams_stack_in_another_region(
    healthy: Deployment, doctor_app: cdk.App, capsys: pytest.CaptureFixture[str]
) -> None:
    # Their topic has a policy of its own that lets only their account's users publish.
    deploy_shop(
        doctor_app,
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TeamPublish",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                    "Action": "sns:Publish",
                    "Resource": TOPIC_ARN,
                }
            ],
        },
    )

    code = main(
        ["--stack", "AiTutorStaging", "--region", "us-east-2", "--stack", f"Shop@{SHOP_REGION}", "--json"]
    )

    document = json.loads(capsys.readouterr().out)
    assert (code, document["status"], document["exit_code"]) == (1, "fail", 1)
    staging, shop = document["reports"]
    assert (staging["stack"], staging["region"], staging["status"]) == ("AiTutorStaging", "us-east-2", "pass")
    assert (shop["stack"], shop["region"], shop["status"]) == ("Shop", SHOP_REGION, "fail")
    assert [h["host"] for h in shop["hosts"]] == ["Shop/Host"]
    [failure] = [c for c in shop["checks"] if c["status"] == "fail"]
    assert (failure["check"], failure["resource"], failure["host"]) == ("topic-policy", "shop-oncall", None)
    assert failure["detail"].startswith("cloudwatch.amazonaws.com may not publish for 5 of 5 alarms (")
    # The statement to add names their region's alarms.
    statement = json.loads(failure["next_step"].split(": ", 1)[1])
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:{SHOP_REGION}:123456789012:alarm:*"
    }
    assert {c["host"] for c in shop["checks"] if c["check"] == "agent-metrics"} == {"Shop/Host"}


def test_several_stacks_as_a_table_and_one_that_does_not_exist(
    healthy: Deployment, doctor_app: cdk.App, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_shop(doctor_app, None)  # SNS's default policy: the account's alarms may publish

    code = main(
        [
            "--stack",
            "AiTutorStaging",
            "--stack",
            f"Shop@{SHOP_REGION}",
            "--stack",
            "Nope",
            "--region",
            "us-east-2",
            "--verbose",
        ]
    )

    out, err = capsys.readouterr()
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("obs-doctor")] == [
        "obs-doctor: cannot check Nope: no stack named Nope in us-east-2 (check --region and --profile)"
    ]
    lines = out.splitlines()
    headings = [line.rsplit(",", 1)[0] for line in lines if line.startswith("obs-doctor: stack ")]
    assert headings == [
        "obs-doctor: stack AiTutorStaging in us-east-2",
        f"obs-doctor: stack Shop in {SHOP_REGION}",
    ]
    assert lines[0].startswith("obs-doctor: stack AiTutorStaging in us-east-2, ")
    assert "host Shop/Host (" in out
    assert lines[-1] == "3 stacks: exit code 2"


def test_a_stack_arn_names_its_region(healthy: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--stack", healthy.stack_id, "--region", "eu-west-1", "--json"])

    document = json.loads(capsys.readouterr().out)
    assert (code, document["stack"], document["region"], document["status"]) == (
        0,
        "AiTutorStaging",
        "us-east-2",
        "pass",
    )


def test_no_rows_are_lost_in_grouping(deploy_staging: Callable[..., Deployment]) -> None:
    report = deploy_staging().doctor()
    assert sorted(id(r) for _, group in report.groups() for r in group) == sorted(
        id(r) for r in report.results
    )
    assert [r.status for r in report.results].count(Status.FAIL) == 0
