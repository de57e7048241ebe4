"""The alarms of a fleet (an Auto Scaling group observed as one), as :class:`~constructs_obs.alarms.basic.BasicAlarms`
creates them for :class:`~constructs_obs.fleet.observability.FleetObservability`.

The same five as for one host, on the group (dimension ``AutoScalingGroupName``), plus ``capacity``:

- ``cpu-high``: ``AWS/EC2 CPUUtilization`` of the group's instances, average (EC2 publishes the instance metrics
  aggregated by ``AutoScalingGroupName`` as well, Amazon EC2 User Guide, "Amazon EC2 metric dimensions").
- ``status-check``: ``AWS/EC2 StatusCheckFailed`` of the group, maximum: one failing instance is enough.
- ``memory-high`` and ``disk-high``: the agent's fleet series (:func:`~constructs_obs.host.agent.agent_config`),
  maximum: the worst instance.
- ``container-crash``: the docker-events crash count, as for a host (one log group for the fleet).
- ``capacity``: fewer instances in service than the group wants (``GroupDesiredCapacity`` minus
  ``GroupInServiceInstances``, metric math) for the fleet's ``capacity_grace``: launches failing, instances failing
  their health checks and being replaced.

Each description says what to look at first: the per-instance saved queries (the docker-events streams are named
after the instances) and one Run Command across the group's instances, since the fleet's memory and disk series
do not name an instance.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch

from constructs_obs.alarms.specs import (
    CONTAINER_CRASH,
    CPU_HIGH,
    DISK_HIGH,
    MEMORY_HIGH,
    STATUS_CHECK,
    AlarmSettings,
    AlarmSpec,
)

#: The fleet's own alarm, by the name ``leave_out`` and ``runbook`` take (also its alarm-name suffix).
CAPACITY = "capacity"

_GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
_GE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD

#: One command on every instance of the group, whose output Systems Manager keeps per instance.
RUN_ON_EVERY_INSTANCE = (
    "aws ssm send-command --document-name AWS-RunShellScript --targets "
    "Key=tag:aws:autoscaling:groupName,Values=<the alarm's AutoScalingGroupName> --parameters commands='{command}'"
)


def _capacity(host: object) -> AlarmSettings:
    settings: AlarmSettings = host.capacity_alarm_settings()  # type: ignore[attr-defined]
    return settings


#: The alarm specification table of a fleet (see the module docstring).
FLEET_ALARMS: tuple[AlarmSpec, ...] = (
    AlarmSpec(
        CPU_HIGH,
        "CpuHigh",
        "CPU utilization, fleet average (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        "Average CPU of the instances of {host} above {threshold:g}% for {minutes:g} minutes: the fleet is under "
        "heavy load.",
        "EC2 console > Auto Scaling group > Monitoring shows the busiest instances; `docker stats` on one "
        "(Session Manager) names the container. Raise the group's maximum, or scale on CPU, if the load is real.",
    ),
    AlarmSpec(
        STATUS_CHECK,
        "StatusCheck",
        "Status check failed, any instance",
        1,
        _GE,
        cloudwatch.TreatMissingData.MISSING,
        "An instance of {host} failed its EC2 status check for {periods} minutes.",
        "EC2 console > Auto Scaling group > Instance management names it; with ELB health checks the group "
        "replaces it, otherwise terminate it and the group launches a new one.",
    ),
    AlarmSpec(
        MEMORY_HIGH,
        "MemoryHigh",
        "Memory used, worst instance (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.MISSING,
        "Memory used above {threshold:g}% for {minutes:g} minutes on the fullest instance of {host}: its "
        "containers risk the OOM killer.",
        "Which instance: "
        + RUN_ON_EVERY_INSTANCE.format(command="free -m; docker stats --no-stream")
        + " and the container-crashes-by-instance saved query (OOM kills).",
    ),
    AlarmSpec(
        DISK_HIGH,
        "DiskHigh",
        "Root disk used, worst instance (%)",
        100,
        _GT,
        cloudwatch.TreatMissingData.MISSING,
        "Root filesystem above {threshold:g}% used on the fullest instance of {host}:",
        "find it with " + RUN_ON_EVERY_INSTANCE.format(command="df -h /") + ", then prune Docker images "
        "there (docker system prune), or replace the instance.",
    ),
    AlarmSpec(
        CONTAINER_CRASH,
        "ContainerCrash",
        "Container crashes, fleet",
        None,
        _GE,
        cloudwatch.TreatMissingData.NOT_BREACHING,
        "A container on an instance of {host} crashed (non-zero exit other than a stop, or OOM kill).",
        "The container-crashes-by-instance saved query names the instance (its docker-events stream) and the "
        "container.",
    ),
    AlarmSpec(
        CAPACITY,
        "Capacity",
        "Instances in service and desired",
        None,
        _GE,
        cloudwatch.TreatMissingData.MISSING,
        "{host} had fewer instances in service than it wants for {minutes:g} minutes: instances fail to launch, "
        "or fail their health checks and are replaced.",
        "EC2 console > Auto Scaling group > Activity says why (capacity, quota, launch template, health checks); "
        "obs-doctor lists the instances with their setup.",
        own=_capacity,
    ),
)
