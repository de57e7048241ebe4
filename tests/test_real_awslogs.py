"""Docker's REAL awslogs driver ships container output, with the library's compose options, into a moto server.

The options are exactly ``ContainerLogGroups(...).compose_logging(container)["options"]`` plus
``awslogs-endpoint`` (the moto server on loopback); the daemon signs with the harness's ``testing`` credentials.
"""

from __future__ import annotations

import uuid

import aws_cdk as cdk
import pytest

from constructs_obs import ContainerLogGroups
from tests.realenv import DockerDaemon, MotoServer, ship, ship_lines

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]

REGION = "eu-west-1"
LINES = [
    "backend started",
    'GET /api/lessons?id=7 HTTP/1.1 "200" 1532 "Mozilla/5.0 (X11; Linux x86_64)"',
    "ERROR:    Exception in ASGI application",
    "  indented line with trailing spaces  ",
    "tab\tseparated\tfields",
    "unicode: é ✓ 学",
    '{"level": "error", "msg": "quoted \\"inner\\" text"}',
]


def _groups(**props: object) -> ContainerLogGroups:
    stack = cdk.Stack(cdk.App(), "RealAwslogs", env=cdk.Environment(region=REGION))
    return ContainerLogGroups(
        stack, "Logs", prefix=f"/real-{uuid.uuid4().hex[:8]}", containers=["api"], **props
    )  # type: ignore[arg-type]


def test_the_options_are_the_librarys_non_blocking_ones() -> None:
    groups = _groups()
    assert groups.compose_logging("api")["options"] == {
        "awslogs-group": f"{groups.prefix}/api",
        "awslogs-region": REGION,
        "awslogs-create-group": "false",
        "mode": "non-blocking",
        "max-buffer-size": "4m",
    }


def test_each_line_arrives_as_one_event(moto: MotoServer) -> None:
    groups = _groups()
    group = groups.log_group_name("api")
    assert ship_lines(LINES, group=group, options=groups.compose_logging("api")["options"]) == LINES


def test_one_stream_per_container(moto: MotoServer) -> None:
    groups = _groups()
    group = groups.log_group_name("api")
    options = groups.compose_logging("api")["options"]
    first = ship(["first container, line 1", "first container, line 2"], group=group, options=options)
    second = ship(["second container"], group=group, options=options)
    streams = moto.logs(REGION).describe_log_streams(logGroupName=group)["logStreams"]
    assert sorted(s["logStreamName"] for s in streams) == sorted([first.container_id, second.container_id])
    assert first.messages == ["first container, line 1", "first container, line 2"]
    assert second.messages == ["second container"]


def test_blocking_opt_out_ships_too(moto: MotoServer) -> None:
    groups = _groups(blocking=True)
    options = groups.compose_logging("api")["options"]
    assert options["mode"] == "blocking"
    assert ship_lines(LINES[:2], group=groups.log_group_name("api"), options=options) == LINES[:2]


def test_a_missing_group_loses_the_lines_but_not_the_container(moto: MotoServer) -> None:
    # awslogs-create-group is false: the stack must have created the group. In non-blocking mode the container
    # still runs (and exits 0) when it is missing; its lines never arrive and no group appears.
    groups = _groups()
    group = groups.log_group_name("api")
    shipped = ship(
        ["lost"], group=group, options=groups.compose_logging("api")["options"], create_group=False, timeout=5
    )
    assert shipped.messages == []
    assert moto.logs(REGION).describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def _create(daemon: DockerDaemon, busybox: str, options: dict[str, str]) -> tuple[int, str]:
    args = ["create", "--network", "none", "--log-driver", "awslogs"]
    for key, value in options.items():
        args += ["--log-opt", f"{key}={value}"]
    result = daemon.run(*args, busybox, "true", check=False)
    if result.returncode == 0:
        daemon.run("rm", result.stdout.strip(), check=False)
    return result.returncode, result.stderr


@pytest.mark.parametrize("size", ["1m", "512k", "1g", "4MB", "4 MiB", "1.5m", "1048576"])
def test_docker_accepts_every_buffer_size_the_construct_accepts(
    docker_daemon: DockerDaemon, busybox: str, size: str
) -> None:
    options = _groups(max_buffer_size=size).compose_logging("api")["options"]
    assert _create(docker_daemon, busybox, options) == (0, "")


@pytest.mark.parametrize("size", ["m", "4x", "4mbb", "1,5m", "-1m", "4 m b"])
def test_docker_refuses_the_buffer_sizes_the_construct_refuses(
    docker_daemon: DockerDaemon, busybox: str, size: str
) -> None:
    with pytest.raises(ValueError, match="max_buffer_size"):
        _groups(max_buffer_size=size)
    options = {**_groups().compose_logging("api")["options"], "max-buffer-size": size}
    code, stderr = _create(docker_daemon, busybox, options)
    assert code != 0
    assert "max-buffer-size" in stderr


def test_docker_refuses_a_buffer_size_in_blocking_mode(docker_daemon: DockerDaemon, busybox: str) -> None:
    with pytest.raises(ValueError, match="non-blocking mode only"):
        _groups(blocking=True, max_buffer_size="4m")
    options = {**_groups(blocking=True).compose_logging("api")["options"], "max-buffer-size": "4m"}
    code, stderr = _create(docker_daemon, busybox, options)
    assert code != 0
    assert "max-buffer-size option is only supported with 'mode=non-blocking'" in stderr
