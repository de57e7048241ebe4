"""What a synthesized stack bills in CloudWatch, compared with the always-free tier, checked at synth.

:func:`count_billables` reads a CloudFormation template (a dict, as synthesized) and returns a
:class:`BillableUsage`: alarm metrics, custom metrics, dashboards and their metrics, detailed monitoring.
:meth:`BillableUsage.overages` compares it with :data:`FREE_TIER` (10 standard-resolution alarm metrics, 10
custom metrics, 3 dashboards of up to 50 metrics each) and says what is over, by how much, and about what it
costs a month at us-east-1/us-east-2 list prices.

:class:`FreeTierCheck` is a CDK validation plugin that runs this on every stack template at synth::

    Validations.of(app).add_plugins(FreeTierCheck())             # warnings in the synth output
    Validations.of(app).add_plugins(FreeTierCheck(strict=True))  # synth fails instead

A stack that goes over on purpose acknowledges the rule, for example
``Validations.of(stack).acknowledge(Acknowledgment(id="ConstructsObsFreeTier::alarm-metrics", reason="..."))``.

What is counted, per stack (the free tier itself is per account and Region: add up the stacks sharing one):

- ``AWS::CloudWatch::Alarm``: one alarm metric per metric it watches (a metric-math alarm counts each metric,
  an anomaly-detection alarm three); alarms with a period under 60 seconds are high-resolution and billed from
  the first. ``AWS::CloudWatch::CompositeAlarm``: billed from the first.
- Custom metrics: each distinct namespace/name/dimension-keys of ``AWS::Logs::MetricFilter`` transformations
  (a filter with dimensions publishes one metric per distinct value: it counts as one here and is flagged), plus
  the metrics a resource declares under the metadata key :data:`CUSTOM_METRICS_METADATA_KEY` (the CloudWatch
  agent's, see :mod:`constructs_obs.agent`), plus EC2 detailed monitoring, billed like custom metrics: 7 metrics
  per instance (``AWS::EC2::Instance`` ``Monitoring: true``, a launch template with monitoring enabled, or an
  Auto Scaling launch configuration, where it is on unless turned off).
- ``AWS::CloudWatch::Dashboard`` and the metrics on each (a metric line, or an alarm graph, counts one).

Metrics that applications publish themselves (``PutMetricData`` from code, embedded metric format) are not in a
template and not counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import jsii

from constructs_obs.agent import CUSTOM_METRICS_METADATA_KEY


@dataclass(frozen=True)
class FreeTierLimits:
    """What the CloudWatch free tier covers each month."""

    alarm_metrics: int = 10
    custom_metrics: int = 10
    dashboards: int = 3
    metrics_per_dashboard: int = 50


#: The always-free tier (AWS pricing, as published).
FREE_TIER = FreeTierLimits()

#: Monthly list prices in USD (us-east-1 and us-east-2), beyond the free tier.
PRICE_PER_ALARM_METRIC = 0.10
PRICE_PER_HIGH_RESOLUTION_ALARM_METRIC = 0.30
PRICE_PER_COMPOSITE_ALARM = 0.50
PRICE_PER_CUSTOM_METRIC = 0.30
PRICE_PER_DASHBOARD = 3.00

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
)


@dataclass(frozen=True)
class CustomMetric:
    """One custom metric a stack publishes: namespace, name, dimension keys, and the resource behind it."""

    namespace: str
    metric_name: str
    dimensions: tuple[str, ...]
    source: str
    per_dimension_value: bool = False


@dataclass(frozen=True)
class DashboardUsage:
    """A dashboard and the number of metrics it shows."""

    logical_id: str
    metrics: int


@dataclass(frozen=True)
class Overage:
    """One way a stack exceeds the free tier."""

    rule: str
    description: str
    used: int
    free: int
    monthly_usd: float
    resources: tuple[str, ...]

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


def count_billables(template: Mapping[str, Any]) -> BillableUsage:
    """What ``template`` (a synthesized CloudFormation template) bills in CloudWatch."""
    alarms: list[str] = []
    alarm_metrics = 0
    high_res: list[str] = []
    high_res_metrics = 0
    composite: list[str] = []
    custom: dict[tuple[str, str, tuple[str, ...]], CustomMetric] = {}
    detailed: list[str] = []
    dashboards: list[DashboardUsage] = []

    def add_custom(metric: CustomMetric) -> None:
        custom.setdefault((metric.namespace, metric.metric_name, metric.dimensions), metric)

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
    )


@jsii.implements(cdk.IPolicyValidationPlugin)
class FreeTierCheck:
    """A CDK validation plugin: each stack's CloudWatch usage against the free tier, at every synth.

    Over the free tier, each overage is a violation naming the stack, what is over, by how much and about what
    it costs, with the resources behind it: a warning (synth goes on), or with ``strict`` an error (synth
    fails). Acknowledge a rule on a construct to accept it: ``ConstructsObsFreeTier::<rule>`` with a reason.
    """

    def __init__(self, *, strict: bool = False, limits: FreeTierLimits = FREE_TIER) -> None:
        """Args: strict: fail synth instead of warning. limits: the free tier to compare with."""
        self.strict = strict
        self.limits = limits

    @property
    def name(self) -> str:
        """The plugin's name in the validation report."""
        return PLUGIN_NAME

    @property
    def version(self) -> str:
        """The plugin's version."""
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        """The rules it evaluates."""
        return list(RULES)

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        """Count each stack template and report what is over the free tier."""
        violations: list[cdk.PolicyViolation] = []
        for stack in context.stack_templates:
            with open(stack.template_path, encoding="utf-8") as handle:
                template = json.load(handle)
            violations.extend(self.violations(stack.stack_construct_path, stack.template_path, template))
        return cdk.PolicyValidationPluginReport(
            success=not (self.strict and violations), violations=violations
        )

    def violations(
        self, stack_path: str, template_path: str, template: Mapping[str, Any]
    ) -> list[cdk.PolicyViolation]:
        """The violations of one stack template."""
        return [
            cdk.PolicyViolation(
                rule_name=overage.rule,
                description=f"{stack_path}: {overage.description}",
                severity="error" if self.strict else "warning",
                fix="Remove or consolidate resources, or acknowledge the cost: "
                f"Validations.of(construct).acknowledge(Acknowledgment(id='{PLUGIN_NAME}::{overage.rule}', "
                "reason=...))",
                violating_resources=_resources(overage.resources, template_path),
            )
            for overage in count_billables(template).overages(self.limits)
        ]


def _resources(logical_ids: Iterable[str], template_path: str) -> Sequence[cdk.PolicyViolatingResource]:
    return [
        cdk.PolicyViolatingResource(
            resource_logical_id=logical_id, template_path=template_path, locations=[""]
        )
        for logical_id in logical_ids
    ]
