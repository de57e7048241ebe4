"""Termination protection for the host, switched on once the whole stack was deployed.

Why not ``DisableApiTermination: true`` on the instance, as before: EC2 refuses ``TerminateInstances`` on a
protected instance ("OperationNotPermitted ... Modify its 'disableApiTermination' instance attribute",
hashicorp/terraform#5879), and CloudFormation's rollback of a failed create (or of a failed update that replaced
the instance) terminates the instance it just launched. The rollback then fails (``ROLLBACK_FAILED``) and keeps
the role, security group and VPC, so nobody can deploy again without console work.

Instead the instance launches unprotected, and a last State Manager association runs a one-step Automation runbook
that calls EC2's ``ModifyInstanceAttribute`` with ``DisableApiTermination`` on it. CloudFormation creates the
association after every other resource of the stack (it ``DependsOn`` all of them) and waits for it
(``WaitForSuccessTimeoutSeconds``), so it runs only when nothing else can fail the deploy any more: a failed first
create, or a failed update that replaced the instance, always rolls back to an unprotected instance that
CloudFormation can terminate. After a successful deploy the host is protected from an accidental
``TerminateInstances`` (console, CLI) and from a stack deletion, which stops at the instance with ``DELETE_FAILED``
instead of deleting its root volume.

Who may switch it on: the runbook runs with a role of its own that only Systems Manager Automation of this account
may assume (``aws:SourceAccount`` and an ``automation-execution`` ``aws:SourceArn``, as the Systems Manager User
Guide's "Configure a service role for Automation" recommends against the confused deputy), allowed
``ec2:ModifyInstanceAttribute`` on this one instance and nothing else. The host's own role gets nothing: a process on
the host could otherwise change its own security groups, shutdown behaviour or user data, because IAM cannot be
relied on to narrow ``ModifyInstanceAttribute`` to one attribute (the Service Authorization Reference lists
``ec2:Attribute/${AttributeName}`` for it, but a public report finds such keys absent when EC2 evaluates an attribute
change, and a condition that never matches would fail every deploy at this last step).

Cost: State Manager associations are free; the runbook is one ``aws:executeAwsApi`` step per run (once per deploy
that creates or replaces the instance), within Automation's free steps. See docs/usage.md, "The deploy lifecycle",
for every path (failed create, update, replacing update, delete, re-create, stop/start).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsii
from aws_cdk import Aspects, CfnResource, Duration, IAspect, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from constructs_obs.checks.compliance import acknowledge, declare

#: How long CloudFormation waits for the runbook to switch the protection on.
PROTECTION_TIMEOUT = Duration.minutes(10)
#: The resource type the CDK CLI adds for version reporting (never a reason to wait).
_CDK_METADATA = "AWS::CDK::Metadata"
#: The service principal of Systems Manager Automation (the runbook's role trusts it).
SSM_PRINCIPAL = "ssm.amazonaws.com"
#: The one API call the runbook makes, and the one action its role may take.
PROTECT_ACTION = "ec2:ModifyInstanceAttribute"

PROTECTION_POLICY = declare(
    "host.termination-protection-policy",
    owner="ObservedEc2Host",
    target="the termination-protection runbook's role",
    rules=("NIST.800.53.R5-IAMNoInlinePolicy", "HIPAA.Security-IAMNoInlinePolicy"),
    reason="""One statement, `ec2:ModifyInstanceAttribute` on the host's own instance, in the default policy of a
    role that only this account's Systems Manager Automation may assume and that this construct creates and deletes:
    the runbook switches the host's termination protection on once the stack is deployed.""",
)
AFTER_DEPLOY = declare(
    "host.termination-protection-after-deploy",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("AwsSolutions-EC29",),
    reason="""Termination protection is on, but switched on once the whole stack is deployed (a last Automation
    runbook), not by `DisableApiTermination` in the template: CloudFormation cannot terminate a protected instance,
    so the rollback of a failed first deploy (or of a failed update that replaces the instance) would end in
    `ROLLBACK_FAILED`, holding the role, security group and VPC. See the module `constructs_obs.host.protection`.""",
)


def protection_runbook() -> dict[str, Any]:
    """The Automation runbook (schema 0.3): ``ModifyInstanceAttribute`` with ``DisableApiTermination`` on
    ``InstanceId``, as ``AutomationAssumeRole``. ``aws:executeAwsApi`` takes the API's own request parameters
    (Systems Manager User Guide, "aws:executeAwsApi"), here EC2's ``ModifyInstanceAttribute`` request."""
    return {
        "schemaVersion": "0.3",
        "description": "Switch on the termination protection of an instance once its stack is deployed.",
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "InstanceId": {"type": "String", "description": "The instance to protect."},
            "AutomationAssumeRole": {"type": "String", "description": "The role the runbook runs as."},
        },
        "mainSteps": [
            {
                "name": "SwitchOnTerminationProtection",
                "action": "aws:executeAwsApi",
                "inputs": {
                    "Service": "ec2",
                    "Api": "ModifyInstanceAttribute",
                    "InstanceId": "{{ InstanceId }}",
                    "DisableApiTermination": {"Value": True},
                },
            }
        ],
    }


class TerminationProtection(Construct):
    """Switches on the termination protection of ``instance`` after the rest of the stack, with its own role.

    Attributes:
        association: the ``AWS::SSM::Association`` that runs the runbook (it ``DependsOn`` every other resource of
            the stack).
        runbook: the Automation document (``AWS::SSM::Document``, named by CloudFormation).
        role: the role the runbook runs as: ``ec2:ModifyInstanceAttribute`` on ``instance`` only.
    """

    def __init__(self, scope: Construct, construct_id: str, *, instance: ec2.Instance) -> None:
        """Add the role, the runbook and the association; the association waits for every other resource.

        Args:
            scope: the parent construct (the host).
            construct_id: the construct id.
            instance: the instance to protect.
        """
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        automation_executions = stack.format_arn(
            service="ssm", resource="automation-execution", resource_name="*"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                SSM_PRINCIPAL,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": automation_executions},
                },
            ),
            description=f"Switches on the termination protection of {instance.node.path} after its deploy",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=[PROTECT_ACTION],
                resources=[
                    stack.format_arn(service="ec2", resource="instance", resource_name=instance.instance_id)
                ],
            )
        )
        acknowledge(self.role, PROTECTION_POLICY)
        acknowledge(instance, AFTER_DEPLOY)
        # DocumentFormat JSON is Systems Manager's default ("JSON is the default format": the CreateDocument API
        # reference); written out because moto's CloudFormation, which the doctor's tests deploy into, requires it.
        self.runbook = ssm.CfnDocument(
            self, "Runbook", document_type="Automation", document_format="JSON", content=protection_runbook()
        )
        self.association = ssm.CfnAssociation(
            self,
            "Association",
            name=self.runbook.ref,
            targets=[ssm.CfnAssociation.TargetProperty(key="ParameterValues", values=[instance.instance_id])],
            automation_target_parameter_name="InstanceId",
            parameters={"AutomationAssumeRole": [self.role.role_arn]},
            wait_for_success_timeout_seconds=int(PROTECTION_TIMEOUT.to_seconds()),
        )
        # Depends on every other resource, its role's policy included (the role and the runbook it references).
        Aspects.of(stack).add(
            _LastOfTheStack(self.association, referenced=[instance, self.role, self.runbook])
        )


@jsii.implements(IAspect)
class _LastOfTheStack:
    """Makes ``last`` depend on every other resource of its stack (those it already references excepted, and
    those that depend on it, which would make a cycle)."""

    def __init__(self, last: CfnResource, *, referenced: Iterable[IConstruct]) -> None:
        self._last = last
        self._stack = Stack.of(last)
        self._skip = {(c.node.default_child or c).node.path for c in referenced}

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or node.node.path in (self._last.node.path, *self._skip):
            return
        if Stack.of(node) is not self._stack or node.cfn_resource_type == _CDK_METADATA:
            return
        if node.cfn_options.condition is not None or _depends_on(node, self._last):
            return
        # addResourceDependency is newer than the library's aws-cdk-lib floor (2.208.0), where the same method is
        # addDependency (deprecated since, with a warning at every call).
        depend = getattr(self._last, "add_resource_dependency", None) or self._last.add_dependency
        depend(node)


def _depends_on(resource: CfnResource, target: CfnResource, seen: set[str] | None = None) -> bool:
    """Whether ``resource`` depends on ``target`` through ``DependsOn`` or construct dependencies."""
    seen = set() if seen is None else seen
    if resource.node.path in seen:
        return False
    seen.add(resource.node.path)
    direct = [d for d in resource.obtain_dependencies() if isinstance(d, CfnResource)]
    for scope in resource.node.scopes:
        for dependency in scope.node.dependencies:
            direct += [c for c in dependency.node.find_all() if isinstance(c, CfnResource)]
    return any(d.node.path == target.node.path or _depends_on(d, target, seen) for d in direct)
