"""FleetObservability: an Auto Scaling group observed as one fleet, in the AiTutorFleet example and in small stacks.

The expected values are written out: the tag Auto Scaling puts on its instances (Amazon EC2 Auto Scaling User Guide,
"Tag Auto Scaling groups and instances": ``aws:autoscaling:groupName``), the dimensions the agent publishes
(transcribed from its source, tests/agent_rollup.py), the metric names of AWS/EC2 and AWS/AutoScaling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    FleetObservability,
    HostDashboard,
    SavedQueries,
    count_billables,
    docker_launch_template,
)
from constructs_obs.host.agent import AGENT_CONFIG_HEREDOC
from stacks.fleet import FLEET_STACK_NAME
from stacks.synth import make_app
from tests.agent_rollup import published_series
from tests.user_data import heredoc, setup_script

GROUP = {"Ref": "GroupASG3C6DFE3B"}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def alarms_by_name(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
    }


# --- a small consumer stack ------------------------------------------------------------------------------------


def _public_vpc(stack: cdk.Stack) -> ec2.Vpc:
    """One Availability Zone, public subnets only (no NAT gateway)."""
    return ec2.Vpc(
        stack,
        "Vpc",
        max_azs=1,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC)],
    )


def fleet_stack(
    app: cdk.App,
    name: str,
    *,
    max_capacity: int = 4,
    min_capacity: int = 2,
    group_metrics: list[autoscaling.GroupMetrics] | None = None,
    **fleet: Any,
) -> tuple[cdk.Stack, FleetObservability]:
    """A VPC, a group of ``min_capacity``..``max_capacity`` instances and its FleetObservability."""
    stack = cdk.Stack(app, name, env=cdk.Environment(region="us-east-2"))
    vpc = _public_vpc(stack)
    group = autoscaling.AutoScalingGroup(
        stack,
        "Group",
        vpc=vpc,
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
        min_capacity=min_capacity,
        max_capacity=max_capacity,
        group_metrics=group_metrics,
    )
    logs = ContainerLogGroups(stack, "Logs", prefix=f"/{name.lower()}", containers=["api"])
    return stack, FleetObservability(stack, "Fleet", auto_scaling_group=group, log_groups=logs, **fleet)


def template_of(stack: cdk.Stack) -> dict[str, Any]:
    return assertions.Template.from_stack(stack).to_json()


# --- the example stack -------------------------------------------------------------------------------------------


def test_the_fleet_example_is_not_deployed_by_default(staging_app: cdk.App, fleet_app: cdk.App) -> None:
    assert [s.stack_name for s in staging_app.synth().stacks] == ["AiTutorStaging"]
    assert sorted(s.stack_name for s in fleet_app.synth().stacks) == ["AiTutorFleet", "AiTutorStaging"]


def test_the_fleet_template_matches_the_snapshot(fleet_template: dict[str, Any], snapshot_json: Any) -> None:
    assert fleet_template == snapshot_json


def test_the_group_has_two_to_six_instances_behind_the_load_balancer(fleet_template: dict[str, Any]) -> None:
    (group,) = resources(fleet_template, "AWS::AutoScaling::AutoScalingGroup").values()
    props = group["Properties"]
    assert (props["MinSize"], props["MaxSize"]) == ("2", "6")
    assert "DesiredCapacity" not in props  # a deploy never resets what scaling chose
    assert props["HealthCheckType"] == "ELB"
    assert len(props["TargetGroupARNs"]) == 1
    (instances,) = [
        sg
        for sg in resources(fleet_template, "AWS::EC2::SecurityGroup").values()
        if sg["Properties"]["GroupDescription"].startswith("Docker hosts")
    ]
    assert (
        instances["Properties"].get("SecurityGroupIngress") is None
    )  # only the balancer, as a separate rule
    ingress = list(resources(fleet_template, "AWS::EC2::SecurityGroupIngress").values())
    assert [(i["Properties"]["FromPort"], "SourceSecurityGroupId" in i["Properties"]) for i in ingress] == [
        (80, True)
    ]


def test_the_launch_template_is_as_secure_as_the_single_host(fleet_template: dict[str, Any]) -> None:
    (template,) = resources(fleet_template, "AWS::EC2::LaunchTemplate").values()
    data = template["Properties"]["LaunchTemplateData"]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1}
    assert data["BlockDeviceMappings"] == [
        {
            "DeviceName": "/dev/xvda",
            "Ebs": {"DeleteOnTermination": True, "Encrypted": True, "VolumeSize": 30, "VolumeType": "gp3"},
        }
    ]
    assert "KeyName" not in data and "KeyPair" not in data  # no SSH key: Session Manager
    assert data["Monitoring"] == {"Enabled": False}
    assert data["ImageId"].startswith("resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-")


# --- the setup of every instance ----------------------------------------------------------------------------------


def test_the_setup_targets_the_groups_tag_after_the_role_may_run_it(fleet_template: dict[str, Any]) -> None:
    (association,) = resources(fleet_template, "AWS::SSM::Association").values()
    assert association["Properties"]["Targets"] == [
        {"Key": "tag:aws:autoscaling:groupName", "Values": [GROUP]}
    ]
    # A minimum of 2 instances: the group is never empty, so the deploy waits for the setup on them.
    assert association["Properties"]["WaitForSuccessTimeoutSeconds"] == 900
    assert sorted(association["DependsOn"]) == ["Role1ABCC5F0", "RoleDefaultPolicy5FFB7DAB"]
    described = association["Metadata"]["ConstructsObs::Host"]
    assert described["AutoScalingGroupName"] == GROUP
    assert "InstanceId" not in described
    assert described["HostPath"] == "AiTutorFleet/Fleet"


def test_a_group_that_may_be_empty_does_not_make_the_deploy_wait(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    stack, fleet = fleet_stack(app, "MayBeEmpty", min_capacity=0)
    (association,) = resources(template_of(stack), "AWS::SSM::Association").values()
    assert "WaitForSuccessTimeoutSeconds" not in association["Properties"]
    assert not fleet.waits_for_setup
    infos = [str(m.data) for m in fleet.node.metadata if m.type == "aws:cdk:info"]
    assert any("minimum capacity is 0" in info for info in infos), infos
    stack, _ = fleet_stack(make_app(tmp_path / "forced"), "Forced", min_capacity=0, wait_for_setup=True)
    (association,) = resources(template_of(stack), "AWS::SSM::Association").values()
    assert association["Properties"]["WaitForSuccessTimeoutSeconds"] == 900


def test_the_agent_publishes_one_series_per_metric_for_the_group(fleet_template: dict[str, Any]) -> None:
    _, content = heredoc(setup_script(fleet_template), AGENT_CONFIG_HEREDOC)
    config = json.loads(content)
    metrics = config["metrics"]
    assert metrics["append_dimensions"] == {
        "InstanceId": "${aws:InstanceId}",
        "AutoScalingGroupName": "${aws:AutoScalingGroupName}",
    }
    assert metrics["aggregation_dimensions"] == [["AutoScalingGroupName"]]
    assert metrics["metrics_collected"]["mem"]["drop_original_metrics"] == ["mem_used_percent"]
    assert metrics["metrics_collected"]["disk"]["drop_original_metrics"] == ["disk_used_percent"]
    # What the agent's code makes of it (tests/agent_rollup.py): no per-instance series.
    assert published_series(config) == {
        ("mem_used_percent", frozenset({"AutoScalingGroupName"})),
        ("disk_used_percent", frozenset({"AutoScalingGroupName"})),
    }


def test_the_single_hosts_agent_still_publishes_per_instance(staging_template_json: dict[str, Any]) -> None:
    config = json.loads(heredoc(setup_script(staging_template_json), AGENT_CONFIG_HEREDOC)[1])
    assert published_series(config) == {
        ("mem_used_percent", frozenset({"InstanceId"})),
        ("disk_used_percent", frozenset({"InstanceId"})),
    }


def test_the_transcription_keeps_what_a_rollup_cannot_replace() -> None:
    """Dropping memory's original with only InstanceId appended would publish nothing (the roll-up to the same
    single dimension is skipped): the transcription says so, as the agent's buildRollup does."""
    config = {
        "metrics": {
            "append_dimensions": {"InstanceId": "${aws:InstanceId}"},
            "aggregation_dimensions": [["InstanceId"]],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"], "drop_original_metrics": ["mem_used_percent"]}
            },
        }
    }
    assert published_series(config) == set()
    # Without append_dimensions the host name stays a dimension (omit_hostname defaults to false).
    del config["metrics"]["append_dimensions"]
    del config["metrics"]["metrics_collected"]["mem"]["drop_original_metrics"]
    assert published_series(config) == {("mem_used_percent", frozenset({"host"}))}


def test_the_role_gets_exactly_the_log_and_metric_grants(fleet_template: dict[str, Any]) -> None:
    policy = resources(fleet_template, "AWS::IAM::Policy")["RoleDefaultPolicy5FFB7DAB"]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    writes = [s for s in statements if s["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]]
    written = sorted(
        r["Fn::GetAtt"][0]
        for s in writes
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
    groups = resources(fleet_template, "AWS::Logs::LogGroup")
    assert written == sorted(groups)  # every group of the stack's prefix, and nothing else
    (metrics,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "AiTutor/Fleet"}}
    star = next(s for s in statements if s["Resource"] == "*" and isinstance(s["Action"], list))
    assert "ec2:DescribeTags" in star["Action"]
    everything = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not any(
        a.endswith("*") or (a.startswith(("logs:Create", "iam:", "s3:")) and a != "logs:CreateLogStream")
        for a in everything
    )


def test_a_group_without_a_role_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    stack = cdk.Stack(app, "NoRole", env=cdk.Environment(region="us-east-2"))
    vpc = _public_vpc(stack)
    template = ec2.LaunchTemplate(
        stack,
        "Template",
        instance_type=ec2.InstanceType("t3.small"),
        machine_image=ec2.MachineImage.latest_amazon_linux2023(),
    )
    group = autoscaling.AutoScalingGroup(stack, "Group", vpc=vpc, launch_template=template)
    logs = ContainerLogGroups(stack, "Logs", prefix="/norole", containers=["api"])
    with pytest.raises(TypeError, match=r"^role is required: auto_scaling_group NoRole/Group has no role"):
        FleetObservability(stack, "Fleet", auto_scaling_group=group, log_groups=logs)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    fleet = FleetObservability(stack, "Fleet", auto_scaling_group=group, log_groups=logs, role=role)
    assert fleet.role is role


def test_bad_props_are_refused_before_anything_is_created(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    stack, _ = fleet_stack(app, "Props")
    group = stack.node.find_child("Group")
    logs = stack.node.find_child("Logs")
    with pytest.raises(TypeError, match=r"auto_scaling_group must be an autoscaling\.AutoScalingGroup"):
        FleetObservability(stack, "Other", auto_scaling_group="my-asg", log_groups=logs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity_grace"):
        FleetObservability(
            stack, "Other", auto_scaling_group=group, log_groups=logs, capacity_grace=cdk.Duration.minutes(1)
        )
    assert stack.node.try_find_child("Other") is None


# --- metrics, alarms, dashboard, queries ---------------------------------------------------------------------------


def test_every_fleet_alarm_watches_the_group_with_its_statistic(fleet_template: dict[str, Any]) -> None:
    alarms = alarms_by_name(fleet_template)
    dimension = [{"Name": "AutoScalingGroupName", "Value": GROUP}]
    expected = {
        "ai-tutor-fleet-cpu-high": ("AWS/EC2", "CPUUtilization", "Average", 300, 2, 80),
        "ai-tutor-fleet-status-check": ("AWS/EC2", "StatusCheckFailed", "Maximum", 60, 2, 1),
        "ai-tutor-fleet-memory-high": ("AiTutor/Fleet", "mem_used_percent", "Maximum", 300, 2, 85),
        "ai-tutor-fleet-disk-high": ("AiTutor/Fleet", "disk_used_percent", "Maximum", 300, 1, 80),
    }
    for name, (namespace, metric, statistic, period, periods, threshold) in expected.items():
        props = alarms[name]
        assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
            namespace,
            metric,
            statistic,
        ), name
        assert props["Dimensions"] == dimension, name
        assert (props["Period"], props["EvaluationPeriods"], props["Threshold"]) == (
            period,
            periods,
            threshold,
        ), name
    crash = alarms["ai-tutor-fleet-container-crash"]
    assert (crash["Namespace"], crash["MetricName"], crash["Statistic"]) == (
        "AiTutor/Fleet",
        "ContainerCrashes",
        "Sum",
    )
    assert "Dimensions" not in crash
    for name, props in alarms.items():
        assert len(props["AlarmDescription"]) <= 1024, name
    assert "container-crashes-by-instance" in alarms["ai-tutor-fleet-container-crash"]["AlarmDescription"]
    assert "Key=tag:aws:autoscaling:groupName" in alarms["ai-tutor-fleet-memory-high"]["AlarmDescription"]


def test_the_capacity_alarm_compares_in_service_with_desired(fleet_template: dict[str, Any]) -> None:
    props = alarms_by_name(fleet_template)["ai-tutor-fleet-capacity"]
    queries = {q["Id"]: q for q in props["Metrics"]}
    expression = next(q for q in props["Metrics"] if "Expression" in q)
    assert expression["Expression"] == "desired - inService"
    assert expression["ReturnData"] is True
    desired, in_service = queries["desired"]["MetricStat"], queries["inService"]["MetricStat"]
    for stat, name, statistic in (
        (desired, "GroupDesiredCapacity", "Maximum"),
        (in_service, "GroupInServiceInstances", "Minimum"),
    ):
        assert stat["Metric"] == {
            "Namespace": "AWS/AutoScaling",
            "MetricName": name,
            "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
        }
        assert (stat["Stat"], stat["Period"]) == (statistic, 60)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (10, 10)
    assert props["TreatMissingData"] == "missing"
    (group,) = resources(fleet_template, "AWS::AutoScaling::AutoScalingGroup").values()
    assert group["Properties"]["MetricsCollection"] == [
        {"Granularity": "1Minute", "Metrics": ["GroupDesiredCapacity", "GroupInServiceInstances"]}
    ]


@pytest.mark.parametrize(
    ("group_metrics", "collection"),
    [
        (None, [{"Granularity": "1Minute", "Metrics": ["GroupDesiredCapacity", "GroupInServiceInstances"]}]),
        ("all", [{"Granularity": "1Minute"}]),
        (
            "min",
            [
                {"Granularity": "1Minute", "Metrics": ["GroupMinSize"]},
                {"Granularity": "1Minute", "Metrics": ["GroupDesiredCapacity", "GroupInServiceInstances"]},
            ],
        ),
        (
            "in-service",
            [
                {"Granularity": "1Minute", "Metrics": ["GroupInServiceInstances"]},
                {"Granularity": "1Minute", "Metrics": ["GroupDesiredCapacity"]},
            ],
        ),
    ],
)
def test_the_groups_own_metrics_collection_is_kept(
    tmp_path: Path, group_metrics: str | None, collection: list[Any]
) -> None:
    chosen = {
        None: None,
        "all": [autoscaling.GroupMetrics.all()],
        "min": [autoscaling.GroupMetrics(autoscaling.GroupMetric.MIN_SIZE)],
        "in-service": [autoscaling.GroupMetrics(autoscaling.GroupMetric.IN_SERVICE_INSTANCES)],
    }[group_metrics]
    stack, _ = fleet_stack(make_app(tmp_path), "Collect", group_metrics=chosen)
    (group,) = resources(template_of(stack), "AWS::AutoScaling::AutoScalingGroup").values()
    assert group["Properties"]["MetricsCollection"] == collection


def test_the_dashboard_shows_the_fleet_and_the_instances_in_service(fleet_template: dict[str, Any]) -> None:
    (dashboard,) = resources(fleet_template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "CPU utilization, fleet average (%)",
        "Memory used, worst instance (%)",
        "Root disk used, worst instance (%)",
        "Instances in service and desired",
    ):
        assert title in body
    assert '\\"GroupInServiceInstances\\"' in body and '\\"GroupDesiredCapacity\\"' in body
    assert '\\"label\\":\\"In service\\"' in body


def test_saved_queries_group_by_instance(fleet_template: dict[str, Any]) -> None:
    queries = {
        q["Properties"]["Name"]: q["Properties"]
        for q in resources(fleet_template, "AWS::Logs::QueryDefinition").values()
    }
    crashes = queries["ai-tutor-fleet/container-crashes-by-instance"]["QueryString"]
    assert "by @logStream as instance" in crashes and 'Action = "oom"' in crashes
    assert "by @logStream" in queries["ai-tutor-fleet/backend-errors-by-stream"]["QueryString"]


def test_basic_alarms_leave_out_and_runbook_know_the_capacity_alarm(tmp_path: Path) -> None:
    stack, fleet = fleet_stack(make_app(tmp_path), "Runbook")
    alarms = BasicAlarms(
        stack,
        "Alarms",
        host=fleet,
        name_prefix="shop-fleet",
        leave_out=["disk-high"],
        runbook={"capacity": "Page the platform team."},
    )
    assert alarms.by_name["disk-high"] is None
    capacity = alarms.by_name["capacity"]
    assert capacity is not None
    names = sorted(
        a["Properties"]["AlarmName"] for a in resources(template_of(stack), "AWS::CloudWatch::Alarm").values()
    )
    assert names == [
        f"shop-fleet-{n}" for n in ("capacity", "container-crash", "cpu-high", "memory-high", "status-check")
    ]
    description = alarms_by_name(template_of(stack))["shop-fleet-capacity"]["AlarmDescription"]
    assert description == (
        "Runbook/Fleet had fewer instances in service than it wants for 10 minutes: instances fail to launch, or "
        "fail their health checks and are replaced. Page the platform team."
    )
    with pytest.raises(ValueError, match="leave_out names unknown alarms"):
        BasicAlarms(stack, "Other", host=fleet, name_prefix="x", leave_out=["capcity"])
    HostDashboard(stack, "Dashboard", alarms=alarms)
    SavedQueries(stack, "Queries", host=fleet, name_prefix="shop-fleet")


# --- cost --------------------------------------------------------------------------------------------------------


def test_the_custom_metric_count_does_not_depend_on_the_groups_size(tmp_path: Path) -> None:
    counts = {}
    for size in (2, 40):
        app = make_app(tmp_path / str(size))
        stack, fleet = fleet_stack(app, f"Size{size}", max_capacity=size)
        alarms = BasicAlarms(stack, "Alarms", host=fleet, name_prefix=f"size{size}")
        HostDashboard(stack, "Dashboard", alarms=alarms)
        usage = count_billables(template_of(stack))
        counts[size] = (usage.custom_metric_count, usage.alarm_metrics, len(usage.dashboards))
    # mem_used_percent, disk_used_percent (one series each for the group) and ContainerCrashes; six alarms, the
    # capacity alarm's two metrics: 7 alarm metrics.
    assert counts == {2: (3, 7, 1), 40: (3, 7, 1)}


def test_the_example_is_inside_the_free_tier(fleet_template: dict[str, Any]) -> None:
    usage = count_billables(fleet_template)
    assert usage.overages() == []
    assert (usage.custom_metric_count, usage.alarm_metrics) == (7, 9)
    assert usage.detailed_monitoring == ()


def test_the_launch_template_helper_checks_its_props(tmp_path: Path) -> None:
    stack = cdk.Stack(make_app(tmp_path), "Helper", env=cdk.Environment(region="us-east-2"))
    vpc = _public_vpc(stack)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    group = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    with pytest.raises(ValueError, match="root_volume_size_gib"):
        docker_launch_template(stack, "Small", role=role, security_group=group, root_volume_size_gib=4)
    template = docker_launch_template(stack, "Template", role=role, security_group=group)
    assert template.role is role


def test_the_fleet_stack_name_is_the_apps(fleet_app: cdk.App) -> None:
    assert fleet_app.node.find_child(FLEET_STACK_NAME) is not None


#: Application Load Balancer, US East (Ohio) (Elastic Load Balancing pricing): per ALB-hour and per LCU-hour.
ALB_PER_HOUR_USD = 0.0225
LCU_PER_HOUR_USD = 0.008


def test_the_fleet_page_states_what_the_example_costs(fleet_template: dict[str, Any]) -> None:
    """docs/fleet.md's figures: observability as count_billables counts the example, compute from the prices the
    cost page uses (scripts/docgen.py) and the load balancer's."""
    from constructs_obs.checks.free_tier import BYTES_PER_GB
    from scripts.docgen import (
        GP3_PER_GIB_MONTH_USD,
        HOST_PRICES_USD,
        HOURS_PER_MONTH,
        PUBLIC_IPV4_PER_HOUR_USD,
    )
    from stacks.fleet import MAX_INSTANCES, MIN_INSTANCES

    page = (Path(__file__).resolve().parent.parent / "docs" / "fleet.md").read_text()
    usage = count_billables(fleet_template)
    [dashboard] = usage.dashboards
    [prometheus] = usage.log_ingestion
    assert f"| {usage.alarm_metrics} | 10 | $0.00 |" in page
    assert f"| {usage.custom_metric_count} | 10 | $0.00 |" in page
    assert f"| 1 ({dashboard.metrics} metrics) | 3 (50 metrics each) | $0.00 |" in page
    assert f"declares {prometheus.bytes_per_month / BYTES_PER_GB:.2f} GB a" in page
    assert (
        f"about {prometheus.bytes_per_month / BYTES_PER_GB / MAX_INSTANCES:.2f} GB a month per instance"
        in page
    )
    assert f"maximum of {MAX_INSTANCES})" in page
    instance = (
        HOST_PRICES_USD["t3.small"] * HOURS_PER_MONTH
        + 30 * GP3_PER_GIB_MONTH_USD
        + PUBLIC_IPV4_PER_HOUR_USD * HOURS_PER_MONTH
    )
    balancer = (ALB_PER_HOUR_USD + LCU_PER_HOUR_USD + 2 * PUBLIC_IPV4_PER_HOUR_USD) * HOURS_PER_MONTH
    assert f"| **Each instance** | | **${instance:.2f}** |" in page
    assert f"| ${ALB_PER_HOUR_USD}/hour | ${ALB_PER_HOUR_USD * HOURS_PER_MONTH:.2f} |" in page
    assert (
        f"| **{MIN_INSTANCES} instances (the minimum)** | | **${MIN_INSTANCES * instance + balancer:.2f}** |"
        in page
    )
    assert (
        f"| **{MAX_INSTANCES} instances (the maximum)** | | **${MAX_INSTANCES * instance + balancer:.2f}** |"
        in page
    )
