"""Termination protection for the host, switched on by the host itself once the whole stack was deployed.

Why not ``DisableApiTermination: true`` on the instance, as before: EC2 refuses ``TerminateInstances`` on a
protected instance ("OperationNotPermitted ... Modify its 'disableApiTermination' instance attribute",
hashicorp/terraform#5879), and CloudFormation's rollback of a failed create (or of a failed update that replaced
the instance) terminates the instance it just launched. The rollback then fails (``ROLLBACK_FAILED``) and keeps
the role, security group and VPC, so nobody can deploy again without console work.

Instead the instance launches unprotected, and a last association (``AWS-RunShellScript`` on the host, like the
setup) runs ``aws ec2 modify-instance-attribute --disable-api-termination`` on it. CloudFormation creates it after
every other resource of the stack (it ``DependsOn`` all of them), so it runs only when nothing else can fail the
deploy any more: a failed first create, or a failed update that replaced the instance, always rolls back to an
unprotected instance that CloudFormation can terminate. After a successful deploy the host is protected from an
accidental ``TerminateInstances`` (console, CLI) and from a stack deletion, which stops at the instance with
``DELETE_FAILED`` instead of deleting its root volume.

The host's role may call ``ec2:ModifyInstanceAttribute`` on its own instance only (an ``iam.Policy`` created after
the instance: the instance's role policy cannot name the instance, which depends on it). It costs nothing: State
Manager associations on EC2 are free. See docs/usage.md, "The deploy lifecycle", for every path (failed create,
update, replacing update, delete, re-create, stop/start).
"""

from __future__ import annotations

from collections.abc import Iterable

import jsii
from aws_cdk import Aspects, CfnResource, Duration, IAspect, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from constructs_obs.checks.compliance import acknowledge, declare
from constructs_obs.contract import RUN_SHELL_SCRIPT_DOCUMENT, SETUP_STEP_MARKER

#: How long CloudFormation waits for the host to switch its protection on.
PROTECTION_TIMEOUT = Duration.minutes(10)
#: The resource type the CDK CLI adds for version reporting (never a reason to wait).
_CDK_METADATA = "AWS::CDK::Metadata"

PROTECTION_POLICY = declare(
    "host.termination-protection-policy",
    owner="ObservedEc2Host",
    target="the host's termination-protection policy",
    rules=("NIST.800.53.R5-IAMNoInlinePolicy", "HIPAA.Security-IAMNoInlinePolicy"),
    reason="""One statement, `ec2:ModifyInstanceAttribute` on the host's own instance, in a policy created after
    the instance (the role's own policy cannot name the instance, which depends on it) and deleted with it: the
    host switches its termination protection on once the stack is deployed.""",
)
AFTER_DEPLOY = declare(
    "host.termination-protection-after-deploy",
    owner="ObservedEc2Host",
    target="Instance",
    rules=("AwsSolutions-EC29",),
    reason="""Termination protection is on, but switched on by the host once the whole stack is deployed, not by
    `DisableApiTermination` in the template: CloudFormation cannot terminate a protected instance, so the rollback
    of a failed first deploy (or of a failed update that replaces the instance) would end in `ROLLBACK_FAILED`,
    holding the role, security group and VPC. See the module `constructs_obs.host.protection`.""",
)


def protection_commands(instance_id: str, region: str) -> list[str]:
    """The script: the AWS CLI (preinstalled on Amazon Linux 2023), then the attribute on ``instance_id``."""
    return [
        "set -eu",
        f"echo '{SETUP_STEP_MARKER}termination protection'",
        "command -v aws >/dev/null 2>&1 || dnf install -y awscli-2",
        f"aws ec2 modify-instance-attribute --region {region} --instance-id {instance_id} "
        "--disable-api-termination",
        f"echo 'termination protection on for {instance_id}'",
    ]


class TerminationProtection(Construct):
    """Switches on the termination protection of ``instance`` from the host, after the rest of the stack.

    Attributes:
        association: the ``AWS::SSM::Association`` that runs the command (it ``DependsOn`` every other resource of
            the stack).
        policy: the policy letting the instance's role modify that instance's attributes.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, instance: ec2.Instance, role: iam.IRole
    ) -> None:
        """Add the policy and the association; the association waits for every other resource of the stack.

        Args:
            scope: the parent construct (the host).
            construct_id: the construct id.
            instance: the instance to protect (its SSM agent runs the command).
            role: the instance's role (gets ``ec2:ModifyInstanceAttribute`` on ``instance`` only).
        """
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        instance_arn = stack.format_arn(
            service="ec2", resource="instance", resource_name=instance.instance_id
        )
        self.policy = iam.Policy(
            self,
            "Policy",
            roles=[role],
            statements=[
                iam.PolicyStatement(actions=["ec2:ModifyInstanceAttribute"], resources=[instance_arn])
            ],
        )
        acknowledge(self.policy, PROTECTION_POLICY)
        acknowledge(instance, AFTER_DEPLOY)
        self.association = ssm.CfnAssociation(
            self,
            "Association",
            name=RUN_SHELL_SCRIPT_DOCUMENT,
            targets=[ssm.CfnAssociation.TargetProperty(key="InstanceIds", values=[instance.instance_id])],
            parameters={"commands": protection_commands(instance.instance_id, stack.region)},
            wait_for_success_timeout_seconds=int(PROTECTION_TIMEOUT.to_seconds()),
        )
        self.association.node.add_dependency(self.policy)
        Aspects.of(stack).add(_LastOfTheStack(self.association, referenced=[instance]))


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
