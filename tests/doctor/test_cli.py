"""The ``obs-doctor`` command: output, exit codes 0/1/2, one line and no traceback when it cannot run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from constructs_obs.doctor import CheckResult, Report, Status
from constructs_obs.doctor.cli import main
from constructs_obs.doctor.text import render
from tests.conftest import ROOT
from tests.doctor.conftest import isolate_from_real_aws
from tests.doctor.deployment import Deployment
from tests.doctor.helpers import MOTO_CFN_WARNINGS, summary_of

pytestmark = pytest.mark.filterwarnings(MOTO_CFN_WARNINGS)

ARGS = ["--stack", "AiTutorStaging", "--region", "us-east-2"]


def test_failed_check_exits_1_and_shows_the_next_step(
    healthy: Deployment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    healthy.client("logs").put_retention_policy(logGroupName="/ai-tutor/backend", retentionInDays=7)

    assert main(ARGS) == 1

    out = capsys.readouterr().out
    lines = out.splitlines()
    # The summary's logs line, then the problem with its next step.
    status, logs = summary_of(out)["logs"]
    assert status == "FAIL"
    assert logs.startswith("4 of 5 log groups in place, ")
    assert logs.endswith("; failing: /ai-tutor/backend")
    [failed] = [i for i, line in enumerate(lines) if line.startswith("FAIL     log-group")]
    assert lines[failed].split() == [
        "FAIL", "log-group", "/ai-tutor/backend:", "events", "expire", "after", "7", "days,", "the", "stack", "sets",
        "30", "days",
    ]  # fmt: skip
    assert (
        lines[failed + 1]
        .strip()
        .startswith("next: Restore the stack's retention: aws logs put-retention-policy")
    )
    assert lines[-1] == "47 checks: 46 pass, 1 fail; exit code 1 (--verbose: every row)"


def test_no_such_stack_exits_2_with_one_line(aws: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "Nope", "--region", "us-east-2"]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err
        == "obs-doctor: cannot check Nope: no stack named Nope in us-east-2 (check --region and --profile)\n"
    )


def test_cannot_run_with_json_prints_an_error_document(
    aws: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--stack", "Nope", "--region", "us-east-2", "--json"]) == 2

    out, err = capsys.readouterr()
    document = json.loads(out)
    assert (document["status"], document["exit_code"], document["checks"]) == ("error", 2, [])
    assert document["error"] == "no stack named Nope in us-east-2 (check --region and --profile)"
    assert len(err.splitlines()) == 1


def test_no_credentials_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_from_real_aws(monkeypatch, tmp_path, credentials=False)

    assert main(ARGS) == 2

    assert capsys.readouterr().err == (
        "obs-doctor: cannot check AiTutorStaging: no AWS credentials found: configure them (aws configure, "
        "aws sso login, AWS_PROFILE) or pass --profile\n"
    )


def test_unknown_profile_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_from_real_aws(monkeypatch, tmp_path, credentials=False)

    assert main([*ARGS, "--profile", "2sigma"]) == 2

    assert capsys.readouterr().err == (
        "obs-doctor: cannot check AiTutorStaging: the AWS profile '2sigma' is not configured (~/.aws/config)\n"
    )


def test_no_region_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    isolate_from_real_aws(monkeypatch, tmp_path, credentials=True)

    assert main(["--stack", "AiTutorStaging"]) == 2

    assert capsys.readouterr().err == (
        "obs-doctor: cannot check AiTutorStaging: no AWS region: pass --region (or set AWS_REGION, or a region in "
        "the profile)\n"
    )


def test_an_unknown_region_is_named_before_any_call_to_aws(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import botocore

    from constructs_obs.doctor import runner

    isolate_from_real_aws(monkeypatch, tmp_path, credentials=True)

    def no_call(*_: object, **__: object) -> None:
        raise AssertionError("the doctor called AWS in a region that does not exist")

    monkeypatch.setattr(runner, "load_stack", no_call)

    assert main(["--stack", "ShopProd", "--region", "eu-wset-1", "--stack", "Other@mars-north-1"]) == 2

    assert capsys.readouterr().err.splitlines() == [
        "obs-doctor: cannot check ShopProd: unknown AWS region 'eu-wset-1' (did you mean eu-west-1?): no "
        f"partition botocore {botocore.__version__} knows has it; check --region (or NAME@REGION), or upgrade "
        "boto3 if the region is new",
        "obs-doctor: cannot check Other: unknown AWS region 'mars-north-1': no partition botocore "
        f"{botocore.__version__} knows has it; check --region (or NAME@REGION), or upgrade boto3 if the region "
        "is new",
    ]


def test_regions_of_every_partition_are_known() -> None:
    import boto3

    from constructs_obs.doctor.regions import known_regions

    # From botocore's endpoint data: the commercial, China and GovCloud partitions among them.
    assert {"us-east-2", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"} <= known_regions(
        boto3.Session()
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            ClientError(
                {"Error": {"Code": "ExpiredToken", "Message": "The security token is expired"}},
                "DescribeStacks",
            ),
            "the AWS credentials have expired, refresh them (ExpiredToken: The security token is expired)",
        ),
        (
            ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no cloudformation:DescribeStacks"}},
                "DescribeStacks",
            ),
            "not allowed to read the stack (AccessDenied: no cloudformation:DescribeStacks)",
        ),
        (
            EndpointConnectionError(endpoint_url="https://cloudformation.us-east-2.amazonaws.com/"),
            'cannot reach AWS: Could not connect to the endpoint URL: "https://cloudformation.us-east-2.amazonaws.com/"',
        ),
        (ValueError("boom\nsecond line"), "unexpected error (ValueError: boom second line)"),
        (KeyboardInterrupt(), "interrupted"),
    ],
    ids=["expired", "denied", "offline", "bug", "ctrl-c"],
)
def test_every_way_of_not_running_is_one_line(
    error: BaseException,
    reason: str,
    aws: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fail(*_: object, **__: object) -> None:
        raise error

    monkeypatch.setattr("constructs_obs.doctor.runner.Doctor", fail)

    assert main(ARGS) == 2

    out, err = capsys.readouterr()
    assert (out, err) == ("", f"obs-doctor: cannot check AiTutorStaging: {reason}\n")


def test_without_boto3_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # boto3 is the doctor extra; tests/test_packaging.py runs the installed command in a virtualenv without it.
    monkeypatch.setitem(sys.modules, "boto3", None)

    assert main([*ARGS, "--json"]) == 2

    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "obs-doctor needs boto3 (import of boto3 halted; None in sys.modules): "
        'pip install "constructs-obs[doctor]"\n',
    )


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*ARGS, "--recent-minutes", "0"])
    assert exit_.value.code == 2
    assert "--recent-minutes: must be a positive number of minutes, got 0" in capsys.readouterr().err


def _clean_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).parent / "obs-doctor")],
        [sys.executable, "-m", "constructs_obs.doctor"],
    ],
    ids=["console-script", "python-m"],
)
def test_installed_command_without_credentials(command: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [*command, *ARGS],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "obs-doctor: cannot check AiTutorStaging: no AWS credentials found: configure them (aws configure, "
        "aws sso login, AWS_PROFILE) or pass --profile"
    ]


def test_the_command_does_not_load_the_cdk(tmp_path: Path) -> None:
    # The command needs boto3 only: importing it must not start aws-cdk-lib's Node.js runtime.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, constructs_obs.doctor.cli; print('aws_cdk' in sys.modules, 'jsii' in sys.modules)",
        ],
        cwd=ROOT,
        env=_clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"]
    # ... while the constructs stay importable from the package as before.
    import constructs_obs

    assert constructs_obs.BasicAlarms.__name__ == "BasicAlarms"
    with pytest.raises(AttributeError, match="module 'constructs_obs' has no attribute 'Nope'"):
        _ = constructs_obs.Nope  # type: ignore[attr-defined]


def test_verbose_table_layout() -> None:
    report = Report(
        stack_name="S",
        region="us-east-2",
        checked_at=datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc),
        results=(
            CheckResult("stack", Status.PASS, "S", "UPDATE_COMPLETE"),
            CheckResult(
                "log-group",
                Status.FAIL,
                "/app/api",
                "does not exist",
                "Recreate it: aws logs create-log-group --log-group-name /app/api --region us-east-2, then "
                "aws logs put-retention-policy --log-group-name /app/api --retention-in-days 30",
            ),
            CheckResult("alarm-state", Status.WARN, "app-cpu-high", "ALARM"),
        ),
    )

    assert render(report, verbose=True, width=80) == "\n".join(
        [
            "obs-doctor: stack S in us-east-2, 2026-11-27 10:00 UTC",
            "",
            "PASS     stack and delivery: UPDATE_COMPLETE",
            "FAIL     logs: 0 of 1 log group in place; failing",
            "WARN     alarms: 0 of 1 alarm OK; warning",
            "",
            "STATUS  CHECK        RESOURCE      DETAIL",
            "PASS    stack        S             UPDATE_COMPLETE",
            "FAIL    log-group    /app/api      does not exist",
            "        next: Recreate it: aws logs create-log-group --log-group-name /app/api",
            "              --region us-east-2, then aws logs put-retention-policy",
            "              --log-group-name /app/api --retention-in-days 30",
            "WARN    alarm-state  app-cpu-high  ALARM",
            "",
            "3 checks: 1 pass, 1 warn, 1 fail; exit code 1",
        ]
    )
    assert (report.status, report.exit_code) == (Status.FAIL, 1)
