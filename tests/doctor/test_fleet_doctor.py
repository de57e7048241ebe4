"""A fleet (an Auto Scaling group observed as one, ``Fleet3`` in tests/doctor/apps.py) deployed into moto: the
doctor lists the group's instances (moto implements Auto Scaling: ``DescribeAutoScalingGroups``, the instances it
launches with their ``aws:autoscaling:groupName`` tag) and checks each like a host, the fleet's series and its
capacity once.

What rests on moto: the group's instances and their lifecycle and health states as its Auto Scaling backend keeps
them (it launches the desired capacity at once, and does not replace an instance marked unhealthy); the setup
association's runs on the tagged instances are recorded by tests/doctor/moto_gaps.py (moto has no State Manager).
"""

from __future__ import annotations

import aws_cdk as cdk
import boto3
import pytest

from constructs_obs.doctor import Status
from constructs_obs.doctor.text import render
from tests.doctor.apps import FLEET, FLEET_SIZE
from tests.doctor.deployment import Deployment, deploy
from tests.doctor.helpers import (
    MOTO_CFN_WARNINGS,
    describe,
    problems,
    record_calls,
    rows,
    runbook_permissions,
    summary_of,
)
from tests.doctor.moto_gaps import GAPS
from tests.doctor.test_hosts import assembly, existing_vpc

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-hosts")]


@pytest.fixture
def fleet(aws: boto3.Session, doctor_app: cdk.App) -> Deployment:
    return deploy(aws, assembly(doctor_app), FLEET, substitutions=existing_vpc(aws))


def test_each_instance_of_the_group_is_checked_and_the_fleet_once(fleet: Deployment) -> None:
    [host] = fleet.hosts()
    instances = fleet.group_instances(host.auto_scaling_group)
    assert len(instances) == FLEET_SIZE
    calls = record_calls(fleet.session)

    report = fleet.doctor()

    assert problems(report) == [], describe(problems(report))
    for check in ("instance", "instance-profile", "setup", "docker-events"):
        assert sorted(r.resource for r in rows(report, check)) == sorted(instances), check
    assert {r.host for r in report.results if r.resource in instances} == {"Fleet3/Fleet"}
    [capacity] = rows(report, "fleet-capacity")
    assert (capacity.resource, capacity.detail) == (
        host.auto_scaling_group,
        "3 of 3 desired instances in service (minimum 3, maximum 6)",
    )
    # The fleet's series, once: the per-instance series are not published.
    assert rows(report, "agent-metrics") == []
    [agent] = rows(report, "fleet-agent-metrics")
    assert agent.resource == host.auto_scaling_group
    assert f"(AutoScalingGroupName={host.auto_scaling_group})" in agent.detail
    assert [r.resource for r in rows(report, "role-permissions")] == [host.role_name]
    assert report.host_label("Fleet3/Fleet") == (
        f"fleet Fleet3/Fleet (Auto Scaling group {host.auto_scaling_group}, 3 instances)"
    )
    assert {h["auto_scaling_group"] for h in report.hosts} == {host.auto_scaling_group}
    assert "autoscaling:DescribeAutoScalingGroups" in calls
    assert calls <= runbook_permissions()


def test_a_broken_instance_among_three_is_found_and_named(fleet: Deployment) -> None:
    [host] = fleet.hosts()
    healthy_one, broken, other = fleet.group_instances(host.auto_scaling_group)
    # Its setup failed at the agent's step when it launched, so its agent and docker-events never started: no
    # start line.
    GAPS.fail_association(
        broken,
        at=fleet.launched_at,
        stdout="== constructs-obs setup: cloudwatch-agent\n",
        stderr="curl: (6) Could not resolve host: amazoncloudwatch-agent.s3.amazonaws.com",
    )
    fleet.client("logs").delete_log_stream(logGroupName=host.docker_events_group, logStreamName=broken)

    report = fleet.doctor()

    assert sorted((r.check, r.resource) for r in report.failures()) == [
        ("docker-events", broken),
        ("setup", broken),
    ], describe(report.failures())
    assert {r.host for r in report.failures()} == {"Fleet3/Fleet"}
    [setup] = [r for r in report.failures() if r.check == "setup"]
    assert "step 'cloudwatch-agent' failed: curl: (6) Could not resolve host" in setup.detail
    summary = summary_of(render(report, width=200))
    assert summary["setup"] == ("FAIL", f"2 of 3 instances set up; failing: {broken}")
    assert summary["docker-events"] == ("FAIL", f"2 of 3 instances with its start line; failing: {broken}")
    assert {r.status for r in rows(report, "setup") if r.resource in (healthy_one, other)} == {Status.PASS}


def test_fewer_instances_in_service_than_desired(fleet: Deployment) -> None:
    [host] = fleet.hosts()
    _, sick, _ = fleet.group_instances(host.auto_scaling_group)
    fleet.client("autoscaling").set_instance_health(InstanceId=sick, HealthStatus="Unhealthy")

    [failure] = fleet.doctor().failures()

    assert (failure.check, failure.resource, failure.host) == (
        "fleet-capacity",
        host.auto_scaling_group,
        "Fleet3/Fleet",
    )
    assert failure.detail.startswith(
        f"2 of 3 desired instances in service (minimum 3, maximum 6); not in service: {sick} InService (unhealthy)"
    )
    assert (
        f"describe-scaling-activities --auto-scaling-group-name {host.auto_scaling_group}"
        in failure.next_step
    )
