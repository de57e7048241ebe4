"""Compliance: cdk-nag packs, CDK's built-in CloudFormation validation and cfn-lint find nothing unacknowledged.

The checks are generic: any finding on any resource of the staging app, the reuse stack or a fresh consumer's
stacks fails, whatever resources those hold. Every acknowledgment is declared (constructs_obs.checks.compliance), so
docs/compliance.md lists it, and is applied somewhere.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NagPack, NIST80053R5Checks

import stacks.staging
from app import build_app
from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host
from constructs_obs.checks.compliance import (
    AcknowledgedFinding,
    acknowledge,
    declare,
    declared,
    markdown_table,
    nag_label,
)
from constructs_obs.host.instance import DETAILED_MONITORING
from stacks.staging import STACK_NAME
from tests.conftest import ROOT, logical_id, make_app

PACKS: dict[str, type[NagPack]] = {
    "AwsSolutions": AwsSolutionsChecks,
    "NIST.800.53.R5": NIST80053R5Checks,
    "HIPAA.Security": HIPAASecurityChecks,
}
#: Every app configuration the suite synthesizes once per session (fixture names).
CONFIGURATIONS = (
    "staging_app",
    "staging_move_app",
    "staging_existing_app",
    "shop_app",
    "consumer_app",
    "fleet_app",
)
COMPLIANCE_PAGE = ROOT / "docs" / "compliance.md"
#: Acknowledgments aws-cdk-lib records itself (rule id -> reason): a stack whose `availability_zones` is read
#: (as `ec2.Vpc` does) acknowledges the literal zones that puts in its template.
CDK_OWN_ACKNOWLEDGMENTS = {
    "CloudFormation-Validate::W3010": "Literal AZs in template are the result of accessing "
    "stack.availabilityZones, this is expected and safe",
}


def _findings(app: cdk.App, pack: type[NagPack]) -> list[str]:
    report = pack().validate_scope(app)
    return [f"{v.rule_name} on {r.construct_path}" for v in report.violations for r in v.violating_resources]


def _validation_report(app: cdk.App) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((Path(app.outdir) / "validation-report.json").read_text())
    return report


def _plugin_report(app: cdk.App, plugin: str) -> dict[str, Any]:
    reports = [r for r in _validation_report(app)["pluginReports"] if r["pluginName"] == plugin]
    assert len(reports) == 1, f"{plugin} did not run on {app.outdir}"
    return reports[0]


def _applied(app: cdk.App) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgment recorded in ``app``'s construct tree."""
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    if CDK_OWN_ACKNOWLEDGMENTS.get(rule_id) != reason:
                        yield construct.node.path, re.sub(r"^Annotation::", "", rule_id), reason


def _declaration_of(rule_id: str, reason: str) -> AcknowledgedFinding | None:
    for finding in declared():
        for rule in finding.rules:
            pattern = re.sub(r"\\\{\w+\\\}", ".+", re.escape(rule))
            if re.fullmatch(pattern, rule_id) and reason == finding.reason:
                return finding
    return None


@pytest.mark.parametrize("pack", sorted(PACKS))
@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_no_unacknowledged_nag_findings(
    request: pytest.FixtureRequest, configuration: str, pack: str
) -> None:
    app: cdk.App = request.getfixturevalue(configuration)
    assert _findings(app, PACKS[pack]) == []


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_builtin_cloudformation_validation_finds_nothing_unacknowledged(
    request: pytest.FixtureRequest, configuration: str
) -> None:
    app: cdk.App = request.getfixturevalue(configuration)
    assert app.node.try_get_context("@aws-cdk/core:validateAgainstDefaultRules") is True
    if configuration == "staging_existing_app":
        # No instance, so no acknowledged finding (the ImageId's resolve:ssm form) and nothing to report: the
        # validator leaves a clean stack out of the report, as every plugin does.
        plugins = [r["pluginName"] for r in _validation_report(app)["pluginReports"]]
        assert "CloudFormation Validate" not in plugins
        return
    report = _plugin_report(app, "CloudFormation Validate")
    assert report["violations"] == []
    for suppressed in report.get("suppressedViolations", []):
        rule_id, reason = suppressed["acknowledgedId"], suppressed["reason"]
        assert CDK_OWN_ACKNOWLEDGMENTS.get(rule_id) == reason or _declaration_of(rule_id, reason), suppressed


def test_staging_synth_runs_aws_solutions_and_fails_on_a_finding(tmp_path: Path) -> None:
    app = build_app(make_app(tmp_path), environ={})
    sns.Topic(app.node.find_child(STACK_NAME), "PlainTopic")  # publishers may use plain HTTP: SNS3
    with pytest.raises(Exception, match=r"AwsSolutions-SNS3") as raised:
        app.synth()
    assert f"{STACK_NAME}/PlainTopic/Resource" in str(raised.value)


def test_staging_synth_reports_aws_solutions_clean(staging_app: cdk.App) -> None:
    plugins = {r["pluginName"]: r for r in _validation_report(staging_app)["pluginReports"]}
    # A plugin with no violations is left out of the report; CloudFormation Validate always reports.
    assert "AwsSolutions" not in plugins
    assert plugins["CloudFormation Validate"]["conclusion"] == "success"


def test_every_applied_acknowledgment_is_declared_with_its_reason(
    staging_app: cdk.App,
    staging_move_app: cdk.App,
    staging_existing_app: cdk.App,
    shop_app: cdk.App,
    consumer_app: cdk.App,
    fleet_app: cdk.App,
) -> None:
    undeclared = [
        (path, rule_id, reason)
        for app in (staging_app, staging_move_app, staging_existing_app, shop_app, consumer_app, fleet_app)
        for path, rule_id, reason in _applied(app)
        if _declaration_of(rule_id, reason) is None
    ]
    assert undeclared == [], (
        "declare these in constructs_obs.checks.compliance and apply them with acknowledge()"
    )


def test_every_declared_acknowledgment_is_applied(
    staging_app: cdk.App,
    staging_move_app: cdk.App,
    staging_existing_app: cdk.App,
    shop_app: cdk.App,
    consumer_app: cdk.App,
    fleet_app: cdk.App,
) -> None:
    used = {
        finding.key
        for app in (staging_app, staging_move_app, staging_existing_app, shop_app, consumer_app, fleet_app)
        for _, rule_id, reason in _applied(app)
        if (finding := _declaration_of(rule_id, reason)) is not None
    }
    assert sorted(f.key for f in declared() if f.key not in used) == []


def test_acknowledgments_sit_on_the_narrowest_construct(staging_app: cdk.App) -> None:
    where = {(rule_id, path) for path, rule_id, _ in _applied(staging_app)}
    assert ("AwsSolutions-EC28", f"{STACK_NAME}/Host/Instance") in where
    assert ("AwsSolutions-EC23", f"{STACK_NAME}/Host/SecurityGroup") in where
    assert ("AwsSolutions-IAM5[Resource::*]", f"{STACK_NAME}/Host/Role") in where
    assert (
        "AwsSolutions-IAM5[Resource::arn:aws:ec2:us-east-2:<AWS::AccountId>:instance/*]",
        f"{STACK_NAME}/Host/Role",
    ) in where
    assert ("NIST.800.53.R5-SNSEncryptedKMS", f"{STACK_NAME}/Alarms/Topic") in where
    for container in ("backend", "frontend", "nginx"):
        assert ("HIPAA.Security-CloudWatchLogGroupEncrypted", f"{STACK_NAME}/Logs/{container}") in where
    for subnet in ("publicSubnet1", "publicSubnet2"):
        assert ("NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW", f"{STACK_NAME}/Vpc/{subnet}") in where
    # Nothing is acknowledged on a whole stack or a whole construct of ours.
    assert not {path for _, path in where} & {STACK_NAME, f"{STACK_NAME}/Host", f"{STACK_NAME}/Alarms"}


def test_stricter_opt_ins_fix_what_the_defaults_acknowledge(consumer_app: cdk.App) -> None:
    strict = [(path, rule) for path, rule, _ in _applied(consumer_app) if path.startswith("ConsumerStrict/")]
    relaxed = [(path, rule) for path, rule, _ in _applied(consumer_app) if path.startswith("Consumer/")]
    # The findings the defaults acknowledge and the stricter opt-ins fix (customer-managed keys for the log
    # groups and the topic, detailed monitoring), by the packs' rule ids.
    for rules in (
        {"NIST.800.53.R5-CloudWatchLogGroupEncrypted", "HIPAA.Security-CloudWatchLogGroupEncrypted"},
        {"NIST.800.53.R5-SNSEncryptedKMS", "HIPAA.Security-SNSEncryptedKMS"},
        {"AwsSolutions-EC28", "HIPAA.Security-EC2InstanceDetailedMonitoringEnabled"},
    ):
        assert not [rule for _, rule in strict if rule in rules], rules
        assert {rule for _, rule in relaxed if rule in rules} == rules


def test_strict_log_groups_use_the_key_and_only_cloudwatch_logs_for_them_may_use_it(
    consumer_app: cdk.App,
) -> None:
    template = assertions.Template.from_stack(consumer_app.node.find_child("ConsumerStrict"))
    key = logical_id(template, "AWS::KMS::Key")
    groups = template.find_resources("AWS::Logs::LogGroup")
    assert {json.dumps(g["Properties"]["KmsKeyId"]) for g in groups.values()} == {
        json.dumps({"Fn::GetAtt": [key, "Arn"]})
    }
    statements = template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    assert {
        "Sid": "CloudWatchLogsShopStrict",
        "Effect": "Allow",
        "Principal": {"Service": {"Fn::Join": ["", ["logs.eu-west-1.", {"Ref": "AWS::URLSuffix"}]]}},
        # The key policy of "Encrypt log data in CloudWatch Logs using AWS KMS" (CloudWatch Logs User Guide).
        "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": {
                    "Fn::Join": [
                        "",
                        ["arn:aws:logs:eu-west-1:", {"Ref": "AWS::AccountId"}, ":log-group:/shop-strict/*"],
                    ]
                }
            }
        },
    } in statements
    # Besides the account's own administration statement, only CloudWatch Logs, CloudWatch and EventBridge (the
    # recovery rule's deliveries to the encrypted topic) are let in.
    assert len(statements) == 4


def test_strict_topic_uses_the_key_and_cloudwatch_may_publish(consumer_app: cdk.App) -> None:
    template = assertions.Template.from_stack(consumer_app.node.find_child("ConsumerStrict"))
    key = logical_id(template, "AWS::KMS::Key")
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    statements = template.find_resources("AWS::KMS::Key")[key]["Properties"]["KeyPolicy"]["Statement"]
    assert {
        "Sid": "CloudWatchAlarmsPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        # What an AWS service publishing to an encrypted topic needs on its key (Amazon SNS Developer Guide,
        # "Enable compatibility between event sources from AWS services and encrypted topics").
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    } in statements


def test_strict_host_has_detailed_monitoring_and_one_minute_alarms(consumer_app: cdk.App) -> None:
    template = assertions.Template.from_stack(consumer_app.node.find_child("ConsumerStrict"))
    template.has_resource_properties("AWS::EC2::Instance", {"Monitoring": True})
    alarms = template.find_resources("AWS::CloudWatch::Alarm")
    assert {a["Properties"]["Period"] for a in alarms.values()} == {60}
    cpu = next(a for a in alarms.values() if a["Properties"]["AlarmName"] == "shop-strict-prod-cpu-high")
    assert cpu["Properties"]["EvaluationPeriods"] == 10


@pytest.mark.xdist_group("cli_synth")  # shares the one real CLI synth with test_cli_synth
def test_cfn_lint_passes_every_template_cdk_synth_writes(cli_synth: tuple[Any, Path]) -> None:
    result, out = cli_synth
    assert result.returncode == 0, result.stderr
    templates = sorted(out.glob("**/*.template.json"))
    assert [t.name for t in templates] == [f"{STACK_NAME}.template.json"]
    _assert_cfn_lint_clean(templates)


def test_cfn_lint_passes_the_reuse_and_consumer_templates(shop_app: cdk.App, consumer_app: cdk.App) -> None:
    templates = [
        t for app in (shop_app, consumer_app) for t in sorted(Path(app.outdir).glob("*.template.json"))
    ]
    assert len(templates) == 6
    _assert_cfn_lint_clean(templates)


def _assert_cfn_lint_clean(templates: list[Path]) -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), *map(str, templates)], capture_output=True, text=True, timeout=300, check=False
    )
    # Exit code 0: no errors, no warnings, no informational findings.
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_cfn_lint_acknowledgments_are_on_the_resource(staging_artifact: Any) -> None:
    resources = staging_artifact.template["Resources"]
    ignored = {
        resource["Metadata"]["aws:cdk:path"]: resource["Metadata"]["cfn-lint"]["config"]["ignore_checks"]
        for resource in resources.values()
        if "cfn-lint" in resource.get("Metadata", {})
    }
    assert ignored == {
        f"{STACK_NAME}/Host/Instance/Resource": ["E1152"],
        f"{STACK_NAME}/{stacks.staging.RESTRICT_DEFAULT_SG_PROVIDER}/Handler": ["W3005"],
    }


def test_compliance_page_lists_every_acknowledgment() -> None:
    table = markdown_table(declared())
    page = COMPLIANCE_PAGE.read_text()
    assert table in page, "docs/compliance.md is stale: run .venv/bin/python scripts/compliance_doc.py"
    for finding in declared():
        assert finding.reason in page


def test_imported_keys_warn_with_the_statement_to_add() -> None:
    stack = cdk.Stack(cdk.App(), "ImportedKey", env=cdk.Environment(region="eu-west-1"))
    key = kms.Key.from_key_arn(stack, "Key", "arn:aws:kms:eu-west-1:111111111111:key/0000-1111")
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    groups = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api"], encryption_key=key)
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=groups)
    BasicAlarms(
        stack, "Alarms", host=host, name_prefix="shop", emails=["a@example.com"], topic_encryption_key=key
    )
    annotations = assertions.Annotations.from_stack(stack)
    annotations.has_warning(
        "/ImportedKey/Logs",
        assertions.Match.string_like_regexp(
            r"encryption_key is imported, .* allow the service principal logs\.<region>\.amazonaws\.com "
            r"kms:Encrypt\*, kms:Decrypt\*, kms:ReEncrypt\*, kms:GenerateDataKey\*, kms:Describe\* on it for "
            r"/shop/\* log groups"
        ),
    )
    annotations.has_warning(
        "/ImportedKey/Alarms",
        assertions.Match.string_like_regexp(
            r"topic_encryption_key is imported, .* allow the service principals cloudwatch\.amazonaws\.com and "
            r"events\.amazonaws\.com kms:Decrypt, kms:GenerateDataKey\* on it, or alarm and recovery notifications "
            r"are silently dropped"
        ),
    )
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": key.key_arn})
    template.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": key.key_arn})


def test_acknowledge_fills_placeholders_and_writes_cfn_lint_metadata() -> None:
    finding = AcknowledgedFinding(
        key="test.example",
        owner="Test",
        target="Topic",
        rules=("AwsSolutions-IAM5[Resource::{arn}]", "cfn-lint::W1234"),
        reason="Because.",
        placeholders={"arn": "arn:<partition>:sns:<region>:<account>:*"},
    )
    stack = cdk.Stack(cdk.App(), "Helper")
    topic = sns.Topic(stack, "Topic", enforce_ssl=True)
    with pytest.raises(ValueError, match=r"^acknowledgment 'test.example' needs values for \['arn'\]$"):
        acknowledge(topic, finding)
    acknowledge(topic, finding, arn=nag_label(topic, topic.topic_arn))
    recorded = {
        rule_id: reason
        for entry in topic.node.metadata
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule_id, reason in entry.data.items()
    }
    topic_id = stack.get_logical_id(topic.node.default_child)  # type: ignore[arg-type]
    assert recorded == {
        f"Annotation::AwsSolutions-IAM5[Resource::<{topic_id}>]": "Because.",
        "cfn-lint::W1234": "Because.",
    }
    resource = assertions.Template.from_stack(stack).find_resources("AWS::SNS::Topic")[topic_id]
    assert resource["Metadata"]["cfn-lint"] == {"config": {"ignore_checks": ["W1234"]}}
    assert finding.documented_rules() == [
        "AwsSolutions-IAM5[Resource::arn:<partition>:sns:<region>:<account>:*]",
        "cfn-lint::W1234",
    ]


def test_declaring_a_key_twice_differently_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^acknowledgment 'host.basic-monitoring' is declared twice, differently$"
    ):
        declare(
            DETAILED_MONITORING.key,
            owner=DETAILED_MONITORING.owner,
            target=DETAILED_MONITORING.target,
            rules=DETAILED_MONITORING.rules,
            reason="Another reason.",
        )


def test_the_library_does_not_need_cdk_nag() -> None:
    # A consumer who installs the constructs gets their acknowledgments without installing cdk-nag.
    code = "import sys, constructs_obs, constructs_obs.checks.compliance; print(sorted(m for m in sys.modules if 'nag' in m))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
