"""``obs-doctor``: check that deployed constructs_obs stacks actually observe their hosts and alert.

Exit codes:

- 0: every check passed; rows still waiting for their data (``PENDING``) and warnings allowed.
- 1: a check failed; with ``--wait``, also a check still pending at the deadline.
- 2: the doctor cannot run (boto3 not installed, no credentials, no region, no such stack, AWS unreachable); it
  prints one line per stack it could not check, never a traceback.
- 3: nothing failed, but something could not be checked (``UNKNOWN``: the doctor's own access, an AWS error).

With several ``--stack``, the worst of them: 2, else 1, else 3, else 0.

boto3 comes with the package's ``doctor`` extra (``pip install "constructs-obs[doctor]"``), not with the
constructs: this module imports it, and the checks that need it, only once :func:`main` has found it installed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs_obs.doctor.report import Report
    from constructs_obs.doctor.runner import Doctor

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


def _duration(value: str) -> timedelta:
    from constructs_obs.doctor.wait import parse_duration

    try:
        return parse_duration(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def missing_boto3() -> str | None:
    """Why boto3 cannot be used, with how to install it, in one line; ``None`` when it imports."""
    try:
        importlib.import_module("boto3")
        importlib.import_module("botocore.exceptions")
    except ImportError as error:
        return f"obs-doctor needs boto3 ({error}): {INSTALL_DOCTOR}"
    return None


def parse_stack(value: str, default_region: str | None) -> tuple[str, str | None]:
    """``NAME``, ``NAME@REGION`` or a stack ARN -> (name or ARN, region)."""
    if value.startswith("arn:"):
        parts = value.split(":")
        return value, (parts[3] if len(parts) > 3 and parts[3] else default_region)
    name, sep, region = value.partition("@")
    return name, (region if sep and region else default_region)


def build_parser() -> argparse.ArgumentParser:
    """The command line (needs boto3: see :func:`missing_boto3`)."""
    from constructs_obs.doctor.facts import DEFAULT_RECENT_MINUTES

    parser = argparse.ArgumentParser(
        prog="obs-doctor",
        description="Check that a deployed constructs_obs stack actually works and that its alerts would arrive: "
        "instances, roles and setup, log groups and their format, the agent's metrics, docker-events, alarms, "
        "who may publish to their topics, and their email subscriptions. It only reads.",
        epilog="Exit codes: 0 every check passed (pending rows and warnings allowed), 1 a check failed (with "
        "--wait: or is still pending at the deadline), 2 the checks could not run, 3 nothing failed but something "
        "could not be checked.",
    )
    parser.add_argument(
        "--stack",
        required=True,
        action="append",
        metavar="NAME[@REGION]",
        help="a CloudFormation stack name, e.g. ShopProd; repeat it to check several stacks; NAME@REGION "
        "(or the stack's ARN) for a stack in another region than --region",
    )
    parser.add_argument("--region", help="the stack's region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="an AWS CLI profile (default: the standard credential chain)")
    parser.add_argument(
        "--format",
        choices=("table", "json", "junit"),
        help="table (default): a summary, then the problems; json: a JSON document; junit: JUnit XML, one test "
        "case per check",
    )
    parser.add_argument("--json", action="store_true", help="the same as --format json")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="with the table: every check's row, grouped by host"
    )
    parser.add_argument(
        "--wait",
        type=_duration,
        metavar="DURATION",
        help="after a deploy: check again what is still pending (data not there yet), at most every 30 s, until "
        "nothing is pending or DURATION (e.g. 15m) is up; then a check still pending fails (exit code 1)",
    )
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
        help="also check, on each host, each container's Docker log driver and that systemd runs docker-events, "
        "with a read-only systemctl is-active and docker inspect run through SSM Run Command (ssm:SendCommand)",
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

    from constructs_obs.doctor.facts import error_text
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


def _format(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    if args.json and args.format not in (None, "json"):
        parser.error(f"--json is --format json: it cannot go with --format {args.format}")
    return "json" if args.json else args.format or "table"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Callable[[], datetime] = _now,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Run the doctor; return the exit code (2, with one line on stderr, when boto3 is not installed).

    ``clock`` and ``sleep`` are what ``--wait`` measures and waits with (the tests pass their own).
    """
    missing = missing_boto3()
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    import boto3

    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["preflight"]:
        return preflight_main(arguments[1:], sleep=sleep)

    from constructs_obs.doctor import runner
    from constructs_obs.doctor.facts import DoctorOptions
    from constructs_obs.doctor.report import combined_exit_code
    from constructs_obs.doctor.wait import settle

    parser = build_parser()
    args = parser.parse_args(argv)
    output_format = _format(args, parser)
    options = DoctorOptions(recent_minutes=args.recent_minutes, deep=args.deep)
    started = clock()
    results: list[Report | CannotRun] = []
    runs: list[tuple[Doctor, Report]] = []
    session: boto3.Session | None = None
    for value in args.stack:
        stack, region = parse_stack(value, args.region)
        try:
            session = session or boto3.Session(profile_name=args.profile, region_name=args.region)
            region = region or session.region_name
            doctor = runner.Doctor(session, stack, options=options, region=region, sleep=sleep)
            runs.append((doctor, doctor.check(clock())))
            results.append(runs[-1][1])
        # Every way of not running is one line and exit code 2 for that stack; the other stacks are still checked.
        except (Exception, KeyboardInterrupt) as error:
            reason = cannot_run_reason(error, stack, region, args.profile)
            print(f"obs-doctor: cannot check {stack}: {reason}", file=sys.stderr)
            results.append(CannotRun(stack, region, reason))
            if isinstance(error, KeyboardInterrupt):
                break
    if args.wait is not None and runs:
        settled = iter(
            settle(
                runs,
                started=started,
                deadline=started + args.wait,
                clock=clock,
                sleep=sleep,
                progress=lambda line: print(line, file=sys.stderr, flush=True),
            )
        )
        results = [r if isinstance(r, CannotRun) else next(settled) for r in results]
    code = combined_exit_code([2 if isinstance(r, CannotRun) else r.exit_code for r in results])
    output = _render(output_format, results, code, verbose=args.verbose, several=len(args.stack) > 1)
    if output is not None:
        with contextlib.suppress(BrokenPipeError):  # e.g. piped into head
            print(output)
    return code


def build_preflight_parser() -> argparse.ArgumentParser:
    """``obs-doctor preflight``'s command line."""
    parser = argparse.ArgumentParser(
        prog="obs-doctor preflight",
        description="Before any deploy, check that the library can attach to a running instance "
        "(HostObservability): Amazon Linux 2023, registered and online in Systems Manager, a role that lets the SSM "
        "agent receive the setup, the instance metadata service. It only reads (--deep: one read-only command on "
        "the host).",
        epilog="Exit codes: 0 every requirement met (warnings allowed), 1 one is not, 2 the preflight could not run, "
        "3 something could not be checked.",
    )
    parser.add_argument(
        "--instance", required=True, metavar="INSTANCE_ID", help="the instance, e.g. i-0123..."
    )
    parser.add_argument("--region", help="its region (default: the profile's or AWS_REGION)")
    parser.add_argument("--profile", help="an AWS CLI profile (default: the standard credential chain)")
    parser.add_argument(
        "--deep",
        action="store_true",
        help="also read the host's free memory (/proc/meminfo) through SSM Run Command (ssm:SendCommand): the "
        "setup's dnf install needs some",
    )
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json"
    )
    return parser


def preflight_main(argv: Sequence[str], *, sleep: Callable[[float], None] = time.sleep) -> int:
    """``obs-doctor preflight``: print the requirements of one instance and return the exit code."""
    import boto3

    from constructs_obs.doctor.preflight import run_preflight
    from constructs_obs.doctor.report import Report, Status

    args = build_preflight_parser().parse_args(list(argv))
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        region = args.region or session.region_name
        if not region:
            from botocore.exceptions import NoRegionError

            raise NoRegionError()
        found = run_preflight(session, args.instance, region=region, deep=args.deep, sleep=sleep)
    except (Exception, KeyboardInterrupt) as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
        reason = (
            f"no instance {args.instance} in {args.region or 'the region'} (check --region and --profile)"
            if code in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed")
            else cannot_run_reason(error, args.instance, args.region, args.profile)
        )
        print(f"obs-doctor preflight: cannot check {args.instance}: {reason}", file=sys.stderr)
        return 2
    report = Report(f"preflight {found.instance_id}", found.region, _now(), found.results)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "instance": found.instance_id,
                    "region": found.region,
                    "status": report.status.value,
                    "exit_code": report.exit_code,
                    "checks": [r.as_dict() for r in found.results],
                },
                indent=2,
            )
        )
        return report.exit_code
    lines = [f"obs-doctor preflight {found.instance_id} ({found.region}): {report.status.value.upper()}"]
    for row in found.results:
        lines.append(f"  {row.status.value.upper():<8}{row.check:<18}{row.resource}: {row.detail}")
        if row.next_step and row.status is not Status.PASS:
            lines.append(f"  {'':<8}{'':<18}next: {row.next_step}")
    print("\n".join(lines))
    return report.exit_code


@dataclass(frozen=True)
class CannotRun:
    """A stack the doctor could not check, and why (exit code 2)."""

    stack: str
    region: str | None
    reason: str


def _render(
    output_format: str, results: Sequence[Report | CannotRun], code: int, *, verbose: bool, several: bool
) -> str | None:
    """What to print on stdout: None for a table with no stack checked (the reasons are on stderr)."""
    from constructs_obs.doctor import junit, text
    from constructs_obs.doctor.report import combined_document, error_document

    if output_format == "junit":
        return junit.document([(r.stack, r.reason) if isinstance(r, CannotRun) else r for r in results])
    if output_format == "json":
        documents = [
            error_document(r.stack, r.region, r.reason) if isinstance(r, CannotRun) else r.to_json()
            for r in results
        ]
        return json.dumps(
            documents[0] if len(documents) == 1 else combined_document(documents, code), indent=2
        )
    tables = [text.render(r, verbose=verbose) for r in results if not isinstance(r, CannotRun)]
    if not tables:
        return None
    return "\n\n".join(tables) + (f"\n\n{len(results)} stacks: exit code {code}" if several else "")
