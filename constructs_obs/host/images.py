"""Which machine images the host can run on, and what their template ``ImageId`` means for the validators.

The host's setup (the user data and the SSM association of :class:`~constructs_obs.host.setup.HostSetup`) installs
packages with ``dnf`` and writes systemd units for Amazon Linux 2023, so the host supports Amazon Linux 2023 only.
:func:`inspect_image` reads what an ``ec2.IMachineImage`` puts into the template and sorts it into:

- **Amazon Linux 2023 by its public SSM parameter** (``/aws/service/ami-amazon-linux-latest/al2023-ami-...``,
  standard or minimal edition, any kernel, ``x86_64`` or ``arm64``), in whichever form CDK writes it:
  ``resolve:ssm:<parameter>[:version]`` (:func:`al2023_at_launch`,
  ``ec2.MachineImage.resolve_ssm_parameter_at_launch``; EC2 resolves it at launch), a CloudFormation parameter
  of type ``AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>`` whose default is the parameter
  (``ec2.MachineImage.latest_amazon_linux2023()``, ``ec2.AmazonLinux2023ImageSsmParameter(cached_in_context=False)``,
  ``ec2.MachineImage.from_ssm_parameter``; CloudFormation resolves it at each deploy), a ``{{resolve:ssm:...}}``
  dynamic reference (CloudFormation, at deploy), or the placeholder of a synth-time lookup that is not in
  ``cdk.context.json`` yet (``dummy-value-for-<parameter>``: ``ec2.AmazonLinux2023ImageSsmParameter()`` and
  ``latest_amazon_linux2023(cached_in_context=True)`` look up; once cached they give a literal AMI id). The
  parameter's suffix gives the image's architecture.
- **A literal AMI id** (``ami-...``, including ``ec2.MachineImage.generic_linux`` in an environment-agnostic
  stack, which writes ``Fn::FindInMap`` into a mapping of literal ids, and AMIs cached by a lookup): accepted as a
  deliberate pin. Nothing in the template says which operating system it is: making sure it is Amazon Linux 2023
  of the instance type's architecture is the caller's responsibility.
- **Known not to be Amazon Linux 2023**: a Windows image (``os_type``), or a public parameter of Amazon Linux 2 or 1,
  Windows, macOS, Ubuntu, Debian, SUSE, Red Hat, FreeBSD or Bottlerocket. Refused with a ``ValueError``.
- **Unknown** (a CloudFormation parameter you made, a parameter of your own, an import): accepted; the facts say
  that nothing is known about it.

See the "Images" section of the documentation (``docs/usage.md``) for the supported images.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from aws_cdk import CfnParameter, Stack, Token
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

#: Public SSM parameters that always name the newest Amazon Linux 2023 AMI, per CPU architecture.
AL2023_PARAMETERS: dict[ec2.InstanceArchitecture, str] = {
    ec2.InstanceArchitecture.X86_64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
    ec2.InstanceArchitecture.ARM_64: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
}

#: Where the documentation lists the supported images (named in every refusal).
IMAGES_DOCS = 'the "Images" section of docs/usage.md'

#: Amazon Linux 2023's public parameters: ``al2023-ami-[minimal-]kernel-<default|6.1|6.12|...>-<x86_64|arm64>``.
_AL2023_PARAMETER = re.compile(
    r"/aws/service/ami-amazon-linux-latest/al2023-ami-(?P<minimal>minimal-)?kernel-(?:default|\d+\.\d+)"
    r"-(?P<arch>x86_64|arm64)"
)
_ARCHITECTURES = {"x86_64": ec2.InstanceArchitecture.X86_64, "arm64": ec2.InstanceArchitecture.ARM_64}

#: Public parameter trees of images that are not Amazon Linux 2023 (the first prefix that matches names it).
_NOT_AL2023: tuple[tuple[str, str], ...] = (
    ("/aws/service/ami-amazon-linux-latest/amzn2-", "Amazon Linux 2"),
    ("/aws/service/ami-amazon-linux-latest/amzn-", "Amazon Linux (the first one)"),
    ("/aws/service/ami-amazon-linux-latest/al2022-", "Amazon Linux 2022 (the preview of 2023)"),
    ("/aws/service/ecs/optimized-ami/amazon-linux-2/", "Amazon Linux 2 (ECS-optimized)"),
    ("/aws/service/ecs/optimized-ami/amazon-linux/", "Amazon Linux (the first one, ECS-optimized)"),
    ("/aws/service/ecs/optimized-ami/windows_server/", "Windows Server (ECS-optimized)"),
    ("/aws/service/ami-windows-latest/", "Windows Server"),
    ("/aws/service/ami-macos-latest/", "macOS"),
    ("/aws/service/canonical/", "Ubuntu (Canonical)"),
    ("/aws/service/debian/", "Debian"),
    ("/aws/service/suse/", "SUSE Linux Enterprise Server"),
    ("/aws/service/redhat/", "Red Hat Enterprise Linux"),
    ("/aws/service/freebsd/", "FreeBSD"),
    ("/aws/service/bottlerocket/", "Bottlerocket"),
)

# `resolve:ssm:<name or ARN>[:<version or label>]`, EC2's form; CloudFormation's dynamic reference wraps it in {{ }}.
# Parameter names hold no colon, so a colon after the name starts the version.
_RESOLVE_SSM = re.compile(
    r"resolve:ssm:(?:arn:[^:]+:ssm:[^:]*:[^:]*:parameter)?(?P<name>[A-Za-z0-9_./-]+)(?::(?P<version>[A-Za-z0-9_.-]+))?"
)
_DYNAMIC_REFERENCE = re.compile(r"\{\{(?P<reference>resolve:ssm:[^{}]+)\}\}")
_LITERAL_AMI = re.compile(r"ami-[0-9a-z]+")
# What `ssm.StringParameter.value_from_lookup` returns until the lookup is in cdk.context.json.
_LOOKUP_PLACEHOLDER = "dummy-value-for-"
_SSM_IMAGE_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"


def al2023_at_launch(
    instance_type: ec2.InstanceType, parameter_version: str | None = None
) -> ec2.IMachineImage:
    """Amazon Linux 2023 for ``instance_type``'s architecture, resolved by EC2 when the instance launches.

    The template holds ``resolve:ssm:<parameter>`` rather than an AMI id, so it never changes when AWS
    publishes a newer AMI and the instance is never replaced by a deploy for that reason (the CloudFormation
    equivalent of Terraform's ``lifecycle { ignore_changes = [ami] }``). Synth needs no AWS credentials.
    Pass ``parameter_version`` to pin one version of the parameter; changing it replaces the instance.
    """
    return ec2.MachineImage.resolve_ssm_parameter_at_launch(
        AL2023_PARAMETERS[instance_type.architecture],
        os=ec2.OperatingSystemType.LINUX,
        parameter_version=parameter_version,
    )


@dataclass(frozen=True)
class ImageFacts:
    """What the template will hold as the instance's ``ImageId``, and what that means.

    Attributes:
        image_id: the image id as the machine image gives it: a string, or a token (``${Token[...]}``) for a
            CloudFormation parameter, mapping or other intrinsic.
        os_type: the operating system type the machine image declares.
        ssm_parameter: the SSM parameter the image id is read from (any parameter, without its version), or None.
        al2023_ssm_parameter: ``ssm_parameter`` when it is one of Amazon Linux 2023's public parameters, else None.
        parameter_version: the pinned version (or label) of the parameter, e.g. ``"95"``, or None for the newest.
        architecture: the image's CPU architecture, from the Amazon Linux 2023 parameter's suffix; None when
            unknown (literal AMI ids and unknown images).
        minimal: the parameter names the minimal edition of Amazon Linux 2023.
        literal_ami: the template holds a literal ``ami-...`` id (directly, or per region through
            ``Fn::FindInMap``): a deliberate pin whose operating system nothing here can check.
        resolved_at_launch: the template holds ``resolve:ssm:<parameter>[:version]``, resolved by EC2 when the
            instance launches. CDK's template validation and cfn-lint report it as E1152 (format check: they
            expect a literal ``ami-...``); EC2 accepts it.
        resolved_at_deploy: CloudFormation decides the id at each deploy (a stack parameter, or a
            ``{{resolve:ssm:...}}`` dynamic reference): a changed value replaces the instance on the next deploy.
    """

    image_id: str
    os_type: ec2.OperatingSystemType
    ssm_parameter: str | None = None
    al2023_ssm_parameter: str | None = None
    parameter_version: str | None = None
    architecture: ec2.InstanceArchitecture | None = None
    minimal: bool = False
    literal_ami: bool = False
    resolved_at_launch: bool = False
    resolved_at_deploy: bool = False

    @property
    def al2023(self) -> bool:
        """The image is known to be Amazon Linux 2023 (by its public parameter)."""
        return self.al2023_ssm_parameter is not None

    @property
    def unknown(self) -> bool:
        """Nothing is known about the image: neither a known Amazon Linux 2023 parameter nor a literal AMI id."""
        return not self.al2023 and not self.literal_ami


def inspect_image(
    scope: Construct, machine_image: ec2.IMachineImage, instance_type: ec2.InstanceType
) -> ImageFacts:
    """What ``machine_image`` puts into the template for an instance of ``instance_type`` under ``scope``.

    Calls ``machine_image.get_image`` in a temporary child of ``scope`` that is removed again, so inspecting leaves
    nothing behind in the tree (``generic_linux`` in an environment-agnostic stack would otherwise leave an
    unreferenced ``AmiMap`` mapping); call it before creating the instance with the same image. A CloudFormation
    parameter that CDK creates for an SSM image (at the stack's top level, shared by name) stays, and the
    instance uses it.

    Raises:
        ValueError: the image is known not to be Amazon Linux 2023 (a Windows image, or the public parameter of
            another operating system), or its known architecture contradicts ``instance_type``'s
            (see :func:`check_architecture`).
    """
    probe_id = "ImageInspection"
    while scope.node.try_find_child(probe_id) is not None:
        probe_id += "_"
    probe = Construct(scope, probe_id)
    try:
        config = machine_image.get_image(probe)
        facts = _classify(probe, config.image_id, config.os_type)
    finally:
        scope.node.try_remove_child(probe_id)
    check_architecture(facts, instance_type)
    return facts


def check_architecture(facts: ImageFacts, instance_type: ec2.InstanceType) -> None:
    """Refuse an image whose known architecture is not ``instance_type``'s (such an instance does not boot).

    Images of unknown architecture (literal AMI ids, unknown images) and instance types given as tokens pass.

    Raises:
        ValueError: e.g. ``t4g.small`` (ARM_64) with an ``x86_64`` Amazon Linux 2023 parameter.
    """
    name = instance_type.to_string()
    if facts.architecture is None or Token.is_unresolved(name):
        return
    if instance_type.architecture != facts.architecture:
        raise ValueError(
            f"instance_type {name} is {instance_type.architecture.name} but machine_image "
            f"{_describe(facts)} is an {facts.architecture.name} image, and an instance does not boot from an "
            f"image of another architecture. Use al2023_at_launch(instance_type) for Amazon Linux 2023 of the "
            f"instance type's architecture, or an instance type of the image's architecture"
        )


def _classify(scope: Construct, image_id: str, os_type: ec2.OperatingSystemType) -> ImageFacts:
    facts = _facts(scope, image_id, os_type)
    if os_type == ec2.OperatingSystemType.WINDOWS:
        _refuse(f"{_describe(facts, scope)} (os_type WINDOWS)", "a Windows image")
    return facts


def _facts(scope: Construct, image_id: str, os_type: ec2.OperatingSystemType) -> ImageFacts:
    if not Token.is_unresolved(image_id):
        return _classify_string(image_id, os_type)

    resolved = Stack.of(scope).resolve(image_id)
    if isinstance(resolved, str):
        return _classify_string(resolved, os_type, image_id=image_id)
    if isinstance(resolved, dict) and "Fn::FindInMap" in resolved:
        # CloudFormation mappings hold literal values only: one pinned AMI id per key (generic_linux's AmiMap).
        return ImageFacts(image_id=image_id, os_type=os_type, literal_ami=True)
    if isinstance(resolved, dict) and set(resolved) == {"Ref"}:
        parameter = _find_parameter(scope, resolved["Ref"])
        if parameter is not None:
            return _classify_stack_parameter(image_id, os_type, parameter)
    return ImageFacts(image_id=image_id, os_type=os_type)


def _classify_string(
    text: str, os_type: ec2.OperatingSystemType, *, image_id: str | None = None
) -> ImageFacts:
    """Classify an image id that resolves to the string ``text`` (``image_id`` is the token, if it was one)."""
    image_id = text if image_id is None else image_id
    if _LITERAL_AMI.fullmatch(text):
        return ImageFacts(image_id=image_id, os_type=os_type, literal_ami=True)
    if text.startswith(_LOOKUP_PLACEHOLDER):
        return _with_parameter(image_id, os_type, text[len(_LOOKUP_PLACEHOLDER) :], None)
    dynamic = _DYNAMIC_REFERENCE.fullmatch(text)
    match = _RESOLVE_SSM.fullmatch(dynamic.group("reference") if dynamic else text)
    if match is None:
        return ImageFacts(image_id=image_id, os_type=os_type)
    return _with_parameter(
        image_id,
        os_type,
        match.group("name"),
        match.group("version"),
        resolved_at_launch=dynamic is None,
        resolved_at_deploy=dynamic is not None,
    )


def _classify_stack_parameter(
    image_id: str, os_type: ec2.OperatingSystemType, parameter: CfnParameter
) -> ImageFacts:
    default = parameter.default
    if (
        parameter.type == _SSM_IMAGE_PARAMETER_TYPE
        and isinstance(default, str)
        and not Token.is_unresolved(default)
    ):
        # What CDK writes for latest_amazon_linux2023(), AmazonLinux2023ImageSsmParameter and from_ssm_parameter.
        return _with_parameter(image_id, os_type, default, None, resolved_at_deploy=True)
    return ImageFacts(image_id=image_id, os_type=os_type, resolved_at_deploy=True)


def _with_parameter(
    image_id: str,
    os_type: ec2.OperatingSystemType,
    name: str,
    version: str | None,
    *,
    resolved_at_launch: bool = False,
    resolved_at_deploy: bool = False,
) -> ImageFacts:
    for prefix, operating_system in _NOT_AL2023:
        if name.startswith(prefix):
            _refuse(repr(name), f"the public parameter of {operating_system}")
    al2023 = _AL2023_PARAMETER.fullmatch(name)
    return ImageFacts(
        image_id=image_id,
        os_type=os_type,
        ssm_parameter=name,
        al2023_ssm_parameter=name if al2023 else None,
        parameter_version=version,
        architecture=_ARCHITECTURES[al2023.group("arch")] if al2023 else None,
        minimal=bool(al2023 and al2023.group("minimal")),
        resolved_at_launch=resolved_at_launch,
        resolved_at_deploy=resolved_at_deploy,
    )


def _find_parameter(scope: Construct, logical_id: Any) -> CfnParameter | None:
    stack = Stack.of(scope)
    for construct in stack.node.find_all():
        if isinstance(construct, CfnParameter) and stack.resolve(construct.logical_id) == logical_id:
            return construct
    return None


def _refuse(what: str, why: str) -> NoReturn:
    raise ValueError(
        f"machine_image {what} is {why}, not Amazon Linux 2023: the host's setup installs packages with dnf and "
        f"writes systemd units for Amazon Linux 2023, the only operating system it supports. Use "
        f"al2023_at_launch(instance_type) (the default) or another Amazon Linux 2023 image; see {IMAGES_DOCS}"
    )


def _describe(facts: ImageFacts, scope: Construct | None = None) -> str:
    """The image as a message names it: its SSM parameter, its id, or what its token resolves to."""
    if facts.ssm_parameter is not None:
        version = f" (version {facts.parameter_version})" if facts.parameter_version else ""
        return f"{facts.ssm_parameter!r}{version}"
    if scope is not None and Token.is_unresolved(facts.image_id):
        return json.dumps(Stack.of(scope).resolve(facts.image_id))
    return repr(facts.image_id)
