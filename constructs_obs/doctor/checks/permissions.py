"""The role can do what the host does: ``iam:SimulatePrincipalPolicy`` on each host's instance role.

The host writes its containers' and docker-events' lines (``logs:PutLogEvents`` on each group's streams) and the
agent's metrics (``cloudwatch:PutMetricData``, with the condition key ``cloudwatch:namespace`` set to the host's
namespace). IAM's policy simulator evaluates the role's identity policies, permissions boundary and
Organizations policies for exactly those requests, so a role someone narrowed, replaced or fenced in with a
boundary or an SCP shows up here before lines and metrics go missing. (Resource policies are not involved: log
groups and metrics have none that apply.)
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor.facts import Host, StackFacts, could_not_check, error_code, plural
from constructs_obs.doctor.fleets import one_per_fleet
from constructs_obs.doctor.report import CheckResult, Status

PUT_LOG_EVENTS = "logs:PutLogEvents"
PUT_METRIC_DATA = "cloudwatch:PutMetricData"


def stream_arn(facts: StackFacts, group: str) -> str:
    """The ARN of any stream of ``group`` (PutLogEvents is authorized on the log stream)."""
    return f"arn:{facts.partition}:logs:{facts.region}:{facts.account}:log-group:{group}:log-stream:*"


def _simulate(
    iam: Any, role_arn: str, action: str, resources: list[str], context: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"PolicySourceArn": role_arn, "ActionNames": [action], "ResourceArns": resources}
    if context:
        kwargs["ContextEntries"] = context
    while True:
        page = iam.simulate_principal_policy(**kwargs)
        results += page.get("EvaluationResults", [])
        if not page.get("IsTruncated") or not page.get("Marker"):
            return results
        kwargs["Marker"] = page["Marker"]


def _why(result: dict[str, Any]) -> str:
    decision = str(result.get("EvalDecision", ""))
    if decision == "explicitDeny":
        sources = sorted({str(m.get("SourcePolicyId", "?")) for m in result.get("MatchedStatements", [])})
        return f"explicitly denied by {', '.join(sources) or 'a statement'}"
    details = []
    if result.get("OrganizationsDecisionDetail", {}).get("AllowedByOrganizations") is False:
        details.append("an Organizations policy (SCP) does not allow it")
    if result.get("PermissionsBoundaryDecisionDetail", {}).get("AllowedByPermissionsBoundary") is False:
        details.append("the role's permissions boundary does not allow it")
    return "; ".join(details) or "no statement of the role's policies allows it"


def _host_rows(iam: Any, facts: StackFacts, host: Host) -> list[CheckResult]:
    role = str(host.role_name)
    try:
        role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return [
                CheckResult(
                    "role-permissions",
                    Status.FAIL,
                    role,
                    f"the role {role} does not exist: {host.auto_scaling_group or host.instance_id} cannot write its "
                    "logs and metrics",
                    "Deploy the stack again, or observe the instance with the role it has "
                    "(HostObservability(role=...)).",
                )
            ]
        return [could_not_check("role-permissions", role, error)]
    groups = host.log_groups
    checks: list[tuple[str, list[dict[str, Any]], list[str]]] = []
    if groups:
        checks.append((PUT_LOG_EVENTS, [], [stream_arn(facts, g) for g in groups]))
    if host.metrics_namespace:
        context = [
            {
                "ContextKeyName": "cloudwatch:namespace",
                "ContextKeyValues": [host.metrics_namespace],
                "ContextKeyType": "string",
            }
        ]
        checks.append((PUT_METRIC_DATA, context, ["*"]))
    rows: list[CheckResult] = []
    allowed: list[str] = []
    for action, context, resources in checks:
        try:
            results = _simulate(iam, role_arn, action, resources, context)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("role-permissions", role, error))
            continue
        decided = {
            str(r.get("EvalResourceName", "*")): r
            for r in results
            if r.get("EvalActionName", "").lower() == action.lower()
        }
        for resource in resources:
            result = decided.get(resource) or (results[0] if len(resources) == 1 and results else None)
            target = (
                resource.split(":log-group:", 1)[1].removesuffix(":log-stream:*")
                if action == PUT_LOG_EVENTS
                else f"namespace {host.metrics_namespace}"
            )
            if result is not None and result.get("EvalDecision") == "allowed":
                allowed.append(target)
                continue
            why = _why(result) if result is not None else "the simulator returned no result for it"
            grant = (
                "the stack grants it on the host's log groups (logs:CreateLogStream and logs:PutLogEvents)"
                if action == PUT_LOG_EVENTS
                else f"the stack grants it with the condition cloudwatch:namespace = {host.metrics_namespace}"
            )
            rows.append(
                CheckResult(
                    "role-permissions",
                    Status.FAIL,
                    target,
                    f"the role {role} may not {action} on {target}: {why}; "
                    + (
                        "its lines never reach CloudWatch"
                        if action == PUT_LOG_EVENTS
                        else "the agent's metrics never arrive"
                    ),
                    f"Restore the role's policy ({grant}): deploy the stack again; if an SCP or a permissions "
                    f"boundary denies it, ask its owner. Simulate it yourself: aws iam simulate-principal-policy "
                    f"--policy-source-arn {role_arn} --action-names {action}",
                )
            )
    if not rows:
        rows.append(
            CheckResult(
                "role-permissions",
                Status.PASS,
                role,
                f"may {PUT_LOG_EVENTS} on its {plural(len(groups), 'log group')} and {PUT_METRIC_DATA} in "
                f"{host.metrics_namespace} (IAM policy simulator)",
            )
        )
    return rows


def check_permissions(iam: Any, facts: StackFacts) -> list[CheckResult]:
    """Each host's role may put its log events and its metrics, as IAM's policy simulator decides."""
    rows: list[CheckResult] = []
    for host in one_per_fleet(facts.hosts):  # a fleet's instances share its role
        if host.role_name:
            rows += _host_rows(iam, facts, host)
    return rows
