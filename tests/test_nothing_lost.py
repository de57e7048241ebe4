"""Nothing is lost: stateful resources keep their logical ids, survive stack deletion, and a change of threshold
or email address never replaces the instance or a log group."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import assertions
from aws_cdk import cx_api as cxapi

from stacks.synth import make_app

#: Logical ids of the staging stack's stateful resources. Construct ids are public API: a refactor that changes
#: one of these makes CloudFormation replace the resource (a new instance, empty log groups, a topic whose
#: subscribers must confirm again), so it must fail here first.
PINNED_STAGING_IDS: dict[str, tuple[str, dict[str, Any]]] = {
    "Logsbackend6FE699C3": ("AWS::Logs::LogGroup", {"LogGroupName": "/ai-tutor/backend"}),
    "Logsfrontend98A8DBA6": ("AWS::Logs::LogGroup", {"LogGroupName": "/ai-tutor/frontend"}),
    "Logsnginx3C5523AF": ("AWS::Logs::LogGroup", {"LogGroupName": "/ai-tutor/nginx"}),
    "HostDockerEventsLogGroup46554761": ("AWS::Logs::LogGroup", {"LogGroupName": "/ai-tutor/docker-events"}),
    "HostPrometheusLogGroup29A125BD": ("AWS::Logs::LogGroup", {"LogGroupName": "/ai-tutor/prometheus"}),
    "HostInstance2C59A3BE": ("AWS::EC2::Instance", {"InstanceType": "t3.small"}),
    "HostRoleE4EC059A": ("AWS::IAM::Role", {"RoleName": "ai-tutor-staging-ec2-role"}),
    "HostInstanceInstanceProfile65A03AB8": ("AWS::IAM::InstanceProfile", {}),
    "AlarmsTopic3A2DFEBA": ("AWS::SNS::Topic", {"DisplayName": "ai-tutor-staging alarms"}),
}
#: The same construct ids give the same logical ids in any stack that uses the constructs.
PINNED_CONSUMER_IDS = {
    "Logsapi3151F358": "AWS::Logs::LogGroup",
    "LogsworkerD0AB010D": "AWS::Logs::LogGroup",
    "HostInstance2C59A3BE": "AWS::EC2::Instance",
    "HostRoleE4EC059A": "AWS::IAM::Role",
    "AlarmsTopic3A2DFEBA": "AWS::SNS::Topic",
}
STATEFUL_TYPES = {"AWS::Logs::LogGroup", "AWS::EC2::Instance", "AWS::SNS::Topic"}


def _resources(template: assertions.Template | dict[str, Any]) -> dict[str, Any]:
    body = template.to_json() if isinstance(template, assertions.Template) else template
    resources: dict[str, Any] = body["Resources"]
    return resources


def _consumer(app: cdk.App, name: str) -> dict[str, Any]:
    """The resources of consumer stack ``name`` as if it were called ``Consumer`` (its construct path shows in
    metadata and descriptions), so two variants compare on what they configure."""
    resources = _resources(assertions.Template.from_stack(app.node.find_child(name)))
    text = json.dumps(resources).replace(f"{name}/", "Consumer/")
    # Each variant names its groups and alarms after itself (shop-tuned), so that they may share one app.
    text = re.sub(r"shop-[a-z]+(-prod|/)", r"shop\1", text)
    renamed: dict[str, Any] = json.loads(text)
    return renamed


def test_stateful_logical_ids_are_pinned(staging_template_json: dict[str, Any]) -> None:
    resources = _resources(staging_template_json)
    for logical_id, (resource_type, properties) in PINNED_STAGING_IDS.items():
        assert logical_id in resources, f"{logical_id} ({resource_type}) would be replaced"
        assert resources[logical_id]["Type"] == resource_type
        for name, value in properties.items():
            assert resources[logical_id]["Properties"][name] == value
    stateful = {k for k, v in resources.items() if v["Type"] in STATEFUL_TYPES}
    assert stateful == {k for k, (t, _) in PINNED_STAGING_IDS.items() if t in STATEFUL_TYPES}


def test_consumer_logical_ids_are_pinned(consumer_app: cdk.App) -> None:
    resources = _resources(assertions.Template.from_stack(consumer_app.node.find_child("Consumer")))
    assert {k: resources[k]["Type"] for k in PINNED_CONSUMER_IDS if k in resources} == PINNED_CONSUMER_IDS


def test_log_groups_survive_stack_deletion_and_replacement(
    staging_template_json: dict[str, Any], consumer_app: cdk.App
) -> None:
    templates = [staging_template_json] + [
        assertions.Template.from_stack(consumer_app.node.find_child(name)).to_json()
        for name in ("Consumer", "ConsumerStrict")
    ]
    for template in templates:
        groups = [r for r in _resources(template).values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert groups
        # Kept on deletion and replacement; deleted only when the deploy that created them rolls back.
        assert {(g["DeletionPolicy"], g["UpdateReplacePolicy"]) for g in groups} == {
            ("RetainExceptOnCreate", "Retain")
        }


def test_staging_stack_has_termination_protection(
    staging_artifact: cxapi.CloudFormationStackArtifact,
) -> None:
    # Off by default: the CLI could not clean up a failed first create (tests/test_lifecycle.py).
    assert staging_artifact.termination_protection is False


def _without_order(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "DependsOn"}


def _changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, str]:
    """Logical id -> how it differs: ``added``, ``removed`` or ``changed``.

    ``DependsOn`` alone is not a change: it orders the stack's operations and is not passed to the resource, so a
    resource whose properties are the same is not updated (the host's termination-protection association waits for
    every resource of the stack, so each added resource joins its ``DependsOn``).
    """
    changes = {k: "removed" for k in before if k not in after}
    changes.update({k: "added" for k in after if k not in before})
    changes.update(
        {k: "changed" for k in before if k in after and _without_order(before[k]) != _without_order(after[k])}
    )
    return changes


def test_an_email_change_only_adds_subscriptions(
    staging_template_json: dict[str, Any], staging_with_emails: assertions.Template
) -> None:
    before, after = _resources(staging_template_json), _resources(staging_with_emails)
    changes = _changed(before, after)
    assert set(changes.values()) == {"added"}
    assert {after[k]["Type"] for k in changes} == {"AWS::SNS::Subscription"}


def test_a_threshold_and_email_change_replaces_nothing_stateful(tmp_path: Path) -> None:
    from tests.consumer import REGION, ConsumerStack

    # The same stack (same name, so the same default metrics namespace), deployed again with other settings.
    env = cdk.Environment(region=REGION)
    first, second = make_app(tmp_path / "before"), make_app(tmp_path / "after")
    ConsumerStack(first, "Consumer", env=env)
    ConsumerStack(
        second,
        "Consumer",
        cpu_threshold_percent=65,
        emails=["oncall@example.com", "team@example.com"],
        env=env,
    )
    before = _consumer(first, "Consumer")
    after = _consumer(second, "Consumer")
    changes = _changed(before, after)
    # The CPU alarm's threshold changes in place, one subscription is added; every other resource, the instance
    # and the log groups included, is byte-for-byte the same, so CloudFormation leaves it alone.
    assert {(before | after)[k]["Type"]: v for k, v in changes.items()} == {
        "AWS::CloudWatch::Alarm": "changed",
        "AWS::SNS::Subscription": "added",
    }
    cpu = next(k for k, v in changes.items() if v == "changed")
    assert (before[cpu]["Properties"]["Threshold"], after[cpu]["Properties"]["Threshold"]) == (80, 65)
    assert {n for n, v in before[cpu]["Properties"].items() if after[cpu]["Properties"][n] != v} == {
        "Threshold",
        "AlarmDescription",
    }
