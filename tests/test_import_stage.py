"""The import stage (import_app.py, stacks/import_stage.py): only importable resources, each with a DeletionPolicy,
the alarms included, described as AWS describes them, under the logical ids the full stack then keeps; and the main
app cannot produce it.

The descriptions are what moto's CloudWatch and CloudWatch Logs return for resources created the way the seed's
Terraform describes them (the same JSON the AWS CLI prints for ``describe-log-groups`` and ``describe-alarms``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import aws_logs as logs
from moto import mock_aws

import stacks.staging
from app import build_app
from import_app import build_import_app
from stacks.import_stage import ImportStageError
from stacks.synth import cdk_json_context, make_app

REGION = "us-east-2"
INSTANCE = "i-0123456789abcdef0"
EXISTING = {"instance_id": INSTANCE, "role_name": "ai-tutor-staging-ec2-role"}
GROUPS = ("/ai-tutor/backend", "/ai-tutor/frontend", "/ai-tutor/nginx")


def describe(folder: Path, retention: dict[str, int | None]) -> Path:
    """Terraform's alarms (no actions) and the three groups, created in moto and described into ``folder``."""
    with mock_aws():
        logs_client = boto3.client("logs", region_name=REGION)
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for group in GROUPS:
            logs_client.create_log_group(logGroupName=group)
            if retention.get(group) is not None:
                logs_client.put_retention_policy(logGroupName=group, retentionInDays=retention[group])
        # The seed: CPU > 80% for 10 minutes, status check "any failure"; alarm_actions = [].
        common = {"Namespace": "AWS/EC2", "Dimensions": [{"Name": "InstanceId", "Value": INSTANCE}]}
        cloudwatch.put_metric_alarm(
            AlarmName="ai-tutor-staging-cpu-high", MetricName="CPUUtilization", Statistic="Average", Period=300,
            EvaluationPeriods=2, Threshold=80, ComparisonOperator="GreaterThanThreshold", **common,
        )  # fmt: skip
        cloudwatch.put_metric_alarm(
            AlarmName="ai-tutor-staging-status-check", MetricName="StatusCheckFailed", Statistic="Maximum",
            Period=300, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold", **common,
        )  # fmt: skip
        groups = logs_client.describe_log_groups(logGroupNamePrefix="/ai-tutor/")
        alarms = cloudwatch.describe_alarms(
            AlarmNames=["ai-tutor-staging-cpu-high", "ai-tutor-staging-status-check"]
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, document in (("log-groups.json", groups), ("alarms.json", alarms)):
        document.pop("ResponseMetadata", None)
        (folder / name).write_text(json.dumps(document, default=str))
    return folder


def context(folder: Path, **extra: Any) -> dict[str, Any]:
    return {**cdk_json_context(), "current": str(folder), "existing_instance": EXISTING, **extra}


def full_template(tmp_path: Path, **ctx: Any) -> dict[str, Any]:
    app = build_app(make_app(tmp_path / "full", **ctx), environ={})
    template: dict[str, Any] = app.synth().get_stack_by_name("AiTutorStaging").template
    return template


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """The import template and its resource mapping, for groups that keep 30 days (as the stack does)."""
    folder = describe(tmp_path_factory.mktemp("current"), dict.fromkeys(GROUPS, 30))
    app, stage = build_import_app(context(folder), outdir=str(tmp_path_factory.mktemp("import")))
    template: dict[str, Any] = app.synth().get_stack_by_name("AiTutorStaging").template
    return template, stage.resource_mapping


def test_the_import_stage_holds_only_importable_resources_each_with_a_deletion_policy(
    stage: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, mapping = stage
    resources = template["Resources"]
    # AWS::Logs::LogGroup by LogGroupName and AWS::CloudWatch::Alarm by AlarmName (CloudFormation User Guide,
    # "Resource type support"); nothing else, not even the CLI's AWS::CDK::Metadata.
    assert sorted((r["Type"], r["Properties"].get("LogGroupName") or r["Properties"]["AlarmName"]) for r in resources.values()) == [
        ("AWS::CloudWatch::Alarm", "ai-tutor-staging-cpu-high"),
        ("AWS::CloudWatch::Alarm", "ai-tutor-staging-status-check"),
        ("AWS::Logs::LogGroup", "/ai-tutor/backend"),
        ("AWS::Logs::LogGroup", "/ai-tutor/frontend"),
        ("AWS::Logs::LogGroup", "/ai-tutor/nginx"),
    ]  # fmt: skip
    assert {(r["DeletionPolicy"], r["UpdateReplacePolicy"]) for r in resources.values()} == {
        ("Retain", "Retain")
    }
    assert mapping == {
        logical: {"LogGroupName": r["Properties"]["LogGroupName"]}
        if r["Type"] == "AWS::Logs::LogGroup"
        else {"AlarmName": r["Properties"]["AlarmName"]}
        for logical, r in resources.items()
    }


def test_the_alarms_are_described_as_they_are_no_actions(
    stage: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, _ = stage
    alarms = {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    cpu = alarms["ai-tutor-staging-cpu-high"]
    assert cpu["AlarmActions"] == cpu["OKActions"] == cpu["InsufficientDataActions"] == []
    assert (cpu["MetricName"], cpu["Statistic"], cpu["Period"], cpu["EvaluationPeriods"], cpu["Threshold"]) == (
        "CPUUtilization", "Average", 300, 2, 80.0,
    )  # fmt: skip
    assert cpu["Dimensions"] == [{"Name": "InstanceId", "Value": INSTANCE}]
    assert alarms["ai-tutor-staging-status-check"]["MetricName"] == "StatusCheckFailed"


def test_the_full_stack_keeps_every_imported_logical_id(
    stage: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    template, _ = stage
    for ctx in ({"existing_instance": EXISTING}, {}):  # keep the instance, or a host of the stack's own
        full = full_template(tmp_path / str(len(ctx)), **ctx)["Resources"]
        for logical, resource in template["Resources"].items():
            assert logical in full, f"{logical} would be created anew (the import adopted it under this id)"
            assert full[logical]["Type"] == resource["Type"]
            key = "LogGroupName" if resource["Type"] == "AWS::Logs::LogGroup" else "AlarmName"
            assert full[logical]["Properties"][key] == resource["Properties"][key]
        # The next deploy changes the alarms in place: their actions now notify the topic.
        cpu = next(
            k
            for k, r in template["Resources"].items()
            if r["Properties"].get("AlarmName", "").endswith("cpu-high")
        )
        assert full[cpu]["Properties"]["AlarmActions"] == [{"Ref": "AlarmsTopic3A2DFEBA"}]


def test_groups_that_keep_more_history_stop_the_import_until_the_stack_keeps_it_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = describe(tmp_path / "current", {"/ai-tutor/backend": None, "/ai-tutor/frontend": 400})
    with pytest.raises(ImportStageError) as refused:
        build_import_app(context(folder), outdir=str(tmp_path / "refused"))
    assert str(refused.value).startswith(
        "AiTutorStaging keeps log events for less time than the groups keep them today (/ai-tutor/backend: never "
        "expire now, 30 days in the stack; /ai-tutor/frontend: 400 days now, 30 days in the stack; /ai-tutor/nginx: "
        "never expire now, 30 days in the stack): its first deploy after the import would delete every older event."
    )
    # The team keeps its history: the stack says "never expire", and so do both templates.
    monkeypatch.setattr(stacks.staging, "LOG_RETENTION", logs.RetentionDays.INFINITE)
    app, _ = build_import_app(context(folder), outdir=str(tmp_path / "import"))
    imported = app.synth().get_stack_by_name("AiTutorStaging").template["Resources"]
    full = full_template(tmp_path, existing_instance=EXISTING)["Resources"]
    backend = next(
        k for k, r in imported.items() if r["Properties"].get("LogGroupName") == "/ai-tutor/backend"
    )
    assert "RetentionInDays" not in imported[backend]["Properties"]
    assert "RetentionInDays" not in full[backend]["Properties"]


def test_the_main_app_cannot_produce_the_import_only_template(tmp_path: Path) -> None:
    # The flag that once built it is refused by name, not ignored.
    with pytest.raises(ValueError, match="context adopt_log_groups is no longer read by this app"):
        build_app(make_app(tmp_path / "retired", adopt_log_groups="true"), environ={})
    # Every context the app reads gives the whole stack: its setup, topic and alarms beside the groups.
    for ctx in ({}, {"existing_instance": EXISTING}, {"rehearsal": "true"}, {"host_role_name": "x-role"}):
        resources = full_template(tmp_path / str(len(str(ctx))), **ctx)["Resources"]
        types = {r["Type"] for r in resources.values()}
        assert {"AWS::SSM::Association", "AWS::SNS::Topic", "AWS::Logs::LogGroup"} <= types
    assert "import" not in Path("app.py").read_text().split('"""')[-1].lower().replace("import ", "")
