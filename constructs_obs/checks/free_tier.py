"""What synthesized stacks bill in CloudWatch, compared with the always-free tier, checked at synth.

:func:`count_billables` reads a CloudFormation template (a dict, as synthesized) and returns a
:class:`BillableUsage`: alarm metrics, custom metrics, dashboards and their metrics, detailed monitoring.
:meth:`BillableUsage.overages` compares it with :data:`FREE_TIER` (10 standard-resolution alarm metrics, 10
custom metrics, 3 dashboards of up to 50 metrics each) and says what is over, by how much, and about what it
costs a month at us-east-1/us-east-2 list prices.

The free tier is not per stack: every stack deployed into one account draws on the same one, so
:func:`free_tier_groups` adds the stacks of an app up per account (:class:`FreeTierGroup`), and
:class:`FreeTierCheck`, a CDK validation plugin, reports each group's overages at synth::

    Validations.of(app).add_plugins(FreeTierCheck())             # warnings in the synth output
    Validations.of(app).add_plugins(FreeTierCheck(strict=True))  # synth fails instead

Per account, across Regions, by default. Sources: the CloudWatch pricing page
(https://aws.amazon.com/cloudwatch/pricing/) lists the free tier as "10 Alarm metrics (only applicable to
Standard resolution alarms ...)", "10 Metrics (of Custom Metrics and Detailed Monitoring Metrics)" and "3 Custom
Dashboards referencing up to 50 metrics each per month", and says nothing of Regions; AWS's knowledge-center
article on free-tier charges (https://aws.amazon.com/jp/premiumsupport/knowledge-center/free-tier-charges/) says
"Most benefits offered by the Free Tier apply globally to all resources on your account, not individually to each
AWS region". No AWS source seen says CloudWatch's allowance is per Region, so counting per Region could miss a
bill; ``FreeTierCheck(per_region=True)`` counts that way all the same, for whoever knows better. Accounts that
share an AWS Organizations bill are not added up (unverified whether they share one free tier).

An overage is one violation per group and rule, naming the group (``aws://123456789012, all regions``), the
stacks whose resources make it up, how much is used, what is free, how much is over and about what it costs a
month. Accept one by acknowledging its rule on every stack it names, or on a scope holding them all (a stage, the
app), for example
``Validations.of(stack).acknowledge(Acknowledgment(id="ConstructsObsFreeTier::alarm-metrics", reason="..."))``.

What is counted in each template:

- ``AWS::CloudWatch::Alarm``: one alarm metric per metric it watches (a metric-math alarm counts each metric,
  an anomaly-detection alarm three); alarms with a period under 60 seconds are high-resolution and billed from
  the first. ``AWS::CloudWatch::CompositeAlarm``: billed from the first.
- Custom metrics: each distinct namespace/name/dimension-keys of ``AWS::Logs::MetricFilter`` transformations,
  counted once however many filters (in however many stacks of a group) publish it (a filter with dimensions
  publishes one metric per distinct value: it counts as one here and is flagged); plus the metrics a resource
  declares under the metadata key :data:`CUSTOM_METRICS_METADATA_KEY` (the CloudWatch agent's, see
  :mod:`constructs_obs.host.agent`), which each host publishes under its own ``InstanceId``: counted once per declaring
  resource, so two hosts in one namespace count twice; plus EC2 detailed monitoring, billed like custom metrics:
  7 metrics per instance (``AWS::EC2::Instance`` ``Monitoring: true``, a launch template with monitoring enabled,
  or an Auto Scaling launch configuration, where it is on unless turned off).
- ``AWS::CloudWatch::Dashboard`` and the metrics on each (a metric line, or an alarm graph, counts one).
- ``AWS::Events::Rule`` on AWS service events on the default bus (``source`` ``aws.*``, no ``EventBusName``), such
  as the alarms' recovery rule: counted and free, "All state change events published by AWS services by default
  are free" (Amazon EventBridge pricing). A rule on another bus or on custom events is listed apart: the events
  put to it are billed (``BillableUsage.billed_event_rules``), not a CloudWatch free-tier item.
- Log data a resource declares under the metadata key :data:`LOG_INGESTION_METADATA_KEY` (``BytesPerMonth``, the
  estimate of what its log group ingests a month: the CloudWatch agent's Prometheus EMF events, see
  :mod:`constructs_obs.host.prometheus`), against the free tier's 5 GB of log data a month (ingestion, archive storage
  and Logs Insights scans together, "5GB Data (ingestion, archive storage, and data scanned by Logs Insights
  queries)" on the pricing page). Only declared estimates count: the volume of container output is not in a
  template (a small app's is typically 1-3 GB a month), so the check warns only when the declared estimates alone are over.

Metrics that applications publish themselves (``PutMetricData`` from code, embedded metric format written by the
application) are not in a template and not counted; the agent's Prometheus metrics are declared and counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aws_cdk as cdk
import jsii

from constructs_obs.checks.cdk_versions import HAS_VALIDATIONS, VALIDATIONS_RELEASE, installed_release
from constructs_obs.contract import (  # the metadata keys the constructs write, re-exported here
    CUSTOM_METRICS_METADATA_KEY as CUSTOM_METRICS_METADATA_KEY,
)
from constructs_obs.contract import (
    LOG_INGESTION_METADATA_KEY as LOG_INGESTION_METADATA_KEY,
)

#: Bytes in the GB of CloudWatch pricing (AWS bills data in binary gigabytes, 2^30 bytes).
BYTES_PER_GB = 1024**3

_T = TypeVar("_T")


@dataclass(frozen=True)
class FreeTierLimits:
    """What the CloudWatch free tier covers each month."""

    alarm_metrics: int = 10
    custom_metrics: int = 10
    dashboards: int = 3
    metrics_per_dashboard: int = 50
    log_data_gb: float = 5.0


#: The always-free tier (AWS pricing, as published).
FREE_TIER = FreeTierLimits()

#: Monthly list prices in USD (us-east-1 and us-east-2), beyond the free tier.
PRICE_PER_ALARM_METRIC = 0.10
PRICE_PER_HIGH_RESOLUTION_ALARM_METRIC = 0.30
PRICE_PER_COMPOSITE_ALARM = 0.50
PRICE_PER_CUSTOM_METRIC = 0.30
PRICE_PER_DASHBOARD = 3.00
#: Standard log class ingestion, per GB.
PRICE_PER_LOG_GB_INGESTED = 0.50

#: EC2 detailed monitoring is billed like custom metrics; AWS's pricing examples count 7 metrics per instance.
DETAILED_MONITORING_METRICS_PER_INSTANCE = 7

#: Name of the validation plugin; acknowledgment ids are ``ConstructsObsFreeTier::<rule>``.
PLUGIN_NAME = "ConstructsObsFreeTier"
RULES: tuple[str, ...] = (
    "alarm-metrics",
    "high-resolution-alarms",
    "composite-alarms",
    "custom-metrics",
    "dashboards",
    "dashboard-metrics",
    "log-ingestion",
)


@dataclass(frozen=True)
class CustomMetric:
    """One custom metric a stack publishes: namespace, name, dimension keys, and the resource behind it.

    ``per_dimension_value``: a metric filter with dimensions, or a declared metric with ``PerDimensionValue`` (the
    agent's Prometheus metrics with labels kept as dimensions), which publishes one metric per distinct value
    (counted as one). ``per_resource``: declared by the resource that publishes it (metadata key
    :data:`CUSTOM_METRICS_METADATA_KEY`, e.g. a host's CloudWatch agent): one metric per declaring resource, never
    merged with another resource's metric of the same name, since each host publishes its own.
    """

    namespace: str
    metric_name: str
    dimensions: tuple[str, ...]
    source: str
    per_dimension_value: bool = False
    per_resource: bool = False


@dataclass(frozen=True)
class LogIngestion:
    """A log group's declared monthly ingestion estimate (metadata key :data:`LOG_INGESTION_METADATA_KEY`)."""

    logical_id: str
    log_group_name: str
    bytes_per_month: int
    basis: str = ""


@dataclass(frozen=True)
class DashboardUsage:
    """A dashboard and the number of metrics it shows."""

    logical_id: str
    metrics: int


@dataclass(frozen=True)
class Overage:
    """One way a stack, or a group of stacks, exceeds the free tier.

    ``resources`` are the logical ids behind it (``<stack path>/<logical id>`` in a :class:`FreeTierGroup`'s);
    ``stacks`` the construct paths of the stacks they are in (empty for a single template's).
    """

    rule: str
    description: str
    used: int
    free: int
    monthly_usd: float
    resources: tuple[str, ...]
    stacks: tuple[str, ...] = ()

    @property
    def over(self) -> int:
        """How many units are beyond the free tier."""
        return self.used - self.free


@dataclass(frozen=True)
class BillableUsage:
    """What one template bills in CloudWatch (see the module docstring for what counts)."""

    alarms: tuple[str, ...] = ()
    alarm_metrics: int = 0
    high_resolution_alarms: tuple[str, ...] = ()
    high_resolution_alarm_metrics: int = 0
    composite_alarms: tuple[str, ...] = ()
    custom_metrics: tuple[CustomMetric, ...] = ()
    detailed_monitoring: tuple[str, ...] = ()
    dashboards: tuple[DashboardUsage, ...] = ()
    log_ingestion: tuple[LogIngestion, ...] = ()
    free_event_rules: tuple[str, ...] = ()
    billed_event_rules: tuple[str, ...] = ()

    @property
    def log_ingestion_bytes(self) -> int:
        """The declared log ingestion a month, in bytes."""
        return sum(item.bytes_per_month for item in self.log_ingestion)

    @property
    def custom_metric_count(self) -> int:
        """Custom metrics, counting detailed monitoring as 7 per instance."""
        return len(self.custom_metrics) + DETAILED_MONITORING_METRICS_PER_INSTANCE * len(
            self.detailed_monitoring
        )

    def overages(self, limits: FreeTierLimits = FREE_TIER) -> list[Overage]:
        """Everything beyond ``limits``, with how much and about what it costs a month."""
        out: list[Overage] = []
        if self.alarm_metrics > limits.alarm_metrics:
            over = self.alarm_metrics - limits.alarm_metrics
            out.append(
                Overage(
                    "alarm-metrics",
                    f"{self.alarm_metrics} standard-resolution alarm metrics, the free tier covers "
                    f"{limits.alarm_metrics}: {over} over, about ${over * PRICE_PER_ALARM_METRIC:.2f}/month",
                    self.alarm_metrics,
                    limits.alarm_metrics,
                    over * PRICE_PER_ALARM_METRIC,
                    self.alarms,
                )
            )
        if self.high_resolution_alarms:
            n = self.high_resolution_alarm_metrics
            out.append(
                Overage(
                    "high-resolution-alarms",
                    f"{n} high-resolution alarm metrics (period under 60 s), which the free tier does not "
                    f"cover: about ${n * PRICE_PER_HIGH_RESOLUTION_ALARM_METRIC:.2f}/month",
                    n,
                    0,
                    n * PRICE_PER_HIGH_RESOLUTION_ALARM_METRIC,
                    self.high_resolution_alarms,
                )
            )
        if self.composite_alarms:
            n = len(self.composite_alarms)
            out.append(
                Overage(
                    "composite-alarms",
                    f"{n} composite alarms, which the free tier does not cover: "
                    f"about ${n * PRICE_PER_COMPOSITE_ALARM:.2f}/month",
                    n,
                    0,
                    n * PRICE_PER_COMPOSITE_ALARM,
                    self.composite_alarms,
                )
            )
        count = self.custom_metric_count
        if count > limits.custom_metrics:
            over = count - limits.custom_metrics
            detail = ", ".join(f"{m.namespace} {m.metric_name}" for m in self.custom_metrics)
            if self.detailed_monitoring:
                detail += (
                    f"{', ' if detail else ''}detailed monitoring of {len(self.detailed_monitoring)} instances "
                    f"({DETAILED_MONITORING_METRICS_PER_INSTANCE} metrics each)"
                )
            out.append(
                Overage(
                    "custom-metrics",
                    f"{count} custom metrics, the free tier covers {limits.custom_metrics}: {over} over, about "
                    f"${over * PRICE_PER_CUSTOM_METRIC:.2f}/month ({detail})",
                    count,
                    limits.custom_metrics,
                    over * PRICE_PER_CUSTOM_METRIC,
                    tuple(
                        dict.fromkeys(
                            [m.source for m in self.custom_metrics] + list(self.detailed_monitoring)
                        )
                    ),
                )
            )
        small = [d for d in self.dashboards if d.metrics <= limits.metrics_per_dashboard]
        if len(small) > limits.dashboards:
            over = len(small) - limits.dashboards
            out.append(
                Overage(
                    "dashboards",
                    f"{len(small)} dashboards, the free tier covers {limits.dashboards}: {over} over, about "
                    f"${over * PRICE_PER_DASHBOARD:.2f}/month",
                    len(small),
                    limits.dashboards,
                    over * PRICE_PER_DASHBOARD,
                    tuple(d.logical_id for d in small),
                )
            )
        for board in self.dashboards:
            if board.metrics > limits.metrics_per_dashboard:
                out.append(
                    Overage(
                        "dashboard-metrics",
                        f"dashboard {board.logical_id} shows {board.metrics} metrics, a free dashboard at most "
                        f"{limits.metrics_per_dashboard}: {board.metrics - limits.metrics_per_dashboard} over, so "
                        f"it is billed, about ${PRICE_PER_DASHBOARD:.2f}/month",
                        board.metrics,
                        limits.metrics_per_dashboard,
                        PRICE_PER_DASHBOARD,
                        (board.logical_id,),
                    )
                )
        ingested_gb = self.log_ingestion_bytes / BYTES_PER_GB
        if ingested_gb > limits.log_data_gb:
            over_gb = ingested_gb - limits.log_data_gb
            out.append(
                Overage(
                    "log-ingestion",
                    f"{ingested_gb:.2f} GB of log data a month declared ("
                    + ", ".join(
                        f"{i.log_group_name}: {i.bytes_per_month / BYTES_PER_GB:.2f} GB"
                        for i in self.log_ingestion
                    )
                    + f"), the free tier covers {limits.log_data_gb:g} GB with everything else the account logs: "
                    f"{over_gb:.2f} GB over, about ${over_gb * PRICE_PER_LOG_GB_INGESTED:.2f}/month",
                    math.ceil(ingested_gb),
                    math.floor(limits.log_data_gb),
                    over_gb * PRICE_PER_LOG_GB_INGESTED,
                    tuple(i.logical_id for i in self.log_ingestion),
                )
            )
        return out

    def monthly_cost_usd(self, limits: FreeTierLimits = FREE_TIER) -> float:
        """About what the stack costs a month in CloudWatch beyond the free tier (0.0 inside it)."""
        return round(sum(o.monthly_usd for o in self.overages(limits)), 2)


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _alarm_metric_count(props: Mapping[str, Any]) -> tuple[int, bool]:
    """(alarm metrics, high resolution) of an ``AWS::CloudWatch::Alarm``'s properties."""
    if "Metrics" in props and isinstance(props["Metrics"], list):
        stats = [m["MetricStat"] for m in props["Metrics"] if isinstance(m, dict) and "MetricStat" in m]
        periods = [s.get("Period") for s in stats if isinstance(s, dict)]
        count = len(stats) * (3 if "ThresholdMetricId" in props else 1)
    else:
        periods = [props.get("Period")]
        count = 1
    high_resolution = any(isinstance(p, (int, float)) and p < 60 for p in periods)
    return max(count, 1), high_resolution


def _render_join(value: Any) -> str | None:
    """A dashboard body as text; values only known at deploy time become ``TOKEN``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        rendered = [_render_join(p) if isinstance(p, dict) and "Fn::Join" in p else p for p in parts]
        return str(separator).join(p if isinstance(p, str) else "TOKEN" for p in rendered)
    return None


def dashboard_metric_count(body: Mapping[str, Any]) -> int:
    """Metrics a dashboard body shows: metric lines of metric widgets, plus one per alarm graph."""
    count = 0
    for widget in body.get("widgets", []):
        if widget.get("type") != "metric":
            continue
        properties = widget.get("properties", {})
        for line in properties.get("metrics", []):
            if isinstance(line, list) and line and isinstance(line[0], str):
                count += 1
        count += len(properties.get("annotations", {}).get("alarms", []))
    return count


def _metric_key(metric: CustomMetric, stack: str = "") -> tuple[str, ...]:
    """What makes two custom metrics one: the metric itself, and for a per-resource one also its resource."""
    if metric.per_resource:
        return ("resource", stack, metric.source, metric.namespace, metric.metric_name, *metric.dimensions)
    return ("metric", metric.namespace, metric.metric_name, *metric.dimensions)


def count_billables(template: Mapping[str, Any]) -> BillableUsage:
    """What ``template`` (a synthesized CloudFormation template) bills in CloudWatch."""
    alarms: list[str] = []
    alarm_metrics = 0
    high_res: list[str] = []
    high_res_metrics = 0
    composite: list[str] = []
    custom: dict[tuple[str, ...], CustomMetric] = {}
    detailed: list[str] = []
    dashboards: list[DashboardUsage] = []
    ingestion: list[LogIngestion] = []
    free_rules: list[str] = []
    billed_rules: list[str] = []

    def add_custom(metric: CustomMetric) -> None:
        custom.setdefault(_metric_key(metric), metric)

    for logical_id, resource in template.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resource.get("Properties", {}) or {}
        if kind == "AWS::CloudWatch::Alarm":
            count, high_resolution = _alarm_metric_count(props)
            if high_resolution:
                high_res.append(logical_id)
                high_res_metrics += count
            else:
                alarms.append(logical_id)
                alarm_metrics += count
        elif kind == "AWS::CloudWatch::CompositeAlarm":
            composite.append(logical_id)
        elif kind == "AWS::Logs::MetricFilter":
            for transformation in props.get("MetricTransformations", []):
                keys = tuple(
                    sorted(_as_text(d.get("Key")) for d in transformation.get("Dimensions", []) or [])
                )
                add_custom(
                    CustomMetric(
                        _as_text(transformation.get("MetricNamespace")),
                        _as_text(transformation.get("MetricName")),
                        keys,
                        logical_id,
                        per_dimension_value=bool(keys),
                    )
                )
        elif kind == "AWS::EC2::Instance" and _is_true(props.get("Monitoring")):
            detailed.append(logical_id)
        elif kind == "AWS::EC2::LaunchTemplate":
            monitoring = (props.get("LaunchTemplateData") or {}).get("Monitoring") or {}
            if _is_true(monitoring.get("Enabled")):
                detailed.append(logical_id)
        elif kind == "AWS::AutoScaling::LaunchConfiguration":
            if (
                props.get("InstanceMonitoring", True) is not False
                and props.get("InstanceMonitoring") != "false"
            ):
                detailed.append(logical_id)
        elif kind == "AWS::Events::Rule":
            sources = (props.get("EventPattern") or {}).get("source") or []
            aws_only = bool(sources) and all(isinstance(s, str) and s.startswith("aws.") for s in sources)
            on_default_bus = props.get("EventBusName") in (None, "default")
            (free_rules if aws_only and on_default_bus else billed_rules).append(logical_id)
        elif kind == "AWS::CloudWatch::Dashboard":
            text = _render_join(props.get("DashboardBody"))
            try:
                body = json.loads(text) if text is not None else {}
            except ValueError:
                body = {}
            dashboards.append(DashboardUsage(logical_id, dashboard_metric_count(body)))
        for declared in (resource.get("Metadata") or {}).get(CUSTOM_METRICS_METADATA_KEY, []):
            add_custom(
                CustomMetric(
                    _as_text(declared["Namespace"]),
                    _as_text(declared["MetricName"]),
                    tuple(sorted(declared.get("Dimensions", []))),
                    logical_id,
                    per_dimension_value=bool(declared.get("PerDimensionValue")),
                    per_resource=True,
                )
            )
        declared_logs = (resource.get("Metadata") or {}).get(LOG_INGESTION_METADATA_KEY)
        if isinstance(declared_logs, dict) and isinstance(declared_logs.get("BytesPerMonth"), int):
            ingestion.append(
                LogIngestion(
                    logical_id,
                    _as_text(props.get("LogGroupName", logical_id)),
                    declared_logs["BytesPerMonth"],
                    str(declared_logs.get("Basis", "")),
                )
            )
    return BillableUsage(
        alarms=tuple(alarms),
        alarm_metrics=alarm_metrics,
        high_resolution_alarms=tuple(high_res),
        high_resolution_alarm_metrics=high_res_metrics,
        composite_alarms=tuple(composite),
        custom_metrics=tuple(custom.values()),
        detailed_monitoring=tuple(detailed),
        dashboards=tuple(dashboards),
        log_ingestion=tuple(ingestion),
        free_event_rules=tuple(free_rules),
        billed_event_rules=tuple(billed_rules),
    )


@dataclass(frozen=True)
class StackUsage:
    """One stack's usage and where it deploys.

    ``account`` and ``region`` are None when the stack is environment-agnostic in them (CDK's ``unknown-account``
    and ``unknown-region``). ``template_path`` is where its template was written (for the synth report).
    """

    path: str
    account: str | None
    region: str | None
    usage: BillableUsage
    template_path: str = ""


@dataclass(frozen=True)
class FreeTierGroup:
    """Stacks that draw on one free tier: one account (with ``per_region``, one account and Region).

    ``account`` or ``region`` is None for a group of stacks that do not say theirs (see :func:`free_tier_groups`);
    ``region`` is always None when the group spans all Regions (``per_region`` False).
    """

    account: str | None
    region: str | None
    per_region: bool
    stacks: tuple[StackUsage, ...]

    @property
    def label(self) -> str:
        """Where the group deploys: ``aws://123456789012/us-east-2``, ``unknown account, us-east-2``, ..."""
        if not self.per_region:
            return f"{_account_label(self.account)}, all regions"
        if self.account is not None and self.region is not None:
            return f"aws://{self.account}/{self.region}"
        return f"{_account_label(self.account)}, {self.region or 'unknown region'}"

    @property
    def usage(self) -> BillableUsage:
        """The stacks' usage added up, resources named ``<stack path>/<logical id>``."""
        return _combine(self.stacks)[0]

    def overages(self, limits: FreeTierLimits = FREE_TIER) -> list[Overage]:
        """Everything the group has beyond ``limits``, each with the stacks whose resources make it up."""
        usage, owners = _combine(self.stacks)
        out: list[Overage] = []
        for overage in usage.overages(limits):
            involved = {owners[resource] for resource in overage.resources}
            out.append(replace(overage, stacks=tuple(s.path for s in self.stacks if s.path in involved)))
        return out


def _account_label(account: str | None) -> str:
    return f"aws://{account}" if account is not None else "unknown account"


def _combine(stacks: Sequence[StackUsage]) -> tuple[BillableUsage, dict[str, str]]:
    """The stacks' usage added up, and the stack path of each (qualified) resource name in it.

    Metric-filter metrics are counted once across the stacks, per-resource metrics once per stack and resource.
    """
    owners: dict[str, str] = {}

    def name(stack: StackUsage, logical_id: str) -> str:
        qualified = f"{stack.path}/{logical_id}"
        owners[qualified] = stack.path
        return qualified

    custom: dict[tuple[str, ...], CustomMetric] = {}
    for stack in stacks:
        for metric in stack.usage.custom_metrics:
            key = _metric_key(metric, stack.path)
            if key not in custom:
                custom[key] = replace(metric, source=name(stack, metric.source))
    usage = BillableUsage(
        alarms=tuple(name(s, a) for s in stacks for a in s.usage.alarms),
        alarm_metrics=sum(s.usage.alarm_metrics for s in stacks),
        high_resolution_alarms=tuple(name(s, a) for s in stacks for a in s.usage.high_resolution_alarms),
        high_resolution_alarm_metrics=sum(s.usage.high_resolution_alarm_metrics for s in stacks),
        composite_alarms=tuple(name(s, a) for s in stacks for a in s.usage.composite_alarms),
        custom_metrics=tuple(custom.values()),
        detailed_monitoring=tuple(name(s, r) for s in stacks for r in s.usage.detailed_monitoring),
        dashboards=tuple(
            replace(d, logical_id=name(s, d.logical_id)) for s in stacks for d in s.usage.dashboards
        ),
        log_ingestion=tuple(
            replace(i, logical_id=name(s, i.logical_id)) for s in stacks for i in s.usage.log_ingestion
        ),
    )
    return usage, owners


_ALL_REGIONS = "*"


def free_tier_groups(stacks: Iterable[StackUsage], *, per_region: bool = False) -> list[FreeTierGroup]:
    """The stacks grouped by the free tier they draw on: per account, or with ``per_region`` per account and Region.

    A stack that does not say its account (environment-agnostic) may be deployed into any: it counts with every
    group of a known account (in its Region, with ``per_region``), and only when there is none with the other
    stacks of unknown account (of its Region). Likewise, with ``per_region``, a stack that does not say its Region
    counts with every group it could be deployed into (every group of its account, or every group when its
    account is unknown too), and only when there is none in a group of its own. So one stack can count in several
    groups, and an overage it causes is reported in each.
    """
    ordered = sorted(stacks, key=lambda s: s.path)

    def where(stack: StackUsage) -> tuple[str | None, str | None]:
        return stack.account, (stack.region if per_region else _ALL_REGIONS)

    known = [env for env in map(where, ordered) if env[0] is not None and env[1] is not None]
    targets = dict.fromkeys(known)
    for account, region in map(where, ordered):
        if account is None and region is not None and all(r != region for _, r in known):
            targets[(None, region)] = None
        elif account is not None and region is None and all(a != account for a, _ in known):
            targets[(account, None)] = None
    if not targets and ordered:
        targets[(None, None)] = None

    def order(env: tuple[str | None, str | None]) -> tuple[bool, str, bool, str]:
        return (env[0] is None, env[0] or "", env[1] is None, env[1] or "")

    groups = []
    for account, region in sorted(targets, key=order):
        members = tuple(
            stack
            for stack in ordered
            if where(stack)[0] in (None, account) and where(stack)[1] in (None, region)
        )
        groups.append(FreeTierGroup(account, None if region == _ALL_REGIONS else region, per_region, members))
    return groups


def _validation_plugin(cls: type[_T]) -> type[_T]:
    """``jsii.implements(cdk.IPolicyValidationPlugin)``, where the installed aws-cdk-lib has that interface."""
    return jsii.implements(cdk.IPolicyValidationPlugin)(cls) if HAS_VALIDATIONS else cls


@_validation_plugin
class FreeTierCheck:
    """A CDK validation plugin: the app's CloudWatch usage against the free tier, per account, at every synth.

    The stacks are grouped by :func:`free_tier_groups` (per account across Regions; with ``per_region``, per
    account and Region). Each overage of a group is one violation: a warning (synth goes on), or with ``strict`` an
    error (synth fails). Its description names the group, the stacks whose resources make it up, what is used,
    what is free, how much is over and about what it costs a month; its violating resources are those stacks (one
    entry each: CDK prints the description once per violating resource, and drops a violation that has none).
    Acknowledge the rule (``ConstructsObsFreeTier::<rule>``, with a reason) on each of those stacks, or on a
    scope holding them all, to accept it.
    """

    def __init__(
        self, *, strict: bool = False, limits: FreeTierLimits = FREE_TIER, per_region: bool = False
    ) -> None:
        """Args: strict: fail synth instead of warning. limits: the free tier to compare with. per_region: count
        each Region of an account against its own free tier (default: one free tier per account, across Regions;
        see the module docstring for why).

        Raises:
            RuntimeError: the installed aws-cdk-lib is older than 2.252.0, which has no ``Validations`` to register
                the check with (:func:`count_billables` works on every release).
        """
        if not HAS_VALIDATIONS:
            raise RuntimeError(
                f"FreeTierCheck is a validation plugin for Validations.of(app).add_plugins(...), which aws-cdk-lib "
                f"has from {VALIDATIONS_RELEASE}; this environment has aws-cdk-lib {installed_release()}. Upgrade "
                "aws-cdk-lib, or count a stack in a test: "
                "count_billables(Template.from_stack(stack).to_json()).overages(FREE_TIER)"
            )
        self.strict = strict
        self.limits = limits
        self.per_region = per_region

    @property
    def name(self) -> str:
        """The plugin's name in the validation report."""
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        """The plugin's version."""
        return "2.0.0"

    @property
    def rule_ids(self) -> list[str]:
        """The rules it evaluates."""
        return list(RULES)

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        """Count every stack template, group the stacks by account, report what each group has over."""
        stacks = []
        for stack in context.stack_templates:
            with open(stack.template_path, encoding="utf-8") as handle:
                template = json.load(handle)
            stacks.append(
                StackUsage(
                    stack.stack_construct_path,
                    stack.account_id,
                    stack.region,
                    count_billables(template),
                    stack.template_path,
                )
            )
        violations = self.violations(stacks)
        return cdk.PolicyValidationPluginReport(
            success=not (self.strict and violations), violations=violations
        )

    def violations(self, stacks: Sequence[StackUsage]) -> list[cdk.PolicyViolation]:
        """One violation per overage of each group of ``stacks``."""
        paths = {s.path: s.template_path for s in stacks}
        out: list[cdk.PolicyViolation] = []
        for group in free_tier_groups(stacks, per_region=self.per_region):
            for overage in group.overages(self.limits):
                named = ", ".join(overage.stacks)
                out.append(
                    cdk.PolicyViolation(
                        rule_name=overage.rule,
                        description=f"{group.label} ({'stack' if len(overage.stacks) == 1 else 'stacks'} "
                        f"{named}): {overage.description}",
                        severity="error" if self.strict else "warning",
                        fix="Remove or consolidate resources, or acknowledge the rule (with the reason the cost "
                        "is worth it) on each stack named or on a scope holding them all, such as the app",
                        violating_resources=[
                            cdk.PolicyViolatingResource(
                                construct_path=path, template_path=paths[path] or None, locations=[]
                            )
                            for path in overage.stacks
                        ],
                    )
                )
        return out
