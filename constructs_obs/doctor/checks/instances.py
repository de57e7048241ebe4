"""The instances: each one the stack creates or observes runs, with the instance profile that holds its role."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.doctor import guide
from constructs_obs.doctor.facts import InstanceState, StackFacts, could_not_check, error_code
from constructs_obs.doctor.report import CheckResult, Status

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client


def _profile_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _describe(ec2: EC2Client, instance_id: str) -> dict[str, Any] | None:
    """The instance, or None when EC2 does not know it."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as error:
        if error_code(error) == "InvalidInstanceID.NotFound":
            return None
        raise
    found = [i for r in reservations for i in r.get("Instances", [])]
    return dict(found[0]) if found else None


def check_instances(
    ec2: EC2Client, facts: StackFacts, iam: Any
) -> tuple[list[CheckResult], dict[str, InstanceState]]:
    """Every instance runs and has its instance profile attached: the stack's own profile for an instance the
    stack creates; for an existing instance, a profile holding the role the stack grants (``iam:GetInstanceProfile``).

    Returns the rows and what DescribeInstances said about each instance, for the checks after this one.
    """
    inv = facts.inv
    resources = inv.of_type("AWS::EC2::Instance")
    if not resources and not facts.hosts:
        return [
            CheckResult(
                "instance",
                Status.FAIL,
                inv.name,
                "the stack has no EC2 instance and observes none",
                "Deploy a stack built with ObservedEc2Host (or HostObservability for an instance made elsewhere).",
            )
        ], {}
    stack_profiles = [r.physical_id for r in inv.of_type("AWS::IAM::InstanceProfile") if r.physical_id]
    rows: list[CheckResult] = []
    states: dict[str, InstanceState] = {}
    expected_profiles: dict[str, str | None] = {}
    for resource in resources:
        if not resource.physical_id:
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    resource.logical_id,
                    "not in the stack's resources: CloudFormation has not created it",
                    "Check the stack's events for why, fix it and deploy again.",
                )
            )
            continue
        expected = inv.ref(resource.properties.get("IamInstanceProfile"))
        if expected is None and len(stack_profiles) == 1:
            expected = stack_profiles[0]
        expected_profiles[resource.physical_id] = expected
    roles = {h.instance_id: h.role_name for h in facts.hosts if h.instance_id and not h.created_by_stack}
    for instance_id in facts.instance_ids:
        try:
            instance = _describe(ec2, instance_id)
        except (ClientError, BotoCoreError) as error:
            rows.append(could_not_check("instance", instance_id, error))
            continue
        if instance is None:
            states[instance_id] = InstanceState(instance_id, "missing")
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    instance_id,
                    "does not exist",
                    guide.drift(f"Instance {instance_id}", inv.name, inv.region)
                    if instance_id in expected_profiles
                    else "The stack observes an instance that no longer exists: point it at the instance that "
                    "replaced it (HostObservability(instance=...)) and deploy.",
                )
            )
            continue
        state = instance.get("State", {}).get("Name", "unknown")
        profile_arn = instance.get("IamInstanceProfile", {}).get("Arn")
        states[instance_id] = InstanceState(instance_id, state, instance.get("LaunchTime"), profile_arn)
        kind = instance.get("InstanceType", "")
        if state == "running":
            rows.append(CheckResult("instance", Status.PASS, instance_id, f"running ({kind})"))
        else:
            rows.append(
                CheckResult(
                    "instance",
                    Status.FAIL,
                    instance_id,
                    f"{state}, not running: no container runs and no logs or metrics arrive",
                    (
                        f"Start it: aws ec2 start-instances --instance-ids {instance_id} --region {inv.region}"
                        if state in ("stopped", "stopping")
                        else guide.drift(f"Instance {instance_id}", inv.name, inv.region)
                    ),
                )
            )
        if instance_id in expected_profiles:
            rows.append(_profile_row(facts, instance_id, profile_arn, expected_profiles[instance_id]))
        elif instance_id in roles:
            rows.append(_existing_profile_row(iam, facts, instance_id, profile_arn, roles[instance_id]))
    return rows, states


def _profile_row(
    facts: StackFacts, instance_id: str, attached_arn: str | None, expected: str | None
) -> CheckResult:
    region = facts.region
    attached = _profile_name(attached_arn) if attached_arn else None
    attach = (
        f"aws ec2 associate-iam-instance-profile --instance-id {instance_id} "
        f"--iam-instance-profile Name={expected} --region {region}"
        if expected
        else ""
    )
    if attached is None:
        return CheckResult(
            "instance-profile",
            Status.FAIL,
            instance_id,
            "no IAM instance profile attached: Docker cannot write to CloudWatch Logs",
            guide.iam_role_attached() + (f". Attach the stack's profile: {attach}" if attach else "."),
        )
    if expected and attached != expected:
        return CheckResult(
            "instance-profile",
            Status.FAIL,
            instance_id,
            f"instance profile {attached} attached, but the stack's is {expected}",
            guide.iam_role_attached()
            + f". Replace it with {expected} (Actions → Security → Modify IAM role).",
        )
    return CheckResult("instance-profile", Status.PASS, instance_id, f"{attached} attached")


def _existing_profile_row(
    iam: Any, facts: StackFacts, instance_id: str, attached_arn: str | None, role: str | None
) -> CheckResult:
    """An instance the stack observes: the attached profile must hold the role the stack grants the writes."""
    if attached_arn is None:
        return CheckResult(
            "instance-profile",
            Status.FAIL,
            instance_id,
            "no IAM instance profile attached: Docker and the CloudWatch agent have no credentials",
            guide.iam_role_attached()
            + (
                f". Attach a profile holding the role {role}, which the stack grants the writes."
                if role
                else "."
            ),
        )
    name = _profile_name(attached_arn)
    if role is None:
        return CheckResult("instance-profile", Status.PASS, instance_id, f"{name} attached")
    try:
        held = [
            r.get("RoleName")
            for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        ]
    except (ClientError, BotoCoreError) as error:
        return could_not_check("instance-profile", instance_id, error)
    if role in held:
        return CheckResult("instance-profile", Status.PASS, instance_id, f"{name} attached, holding {role}")
    return CheckResult(
        "instance-profile",
        Status.FAIL,
        instance_id,
        f"instance profile {name} holds {', '.join(map(str, held)) or 'no role'}, but the stack grants the log "
        f"and metric writes to {role}",
        guide.iam_role_attached()
        + f". Attach a profile holding {role}, or observe the instance with the role it has "
        "(HostObservability(role=...)) and deploy.",
    )
