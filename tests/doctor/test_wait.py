"""``--wait DURATION``, the post-deploy gate: the pending checks again, a round at most every 30 s, until none is
left or the time is up. Each test deploys the staging stack into moto as ``cdk deploy`` just left it (nothing from
the host yet) and runs the command with an injected clock: time moves only when the doctor sleeps, and the host's
data arrives during a sleep, as it would on AWS. Nothing is slept for real.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from constructs_obs.doctor import CheckResult, DoctorOptions, Report, Status
from constructs_obs.doctor.cli import main
from constructs_obs.doctor.report import Wait
from constructs_obs.doctor.runner import Doctor
from constructs_obs.doctor.wait import parse_duration, settle
from tests.doctor.deployment import Deployment, make_healthy
from tests.doctor.helpers import MOTO_CFN_WARNINGS, count_calls, summary_of

pytestmark = pytest.mark.filterwarnings(MOTO_CFN_WARNINGS)

ARGS = ["--stack", "AiTutorStaging", "--region", "us-east-2"]


class FakeClock:
    """The clock and the sleep the command waits with: each sleep moves the clock, then runs ``on_sleep(n)``."""

    def __init__(self, start: datetime, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        self.on_sleep(len(self.sleeps))


def just_deployed(deploy_staging: Callable[..., Deployment]) -> tuple[Deployment, datetime]:
    """The staging stack as ``cdk deploy`` just left it (a confirmed subscriber), and its instance's launch."""
    deployment = deploy_staging(healthy=False, age=timedelta(0))
    deployment.client("sns").subscribe(
        TopicArn=deployment.topic_arn, Protocol="email", Endpoint="ops@example.com"
    )
    [host] = deployment.hosts()
    [instance] = deployment.client("ec2").describe_instances(InstanceIds=[host.instance_id])["Reservations"][
        0
    ]["Instances"]
    return deployment, instance["LaunchTime"]


def progress(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("obs-doctor: round ")]


def test_wait_exits_0_once_the_data_arrives(
    deploy_staging: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, launched = just_deployed(deploy_staging)
    [host] = deployment.hosts()

    def arrive(sleeps: int) -> None:
        if sleeps == 1:  # the docker-events service's start line first
            deployment.put_start_line(host)
        if (
            sleeps == 3
        ):  # then the agent's datapoints, the scrape, the containers' logs, the alarms' evaluation
            make_healthy(deployment, emails=())

    clock = FakeClock(launched + timedelta(minutes=1), arrive)

    assert main([*ARGS, "--wait", "15m"], clock=clock, sleep=clock.sleep) == 0

    out, err = capsys.readouterr()
    assert clock.sleeps == [30.0, 30.0, 30.0]
    lines = progress(err)
    assert len(lines) == 4, err
    assert lines[0].startswith("obs-doctor: round 1 (")
    assert "): 15 pending (" in lines[0]
    assert lines[0].endswith(
        f"; next round {(clock.now - timedelta(seconds=60)).strftime('%H:%M:%S UTC')}, until "
        f"{(launched + timedelta(minutes=16)).strftime('%H:%M:%S UTC')}"
    )
    # The start line arrived: the docker-events row passes, and so does the crash filter's format row (its group
    # has a line to test now).
    assert "): 13 pending (" in lines[1]
    assert "docker-events" not in lines[1]
    assert lines[3].endswith(": nothing pending")
    assert {status for status, _ in summary_of(out).values()} == {"PASS"}
    assert out.splitlines()[-1] == "47 checks: 47 pass; exit code 0 (--verbose: every row)"


def test_wait_exits_1_at_the_deadline_when_the_data_never_comes(
    deploy_staging: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    deployment, launched = just_deployed(deploy_staging)
    [host] = deployment.hosts()
    deployment.put_start_line(host)  # docker-events runs; the agent never reports, no container ever logs
    clock = FakeClock(launched + timedelta(minutes=1))

    assert main([*ARGS, "--wait", "2m", "--format", "junit"], clock=clock, sleep=clock.sleep) == 1

    out, err = capsys.readouterr()
    # Rounds 30 s apart, the last at the deadline; the next would start after it.
    assert clock.sleeps == [30.0, 30.0, 30.0, 30.0]
    lines = progress(err)
    assert len(lines) == 5
    assert lines[-1].endswith(
        f" at the deadline {(launched + timedelta(minutes=3)).strftime('%H:%M:%S UTC')}"
    )
    # In CI's test view, what is still pending after the wait is a failure, as the exit code says.
    [suite] = ET.fromstring(out).findall("testsuite")  # noqa: S314 (the doctor's own output)
    failures = [c.find("failure") for c in suite.findall("testcase") if c.find("failure") is not None]
    assert {f.get("type") for f in failures} == {"pending at the deadline"}  # type: ignore[union-attr]
    assert len(failures) == int(suite.get("failures", "")) == 13
    assert suite.findall("testcase")[0].find("failure") is None
    assert {p.get("name"): p.get("value") for p in suite.iter("property")}["exit_code"] == "1"


def test_a_failed_check_ends_the_wait(
    deploy_staging: Callable[..., Deployment], capsys: pytest.CaptureFixture[str]
) -> None:
    # No start line: the docker-events row fails once its window is over, and failed rows are not checked again,
    # so the verdict is 1 whatever the others become.
    _, launched = just_deployed(deploy_staging)
    clock = FakeClock(launched + timedelta(minutes=1))

    assert main([*ARGS, "--wait", "15m"], clock=clock, sleep=clock.sleep) == 1

    out, err = capsys.readouterr()
    assert clock.sleeps == [30.0]
    assert progress(err)[-1].endswith("and a check failed: the verdict cannot change, not waiting")
    assert summary_of(out)["docker-events"][0] == "FAIL"


def test_a_round_checks_only_the_pending_rows_with_no_more_calls_than_a_plain_run(
    deploy_staging: Callable[..., Deployment],
) -> None:
    deployment, launched = just_deployed(deploy_staging)
    [host] = deployment.hosts()
    doctor = Doctor(deployment.session, deployment.stack_name, options=DoctorOptions())
    calls = count_calls(deployment.session)
    first = doctor.check(launched + timedelta(minutes=1))
    plain = list(calls)

    calls.clear()
    deployment.put_start_line(host)
    deployment.put_agent_metrics(host)
    again = doctor.recheck(first, launched + timedelta(minutes=1, seconds=30))

    assert 0 < len(calls) < len(plain)
    # Only what the pending rows read: no stack, instance, role, topic or setup call again.
    assert {c.split(":")[0] for c in calls} == {"cloudwatch", "logs"}
    assert "cloudwatch:DescribeAlarmHistory" not in calls
    pending = {r.key for r in first.pending()}
    assert [r for r in again.results if r.key not in pending] == [
        r for r in first.results if r.key not in pending
    ]
    assert [r.key for r in again.results] == [r.key for r in first.results]
    now_passing = {r.check for r in again.results if r.key in pending and r.status is Status.PASS}
    # The start line is also the first line of the crash filter's group, whose format can now be tested.
    assert now_passing == {"docker-events", "agent-metrics", "log-format"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15m", timedelta(minutes=15)), ("90s", timedelta(seconds=90)), ("1h30m", timedelta(minutes=90)), ("2h", timedelta(hours=2))],
)  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "0m", "m", "15 minutes", "-5m", ""])
def test_a_bad_duration_is_a_usage_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*ARGS, f"--wait={text}"])
    assert exit_.value.code == 2
    assert "argument --wait: expected a duration" in capsys.readouterr().err


class SlowStack:
    """A stack whose pending row passes on its ``passes_on``-th check again; each check takes ``takes``."""

    def __init__(self, clock: FakeClock, passes_on: int, takes: timedelta) -> None:
        self.clock, self.passes_on, self.takes, self.checks = clock, passes_on, takes, 0

    def report(self, name: str, status: Status) -> Report:
        row = CheckResult(
            "agent-metrics", status, "i-1", status.value, expected_by=self.clock.now + timedelta(minutes=3)
        )
        return Report(name, "us-east-2", self.clock.now, (row,))

    def recheck(self, report: Report, now: datetime) -> Report:
        self.checks += 1
        self.clock.now += self.takes
        status = Status.PASS if self.checks >= self.passes_on else Status.PENDING
        return dataclasses.replace(self.report(report.stack_name, status), checked_at=now)


def test_several_stacks_share_the_rounds_and_a_slow_round_is_not_followed_by_a_sleep() -> None:
    clock = FakeClock(datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc))
    fast, slow = SlowStack(clock, 1, timedelta(seconds=1)), SlowStack(clock, 3, timedelta(seconds=45))
    runs = [(fast, fast.report("A", Status.PENDING)), (slow, slow.report("B", Status.PENDING))]
    lines: list[str] = []

    reports = settle(
        runs,  # type: ignore[arg-type]
        started=clock.now,
        deadline=clock.now + timedelta(minutes=15),
        clock=clock,
        sleep=clock.sleep,
        progress=lines.append,
    )

    # Round 1 at 10:00:00; round 2 30 s later; its checks took 46 s, so round 3 starts at once, and so does round
    # 4 after round 3's 45 s (no sleep: rounds start at least 30 s apart, not 30 s after the last one ended).
    assert clock.sleeps == [30.0, 0.0, 0.0]
    assert [r.status for r in reports] == [Status.PASS, Status.PASS]
    assert all(r.wait == Wait(datetime(2026, 11, 27, 10, 15, tzinfo=timezone.utc), 4) for r in reports)
    assert lines[0] == (
        "obs-doctor: round 1 (10:00:00 UTC): 2 pending (A: agent-metrics 1; B: agent-metrics 1); next round "
        "10:00:30 UTC, until 10:15:00 UTC"
    )
    assert lines[1].startswith(
        "obs-doctor: round 2 (10:00:30 UTC): 1 pending (B: agent-metrics 1); next round 10:01:16"
    )
    assert lines[-1] == "obs-doctor: round 4 (10:02:01 UTC): nothing pending"
    assert fast.checks == 1  # a stack with nothing pending is not checked again
