"""How the library sets up a host: one SSM State Manager association, re-applied on every change.

Everything the library installs on a host (the CloudWatch agent and its configuration, the ``docker-events``
service) is delivered by an ``AWS::SSM::Association`` of the AWS-managed ``AWS-RunShellScript`` document that
targets the instance, not by the instance's user data:

- **Changes reach a running host without a reboot.** State Manager applies an association when it is created
  and again whenever it is updated ("When you create or update an association, the association runs
  immediately", AWS Systems Manager User Guide, "Working with associations" /
  https://docs.aws.amazon.com/systems-manager/latest/userguide/state-manager-associations.html). The script is
  the association's ``commands`` parameter, so any change to the agent's configuration or the unit file changes
  the association and is applied on the next deploy. A ``UserData`` change on ``AWS::EC2::Instance`` would stop
  and start the instance, and cloud-init would not run the new script anyway (AWS CloudFormation User Guide,
  ``AWS::EC2::Instance`` UserData: "Update requires: Some interruptions"; cloud-init runs user data scripts once
  per instance).
- **A failed setup fails the deploy.** ``WaitForSuccessTimeoutSeconds`` makes CloudFormation wait until the
  association succeeds on its target and fail the stack otherwise (CloudFormation User Guide,
  ``AWS::SSM::Association`` WaitForSuccessTimeoutSeconds). The script checks its own result (the service is
  ``active``, the agent ``running``) and exits non-zero otherwise.
- **It does not depend on unrelated downloads.** The user data keeps only what must happen at first boot (Docker
  and the Compose plugin from GitHub); monitoring comes from the Amazon Linux repositories alone.
- **The same mechanism serves a host the library did not create**: an association only needs the instance id
  and an SSM agent that may talk to State Manager (see :data:`STATE_MANAGER_ACTIONS`).
- It costs nothing: State Manager associations on EC2 instances are free.

The script is a list of :class:`SetupStep`. A step marked ``portable`` needs neither Amazon Linux packages nor
AWS credentials (folders, files, ``systemctl``), so the tests run those steps exactly as delivered under
systemd 252 (the major version Amazon Linux 2023 ships) in a container.

Run Command resolves ``{{ssm:name}}`` references in parameter values (Systems Manager User Guide, "Referencing
Parameter Store parameters"), so the script never contains a ``{{`` pair: :func:`no_template_braces` checks it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from constructs_obs.checks.compliance import acknowledge, declare
from constructs_obs.contract import (
    AUTO_SCALING_GROUP_TAG,
    SETUP_STEP_MARKER,
)
from constructs_obs.contract import (  # re-exported: the actions the setup grants and obs-doctor preflight checks
    DOCUMENT_READ_ACTIONS as DOCUMENT_READ_ACTIONS,
)
from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    RUN_SHELL_SCRIPT_DOCUMENT as RUN_SHELL_SCRIPT_DOCUMENT,
)
from constructs_obs.contract import (
    STATE_MANAGER_ACTIONS as STATE_MANAGER_ACTIONS,
)

#: How long CloudFormation waits for the setup to succeed on the host before failing the deploy. A new host
#: needs a minute or two for its SSM agent to register, then ``dnf install`` of the agent.
DEFAULT_SETUP_TIMEOUT = Duration.minutes(15)
#: How long the script itself may run on the host (the document's ``executionTimeout``).
SCRIPT_EXECUTION_TIMEOUT = Duration.minutes(10)

STATE_MANAGER_PERMISSIONS = declare(
    "setup.state-manager-agent",
    owner="HostSetup",
    target="the host's role",
    rules=("AwsSolutions-IAM5[Resource::*]",),
    reason="""The SSM agent's State Manager calls (`ssm:ListInstanceAssociations`, `ssm:DescribeAssociation`,
    `ssm:UpdateInstanceAssociationStatus`, ...) are how the host receives and reports its setup association; they
    are listed one by one, as AmazonSSMManagedInstanceCore grants them, on `*` because the agent calls them before
    it knows which associations exist. Reading documents is limited to `AWS-RunShellScript`.""",
)

_BRACES = re.compile(r"\{\{")


@dataclass(frozen=True)
class SetupStep:
    """One part of the host's setup script.

    Attributes:
        name: what the step sets up (printed to the association's output before it runs).
        commands: POSIX shell lines, run by ``sh`` with ``set -eu`` (any failing command fails the setup).
        portable: True when the step needs neither Amazon Linux packages nor AWS credentials (files, folders,
            ``systemctl``): the tests run such steps under real systemd.
    """

    name: str
    commands: tuple[str, ...]
    portable: bool = True


def no_template_braces(text: str) -> None:
    """Raise ``ValueError`` if ``text`` contains ``{{``, which Run Command may read as a parameter reference."""
    match = _BRACES.search(text)
    if match:
        start = max(0, match.start() - 30)
        raise ValueError(
            "the host setup script must not contain '{{' (Run Command resolves {{ssm:...}} references in "
            f"parameter values), found near {text[start : match.end() + 30]!r}"
        )


def render_script(steps: Sequence[SetupStep], *, portable_only: bool = False) -> str:
    """The setup script: ``set -eu``, then each step (only the portable ones with ``portable_only``)."""
    lines = ["set -eu"]
    for step in steps:
        if portable_only and not step.portable:
            continue
        lines.append(f"echo '{SETUP_STEP_MARKER}{step.name}'")
        lines.extend(step.commands)
    script = "\n".join(lines) + "\n"
    no_template_braces(script)
    return script


class HostSetup(Construct):
    """The association that sets up (and keeps up to date) what the library runs on one instance.

    Add steps with :meth:`add_step`; the association runs them in order as one ``AWS-RunShellScript`` script,
    when it is created and after every change, and CloudFormation waits up to ``timeout`` for success.

    Attributes:
        association: the ``AWS::SSM::Association``.
        steps: the steps, in order.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance_id: str | None = None,
        role: iam.IGrantable | None,
        timeout: Duration = DEFAULT_SETUP_TIMEOUT,
        auto_scaling_group_name: str | None = None,
        wait_for_success: bool = True,
    ) -> None:
        """Create the association for ``instance_id`` (or every instance of ``auto_scaling_group_name``); grant
        ``role`` what its SSM agent needs to run it.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            instance_id: the instance to set up.
            role: the instance's role: its SSM agent receives and reports the association, so it gets
                :data:`STATE_MANAGER_ACTIONS` and may read ``AWS-RunShellScript``. None for a role that already
                has them (an instance the library did not create: AmazonSSMManagedInstanceCore grants them).
            timeout: how long CloudFormation waits for the setup to succeed. Default 15 minutes; at most 12 hours.
            auto_scaling_group_name: instead of ``instance_id``, the Auto Scaling group whose instances to set up:
                the association targets the tag ``aws:autoscaling:groupName`` that Auto Scaling puts on each
                instance it launches, and State Manager applies it to every instance that later gets the tag
                ("For dynamic targets, such as an AWS Resource Groups or an AWS Auto Scaling Group, State Manager
                applies the configuration when new instances are added to the group", CloudFormation User Guide,
                ``AWS::SSM::Association``).
            wait_for_success: CloudFormation waits up to ``timeout`` for the setup to succeed
                (``WaitForSuccessTimeoutSeconds``). Default on. Off, the deploy goes on while the setup runs.

        Raises:
            ValueError: neither or both of ``instance_id`` and ``auto_scaling_group_name``, or a timeout outside
                1 minute to 12 hours.
        """
        if (instance_id is None) == (auto_scaling_group_name is None):
            raise ValueError(
                "HostSetup targets one instance (instance_id=) or the instances of an Auto Scaling group "
                f"(auto_scaling_group_name=), got instance_id={instance_id!r} and "
                f"auto_scaling_group_name={auto_scaling_group_name!r}"
            )
        seconds = int(timeout.to_seconds())
        if not 60 <= seconds <= 43_200:
            raise ValueError(f"timeout must be between 1 minute and 12 hours, got {seconds} seconds")
        super().__init__(scope, construct_id)
        self._steps: list[SetupStep] = []
        stack = Stack.of(self)
        target = (
            ssm.CfnAssociation.TargetProperty(key="InstanceIds", values=[instance_id])
            if instance_id is not None
            else ssm.CfnAssociation.TargetProperty(
                key=f"tag:{AUTO_SCALING_GROUP_TAG}", values=[str(auto_scaling_group_name)]
            )
        )
        self.association = ssm.CfnAssociation(
            self,
            "Association",
            name=RUN_SHELL_SCRIPT_DOCUMENT,
            targets=[target],
            wait_for_success_timeout_seconds=seconds if wait_for_success else None,
        )
        if role is None:
            return
        iam.Grant.add_to_principal(grantee=role, actions=list(STATE_MANAGER_ACTIONS), resource_arns=["*"])
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(DOCUMENT_READ_ACTIONS),
            resource_arns=[
                stack.format_arn(
                    service="ssm", account="", resource="document", resource_name=RUN_SHELL_SCRIPT_DOCUMENT
                )
            ],
        )
        # The association must not start before the role may talk to State Manager.
        principal = role.grant_principal
        if isinstance(principal, iam.Role):
            self.association.node.add_dependency(principal)
            acknowledge(principal, STATE_MANAGER_PERMISSIONS)

    @property
    def steps(self) -> tuple[SetupStep, ...]:
        """The steps, in order."""
        return tuple(self._steps)

    def add_step(self, step: SetupStep, *, first: bool = False) -> None:
        """Append ``step`` to the script, or put it before every other step with ``first`` (``ValueError`` when its
        text contains ``{{``)."""
        no_template_braces("\n".join(step.commands))
        if any(s.name == step.name for s in self._steps):
            raise ValueError(f"the host setup already has a step named {step.name!r}")
        if first:
            self._steps.insert(0, step)
        else:
            self._steps.append(step)
        self.association.parameters = {
            "commands": self.script().splitlines(),
            "executionTimeout": [str(int(SCRIPT_EXECUTION_TIMEOUT.to_seconds()))],
        }

    def script(self, *, portable_only: bool = False) -> str:
        """The whole script as the association runs it (or only its portable steps)."""
        return render_script(self._steps, portable_only=portable_only)
