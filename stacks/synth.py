"""Synthesize the staging app in-process exactly as `cdk synth` does (cdk.json's context plus the CLI's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from stacks.staging import STACK_NAME

ROOT = Path(__file__).resolve().parent.parent

#: What the CDK CLI adds to the context of every `cdk synth` (its defaults), so an in-process synth equals it.
CLI_CONTEXT: dict[str, Any] = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json, which `cdk synth` applies and a bare ``App()`` does not."""
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return context


def make_app(outdir: Path, **context: Any) -> cdk.App:
    """An App with cdk.json's and the CLI's context (plus ``context``), writing to ``outdir``."""
    return cdk.App(context={**cdk_json_context(), **CLI_CONTEXT, **context}, outdir=str(outdir))


def staging_template(outdir: Path, **context: Any) -> dict[str, Any]:
    """The staging stack's template, synthesized once into ``outdir`` with no environment variables read."""
    from app import build_app  # app.py imports this package's stack; import late to keep that one-way

    app = build_app(make_app(outdir, **context), environ={})
    template: dict[str, Any] = app.synth().get_stack_by_name(STACK_NAME).template
    return template
