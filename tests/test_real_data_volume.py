"""The data volume's setup step, exactly as the staging association delivers it, run against a real block device.

The step (constructs_obs/host/data_volume.py) runs in a container (CAP_SYS_ADMIN, the loop device only) of the Debian bookworm image the
systemd tests use (util-linux and xfsprogs, as Amazon Linux 2023 has them; the script runs under ``bash``, which
is ``/bin/sh`` on Amazon Linux 2023). A loop device made on this machine stands in for the EBS volume, and the link EC2's NVMe serial
number gets from udev on Amazon Linux (``/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol...``, Amazon EBS User
Guide, "Amazon EBS and NVMe") is made by hand: there is no udev in the container. ``docker`` and ``systemctl`` are
stand-ins that record their calls and list the containers a case asks for; ``cloud-init`` is absent (the step
tolerates that). What is real: the kernel's XFS, ``mkfs``, ``blkid``, ``mount`` with ``/etc/fstab``, ``findmnt``
and ``mountpoint``, and the shell.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.realenv.docker import DockerDaemon
from tests.realenv.env import is_root, unavailable
from tests.realenv.images import systemd_image
from tests.user_data import REF_VALUES, setup_script

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]

SNAPSHOT = Path(__file__).parent / "__snapshots__" / "test_staging_stack" / "test_snapshot.json"
VOLUME_ID = REF_VALUES["AWS::EC2::Volume"]
LINK = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"
#: The step's attachment wait, shortened for the case where the volume never appears (the text is the step's).
SHORT_WAIT = ("-ge 120", "-ge 4")


def _data_volume_step() -> str:
    """The staging setup's data-volume step, as the agent receives it: from ``set -eu`` up to the next step."""
    lines = setup_script(json.loads(SNAPSHOT.read_text())).splitlines()
    assert lines[:2] == ["set -eu", "echo '== constructs-obs setup: data volume'"]
    end = next(i for i, line in enumerate(lines[2:], 2) if line.startswith("echo '== constructs-obs setup: "))
    return "\n".join(lines[:end]) + "\n"


STAND_INS = r"""
mkdir -p /stand-ins
cat > /stand-ins/docker <<'EOF'
#!/bin/sh
echo "docker $*" >> /calls
[ "$1 $2" = "ps -aq" ] && cat /containers 2>/dev/null
exit 0
EOF
cat > /stand-ins/systemctl <<'EOF'
#!/bin/sh
echo "systemctl $*" >> /calls
exit 0
EOF
chmod +x /stand-ins/docker /stand-ins/systemctl
"""


@contextlib.contextmanager
def _loop_device(folder: Path) -> Iterator[str]:
    """A fresh 300 MiB loop device, made on this machine (containers here may not make one), detached after."""
    if shutil.which("losetup") is None or not is_root():
        unavailable("the data-volume tests need root and losetup (util-linux) to make a loop device")
    backing = folder / "volume.img"
    with open(backing, "wb") as image:
        image.truncate(300 * 1024 * 1024)
    made = subprocess.run(
        ["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, timeout=30, check=False
    )
    if made.returncode != 0:
        unavailable(f"losetup could not make a loop device: {made.stderr.strip()}")
    device = made.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30, check=False)


def _run_in_container(daemon: DockerDaemon, image: str, folder: Path, body: str) -> str:
    """``body`` (bash) in a container given a fresh loop device as ``$dev`` (and CAP_SYS_ADMIN to mount it)."""
    with _loop_device(folder) as device:
        script = (
            "set -euo pipefail\n"
            + STAND_INS
            + f"dev={device}\n"
            + f'mkdir -p /dev/disk/by-id && ln -s "$dev" {LINK}\n'
            + body
            + "umount -R /var/lib/docker 2>/dev/null || true\n"
        )
        result = daemon.run(
            "run", "--rm", "--cap-add", "SYS_ADMIN", "--device", device, "--network", "none",
            "--entrypoint", "/bin/bash", image, "-c", script,
            check=False, timeout=300,
        )  # fmt: skip
    assert result.returncode == 0, f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result.stdout


def _step_call(script: str) -> str:
    """Bash lines that run the step as the SSM agent would (its own file, PATH with the stand-ins), and print
    ``step-exit=N`` and its output."""
    return (
        f"cat > /step.sh <<'STEP'\n{script}STEP\n"
        'set +e; PATH=/stand-ins:$PATH bash /step.sh > /step.out 2>&1; echo "step-exit=$?"; set -e\n'
        "sed 's/^/| /' /step.out\n"
    )


@pytest.fixture(scope="module")
def image(docker_daemon: DockerDaemon) -> str:
    return systemd_image()


@pytest.fixture
def container(docker_daemon: DockerDaemon, image: str, tmp_path: Path) -> Callable[[str], str]:
    """Run a bash body in a fresh container with its own loop device (:func:`_run_in_container`); its output."""
    return lambda body: _run_in_container(docker_daemon, image, tmp_path, body)


def test_a_new_host_gets_its_data_root_on_the_volume_and_keeps_it_across_reruns(
    container: Callable[[str], str],
) -> None:
    step = _data_volume_step()
    out = container(
        # What Docker wrote at first boot, before the setup ran.
        "mkdir -p /var/lib/docker/image && echo first-boot > /var/lib/docker/image/marker\n"
        + _step_call(step)
        + 'echo "source=$(findmnt -n -o SOURCE /var/lib/docker) dev=$dev fstype=$(findmnt -n -o FSTYPE /var/lib/docker)"\n'
        + "echo marker=$(cat /var/lib/docker/image/marker)\n"
        + "grep -c nofail /etc/fstab | sed 's/^/fstab_lines=/'\n"
        + "echo calls=$(tr '\\n' ';' < /calls)\n"
        # A re-run of the setup (an update, a re-association): nothing changes.
        + "echo database > /var/lib/docker/volumes-data\n"
        + _step_call(step)
        + "grep -c nofail /etc/fstab | sed 's/^/fstab_lines_after_rerun=/'\n"
        + "echo data=$(cat /var/lib/docker/volumes-data)\n"
        # A reboot: the fstab line alone mounts it again (by UUID).
        + "umount /var/lib/docker && mount -a && findmnt -n -o SOURCE /var/lib/docker | sed 's/^/after_reboot=/'\n",
    )
    first, rerun = out.split("step-exit=")[1:3]
    assert first.startswith("0"), out
    assert f"data volume {VOLUME_ID} mounted at /var/lib/docker" in first
    source = next(line for line in out.splitlines() if line.startswith("source="))
    device = source.split(" dev=")[1].split()[0]
    assert source == f"source={device} dev={device} fstype=xfs", out
    assert "marker=first-boot" in out, "Docker's first-boot data is copied onto the new volume"
    assert "fstab_lines=1" in out
    calls = next(line for line in out.splitlines() if line.startswith("calls="))
    assert calls.index("systemctl stop docker.socket docker.service") < calls.index(
        "systemctl start docker.service"
    )
    assert rerun.startswith("0") and f"data volume {VOLUME_ID} is mounted at /var/lib/docker" in rerun, out
    assert "fstab_lines_after_rerun=1" in out and "data=database" in out
    assert f"after_reboot={device}" in out


def test_a_volume_with_data_is_never_formatted_or_overwritten(
    container: Callable[[str], str],
) -> None:
    # A replacement host gets a volume made from a snapshot: a filesystem holding the database already.
    out = container(
        'mkfs -t xfs -q "$dev" && uuid=$(blkid -s UUID -o value "$dev") && echo "uuid_before=$uuid"\n'
        + 'mkdir -p /seed && mount "$dev" /seed && echo database > /seed/volumes-data && umount /seed\n'
        + "mkdir -p /var/lib/docker && echo first-boot > /var/lib/docker/new-host-file\n"
        + _step_call(_data_volume_step())
        + 'echo "uuid_after=$(blkid -s UUID -o value "$dev")"\n'
        + "echo data=$(cat /var/lib/docker/volumes-data)\n"
        + "ls /var/lib/docker | sed 's/^/entry=/'\n",
    )
    assert "step-exit=0" in out, out
    before = next(line for line in out.splitlines() if line.startswith("uuid_before=")).split("=")[1]
    assert f"uuid_after={before}" in out, "the volume was formatted again"
    assert "data=database" in out
    assert "entry=new-host-file" not in out, "the new host's first-boot data was copied over the volume's"


def test_containers_on_the_host_stop_the_step_before_it_touches_anything(
    container: Callable[[str], str],
) -> None:
    out = container(
        "echo 3f2a1b0c9d8e > /containers\n"
        + _step_call(_data_volume_step())
        + 'blkid "$dev" >/dev/null && echo formatted=yes || echo formatted=no\n'
        + "mountpoint -q /var/lib/docker && echo mounted=yes || echo mounted=no\n"
        + "grep -q systemctl /calls && echo docker_stopped=yes || echo docker_stopped=no\n",
    )
    assert "step-exit=1" in out, out
    assert "containers exist on this host: stop and remove the app (docker compose down)" in out
    assert "formatted=no" in out and "mounted=no" in out and "docker_stopped=no" in out


def test_a_volume_that_never_appears_fails_the_setup_naming_it(
    container: Callable[[str], str],
) -> None:
    step = _data_volume_step()
    assert SHORT_WAIT[0] in step
    out = container(
        f"rm {LINK}\n" + _step_call(step.replace(*SHORT_WAIT)),
    )
    assert "step-exit=1" in out, out
    assert f"data volume {VOLUME_ID} is not attached: no {LINK}" in out


def test_another_filesystem_on_the_mount_point_is_refused(
    container: Callable[[str], str],
) -> None:
    out = container(
        "mkdir -p /var/lib/docker && mount -t tmpfs tmpfs /var/lib/docker\n"
        + _step_call(_data_volume_step()),
    )
    assert "step-exit=1" in out, out
    # The message names what is mounted there instead.
    assert f"/var/lib/docker is tmpfs, not the data volume {VOLUME_ID}" in out
