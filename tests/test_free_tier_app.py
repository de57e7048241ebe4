"""The free-tier check over a whole app: stacks of one account add up, in one violation per overage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from constructs_obs import FreeTierCheck

ACCOUNT = "123456789012"


def alarm_stack(
    scope: Construct, construct_id: str, alarms: int, *, account: str | None = None, region: str | None = None
) -> cdk.Stack:
    """A stack of ``alarms`` standard-resolution alarms, one metric each."""
    stack = cdk.Stack(scope, construct_id, env=cdk.Environment(account=account, region=region))
    for i in range(alarms):
        cloudwatch.Alarm(
            stack,
            f"Alarm{i}",
            metric=cloudwatch.Metric(namespace="App", metric_name=f"M{i}", period=cdk.Duration.minutes(5)),
            threshold=1,
            evaluation_periods=1,
        )
    return stack


def _app(tmp_path: Path, **check: Any) -> cdk.App:
    app = cdk.App(outdir=str(tmp_path))
    cdk.Validations.of(app).add_plugins(FreeTierCheck(**check))
    return app


def _plugin_report(tmp_path: Path) -> dict[str, Any] | None:
    """The free-tier plugin's part of the validation report (CDK leaves out plugins that found nothing)."""
    report = json.loads((tmp_path / "validation-report.json").read_text())
    found = [r for r in report["pluginReports"] if r["pluginName"] == "ConstructsObsFreeTier"]
    assert len(found) <= 1
    return found[0] if found else None


def _paths(violation: dict[str, Any]) -> list[str]:
    return [c["constructPath"] for c in violation["violatingConstructs"]]


@pytest.mark.parametrize(
    ("per_region", "group"),
    [(False, "aws://123456789012, all regions"), (True, "aws://123456789012/us-east-2")],
)
def test_staging_and_prod_in_one_account_and_region_fail_strict_mode(
    tmp_path: Path, per_region: bool, group: str
) -> None:
    # 7 alarms each is inside the free tier for either alone; the account has one free tier for both.
    app = _app(tmp_path, strict=True, per_region=per_region)
    alarm_stack(app, "Staging", 7, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Prod", 7, account=ACCOUNT, region="us-east-2")
    description = (
        f"{group} (stacks Prod, Staging): 14 standard-resolution alarm metrics, the free tier covers 10: "
        "4 over, about $0.40/month"
    )
    with pytest.raises(RuntimeError) as raised:
        app.synth()
    # CDK prints a violation once per violating resource: here once per stack, not once per alarm.
    assert re.findall(r"ERROR (.*) \(ConstructsObsFreeTier\)", str(raised.value)) == [
        description,
        description,
    ]
    report = _plugin_report(tmp_path)
    assert report is not None
    assert report["conclusion"] == "failure"
    (violation,) = report["violations"]
    assert (violation["ruleName"], violation["severity"]) == ("alarm-metrics", "error")
    assert violation["description"] == description
    assert _paths(violation) == ["Prod", "Staging"]


def test_the_same_stacks_in_two_regions_pass_when_counted_per_region(tmp_path: Path) -> None:
    app = _app(tmp_path, strict=True, per_region=True)
    alarm_stack(app, "Staging", 7, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Prod", 7, account=ACCOUNT, region="eu-west-1")
    app.synth()
    assert _plugin_report(tmp_path) is None


def test_the_same_stacks_in_two_regions_share_the_account_free_tier_by_default(tmp_path: Path) -> None:
    app = _app(tmp_path, strict=True)
    alarm_stack(app, "Staging", 7, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Prod", 7, account=ACCOUNT, region="eu-west-1")
    with pytest.raises(RuntimeError, match=r"aws://123456789012, all regions \(stacks Prod, Staging\): 14 "):
        app.synth()


def test_an_account_agnostic_stack_counts_with_the_pinned_stack_of_its_region(tmp_path: Path) -> None:
    app = _app(tmp_path, per_region=True)
    alarm_stack(app, "Pinned", 6, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Agnostic", 5, region="us-east-2")  # aws://unknown-account/us-east-2
    alarm_stack(app, "Europe", 9, account=ACCOUNT, region="eu-west-1")
    app.synth()
    report = _plugin_report(tmp_path)
    assert report is not None
    assert report["conclusion"] == "success"  # warnings only
    (violation,) = report["violations"]
    assert violation["severity"] == "warning"
    assert violation["description"] == (
        "aws://123456789012/us-east-2 (stacks Agnostic, Pinned): 11 standard-resolution alarm metrics, "
        "the free tier covers 10: 1 over, about $0.10/month"
    )
    assert _paths(violation) == ["Agnostic", "Pinned"]


def test_stacks_of_nested_stages_count_with_the_account_of_their_stage(tmp_path: Path) -> None:
    # Nested stages write their own cloud assembly (assembly-Prod/assembly-Prod-Inner/): their stacks still count.
    app = _app(tmp_path)
    alarm_stack(app, "Staging", 5, account=ACCOUNT, region="us-east-2")
    prod = cdk.Stage(app, "Prod", env=cdk.Environment(account=ACCOUNT, region="eu-west-1"))
    alarm_stack(cdk.Stage(prod, "Inner"), "Api", 6)
    app.synth()
    assert (tmp_path / "assembly-Prod" / "assembly-Prod-Inner" / "manifest.json").is_file()
    report = _plugin_report(tmp_path)
    assert report is not None
    (violation,) = report["violations"]
    assert violation["description"] == (
        "aws://123456789012, all regions (stacks Prod/Inner/Api, Staging): 11 standard-resolution alarm metrics, "
        "the free tier covers 10: 1 over, about $0.10/month"
    )
    assert _paths(violation) == ["Prod/Inner/Api", "Staging"]


def _acknowledge(scope: Construct) -> None:
    cdk.Validations.of(scope).acknowledge(
        cdk.Acknowledgment(id="ConstructsObsFreeTier::alarm-metrics", reason="four alarms are worth $0.40")
    )


def test_acknowledging_one_stack_leaves_the_overage_on_the_other(tmp_path: Path) -> None:
    app = _app(tmp_path, strict=True)
    staging = alarm_stack(app, "Staging", 7, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Prod", 7, account=ACCOUNT, region="us-east-2")
    _acknowledge(staging)
    with pytest.raises(RuntimeError, match=r"\(stacks Prod, Staging\): 14 standard-resolution"):
        app.synth()
    report = _plugin_report(tmp_path)
    assert report is not None
    (violation,) = report["violations"]
    assert _paths(violation) == ["Prod"]
    (suppressed,) = report["suppressedViolations"]
    assert (_paths(suppressed), suppressed["reason"]) == (["Staging"], "four alarms are worth $0.40")


def test_acknowledging_on_the_app_accepts_the_overage_of_all_its_stacks(tmp_path: Path) -> None:
    app = _app(tmp_path, strict=True)
    alarm_stack(app, "Staging", 7, account=ACCOUNT, region="us-east-2")
    alarm_stack(app, "Prod", 7, account=ACCOUNT, region="us-east-2")
    _acknowledge(app)
    app.synth()
    report = _plugin_report(tmp_path)
    assert report is not None
    assert (report["conclusion"], report["violations"]) == ("success", [])
    (suppressed,) = report["suppressedViolations"]
    assert _paths(suppressed) == ["Prod", "Staging"]
