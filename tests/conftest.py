"""Shared fixtures: each distinct app configuration is synthesized once per test session."""

from __future__ import annotations

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


def synth_template(app: cdk.App, stack_name: str) -> dict[str, Any]:
    """Synthesize ``app`` once and return ``stack_name``'s template."""
    template: dict[str, Any] = app.synth().get_stack_by_name(stack_name).template
    return template


@pytest.fixture(scope="session")
def staging_artifact(tmp_path_factory: pytest.TempPathFactory) -> cxapi.CloudFormationStackArtifact:
    """The staging stack as `cdk synth` writes it (cdk.json context, no emails, no AWS credentials)."""
    app = build_app(make_app(tmp_path_factory.mktemp("staging")), environ={})
    return app.synth().get_stack_by_name(STACK_NAME)


@pytest.fixture(scope="session")
def staging_template_json(staging_artifact: cxapi.CloudFormationStackArtifact) -> dict[str, Any]:
    template: dict[str, Any] = staging_artifact.template
    return template


@pytest.fixture(scope="session")
def staging(staging_template_json: dict[str, Any]) -> assertions.Template:
    return assertions.Template.from_json(staging_template_json)


@pytest.fixture(scope="session")
def staging_with_emails(tmp_path_factory: pytest.TempPathFactory) -> assertions.Template:
    app = build_app(
        make_app(tmp_path_factory.mktemp("emails"), alarm_emails="ops@example.com, oncall@example.com"),
        environ={},
    )
    return assertions.Template.from_json(synth_template(app, STACK_NAME))


@pytest.fixture
def snapshot_json(snapshot: Any) -> Any:
    """One readable JSON file per snapshot."""
    return snapshot.use_extension(JSONSnapshotExtension)


def logical_id(template: assertions.Template, resource_type: str, **props: Any) -> str:
    """The single logical id of ``resource_type`` whose properties match ``props``."""
    found = template.find_resources(resource_type, {"Properties": props} if props else None)
    assert len(found) == 1, f"expected one {resource_type} matching {props}, found {sorted(found)}"
    return next(iter(found))
