"""Logs have the format the filters read, checked on lines real nginx wrote and Docker's real awslogs driver shipped.

The staging stack is deployed into moto in this process, and a moto server started in this process too
(``ThreadedMotoServer``, which shares the in-process state) is the awslogs driver's endpoint: the real daemon
ships a real container's output into the deployed ``/ai-tutor/nginx`` group with the stack's own
``ComposeLogging`` options, exactly as on the host, and the doctor then reads the group as it would on AWS. The
lines are real nginx's: its official image's ``main`` format (which the nginx-5xx filter reads), and a JSON
``log_format`` (``escape=json``, as teams switch to for log tooling), which it cannot read.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from constructs_obs.doctor import Status
from tests.doctor.deployment import Deployment
from tests.doctor.helpers import MOTO_CFN_WARNINGS, rows
from tests.realenv import DockerDaemon, ship
from tests.realprograms import (
    DOCKER_NGINX_MAIN_LOG_FORMAT,
    RawRequest,
    free_port,
    get,
    lines_of,
    nginx_access_lines,
    require_program,
    stop,
    wait_for_port,
)

pytestmark = [
    pytest.mark.realenv,
    pytest.mark.xdist_group("docker"),
    pytest.mark.filterwarnings(MOTO_CFN_WARNINGS),
]

GROUP = "/ai-tutor/nginx"

#: A JSON access log as nginx's documentation shows it (``log_format ... escape=json``).
NGINX_JSON_LOG_FORMAT = (
    'log_format json escape=json \'{"time_local":"$time_local","remote_addr":"$remote_addr",'
    '"request":"$request","status":"$status","body_bytes_sent":"$body_bytes_sent",'
    '"http_referer":"$http_referer","http_user_agent":"$http_user_agent"}\';'
)

#: A browser's user agent: its spaces give a JSON line nine and more space-separated "fields".
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def nginx_json_lines() -> list[str]:
    """Run Debian's nginx with :data:`NGINX_JSON_LOG_FORMAT` on loopback, make requests, return its access log."""
    nginx = require_program("nginx")
    with tempfile.TemporaryDirectory(prefix="nginx-json-") as tmp:
        prefix = Path(tmp)
        (prefix / "html").mkdir()
        (prefix / "html" / "index.html").write_text("<h1>ok</h1>\n")
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (prefix / "tmp" / kind).mkdir(parents=True)
        port, closed = free_port(), free_port()
        temp = "\n".join(
            f"    {k}_temp_path {prefix / 'tmp' / k};"
            for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            textwrap.dedent(
                f"""\
                daemon off;
                master_process off;
                worker_processes 1;
                pid {prefix}/nginx.pid;
                error_log {prefix}/error.log notice;
                events {{ worker_connections 64; }}
                http {{
                    default_type text/plain;
                    {NGINX_JSON_LOG_FORMAT}
                    access_log {prefix}/access.log json;
                """
            )
            + temp
            + textwrap.dedent(
                f"""
                    server {{
                        listen 127.0.0.1:{port};
                        root {prefix}/html;
                        location /api/ {{ proxy_pass http://127.0.0.1:{closed}; }}
                        location = /fail {{ return 500; }}
                    }}
                }}
                """
            )
        )
        output = prefix / "stderr.log"
        import subprocess

        with output.open("wb") as out:
            process = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    f"{prefix}/",
                    "-c",
                    str(prefix / "nginx.conf"),
                    "-e",
                    str(prefix / "error.log"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(port, process, output)
            assert [
                get(port, path) for path in ("/index.html", "/missing.png", "/api/v1/lessons", "/fail")
            ] == [
                200,
                404,
                502,
                500,
            ]
            RawRequest("/index.html", headers=(("User-Agent", BROWSER),)).send(port)
            RawRequest("/api/v1/lessons?page=2", headers=(("User-Agent", BROWSER),)).send(port)
        finally:
            stop(process)
        return lines_of(prefix / "access.log")


@pytest.fixture
def endpoint(
    aws: boto3.Session, docker_daemon: DockerDaemon, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A moto server on loopback sharing this process's moto state, as the shipping harness's endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setattr("tests.realenv.awslogs.moto_endpoint", lambda: url)
    monkeypatch.setattr(
        "tests.realenv.awslogs.logs_client", lambda region: aws.client("logs", region_name=region)
    )
    yield url
    server.stop()


def nginx_options(deployment: Deployment) -> dict[str, str]:
    """The nginx service's awslogs options, from the deployed stack's ComposeLogging output."""
    options: dict[str, str] = json.loads(deployment.output("ComposeLogging"))["services"]["nginx"]["logging"][
        "options"
    ]
    return options


def ship_to_nginx_group(deployment: Deployment, lines: list[str]) -> list[str]:
    """Only real lines in the group: the deployment's own sample line goes, then the container ships ``lines``."""
    deployment.client("logs").delete_log_stream(logGroupName=GROUP, logStreamName="obs-test/container")
    shipment = ship(lines, group=GROUP, options=nginx_options(deployment), create_group=False)
    assert shipment.messages == lines, "the driver shipped one event per line"
    return shipment.messages


def test_nginx_main_format_shipped_by_awslogs_has_the_filters_format(
    healthy: Deployment, endpoint: str
) -> None:
    lines = nginx_access_lines("main")
    ship_to_nginx_group(healthy, lines)

    report = healthy.doctor()

    [row] = [r for r in rows(report, "log-format") if r.resource == GROUP]
    assert row.status is Status.PASS
    assert row.detail.startswith(
        f"{len(lines)} of {len(lines)} recent lines in {GROUP} have the format the ai-tutor-staging-nginx-5xx "
        "filter reads (tested with the library's evaluator"
    )
    assert DOCKER_NGINX_MAIN_LOG_FORMAT  # the format those lines were written in (tests/realprograms.py)


def test_nginx_writing_json_lines_under_the_space_delimited_filter(
    healthy: Deployment, endpoint: str
) -> None:
    lines = nginx_json_lines()
    assert all(json.loads(line)["request"] for line in lines)
    assert (
        max(len(line.split()) for line in lines) >= 9
    )  # the browser's lines have as many "fields" as nginx's
    ship_to_nginx_group(healthy, lines)

    report = healthy.doctor()

    [row] = [r for r in rows(report, "log-format") if r.resource == GROUP]
    assert (row.status, row.host) == (Status.FAIL, "AiTutorStaging/Host")
    assert row.detail.startswith(
        f"0 of {len(lines)} recent lines in {GROUP} have the format the ai-tutor-staging-nginx-5xx filter reads: "
        "it counts nothing, so its alarm never fires"
    )
    assert (
        "Make nginx log in the official image's main format (or combined): log_format main " in row.next_step
    )
    newest = lines[-1] if len(lines[-1]) <= 200 else lines[-1][:197] + "..."
    assert row.next_step.endswith(f"The newest line is: {newest}")
    assert report.exit_code == 1
