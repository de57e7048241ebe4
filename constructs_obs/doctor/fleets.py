"""A fleet's instances, from its Auto Scaling group: each becomes a host of the fleet, checked like any host.

A fleet (:class:`~constructs_obs.fleet.observability.FleetObservability`) names its group in its host metadata
(``AutoScalingGroupName``), not its instances: they come and go. ``autoscaling:DescribeAutoScalingGroups`` lists
the group's instances with their lifecycle state (Amazon EC2 Auto Scaling API Reference, ``DescribeAutoScalingGroups``
and ``Instance``); each instance the group has not begun to terminate becomes a :class:`~constructs_obs.doctor.facts.Host`
with the fleet's path, namespace, role and log groups, so every per-instance check (instance, instance profile,
setup, docker-events, ``--deep``) runs for each of them, and the report counts them ("2 of 3 instances set up").
The checks whose data is the fleet's, not an instance's (the agent's series per group, the Prometheus metrics, the
role's permissions), run once per fleet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor.facts import Host, StackFacts

#: Lifecycle states of an instance the group is removing: not checked (its setup and logs no longer matter).
LEAVING = ("Terminating", "Terminated", "Detaching", "Detached")

#: DescribeAutoScalingGroups takes at most this many group names per call (its ``MaxRecords`` maximum).
_NAMES_PER_CALL = 100


def describe_groups(autoscaling: Any, names: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """Group name -> the group as ``DescribeAutoScalingGroups`` returns it (a group that does not exist is
    absent)."""
    wanted = list(dict.fromkeys(names))
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(wanted), _NAMES_PER_CALL):
        pages = autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=wanted[start : start + _NAMES_PER_CALL]
        )
        for page in pages:
            for group in page.get("AutoScalingGroups", []):
                found[str(group["AutoScalingGroupName"])] = group
    return found


def serving(group: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The group's instances that it is not removing, in the order it lists them."""
    return [i for i in group.get("Instances", []) if not str(i.get("LifecycleState", "")).startswith(LEAVING)]


def fleet_hosts(facts: StackFacts) -> list[Host]:
    """The stack's fleets (hosts that name an Auto Scaling group), one per fleet."""
    return list({h.path: h for h in facts.hosts if h.auto_scaling_group}.values())


def with_fleet_instances(autoscaling: Any, facts: StackFacts) -> StackFacts:
    """``facts`` with each fleet replaced by one host per instance of its group (see the module docstring).

    A fleet whose group has no instance, does not exist or cannot be read stays one host without an instance:
    the fleet-capacity row says which (its own call to the group).
    """
    fleets = fleet_hosts(facts)
    if not fleets:
        return facts
    try:
        groups = describe_groups(autoscaling, [str(f.auto_scaling_group) for f in fleets])
    except (ClientError, BotoCoreError):
        groups = {}
    hosts: list[Host] = []
    instance_ids = list(facts.instance_ids)
    for host in facts.hosts:
        group = groups.get(str(host.auto_scaling_group)) if host.auto_scaling_group else None
        members = [str(i["InstanceId"]) for i in serving(group)] if group else []
        if not members:
            hosts.append(host)
            continue
        for instance_id in members:
            hosts.append(dataclasses.replace(host, instance_id=instance_id, created_by_stack=False))
            if instance_id not in instance_ids:
                instance_ids.append(instance_id)
    return dataclasses.replace(facts, hosts=tuple(hosts), instance_ids=tuple(instance_ids))


def one_per_fleet(hosts: Iterable[Host]) -> list[Host]:
    """``hosts`` with a fleet's instances as one (the first): for the checks of what the fleet shares."""
    seen: set[str] = set()
    kept = []
    for host in hosts:
        if host.auto_scaling_group:
            if host.path in seen:
                continue
            seen.add(host.path)
        kept.append(host)
    return kept
