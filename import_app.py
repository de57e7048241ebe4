#!/usr/bin/env python3
"""The import stage's app: only for ``cdk import``, never for ``cdk deploy`` (docs/migration.md).

    cdk import --app "python import_app.py" AiTutorStaging --resource-mapping migration/mapping.json

It builds the staging stack exactly as ``app.py`` does (the same context, cdk.json's included, so the same logical
ids), reads the resources' descriptions the team saved in ``migration/`` (``-c current=FOLDER`` for another
folder), and synthesizes a stack of the same name holding only those log groups and alarms, described as they are
(:mod:`stacks.import_stage`). ``python import_app.py mapping`` prints the ``--resource-mapping`` file instead.

Deploying this app over the full stack would delete everything it leaves out: it is a separate entry point, which
no ``cdk deploy`` of the project uses and which ``app.py`` has no context key for.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from app import build_app
from stacks.import_stage import CurrentState, ImportStage, ImportStageError
from stacks.staging import REGION, STACK_NAME
from stacks.synth import cdk_json_context

#: Where the descriptions are saved, relative to the project (docs/migration.md).
DEFAULT_FOLDER = "migration"


def build_import_app(
    context: dict[str, Any] | None = None, outdir: str | None = None, environ: dict[str, str] | None = None
) -> tuple[cdk.App, ImportStage]:
    """The import app and its stage. The full stack comes from ``app.py``'s :func:`build_app` in an app of its own
    with the same context (the CLI's ``CDK_CONTEXT_JSON`` reaches both), synthesized into a folder of its own.

    Raises:
        ImportStageError: the saved descriptions are missing, hold nothing of the stack, or hold a log group whose
            history the full stack's retention would cut.
    """
    context = dict(context or {})
    app = cdk.App(context=context, outdir=outdir, analytics_reporting=False)
    scratch = tempfile.mkdtemp(prefix="import-app-full-")
    try:
        full_app = build_app(cdk.App(context=context, outdir=scratch), environ or {})
        full = full_app.node.find_child(STACK_NAME)
        assert isinstance(full, cdk.Stack)
        folder = Path(str(app.node.try_get_context("current") or DEFAULT_FOLDER))
        stage = ImportStage(
            app,
            STACK_NAME,
            full=full,
            current=CurrentState.read(folder),
            env=cdk.Environment(account=app.node.try_get_context("account") or None, region=REGION),
            # The CLI's version-reporting resource (AWS::CDK::Metadata) cannot be imported.
            analytics_reporting=False,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return app, stage


def main(argv: list[str]) -> int:
    """Synthesize the import stage (or print its resource mapping with ``mapping``); 1 with a message on error."""
    # Run by the CDK CLI, the context (cdk.json's included) arrives in CDK_CONTEXT_JSON, which every App reads; run
    # by hand, cdk.json's context is read here.
    context = {} if "CDK_CONTEXT_JSON" in os.environ else cdk_json_context()
    try:
        app, stage = build_import_app(context, environ=dict(os.environ))
    except ImportStageError as error:
        print(f"import_app.py: {error}", file=sys.stderr)
        return 1
    if argv[1:] == ["mapping"]:
        print(json.dumps(stage.resource_mapping, indent=2, sort_keys=True))
        return 0
    if argv[1:]:
        print(f"usage: python import_app.py [mapping], got {' '.join(argv[1:])!r}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
