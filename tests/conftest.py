"""Shared fixtures: each distinct app configuration is synthesized once per test session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import cx_api as cxapi
from syrupy.extensions.json import JSONSnapshotExtension

from app import build_app
from stacks.staging import STACK_NAME

ROOT = Path(__file__).resolve().parent.parent


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json, which `cdk synth` applies and a bare App() in a test does not."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


#: What the CDK CLI adds to the context of every `cdk synth` (its defaults), so a test synth equals the CLI's.
CLI_CONTEXT: dict[str, Any] = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def make_app(outdir: Path, **context: Any) -> cdk.App:
    """An App with cdk.json's and the CLI's context (plus ``context``), writing to ``outdir``."""
    return cdk.App(context={**cdk_json_context(), **CLI_CONTEXT, **context}, outdir=str(outdir))


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
