"""HostObservability: the observability of an instance made anywhere, and ObservedEc2Host as an instance plus one.

The instance-id case (a role imported by name) is the reuse stack ``ShopLegacy`` (tests/test_reuse.py); here an
``ec2.Instance`` the user's own stack creates, the metric options, the checks of the props, and the composition.
"""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    HostDashboard,
    HostObservability,
    IObservedHost,
    ObservedEc2Host,
    SavedQueries,
)
from tests.conftest import make_app

REGION = "eu-west-1"


class PlainInstanceStack(cdk.Stack):
    """A team's own ``ec2.Instance`` (its role created by aws-cdk-lib), observed with the library."""

    def __init__(self, scope: Construct, construct_id: str, *, ssm: bool = False, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id="vpc-0123456789abcdef0",
            availability_zones=[f"{REGION}a"],
            public_subnet_ids=["subnet-0123456789abcdef0"],
        )
        self.web = ec2.Instance(
            self,
            "Web",
            vpc=vpc,
            instance_type=ec2.InstanceType("t3.micro"),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            require_imdsv2=True,
        )
        self.logs = ContainerLogGroups(self, "Logs", prefix=f"/{construct_id.lower()}", containers=["api"])
        self.host = HostObservability(
            self, "Observability", instance=self.web, log_groups=self.logs, ssm_agent_permissions=ssm
        )
        self.alarms = BasicAlarms(
            self, "Alarms", host=self.host, name_prefix=construct_id.lower(), emails=["ops@example.com"]
        )
        SavedQueries(
            self, "Queries", host=self.host, name_prefix=construct_id.lower(), backend_container="api"
        )
        HostDashboard(self, "Dashboard", alarms=self.alarms)


@pytest.fixture(scope="module")
def plain_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    app = make_app(tmp_path_factory.mktemp("plain"))
    PlainInstanceStack(app, "Plain", env=cdk.Environment(region=REGION))
    PlainInstanceStack(app, "PlainSsm", ssm=True, env=cdk.Environment(region=REGION))
    app.synth()
    return app


def _stack(app: cdk.App, name: str) -> PlainInstanceStack:
    stack = app.node.find_child(name)
    assert isinstance(stack, PlainInstanceStack)
    return stack


def _template(app: cdk.App, name: str) -> dict[str, Any]:
    return assertions.Template.from_stack(_stack(app, name)).to_json()


def _ids(template: dict[str, Any], resource_type: str) -> list[str]:
    return sorted(k for k, r in template["Resources"].items() if r["Type"] == resource_type)


def _role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    (policy,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    (web_role,) = [k for k in _ids(template, "AWS::IAM::Role") if k.startswith("WebInstanceRole")]
    assert policy["Properties"]["Roles"] == [{"Ref": web_role}]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_the_association_targets_the_users_instance(plain_app: cdk.App) -> None:
    template = _template(plain_app, "Plain")
    (instance,) = _ids(template, "AWS::EC2::Instance")
    assert instance.startswith("Web")
    (association,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Association"]
    assert association["Properties"]["Name"] == "AWS-RunShellScript"
    assert association["Properties"]["Targets"] == [{"Key": "InstanceIds", "Values": [{"Ref": instance}]}]
    assert association["Properties"]["WaitForSuccessTimeoutSeconds"] == 900
    # The setup waits for the role's grants; the agent's metrics are declared on the user's instance.
    (policy,) = _ids(template, "AWS::IAM::Policy")
    assert policy in association["DependsOn"]
    declared = template["Resources"][instance]["Metadata"]["ConstructsObs::CustomMetrics"]
    assert [m["MetricName"] for m in declared] == ["mem_used_percent", "disk_used_percent"]
    # What obs-doctor reads: the instance by Ref, the role by its logical id, the groups.
    described = association["Metadata"]["ConstructsObs::Host"]
    (web_role,) = [k for k in _ids(template, "AWS::IAM::Role") if k.startswith("WebInstanceRole")]
    assert described == {
        "HostPath": "Plain/Observability",
        "InstanceId": {"Ref": instance},
        "MetricsNamespace": "ConstructsObs/Plain/Observability",
        "RoleLogicalId": web_role,
        "ContainerLogGroups": {"api": "/plain/api"},
        "DockerEventsLogGroup": "/plain/docker-events",
    }


def test_the_instances_own_role_gets_the_grants_and_nothing_else(plain_app: cdk.App) -> None:
    template = _template(plain_app, "Plain")
    statements = _role_statements(template)
    groups = {
        name: next(
            k
            for k, r in template["Resources"].items()
            if r["Type"] == "AWS::Logs::LogGroup" and r["Properties"]["LogGroupName"] == name
        )
        for name in ("/plain/api", "/plain/docker-events")
    }
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [{"Fn::GetAtt": [groups[name], "Arn"]} for name in ("/plain/api", "/plain/docker-events")],
        ),
        ("cloudwatch:PutMetricData", "*"),
    ]
    assert statements[-1]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "ConstructsObs/Plain/Observability"}
    }
    # Without ssm_agent_permissions the library adds nothing for the SSM agent: the instance's own concern.
    assert not [s for s in statements if "ssm" in str(s["Action"]) or "messages" in str(s["Action"])]


def test_ssm_agent_permissions_add_the_least_privilege_statements(plain_app: cdk.App) -> None:
    actions = [s["Action"] for s in _role_statements(_template(plain_app, "PlainSsm"))]
    assert "ssm:UpdateInstanceInformation" in actions
    flat = {a for action in actions for a in ([action] if isinstance(action, str) else action)}
    assert {
        "ssmmessages:CreateControlChannel",
        "ec2messages:GetMessages",
        "ssm:ListInstanceAssociations",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:GetDocument",
    } <= flat
    assert not [a for a in flat if a.endswith("*")], "no action wildcard"


def test_the_alarms_watch_the_users_instance(plain_app: cdk.App) -> None:
    template = _template(plain_app, "Plain")
    (instance,) = _ids(template, "AWS::EC2::Instance")
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    assert sorted(alarms) == [
        "plain-container-crash",
        "plain-cpu-high",
        "plain-disk-high",
        "plain-memory-high",
        "plain-status-check",
    ]
    for name in ("plain-cpu-high", "plain-status-check"):
        assert alarms[name]["Namespace"] == "AWS/EC2"
        assert alarms[name]["Dimensions"] == [{"Name": "InstanceId", "Value": {"Ref": instance}}]
    for name in ("plain-memory-high", "plain-disk-high"):
        assert alarms[name]["Namespace"] == "ConstructsObs/Plain/Observability"
        assert alarms[name]["Dimensions"] == [{"Name": "InstanceId", "Value": {"Ref": instance}}]
    assert alarms["plain-container-crash"]["Namespace"] == "ConstructsObs/Plain/Observability"
    assert alarms["plain-container-crash"]["MetricName"] == "ContainerCrashes"


@pytest.mark.parametrize("pack", [AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks])
def test_the_observability_brings_no_unacknowledged_finding(plain_app: cdk.App, pack: Any) -> None:
    """What the library adds to the user's stack (the observability, its grants on the user's role, the alarms)
    has no finding of any pack; the user's own instance has the findings of a plain ec2.Instance."""
    report = pack().validate_scope(plain_app)
    ours = re.compile(
        r"^Plain(Ssm)?/(Observability|Logs|Alarms|Queries|Dashboard|Web/InstanceRole/DefaultPolicy)/"
    )
    findings = [(v.rule_name, r.construct_path) for v in report.violations for r in v.violating_resources]
    assert [f"{rule} on {path}" for rule, path in findings if ours.match(path)] == []
    if pack is AwsSolutionsChecks:
        # The pack ran: the plain instance (no termination protection: EC29) is its owner's to fix or acknowledge.
        assert ("AwsSolutions-EC29", "Plain/Web/Resource") in findings


def test_an_instance_id_needs_the_role(tmp_path: Any) -> None:
    stack = cdk.Stack(cdk.App(), "ById", env=cdk.Environment(region=REGION))
    logs = ContainerLogGroups(stack, "Logs", prefix="/byid", containers=["web"])
    with pytest.raises(
        TypeError, match=re.escape("role is required: the instance's role, from its instance profile")
    ):
        HostObservability(stack, "Host", instance="i-0123456789abcdef0", log_groups=logs)
    assert stack.node.try_find_child("Host") is None  # refused before joining the tree


@pytest.mark.parametrize(
    ("instance", "error", "message"),
    [
        (
            "web-1",
            ValueError,
            "instance must be an ec2.IInstance or an EC2 instance id, 'i-' and 8 or 17 hex digits like "
            "'i-0123456789abcdef0', got 'web-1'",
        ),
        (
            "i-0123456789abcdef",
            ValueError,
            "instance must be an ec2.IInstance or an EC2 instance id, 'i-' and 8 or 17 hex digits like "
            "'i-0123456789abcdef0', got 'i-0123456789abcdef'",
        ),
        (
            42,
            TypeError,
            "instance must be an ec2.IInstance (an ec2.Instance of your stack) or an instance id, got 42",
        ),
    ],
)
def test_the_instance_is_checked(instance: Any, error: type[Exception], message: str) -> None:
    stack = cdk.Stack(cdk.App(), "Bad", env=cdk.Environment(region=REGION))
    logs = ContainerLogGroups(stack, "Logs", prefix="/bad", containers=["web"])
    role = iam.Role.from_role_name(stack, "Role", "bad-ec2")
    with pytest.raises(error, match=re.escape(message)):
        HostObservability(stack, "Host", instance=instance, role=role, log_groups=logs)


def test_eight_digit_ids_and_tokens_are_accepted() -> None:
    stack = cdk.Stack(cdk.App(), "Ok", env=cdk.Environment(region=REGION))
    role = iam.Role.from_role_name(stack, "Role", "ok-ec2")
    old = HostObservability(
        stack,
        "Old",
        instance="i-0123abcd",
        role=role,
        log_groups=ContainerLogGroups(stack, "OldLogs", prefix="/old", containers=["web"]),
    )
    parameter = cdk.CfnParameter(stack, "InstanceId", type="AWS::EC2::Instance::Id")
    given = HostObservability(
        stack,
        "Given",
        instance=parameter.value_as_string,
        role=role,
        log_groups=ContainerLogGroups(stack, "GivenLogs", prefix="/given", containers=["web"]),
    )
    template = assertions.Template.from_stack(stack).to_json()
    targets = sorted(
        str(r["Properties"]["Targets"][0]["Values"][0])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::SSM::Association"
    )
    assert targets == ["i-0123abcd", "{'Ref': 'InstanceId'}"]
    assert old.instance_id == "i-0123abcd" and given.instance_id == parameter.value_as_string


def test_an_immutable_role_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Immutable", env=cdk.Environment(region=REGION))
    role = iam.Role.from_role_name(stack, "Role", "locked-ec2", mutable=False)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "role Immutable/Role cannot be changed by this stack (imported with mutable=False): the host needs its "
            "log writes and cloudwatch:PutMetricData added to it; import it mutable"
        ),
    ):
        HostObservability(
            stack,
            "Host",
            instance="i-0123456789abcdef0",
            role=role,
            log_groups=ContainerLogGroups(stack, "Logs", prefix="/locked", containers=["web"]),
        )


# --- the metric methods --------------------------------------------------------------------------------------


def _observed() -> tuple[cdk.Stack, HostObservability]:
    stack = cdk.Stack(cdk.App(), "Metrics", env=cdk.Environment(region=REGION))
    host = HostObservability(
        stack,
        "Host",
        instance="i-0123456789abcdef0",
        role=iam.Role.from_role_name(stack, "Role", "metrics-ec2"),
        log_groups=ContainerLogGroups(stack, "Logs", prefix="/metrics", containers=["web"]),
    )
    return stack, host


def test_metric_methods_have_their_documented_defaults() -> None:
    _, host = _observed()
    expected = {
        "metric_cpu_utilization": ("AWS/EC2", "CPUUtilization", "Average"),
        "metric_status_check_failed": ("AWS/EC2", "StatusCheckFailed", "Maximum"),
        "metric_memory_used_percent": ("ConstructsObs/Metrics/Host", "mem_used_percent", "Average"),
        "metric_disk_used_percent": ("ConstructsObs/Metrics/Host", "disk_used_percent", "Maximum"),
        "metric_container_crashes": ("ConstructsObs/Metrics/Host", "ContainerCrashes", "Sum"),
    }
    for method, (namespace, name, statistic) in expected.items():
        metric = getattr(host, method)()
        assert (metric.namespace, metric.metric_name, metric.statistic, metric.period.to_seconds()) == (
            namespace,
            name,
            statistic,
            300,
        ), method
    assert host.metric_cpu_utilization().dimensions == {"InstanceId": "i-0123456789abcdef0"}
    assert host.metric_container_crashes().dimensions is None


def test_metric_methods_take_aws_cdk_libs_metric_options() -> None:
    _, host = _observed()
    metric = host.metric_memory_used_percent(
        label="Memory (%)",
        color="#ff0000",
        period=cdk.Duration.minutes(1),
        statistic="p90",
        unit=cloudwatch.Unit.PERCENT,
        account="123456789012",
        region="us-east-1",
        visible=False,
    )
    assert (metric.label, metric.color, metric.period.to_seconds(), metric.statistic, metric.unit) == (
        "Memory (%)",
        "#ff0000",
        60,
        "p90",
        cloudwatch.Unit.PERCENT,
    )
    assert (metric.account, metric.region) == ("123456789012", "us-east-1")
    # An option given as None keeps the method's default, as leaving it out does.
    assert host.metric_status_check_failed(statistic=None, period=None).statistic == "Maximum"
    crashes = host.metric_container_crashes(label="Crashes", period=cdk.Duration.minutes(1))
    assert (crashes.label, crashes.statistic, crashes.period.to_seconds()) == ("Crashes", "Sum", 60)


def test_the_generic_metric_is_an_ec2_metric_of_the_instance() -> None:
    _, host = _observed()
    network = host.metric("NetworkOut", statistic="Sum")
    assert (network.namespace, network.metric_name, network.statistic, network.period.to_seconds()) == (
        "AWS/EC2",
        "NetworkOut",
        "Sum",
        300,
    )
    assert network.dimensions == {"InstanceId": "i-0123456789abcdef0"}
    with pytest.raises(TypeError, match=re.escape("unknown metric options ['periodd']")):
        host.metric("NetworkOut", periodd=cdk.Duration.minutes(1))  # type: ignore[call-arg]


# --- ObservedEc2Host: a secure instance plus a HostObservability ---------------------------------------------


def _ec2_host() -> tuple[cdk.Stack, ObservedEc2Host]:
    stack = cdk.Stack(cdk.App(), "Composed", env=cdk.Environment(region=REGION))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/composed", containers=["web"])
    return stack, ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)


def test_observed_ec2_host_holds_a_host_observability() -> None:
    _, host = _ec2_host()
    observability = host.observability
    assert observability.node.path == "Composed/Host/Default"
    assert observability.role is host.role and observability.instance_id == host.instance.instance_id
    for name in ("log_groups", "setup", "docker_events", "agent", "prometheus", "metrics_namespace"):
        assert getattr(host, name) is getattr(observability, name), name
    assert host.metrics_namespace == "ConstructsObs/Composed/Host"
    # Both are what alarms, queries and the dashboard take; neither is a subclass of the other.
    assert isinstance(host, IObservedHost) and isinstance(observability, IObservedHost)
    assert not isinstance(host, HostObservability)
    # Like ec2.Instance, the default child is the AWS::EC2::Instance.
    default_child = host.node.default_child
    assert default_child is not None and default_child.node.path == "Composed/Host/Instance/Resource"


def test_observed_ec2_host_keeps_the_logical_ids_of_the_resources_it_held() -> None:
    """The observability's id "Default" is left out of logical ids: they are what they were before it."""
    stack, _ = _ec2_host()
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    kinds = {k: r["Type"] for k, r in resources.items() if k.startswith("Host")}
    assert kinds == {
        "HostRoleE4EC059A": "AWS::IAM::Role",
        "HostRoleDefaultPolicy58B4A288": "AWS::IAM::Policy",
        "HostSecurityGroup0F2C6627": "AWS::EC2::SecurityGroup",
        "HostInstanceInstanceProfile65A03AB8": "AWS::IAM::InstanceProfile",
        "HostInstance2C59A3BE": "AWS::EC2::Instance",
        "HostElasticIpC445F0B8": "AWS::EC2::EIP",
        "HostSetupAssociation173743BB": "AWS::SSM::Association",
        "HostDockerEventsLogGroup46554761": "AWS::Logs::LogGroup",
        "HostDockerEventsCrashFilter1B649644": "AWS::Logs::MetricFilter",
        # Not held by the observability: the host's own, switched on after the deploy (tests/test_lifecycle.py).
        "HostTerminationProtectionRole8BC93751": "AWS::IAM::Role",
        "HostTerminationProtectionRoleDefaultPolicyFB666D40": "AWS::IAM::Policy",
        "HostTerminationProtectionRunbookA881AC37": "AWS::SSM::Document",
        "HostTerminationProtectionAssociation294D5C94": "AWS::SSM::Association",
    }
    # The host is named by its own path, not its observability's.
    (association,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::SSM::Association" and "ConstructsObs::Host" in r.get("Metadata", {})
    ]
    assert association["Metadata"]["ConstructsObs::Host"]["HostPath"] == "Composed/Host"


def test_either_is_grantable() -> None:
    stack, host = _ec2_host()
    bucket = s3.Bucket(stack, "Bucket")
    bucket.grant_read(host.observability)
    statements = [
        s
        for p in assertions.Template.from_stack(stack).find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any("s3:GetObject*" in s["Action"] for s in statements)
    assert host.grant_principal is host.observability.grant_principal
