"""The Prometheus scrape configuration, exactly as the association delivers it, on a host under real systemd 252.

A fresh Debian bookworm + systemd container (the harness of tests/test_real_setup.py, ``--network host``) runs the
setup's portable steps of an instance created elsewhere that scrapes a real ``prometheus-client`` endpoint on the
test machine's loopback. Then: the scrape configuration is in place, readable by an unprivileged user (the agent
runs as ``cwagent``), and its target answers from inside the host with the two counters. Running the steps again
changes nothing (the association re-runs on every change). What is left out needs Amazon Linux and AWS: ``dnf
install`` of the agent and its ``fetch-config`` (see tests/prometheus_agent.py for what the agent then does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from aws_cdk import assertions

from constructs_obs.host.agent import PROMETHEUS_CONFIG_HEREDOC, PROMETHEUS_CONFIG_PATH
from tests.prometheus_agent import HITS, MISSES, BackendMetrics, serve
from tests.realenv import SystemdHost, boot_systemd_host
from tests.test_prometheus import _team_stack
from tests.user_data import heredoc, setup_script

pytestmark = [pytest.mark.realenv, pytest.mark.xdist_group("docker")]


@pytest.fixture(scope="module")
def backend_port() -> Iterator[int]:
    metrics = BackendMetrics()
    metrics.hits.labels("intro-to-limits").inc(3)
    metrics.misses.labels("intro-to-limits").inc(1)
    with serve(metrics.registry) as port:
        yield port


@pytest.fixture(scope="module")
def delivered(backend_port: int) -> tuple[str, str]:
    """(the setup's portable steps, the scrape configuration as the delivered script writes it)."""
    stack, host = _team_stack(backend_port)
    template: dict[str, Any] = assertions.Template.from_stack(stack).to_json()
    script = setup_script(template)
    portable = host.setup.script(portable_only=True)
    assert all(line in script.splitlines() for line in portable.splitlines())
    _, scrape_config = heredoc(script, PROMETHEUS_CONFIG_HEREDOC)
    return portable, scrape_config


@pytest.fixture(scope="module")
def set_up(bookworm_systemd: str, delivered: tuple[str, str]) -> Iterator[SystemdHost]:
    with boot_systemd_host(bookworm_systemd) as host:
        host.run(delivered[0], timeout=120)
        yield host


def test_the_scrape_configuration_is_in_place_and_readable_by_the_agent(
    set_up: SystemdHost, delivered: tuple[str, str]
) -> None:
    assert set_up.read_file(PROMETHEUS_CONFIG_PATH) == delivered[1]
    assert set_up.run(f"stat -c %a {PROMETHEUS_CONFIG_PATH}").stdout.strip() == "644"
    # Any unprivileged user (cwagent on Amazon Linux) can read it.
    read = set_up.run(f"setpriv --reuid=65534 --regid=65534 --clear-groups cat {PROMETHEUS_CONFIG_PATH}")
    assert read.stdout == delivered[1]


def test_its_target_answers_from_inside_the_host(set_up: SystemdHost, delivered: tuple[str, str]) -> None:
    (job,) = yaml.safe_load(set_up.read_file(PROMETHEUS_CONFIG_PATH))["scrape_configs"]
    address, port = job["static_configs"][0]["targets"][0].split(":")
    # bash's /dev/tcp: the minimal image has no curl. A plain HTTP/1.0 GET, as a scraper sends.
    response = set_up.run(
        f"exec 3<>/dev/tcp/{address}/{port}; "
        f"printf 'GET {job['metrics_path']} HTTP/1.0\\r\\nHost: {address}\\r\\n\\r\\n' >&3; cat <&3"
    ).stdout
    assert response.startswith("HTTP/1.0 200")
    assert f'{HITS}{{content_item_id="intro-to-limits"}} 3.0' in response
    assert f'{MISSES}{{content_item_id="intro-to-limits"}} 1.0' in response


def test_running_the_setup_again_leaves_the_same_file(
    set_up: SystemdHost, delivered: tuple[str, str]
) -> None:
    set_up.run(delivered[0], timeout=120)
    assert set_up.read_file(PROMETHEUS_CONFIG_PATH) == delivered[1]
    assert set_up.unit_state("docker-events.service") == "active"
