"""A fleet's capacity: its Auto Scaling group has as many instances in service as it wants.

``autoscaling:DescribeAutoScalingGroups`` gives the group's ``DesiredCapacity`` and each instance's
``LifecycleState`` and ``HealthStatus`` (Amazon EC2 Auto Scaling API Reference, ``AutoScalingGroup`` and
``Instance``). Fewer healthy instances ``InService`` than desired is what the fleet's capacity alarm watches
(``GroupInServiceInstances`` against ``GroupDesiredCapacity``); the row says it at once, with the instances that are
not in service. While some are still launching (``Pending`` states) the shortfall is ``PENDING`` for the group's
health-check grace period plus :data:`~constructs_obs.doctor.windows.INSTANCE_ENTERS_SERVICE` from their launch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.facts import Host, InstanceState, StackFacts, could_not_check
from constructs_obs.doctor.fleets import describe_groups, fleet_hosts, serving
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import in_service_expected_by, pending_row

CHECK = "fleet-capacity"


def _in_service(instance: Mapping[str, Any]) -> bool:
    return instance.get("LifecycleState") == "InService" and instance.get("HealthStatus") != "Unhealthy"


def _row(
    facts: StackFacts,
    fleet: Host,
    group: Mapping[str, Any] | None,
    states: Mapping[str, InstanceState],
    now: datetime,
) -> CheckResult:
    name = str(fleet.auto_scaling_group)
    region = facts.region
    if group is None:
        return CheckResult(
            CHECK,
            Status.FAIL,
            name,
            f"the Auto Scaling group {name} does not exist: the fleet has no instance",
            guide.drift(f"Auto Scaling group {name}", facts.inv.name, region),
        )
    desired = int(group.get("DesiredCapacity", 0))
    size = f"minimum {group.get('MinSize', '?')}, maximum {group.get('MaxSize', '?')}"
    members = serving(group)
    healthy = [str(i["InstanceId"]) for i in members if _in_service(i)]
    if desired == 0:
        return CheckResult(CHECK, Status.PASS, name, f"desired capacity 0 ({size}): no instance to check")
    if len(healthy) >= desired:
        return CheckResult(
            CHECK, Status.PASS, name, f"{len(healthy)} of {desired} desired instances in service ({size})"
        )
    others = [
        f"{i['InstanceId']} {i.get('LifecycleState', '?')}"
        + (" (unhealthy)" if i.get("HealthStatus") == "Unhealthy" else "")
        for i in members
        if str(i["InstanceId"]) not in healthy
    ]
    detail = (
        f"{len(healthy)} of {desired} desired {'instance' if desired == 1 else 'instances'} in service ({size})"
        + (f"; not in service: {', '.join(others)}" if others else "; the group has launched no other")
    )
    launching = [
        states[str(i["InstanceId"])].launch_time
        for i in members
        if str(i.get("LifecycleState", "")).startswith("Pending")
        and str(i["InstanceId"]) in states
        and states[str(i["InstanceId"])].launch_time is not None
    ]
    if launching:
        expected = in_service_expected_by(max(t for t in launching if t), group.get("HealthCheckGracePeriod"))
        if now < expected:
            return pending_row(CHECK, name, f"{detail}: launching", expected)
    return CheckResult(
        CHECK,
        Status.FAIL,
        name,
        f"{detail}: the fleet runs short, and its capacity alarm fires after its grace period",
        f"Why: aws autoscaling describe-scaling-activities --auto-scaling-group-name {name} --max-items 5 "
        f"--region {region} (EC2 console → Auto Scaling groups → {name} → Activity): launches failing (capacity, "
        "quota, launch template) or instances failing their health checks and being replaced; the setup rows "
        "of the fleet's instances show whether their setup failed.",
    )


def check_fleet_capacity(
    autoscaling: Any, facts: StackFacts, states: Mapping[str, InstanceState], now: datetime
) -> list[CheckResult]:
    """One row per fleet: its group's healthy instances in service against its desired capacity (``states``: the
    instances' launch times, for those still launching)."""
    fleets = fleet_hosts(facts)
    if not fleets:
        return []
    try:
        groups = describe_groups(autoscaling, [str(f.auto_scaling_group) for f in fleets])
    except (ClientError, BotoCoreError) as error:
        return [
            dataclasses.replace(could_not_check(CHECK, str(f.auto_scaling_group), error), host=f.path)
            for f in fleets
        ]
    return [
        dataclasses.replace(_row(facts, f, groups.get(str(f.auto_scaling_group)), states, now), host=f.path)
        for f in fleets
    ]
