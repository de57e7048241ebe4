"""Pending is not failing: the staging stack checked right after ``cdk deploy`` finished, before any data arrived.

One deployment, shared by this module's tests (each reads it at a time of its own, injected, never slept): the
stack just created (moto's clock), its instance just launched, its setup association run, its alarms new (in
INSUFFICIENT_DATA, as AWS creates them), a confirmed email subscriber, and nothing from the host yet: no agent
datapoint, no docker-events start line, no container log, no scraped metric.

Each window is written out here from its documented parts (constructs_obs.doctor.windows cites each source):
the agent's 60 s collection and 60 s flush plus CloudWatch's 2 minutes for a new metric; the agent's 5 s log
flush plus the doctor's 1-minute margin; the job's 120 s scrape interval (its metadata) plus the log flush and the
2 minutes; 60 minutes (--recent-minutes) for the first container logs; the seed's 15 minutes for a new alarm.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from constructs_obs.doctor import Status
from constructs_obs.doctor.cli import main
from stacks.staging import STACK_NAME
from tests.doctor.conftest import moto_session
from tests.doctor.deployment import Deployment, deploy
from tests.doctor.helpers import MOTO_CFN_WARNINGS, rows, summary_of
from tests.doctor.moto_gaps import GAPS

pytestmark = [pytest.mark.filterwarnings(MOTO_CFN_WARNINGS), pytest.mark.xdist_group("doctor-pending")]

ARGS = ["--stack", "AiTutorStaging", "--region", "us-east-2"]
CONTAINER_GROUPS = ["/ai-tutor/backend", "/ai-tutor/frontend", "/ai-tutor/nginx"]
INSTANCE_ALARMS = {
    "ai-tutor-staging-cpu-high",
    "ai-tutor-staging-status-check",
    "ai-tutor-staging-memory-high",
    "ai-tutor-staging-disk-high",
}
LOG_ALARMS = {
    "ai-tutor-staging-container-crash",
    "ai-tutor-staging-nginx-5xx",
    "ai-tutor-staging-backend-errors",
}


@pytest.fixture(scope="module")
def shared_fresh(shared_aws: object, assembly_dir: object) -> Deployment:
    deployment = deploy(shared_aws, assembly_dir, STACK_NAME, healthy=False, age=timedelta(0))  # type: ignore[arg-type]
    deployment.client("sns").subscribe(
        TopicArn=deployment.topic_arn, Protocol="email", Endpoint="ops@example.com"
    )
    return deployment


@pytest.fixture
def fresh(shared_fresh: Deployment) -> Deployment:
    return shared_fresh.with_session(moto_session(shared_fresh.region))


def moments(fresh: Deployment) -> dict[str, datetime]:
    """What the windows count from, as AWS (moto) reports it."""
    [host] = fresh.hosts()
    [instance] = fresh.client("ec2").describe_instances(InstanceIds=[host.instance_id])["Reservations"][0][
        "Instances"
    ]
    [stack] = fresh.client("cloudformation").describe_stacks(StackName=fresh.stack_name)["Stacks"]
    ssm = fresh.client("ssm")
    setup_id = GAPS.association_on(host.instance_id).association_id  # not the termination-protection one
    [setup] = [
        s
        for s in ssm.describe_instance_associations_status(InstanceId=host.instance_id)[
            "InstanceAssociationStatusInfos"
        ]
        if s["AssociationId"] == setup_id
    ]
    return {
        "launched": instance["LaunchTime"],
        "created": stack["CreationTime"],
        "setup": setup["ExecutionDate"],
        # The agent and the docker-events service start with the setup, after the launch.
        "start": max(instance["LaunchTime"], setup["ExecutionDate"]),
    }


def test_a_minute_after_launch_missing_data_is_pending(fresh: Deployment) -> None:
    at = moments(fresh)
    [host] = fresh.hosts()
    first_logs = max(at["launched"], at["created"]) + timedelta(minutes=60)

    report = fresh.doctor(now=at["launched"] + timedelta(minutes=1))

    expected = {
        ("agent-metrics", host.instance_id): at["start"] + timedelta(seconds=60 + 60 + 120),
        ("docker-events", host.instance_id): at["start"] + timedelta(seconds=5 + 60),
        ("prometheus-metrics", "job backend"): at["start"] + timedelta(seconds=120 + 5 + 120),
        **{("log-events", group): first_logs for group in CONTAINER_GROUPS},
        # The filters of the two groups whose lines have a format to test.
        ("log-format", "/ai-tutor/nginx"): first_logs,
        ("log-format", "/ai-tutor/docker-events"): first_logs,
        **{
            ("alarm-state", name): fresh.describe_alarm(name)["StateUpdatedTimestamp"] + timedelta(minutes=15)
            for name in INSTANCE_ALARMS | LOG_ALARMS
        },
    }
    assert {(r.check, r.resource): r.expected_by for r in report.pending()} == expected
    assert [r for r in report.results if r.status not in (Status.PASS, Status.PENDING)] == []
    assert report.exit_code == 0
    [agent] = rows(report, "agent-metrics")
    clock = at["setup"].strftime("%H:%M UTC")
    assert agent.detail == (
        f"no mem_used_percent or disk_used_percent in AiTutor/Staging yet; waiting since its setup ran {clock}; "
        f"expected by {expected[('agent-metrics', host.instance_id)].strftime('%H:%M UTC')}"
    )
    assert agent.next_step.startswith("Nothing to fix yet: run obs-doctor again after ")


@pytest.mark.parametrize(
    ("minutes", "failing", "warning", "still_pending"),
    [
        # The agent's, the start line's and the scrape's windows are over; the alarms' and the logs' are not.
        (5, {"agent-metrics", "docker-events"}, {"prometheus-metrics"}, {"alarm-state", "log-events", "log-format"}),
        # The alarms' window is over too: those on an instance's metrics fail, those on log patterns warn.
        (16, {"agent-metrics", "docker-events", "alarm-state"}, {"prometheus-metrics", "alarm-state"}, {"log-events", "log-format"}),
        # Every window is over: the same rows fail (or warn) as they always did.
        (61, {"agent-metrics", "docker-events", "alarm-state", "log-events"}, {"prometheus-metrics", "alarm-state", "log-format"}, set()),
    ],
)  # fmt: skip
def test_once_each_window_has_passed_the_same_rows_fail(
    fresh: Deployment, minutes: int, failing: set[str], warning: set[str], still_pending: set[str]
) -> None:
    at = moments(fresh)

    report = fresh.doctor(now=max(at["start"], at["created"]) + timedelta(minutes=minutes))

    assert {r.check for r in report.failures()} == failing
    assert {r.check for r in report.results if r.status is Status.WARN} == warning
    assert {r.check for r in report.pending()} == still_pending
    assert report.exit_code == 1
    if "alarm-state" in failing:
        assert {r.resource for r in rows(report, "alarm-state") if r.status is Status.FAIL} == INSTANCE_ALARMS
        assert {r.resource for r in rows(report, "alarm-state") if r.status is Status.WARN} == LOG_ALARMS
    if "log-events" in failing:
        [problem] = {r.detail for r in rows(report, "log-events")}
        assert problem == "CloudWatch Logs not appearing: nothing has ever arrived (no log stream)"


@pytest.mark.parametrize("columns", ["80", "100"])
def test_the_default_output_is_a_short_summary(
    fresh: Deployment, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, columns: str
) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    now = moments(fresh)["launched"] + timedelta(minutes=1)

    assert main(ARGS, clock=lambda: now) == 0

    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 25, out
    summary = summary_of(out)
    assert list(summary) == [
        "stack and delivery", "hosts", "logs", "alarms", "agent", "docker-events", "setup", "permissions",
        "prometheus",
    ]  # fmt: skip
    assert {area: status for area, (status, _) in summary.items() if status != "PASS"} == {
        "logs": "PENDING",
        "alarms": "PENDING",
        "agent": "PENDING",
        "docker-events": "PENDING",
        "prometheus": "PENDING",
    }
    assert summary["alarms"][1].startswith(
        "7 of 7 alarms notifying their topic, 4 of 4 on its instances, 0 of 7 OK"
    )
    assert "; pending until " in summary["alarms"][1]
    # The problems: only the pending rows, as one entry (the summary names them).
    at = moments(fresh)
    last = (max(at["launched"], at["created"]) + timedelta(minutes=60)).strftime("%H:%M UTC")
    problems = " ".join(" ".join(line.split()) for line in out.split("\n\n")[2].splitlines())
    assert problems == (
        f"PENDING 15 checks wait for data not there yet, the last expected by {last}: nothing to fix yet; run "
        "obs-doctor again then, or let it wait (--wait 15m)"
    )
    assert out.splitlines()[-1] == ("47 checks: 32 pass, 15 pending; exit code 0 (--verbose: every row)")


def test_verbose_lists_every_row(fresh: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    now = moments(fresh)["launched"] + timedelta(minutes=1)

    assert main([*ARGS, "--verbose"], clock=lambda: now) == 0

    lines = capsys.readouterr().out.splitlines()
    table = lines[
        next(i for i, line in enumerate(lines) if line.split() == ["STATUS", "CHECK", "RESOURCE", "DETAIL"]) :
    ]
    statuses = [line.split()[0] for line in table if line.split()[:1] in (["PASS"], ["PENDING"])]
    assert len(statuses) == len(fresh.doctor(now=now).results) == 47
    assert statuses.count("PENDING") == 15


def test_json_has_the_new_statuses_and_expected_by(
    fresh: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    now = moments(fresh)["launched"] + timedelta(minutes=1)

    assert main([*ARGS, "--format", "json"], clock=lambda: now) == 0

    document = json.loads(capsys.readouterr().out)
    assert (document["schema_version"], document["status"], document["exit_code"]) == (2, "pending", 0)
    assert document["summary"] == {"pass": 32, "pending": 15, "warn": 0, "fail": 0, "unknown": 0}
    pending = [c for c in document["checks"] if c["status"] == "pending"]
    assert all(datetime.fromisoformat(c["expected_by"]) > now for c in pending)
    assert {c["expected_by"] for c in document["checks"] if c["status"] == "pass"} == {None}


def test_junit_has_one_case_per_row(fresh: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    now = moments(fresh)["launched"] + timedelta(minutes=1)

    assert main([*ARGS, "--format", "junit"], clock=lambda: now) == 0

    root = ET.fromstring(capsys.readouterr().out)  # noqa: S314 (the doctor's own output)
    [suite] = root.findall("testsuite")
    cases = suite.findall("testcase")
    report = fresh.doctor(now=now)
    assert len(cases) == len(report.results) == int(suite.get("tests", "")) == int(root.get("tests", ""))
    assert len({(c.get("classname"), c.get("name")) for c in cases}) == len(cases)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == int(suite.get("skipped", "")) == 15
    assert {c.find("skipped").get("message", "").split(":")[0] for c in skipped} == {"pending"}  # type: ignore[union-attr]
    assert suite.get("failures") == "0" and not [c for c in cases if c.find("failure") is not None]
    assert {c.get("classname") for c in cases} == {
        "AiTutorStaging.stack",
        "AiTutorStaging.AiTutorStaging/Host",
    }
    assert {p.get("name"): p.get("value") for p in suite.iter("property")} == {
        "region": "us-east-2",
        "exit_code": "0",
    }
