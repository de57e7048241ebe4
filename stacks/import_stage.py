"""The import stage: the first template of the staging stack, holding only what `cdk import` adopts.

Built by its own app, ``import_app.py`` (never by ``app.py``): ``cdk import --app "python import_app.py"``. A
deploy of this template over the full stack would delete everything it leaves out, so no context key of the main
app can produce it (tests/test_import_stage.py).

It holds the three container log groups and the two alarms Terraform created, each under the logical id the full
stack gives it (read from the full stack, built the way ``app.py`` builds it), each with ``DeletionPolicy: Retain``
(CloudFormation imports only resources that have a ``DeletionPolicy``, CloudFormation User Guide, "Import AWS
resources into a CloudFormation stack"), and each **described as it is**: the properties come from what
``aws logs describe-log-groups`` and ``aws cloudwatch describe-alarms`` print, saved beside the stack
(docs/migration.md). An import changes nothing in AWS and records the template's properties as the resource's;
the next deploy then updates each property that the full stack sets differently, in place: an alarm's update is
``PutMetricAlarm`` on the same name, so an alarm exists at every moment (``AlarmName`` is the alarm's primary
identifier and create-only in its resource schema; only a new name would replace it). A template that described
an alarm otherwise (say, without its real threshold) would leave that property as it is in AWS after the deploy.

The import refuses to go on when the full stack keeps a log group's events for a shorter time than the group keeps
them now: its next deploy would set the shorter retention, and CloudWatch Logs deletes every older event at once
(CloudWatch Logs API Reference, PutRetentionPolicy). Set ``LOG_RETENTION`` in stacks/staging.py first
(``RetentionDays.INFINITE`` for groups that never expire).

CloudFormation's resource types and the identifier each is imported by (CloudFormation User Guide, "Resource type
support"; the primary identifiers are those of the resource schemas cfn-lint ships):
``AWS::Logs::LogGroup`` by ``LogGroupName``, ``AWS::CloudWatch::Alarm`` by ``AlarmName``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import CfnDeletionPolicy, CfnResource, Stack, assertions
from constructs import Construct

#: The files the team saves before the import (docs/migration.md), in the folder given to the import app.
LOG_GROUPS_FILE = "log-groups.json"
ALARMS_FILE = "alarms.json"

#: Resource type -> the property `cdk import` identifies an existing resource by.
IDENTIFIERS = {"AWS::Logs::LogGroup": "LogGroupName", "AWS::CloudWatch::Alarm": "AlarmName"}

#: ``describe-alarms`` field -> ``AWS::CloudWatch::Alarm`` property (the API's names; the template's are the same).
_ALARM_FIELDS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
#: Keys of a metric-math query as ``describe-alarms`` prints them -> the template's.
_QUERY_FIELDS = ("Id", "Expression", "Label", "ReturnData", "Period", "AccountId", "MetricStat")


class ImportStageError(ValueError):
    """The saved descriptions cannot be imported as they are: the message says which and what to do."""


@dataclass(frozen=True)
class CurrentState:
    """The resources as AWS describes them today: log group name -> group, alarm name -> alarm."""

    log_groups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    alarms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: Path) -> CurrentState:
        """Read ``log-groups.json`` and ``alarms.json`` (the AWS CLI's JSON output) from ``folder``."""
        documents = {}
        for name in (LOG_GROUPS_FILE, ALARMS_FILE):
            path = folder / name
            if not path.is_file():
                raise ImportStageError(
                    f"{path} is missing: save what AWS describes first (docs/migration.md, step 2): "
                    + (
                        "aws logs describe-log-groups --log-group-name-prefix /ai-tutor/ --region us-east-2"
                        if name == LOG_GROUPS_FILE
                        else "aws cloudwatch describe-alarms --alarm-names ai-tutor-staging-cpu-high "
                        "ai-tutor-staging-status-check --region us-east-2"
                    )
                    + f" > {path}"
                )
            try:
                documents[name] = json.loads(path.read_text())
            except ValueError as error:
                raise ImportStageError(f"{path} is not the AWS CLI's JSON output: {error}") from None
        groups = documents[LOG_GROUPS_FILE].get("logGroups")
        alarms = documents[ALARMS_FILE].get("MetricAlarms")
        if not isinstance(groups, list) or not isinstance(alarms, list):
            raise ImportStageError(
                f"{folder}: expected describe-log-groups output with logGroups and describe-alarms output with "
                "MetricAlarms"
            )
        return cls(
            log_groups={str(g["logGroupName"]): g for g in groups},
            alarms={str(a["AlarmName"]): a for a in alarms},
        )


def log_group_properties(group: Mapping[str, Any]) -> dict[str, Any]:
    """``AWS::Logs::LogGroup`` properties of a group as ``describe-log-groups`` prints it: no ``RetentionInDays``
    for a group that never expires."""
    properties: dict[str, Any] = {"LogGroupName": group["logGroupName"]}
    if group.get("retentionInDays") is not None:
        properties["RetentionInDays"] = int(group["retentionInDays"])
    if group.get("kmsKeyId"):
        properties["KmsKeyId"] = group["kmsKeyId"]
    if group.get("logGroupClass"):
        properties["LogGroupClass"] = group["logGroupClass"]
    return properties


def alarm_properties(alarm: Mapping[str, Any]) -> dict[str, Any]:
    """``AWS::CloudWatch::Alarm`` properties of an alarm as ``describe-alarms`` prints it (actions included, empty
    lists too: Terraform's alarms have none)."""
    properties = {key: alarm[key] for key in _ALARM_FIELDS if alarm.get(key) is not None and key != "Metrics"}
    # describe-alarms prints "Metrics": [] for an alarm on one metric; the template has Metrics only for metric math
    # (and then no MetricName, Dimensions or Period).
    if alarm.get("Metrics"):
        properties["Metrics"] = [{k: q[k] for k in _QUERY_FIELDS if k in q} for q in alarm["Metrics"]]
    return properties


def _days(retention: int | None) -> str:
    return "never expire" if retention is None else f"{retention} days"


@dataclass(frozen=True)
class Target:
    """One resource of the full stack to import: its logical id, type, and physical name."""

    logical_id: str
    resource_type: str
    name: str
    properties: Mapping[str, Any]


def targets(full: Stack) -> list[Target]:
    """The log groups and alarms of the full stack ``full`` with a literal name: what an import can adopt (read from
    its synthesized template)."""
    template = assertions.Template.from_stack(full).to_json()
    found = []
    for logical_id, resource in template["Resources"].items():
        key = IDENTIFIERS.get(resource["Type"])
        name = resource.get("Properties", {}).get(key) if key else None
        if isinstance(name, str):
            found.append(Target(logical_id, resource["Type"], name, resource["Properties"]))
    return found


class ImportStage(Stack):
    """The resources ``current`` describes, under the logical ids the full stack gives them, and nothing else.

    Attributes:
        resource_mapping: logical id -> ``{identifier: name}``, the file ``cdk import --resource-mapping`` reads.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        full: Stack,
        current: CurrentState,
        **kwargs: Any,
    ) -> None:
        """Describe each resource of ``full`` that ``current`` holds, as ``current`` describes it.

        Args:
            scope: the import app.
            construct_id: the stack's name: the full stack's.
            full: the full stack, built as the main app builds it (only read: its logical ids and names).
            current: what AWS describes today.
            kwargs: passed to ``Stack`` (env).

        Raises:
            ImportStageError: nothing to import, or a group whose history the full stack's retention would cut.
        """
        chosen = [
            t
            for t in targets(full)
            if (t.resource_type == "AWS::Logs::LogGroup" and t.name in current.log_groups)
            or (t.resource_type == "AWS::CloudWatch::Alarm" and t.name in current.alarms)
        ]
        if not chosen:
            raise ImportStageError(
                f"none of the log groups {sorted(current.log_groups)} or alarms {sorted(current.alarms)} saved is "
                f"one of {full.stack_name}'s: nothing to import"
            )
        cuts = [
            f"{t.name}: {_days(current.log_groups[t.name].get('retentionInDays'))} now, "
            f"{_days(t.properties.get('RetentionInDays'))} in the stack"
            for t in chosen
            if t.resource_type == "AWS::Logs::LogGroup"
            and _shorter(
                t.properties.get("RetentionInDays"), current.log_groups[t.name].get("retentionInDays")
            )
        ]
        if cuts:
            raise ImportStageError(
                f"{full.stack_name} keeps log events for less time than the groups keep them today ("
                f"{'; '.join(cuts)}): its first deploy after the import would delete every older event. Set "
                "LOG_RETENTION in stacks/staging.py to the groups' retention (RetentionDays.INFINITE for groups that "
                "never expire) and run the import again; to cut the history on purpose, set the groups' retention "
                "with aws logs put-retention-policy first and save their description again."
            )
        super().__init__(scope, construct_id, **kwargs)
        self.resource_mapping: dict[str, dict[str, str]] = {}
        for target in chosen:
            if target.resource_type == "AWS::Logs::LogGroup":
                properties = log_group_properties(current.log_groups[target.name])
            else:
                properties = alarm_properties(current.alarms[target.name])
            resource = CfnResource(self, target.logical_id, type=target.resource_type, properties=properties)
            resource.override_logical_id(target.logical_id)
            resource.cfn_options.deletion_policy = CfnDeletionPolicy.RETAIN
            resource.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN
            self.resource_mapping[target.logical_id] = {IDENTIFIERS[target.resource_type]: target.name}


def _shorter(full: int | None, current: Any) -> bool:
    """Whether keeping events ``full`` days (None: forever) keeps less than ``current`` days (None: forever)."""
    if full is None:
        return False
    return current is None or int(current) > full
