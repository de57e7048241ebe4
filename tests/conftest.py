"""Shared fixtures: each distinct app configuration is synthesized once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import cx_api as cxapi
from syrupy.extensions.json import JSONSnapshotExtension

from app import build_app
from stacks.staging import STACK_NAME
from stacks.synth import CLI_CONTEXT, ROOT, cdk_json_context, make_app

# make_app and friends live in stacks/synth.py (shared with the docs generator); re-exported for the tests.
__all__ = ["CLI_CONTEXT", "ROOT", "cdk_json_context", "make_app"]
NODE_DIR = ROOT / ".venv" / "node" / "bin"


def synth_template(app: cdk.App, stack_name: str) -> dict[str, Any]:
    """Synthesize ``app`` once and return ``stack_name``'s template."""
    template: dict[str, Any] = app.synth().get_stack_by_name(stack_name).template
    return template


@pytest.fixture(scope="session")
def staging_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The staging app as `cdk synth` builds it (cdk.json context, no emails, no AWS credentials), synthesized."""
    app = build_app(make_app(tmp_path_factory.mktemp("staging")), environ={})
    app.synth()
    return app


@pytest.fixture(scope="session")
def staging_move_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The staging app during a move to a new host (docs/migration.md): the host role's own name and the move
    bucket (``host_move``), synthesized."""
    app = build_app(
        make_app(
            tmp_path_factory.mktemp("staging-move"),
            host_role_name="ai-tutor-staging-host-role",
            host_move={
                "bucket_name": "ai-tutor-staging-move-123456789012",
                "from_role_name": "ai-tutor-staging-ec2-role",
            },
        ),
        environ={},
    )
    app.synth()
    return app


@pytest.fixture(scope="session")
def staging_existing_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The staging app observing the team's running instance (docs/migration.md: ``existing_instance``)."""
    existing = {"instance_id": "i-0123456789abcdef0", "role_name": "ai-tutor-staging-ec2-role"}
    app = build_app(
        make_app(tmp_path_factory.mktemp("staging-existing"), existing_instance=existing), environ={}
    )
    app.synth()
    return app


@pytest.fixture(scope="session")
def staging_artifact(staging_app: cdk.App) -> cxapi.CloudFormationStackArtifact:
    """The staging stack as `cdk synth` writes it."""
    return staging_app.synth().get_stack_by_name(STACK_NAME)


@pytest.fixture(scope="session")
def staging_template_json(staging_artifact: cxapi.CloudFormationStackArtifact) -> dict[str, Any]:
    template: dict[str, Any] = staging_artifact.template
    return template


@pytest.fixture(scope="session")
def staging(staging_template_json: dict[str, Any]) -> assertions.Template:
    return assertions.Template.from_json(staging_template_json)


@pytest.fixture(scope="session")
def fleet_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The app with the fleet example (``-c fleet=true``), as `cdk synth` builds it, synthesized."""
    app = build_app(make_app(tmp_path_factory.mktemp("fleet"), fleet="true"), environ={})
    app.synth()
    return app


@pytest.fixture(scope="session")
def fleet_template(fleet_app: cdk.App) -> dict[str, Any]:
    """The AiTutorFleet template."""
    from stacks.fleet import FLEET_STACK_NAME

    return synth_template(fleet_app, FLEET_STACK_NAME)


@pytest.fixture(scope="session")
def staging_with_emails(tmp_path_factory: pytest.TempPathFactory) -> assertions.Template:
    app = build_app(
        make_app(tmp_path_factory.mktemp("emails"), alarm_emails="ops@example.com, oncall@example.com"),
        environ={},
    )
    return assertions.Template.from_json(synth_template(app, STACK_NAME))


@pytest.fixture(scope="session")
def shop_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The reuse stacks of tests/test_reuse.py, synthesized: ``Shop`` (another team's names, region, topic and
    VPC) and ``ShopLegacy`` (an instance created elsewhere, and a Fargate service's plain log groups)."""
    from tests.test_reuse import ShopLegacyStack, ShopStack

    app = make_app(tmp_path_factory.mktemp("shop"))
    ShopStack(app, "Shop", env=cdk.Environment(region="eu-central-1"))
    ShopLegacyStack(app, "ShopLegacy", env=cdk.Environment(region="eu-central-1"))
    app.synth()
    return app


@pytest.fixture(scope="session")
def consumer_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """Fresh consumer stacks (tests/consumer.py), synthesized together once.

    Each variant has its own names (``/shop``, ``/shop-strict``, ...): the stacks share a region and no account,
    so the constructs' app-wide check would refuse the same names twice.

    ``Consumer``: the defaults. ``ConsumerStrict``: every stricter opt-in. ``ConsumerTuned``: the defaults with
    another CPU threshold and another email address. ``ConsumerPinned``: a pinned AMI id.
    """
    from tests.consumer import PINNED_AMI, REGION, ConsumerStack

    app = make_app(tmp_path_factory.mktemp("consumer"))
    env = cdk.Environment(region=REGION)
    ConsumerStack(app, "Consumer", env=env)
    ConsumerStack(app, "ConsumerStrict", strict=True, name="shop-strict", env=env)
    ConsumerStack(
        app,
        "ConsumerTuned",
        cpu_threshold_percent=65,
        emails=["oncall@example.com", "team@example.com"],
        name="shop-tuned",
        env=env,
    )
    ConsumerStack(app, "ConsumerPinned", machine_image=PINNED_AMI, name="shop-pinned", env=env)
    app.synth()
    return app


@pytest.fixture(scope="session")
def cli_synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of the pinned CDK CLI's `cdk synth` (the README's synth path) on a fresh machine's environment.

    Returns the finished process and the cloud assembly directory it wrote.
    """
    home = tmp_path_factory.mktemp("cli-home")
    out = tmp_path_factory.mktemp("cli") / "cdk.out"
    env = {
        # Only what a fresh machine has: no AWS credentials, no profile, no region.
        "PATH": os.pathsep.join([str(NODE_DIR), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(home),
    }
    result = subprocess.run(
        ["node", "node_modules/aws-cdk/bin/cdk", "synth", "--no-notices", "--quiet", "-o", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, out


@pytest.fixture
def snapshot_json(snapshot: Any) -> Any:
    """One readable JSON file per snapshot."""
    return snapshot.use_extension(JSONSnapshotExtension)


def logical_id(template: assertions.Template, resource_type: str, **props: Any) -> str:
    """The single logical id of ``resource_type`` whose properties match ``props``."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {sorted(found)}"
    return next(iter(found))


# The real-environment harness (tests/realenv): its fixtures, and the marker its tests carry.
from tests.realenv.fixtures import (  # noqa: E402
    bookworm_systemd,
    busybox,
    docker_daemon,
    moto,
    moto_logs,
    systemd_host,
)

__all__ += ["bookworm_systemd", "busybox", "docker_daemon", "moto", "moto_logs", "systemd_host"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realenv: runs real programs (Docker daemon, systemd, moto server); needs root, see tests/realenv",
    )
    # Registered by pytest-xdist; declared here too so `-p no:xdist` runs keep --strict-markers happy.
    config.addinivalue_line("markers", "xdist_group(name): keep tests of one group on one xdist worker")
