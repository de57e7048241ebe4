"""End to end on this machine: real nginx and uvicorn output, shipped by Docker's real awslogs driver into a moto
server with the library's own compose options, and the metric filters evaluated on the events that arrived.

This is what CloudWatch's metric filters see on a real deploy (one event per output line), not lines a test
wrote: the counts below are the requests' own (5 nginx 5xx responses; 6 backend error lines).
"""

from __future__ import annotations

import uuid

import aws_cdk as cdk
import pytest

from constructs_obs import ContainerLogGroups
from constructs_obs.alarms.log_patterns import BACKEND_ERROR_PATTERN, NGINX_5XX_PATTERN
from constructs_obs.testing.filter_pattern import matches
from tests.realenv import MotoServer, ship_lines
from tests.realprograms import nginx_access_lines, uvicorn_output_lines
from tests.test_real_log_lines import HOSTILE, NGINX_HOSTILE, SERVER_ERRORS

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]

REGION = "us-east-2"


def _options(container: str) -> tuple[str, dict[str, str]]:
    stack = cdk.Stack(cdk.App(), "Shipped", env=cdk.Environment(region=REGION))
    groups = ContainerLogGroups(
        stack, "Logs", prefix=f"/shipped-{uuid.uuid4().hex[:8]}", containers=["backend", "nginx"]
    )
    options: dict[str, str] = groups.compose_logging(container)["options"]
    return groups.log_group_name(container), options


def test_nginx_lines_through_awslogs_count_the_5xx_responses(moto: MotoServer) -> None:
    lines = nginx_access_lines("main", raw_requests=NGINX_HOSTILE)
    group, options = _options("nginx")
    arrived = ship_lines(lines, group=group, options=options)
    assert arrived == lines
    # NGINX_REQUESTS: 200, 404, 502, 502, 504, 500, 503; the hostile requests are none of them 5xx.
    assert sum(matches(NGINX_5XX_PATTERN, event) for event in arrived) == 5


def test_uvicorn_lines_through_awslogs_count_each_error_once(moto: MotoServer) -> None:
    lines = [line for line in uvicorn_output_lines((*SERVER_ERRORS, *HOSTILE)) if line]
    group, options = _options("backend")
    arrived = ship_lines(lines, group=group, options=options)
    assert arrived == lines
    # Two exceptions, one logged error, one critical, one common-format error; the hostile requests add none.
    assert sum(matches(BACKEND_ERROR_PATTERN, event) for event in arrived) == 5
