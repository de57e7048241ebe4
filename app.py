#!/usr/bin/env python3
"""The staging app. The only place that reads CDK context and the environment.

Context (``cdk synth -c key=value``):
  alarm_emails  comma-separated addresses subscribed to the alarm topic (default: none, synth warns)
  vpc_id        an existing VPC to look up instead of creating one (needs an account: see below)
  account       the AWS account to pin the stack to (default: none, so synth needs no credentials;
                with vpc_id and no account, CDK_DEFAULT_ACCOUNT from the CLI's credentials is used)
  existing_instance  {"instance_id": "i-...", "role_name": "..."}: observe that running instance instead of creating
                a host (docs/migration.md, keep the instance); set it in cdk.json, where every deploy reads it
  host_role_name  the name of the role of the host the stack creates (default ai-tutor-staging-ec2-role, the seed's)
  host_move     {"bucket_name": "...", "from_role_name": "..."}: the bucket a database dump travels through while
                the app moves to a new host (docs/migration.md, move to a new host); in cdk.json for the move only
  rehearsal     true to leave out Lambda-backed custom resources (the LocalStack rehearsal, make rehearse)
  termination_protection  true to refuse a deletion of the stack (default: false; set it once the first deploy
                succeeded: the CLI cannot clean up a failed first create of a protected stack, docs/usage.md)
  free_tier_strict  true to fail synth when a stack goes over the CloudWatch free tier (default: false, synth
                warns)
  fleet         true to add AiTutorFleet, the example of the app on an Auto Scaling group behind a load balancer
                (docs/fleet.md; default: false, it is not deployed with the staging stack)
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from constructs_obs.checks.free_tier import FreeTierCheck
from stacks.fleet import FLEET_STACK_NAME, AiTutorFleetStack
from stacks.staging import REGION, SEED_ROLE_NAME, STACK_NAME, AiTutorStagingStack, ExistingInstance, HostMove

#: Context keys this app once read and no longer does, with why: a key that changes what a deploy removes is refused
#: by name rather than ignored.
RETIRED_CONTEXT = {
    "adopt_log_groups": "the import-only stack is its own app now, so that no deploy can use it: "
    'cdk import --app "python import_app.py" (docs/migration.md)',
}


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


def _record(name: str, value: object, cls: type[ExistingInstance] | type[HostMove]) -> Any:
    """A context value that is a JSON object (cdk.json) or a JSON string (``-c key='{...}'``) -> ``cls``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise TypeError(f"context {name} must be a JSON object, got {value!r}") from None
    fields = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    if not isinstance(value, dict) or not required <= set(value) or not set(value) <= fields:
        raise TypeError(
            f"context {name} must be a JSON object with {', '.join(sorted(required))}"
            + (f" (and optionally {', '.join(sorted(fields - required))})" if fields - required else "")
            + f", got {value!r}"
        )
    return cls(**{k: str(v) for k, v in value.items()})


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
    for key, why in RETIRED_CONTEXT.items():
        if app.node.try_get_context(key) is not None:
            raise ValueError(f"context {key} is no longer read by this app: {why}")
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
        existing_instance=_record(
            "existing_instance", app.node.try_get_context("existing_instance"), ExistingInstance
        ),
        host_role_name=str(app.node.try_get_context("host_role_name") or SEED_ROLE_NAME),
        host_move=_record("host_move", app.node.try_get_context("host_move"), HostMove),
        termination_protection=_flag(
            "termination_protection", app.node.try_get_context("termination_protection")
        ),
        without_custom_resources=_flag("rehearsal", app.node.try_get_context("rehearsal")),
    )
    if _flag("fleet", app.node.try_get_context("fleet")):
        AiTutorFleetStack(
            app,
            FLEET_STACK_NAME,
            env=cdk.Environment(account=account, region=REGION),
            alarm_emails=_emails(app.node.try_get_context("alarm_emails")),
        )
    return app


if __name__ == "__main__":
    build_app().synth()
