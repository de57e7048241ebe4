"""``obs-doctor``: check that a deployed constructs_obs stack actually observes its host.

Exit codes: 0 when every check passes (warnings allowed), 1 when any check fails, 2 when the doctor cannot run
(boto3 not installed, no credentials, no region, no such stack, AWS unreachable); then it prints one line, never a
traceback.

boto3 comes with the package's ``doctor`` extra (``pip install "constructs-obs[doctor]"``), not with the
constructs: this module imports it, and the checks that need it, only once :func:`main` has found it installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
from collections.abc import Sequence

#: How to get what the doctor needs besides the constructs: the package's ``doctor`` extra.
INSTALL_DOCTOR = 'pip install "constructs-obs[doctor]"'

EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
REJECTED = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "AuthFailure"}
)


def _minutes(value: str) -> int:
    try:
        minutes = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of minutes, got {value!r}") from None
    if minutes <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of minutes, got {minutes}")
    return minutes


def missing_boto3() -> str | None:
    """Why boto3 cannot be used, with how to install it, in one line; ``None`` when it imports."""
    try:
        importlib.import_module("boto3")
        importlib.import_module("botocore.exceptions")
    except ImportError as error:
        return f"obs-doctor needs boto3 ({error}): {INSTALL_DOCTOR}"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The command line (needs boto3: see :func:`missing_boto3`)."""
    from constructs_obs.doctor.checks import DEFAULT_RECENT_MINUTES

    parser = argparse.ArgumentParser(
        prog="obs-doctor",
        description="Check that a deployed constructs_obs stack actually works: instance and its IAM role, "
        "container log groups, alarms and their email subscriptions. It only reads.",
        epilog="Exit codes: 0 all checks pass (warnings allowed), 1 a check failed, 2 the checks could not run.",
    )
    parser.add_argument("--stack", required=True, help="the CloudFormation stack name, e.g. AiTutorStaging")
    parser.add_argument("--region", help="the stack's region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="an AWS CLI profile (default: the standard credential chain)")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    parser.add_argument(
        "--recent-minutes",
        type=_minutes,
        default=DEFAULT_RECENT_MINUTES,
        metavar="N",
        help=f"every log group must have received an event in the last N minutes (default {DEFAULT_RECENT_MINUTES})",
    )
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also check each container's Docker log driver on the host, with a read-only docker inspect run "
        "through SSM Run Command (ssm:SendCommand)",
    )
    return parser


def cannot_run_reason(error: BaseException, stack: str, region: str | None, profile: str | None) -> str:
    """Why the doctor could not run, in one line (needs boto3: see :func:`missing_boto3`)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    from constructs_obs.doctor.checks import error_text
    from constructs_obs.doctor.stack import StackNotFoundError

    if isinstance(error, StackNotFoundError):
        reason = f"no stack named {stack} in {region} (check --region and --profile)"
    elif isinstance(error, ProfileNotFound):
        reason = f"the AWS profile {profile!r} is not configured (~/.aws/config)"
    elif isinstance(error, NoRegionError):
        reason = "no AWS region: pass --region (or set AWS_REGION, or a region in the profile)"
    elif isinstance(error, NoCredentialsError):
        reason = (
            "no AWS credentials found: configure them (aws configure, aws sso login, AWS_PROFILE) "
            "or pass --profile"
        )
    elif isinstance(error, (PartialCredentialsError, CredentialRetrievalError)):
        reason = f"the AWS credentials cannot be used: {error}"
    elif isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        reason = f"cannot reach AWS: {error}"
    elif isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in EXPIRED:
            reason = f"the AWS credentials have expired, refresh them ({error_text(error)})"
        elif code in REJECTED:
            reason = f"AWS rejected the credentials ({error_text(error)})"
        elif "AccessDenied" in code or code == "UnauthorizedOperation":
            reason = f"not allowed to read the stack ({error_text(error)})"
        else:
            reason = f"AWS error ({error_text(error)})"
    elif isinstance(error, BotoCoreError):
        reason = str(error)
    elif isinstance(error, KeyboardInterrupt):
        reason = "interrupted"
    else:
        reason = f"unexpected error ({type(error).__name__}: {error})"
    return " ".join(reason.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the doctor; return the exit code (2, with one line on stderr, when boto3 is not installed)."""
    missing = missing_boto3()
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    import boto3

    from constructs_obs.doctor.checks import DoctorOptions, run_doctor
    from constructs_obs.doctor.report import error_document

    args = build_parser().parse_args(argv)
    region: str | None = args.region
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        region = session.region_name
        report = run_doctor(
            session, args.stack, options=DoctorOptions(recent_minutes=args.recent_minutes, deep=args.deep)
        )
        output = json.dumps(report.to_json(), indent=2) if args.json else report.render_table()
    except (Exception, KeyboardInterrupt) as error:  # every way of not running is one line and exit code 2
        reason = cannot_run_reason(error, args.stack, region, args.profile)
        print(f"obs-doctor: cannot check {args.stack}: {reason}", file=sys.stderr)
        if args.json:
            print(json.dumps(error_document(args.stack, region, reason), indent=2))
        return 2
    with contextlib.suppress(BrokenPipeError):  # e.g. piped into head
        print(output)
    return report.exit_code
