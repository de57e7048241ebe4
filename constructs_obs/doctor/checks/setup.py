"""The setup reached the host: each host's setup association (SSM State Manager) succeeded on its instance.

The library installs the CloudWatch agent and the docker-events service with one ``AWS-RunShellScript``
association per host (:mod:`constructs_obs.host.setup`). ``ssm:DescribeInstanceAssociationsStatus`` gives its status
on the instance. When it failed, the output of the failed run is read: the association's latest execution
(``ssm:DescribeAssociationExecutions``), its target on this instance (``ssm:DescribeAssociationExecutionTargets``,
whose output source is a Run Command invocation) and that invocation (``ssm:GetCommandInvocation``): the script
prints ``== constructs-obs setup: <step>`` before each step, so the last such line names the step that failed,
and its standard error says why.

A setup that has not run yet, or is still running, is ``PENDING`` while it may still finish: the association is
(re)applied when the instance launches or the stack changes, and may take its timeout from then
(:func:`~constructs_obs.doctor.windows.setup_expected_by`); after that it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import RUN_SHELL_SCRIPT_DOCUMENT, SETUP_STEP_MARKER
from constructs_obs.doctor.facts import (
    Host,
    InstanceState,
    SetupRun,
    StackFacts,
    clock_time,
    could_not_check,
    error_code,
    when,
)
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import SETUP_RUNNING, pending_row, setup_expected_by

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


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


def _stale_version(ssm: SSMClient, association: str, status: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the version the instance last ran, the association's current version) when they differ.

    On an update CloudFormation waits until the association's overall status is Success; a status still showing
    the previous run's success lets the deploy go on before the new setup ran (hashicorp/terraform-provider-aws
    #31175). The instance's status names the version it ran (``AssociationVersion``).
    """
    ran = status.get("AssociationVersion")
    if not ran:
        return None
    try:
        current = ssm.describe_association(AssociationId=association)["AssociationDescription"].get(
            "AssociationVersion"
        )
    except (ClientError, BotoCoreError):
        return None
    if current and str(current) != str(ran):
        return str(ran), str(current)
    return None


def _window(facts: StackFacts, host: Host, state: InstanceState | None) -> datetime | None:
    """When the host's setup should have finished: its timeout after the instance launched or the stack last
    changed (whichever is later); None when neither is known."""
    since = [t for t in (state.launch_time if state else None, facts.inv.updated_at) if t is not None]
    return setup_expected_by(max(since), host.setup_timeout_seconds) if since else None


def _row(
    ssm: SSMClient, facts: StackFacts, host: Host, instance_id: str, window: datetime | None, now: datetime
) -> tuple[CheckResult, SetupRun]:
    region = facts.region
    waiting = window is not None and now < window
    try:
        statuses = _statuses(ssm, instance_id)
    except ClientError as error:
        if error_code(error) == "InvalidInstanceId":
            run = SetupRun(instance_id, "", expected_by=window)
            if waiting and window is not None:
                detail = (
                    "the instance's SSM agent has not registered with Systems Manager yet (it does when the "
                    "instance boots), so the setup association has not run"
                )
                return pending_row("setup", instance_id, detail, window), run
            return CheckResult(
                "setup",
                Status.FAIL,
                instance_id,
                "the instance is not managed by Systems Manager, so the setup association (CloudWatch agent, "
                "docker-events) cannot run on it",
                "AWS Console → Systems Manager → Fleet Manager must list the instance as Online: its SSM agent must "
                "run and its role allow Systems Manager (the instance-profile row).",
            ), run
        return could_not_check("setup", instance_id, error), SetupRun(instance_id, "")
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
        run = SetupRun(instance_id, "", expected_by=window)
        if waiting and window is not None:
            detail = f"the setup association {association} has not run on {instance_id} yet"
            return pending_row("setup", instance_id, detail, window), run
        return CheckResult(
            "setup",
            Status.FAIL,
            instance_id,
            f"the setup association {association} has not run on {instance_id}: Systems Manager has no status "
            "for it",
            "Check the instance is Online in Systems Manager → Fleet Manager (its SSM agent runs and its role "
            f"allows State Manager); then {describe}",
        ), run
    status = mine[0]
    state = str(status.get("Status", ""))
    executed = status.get("ExecutionDate")
    at = when(executed) if executed else "at an unknown time"
    if state == "Success":
        stale = _stale_version(ssm, association, status)
        if stale:
            detail = (
                f"setup association {association} succeeded {at}, but that run was version {stale[0]} and the "
                f"association is at version {stale[1]}: the current setup has not run on {instance_id}"
            )
            run = SetupRun(instance_id, "Pending", executed, expected_by=window)
            if waiting and window is not None:
                return pending_row("setup", instance_id, detail, window), run
            return CheckResult(
                "setup",
                Status.FAIL,
                instance_id,
                f"{detail} (the deploy may have gone on after the previous run's success)",
                f"Run it now: aws ssm start-associations-once --association-ids {association} --region {region}",
            ), run
        return (
            CheckResult("setup", Status.PASS, instance_id, f"setup association {association} succeeded {at}"),
            SetupRun(instance_id, state, executed),
        )
    if state in SETUP_RUNNING:
        run = SetupRun(instance_id, state, executed, expected_by=window)
        detail = f"setup association {association} is {state.lower()} ({status.get('DetailedStatus', state)}, since {at})"
        if waiting and window is not None:
            return pending_row("setup", instance_id, detail, window), run
        if window is None:
            return CheckResult(
                "setup",
                Status.WARN,
                instance_id,
                detail,
                "Wait a few minutes (a new host's SSM agent registers first), then run obs-doctor again.",
            ), run
        return CheckResult(
            "setup",
            Status.FAIL,
            instance_id,
            f"{detail}: still not done at {clock_time(window)}, the end of its timeout",
            f"It is stuck: {describe}, and Systems Manager → State Manager → the association → Execution history.",
        ), run
    return _failed_row(ssm, facts, instance_id, association, status), SetupRun(instance_id, state, executed)


def _failed_row(
    ssm: SSMClient, facts: StackFacts, instance_id: str, association: str, status: Mapping[str, Any]
) -> CheckResult:
    region = facts.region
    describe = f"aws ssm describe-association --association-id {association} --region {region}"
    state = str(status.get("Status", ""))
    at = when(status["ExecutionDate"]) if "ExecutionDate" in status else "at an unknown time"
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


def check_setup(
    ssm: SSMClient, facts: StackFacts, states: Mapping[str, InstanceState], now: datetime
) -> tuple[list[CheckResult], dict[str, SetupRun]]:
    """Each host's setup association succeeded on its instance (with the failed step and its error otherwise).

    Returns the rows and what Systems Manager said of each instance's setup, for the checks whose data the
    setup brings (the agent's, docker-events').
    """
    rows: list[CheckResult] = []
    runs: dict[str, SetupRun] = {}
    for host in facts.hosts:
        if not host.instance_id:
            continue
        window = _window(facts, host, states.get(host.instance_id))
        row, runs[host.instance_id] = _row(ssm, facts, host, host.instance_id, window, now)
        rows.append(row)
    return rows, runs
