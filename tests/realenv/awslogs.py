"""Lines through Docker's real ``awslogs`` logging driver into the moto server."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.realenv.docker import ensure_dockerd
from tests.realenv.images import busybox_image
from tests.realenv.motoserver import logs_client, moto_endpoint

SHIP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Shipment:
    """What one container shipped: its id (the awslogs driver's default stream name) and the events' messages."""

    container_id: str
    stream: str
    messages: list[str]


def ship(
    lines: Sequence[str],
    *,
    group: str,
    options: Mapping[str, str],
    create_group: bool = True,
    timeout: float = SHIP_TIMEOUT,
) -> Shipment:
    """Run a busybox container that prints exactly ``lines`` (``cat`` of a mounted file) with
    ``--log-driver awslogs`` and ``options`` plus ``awslogs-endpoint`` (the moto server); return what arrived.

    ``group`` is created in moto first when missing (the library's options say ``awslogs-create-group: false``:
    the stack creates the groups), unless ``create_group`` is false. ``options["awslogs-group"]``, when present, must be ``group``. Waits until the
    container's stream holds one event per non-empty line (or ``timeout``), so a line split or merged by the driver
    shows up as a different list.
    """
    if options.get("awslogs-group", group) != group:
        raise ValueError(f"options name log group {options['awslogs-group']!r}, not {group!r}")
    region = options.get("awslogs-region")
    if not region or "${Token" in region:
        raise ValueError(f"options need a concrete awslogs-region, got {region!r}")
    if any("\n" in line for line in lines):
        raise ValueError("each line must be one line (no newline inside)")
    daemon = ensure_dockerd()
    image = busybox_image()
    client = logs_client(region)
    if create_group and not client.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        client.create_log_group(logGroupName=group)
    log_opts = {**options, "awslogs-group": group, "awslogs-endpoint": moto_endpoint()}
    with tempfile.NamedTemporaryFile("w", prefix="lines-", suffix=".txt", delete=False) as file:
        file.write("".join(f"{line}\n" for line in lines))
    try:
        os.chmod(file.name, 0o644)
        args = ["run", "-d", "--network", "none", "--log-driver", "awslogs"]
        for key, value in log_opts.items():
            args += ["--log-opt", f"{key}={value}"]
        container = daemon.run(*args, "-v", f"{file.name}:/lines:ro", image, "cat", "/lines").stdout.strip()
        try:
            exit_code = daemon.run("wait", container, timeout=SHIP_TIMEOUT).stdout.strip()
            if exit_code != "0":
                raise RuntimeError(f"the shipping container exited {exit_code}")
            expected = sum(1 for line in lines if line)
            deadline = time.monotonic() + timeout
            messages = _messages(client, group, container)
            while len(messages) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
                messages = _messages(client, group, container)
        finally:
            daemon.run("rm", "-f", container, check=False)
    finally:
        os.unlink(file.name)
    return Shipment(container_id=container, stream=container, messages=messages)


def ship_lines(lines: Sequence[str], *, group: str, options: Mapping[str, str]) -> list[str]:
    """The messages that arrived in moto when a real container printed ``lines`` through awslogs (see :func:`ship`)."""
    return ship(lines, group=group, options=options).messages


def _messages(client: object, group: str, stream: str) -> list[str]:
    from botocore.exceptions import ClientError

    messages: list[str] = []
    kwargs: dict[str, object] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        try:
            page = client.get_log_events(**kwargs)  # type: ignore[attr-defined]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ResourceNotFoundException":
                return messages  # the driver has not created the stream yet
            raise
        messages += [event["message"] for event in page["events"]]
        if not page["events"] or page.get("nextForwardToken") == kwargs.get("nextToken"):
            return messages
        kwargs["nextToken"] = page["nextForwardToken"]
