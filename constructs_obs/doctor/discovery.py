"""Find what to check in a deployed stack: hosts, alarms and metric filters, from its template and metadata.

Nothing here depends on a stack's outputs. Each host (created by the stack, or an existing
instance the stack observes) has one setup association whose resource metadata ``ConstructsObs::Host`` names
its instance (a fleet: its Auto Scaling group, whose instances :mod:`constructs_obs.doctor.fleets` lists), metrics namespace, role (``RoleName``, or ``RoleLogicalId`` for a role the stack creates) and log
groups (its containers', docker-events', and with Prometheus scrapes ``Prometheus.LogGroup``), and the scrape jobs
(``Prometheus.Jobs``); alarms and metric filters are the stack's ``AWS::CloudWatch::Alarm`` and
``AWS::Logs::MetricFilter`` resources, wherever their log groups live (a plain group of an ECS service is checked
like a host's). Template values that are intrinsic functions are resolved against the deployed stack: ``Ref``
(resources' physical ids, parameters, pseudo parameters), ``Fn::Join``, ``Fn::Sub`` and the ``Fn::GetAtt``
attributes the constructs use; anything else counts as unknown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from constructs_obs.contract import (
    DEFAULT_SCRAPE_INTERVAL_SECONDS,
    FLEET_DIMENSION,
    HOST_METADATA_KEY,
    HostFields,
    PrometheusFields,
)
from constructs_obs.doctor.facts import (
    AlarmSpec,
    FilterSpec,
    Host,
    PrometheusJob,
    StackFacts,
)
from constructs_obs.doctor.stack import StackInventory


@dataclass(frozen=True)
class ServiceLogging:
    """One service of the ``ComposeLogging`` override: where Docker ships its output."""

    service: str
    driver: str
    group: str
    region: str


def parse_compose_logging(value: str) -> list[ServiceLogging]:
    """The services of a ``ComposeLogging`` override; ``ValueError`` when it is not one."""
    document = json.loads(value)
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict):
        raise ValueError("no 'services' mapping")
    result = []
    for service, definition in services.items():
        logging = definition.get("logging", {}) if isinstance(definition, dict) else {}
        options = logging.get("options", {}) if isinstance(logging, dict) else {}
        result.append(
            ServiceLogging(
                service=str(service),
                driver=str(logging.get("driver", "")),
                group=str(options.get("awslogs-group", "")),
                region=str(options.get("awslogs-region", "")),
            )
        )
    return result


def compose_logging(inv: StackInventory) -> list[ServiceLogging] | None:
    """The stack's ``ComposeLogging`` services, or ``None`` when it has no (readable) such output."""
    value = inv.outputs.get("ComposeLogging")
    if value is None:
        return None
    try:
        return parse_compose_logging(value)
    except (ValueError, AttributeError):
        return None


def log_group_names(inv: StackInventory) -> list[str]:
    """The names of the stack's log groups."""
    names = (r.name("LogGroupName") for r in inv.of_type("AWS::Logs::LogGroup"))
    return [n for n in names if n]


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Resolves template values against a deployed stack (``None`` for what it cannot know)."""

    def __init__(self, inv: StackInventory, account: str, partition: str) -> None:
        """Resolve against ``inv``, in ``account`` and ``partition``."""
        self.inv = inv
        self.account = account
        self.partition = partition
        self._types = {r.logical_id: r.resource_type for r in inv.resources}

    def pseudo(self, name: str) -> str | None:
        """A pseudo parameter's value."""
        return {
            "AWS::Region": self.inv.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.inv.name,
            "AWS::StackId": self.inv.stack_id,
            "AWS::URLSuffix": "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str | None:
        """What ``{"Ref": name}`` is in the deployed stack."""
        value = self.pseudo(name)
        if value is not None:
            return value
        if name in self.inv.parameters:
            return self.inv.parameters[name]
        return self.inv.physical_id(name)

    def get_att(self, logical_id: str, attribute: str) -> str | None:
        """The ``Fn::GetAtt`` attributes whose value follows from the physical id."""
        physical = self.inv.physical_id(logical_id)
        kind = self._types.get(logical_id)
        if physical is None:
            return None
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:{self.partition}:logs:{self.inv.region}:{self.account}:log-group:{physical}:*"
        if kind == "AWS::SNS::Topic" and attribute in ("TopicArn", "Arn"):
            return physical
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::KMS::Key" and attribute == "Arn":
            return f"arn:{self.partition}:kms:{self.inv.region}:{self.account}:key/{physical}"
        if kind == "AWS::KMS::Key" and attribute == "KeyId":
            return physical
        if kind == "AWS::EC2::Instance" and attribute == "InstanceId":
            return physical
        return None

    def __call__(self, value: Any) -> str | None:
        """``value`` as a string, or None when it is not one the deployed stack can tell."""
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, Mapping) or len(value) != 1:
            return None
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(str(argument))
        if function == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            if isinstance(parts, list) and len(parts) == 2:
                return self.get_att(str(parts[0]), str(parts[1]))
            return None
        if function == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
            separator, items = argument
            if not isinstance(items, list):
                return None
            resolved = [self(item) for item in items]
            if any(r is None for r in resolved):
                return None
            return str(separator).join(r for r in resolved if r is not None)
        if function == "Fn::Sub":
            return self._sub(argument)
        return None

    def _sub(self, argument: Any) -> str | None:
        variables: Mapping[str, Any] = {}
        if isinstance(argument, str):
            text = argument
        elif isinstance(argument, list) and len(argument) == 2 and isinstance(argument[0], str):
            text = argument[0]
            variables = argument[1] if isinstance(argument[1], Mapping) else {}
        else:
            return None
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1).strip()
            if name in variables:
                value = self(variables[name])
            elif "." in name:
                value = self.get_att(*name.split(".", 1))
            else:
                value = self.ref(name)
            if value is None:
                missing = True
                return ""
            return value

        result = _SUB_VARIABLE.sub(replace, text).replace("${!", "${")
        return None if missing else result

    def strings(self, value: Any) -> list[str]:
        """The resolved strings of a list (or of a single value); unresolvable items are left out."""
        items = value if isinstance(value, list) else [value]
        return [s for s in (self(item) for item in items) if s is not None]


def account_and_partition(stack_id: str) -> tuple[str, str]:
    """The account and partition of a stack ARN (``arn:aws:cloudformation:REGION:ACCOUNT:stack/...``)."""
    parts = stack_id.split(":")
    if len(parts) >= 6 and parts[0] == "arn":
        return parts[4], parts[1]
    return "", "aws"


def _prometheus_jobs(block: Any, resolve: Resolver) -> tuple[PrometheusJob, ...]:
    """The scrape jobs of a host's ``Prometheus`` metadata; a job without a name or metrics is left out."""
    jobs = block.get(PrometheusFields.JOBS) if isinstance(block, Mapping) else None
    found = []
    for job in jobs if isinstance(jobs, list) else []:
        if not isinstance(job, Mapping):
            continue
        name = resolve(job.get(PrometheusFields.JOB_NAME))
        metrics = tuple(resolve.strings(job.get(PrometheusFields.METRICS) or []))
        if not name or not metrics:
            continue
        interval = resolve(job.get(PrometheusFields.INTERVAL_SECONDS))
        found.append(
            PrometheusJob(
                job_name=name,
                url=resolve(job.get(PrometheusFields.URL)) or "",
                interval_seconds=int(interval)
                if interval and interval.isdigit()
                else DEFAULT_SCRAPE_INTERVAL_SECONDS,
                metrics=metrics,
                dimensions=tuple(resolve.strings(job.get(PrometheusFields.DIMENSIONS) or [])),
            )
        )
    return tuple(found)


def _setup_timeout(properties: Mapping[str, Any], resolve: Resolver) -> int | None:
    """How long the setup association may take: CloudFormation's wait for it (``WaitForSuccessTimeoutSeconds``),
    else its script's ``executionTimeout`` parameter; None when the template says neither."""
    parameters = properties.get("Parameters")
    timeout = parameters.get("executionTimeout") if isinstance(parameters, Mapping) else None
    for value in (properties.get("WaitForSuccessTimeoutSeconds"), timeout):
        text = resolve(value[0] if isinstance(value, list) and value else value)
        if text and text.isdigit() and int(text) > 0:
            return int(text)
    return None


def _hosts(inv: StackInventory, resolve: Resolver) -> list[Host]:
    hosts = []
    created = {r.physical_id for r in inv.of_type("AWS::EC2::Instance") if r.physical_id}
    for resource in inv.of_type("AWS::SSM::Association"):
        described = resource.metadata.get(HOST_METADATA_KEY)
        if not isinstance(described, Mapping):
            continue
        groups = described.get(HostFields.CONTAINER_LOG_GROUPS)
        container_groups = {
            str(container): group
            for container, value in (groups.items() if isinstance(groups, Mapping) else [])
            if (group := resolve(value)) is not None
        }
        instance_id = resolve(described.get(HostFields.INSTANCE_ID))
        # A role the stack creates is named by its logical id (its name is a deploy-time token), another by name.
        role_logical_id = described.get(HostFields.ROLE_LOGICAL_ID)
        role = resolve(described.get(HostFields.ROLE_NAME)) or (
            inv.physical_id(role_logical_id) if isinstance(role_logical_id, str) else None
        )
        prometheus = described.get(HostFields.PROMETHEUS)
        hosts.append(
            Host(
                path=str(described.get(HostFields.HOST_PATH) or resource.logical_id),
                instance_id=instance_id,
                metrics_namespace=resolve(described.get(HostFields.METRICS_NAMESPACE)),
                role_name=role,
                container_groups=container_groups,
                docker_events_group=resolve(described.get(HostFields.DOCKER_EVENTS_LOG_GROUP)),
                prometheus_group=resolve(prometheus.get(PrometheusFields.LOG_GROUP))
                if isinstance(prometheus, Mapping)
                else None,
                prometheus_jobs=_prometheus_jobs(prometheus, resolve),
                association_id=resource.physical_id,
                created_by_stack=instance_id in created,
                setup_timeout_seconds=_setup_timeout(resource.properties, resolve),
                auto_scaling_group=resolve(described.get(HostFields.AUTO_SCALING_GROUP_NAME)),
            )
        )
    return hosts


def _dimension_values(dimensions: list[Any], name: str, resolve: Resolver) -> tuple[str, ...]:
    """The resolved values of the dimensions called ``name``."""
    return tuple(
        value
        for d in dimensions
        if isinstance(d, Mapping) and d.get("Name") == name
        if (value := resolve(d.get("Value"))) is not None
    )


def _alarms(inv: StackInventory, resolve: Resolver) -> list[AlarmSpec]:
    alarms = []
    for resource in inv.of_type("AWS::CloudWatch::Alarm"):
        props = resource.properties
        dimensions = list(props.get("Dimensions") or [])
        for query in props.get("Metrics") or []:
            if isinstance(query, Mapping):
                dimensions += (query.get("MetricStat") or {}).get("Metric", {}).get("Dimensions") or []
        instance_ids = _dimension_values(dimensions, "InstanceId", resolve)
        alarms.append(
            AlarmSpec(
                logical_id=resource.logical_id,
                name=resource.physical_id or resolve(props.get("AlarmName")),
                namespace=resolve(props.get("Namespace")),
                metric_name=resolve(props.get("MetricName")),
                instance_ids=instance_ids,
                auto_scaling_groups=_dimension_values(dimensions, FLEET_DIMENSION, resolve),
                alarm_actions=tuple(resolve.strings(props.get("AlarmActions") or [])),
                ok_actions=tuple(resolve.strings(props.get("OKActions") or [])),
            )
        )
    return alarms


def _filters(inv: StackInventory, resolve: Resolver) -> list[FilterSpec]:
    filters = []
    for resource in inv.of_type("AWS::Logs::MetricFilter"):
        props = resource.properties
        pattern = props.get("FilterPattern")
        transformations = props.get("MetricTransformations") or [{}]
        first = transformations[0] if isinstance(transformations[0], Mapping) else {}
        filters.append(
            FilterSpec(
                logical_id=resource.logical_id,
                log_group=resolve(props.get("LogGroupName")),
                pattern=pattern if isinstance(pattern, str) else "",
                metric_namespace=resolve(first.get("MetricNamespace")),
                metric_name=resolve(first.get("MetricName")),
            )
        )
    return filters


def discover(inv: StackInventory) -> StackFacts:
    """The hosts, alarms and metric filters of the deployed stack ``inv``."""
    account, partition = account_and_partition(inv.stack_id)
    resolve = Resolver(inv, account, partition)
    hosts = _hosts(inv, resolve)
    instance_ids: list[str] = [r.physical_id for r in inv.of_type("AWS::EC2::Instance") if r.physical_id]
    instance_ids += [h.instance_id for h in hosts if h.instance_id and h.instance_id not in instance_ids]
    return StackFacts(
        inv=inv,
        account=account,
        partition=partition,
        hosts=tuple(hosts),
        alarms=tuple(_alarms(inv, resolve)),
        filters=tuple(_filters(inv, resolve)),
        instance_ids=tuple(instance_ids),
    )
