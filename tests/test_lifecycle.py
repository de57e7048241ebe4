"""The deploy lifecycle on the staging template: what a failed first create leaves, and the order of the setup.

Nothing here deploys (the rehearsal in tests/test_rehearsal.py runs the template in LocalStack, which has no
rollback). The properties that decide each path are CloudFormation's documented behaviour:

- "RetainExceptOnCreate behaves like Retain for stack operations, except for the stack operation that initially
  created the resource. If the stack operation that created the resource is rolled back, CloudFormation deletes
  the resource" (AWS CloudFormation User Guide, "DeletionPolicy attribute"). ``Retain`` and ``Snapshot`` keep (or
  leave a snapshot of) the resource whatever the operation: a named resource kept after a rolled-back create makes
  the retry fail on "already exists".
- EC2 refuses ``TerminateInstances`` on an instance with ``DisableApiTermination`` (hashicorp/terraform#5879), so
  the rollback of a failed create ends in ``ROLLBACK_FAILED``.
- The CDK CLI (node_modules/aws-cdk, ``changeSetDeployment``) switches stack termination protection on right after
  it creates the change set, before executing it, and ``cdk deploy`` deletes a stack whose create failed
  before creating it again, which termination protection refuses (aws-samples/aws-secure-environment-accelerator
  #253).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import cx_api as cxapi

from app import build_app
from stacks.synth import make_app

#: The deletion policies that leave something behind when the create that made the resource rolls back.
SURVIVES_A_ROLLED_BACK_CREATE = {"Retain", "Snapshot"}


def _resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = template["Resources"]
    return resources


def _protection(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The association that runs the stack's Automation runbook (the host's termination protection)."""
    runbooks = {
        logical_id
        for logical_id, resource in _resources(template).items()
        if resource["Type"] == "AWS::SSM::Document" and resource["Properties"]["DocumentType"] == "Automation"
    }
    found = [
        (logical_id, resource)
        for logical_id, resource in _resources(template).items()
        if resource["Type"] == "AWS::SSM::Association"
        and resource["Properties"]["Name"] in [{"Ref": r} for r in runbooks]
    ]
    assert len(found) == 1
    return found[0]


def test_a_failed_first_create_leaves_nothing_behind(staging_template_json: dict[str, Any]) -> None:
    left = {
        logical_id: resource.get("DeletionPolicy")
        for logical_id, resource in _resources(staging_template_json).items()
        if resource.get("DeletionPolicy") in SURVIVES_A_ROLLED_BACK_CREATE
    }
    assert left == {}
    kept_after_create = {
        resource["Properties"].get("LogGroupName", resource["Type"])
        for resource in _resources(staging_template_json).values()
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate"
    }
    # The named groups and the host's data volume (and its attachment) are still kept on deletion and replacement
    # (that is their point); a rolled-back create removes them while they hold nothing.
    assert kept_after_create == {
        *(f"/ai-tutor/{name}" for name in ("backend", "frontend", "nginx", "docker-events", "prometheus")),
        "AWS::EC2::Volume",
        "AWS::EC2::VolumeAttachment",
    }
    for resource in _resources(staging_template_json).values():
        if resource.get("DeletionPolicy") == "RetainExceptOnCreate":
            assert resource["UpdateReplacePolicy"] == "Retain"


def test_the_rollback_can_terminate_the_instance(staging_template_json: dict[str, Any]) -> None:
    instances = [r for r in _resources(staging_template_json).values() if r["Type"] == "AWS::EC2::Instance"]
    assert len(instances) == 1
    assert "DisableApiTermination" not in instances[0]["Properties"]
    assert "DeletionPolicy" not in instances[0]


def test_the_host_protects_itself_only_after_everything_else_was_created(
    staging_template_json: dict[str, Any],
) -> None:
    """Created last, so no failure of a create or of a replacing update can come after it: their rollback
    always finds an unprotected instance."""
    logical_id, protection = _protection(staging_template_json)
    waits_for = set(protection.get("DependsOn", []))
    referenced = {ref for ref in _refs(protection["Properties"]) if ref in _resources(staging_template_json)}
    others = set(_resources(staging_template_json)) - {logical_id}
    # Every other resource is a dependency, explicit or through a Ref (cfn-lint W3005 wants no duplicate).
    assert waits_for | referenced == others
    assert not waits_for & referenced
    instance = next(
        k for k, r in _resources(staging_template_json).items() if r["Type"] == "AWS::EC2::Instance"
    )
    assert instance in referenced


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["Ref"]} if isinstance(value.get("Ref"), str) else set()
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        return found.union(*(_refs(v) for v in value.values())) if value else found
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def test_the_setup_starts_once_the_elastic_ip_is_attached(staging_template_json: dict[str, Any]) -> None:
    resources = _resources(staging_template_json)
    eip = next(k for k, r in resources.items() if r["Type"] == "AWS::EC2::EIP")
    setup = next(
        k
        for k, r in resources.items()
        if r["Type"] == "AWS::SSM::Association" and "ConstructsObs::Host" in r.get("Metadata", {})
    )
    # AWS::EC2::EIP with InstanceId allocates and associates the address in one resource.
    assert resources[eip]["Properties"]["InstanceId"] == {
        "Ref": next(k for k, r in resources.items() if r["Type"] == "AWS::EC2::Instance")
    }
    assert eip in resources[setup]["DependsOn"]


def test_stack_termination_protection_is_off_by_default_and_on_when_asked(tmp_path: Path) -> None:
    default = (
        build_app(make_app(tmp_path / "default"), environ={}).synth().get_stack_by_name("AiTutorStaging")
    )
    assert isinstance(default, cxapi.CloudFormationStackArtifact)
    assert default.termination_protection is False
    protected = build_app(make_app(tmp_path / "on", termination_protection="true"), environ={})
    assert protected.synth().get_stack_by_name("AiTutorStaging").termination_protection is True


def test_the_pinned_cli_sets_stack_protection_before_the_create_runs() -> None:
    """What the default rests on, read from the pinned CLI (package-lock.json): in a change-set deployment the
    termination protection is updated right after the change set is created, before it is executed."""
    cli = Path(__file__).resolve().parent.parent / "node_modules" / "aws-cdk" / "lib" / "index.js"
    if not cli.is_file():
        pytest.fail("node_modules/aws-cdk is missing: run make setup")
    text = cli.read_text()
    start = text.index("async changeSetDeployment(deploymentMethod)")
    body = text[start : text.index("async executeExistingChangeSet", start)]
    created = body.index("await this.createChangeSet(")
    protected = body.index("await this.updateTerminationProtection()")
    executed = body.index("this.checkAndExecuteChangeSet(")
    assert created < protected < executed
    # And a stack whose create failed is deleted (not unprotected first) before the next create.
    failure = text.index("if (cloudFormationStack.stackStatus.isCreationFailure) {")
    assert "await cfn.deleteStack(" in text[failure : failure + 600]
    assert "updateTerminationProtection" not in text[failure : failure + 600]


def test_operators_are_sent_to_the_agents_live_configuration() -> None:
    """``fetch-config`` deletes ``etc/amazon-cloudwatch-agent.json`` in the default multi-config mode (agent repo,
    ``packaging/dependencies/amazon-cloudwatch-agent-ctl``): the runbook and obs-doctor name the live file."""
    root = Path(__file__).resolve().parent.parent
    live = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_amazon-cloudwatch-agent.json"
    runbook = (root / "docs" / "runbook.md").read_text()
    assert live in runbook
    doctor = (root / "constructs_obs" / "doctor" / "checks" / "prometheus.py").read_text()
    assert "AGENT_LIVE_CONFIG_PATH" in doctor and "AGENT_CONFIG_PATH," not in doctor
    from constructs_obs.contract import AGENT_LIVE_CONFIG_PATH

    assert live == AGENT_LIVE_CONFIG_PATH


def test_the_runbook_protects_the_host_with_a_role_of_its_own(staging_template_json: dict[str, Any]) -> None:
    """The host's role cannot modify its instance (a process on the host could change its own security groups):
    the runbook runs as a role only this account's Automation may assume, allowed that one call on that one
    instance (trust conditions as the Systems Manager User Guide's "Configure a service role for Automation")."""
    resources = _resources(staging_template_json)
    _, association = _protection(staging_template_json)
    instance = next(k for k, r in resources.items() if r["Type"] == "AWS::EC2::Instance")
    assert association["Properties"]["Targets"] == [{"Key": "ParameterValues", "Values": [{"Ref": instance}]}]
    assert association["Properties"]["AutomationTargetParameterName"] == "InstanceId"
    assert association["Properties"]["WaitForSuccessTimeoutSeconds"] == 600
    (role_arn,) = association["Properties"]["Parameters"]["AutomationAssumeRole"]
    role = role_arn["Fn::GetAtt"][0]
    assert resources[role]["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {
                    "aws:SourceArn": {
                        "Fn::Join": [
                            "",
                            ["arn:aws:ssm:us-east-2:", {"Ref": "AWS::AccountId"}, ":automation-execution/*"],
                        ]
                    }
                },
            },
            "Effect": "Allow",
            "Principal": {"Service": "ssm.amazonaws.com"},
        }
    ]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"]
    ]
    assert policies == [
        [
            {
                "Action": "ec2:ModifyInstanceAttribute",
                "Effect": "Allow",
                "Resource": {
                    "Fn::Join": [
                        "",
                        [
                            "arn:aws:ec2:us-east-2:",
                            {"Ref": "AWS::AccountId"},
                            ":instance/",
                            {"Ref": instance},
                        ],
                    ]
                },
            }
        ]
    ]
    # Nothing else in the stack may modify an instance.
    grants = [
        statement
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy"
        for statement in r["Properties"]["PolicyDocument"]["Statement"]
        if "ec2:ModifyInstanceAttribute" in json.dumps(statement["Action"])
    ]
    assert len(grants) == 1


def test_the_runbook_makes_a_valid_modify_instance_attribute_request(
    staging_template_json: dict[str, Any],
) -> None:
    """aws:executeAwsApi sends its inputs (less Service and Api) as the API's request (Systems Manager User Guide,
    "aws:executeAwsApi"): checked against botocore's EC2 service model, the request EC2 receives."""
    import botocore.session
    from botocore.validate import ParamValidator

    _, association = _protection(staging_template_json)
    runbook = _resources(staging_template_json)[association["Properties"]["Name"]["Ref"]]
    content = runbook["Properties"]["Content"]
    assert content["schemaVersion"] == "0.3"
    assert content["assumeRole"] == "{{ AutomationAssumeRole }}"
    assert sorted(content["parameters"]) == ["AutomationAssumeRole", "InstanceId"]
    (step,) = content["mainSteps"]
    assert step["action"] == "aws:executeAwsApi"
    inputs = dict(step["inputs"])
    assert (inputs.pop("Service"), inputs.pop("Api")) == ("ec2", "ModifyInstanceAttribute")
    assert inputs == {"InstanceId": "{{ InstanceId }}", "DisableApiTermination": {"Value": True}}
    model = botocore.session.get_session().get_service_model("ec2")
    shape = model.operation_model("ModifyInstanceAttribute").input_shape
    request = {**inputs, "InstanceId": "i-0123456789abcdef0"}
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
