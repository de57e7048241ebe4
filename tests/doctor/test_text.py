"""How a report reads, for people and for CI, on reports written out here (no AWS): the summary counts rows that
repeat across instances and hosts, problems that differ only in their resource are one entry, JUnit XML has one
case per row, and the exit code follows the statuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest

from constructs_obs.doctor import CheckResult, Report, Status
from constructs_obs.doctor.junit import document
from constructs_obs.doctor.report import Wait, combined_exit_code
from constructs_obs.doctor.text import render
from tests.doctor.helpers import summary_of

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)
INSTANCES = [f"i-0{n}a1b2c3d4e5f6a7b" for n in range(6)]


def fleet(*rows: CheckResult) -> Report:
    """A report on one fleet host of six instances: each instance's agent row, then ``rows``."""
    agent = [
        CheckResult("agent-metrics", Status.PASS, i, "mem_used_percent and disk_used_percent have datapoints", host="Shop/Fleet")
        for i in INSTANCES[1:]
    ]  # fmt: skip
    silent = CheckResult(
        "agent-metrics",
        Status.FAIL,
        INSTANCES[0],
        f"the CloudWatch agent on {INSTANCES[0]} is not reporting",
        f"On the host (aws ssm start-session --target {INSTANCES[0]}): sudo systemctl status amazon-cloudwatch-agent",
        host="Shop/Fleet",
    )
    return Report(
        "Shop",
        "eu-west-1",
        NOW,
        (CheckResult("stack", Status.PASS, "Shop", "UPDATE_COMPLETE"), silent, *agent, *rows),
    )


def test_rows_that_repeat_across_instances_are_counted_and_the_exception_named() -> None:
    summary = summary_of(render(fleet(), width=120))

    assert summary["agent"] == ("FAIL", f"5 of 6 instances reporting; failing: {INSTANCES[0]}")


def test_problems_that_differ_only_in_their_resource_are_one_entry() -> None:
    def unset(instance: str) -> CheckResult:
        return CheckResult(
            "setup",
            Status.FAIL,
            instance,
            f"the setup association a-1 has not run on {instance}",
            f"Check {instance} is Online in Fleet Manager",
            host="Shop/Fleet",
        )

    out = render(fleet(unset(INSTANCES[2]), unset(INSTANCES[3])), width=200)

    problems = out.split("\n\n")[2].splitlines()
    assert problems == [
        f"FAIL     agent-metrics {INSTANCES[0]}: the CloudWatch agent on {INSTANCES[0]} is not reporting",
        f"         next: On the host (aws ssm start-session --target {INSTANCES[0]}): sudo systemctl status "
        "amazon-cloudwatch-agent",
        f"FAIL     setup {INSTANCES[2]} and {INSTANCES[3]}: the setup association a-1 has not run on {INSTANCES[2]}",
        f"         next: (for {INSTANCES[2]}; the same for the others) Check {INSTANCES[2]} is Online in Fleet Manager",
    ]
    # Every instance's setup failed: the count says which, no names.
    assert summary_of(out)["setup"] == ("FAIL", "0 of 2 instances set up; failing")


def test_a_resource_on_several_hosts_is_named_with_its_host() -> None:
    rows = tuple(
        CheckResult("prometheus-metrics", status, "job backend", "…", host=host)
        for host, status in (("Two/Web", Status.PASS), ("Two/Worker", Status.WARN))
    )
    report = Report("Two", "us-east-2", NOW, rows)

    assert summary_of(render(report, width=120))["prometheus"] == (
        "WARN",
        "1 of 2 scrape jobs reaching CloudWatch; warning: job backend on Two/Worker",
    )


def _statuses(*statuses: Status, waited: bool = False) -> Report:
    rows = tuple(
        CheckResult("agent-metrics", s, f"i-{n}", s.value, expected_by=NOW + timedelta(minutes=4) if s is Status.PENDING else None)
        for n, s in enumerate(statuses)
    )  # fmt: skip
    return Report("S", "us-east-2", NOW, rows, wait=Wait(NOW + timedelta(minutes=15), 3) if waited else None)


@pytest.mark.parametrize(
    ("statuses", "waited", "code"),
    [
        ((Status.PASS, Status.PENDING, Status.WARN), False, 0),  # pending never fails a plain run
        ((Status.PASS, Status.PENDING), True, 1),  # ... but does at the end of --wait
        ((Status.PASS, Status.UNKNOWN), False, 3),  # something could not be checked, nothing failed
        ((Status.PENDING, Status.UNKNOWN), True, 1),
        ((Status.FAIL, Status.UNKNOWN), False, 1),  # a finding beats a blind spot
        ((Status.PASS,), True, 0),
    ],
)
def test_exit_codes(statuses: tuple[Status, ...], waited: bool, code: int) -> None:
    assert _statuses(*statuses, waited=waited).exit_code == code


def test_several_stacks_exit_with_the_worst() -> None:
    assert combined_exit_code([0, 3, 1]) == 1
    assert combined_exit_code([0, 3]) == 3
    assert combined_exit_code([1, 2, 3]) == 2
    assert combined_exit_code([0, 0]) == 0


def test_junit_marks_each_status() -> None:
    report = _statuses(Status.PASS, Status.PENDING, Status.WARN, Status.FAIL, Status.UNKNOWN)

    root = ET.fromstring(document([report, ("Gone", "no stack named Gone in us-east-2")]))  # noqa: S314 (our own)

    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "testsuites", "6", "1", "1", "2",
    )  # fmt: skip
    suite, gone = root.findall("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == [f"agent-metrics i-{n}" for n in range(5)]
    assert [child.tag for child in cases["agent-metrics i-0"]] == []
    assert cases["agent-metrics i-1"].find("skipped").get("message") == "pending: pending"  # type: ignore[union-attr]
    assert cases["agent-metrics i-2"].find("system-out").text == "warn: warn"  # type: ignore[union-attr]
    assert cases["agent-metrics i-3"].find("failure").get("type") == "fail"  # type: ignore[union-attr]
    assert cases["agent-metrics i-4"].find("skipped").get("message") == "unknown: unknown"  # type: ignore[union-attr]
    [error] = gone.iter("error")
    assert error.get("message") == "no stack named Gone in us-east-2"


def test_the_json_document_of_a_wait() -> None:
    document = _statuses(Status.PASS, Status.PENDING, waited=True).to_json()

    assert document["wait"] == {"deadline": "2026-11-27T10:15:00+00:00", "rounds": 3}
    assert (document["status"], document["exit_code"]) == ("pending", 1)
    assert [c["expected_by"] for c in document["checks"]] == [None, "2026-11-27T10:04:00+00:00"]


def test_a_check_of_no_known_area_still_has_its_line() -> None:
    report = Report("S", "us-east-2", NOW, (CheckResult("something-new", Status.PASS, "S", "fine"),))

    assert summary_of(render(report, width=100)) == {"other": ("PASS", "1 check passed")}
