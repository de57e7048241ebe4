"""ContainerLogGroups: names, retention, removal policy, the write grant and the compose logging block."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from constructs_obs import ContainerLogGroups
from tests.conftest import logical_id


def _stack(region: str = "eu-west-1") -> cdk.Stack:
    return cdk.Stack(cdk.App(), "LogsTest", env=cdk.Environment(region=region))


def test_staging_has_one_group_per_container_named_like_the_seed(staging: assertions.Template) -> None:
    # Plus the host's /ai-tutor/docker-events (tests/test_docker_events.py) and /ai-tutor/prometheus
    # (tests/test_prometheus.py).
    staging.resource_count_is("AWS::Logs::LogGroup", 5)
    for name in ("/ai-tutor/backend", "/ai-tutor/frontend", "/ai-tutor/nginx"):
        staging.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": name, "RetentionInDays": 30})


def test_no_postgres_group(staging_template_json: dict[str, Any]) -> None:
    names = [
        r["Properties"]["LogGroupName"]
        for r in staging_template_json["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup"
    ]
    assert not [n for n in names if "postgres" in n]


def test_groups_are_retained_when_the_stack_goes(staging: assertions.Template) -> None:
    groups = staging.find_resources("AWS::Logs::LogGroup")
    assert {(g["DeletionPolicy"], g["UpdateReplacePolicy"]) for g in groups.values()} == {
        ("RetainExceptOnCreate", "Retain")
    }


def test_prefix_and_containers_have_no_default_from_one_application() -> None:
    with pytest.raises(
        TypeError, match="missing 2 required keyword-only arguments: 'prefix' and 'containers'"
    ):
        ContainerLogGroups(_stack(), "Logs")  # type: ignore[call-arg]


def test_retention_and_removal_policy_are_configurable() -> None:
    stack = _stack()
    ContainerLogGroups(
        stack,
        "Logs",
        prefix="/shop/",
        containers=["api"],
        retention=logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    template = assertions.Template.from_stack(stack)
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"LogGroupName": "/shop/api", "RetentionInDays": 7},
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
        },
    )


def test_infinite_retention_writes_no_retention_so_adopted_history_never_expires() -> None:
    # CloudWatch Logs keeps a group's events forever when it has no retention policy (its default); an AWS::Logs::
    # LogGroup without RetentionInDays is such a group. Adopting groups that never expire (docs/migration.md) with
    # RetentionInDays set would make the next deploy delete every older event. The host's own groups follow.
    from aws_cdk import aws_ec2 as ec2

    from constructs_obs import ObservedEc2Host

    stack = _stack()
    groups = ContainerLogGroups(
        stack, "Logs", prefix="/shop", containers=["api"], retention=logs.RetentionDays.INFINITE
    )
    ObservedEc2Host(stack, "Host", vpc=ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0), log_groups=groups)
    found = assertions.Template.from_stack(stack).find_resources("AWS::Logs::LogGroup")
    assert {r["Properties"]["LogGroupName"]: r["Properties"] for r in found.values()} == {
        "/shop/api": {"LogGroupName": "/shop/api"},
        "/shop/docker-events": {"LogGroupName": "/shop/docker-events"},
    }


def test_grant_write_is_exactly_two_actions_on_exactly_these_groups() -> None:
    stack = _stack()
    groups = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api", "worker"])
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    grant = groups.grant_write(role)
    assert grant.success
    template = assertions.Template.from_stack(stack)
    api = logical_id(template, "AWS::Logs::LogGroup", LogGroupName="/shop/api")
    worker = logical_id(template, "AWS::Logs::LogGroup", LogGroupName="/shop/worker")
    policies = template.find_resources("AWS::IAM::Policy")
    assert len(policies) == 1
    statements = next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": [{"Fn::GetAtt": [api, "Arn"]}, {"Fn::GetAtt": [worker, "Arn"]}],
        }
    ]


def test_compose_logging_block() -> None:
    stack = _stack("eu-west-1")
    groups = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api"])
    assert groups.compose_logging("api") == {
        "driver": "awslogs",
        "options": {
            "awslogs-group": "/shop/api",
            "awslogs-region": "eu-west-1",
            "awslogs-create-group": "false",
            "mode": "non-blocking",
            "max-buffer-size": "4m",
        },
    }
    assert groups.compose_override() == {"services": {"api": {"logging": groups.compose_logging("api")}}}


def test_compose_logging_buffer_size_is_configurable() -> None:
    groups = ContainerLogGroups(
        _stack("eu-west-1"), "Logs", prefix="/shop", containers=["api"], max_buffer_size="25m"
    )
    assert groups.compose_logging("api")["options"] == {
        "awslogs-group": "/shop/api",
        "awslogs-region": "eu-west-1",
        "awslogs-create-group": "false",
        "mode": "non-blocking",
        "max-buffer-size": "25m",
    }


def test_compose_logging_blocking_opt_out_has_no_buffer_size() -> None:
    groups = ContainerLogGroups(
        _stack("eu-west-1"), "Logs", prefix="/shop", containers=["api"], blocking=True
    )
    assert groups.compose_logging("api")["options"] == {
        "awslogs-group": "/shop/api",
        "awslogs-region": "eu-west-1",
        "awslogs-create-group": "false",
        "mode": "blocking",
    }


@pytest.mark.parametrize("size", ["1m", "512k", "1g", "4MB", "4 MiB", "1.5m", "1048576"])
def test_max_buffer_size_accepts_dockers_size_format(size: str) -> None:
    groups = ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api"], max_buffer_size=size)
    assert groups.compose_logging("api")["options"]["max-buffer-size"] == size


@pytest.mark.parametrize("size", ["", "0", "0m", "4 m b", "m", "-1m", "4x", "4mbb", "1,5m"])
def test_max_buffer_size_refuses_what_docker_cannot_parse(size: str) -> None:
    with pytest.raises(ValueError, match=r"max_buffer_size must be a positive size in Docker's format"):
        ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api"], max_buffer_size=size)


def test_max_buffer_size_with_blocking_is_refused() -> None:
    with pytest.raises(ValueError, match=r"max_buffer_size applies to non-blocking mode only"):
        ContainerLogGroups(
            _stack(), "Logs", prefix="/shop", containers=["api"], blocking=True, max_buffer_size="4m"
        )


def test_mode_props_are_type_checked() -> None:
    with pytest.raises(TypeError, match=r"blocking must be True or False, got 'yes'"):
        ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api"], blocking="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"max_buffer_size must be a size string"):
        ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api"], max_buffer_size=4096)  # type: ignore[arg-type]


def test_unknown_container_names_the_known_ones() -> None:
    groups = ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api", "worker"])
    with pytest.raises(
        KeyError, match=r"container 'web' has no log group; known containers: \['api', 'worker'\]"
    ):
        groups.compose_logging("web")


def test_log_groups_mapping() -> None:
    groups = ContainerLogGroups(_stack(), "Logs", prefix="/shop", containers=["api", "worker"])
    assert list(groups.log_groups) == ["api", "worker"]
    assert groups.log_groups["api"] is groups.log_group("api")
