"""Fixtures for the doctor: an isolated moto account and the staging stack deployed into it.

Two kinds of deployment, for the suite's time: a test that changes a deployment gets its own (``aws``,
``deploy_staging``, ``healthy``: one moto account per test); tests that only read one share it
(``shared_aws``/``shared_staging``, one per test module: put such tests in a module of their own, since moto has
one state per process and a module-wide account cannot coexist with per-test ones). ``staging`` gives each test
its own boto3 session on the shared deployment, so event handlers a test registers do not leak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import botocore.session
import pytest
from aws_cdk import cx_api as cxapi
from moto import mock_aws

from stacks.staging import REGION, STACK_NAME
from stacks.synth import make_app
from tests.doctor.deployment import Deployment, deploy
from tests.doctor.moto_gaps import GAPS


def isolate_from_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, credentials: bool) -> None:
    """No AWS setting of the machine applies; no credential lookup leaves the process (no instance metadata)."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto: do not load its catalogue of public AMIs into every EC2 backend (slow; the stack names no AMI id).
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


#: botocore's parsed service models, shared by every test's session: parsing them again for each new session
#: (about 0.4 s a test) is pure overhead. Models are read-only; credentials and region stay per session.
_MODEL_LOADER = botocore.session.get_session().get_component("data_loader")


def moto_session(region: str) -> boto3.Session:
    """A boto3 session for ``region`` that reuses the already-parsed service models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _MODEL_LOADER)
    return boto3.Session(botocore_session=core, region_name=region)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[boto3.Session]:
    """An empty moto account; the session's region is the staging region."""
    isolate_from_real_aws(monkeypatch, tmp_path, credentials=True)
    with mock_aws():
        GAPS.reset()
        yield moto_session(REGION)
    GAPS.reset()


@pytest.fixture(scope="module")
def shared_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[boto3.Session]:
    """An empty moto account for the whole test module (for tests that only read what is deployed in it)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_from_real_aws(monkeypatch, tmp_path_factory.mktemp("aws"), credentials=True)
        with mock_aws():
            GAPS.reset()
            yield moto_session(REGION)
        GAPS.reset()


@pytest.fixture(scope="module")
def shared_staging(shared_aws: boto3.Session, assembly_dir: Path) -> Deployment:
    """The healthy staging deployment, shared by a module's read-only tests."""
    return deploy(shared_aws, assembly_dir, STACK_NAME)


@pytest.fixture
def staging(shared_staging: Deployment) -> Deployment:
    """The shared healthy staging deployment, through a session of this test's own."""
    return shared_staging.with_session(moto_session(shared_staging.region))


@pytest.fixture(scope="session")
def assembly_dir(staging_artifact: cxapi.CloudFormationStackArtifact) -> Path:
    """The cloud assembly `cdk synth` writes for the staging app (template and file assets)."""
    return Path(staging_artifact.assembly.directory)


@pytest.fixture
def deploy_staging(aws: boto3.Session, assembly_dir: Path) -> Callable[..., Deployment]:
    """Deploy the staging stack into moto; keyword arguments as :func:`tests.doctor.deployment.deploy`,
    plus ``session`` to deploy with another session (another region)."""

    def _deploy(*, session: boto3.Session | None = None, **kwargs: Any) -> Deployment:
        return deploy(session or aws, assembly_dir, STACK_NAME, **kwargs)

    return _deploy


@pytest.fixture
def healthy(deploy_staging: Callable[..., Deployment]) -> Deployment:
    """The staging stack deployed and working: alarms OK, fresh container logs, a confirmed email subscriber."""
    return deploy_staging()


@pytest.fixture(scope="session")
def doctor_app(tmp_path_factory: pytest.TempPathFactory) -> cdk.App:
    """The discovery scenarios' stacks, synthesized together once: ``TwoHosts`` and ``Fleet3`` (tests/doctor/apps.py), and the
    other team's ``Shop`` and ``ShopLegacy`` of tests/test_reuse.py (as the ``shop_app`` fixture builds them)."""
    from tests.doctor.apps import FLEET, TWO_HOSTS, TWO_HOSTS_REGION, FleetStack, TwoHostsStack
    from tests.test_reuse import ShopLegacyStack, ShopStack

    app = make_app(tmp_path_factory.mktemp("doctor-app"))
    TwoHostsStack(app, TWO_HOSTS, env=cdk.Environment(region=TWO_HOSTS_REGION))
    FleetStack(app, FLEET, env=cdk.Environment(region=TWO_HOSTS_REGION))
    ShopStack(app, "Shop", env=cdk.Environment(region="eu-central-1"))
    ShopLegacyStack(app, "ShopLegacy", env=cdk.Environment(region="eu-central-1"))
    app.synth()
    return app
