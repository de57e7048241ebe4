"""Every cookbook example (docs/examples/cookbook/) synthesizes, and does what its scenario says.

Each example is synthesized in a fresh app with cdk.json's context (so CDK's CloudFormation validation runs as
in `cdk synth`), once per module. The expected names and values are written out; logical ids come from the
examples' own constructs.

docs/cookbook.md shows each file in a titled code block (```python title="..."```), which the sample runner of
tests/test_docs.py (bare ```python blocks) leaves alone: the examples are run here instead, the testing example
under pytest in a process of its own, as its readers run it.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from stacks.synth import ROOT, make_app
from tests import nag

COOKBOOK = ROOT / "docs" / "examples" / "cookbook"
COOKBOOK_PAGE = ROOT / "docs" / "cookbook.md"
NODE_DIR = ROOT / ".venv" / "node" / "bin"


def example(name: str) -> dict[str, Any]:
    """The globals of ``docs/examples/cookbook/{name}.py`` (run by path: the folder is not a package)."""
    return runpy.run_path(str(COOKBOOK / f"{name}.py"))


def synthesized(tmp_path_factory: pytest.TempPathFactory, name: str) -> tuple[cdk.App, Any]:
    """A fresh app with cdk.json's context, the example built into it by ``build(app)``, synthesized."""
    app = make_app(tmp_path_factory.mktemp(name))
    built = example(name)["build"](app)
    app.synth()
    return app, built


def template_of(stack: cdk.Stack) -> dict[str, Any]:
    return assertions.Template.from_stack(stack).to_json()


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def props(template: dict[str, Any], resource_type: str, key: str) -> list[Any]:
    return [r["Properties"].get(key) for r in resources(template, resource_type).values()]


def series(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(namespace, metric name) of every metric filter in ``template``."""
    return {
        (t["MetricNamespace"], t["MetricName"])
        for f in resources(template, "AWS::Logs::MetricFilter").values()
        for t in f["Properties"]["MetricTransformations"]
    }


def logical_id(construct: Any) -> str:
    """The logical id of ``construct`` (an L2 construct: its default child) in its stack."""
    child = getattr(construct.node, "default_child", None) or construct
    return cdk.Stack.of(construct).resolve(child.logical_id)


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The widgets of the template's one dashboard, each ``Ref``/``Fn::GetAtt`` written as ``<Id>``/``<Id.Attr>``."""
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(
        part
        if isinstance(part, str)
        else f"<{part['Ref']}>"
        if "Ref" in part
        else f"<{'.'.join(part['Fn::GetAtt'])}>"
        for part in parts
    )
    widgets: list[dict[str, Any]] = json.loads(text)["widgets"]
    return widgets


def validation_report(app: cdk.App, plugin: str) -> dict[str, Any] | None:
    """The report of ``plugin`` in the app's validation-report.json (None when it had nothing to report)."""
    report = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    found = [r for r in report["pluginReports"] if r["pluginName"] == plugin]
    return found[0] if found else None


# --- the page shows every example ------------------------------------------------------------------------------


def test_every_example_is_on_the_cookbook_page_and_builds_into_an_app() -> None:
    page = COOKBOOK_PAGE.read_text()
    files = sorted(p.name for p in COOKBOOK.glob("*.py"))
    assert len(files) == 11
    for name in files:
        assert f'--8<-- "docs/examples/cookbook/{name}"' in page, f"{name} is not shown on docs/cookbook.md"
        if name.startswith("test_"):
            continue
        module = example(name.removesuffix(".py"))
        assert module["__doc__"] and module["__doc__"].split("\n")[0].startswith("Scenario "), name
        assert callable(module["build"]), name


def test_excerpts_on_the_testing_page_are_verbatim_from_the_tested_file() -> None:
    """The testing page quotes ``test_my_stack.py`` in titled blocks; each quote is the file's own text."""
    page = (ROOT / "docs" / "testing.md").read_text()
    excerpts = re.findall(
        r'```python title="docs/examples/cookbook/(\S+) \(excerpt\)"\n(.*?)```', page, flags=re.DOTALL
    )
    assert len(excerpts) == 4
    for name, excerpt in excerpts:
        source = (COOKBOOK / name).read_text()
        assert excerpt in source, f"docs/testing.md quotes {name}, which no longer says:\n{excerpt}"


# --- 1. another service in another region ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def other_region(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "other_region")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-other-region")
def test_other_region_uses_its_own_names_and_region(other_region: tuple[Any, dict[str, Any]]) -> None:
    stack, template = other_region
    assert stack.region == "eu-west-1"
    assert sorted(props(template, "AWS::Logs::LogGroup", "LogGroupName")) == [
        "/billing/api",
        "/billing/docker-events",
        "/billing/nginx",
    ]
    assert sorted(props(template, "AWS::CloudWatch::Alarm", "AlarmName")) == [
        "billing-prod-backend-errors",
        "billing-prod-container-crash",
        "billing-prod-cpu-high",
        "billing-prod-disk-high",
        "billing-prod-memory-high",
        "billing-prod-nginx-5xx",
        "billing-prod-status-check",
    ]
    assert sorted(props(template, "AWS::Logs::QueryDefinition", "Name")) == [
        "billing-prod/backend-errors",
        "billing-prod/container-crashes",
        "billing-prod/nginx-5xx-by-path",
    ]
    assert props(template, "AWS::CloudWatch::Dashboard", "DashboardName") == ["billing-prod"]
    assert series(template) == {
        ("ConstructsObs/BillingProd/Host", "ContainerCrashes"),
        ("ConstructsObs/BillingProd/Host", "Nginx5xxResponses"),
        ("ConstructsObs/BillingProd/Host", "BackendErrorLines"),
    }
    # The region reaches what is written for the host and what the topic accepts.
    compose = json.loads(template["Outputs"]["ComposeLogging"]["Value"])
    assert compose["services"]["api"]["logging"]["options"]["awslogs-region"] == "eu-west-1"
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    statement = next(
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Sid"] == "CloudWatchAlarmsPublish"
    )
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == {
        "Fn::Join": [
            "",
            ["arn:aws:cloudwatch:eu-west-1:", {"Ref": "AWS::AccountId"}, ":alarm:billing-prod-*"],
        ]
    }


# --- 2. staging and prod in one account ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def staging_and_prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    _, stacks = synthesized(tmp_path_factory, "staging_and_prod")
    return stacks


@pytest.mark.xdist_group("cookbook-staging-and-prod")
def test_staging_and_prod_share_an_account_and_region_but_no_metric_series(
    staging_and_prod: tuple[Any, Any],
) -> None:
    staging, prod = staging_and_prod
    assert (staging.account, staging.region) == (prod.account, prod.region) == ("123456789012", "us-east-2")
    assert staging.host.metrics_namespace == "ConstructsObs/ShopStaging/Host"
    assert prod.host.metrics_namespace == "ConstructsObs/ShopProd/Host"
    staging_series, prod_series = series(template_of(staging)), series(template_of(prod))
    assert len(staging_series) == len(prod_series) == 3
    assert staging_series.isdisjoint(prod_series)
    assert {namespace for namespace, _ in staging_series} == {"ConstructsObs/ShopStaging/Host"}
    assert "/shop-staging/api" in props(template_of(staging), "AWS::Logs::LogGroup", "LogGroupName")
    assert "shop-prod-cpu-high" in props(template_of(prod), "AWS::CloudWatch::Alarm", "AlarmName")


@pytest.mark.xdist_group("cookbook-staging-and-prod")
def test_staging_and_prod_with_one_prefix_fail_synth_naming_both(tmp_path: Path) -> None:
    module = example("staging_and_prod")
    app = make_app(tmp_path)
    env = cdk.Environment(account=module["ACCOUNT"], region=module["REGION"])
    module["ShopStack"](app, "ShopStaging", name="shop", emails=["dev@example.com"], env=env)
    module["ShopStack"](app, "ShopProd", name="shop", emails=["oncall@example.com"], env=env)
    with pytest.raises(RuntimeError) as raised:
        app.synth()
    message = str(raised.value)
    assert (
        "log group name '/shop/api' is created twice in aws://123456789012/us-east-2: "
        "by ShopStaging/Logs/api and by ShopProd/Logs/api; give each stack its own prefix"
    ) in message
    assert (
        "alarm name 'shop-cpu-high' is created twice in aws://123456789012/us-east-2: "
        "by ShopStaging/Alarms/CpuHigh and by ShopProd/Alarms/CpuHigh"
    ) in message
    assert "dashboard name 'shop' is created twice in account 123456789012" in message
    assert "metric series" not in message  # the default namespaces still differ


# --- 3. two hosts in one stack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "two_hosts")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-two-hosts")
def test_two_hosts_have_their_own_names_namespaces_and_dashboards(
    two_hosts: tuple[Any, dict[str, Any]],
) -> None:
    stack, template = two_hosts
    assert stack.web.host.metrics_namespace == "ConstructsObs/Shop/Web/Host"
    assert stack.worker.host.metrics_namespace == "ConstructsObs/Shop/Worker/Host"
    assert series(template) == {
        ("ConstructsObs/Shop/Web/Host", "ContainerCrashes"),
        ("ConstructsObs/Shop/Worker/Host", "ContainerCrashes"),
    }
    assert sorted(props(template, "AWS::CloudWatch::Dashboard", "DashboardName")) == [
        "shop-web",
        "shop-worker",
    ]
    assert sorted(props(template, "AWS::Logs::LogGroup", "LogGroupName")) == [
        "/shop-web/api",
        "/shop-web/docker-events",
        "/shop-web/nginx",
        "/shop-worker/docker-events",
        "/shop-worker/worker",
    ]
    names = props(template, "AWS::CloudWatch::Alarm", "AlarmName")
    assert sorted(n for n in names if n.endswith("-cpu-high")) == [
        "shop-web-cpu-high",
        "shop-worker-cpu-high",
    ]
    # Each host's alarms watch that host's own metrics.
    for service in (stack.web, stack.worker):
        memory = resources(template, "AWS::CloudWatch::Alarm")[logical_id(service.alarms.memory_high)]
        assert memory["Properties"]["Namespace"] == service.host.metrics_namespace
        assert memory["Properties"]["Dimensions"] == [
            {"Name": "InstanceId", "Value": {"Ref": logical_id(service.host.instance)}}
        ]


@pytest.mark.xdist_group("cookbook-two-hosts")
def test_a_host_without_public_ports_is_open_to_nobody(two_hosts: tuple[Any, dict[str, Any]]) -> None:
    stack, template = two_hosts
    groups = resources(template, "AWS::EC2::SecurityGroup")
    worker = groups[logical_id(stack.worker.host.security_group)]
    web = groups[logical_id(stack.web.host.security_group)]
    assert "SecurityGroupIngress" not in worker["Properties"]
    assert [(r["CidrIp"], r["FromPort"]) for r in web["Properties"]["SecurityGroupIngress"]] == [
        ("0.0.0.0/0", 80),
        ("0.0.0.0/0", 443),
    ]
    # No rule added separately anywhere opens anything to the internet either.
    for rule in resources(template, "AWS::EC2::SecurityGroupIngress").values():
        assert rule["Properties"].get("CidrIp") != "0.0.0.0/0"
        assert rule["Properties"].get("CidrIpv6") != "::/0"
    # And the worker has no Elastic IP: only the web host's.
    assert [e["Properties"]["InstanceId"] for e in resources(template, "AWS::EC2::EIP").values()] == [
        {"Ref": logical_id(stack.web.host.instance)}
    ]


def _assert_writes_to_the_hosts_groups(stack: Any, writes: dict[str, Any]) -> None:
    """``writes`` is exactly the log writes on the nginx, backend and docker-events groups of ``stack.host``."""
    assert sorted(writes.pop("Resource"), key=json.dumps) == sorted(
        [
            {"Fn::GetAtt": [logical_id(stack.logs.log_group("nginx")), "Arn"]},
            {"Fn::GetAtt": [logical_id(stack.logs.log_group("backend")), "Arn"]},
            {"Fn::GetAtt": [logical_id(stack.host.docker_events.log_group), "Arn"]},
        ],
        key=json.dumps,
    )
    assert writes == {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Effect": "Allow"}


# --- 4. an instance managed elsewhere --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing_instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "existing_instance")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-existing-instance")
def test_existing_instance_is_watched_not_created(existing_instance: tuple[Any, dict[str, Any]]) -> None:
    _, template = existing_instance
    assert resources(template, "AWS::EC2::Instance") == {}
    assert resources(template, "AWS::IAM::Role") == {}
    watched = [
        (alarm["Properties"]["AlarmName"], dimension["Value"])
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        for dimension in alarm["Properties"].get("Dimensions", [])
        if dimension["Name"] == "InstanceId"
    ]
    assert sorted(watched) == [
        ("crm-prod-cpu-high", "i-0123456789abcdef0"),
        ("crm-prod-disk-high", "i-0123456789abcdef0"),
        ("crm-prod-memory-high", "i-0123456789abcdef0"),
        ("crm-prod-status-check", "i-0123456789abcdef0"),
    ]
    assert sorted(props(template, "AWS::Logs::QueryDefinition", "Name")) == [
        "crm-prod/backend-errors",
        "crm-prod/container-crashes",
        "crm-prod/nginx-5xx-by-path",
    ]
    assert props(template, "AWS::CloudWatch::Dashboard", "DashboardName") == ["crm-prod"]


@pytest.mark.xdist_group("cookbook-existing-instance")
def test_existing_instance_role_gets_exactly_its_writes_and_metrics_before_the_setup(
    existing_instance: tuple[Any, dict[str, Any]],
) -> None:
    stack, template = existing_instance
    ((policy_id, policy),) = resources(template, "AWS::IAM::Policy").items()
    assert policy["Properties"]["Roles"] == ["crm-prod-ec2-role"]
    writes, metrics = policy["Properties"]["PolicyDocument"]["Statement"]
    _assert_writes_to_the_hosts_groups(stack, writes)
    assert metrics == {
        "Action": "cloudwatch:PutMetricData",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "ConstructsObs/CrmObservability/Host"}},
        "Effect": "Allow",
        "Resource": "*",
    }
    (association,) = resources(template, "AWS::SSM::Association").values()
    assert association["Properties"]["Targets"] == [{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]
    assert association["DependsOn"] == [policy_id]


# --- 4b. your own ec2.Instance ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "own_instance")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-own-instance")
def test_own_instance_gets_the_setup_the_grants_and_the_alarms(
    own_instance: tuple[Any, dict[str, Any]],
) -> None:
    stack, template = own_instance
    (instance_id,) = resources(template, "AWS::EC2::Instance")
    assert instance_id == logical_id(stack.web)
    (association,) = resources(template, "AWS::SSM::Association").values()
    assert association["Properties"]["Targets"] == [{"Key": "InstanceIds", "Values": [{"Ref": instance_id}]}]
    # The instance's own role (aws-cdk-lib created it, with AmazonSSMManagedInstanceCore) gets the grants.
    role_id = logical_id(stack.web.role)
    ((policy_id, policy),) = resources(template, "AWS::IAM::Policy").items()
    assert policy["Properties"]["Roles"] == [{"Ref": role_id}]
    writes, metrics = policy["Properties"]["PolicyDocument"]["Statement"]
    _assert_writes_to_the_hosts_groups(stack, writes)
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "ConstructsObs/BlogProd/Observability"}
    }
    assert policy_id in association["DependsOn"]
    managed = template["Resources"][role_id]["Properties"]["ManagedPolicyArns"]
    assert "AmazonSSMManagedInstanceCore" in json.dumps(managed)
    watched = sorted(
        alarm["Properties"]["AlarmName"]
        for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if {"Name": "InstanceId", "Value": {"Ref": instance_id}} in alarm["Properties"].get("Dimensions", [])
    )
    assert watched == [
        "blog-prod-cpu-high",
        "blog-prod-disk-high",
        "blog-prod-memory-high",
        "blog-prod-status-check",
    ]


# --- 5. ARM and pinned images ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, Any]:
    return synthesized(tmp_path_factory, "images")


@pytest.mark.xdist_group("cookbook-images")
def test_images_are_arm64_pinned_and_literal(images: tuple[cdk.App, Any]) -> None:
    _, stack = images
    instances = resources(template_of(stack), "AWS::EC2::Instance")
    image_ids = {
        host: instances[logical_id(getattr(stack, host).instance)]["Properties"]["ImageId"]
        for host in ("arm", "pinned_version", "pinned_ami")
    }
    assert image_ids == {
        "arm": "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        "pinned_version": "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64:95",
        "pinned_ami": "ami-0123456789abcdef0",
    }
    assert props(template_of(stack), "AWS::EC2::Instance", "InstanceType") == [
        "t4g.small",
        "t3.small",
        "t3.small",
    ]


@pytest.mark.newest_cdk  # CDK's built-in CloudFormation validator arrived in aws-cdk-lib 2.252
@pytest.mark.xdist_group("cookbook-images")
def test_images_pass_cdk_json_validation_with_the_hosts_own_acknowledgments(
    images: tuple[cdk.App, Any],
) -> None:
    app, _ = images
    assert app.node.try_get_context("@aws-cdk/core:validateAgainstDefaultRules") is True
    report = validation_report(app, "CloudFormation Validate")
    assert report is not None
    assert report["violations"] == []
    assert sorted(
        (s["ruleName"], c["constructPath"])
        for s in report["suppressedViolations"]
        for c in s["violatingConstructs"]
    ) == [
        ("E1152", "Images/ArmHost/Instance/Resource"),
        ("E1152", "Images/PinnedVersionHost/Instance/Resource"),
        ("W9010", "Images/PinnedAmiHost/Instance/Resource"),
    ]


# --- 6. an existing topic and your own alarms ------------------------------------------------------------------


@pytest.fixture(scope="module")
def existing_topic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "existing_topic")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-existing-topic")
def test_existing_topic_is_notified_and_not_created(existing_topic: tuple[Any, dict[str, Any]]) -> None:
    stack, template = existing_topic
    assert resources(template, "AWS::SNS::Topic") == {}
    assert resources(template, "AWS::SNS::TopicPolicy") == {}
    topic_arn = "arn:aws:sns:us-east-2:123456789012:oncall"
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [topic_arn]
        assert "OKActions" not in alarm["Properties"]  # recovery: the rule (tests/test_recovery.py)
    warnings = assertions.Annotations.from_stack(stack).find_warning(
        "/ShopProd/Alarms",
        assertions.Match.string_like_regexp("topic is imported, so its policy cannot be changed"),
    )
    # What CloudWatch needs (the alarms) and what EventBridge needs (the recovery rule).
    assert len(warnings) == 2
    assert "alarm:shop-prod-*" in str(warnings[0].entry.data)
    assert "events.amazonaws.com" in str(warnings[1].entry.data)


@pytest.mark.xdist_group("cookbook-existing-topic")
def test_left_out_alarm_is_gone_and_the_own_alarm_is_on_the_dashboard(
    existing_topic: tuple[Any, dict[str, Any]],
) -> None:
    stack, template = existing_topic
    assert sorted(props(template, "AWS::CloudWatch::Alarm", "AlarmName")) == [
        "shop-prod-container-crash",
        "shop-prod-cpu-sustained",
        "shop-prod-disk-high",
        "shop-prod-memory-high",
        "shop-prod-status-check",
    ]
    own = resources(template, "AWS::CloudWatch::Alarm")[logical_id(stack.cpu_sustained)]["Properties"]
    assert (own["MetricName"], own["Threshold"], own["EvaluationPeriods"], own["Period"]) == (
        "CPUUtilization",
        95,
        6,
        300,
    )
    widgets = dashboard_widgets(template)
    graphs = {
        w["properties"]["title"]: w["properties"].get("annotations") for w in widgets if w["type"] == "metric"
    }
    assert graphs["CPU, sustained load (%)"] == {"alarms": [f"<{logical_id(stack.cpu_sustained)}.Arn>"]}
    assert "CPU utilization (%)" not in graphs  # CPU is on the dashboard once, in the team's own graph
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    assert f"<{logical_id(stack.cpu_sustained)}.Arn>" in status["properties"]["alarms"]


# --- 7. ECS/Fargate log groups ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecs_fargate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "ecs_fargate")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-ecs-fargate")
def test_fargate_log_groups_get_filters_alarms_and_queries(ecs_fargate: tuple[Any, dict[str, Any]]) -> None:
    stack, template = ecs_fargate
    nginx, api = logical_id(stack.nginx_logs), logical_id(stack.api_logs)
    filters = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]["LogGroupName"]
        for f in resources(template, "AWS::Logs::MetricFilter").values()
    }
    assert filters == {"Nginx5xxResponses": {"Ref": nginx}, "BackendErrorLines": {"Ref": api}}
    assert series(template) == {
        ("ConstructsObs/OrdersProd/LogAlarms", "Nginx5xxResponses"),
        ("ConstructsObs/OrdersProd/LogAlarms", "BackendErrorLines"),
    }
    topic = {"Ref": logical_id(stack.topic)}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]["AlarmActions"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms == {"orders-prod-nginx-5xx": [topic], "orders-prod-backend-errors": [topic]}
    queries = {
        q["Properties"]["Name"]: q["Properties"]["LogGroupNames"]
        for q in resources(template, "AWS::Logs::QueryDefinition").values()
    }
    assert queries == {
        "orders-prod/backend-errors": [{"Ref": api}],
        "orders-prod/nginx-5xx-by-path": [{"Ref": nginx}],
    }
    assert props(template, "AWS::CloudWatch::Dashboard", "DashboardName") == ["orders-prod"]
    # The task's containers write to those very groups.
    (task,) = resources(template, "AWS::ECS::TaskDefinition").values()
    assert {
        c["Name"]: c["LogConfiguration"]["Options"]["awslogs-group"]
        for c in task["Properties"]["ContainerDefinitions"]
    } == {"nginx": {"Ref": nginx}, "api": {"Ref": api}}


@pytest.mark.xdist_group("cookbook-ecs-fargate")
def test_fargate_topic_created_in_the_app_lets_cloudwatch_publish_the_prefix(
    ecs_fargate: tuple[Any, dict[str, Any]],
) -> None:
    stack, template = ecs_fargate
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # CloudWatch for the alarms, EventBridge for their recovery rule (tests/test_recovery.py).
    assert [s["Principal"] for s in allows] == [
        {"Service": "cloudwatch.amazonaws.com"},
        {"Service": "events.amazonaws.com"},
    ]
    statement = allows[0]
    assert re.fullmatch(r"CloudWatchAlarmsPublish\w+", statement.pop("Sid"))
    assert statement == {
        "Action": "sns:Publish",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Join": [
                        "",
                        ["arn:aws:cloudwatch:us-east-2:", {"Ref": "AWS::AccountId"}, ":alarm:orders-prod-*"],
                    ]
                }
            },
        },
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Resource": {"Ref": logical_id(stack.topic)},
    }


# --- 9. an Auto Scaling group observed as one fleet -------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any]]:
    _, stack = synthesized(tmp_path_factory, "fleet")
    return stack, template_of(stack)


@pytest.mark.xdist_group("cookbook-fleet")
def test_fleet_sets_up_every_instance_of_the_group_by_its_tag(fleet: tuple[Any, dict[str, Any]]) -> None:
    stack, template = fleet
    group = logical_id(stack.group)
    (association,) = resources(template, "AWS::SSM::Association").values()
    assert association["Properties"]["Targets"] == [
        {"Key": "tag:aws:autoscaling:groupName", "Values": [{"Ref": group}]}
    ]
    # The group's minimum is 2: it is never empty, so the deploy waits for the setup on its instances.
    assert association["Properties"]["WaitForSuccessTimeoutSeconds"] == 900
    assert template["Resources"][group]["Properties"]["MetricsCollection"] == [
        {"Granularity": "1Minute", "Metrics": ["GroupDesiredCapacity", "GroupInServiceInstances"]}
    ]
    assert resources(template, "AWS::EC2::Instance") == {}


@pytest.mark.xdist_group("cookbook-fleet")
def test_fleet_alarms_watch_the_group(fleet: tuple[Any, dict[str, Any]]) -> None:
    stack, template = fleet
    on_group = [{"Name": "AutoScalingGroupName", "Value": {"Ref": logical_id(stack.group)}}]
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }
    watched = {
        name: (p.get("Namespace"), p.get("MetricName"), p.get("Statistic"))
        for name, p in alarms.items()
        if p.get("Dimensions") == on_group
    }
    assert watched == {
        "portal-cpu-high": ("AWS/EC2", "CPUUtilization", "Average"),
        "portal-status-check": ("AWS/EC2", "StatusCheckFailed", "Maximum"),
        "portal-memory-high": ("ConstructsObs/PortalFleet/Fleet", "mem_used_percent", "Maximum"),
        "portal-disk-high": ("ConstructsObs/PortalFleet/Fleet", "disk_used_percent", "Maximum"),
    }
    capacity = alarms["portal-capacity"]
    expression, *stats = capacity["Metrics"]
    assert expression["Expression"] == "desired - inService"
    assert {(s["Id"], s["MetricStat"]["Metric"]["MetricName"]) for s in stats} == {
        ("desired", "GroupDesiredCapacity"),
        ("inService", "GroupInServiceInstances"),
    }
    assert alarms["portal-container-crash"]["MetricName"] == "ContainerCrashes"
    assert sorted(props(template, "AWS::Logs::QueryDefinition", "Name")) == [
        "portal/backend-errors",
        "portal/backend-errors-by-stream",
        "portal/container-crashes",
        "portal/container-crashes-by-instance",
        "portal/nginx-5xx-by-path",
    ]


# --- 8. testing your own stack ---------------------------------------------------------------------------------


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A fresh pytest run in ``cwd``: not a worker of this run's xdist (syrupy reports nothing inside a worker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}
    env["PATH"] = os.pathsep.join([str(NODE_DIR), os.environ.get("PATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-n", "0", "-q"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.newest_cdk  # the committed snapshot is the pinned aws-cdk-lib's template (an older one differs)
def test_the_testing_example_passes_with_its_committed_snapshot() -> None:
    snapshot = COOKBOOK / "__snapshots__" / "test_my_stack" / "test_template_matches_the_snapshot.json"
    assert snapshot.is_file(), (
        "create it once: pytest docs/examples/cookbook/test_my_stack.py --snapshot-update"
    )
    result = _pytest(ROOT, str(COOKBOOK / "test_my_stack.py"))
    assert result.returncode == 0, (
        result.stdout[-4000:]
        + result.stderr[-2000:]
        + "\nIf only the snapshot differs and the change is intended (the library's or cdk.json's output changed), "
        "review the diff and update it: python -m pytest docs/examples/cookbook/test_my_stack.py "
        "-p no:cacheprovider -n 0 --snapshot-update"
    )
    assert re.search(r"\b7 passed\b", result.stdout), result.stdout[-2000:]
    assert "1 snapshot passed" in result.stdout


def test_the_testing_example_runs_in_a_minimal_project(tmp_path: Path) -> None:
    """docs/testing.md's example in a new project: a cdk.json without a context block, the stack module beside
    it, the tests in tests/, no snapshot until the first ``--snapshot-update`` (as the page says)."""
    (tmp_path / "cdk.json").write_text(json.dumps({"app": "python app.py"}))
    shutil.copy(COOKBOOK / "my_stack.py", tmp_path / "my_stack.py")
    (tmp_path / "tests").mkdir()
    shutil.copy(COOKBOOK / "test_my_stack.py", tmp_path / "tests" / "test_my_stack.py")

    first = _pytest(tmp_path, "tests/test_my_stack.py", "--snapshot-update")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "1 snapshot generated" in first.stdout, first.stdout[-2000:]
    again = _pytest(tmp_path, "tests/test_my_stack.py")
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert re.search(r"\b7 passed\b", again.stdout), again.stdout[-2000:]
    assert "1 snapshot passed" in again.stdout


def test_the_normal_test_run_does_not_collect_the_docs_example(pytestconfig: pytest.Config) -> None:
    # pytest's own reading of the configuration this run uses (pyproject.toml's [tool.pytest.ini_options]), on
    # every Python the package supports: no TOML parser needed.
    assert pytestconfig.inipath == ROOT / "pyproject.toml"
    assert pytestconfig.getini("testpaths") == ["tests"]


# --- no compliance finding on what the library creates ------------------------------------------------------------

EXAMPLES = (
    "other_region",
    "staging_and_prod",
    "two_hosts",
    "existing_instance",
    "own_instance",
    "images",
    "existing_topic",
    "ecs_fargate",
    "my_stack",
    "fleet",
)


def _library_paths(app: cdk.App) -> list[str]:
    """Construct paths of everything the library's constructs created (their whole subtrees)."""
    return [
        c.node.path + "/" for c in app.node.find_all() if type(c).__module__.startswith("constructs_obs.")
    ]


@pytest.mark.parametrize("name", EXAMPLES)
def test_compliance_packs_find_nothing_in_what_the_constructs_create(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    """A consumer needs no suppression of its own for the constructs: what a pack finds is the consumer's own
    resources (its VPC, its own log groups or task definition), never inside a construct of the library. With
    cdk-nag 3 on the newest aws-cdk-lib, and with cdk-nag 2 on the library's floor (`make test-floor`)."""
    app, _ = synthesized(tmp_path_factory, name)
    library = _library_paths(app)
    assert library, "the example uses no construct of the library"
    inside = [
        f"{rule} on {path}"
        for rule, path in nag.findings(app)
        if any(f"{path}/".startswith(library_path) for library_path in library)
    ]
    assert inside == []
