"""What moto 5.2 does not emulate and the doctor calls, filled in inside moto so every boto3 session sees it.

moto has no State Manager associations, no managed instances (``DescribeInstanceInformation``) (``CreateAssociation`` and the describe calls: "has not been
implemented"), no alarm action history (``DescribeAlarmHistory``), no IAM policy simulator
(``SimulatePrincipalPolicy``) and no ``TestMetricFilter``. Importing this module adds, to moto's own response
classes and CloudFormation models (so the ``obs-doctor`` command's own sessions and the moto server of the same
process see them too):

- ``AWS::SSM::Association`` in moto's CloudFormation (:class:`AssociationThroughCloudFormation`): the stack lists
  the association with an id, as CloudFormation does, and its run on each target instance is recorded as
  succeeded, as ``WaitForSuccessTimeoutSeconds`` guarantees after a successful deploy. A test makes a run fail
  with :meth:`MotoGaps.fail_association` (the output the host's script printed).
- ``DescribeInstanceAssociationsStatus``, ``DescribeAssociationExecutions``, ``DescribeAssociationExecutionTargets``
  answering from those records, and ``GetCommandInvocation`` answering for a recorded run's command (else moto's).
  Shapes: AWS Systems Manager API Reference, the pages of those four actions and of ``InstanceAssociationStatusInfo``,
  ``AssociationExecution``, ``AssociationExecutionTarget`` and ``OutputSource``.
- ``DescribeAlarmHistory`` answering from :meth:`MotoGaps.add_alarm_history` (empty by default: nothing failed).
  Shape: Amazon CloudWatch API Reference, ``DescribeAlarmHistory`` and ``AlarmHistoryItem``.
- ``SimulatePrincipalPolicy``: the role's inline and attached policies in moto, evaluated for each action and
  resource with :func:`constructs_obs.testing.policy.evaluate` (an explicit Deny wins, else an Allow is needed), as IAM's
  simulator does for identity policies (IAM API Reference, ``SimulatePrincipalPolicy`` and ``EvaluationResult``).
  moto's ``Fn::GetAtt LogGroup.Arn`` lacks CloudFormation's ``:*`` suffix; the emulator reads such a log-group
  ARN as CloudFormation writes it. The doctor's own evaluation of the answer is what the tests check.
- ``DescribeInstanceInformation`` answering from :meth:`MotoGaps.register_instance`: moto has no SSM agents, so
  a test says which instances registered (``obs-doctor preflight``).
- ``TestMetricFilter`` answering ``UnknownOperationException``, as an endpoint without the operation does: the
  doctor then tests patterns with the library's evaluator (the TestMetricFilter path is tested with botocore's
  Stubber, in ``tests/doctor/test_stubbed.py``).

All records live in :data:`GAPS`, keyed by account and region like moto's backends; the fixtures reset it with
moto's own state.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from moto.logs.responses import LogsResponse
from moto.ssm.responses import SimpleSystemManagerResponse

from constructs_obs.testing.policy import Request, evaluate

#: The setup script's step marker (``constructs_obs.host.setup.render_script``).
STEP = "== constructs-obs setup: "


@dataclass
class Run:
    """One run of an association on one instance, and the Run Command invocation that carried it."""

    association_id: str
    instance_id: str
    execution_id: str
    command_id: str
    at: datetime
    status: str = "Success"
    detailed_status: str = "Success"
    summary: str = "1 out of 1 plugin processed, 1 success, 0 failed, 0 timedout, 0 skipped. "
    stdout: str = ""
    stderr: str = ""
    error_code: str = ""


@dataclass
class Association:
    """An association CloudFormation created (through :class:`AssociationThroughCloudFormation`)."""

    association_id: str
    name: str
    instance_ids: list[str]
    created: datetime
    runs: dict[str, Run] = field(default_factory=dict)
    #: The association's current version (``DescribeAssociation``); every run above ran version 1.
    version: str = "1"
    #: Whether it is a host's setup (the host's termination-protection association is not).
    setup: bool = True


@dataclass
class MotoGaps:
    """The records behind the emulated calls, per (account, region)."""

    associations: dict[tuple[str, str], dict[str, Association]] = field(default_factory=dict)
    alarm_history: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    managed_instances: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget everything (a new moto account)."""
        self.associations.clear()
        self.alarm_history.clear()
        self.managed_instances.clear()

    def register_instance(self, account: str, region: str, instance_id: str, *, ping: str = "Online") -> None:
        """Record ``instance_id``'s SSM agent as registered (``PingStatus`` ``ping``), as the agent does once its
        role lets it call ``ssm:UpdateInstanceInformation``."""
        self.managed_instances.setdefault((account, region), {})[instance_id] = {
            "InstanceId": instance_id,
            "PingStatus": ping,
            "LastPingDateTime": datetime.now(timezone.utc).isoformat(),
            "AgentVersion": "3.3.1142.0",
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "PlatformVersion": "2023",
            "ResourceType": "EC2Instance",
        }

    def association_on(self, instance_id: str) -> Association:
        """The setup association that targets ``instance_id``."""
        for by_id in self.associations.values():
            for association in by_id.values():
                if instance_id in association.instance_ids and association.setup:
                    return association
        raise KeyError(f"no association targets {instance_id}")

    def fail_association(
        self, instance_id: str, *, stdout: str, stderr: str, error_code: str = "", at: datetime | None = None
    ) -> Run:
        """Record a new run of the instance's association that failed with this output."""
        association = self.association_on(instance_id)
        run = Run(
            association.association_id,
            instance_id,
            execution_id=str(uuid.uuid4()),
            command_id=str(uuid.uuid4()),
            at=at or datetime.now(timezone.utc),
            status="Failed",
            detailed_status="Failed",
            summary="1 out of 1 plugin processed, 0 success, 1 failed, 0 timedout, 0 skipped. The operation "
            "aws:runShellScript failed with ExitCode 1.",
            stdout=stdout,
            stderr=stderr,
            error_code=error_code,
        )
        association.runs[instance_id] = run
        return run

    def add_alarm_history(self, account: str, region: str, item: dict[str, Any]) -> None:
        """Add one ``AlarmHistoryItem`` (as the API returns it) to an alarm's history."""
        self.alarm_history.setdefault((account, region), {}).setdefault(item["AlarmName"], []).append(item)

    def runs(self) -> list[Run]:
        """Every recorded run."""
        return [r for by_id in self.associations.values() for a in by_id.values() for r in a.runs.values()]


#: The one registry of this process.
GAPS = MotoGaps()


# --- AWS::SSM::Association in moto's CloudFormation -----------------------------------------------------------


def tagged_instances(account_id: str, region_name: str, targets: list[dict[str, Any]]) -> list[str]:
    """The instances a ``tag:KEY`` target matches when the association is created: those in moto's EC2 backend
    with that tag and one of the values (a fleet's ``tag:aws:autoscaling:groupName``, which moto's Auto Scaling
    puts on the instances it launches, as Auto Scaling does). State Manager also applies the association to
    instances tagged later; the tests record those runs with :meth:`MotoGaps.run_on`."""
    found = []
    for target in targets:
        key = str(target.get("Key", ""))
        if not key.startswith("tag:"):
            continue
        values = {str(v) for v in target.get("Values", [])}
        for instance in ec2_backends[account_id][region_name].all_instances():
            tags = {t["key"]: t["value"] for t in instance.get_tags()}
            if tags.get(key[4:]) in values and instance.id not in found:
                found.append(instance.id)
    return found


class AssociationThroughCloudFormation(CloudFormationModel):
    """``AWS::SSM::Association``: recorded in :data:`GAPS` with a new association id (its physical id), and one
    successful run per target instance."""

    def __init__(self, association: Association) -> None:
        self.association = association

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SSM::Association"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AssociationName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "AssociationId"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> AssociationThroughCloudFormation:
        props = cloudformation_json["Properties"]
        instances = [
            str(value)
            for target in props.get("Targets", [])
            if target.get("Key") == "InstanceIds"
            for value in target.get("Values", [])
        ]
        instances += [str(props["InstanceId"])] if props.get("InstanceId") else []
        instances += tagged_instances(account_id, region_name, props.get("Targets", []))
        now = datetime.now(timezone.utc)
        association = Association(str(uuid.uuid4()), props["Name"], instances, now)
        # The host's setup is the association that carries its metadata (the termination-protection one does not).
        association.setup = "ConstructsObs::Host" in (cloudformation_json.get("Metadata") or {})
        for instance in instances:
            association.runs[instance] = Run(
                association.association_id,
                instance,
                execution_id=str(uuid.uuid4()),
                command_id=str(uuid.uuid4()),
                at=now,
            )
        GAPS.associations.setdefault((account_id, region_name), {})[association.association_id] = association
        return cls(association)

    @property
    def physical_resource_id(self) -> str:
        return self.association.association_id

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "AssociationId":
            return self.association.association_id
        raise UnformattedGetAttTemplateException()


# --- SSM ---------------------------------------------------------------------------------------------------------


def _associations(response: Any) -> dict[str, Association]:
    return GAPS.associations.get((response.current_account, response.region), {})


def describe_instance_associations_status(self: Any) -> ActionResult:
    instance_id = self._get_param("InstanceId")
    infos = []
    for association in _associations(self).values():
        run = association.runs.get(instance_id)
        if run is None:
            continue
        info: dict[str, Any] = {
            "AssociationId": association.association_id,
            "Name": association.name,
            "DocumentVersion": "$DEFAULT",
            "AssociationVersion": "1",
            "InstanceId": instance_id,
            "ExecutionDate": run.at,
            "Status": run.status,
            "DetailedStatus": run.detailed_status,
            "ExecutionSummary": run.summary,
        }
        if run.error_code:
            info["ErrorCode"] = run.error_code
        infos.append(info)
    return ActionResult({"InstanceAssociationStatusInfos": infos})


def describe_association(self: Any) -> ActionResult:
    """``ssm:DescribeAssociation`` (not in moto): the association at version 1, the version every run above ran."""
    association = _associations(self).get(self._get_param("AssociationId"))
    if association is None:
        raise JsonRESTError("AssociationDoesNotExist", "The specified association does not exist.")
    return ActionResult(
        {
            "AssociationDescription": {
                "AssociationId": association.association_id,
                "Name": association.name,
                "AssociationVersion": association.version,
            }
        }
    )


def describe_association_executions(self: Any) -> ActionResult:
    association = _associations(self).get(self._get_param("AssociationId"))
    executions = [
        {
            "AssociationId": run.association_id,
            "AssociationVersion": "1",
            "ExecutionId": run.execution_id,
            "Status": run.status,
            "DetailedStatus": run.detailed_status,
            "CreatedTime": run.at,
            "LastExecutionDate": run.at,
            "ResourceCountByStatus": json.dumps({run.status: 1}),
        }
        for run in (association.runs.values() if association else [])
    ]
    return ActionResult({"AssociationExecutions": executions})


def describe_association_execution_targets(self: Any) -> ActionResult:
    association = _associations(self).get(self._get_param("AssociationId"))
    execution = self._get_param("ExecutionId")
    wanted = {f["Value"] for f in self._get_param("Filters", []) if f.get("Key") == "ResourceId"}
    targets = [
        {
            "AssociationId": run.association_id,
            "AssociationVersion": "1",
            "ExecutionId": run.execution_id,
            "ResourceId": run.instance_id,
            "ResourceType": "ManagedInstance",
            "Status": run.status,
            "DetailedStatus": run.detailed_status,
            "LastExecutionDate": run.at,
            "OutputSource": {"OutputSourceId": run.command_id, "OutputSourceType": "RunCommand"},
        }
        for run in (association.runs.values() if association else [])
        if run.execution_id == execution and (not wanted or run.instance_id in wanted)
    ]
    return ActionResult({"AssociationExecutionTargets": targets})


_MOTO_GET_COMMAND_INVOCATION = SimpleSystemManagerResponse.get_command_invocation


def get_command_invocation(self: Any) -> ActionResult:
    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    for run in GAPS.runs():
        if (run.command_id, run.instance_id) == (command_id, instance_id):
            return ActionResult(
                {
                    "CommandId": command_id,
                    "InstanceId": instance_id,
                    "DocumentName": "AWS-RunShellScript",
                    "DocumentVersion": "1",
                    "PluginName": "aws:runShellScript",
                    "ResponseCode": 0 if run.status == "Success" else 1,
                    "ExecutionStartDateTime": run.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "ExecutionEndDateTime": run.at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "Status": run.status,
                    "StatusDetails": run.detailed_status,
                    "StandardOutputContent": run.stdout,
                    "StandardErrorContent": run.stderr,
                }
            )
    return _MOTO_GET_COMMAND_INVOCATION(self)  # type: ignore[no-any-return]


# --- CloudWatch, IAM, Logs ---------------------------------------------------------------------------------------


def _as_datetime(value: Any) -> datetime | None:
    """A request's timestamp parameter, as an aware datetime (moto hands them over naive, in UTC)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (TypeError, ValueError):
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def describe_alarm_history(self: Any) -> ActionResult:
    history = GAPS.alarm_history.get((self.current_account, self.region), {})
    name = self._get_param("AlarmName")
    kind = self._get_param("HistoryItemType")
    start, end = _as_datetime(self._get_param("StartDate")), _as_datetime(self._get_param("EndDate"))
    items = [i for alarm, found in history.items() if name in (None, alarm) for i in found]
    items = [
        i
        for i in items
        if (kind is None or i["HistoryItemType"] == kind)
        and (start is None or i["Timestamp"] >= start)
        and (end is None or i["Timestamp"] <= end)
    ]
    descending = self._get_param("ScanBy", "TimestampDescending") == "TimestampDescending"
    items.sort(key=lambda i: i["Timestamp"], reverse=descending)
    return ActionResult({"AlarmHistoryItems": items[: int(self._get_param("MaxRecords") or 100)]})


_LOG_GROUP_ARN = re.compile(r"^arn:[^:]+:logs:[^:]*:[^:]*:log-group:[^:*]+$")


def _as_cloudformation_writes(document: Any) -> dict[str, Any]:
    policy: dict[str, Any] = json.loads(document) if isinstance(document, str) else dict(document)
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        statement.setdefault(
            "Principal", "*"
        )  # identity policies apply to the principal they are attached to
        for key in ("Resource", "NotResource"):
            value = statement.get(key)
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                statement[key] = [f"{v}:*" if _LOG_GROUP_ARN.match(v) else v for v in value]
    return policy


def _role_policies(account: str, role_arn: str) -> list[tuple[str, dict[str, Any]]]:
    role = iam_backends[account]["global"].get_role(role_arn.rsplit("/", 1)[-1])
    policies = [(name, _as_cloudformation_writes(doc)) for name, doc in role.policies.items()]
    for arn, managed in role.managed_policies.items():
        version = next(v for v in managed.versions if v.is_default)
        policies.append((arn, _as_cloudformation_writes(version.document)))
    return policies


def simulate_principal_policy(self: Any) -> ActionResult:
    role_arn = self._get_param("PolicySourceArn")
    policies = _role_policies(self.current_account, role_arn)
    context: dict[str, Any] = {}
    for entry in self._get_param("ContextEntries", []) or []:
        values = entry.get("ContextKeyValues", [])
        context[entry["ContextKeyName"]] = values if len(values) != 1 else values[0]
    results = []
    for action in self._get_param("ActionNames", []):
        for resource in self._get_param("ResourceArns", []) or ["*"]:
            request = Request(action=action, resource=resource, principal_arn=role_arn, context=context)
            decisions = [(name, evaluate(policy, request)) for name, policy in policies]
            denied = [name for name, d in decisions if d.reason.startswith("explicitly denied")]
            allowed = [name for name, d in decisions if d.allowed]
            decision = "explicitDeny" if denied else "allowed" if allowed else "implicitDeny"
            matched = denied or allowed
            results.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": decision,
                    "MatchedStatements": [
                        {"SourcePolicyId": name, "SourcePolicyType": "IAM Policy"} for name in matched
                    ],
                    "MissingContextValues": [],
                }
            )
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def describe_instance_information(self: Any) -> ActionResult:
    """``DescribeInstanceInformation`` with an ``InstanceIds`` filter, from :meth:`MotoGaps.register_instance`
    (Systems Manager API Reference, ``DescribeInstanceInformation`` and ``InstanceInformation``)."""
    wanted: set[str] = set()
    for item in self._get_param("Filters", []) or []:
        if item.get("Key") == "InstanceIds":
            wanted |= set(item.get("Values", []))
    known = GAPS.managed_instances.get((self.current_account, self.region), {})
    found = [info for instance_id, info in known.items() if not wanted or instance_id in wanted]
    return ActionResult({"InstanceInformationList": found})


def _test_metric_filter(self: Any) -> None:
    raise JsonRESTError(
        "UnknownOperationException", "TestMetricFilter is not available here (moto does not implement it)"
    )


def install() -> None:
    """Add the emulated calls to moto (idempotent)."""
    for cls, method in (
        (SimpleSystemManagerResponse, describe_instance_associations_status),
        (SimpleSystemManagerResponse, describe_association),
        (SimpleSystemManagerResponse, describe_association_executions),
        (SimpleSystemManagerResponse, describe_association_execution_targets),
        (SimpleSystemManagerResponse, get_command_invocation),
        (CloudWatchResponse, describe_alarm_history),
        (IamResponse, simulate_principal_policy),
        (SimpleSystemManagerResponse, describe_instance_information),
    ):
        setattr(cls, method.__name__, method)
    LogsResponse.test_metric_filter = _test_metric_filter  # type: ignore[attr-defined]
    for cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
        cached.cache_clear()  # moto caches its model list; let it see AssociationThroughCloudFormation


install()


def history_item(
    alarm: str, summary: str, at: datetime, *, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``AlarmHistoryItem`` of type ``Action``."""
    return {
        "AlarmName": alarm,
        "AlarmType": "MetricAlarm",
        "Timestamp": at,
        "HistoryItemType": "Action",
        "HistorySummary": summary,
        "HistoryData": json.dumps(data or {}),
    }


__all__ = ["GAPS", "STEP", "MotoGaps", "history_item", "install"]
