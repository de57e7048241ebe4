"""The stack itself: its state, its template, and the logging override it outputs (``ComposeLogging``)."""

from __future__ import annotations

from constructs_obs.doctor import guide
from constructs_obs.doctor.discovery import log_group_names, parse_compose_logging
from constructs_obs.doctor.facts import StackFacts
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.stack import COMPLETE_STATES, ROLLED_BACK_STATES, StackInventory


def check_stack_status(inv: StackInventory) -> list[CheckResult]:
    """The stack exists (or the doctor would not run) and is in a complete state; its template is readable."""
    rows = [_stack_status_row(inv)]
    if not inv.template_read:
        rows.append(
            CheckResult(
                "stack-template",
                Status.WARN,
                inv.name,
                "the template is not JSON, so the settings it expects (retention, names of resources the stack "
                "does not list) are unknown and not checked",
                "Deploy the JSON template cdk synth writes.",
            )
        )
    return rows


def _stack_status_row(inv: StackInventory) -> CheckResult:
    events = f"aws cloudformation describe-stack-events --stack-name {inv.name} --region {inv.region}"
    reason = f": {inv.status_reason}" if inv.status_reason else ""
    if inv.status in COMPLETE_STATES:
        return CheckResult("stack", Status.PASS, inv.name, inv.status)
    if inv.status in ROLLED_BACK_STATES:
        return CheckResult(
            "stack",
            Status.WARN,
            inv.name,
            f"{inv.status}: the last deploy failed and was rolled back; the previous version is running",
            f"Find the failed resource: {events}, fix it and deploy again.",
        )
    if inv.status.endswith("_IN_PROGRESS"):
        return CheckResult(
            "stack",
            Status.FAIL,
            inv.name,
            f"{inv.status}: a deploy is still running{reason}",
            "Wait for it to finish (cdk deploy prints the progress), then run obs-doctor again.",
        )
    return CheckResult(
        "stack",
        Status.FAIL,
        inv.name,
        f"{inv.status}{reason}",
        f"The stack is not usable: find the failed resource with {events}, fix it and deploy again.",
    )


def check_logging_region(facts: StackFacts) -> list[CheckResult]:
    """The logging configuration (``ComposeLogging``) points at the stack's region and its log groups.

    Without such an output the hosts' metadata says which groups the containers use (they are the stack's, in
    its region, by construction): no row. Without either, a warning.
    """
    inv = facts.inv
    resource = "ComposeLogging output"
    value = inv.outputs.get("ComposeLogging")
    if value is None:
        if facts.hosts:
            return []
        return [
            CheckResult(
                "logging-region",
                Status.WARN,
                resource,
                "the stack has no ComposeLogging output, so the region and groups the containers log to are "
                "unknown",
                guide.region_matches(inv.region)
                + " (and awslogs-group names one of the stack's log groups).",
            )
        ]
    try:
        services = parse_compose_logging(value)
    except (ValueError, AttributeError) as error:
        return [
            CheckResult(
                "logging-region",
                Status.FAIL,
                resource,
                f"not a docker-compose logging override: {error}",
                "Output ContainerLogGroups.compose_override() rendered with Stack.to_json_string.",
            )
        ]
    groups = set(log_group_names(inv))
    rows = []
    for s in services:
        where = f"service {s.service}"
        if s.driver != "awslogs":
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"logging driver is {s.driver or 'not set'}, not awslogs",
                    guide.log_driver(s.service),
                )
            )
        if s.region != inv.region:
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"awslogs-region is {s.region or 'not set'}, but the stack and its log groups are in "
                    f"{inv.region}",
                    guide.region_matches(inv.region)
                    + " (deploy the stack to the region it was synthesized for, or synthesize it for this one).",
                )
            )
        if s.group not in groups:
            rows.append(
                CheckResult(
                    "logging-region",
                    Status.FAIL,
                    where,
                    f"awslogs-group {s.group or '(not set)'} is not a log group of this stack",
                    f"Point it at one of: {', '.join(sorted(groups)) or 'none (the stack has no log group)'}.",
                )
            )
    if not rows:
        names = ", ".join(s.service for s in services)
        rows.append(
            CheckResult(
                "logging-region",
                Status.PASS,
                "ComposeLogging",
                f"{len(services)} services log to the stack's groups in {inv.region}: {names}",
            )
        )
    return rows
