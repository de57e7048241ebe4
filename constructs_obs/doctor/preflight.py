"""``obs-doctor preflight --instance i-...``: can the library attach to this running instance? Read-only, before any
deploy of a ``HostObservability`` (docs/migration.md, "Keep the instance").

Each row is one requirement of the setup association (:mod:`constructs_obs.host.setup`), with its fix:

- ``image``: the instance runs **Amazon Linux 2023**, from its AMI's name (``al2023-ami-...``, the names Amazon
  gives its AL2023 images, EC2 DescribeImages): the setup installs the CloudWatch agent with ``dnf`` from AL2023's
  repositories. A minimal AL2023 image is a warning (the SSM agent may be missing).
- ``ssm-registration``: the SSM agent is **registered and online** (``DescribeInstanceInformation``, ``PingStatus``
  ``Online``): State Manager delivers the setup through it.
- ``role-permissions``: the role of the instance profile **allows what the setup and the agent need**, as IAM's
  policy simulator decides (``SimulatePrincipalPolicy``): the SSM agent's registration, message channels and State
  Manager calls and reading ``AWS-RunShellScript`` (the same action lists the constructs grant,
  :mod:`constructs_obs.contract`). The stack adds the log writes and metrics itself.
- ``imds``: the instance metadata service answers (``HttpEndpoint`` enabled: the SSM agent, Docker's awslogs
  driver and the CloudWatch agent take the role's credentials from it); IMDSv1 still allowed is a warning.
- ``free-memory`` (``--deep``, over SSM Run Command, ``ssm:SendCommand``): ``MemAvailable`` from ``/proc/meminfo``
  is at least :data:`DNF_MEMORY_MIB`; less is a warning (dnf may be killed by the kernel's OOM killer, and the
  app's containers with it).

Statuses are ``obs-doctor``'s (:class:`~constructs_obs.doctor.report.Status`); exit codes the same: 0 all passed
(warnings allowed), 1 a requirement failed, 2 the preflight could not run, 3 something could not be checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import (
    DOCUMENT_READ_ACTIONS,
    RUN_SHELL_SCRIPT_DOCUMENT,
    SSM_CHANNEL_ACTIONS,
    SSM_REGISTRATION_ACTION,
    STATE_MANAGER_ACTIONS,
)
from constructs_obs.doctor.facts import could_not_check, error_code
from constructs_obs.doctor.report import CheckResult, Status

#: The prefix of the names of Amazon's Amazon Linux 2023 AMIs (``al2023-ami-2023.x...``, ``al2023-ami-minimal-...``).
AL2023_NAME_PREFIX = "al2023-ami-"
#: Free memory the setup's ``dnf install amazon-cloudwatch-agent`` should find, in MiB. dnf loads the repositories'
#: metadata into memory (libsolv); on a 2 GiB host that already runs the app, a little headroom is what keeps the
#: kernel's OOM killer away from the containers. An estimate with a margin, not a measured figure.
DNF_MEMORY_MIB = 300
#: What ``--deep`` runs on the host (read-only).
MEMINFO_COMMAND = "grep -E '^(MemAvailable|MemTotal):' /proc/meminfo"
#: The fix for a role without the SSM agent's permissions, for a role managed by Terraform.
SSM_POLICY_ARN_SUFFIX = ":iam::aws:policy/AmazonSSMManagedInstanceCore"


@dataclass(frozen=True)
class Preflight:
    """What the preflight found: the instance, its region and the rows."""

    instance_id: str
    region: str
    results: tuple[CheckResult, ...]


def _row(check: str, status: Status, resource: str, detail: str, next_step: str = "") -> CheckResult:
    return CheckResult(check, status, resource, detail, next_step)


def _image_row(ec2: Any, instance: dict[str, Any]) -> CheckResult:
    image_id = str(instance.get("ImageId", ""))
    try:
        images = ec2.describe_images(ImageIds=[image_id]).get("Images", [])
    except ClientError as error:
        if error_code(error) != "InvalidAMIID.NotFound":
            return could_not_check("image", image_id, error)
        images = []
    name = str(images[0].get("Name", "")) if images else ""
    fix = (
        "HostObservability sets up Amazon Linux 2023 hosts only (dnf and AL2023's amazon-cloudwatch-agent package). "
        'Move the app to a new Amazon Linux 2023 host: docs/migration.md, "Move to a new host" (ObservedEc2Host).'
    )
    if not images:
        return _row(
            "image",
            Status.WARN,
            image_id,
            "the AMI is no longer described (deregistered): its operating system cannot be read from it",
            "Check on the host: cat /etc/os-release must say Amazon Linux 2023. " + fix,
        )
    if not name.startswith(AL2023_NAME_PREFIX):
        return _row(
            "image",
            Status.FAIL,
            image_id,
            f"the instance runs {name or 'an AMI without a name'}, not Amazon Linux 2023",
            fix,
        )
    if name.startswith(f"{AL2023_NAME_PREFIX}minimal"):
        return _row(
            "image",
            Status.WARN,
            image_id,
            f"{name}: a minimal Amazon Linux 2023 image, which may not include the SSM agent",
            "Check the ssm-registration row; install it with sudo dnf install -y amazon-ssm-agent if it is missing.",
        )
    return _row("image", Status.PASS, image_id, f"Amazon Linux 2023 ({name})")


def _ssm_row(ssm: Any, instance_id: str, region: str) -> CheckResult:
    try:
        found = ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
        ).get("InstanceInformationList", [])
    except (ClientError, BotoCoreError) as error:
        return could_not_check("ssm-registration", instance_id, error)
    if not found:
        return _row(
            "ssm-registration",
            Status.FAIL,
            instance_id,
            "not registered with Systems Manager: State Manager cannot deliver the setup, and the deploy would "
            "fail after waiting 15 minutes",
            "Give the instance's role the SSM agent's permissions (see the role-permissions row), check the host "
            "reaches the ssm, ssmmessages and ec2messages endpoints of "
            f"{region}, then restart the agent: sudo systemctl restart amazon-ssm-agent. It shows as Online in "
            f"aws ssm describe-instance-information --filters Key=InstanceIds,Values={instance_id} --region {region}",
        )
    info = found[0]
    ping = str(info.get("PingStatus", "Unknown"))
    if ping != "Online":
        return _row(
            "ssm-registration",
            Status.FAIL,
            instance_id,
            f"registered with Systems Manager but {ping} (last ping {info.get('LastPingDateTime', 'unknown')})",
            "Start the instance if it is stopped; on the host: sudo systemctl status amazon-ssm-agent, and check "
            "its route to the SSM endpoints.",
        )
    agent = info.get("AgentVersion")
    return _row(
        "ssm-registration",
        Status.PASS,
        instance_id,
        "registered and Online in Systems Manager" + (f" (SSM agent {agent})" if agent else ""),
    )


def needed_requests(partition: str, region: str, account: str, instance_id: str) -> list[tuple[str, str]]:
    """(action, resource) the instance's role must allow for the setup: the SSM agent's registration, channels and
    State Manager calls, and reading the setup's document (the constructs' own lists, :mod:`constructs_obs.contract`)."""
    document = f"arn:{partition}:ssm:{region}::document/{RUN_SHELL_SCRIPT_DOCUMENT}"
    instance = f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}"
    return [
        (SSM_REGISTRATION_ACTION, instance),
        *((action, "*") for action in (*SSM_CHANNEL_ACTIONS, *STATE_MANAGER_ACTIONS)),
        *((action, document) for action in DOCUMENT_READ_ACTIONS),
    ]


def _role_rows(
    iam: Any, instance: dict[str, Any], region: str, account: str, partition: str
) -> list[CheckResult]:
    instance_id = str(instance["InstanceId"])
    profile_arn = instance.get("IamInstanceProfile", {}).get("Arn")
    if not profile_arn:
        return [
            _row(
                "role-permissions",
                Status.FAIL,
                instance_id,
                "no IAM instance profile attached: the SSM agent, Docker's awslogs driver and the CloudWatch agent "
                "have no credentials",
                f"Attach a profile whose role has the SSM agent's permissions: aws ec2 associate-iam-instance-profile "
                f"--instance-id {instance_id} --iam-instance-profile Name=<profile> --region {region}",
            )
        ]
    profile = profile_arn.rsplit("/", 1)[-1]
    try:
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"].get("Roles", [])
    except (ClientError, BotoCoreError) as error:
        return [could_not_check("role-permissions", profile, error)]
    if not roles:
        return [
            _row(
                "role-permissions",
                Status.FAIL,
                profile,
                f"the instance profile {profile} holds no role",
                f"aws iam add-role-to-instance-profile --instance-profile-name {profile} --role-name <role>",
            )
        ]
    role = roles[0]
    role_name, role_arn = str(role["RoleName"]), str(role["Arn"])
    denied: list[str] = []
    for action, resource in needed_requests(partition, region, account, instance_id):
        try:
            results = iam.simulate_principal_policy(
                PolicySourceArn=role_arn, ActionNames=[action], ResourceArns=[resource]
            ).get("EvaluationResults", [])
        except (ClientError, BotoCoreError) as error:
            return [could_not_check("role-permissions", role_name, error)]
        if not results or results[0].get("EvalDecision") != "allowed":
            denied.append(action)
    if denied:
        return [
            _row(
                "role-permissions",
                Status.FAIL,
                role_name,
                f"the role {role_name} may not {', '.join(denied)} (IAM policy simulator): the SSM agent cannot "
                "register or receive the setup",
                "Give the role the SSM agent's permissions where the role is managed: in Terraform, "
                f'resource "aws_iam_role_policy_attachment" "ssm" {{ role = "{role_name}", policy_arn = '
                f'"arn:{partition}{SSM_POLICY_ARN_SUFFIX}" }}; by hand, aws iam attach-role-policy --role-name '
                f"{role_name} --policy-arn arn:{partition}{SSM_POLICY_ARN_SUFFIX}. Then check again.",
            )
        ]
    return [
        _row(
            "role-permissions",
            Status.PASS,
            role_name,
            f"{role_name} (profile {profile}) may register with Systems Manager, open its channels and receive the "
            "setup (IAM policy simulator); the stack adds the log writes and metrics",
        )
    ]


def _imds_row(instance: dict[str, Any], region: str) -> CheckResult:
    instance_id = str(instance["InstanceId"])
    options = instance.get("MetadataOptions", {})
    if options.get("HttpEndpoint") == "disabled":
        return _row(
            "imds",
            Status.FAIL,
            instance_id,
            "the instance metadata service is disabled: the SSM agent, Docker's awslogs driver and the CloudWatch "
            "agent get no credentials",
            f"aws ec2 modify-instance-metadata-options --instance-id {instance_id} --http-endpoint enabled "
            f"--http-tokens required --region {region}",
        )
    hops = options.get("HttpPutResponseHopLimit")
    if options.get("HttpTokens") != "required":
        return _row(
            "imds",
            Status.WARN,
            instance_id,
            "IMDSv1 is allowed: any process that can make the host fetch a URL can read the role's credentials",
            f"Require IMDSv2 (Docker's awslogs driver and the agents use it): aws ec2 modify-instance-metadata-options "
            f"--instance-id {instance_id} --http-tokens required --http-put-response-hop-limit 1 --region {region}",
        )
    return _row(
        "imds",
        Status.PASS,
        instance_id,
        f"IMDSv2 required, hop limit {hops if hops is not None else 'default'}",
    )


def _memory_row(
    ssm: Any, instance_id: str, sleep: Callable[[float], None], timeout_seconds: float = 60.0
) -> CheckResult:
    try:
        command = ssm.send_command(
            InstanceIds=[instance_id],
            DocumentName=RUN_SHELL_SCRIPT_DOCUMENT,
            Comment="obs-doctor preflight --deep: read-only /proc/meminfo",
            Parameters={"commands": [MEMINFO_COMMAND]},
        )["Command"]
        waited = 0.0
        while True:
            try:
                invocation = ssm.get_command_invocation(
                    CommandId=command["CommandId"], InstanceId=instance_id
                )
            except ClientError as error:
                if error_code(error) != "InvocationDoesNotExist":
                    raise
                invocation = {"Status": "Pending"}
            if invocation.get("Status") not in ("Pending", "InProgress", "Delayed"):
                break
            if waited >= timeout_seconds:
                return _row("free-memory", Status.UNKNOWN, instance_id, "the command did not finish in time")
            sleep(2.0)
            waited += 2.0
    except (ClientError, BotoCoreError) as error:
        return could_not_check("free-memory", instance_id, error)
    values = {}
    for line in str(invocation.get("StandardOutputContent", "")).splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB") and rest.split()[0].isdigit():
            values[key.strip()] = int(rest.split()[0]) // 1024
    available = values.get("MemAvailable")
    if invocation.get("Status") != "Success" or available is None:
        return _row(
            "free-memory",
            Status.UNKNOWN,
            instance_id,
            f"could not read /proc/meminfo (command {invocation.get('Status')})",
        )
    total = values.get("MemTotal")
    of_total = f" of {total} MiB" if total is not None else ""
    if available < DNF_MEMORY_MIB:
        return _row(
            "free-memory",
            Status.WARN,
            instance_id,
            f"{available} MiB available{of_total}: the setup's dnf install needs about {DNF_MEMORY_MIB} MiB, and "
            "the kernel may kill a container to find it",
            "Deploy when the app is quiet, stop what the host does not need, or add swap (sudo dnf install -y "
            "zram-generator) before the deploy.",
        )
    return _row("free-memory", Status.PASS, instance_id, f"{available} MiB available{of_total}")


def run_preflight(
    session: Any,
    instance_id: str,
    *,
    region: str,
    deep: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> Preflight:
    """Every requirement of ``instance_id`` in ``region``; raises what boto3 raises when nothing can be read
    (no credentials, no such instance: ``InvalidInstanceID.NotFound``)."""
    ec2 = session.client("ec2", region_name=region)
    identity = session.client("sts", region_name=region).get_caller_identity()
    account = str(identity["Account"])
    partition = str(identity["Arn"]).split(":")[1]
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = next(i for r in reservations for i in r.get("Instances", []))
    ssm = session.client("ssm", region_name=region)
    rows = [
        _image_row(ec2, instance),
        _ssm_row(ssm, instance_id, region),
        *_role_rows(session.client("iam", region_name=region), instance, region, account, partition),
        _imds_row(instance, region),
    ]
    state = instance.get("State", {}).get("Name")
    if state != "running":
        rows.insert(
            0,
            _row(
                "instance",
                Status.FAIL,
                instance_id,
                f"{state}, not running: the setup can only run on a running instance",
                f"aws ec2 start-instances --instance-ids {instance_id} --region {region}",
            ),
        )
    if deep:
        rows.append(_memory_row(ssm, instance_id, sleep))
    return Preflight(instance_id, region, tuple(rows))
