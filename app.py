#!/usr/bin/env python3
"""The staging app. The only place that reads CDK context and the environment.

Context (``cdk synth -c key=value``):
  alarm_emails  comma-separated addresses subscribed to the alarm topic (default: none, synth warns)
  vpc_id        an existing VPC to look up instead of creating one (needs an account: see below)
  account       the AWS account to pin the stack to (default: none, so synth needs no credentials;
                with vpc_id and no account, CDK_DEFAULT_ACCOUNT from the CLI's credentials is used)
  adopt_log_groups  "true": only the log groups, to `cdk import` existing ones (docs/migration.md)
  rehearsal     true to leave out Lambda-backed custom resources (the LocalStack rehearsal, make rehearse)
  termination_protection  true to refuse a deletion of the stack (default: false; set it once the first deploy
                succeeded: the CLI cannot clean up a failed first create of a protected stack, docs/usage.md)
  free_tier_strict  true to fail synth when a stack goes over the CloudWatch free tier (default: false, synth
                warns)
"""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from constructs_obs.checks.free_tier import FreeTierCheck
from stacks.staging import REGION, STACK_NAME, AiTutorStagingStack


def _emails(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return [str(part).strip() for part in value if str(part).strip()]
    raise TypeError(f"context alarm_emails must be a comma-separated string or a list, got {value!r}")


def _flag(name: str, value: object) -> bool:
    if value is None or value is False or value == "false":
        return False
    if value is True or value == "true":
        return True
    raise TypeError(f"context {name} must be true or false, got {value!r}")


def add_validation_plugins(app: cdk.App) -> None:
    """The checks every synth of this app runs (the benchmark's floor app registers the same).

    cdk-nag's AwsSolutions pack: any finding that is neither fixed nor acknowledged (docs/compliance.md) fails
    synth. The free-tier check: warns (or, with ``-c free_tier_strict=true``, fails) when a stack goes over.
    """
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(verbose=True),
        FreeTierCheck(strict=_flag("free_tier_strict", app.node.try_get_context("free_tier_strict"))),
    )


def build_app(app: cdk.App | None = None, environ: dict[str, str] | None = None) -> cdk.App:
    """Build the staging app from context and environment (see :func:`add_validation_plugins`)."""
    app = app or cdk.App()
    add_validation_plugins(app)
    environ = dict(os.environ) if environ is None else environ
    vpc_id = app.node.try_get_context("vpc_id") or None
    account = app.node.try_get_context("account") or None
    if vpc_id and not account:
        account = environ.get("CDK_DEFAULT_ACCOUNT")
        if not account:
            raise ValueError(
                f"context vpc_id={vpc_id!r} needs an AWS account to look the VPC up: "
                "pass -c account=123456789012 or run with AWS credentials"
            )
    AiTutorStagingStack(
        app,
        STACK_NAME,
        env=cdk.Environment(account=account, region=REGION),
        alarm_emails=_emails(app.node.try_get_context("alarm_emails")),
        vpc_id=vpc_id,
        log_groups_only=str(app.node.try_get_context("adopt_log_groups")).lower() == "true",
        termination_protection=_flag(
            "termination_protection", app.node.try_get_context("termination_protection")
        ),
        without_custom_resources=_flag("rehearsal", app.node.try_get_context("rehearsal")),
    )
    return app


if __name__ == "__main__":
    build_app().synth()
