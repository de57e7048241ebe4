"""The setup reached the host: each host's setup association (SSM State Manager) succeeded on its instance.

The library installs the CloudWatch agent and the docker-events service with one ``AWS-RunShellScript``
association per host (:mod:`constructs_obs.host.setup`). ``ssm:DescribeInstanceAssociationsStatus`` gives its status
on the instance. When it failed, the output of the failed run is read: the association's latest execution
(``ssm:DescribeAssociationExecutions``), its target on this instance (``ssm:DescribeAssociationExecutionTargets``,
whose output source is a Run Command invocation) and that invocation (``ssm:GetCommandInvocation``): the script
prints ``== constructs-obs setup: <step>`` before each step, so the last such line names the step that failed,
and its standard error says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import RUN_SHELL_SCRIPT_DOCUMENT, SETUP_STEP_MARKER
from constructs_obs.doctor.facts import Host, StackFacts, could_not_check, error_code, when
from constructs_obs.doctor.report import CheckResult, Status

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

_WAITING = frozenset({"Pending", "InProgress"})


def _statuses(ssm: SSMClient, instance_id: str) -> list[dict[str, Any]]:
    statuses: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"InstanceId": instance_id}
    while True:
        page = ssm.describe_instance_associations_status(**kwargs)
        statuses += [dict(s) for s in page.get("InstanceAssociationStatusInfos", [])]
        token = page.get("NextToken")
        if not token:
            return statuses
        kwargs["NextToken"] = token


def failure_output(ssm: SSMClient, association_id: str, instance_id: str) -> tuple[str | None, str, str]:
    """(command id, the failed step, the last lines of standard error) of the association's latest run on the
    instance; ``(None, "", "")`` when Systems Manager does not have them."""
    executions = ssm.describe_association_executions(AssociationId=association_id, MaxResults=10).get(
        "AssociationExecutions", []
    )
    if not executions:
        return None, "", ""
    latest = max(executions, key=lambda e: e.get("CreatedTime") or 0)
    targets = ssm.describe_association_execution_targets(
        AssociationId=association_id,
        ExecutionId=latest.get("ExecutionId", ""),
        Filters=[{"Key": "ResourceId", "Value": instance_id}],
    ).get("AssociationExecutionTargets", [])
    source: Mapping[str, Any] = next(
        (
            t.get("OutputSource", {})
            for t in targets
            if t.get("OutputSource", {}).get("OutputSourceType") == "RunCommand"
        ),
        {},
    )
    command_id = source.get("OutputSourceId")
    if not command_id:
        return None, "", ""
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    stdout = invocation.get("StandardOutputContent", "")
    steps = [
        line.split(SETUP_STEP_MARKER, 1)[1].strip()
        for line in stdout.splitlines()
        if SETUP_STEP_MARKER in line
    ]
    stderr = [
        line.strip() for line in invocation.get("StandardErrorContent", "").splitlines() if line.strip()
    ]
    text = "; ".join(stderr[-3:])
    return command_id, (steps[-1] if steps else ""), (text if len(text) <= 400 else "..." + text[-397:])


def _row(ssm: SSMClient, facts: StackFacts, host: Host, instance_id: str) -> CheckResult:
    region = facts.region
    try:
        statuses = _statuses(ssm, instance_id)
    except ClientError as error:
        if error_code(error) == "InvalidInstanceId":
            return CheckResult(
                "setup",
                Status.FAIL,
                instance_id,
                "the instance is not managed by Systems Manager, so the setup association (CloudWatch agent, "
                "docker-events) cannot run on it",
                "AWS Console → Systems Manager → Fleet Manager must list the instance as Online: its SSM agent must "
                "run and its role allow Systems Manager (the instance-profile row).",
            )
        return could_not_check("setup", instance_id, error)
    mine = [
        s
        for s in statuses
        if (
            s.get("AssociationId") == host.association_id
            if host.association_id
            else s.get("Name") == RUN_SHELL_SCRIPT_DOCUMENT
        )
    ]
    association = host.association_id or (mine[0].get("AssociationId") if mine else None) or "(unknown)"
    describe = f"aws ssm describe-association --association-id {association} --region {region}"
    if not mine:
        return CheckResult(
            "setup",
            Status.FAIL,
            instance_id,
            f"the setup association {association} has not run on {instance_id}: Systems Manager has no status "
            "for it",
            "Check the instance is Online in Systems Manager → Fleet Manager (its SSM agent runs and its role "
            f"allows State Manager); then {describe}",
        )
    status = mine[0]
    state = str(status.get("Status", ""))
    at = when(status["ExecutionDate"]) if "ExecutionDate" in status else "at an unknown time"
    if state == "Success":
        return CheckResult(
            "setup", Status.PASS, instance_id, f"setup association {association} succeeded {at}"
        )
    if state in _WAITING:
        return CheckResult(
            "setup",
            Status.WARN,
            instance_id,
            f"setup association {association} is {state.lower()} ({status.get('DetailedStatus', state)}, since {at})",
            "Wait a few minutes (a new host's SSM agent registers first), then run obs-doctor again.",
        )
    summary = " ".join(str(status.get("ExecutionSummary") or status.get("DetailedStatus") or state).split())
    try:
        command_id, step, stderr = failure_output(ssm, association, instance_id)
    except (ClientError, BotoCoreError):
        command_id, step, stderr = None, "", ""
    what = f"step '{step}' failed" if step else summary
    why = f": {stderr}" if stderr else ""
    output = (
        f"The whole output: aws ssm get-command-invocation --command-id {command_id} --instance-id {instance_id} "
        f"--region {region}. "
        if command_id
        else f"Its output: {describe} and Systems Manager → State Manager → the association → Execution history. "
    )
    return CheckResult(
        "setup",
        Status.FAIL,
        instance_id,
        f"setup association {association} {state.lower()} on {instance_id} ({at}): {what}{why}. The CloudWatch "
        "agent or the docker-events service may be missing or outdated on the host",
        output + "Fix the cause, then run it again: aws ssm start-associations-once --association-ids "
        f"{association} --region {region} (or deploy a change).",
    )


def check_setup(ssm: SSMClient, facts: StackFacts) -> list[CheckResult]:
    """Each host's setup association succeeded on its instance (with the failed step and its error otherwise)."""
    return [_row(ssm, facts, host, host.instance_id) for host in facts.hosts if host.instance_id]
