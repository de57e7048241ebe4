"""The library on the aws-cdk-lib releases it supports: the floor is declared once, and the paths for releases
older than ``Validations`` (2.252.0) write what cdk-nag 2 reads. `make test-floor` runs the consumer and cookbook
tests on the floor itself; these tests pin the older paths on the newest release, by switching them on."""

from __future__ import annotations

import re
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_iam as iam

from constructs_obs.checks import compliance, free_tier
from constructs_obs.checks.cdk_versions import FLOOR
from constructs_obs.checks.compliance import AcknowledgedFinding, acknowledge
from tests.conftest import ROOT

# Not declared (declare() registers it for the compliance page): an acknowledgment of this test's own.
FINDING = AcknowledgedFinding(
    key="test.cdk-nag-2-format",
    owner="test",
    target="Role",
    rules=(
        "AwsSolutions-IAM5[Resource::*]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "CloudFormation-Validate::W3005",
        "cfn-lint::W3005",
    ),
    reason="A reason long enough for cdk-nag 2, which wants ten characters or more.",
)


def test_the_floor_is_declared_once_in_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r'"aws-cdk-lib>=([0-9.]+),<3"', pyproject) == [FLOOR] == ["2.208.0"]


def test_ci_runs_the_floor_after_the_suite() -> None:
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert lines == ["make test", "make test-floor"]


def _role_metadata(monkeypatch: pytest.MonkeyPatch, *, validations: bool) -> dict[str, Any]:
    monkeypatch.setattr(compliance, "HAS_VALIDATIONS", validations)
    stack = cdk.Stack(cdk.App())
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    acknowledge(role, FINDING)
    # Created after the acknowledgment: covered all the same, as Validations covers it.
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["*"]))
    resources = assertions.Template.from_stack(stack).to_json()["Resources"]
    return {logical_id: r.get("Metadata", {}) for logical_id, r in resources.items()}


def test_without_validations_cdk_nag_2_suppressions_go_on_every_resource_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata = _role_metadata(monkeypatch, validations=False)
    suppressions = [
        {
            "reason": "A reason long enough for cdk-nag 2, which wants ten characters or more.",
            "id": "AwsSolutions-IAM5",
            "applies_to": ["Resource::*"],
        },
        {
            "reason": "A reason long enough for cdk-nag 2, which wants ten characters or more.",
            "id": "NIST.800.53.R5-IAMNoInlinePolicy",
        },
    ]
    assert metadata["Role1ABCC5F0"]["cdk_nag"] == {"rules_to_suppress": suppressions}
    assert metadata["RoleDefaultPolicy5FFB7DAB"]["cdk_nag"] == {"rules_to_suppress": suppressions}
    # cfn-lint reads its own metadata on every release; the built-in validator's rules have nothing to go to.
    assert metadata["Role1ABCC5F0"]["cfn-lint"] == {"config": {"ignore_checks": ["W3005"]}}


def test_with_validations_no_cdk_nag_2_metadata_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    metadata = _role_metadata(monkeypatch, validations=True)
    assert [logical_id for logical_id, m in metadata.items() if "cdk_nag" in m] == []


def test_a_reason_beyond_latin_1_is_encoded_as_cdk_nag_2_does() -> None:
    assert compliance.cdk_nag_2_suppression("AwsSolutions-EC23", "Open to the world \u2192 80 and 443") == {
        "reason": "T3BlbiB0byB0aGUgd29ybGQg4oaSIDgwIGFuZCA0NDM=",
        "id": "AwsSolutions-EC23",
        "is_reason_encoded": True,
    }


def test_free_tier_check_says_which_release_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(free_tier, "HAS_VALIDATIONS", False)
    monkeypatch.setattr(free_tier, "installed_release", lambda: "2.208.0")
    with pytest.raises(RuntimeError) as raised:
        free_tier.FreeTierCheck()
    assert str(raised.value) == (
        "FreeTierCheck is a validation plugin for Validations.of(app).add_plugins(...), which aws-cdk-lib has "
        "from 2.252.0; this environment has aws-cdk-lib 2.208.0. Upgrade aws-cdk-lib, or count a stack in a test: "
        "count_billables(Template.from_stack(stack).to_json()).overages(FREE_TIER)"
    )
