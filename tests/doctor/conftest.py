"""Fixtures for the doctor: an isolated moto account and the staging stack deployed into it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from aws_cdk import cx_api as cxapi
from moto import mock_aws

from stacks.staging import REGION, STACK_NAME
from tests.doctor.deployment import Deployment, deploy


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
        yield moto_session(REGION)


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
