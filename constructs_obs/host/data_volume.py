"""The host's data volume: the app's data (Docker's data root by default, so a database container's named volume)
on an encrypted gp3 EBS volume of its own that outlives the instance, instead of the disposable root volume.

**Why a separate volume and not a root volume kept on termination.** CloudFormation replaces a resource by creating
the new one first, then pointing the resources that depend on it at the new one, and deleting the old one last, in
the cleanup phase ("AWS CloudFormation usually creates the replacement resource first, changes references from
other dependent resources to point to the replacement resource, and then deletes the old resource", CloudFormation
User Guide, "Update behaviors of stack resources"). A kept root volume (``DeleteOnTermination: false``) therefore
stays on the old instance, which termination protection keeps running, while the new instance boots with an
empty root volume, takes over the Elastic IP and serves an empty database: nothing is deleted, but the app comes up
without its data. With a separate ``AWS::EC2::Volume`` and an ``AWS::EC2::VolumeAttachment``, the replacement
needs a new attachment (``InstanceId`` is create-only in the attachment's resource schema), which CloudFormation
creates while the old instance still holds the volume: EC2 refuses it (``VolumeInUse``, "The specified volume is
already attached to an instance", EC2 API Reference, error codes; the same order fails in the wild:
anarthal/servertech-chat#52, pulumi/pulumi-aws#2769), the update fails and rolls back, and the running host keeps
its data mounted and its address. A deploy cannot swap the host under its data; moving to another host (another
AMI) is a documented procedure (docs/migration.md, "Move to a new host").

**What keeps the volume.** ``DeletionPolicy: RetainExceptOnCreate`` and ``UpdateReplacePolicy: Retain`` on the volume
and on its attachment (:data:`DEFAULT_REMOVAL_POLICY`): a stack deletion neither detaches nor deletes it (a
protected instance stops the deletion anyway; terminating the instance on purpose detaches the volume, and a volume
attached after launch is not deleted with its instance, ``DeleteOnTermination`` false), a replacement of the volume
keeps the old one, and only the rollback of the deploy that created it (when it holds nothing yet) removes it. The
volume's properties never name the instance (its Availability Zone is the instance's subnet's), so replacing the
instance never replaces it.

**How it is used on the host.** A first step of the host's setup (:class:`~constructs_obs.host.setup.HostSetup`)
waits for the volume (by its id, the NVMe serial number EC2 gives it: Amazon EBS User Guide, "Amazon EBS and
NVMe"), makes an XFS filesystem only when the volume has none, copies what Docker wrote at first boot onto an empty
volume, mounts it at ``mount_point`` through ``/etc/fstab`` (by UUID, ``nofail``), and starts Docker again. On a
host whose volume is already mounted it does nothing. It refuses to take over ``mount_point`` while containers
exist (stop the app first), so a running database is never moved under its feet.

**A replacement host gets the data** from a snapshot: ``DataVolume(snapshot_id=...)`` creates the volume from it
(only when the volume is created: CloudFormation cannot change ``SnapshotId`` of an existing volume,
aws-cloudformation/cloudformation-coverage-roadmap#1505). docs/migration.md walks through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Size
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs.checks import _validation as check
from constructs_obs.checks.compliance import acknowledge, declare
from constructs_obs.host.setup import HostSetup, SetupStep

#: Kept on deletion and replacement; removed only when the deploy that created it rolls back (it is empty then).
DEFAULT_REMOVAL_POLICY = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
#: Docker's data root: images, containers and named volumes (a Postgres container's data among them).
DEFAULT_MOUNT_POINT = "/var/lib/docker"
#: The device name the volume is attached as (EC2 shows it; on Nitro instances the kernel names it nvmeXn1).
DEVICE_NAME = "/dev/sdf"
#: gp3 volumes: 1 GiB to 16 TiB.
MIN_SIZE_GIB, MAX_SIZE_GIB = 1, 16_384
#: Where EC2's NVMe serial number shows an EBS volume on Amazon Linux (udev's by-id link): the volume id without
#: its dash (Amazon EBS User Guide, "Amazon EBS and NVMe").
NVME_BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"
#: Where the setup mounts a new volume for a moment to copy Docker's first-boot data onto it.
STAGING_MOUNT = "/mnt/constructs-obs-data"
#: How long the setup waits for the attached volume to appear (seconds).
ATTACH_WAIT_SECONDS = 120

_SNAPSHOT_ID = re.compile(r"snap-[0-9a-f]{8}(?:[0-9a-f]{9})?")
_MOUNT_POINT = re.compile(r"/[A-Za-z0-9._/-]*")
#: Folders the system needs: the data volume never mounts over one of them.
SYSTEM_FOLDERS = frozenset({"/", "/boot", "/usr", "/etc", "/var", "/proc", "/sys", "/dev", "/run", "/tmp"})  # noqa: S108
_REMOVAL_POLICIES = (
    RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    RemovalPolicy.RETAIN,
    RemovalPolicy.SNAPSHOT,
    RemovalPolicy.DESTROY,
)


DATA_VOLUME_BACKUP = declare(
    "host.data-volume-backup",
    owner="ObservedEc2Host(data_volume=...)",
    target="DataVolume/Volume",
    rules=("NIST.800.53.R5-EC2EBSInBackupPlan", "HIPAA.Security-EC2EBSInBackupPlan"),
    reason="""The data volume is kept when the stack is deleted and when a deploy would replace it or the instance
    (`RetainExceptOnCreate`; `removal_policy=SNAPSHOT` keeps a snapshot instead). Scheduled backups of it are not
    made by default: AWS Backup bills the snapshots it keeps per GB-month, outside the $0 observability budget, and a
    database's own dump is the backup to restore from (docs/migration.md, "Move to a new host").""",
    stricter="""An AWS Backup plan of your own that selects the volume: `backup.BackupPlan.daily35_day_retention(
    stack, "Backup").add_selection("Data", resources=[backup.BackupResource.from_construct(
    host.data_volume.volume)])`.""",
)


@dataclass(frozen=True)
class DataVolume:
    """The options of a host's data volume (``ObservedEc2Host(data_volume=DataVolume(...))``).

    Attributes:
        size_gib: the volume's size. Default 20 GiB (with the 30 GiB root volume, the EBS free tier's 30 GiB is
            exceeded by this much: about $1.60 a month in us-east-2 for 20 GiB of gp3).
        mount_point: where the host mounts it. Default Docker's data root, ``/var/lib/docker``: named volumes
            (keep the database's data in one) live there. An absolute path.
        snapshot_id: create the volume from this EBS snapshot (``snap-...``): how a new host gets the data of an
            old one. Only when the volume is created: changing it later fails the deploy (CloudFormation cannot
            update ``SnapshotId``).
        removal_policy: what happens to the volume when it leaves the stack. Default
            ``RETAIN_ON_UPDATE_OR_DELETE`` (kept; removed only by the rollback of the deploy that created it);
            ``SNAPSHOT`` keeps a snapshot instead of the volume; ``DESTROY`` for throw-away environments.
    """

    size_gib: int = 20
    mount_point: str = DEFAULT_MOUNT_POINT
    snapshot_id: str | None = None
    removal_policy: RemovalPolicy = DEFAULT_REMOVAL_POLICY


def validate_data_volume(name: str, value: object) -> DataVolume | None:
    """``value`` checked: None or a :class:`DataVolume` with values EC2 and the setup accept."""
    if value is None:
        return None
    check.require_type(name, value, DataVolume, "a DataVolume(size_gib=..., mount_point=...)")
    assert isinstance(value, DataVolume)
    check.integer(
        f"{name}.size_gib", value.size_gib, minimum=MIN_SIZE_GIB, maximum=MAX_SIZE_GIB, unit=" GiB (gp3)"
    )
    check.require_type(
        f"{name}.mount_point", value.mount_point, str, "an absolute path like '/var/lib/docker'"
    )
    if (
        not _MOUNT_POINT.fullmatch(value.mount_point)
        or value.mount_point.rstrip("/") in SYSTEM_FOLDERS
        or value.mount_point == "/"
        or "/../" in f"{value.mount_point}/"
    ):
        raise ValueError(
            f"{name}.mount_point must be an absolute path of letters, digits, '.', '_', '-' and '/' that is not a "
            f"system folder (/, /var, /usr, ...), like '/var/lib/docker' or '/srv/data', got {value.mount_point!r}"
        )
    if value.snapshot_id is not None and not (
        check.unresolved(value.snapshot_id) or _SNAPSHOT_ID.fullmatch(str(value.snapshot_id))
    ):
        raise ValueError(
            f"{name}.snapshot_id must be an EBS snapshot id, 'snap-' and 8 or 17 hex digits like "
            f"'snap-0123456789abcdef0', got {value.snapshot_id!r}"
        )
    if value.removal_policy not in _REMOVAL_POLICIES:
        raise ValueError(
            f"{name}.removal_policy must be one of RETAIN_ON_UPDATE_OR_DELETE (the default), RETAIN, SNAPSHOT or "
            f"DESTROY, got {value.removal_policy!r}"
        )
    return value


def mount_commands(volume_id: str, mount_point: str) -> tuple[str, ...]:
    """The setup step's shell lines (``sh`` with ``set -eu``): wait for the volume, give it a filesystem if it has
    none, move Docker's first-boot data onto an empty one, mount it at ``mount_point`` for good."""
    return (
        "cloud-init status --wait >/dev/null 2>&1 || true",
        f"volume={volume_id}",
        f"mount_point={mount_point}",
        f'link={NVME_BY_ID}$(printf %s "$volume" | tr -d -)',
        "waited=0",
        'while [ ! -e "$link" ]; do',
        f"  if [ $waited -ge {ATTACH_WAIT_SECONDS} ]; then",
        f'    echo "data volume $volume is not attached: no $link after {ATTACH_WAIT_SECONDS} s" >&2; exit 1',
        "  fi",
        "  sleep 2; waited=$((waited + 2))",
        "done",
        'device=$(readlink -f "$link")',
        'if mountpoint -q "$mount_point"; then',
        '  source=$(findmnt -n -o SOURCE "$mount_point")',
        '  if [ "$source" != "$device" ]; then',
        '    echo "$mount_point is $source, not the data volume $volume ($device)" >&2; exit 1',
        "  fi",
        '  echo "data volume $volume is mounted at $mount_point"',
        "else",
        '  if [ -n "$(docker ps -aq 2>/dev/null || true)" ]; then',
        '    echo "containers exist on this host: stop and remove the app (docker compose down) before the data '
        'volume takes over $mount_point, then run the setup again" >&2',
        "    exit 1",
        "  fi",
        '  blkid "$device" >/dev/null 2>&1 || mkfs -t xfs "$device"',
        '  uuid=$(blkid -s UUID -o value "$device")',
        "  systemctl stop docker.socket docker.service 2>/dev/null || true",
        f'  mkdir -p "$mount_point" {STAGING_MOUNT}',
        f'  mount "$device" {STAGING_MOUNT}',
        f'  if [ -z "$(ls -A {STAGING_MOUNT})" ]; then cp -a "$mount_point"/. {STAGING_MOUNT}/; fi',
        f"  umount {STAGING_MOUNT}",
        '  grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $mount_point xfs defaults,nofail 0 2" >> /etc/fstab',
        '  mount "$mount_point"',
        "  systemctl start docker.service",
        '  echo "data volume $volume mounted at $mount_point"',
        "fi",
    )


class HostDataVolume(Construct):
    """The data volume of an instance: the encrypted gp3 volume, its attachment and the setup step that mounts it.

    Attributes:
        volume: the ``ec2.Volume``.
        attachment: the ``AWS::EC2::VolumeAttachment``.
        options: the :class:`DataVolume` it was made from.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        instance: ec2.Instance,
        options: DataVolume,
        setup: HostSetup,
    ) -> None:
        """Create the volume in the instance's Availability Zone, attach it, and mount it first in ``setup``.

        Args:
            scope: the parent construct (the host).
            construct_id: the construct id.
            instance: the instance to attach it to.
            options: size, mount point, snapshot and removal policy.
            setup: the host's setup, whose first step mounts the volume (it runs after the attachment exists).
        """
        super().__init__(scope, construct_id)
        self.options = options
        # The instance's own AvailabilityZone property (its subnet's zone), not Fn::GetAtt on the instance: the
        # volume's properties never change when the instance is replaced.
        zone = instance.instance.availability_zone or instance.instance_availability_zone
        self.volume = ec2.Volume(
            self,
            "Volume",
            availability_zone=zone,
            size=Size.gibibytes(options.size_gib),
            snapshot_id=options.snapshot_id,
            encrypted=True,
            volume_type=ec2.EbsDeviceVolumeType.GP3,
            removal_policy=options.removal_policy,
        )
        acknowledge(self.volume, DATA_VOLUME_BACKUP)
        self.attachment = ec2.CfnVolumeAttachment(
            self,
            "Attachment",
            instance_id=instance.instance_id,
            volume_id=self.volume.volume_id,
            device=DEVICE_NAME,
        )
        # Neither a deletion nor a replacement detaches the volume from a running host (detaching a mounted volume
        # leaves it "busy", Amazon EBS User Guide, "Detach an Amazon EBS volume"); a rolled-back create does.
        self.attachment.apply_removal_policy(
            RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
            if options.removal_policy is not RemovalPolicy.DESTROY
            else RemovalPolicy.DESTROY
        )
        setup.add_step(
            SetupStep(
                name="data volume",
                commands=mount_commands(self.volume.volume_id, options.mount_point),
                portable=False,
            ),
            first=True,
        )
        setup.association.node.add_dependency(self.attachment)
