"""Which machine images the host accepts, what each puts into the template, and what the validators say about it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
import pytest
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs.checks.compliance import acknowledge
from constructs_obs.host.images import ImageFacts, al2023_at_launch, check_architecture, inspect_image
from constructs_obs.host.instance import AMI_RESOLVED_AT_LAUNCH, PINNED_AMI
from tests.conftest import make_app
from tests.test_compliance import _assert_cfn_lint_clean, _plugin_report

LATEST = "/aws/service/ami-amazon-linux-latest"
X86 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
ARM = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
REGION = "eu-west-1"
PINNED_ID = "ami-0123456789abcdef0"

T3 = ec2.InstanceType("t3.small")
T4G = ec2.InstanceType("t4g.small")
X86_64 = ec2.InstanceArchitecture.X86_64
ARM_64 = ec2.InstanceArchitecture.ARM_64
LINUX = ec2.OperatingSystemType.LINUX


@jsii.implements(ec2.IMachineImage)
class FixedImage:
    """A machine image that gives ``image_id`` as it is, the way a hand-written IMachineImage would."""

    def __init__(self, image_id: str) -> None:
        self.image_id = image_id

    def get_image(self, scope: Construct) -> ec2.MachineImageConfig:
        return ec2.MachineImageConfig(
            image_id=self.image_id, os_type=LINUX, user_data=ec2.UserData.for_linux()
        )


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Images", env=cdk.Environment(region=REGION))


def _resolved(stack: cdk.Stack, facts: ImageFacts) -> Any:
    return stack.resolve(facts.image_id)


def _parameter_default(stack: cdk.Stack, ref: Any) -> tuple[str, str]:
    """(type, default) of the CloudFormation parameter that ``{"Ref": ...}`` names, from the construct tree."""
    for construct in stack.node.find_all():
        if isinstance(construct, cdk.CfnParameter) and {"Ref": stack.resolve(construct.logical_id)} == ref:
            return construct.type, str(construct.default)
    raise AssertionError(f"no parameter {ref}")


# --- al2023_at_launch: the host's default image ---------------------------------------------------------------


def test_al2023_at_launch_resolves_the_architectures_parameter_at_launch(stack: cdk.Stack) -> None:
    assert al2023_at_launch(T3).get_image(stack).image_id == f"resolve:ssm:{X86}"
    assert al2023_at_launch(T4G).get_image(stack).image_id == f"resolve:ssm:{ARM}"
    pinned = al2023_at_launch(T3, parameter_version="95").get_image(stack)
    assert (pinned.image_id, pinned.os_type) == (f"resolve:ssm:{X86}:95", LINUX)


def test_the_default_image_is_al2023_resolved_at_launch(stack: cdk.Stack) -> None:
    assert inspect_image(stack, al2023_at_launch(T4G), T4G) == ImageFacts(
        image_id=f"resolve:ssm:{ARM}",
        os_type=LINUX,
        ssm_parameter=ARM,
        al2023_ssm_parameter=ARM,
        architecture=ARM_64,
        resolved_at_launch=True,
    )


def test_the_readmes_pinning_recipe_is_al2023_resolved_at_launch_with_its_version(stack: cdk.Stack) -> None:
    facts = inspect_image(stack, al2023_at_launch(ec2.InstanceType("t3.small"), parameter_version="95"), T3)
    assert facts == ImageFacts(
        image_id=f"resolve:ssm:{X86}:95",
        os_type=LINUX,
        ssm_parameter=X86,
        al2023_ssm_parameter=X86,
        parameter_version="95",
        architecture=X86_64,
        resolved_at_launch=True,
    )
    assert facts.al2023 and not facts.unknown


# --- every public Amazon Linux 2023 parameter, resolved at launch -------------------------------------------


@pytest.mark.parametrize(
    ("name", "architecture", "minimal"),
    [
        ("al2023-ami-kernel-default-x86_64", X86_64, False),
        ("al2023-ami-kernel-default-arm64", ARM_64, False),
        ("al2023-ami-kernel-6.1-x86_64", X86_64, False),
        ("al2023-ami-kernel-6.1-arm64", ARM_64, False),
        ("al2023-ami-kernel-6.12-x86_64", X86_64, False),
        ("al2023-ami-kernel-6.12-arm64", ARM_64, False),
        ("al2023-ami-minimal-kernel-default-x86_64", X86_64, True),
        ("al2023-ami-minimal-kernel-default-arm64", ARM_64, True),
        ("al2023-ami-minimal-kernel-6.1-x86_64", X86_64, True),
        ("al2023-ami-minimal-kernel-6.12-arm64", ARM_64, True),
    ],
)
def test_every_al2023_parameter_resolved_at_launch_is_al2023_of_its_architecture(
    stack: cdk.Stack, name: str, architecture: ec2.InstanceArchitecture, minimal: bool
) -> None:
    parameter = f"{LATEST}/{name}"
    image = ec2.MachineImage.resolve_ssm_parameter_at_launch(parameter)
    instance_type = T3 if architecture == X86_64 else T4G
    facts = inspect_image(stack, image, instance_type)
    assert (facts.al2023_ssm_parameter, facts.architecture, facts.minimal) == (
        parameter,
        architecture,
        minimal,
    )
    assert (facts.resolved_at_launch, facts.resolved_at_deploy, facts.literal_ami) == (True, False, False)


def test_a_cloudformation_dynamic_reference_is_resolved_at_deploy_not_at_launch(stack: cdk.Stack) -> None:
    facts = inspect_image(stack, FixedImage(f"{{{{resolve:ssm:{ARM}:7}}}}"), T4G)
    assert facts == ImageFacts(
        image_id=f"{{{{resolve:ssm:{ARM}:7}}}}",
        os_type=LINUX,
        ssm_parameter=ARM,
        al2023_ssm_parameter=ARM,
        parameter_version="7",
        architecture=ARM_64,
        resolved_at_deploy=True,
    )


# --- CDK's own Amazon Linux 2023 images: a stack parameter whose default is the public parameter ---------------


@pytest.mark.parametrize(
    ("image", "parameter", "architecture", "minimal"),
    [
        (ec2.MachineImage.latest_amazon_linux2023(), f"{LATEST}/al2023-ami-kernel-6.1-x86_64", X86_64, False),
        (
            ec2.MachineImage.latest_amazon_linux2023(cpu_type=ec2.AmazonLinuxCpuType.ARM_64),
            f"{LATEST}/al2023-ami-kernel-6.1-arm64",
            ARM_64,
            False,
        ),
        (
            ec2.AmazonLinux2023ImageSsmParameter(
                cached_in_context=False, edition=ec2.AmazonLinuxEdition.MINIMAL
            ),
            f"{LATEST}/al2023-ami-minimal-kernel-default-x86_64",
            X86_64,
            True,
        ),
        (
            ec2.MachineImage.from_ssm_parameter(f"{LATEST}/al2023-ami-kernel-6.12-arm64"),
            f"{LATEST}/al2023-ami-kernel-6.12-arm64",
            ARM_64,
            False,
        ),
    ],
    ids=[
        "latest_amazon_linux2023",
        "latest_amazon_linux2023-arm64",
        "ssm-parameter-minimal",
        "from_ssm_parameter",
    ],
)
def test_cdks_al2023_images_are_a_stack_parameter_resolved_at_deploy(
    stack: cdk.Stack,
    image: ec2.IMachineImage,
    parameter: str,
    architecture: ec2.InstanceArchitecture,
    minimal: bool,
) -> None:
    facts = inspect_image(stack, image, T3 if architecture == X86_64 else T4G)
    # What the template holds: a Ref to a parameter typed as an SSM AMI parameter, defaulting to the public name.
    assert _parameter_default(stack, _resolved(stack, facts)) == (
        "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        parameter,
    )
    assert (facts.al2023_ssm_parameter, facts.architecture, facts.minimal) == (
        parameter,
        architecture,
        minimal,
    )
    assert (facts.resolved_at_deploy, facts.resolved_at_launch, facts.literal_ami) == (True, False, False)


def test_latest_amazon_linux2023_in_the_synthesized_template(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Latest", env=cdk.Environment(region=REGION))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, restrict_default_security_group=False)
    image = ec2.MachineImage.latest_amazon_linux2023(cpu_type=ec2.AmazonLinuxCpuType.ARM_64)
    facts = inspect_image(stack, image, T4G)
    ec2.Instance(stack, "Instance", vpc=vpc, instance_type=T4G, machine_image=image)
    template = app.synth().get_stack_by_name("Latest").template
    (instance,) = (r for r in template["Resources"].values() if r["Type"] == "AWS::EC2::Instance")
    ref = instance["Properties"]["ImageId"]["Ref"]
    assert template["Parameters"][ref] == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-6.1-arm64",
    }
    assert _resolved(stack, facts) == {"Ref": ref}


def test_a_lookup_not_cached_yet_is_classified_by_its_placeholder() -> None:
    stack = cdk.Stack(cdk.App(), "Cached", env=cdk.Environment(account="111122223333", region=REGION))
    facts = inspect_image(stack, ec2.AmazonLinux2023ImageSsmParameter(), T3)  # cached_in_context by default
    assert facts == ImageFacts(
        image_id=f"dummy-value-for-{X86}",
        os_type=LINUX,
        ssm_parameter=X86,
        al2023_ssm_parameter=X86,
        architecture=X86_64,
    )
    with pytest.raises(ValueError, match=r"t4g\.small is ARM_64"):
        inspect_image(stack, ec2.AmazonLinux2023ImageSsmParameter(), T4G)


# --- literal AMI ids: a deliberate pin ----------------------------------------------------------------------


def test_a_literal_ami_id_is_a_pin_of_unknown_architecture(stack: cdk.Stack) -> None:
    facts = inspect_image(stack, ec2.MachineImage.generic_linux({REGION: PINNED_ID}), T4G)
    assert facts == ImageFacts(image_id=PINNED_ID, os_type=LINUX, literal_ami=True)
    assert not facts.al2023 and not facts.unknown


def test_an_ami_map_in_an_environment_agnostic_stack_is_a_literal_pin_and_inspection_leaves_no_mapping() -> (
    None
):
    stack = cdk.Stack(cdk.App(), "Agnostic")
    facts = inspect_image(stack, ec2.MachineImage.generic_linux({REGION: PINNED_ID}), T3)
    assert facts.literal_ami and facts.architecture is None
    mapping, region, key = stack.resolve(facts.image_id)["Fn::FindInMap"]
    assert (region, key) == ({"Ref": "AWS::Region"}, "ami")
    # The mapping get_image made lived in a temporary child, removed again: nothing is left in the stack.
    assert "AmiMap" in mapping
    assert [c.node.path for c in stack.node.find_all() if isinstance(c, cdk.CfnMapping)] == []
    assert [c.node.id for c in stack.node.children] == []


def test_an_ami_lookup_gives_a_literal_id() -> None:
    stack = cdk.Stack(cdk.App(), "Lookup", env=cdk.Environment(account="111122223333", region=REGION))
    facts = inspect_image(stack, ec2.MachineImage.lookup(name="al2023-ami-2023.*-x86_64"), T3)
    assert facts == ImageFacts(image_id="ami-1234", os_type=LINUX, literal_ami=True)  # CDK's placeholder


# --- known not to be Amazon Linux 2023: refused -------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "named", "why"),
    [
        (
            ec2.MachineImage.latest_amazon_linux2(),
            "/aws/service/ami-amazon-linux-latest/amzn2-ami-kernel-5.10-hvm-x86_64-gp2",
            "Amazon Linux 2",
        ),
        (
            ec2.MachineImage.resolve_ssm_parameter_at_launch(f"{LATEST}/amzn2-ami-hvm-x86_64-gp2"),
            "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2",
            "Amazon Linux 2",
        ),
        (
            ec2.MachineImage.from_ssm_parameter(f"{LATEST}/amzn-ami-hvm-x86_64-gp2"),
            "/aws/service/ami-amazon-linux-latest/amzn-ami-hvm-x86_64-gp2",
            "Amazon Linux \\(the first one\\)",
        ),
        (
            ec2.MachineImage.latest_windows(ec2.WindowsVersion.WINDOWS_SERVER_2022_ENGLISH_FULL_BASE),
            "/aws/service/ami-windows-latest/Windows_Server-2022-English-Full-Base",
            "Windows Server",
        ),
        (ec2.MachineImage.generic_windows({REGION: PINNED_ID}), PINNED_ID, "a Windows image"),
        (
            ec2.MachineImage.resolve_ssm_parameter_at_launch(
                "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
            ),
            "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
            "Ubuntu",
        ),
        (
            ec2.MachineImage.from_ssm_parameter("/aws/service/debian/release/12/latest/amd64"),
            "/aws/service/debian/release/12/latest/amd64",
            "Debian",
        ),
        (
            ec2.MachineImage.resolve_ssm_parameter_at_launch("/aws/service/suse/sles/15-sp5/x86_64/latest"),
            "/aws/service/suse/sles/15-sp5/x86_64/latest",
            "SUSE",
        ),
        (
            ec2.MachineImage.from_ssm_parameter("/aws/service/redhat/rhel/9/x86_64/latest"),
            "/aws/service/redhat/rhel/9/x86_64/latest",
            "Red Hat Enterprise Linux",
        ),
        (
            ec2.MachineImage.resolve_ssm_parameter_at_launch(
                f"{LATEST}/al2023-ami-kernel-default-x86_64", os=ec2.OperatingSystemType.WINDOWS
            ),
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            "a Windows image",
        ),
    ],
    ids=[
        "latest_amazon_linux2",
        "amzn2-at-launch",
        "amazon-linux-1",
        "latest_windows",
        "generic_windows",
        "ubuntu",
        "debian",
        "suse",
        "rhel",
        "os_type-windows",
    ],
)
def test_images_known_not_to_be_al2023_are_refused_naming_the_value_and_why(
    stack: cdk.Stack, image: ec2.IMachineImage, named: str, why: str
) -> None:
    with pytest.raises(ValueError) as refused:
        inspect_image(stack, image, T3)
    message = str(refused.value)
    assert named in message
    assert re.search(why, message), message
    assert "not Amazon Linux 2023" in message
    assert "dnf" in message and "systemd units" in message
    assert 'the "Images" section of docs/usage.md' in message


# --- unknown images: accepted, and the facts say nothing is known ------------------------------------------


def test_a_stack_parameter_you_made_is_unknown_and_resolved_at_deploy(stack: cdk.Stack) -> None:
    ami = cdk.CfnParameter(stack, "Ami", type="AWS::EC2::Image::Id")
    facts = inspect_image(stack, ec2.MachineImage.generic_linux({REGION: ami.value_as_string}), T4G)
    assert stack.resolve(facts.image_id) == {"Ref": "Ami"}
    assert facts == ImageFacts(image_id=facts.image_id, os_type=LINUX, resolved_at_deploy=True)
    assert facts.unknown


def test_your_own_ssm_parameter_is_unknown_and_still_resolved_at_launch(stack: cdk.Stack) -> None:
    at_launch = inspect_image(stack, ec2.MachineImage.resolve_ssm_parameter_at_launch("/golden/ami"), T3)
    assert at_launch == ImageFacts(
        image_id="resolve:ssm:/golden/ami",
        os_type=LINUX,
        ssm_parameter="/golden/ami",
        resolved_at_launch=True,
    )
    at_deploy = inspect_image(stack, ec2.MachineImage.from_ssm_parameter("/golden/ami"), T4G)
    assert (at_deploy.ssm_parameter, at_deploy.resolved_at_deploy, at_deploy.unknown) == (
        "/golden/ami",
        True,
        True,
    )


def test_an_imported_value_is_unknown(stack: cdk.Stack) -> None:
    facts = inspect_image(stack, FixedImage(cdk.Fn.import_value("GoldenAmi")), T3)
    assert stack.resolve(facts.image_id) == {"Fn::ImportValue": "GoldenAmi"}
    assert facts == ImageFacts(image_id=facts.image_id, os_type=LINUX)
    assert facts.unknown


# --- architecture -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instance_type", "architecture"),
    [
        ("t3.small", X86_64),
        ("t3a.micro", X86_64),
        ("m6a.large", X86_64),
        ("mac2.metal", X86_64),
        ("t4g.small", ARM_64),
        ("m7g.large", ARM_64),
        ("c8g.xlarge", ARM_64),
        ("a1.medium", ARM_64),
        ("g5g.xlarge", ARM_64),
        ("x2gd.large", ARM_64),
    ],
)
def test_cdk_knows_graviton_instance_types_are_arm_64(
    instance_type: str, architecture: ec2.InstanceArchitecture
) -> None:
    assert ec2.InstanceType(instance_type).architecture == architecture


def test_an_instance_type_contradicting_the_images_architecture_is_refused_with_the_fix(
    stack: cdk.Stack,
) -> None:
    with pytest.raises(ValueError) as refused:
        inspect_image(stack, al2023_at_launch(T3), ec2.InstanceType("t4g.small"))
    assert str(refused.value) == (
        "instance_type t4g.small is ARM_64 but machine_image "
        "'/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' is an X86_64 image, and an "
        "instance does not boot from an image of another architecture. Use al2023_at_launch(instance_type) for "
        "Amazon Linux 2023 of the instance type's architecture, or an instance type of the image's architecture"
    )
    with pytest.raises(
        ValueError, match=r"instance_type m7g\.large is ARM_64 .*al2023-ami-kernel-6\.1-x86_64"
    ):
        inspect_image(stack, ec2.MachineImage.latest_amazon_linux2023(), ec2.InstanceType("m7g.large"))
    with pytest.raises(ValueError, match=r"instance_type t3\.small is X86_64 .*arm64' \(version 95\)"):
        inspect_image(stack, al2023_at_launch(T4G, parameter_version="95"), T3)


def test_check_architecture_passes_matching_and_unknown_architectures() -> None:
    arm = ImageFacts(
        image_id=f"resolve:ssm:{ARM}", os_type=LINUX, al2023_ssm_parameter=ARM, architecture=ARM_64
    )
    check_architecture(arm, ec2.InstanceType("c7g.large"))
    check_architecture(ImageFacts(image_id=PINNED_ID, os_type=LINUX, literal_ami=True), T3)
    check_architecture(ImageFacts(image_id=PINNED_ID, os_type=LINUX, literal_ami=True), T4G)
    with pytest.raises(ValueError, match=r"c7g\.large is ARM_64"):
        check_architecture(
            ImageFacts(image_id=f"resolve:ssm:{X86}", os_type=LINUX, ssm_parameter=X86, architecture=X86_64),
            ec2.InstanceType("c7g.large"),
        )


# --- what the validators say: the facts that need the host's acknowledgments ------------------------------


def _cfn_lint_findings(template: Path) -> list[tuple[str, str]]:
    """(rule id, logical id) of every cfn-lint finding on ``template``."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "json", str(template)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return [(f["Rule"]["Id"], f["Location"]["Path"][1]) for f in json.loads(result.stdout or "[]")]


def _pinned_instance_app(outdir: Path, *, acknowledged: bool) -> tuple[cdk.App, ImageFacts]:
    """cdk.json's app with a plain ec2.Instance on the README's pinning recipe, acknowledged as the host would."""
    app = make_app(outdir)
    stack = cdk.Stack(app, "Pinned", env=cdk.Environment(region=REGION))
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, restrict_default_security_group=False)
    image = al2023_at_launch(ec2.InstanceType("t3.small"), parameter_version="95")
    facts = inspect_image(stack, image, T3)
    instance = ec2.Instance(stack, "Instance", vpc=vpc, instance_type=T3, machine_image=image)
    if acknowledged and facts.resolved_at_launch:
        acknowledge(instance, AMI_RESOLVED_AT_LAUNCH)
    return app, facts


def test_the_pinned_recipe_fails_synth_on_e1152_alone_and_cfn_lint_reports_it(tmp_path: Path) -> None:
    app, facts = _pinned_instance_app(tmp_path, acknowledged=False)
    assert app.node.try_get_context("@aws-cdk/core:validateAgainstDefaultRules") is True
    assert facts.resolved_at_launch
    with pytest.raises(Exception, match=r"ValidationFailed"):
        app.synth()
    violations = _plugin_report(app, "CloudFormation Validate")["violations"]
    assert [
        (v["ruleName"], c["constructPath"], c["cloudFormationResource"]["propertyPaths"])
        for v in violations
        for c in v["violatingConstructs"]
    ] == [("E1152", "Pinned/Instance/Resource", ["Properties.ImageId"])]
    assert "al2023-ami-kernel-default-x86_64:95" in violations[0]["description"]
    # The template is written before validation fails: cfn-lint finds the same, and nothing else.
    findings = _cfn_lint_findings(tmp_path / "Pinned.template.json")
    assert [rule for rule, _ in findings] == ["E1152"]
    assert findings[0][1].startswith("Instance")


def test_acknowledging_resolved_at_launch_images_makes_the_pinned_recipe_pass_both(tmp_path: Path) -> None:
    app, _ = _pinned_instance_app(tmp_path, acknowledged=True)
    app.synth()
    report = _plugin_report(app, "CloudFormation Validate")
    assert report["violations"] == []
    assert [s["acknowledgedId"] for s in report.get("suppressedViolations", [])] == [
        "CloudFormation-Validate::E1152"
    ]
    _assert_cfn_lint_clean([tmp_path / "Pinned.template.json"])


def test_an_ami_map_is_a_literal_pin_for_the_validator_and_inspection_leaves_no_extra_mapping(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path)
    stack = cdk.Stack(app, "Mapped")  # environment-agnostic: generic_linux writes Fn::FindInMap
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, restrict_default_security_group=False)
    # The validator resolves AWS::Region to us-east-1 in an environment-agnostic template, and so sees a literal id.
    image = ec2.MachineImage.generic_linux({REGION: PINNED_ID, "us-east-1": "ami-0fedcba9876543210"})
    facts = inspect_image(stack, image, T3)
    instance = ec2.Instance(stack, "Instance", vpc=vpc, instance_type=T3, machine_image=image)
    assert facts.literal_ami and not facts.resolved_at_launch
    if facts.literal_ami:
        acknowledge(instance, PINNED_AMI)
    template = app.synth().get_stack_by_name("Mapped").template
    assert list(template["Mappings"]) == [
        "InstanceAmiMap051BFFE2"
    ]  # the instance's own; no W7001 (unreferenced)
    report = _plugin_report(app, "CloudFormation Validate")
    assert report["violations"] == []
    assert [s["acknowledgedId"] for s in report.get("suppressedViolations", [])] == [
        "CloudFormation-Validate::W9010"
    ]
