"""Small helpers the doctor's tests share: report rows, recorded AWS calls, the runbook's IAM policy."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3

from constructs_obs.doctor import CheckResult, Report, Status
from tests.conftest import ROOT

#: The filter of moto's "not supported by CloudFormation" warnings (every deployment prints them).
MOTO_CFN_WARNINGS = "ignore:Tried to parse .* but it.s not supported by moto.s CloudFormation:UserWarning"


def problems(report: Report) -> list[CheckResult]:
    """Every row that did not pass."""
    return [r for r in report.results if r.status is not Status.PASS]


def rows(report: Report, check: str) -> list[CheckResult]:
    """The rows of one check."""
    return [r for r in report.results if r.check == check]


def describe(results: list[CheckResult]) -> str:
    return "\n".join(f"{r.status.value} {r.check} {r.resource}: {r.detail}" for r in results)


def only_problem(report: Report) -> CheckResult:
    """The one row that did not pass (the assertion lists them all otherwise)."""
    found = problems(report)
    assert len(found) == 1, describe(found)
    return found[0]


def summary_of(output: str) -> dict[str, tuple[str, str]]:
    """The summary of a table (the lines after the heading, up to the first empty line): area -> (status, text),
    with a line the terminal's width wrapped joined again."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("obs-doctor: stack ")) + 2
    end = lines.index("", start)
    found: dict[str, tuple[str, str]] = {}
    area = ""
    for line in lines[start:end]:
        if line[:1].strip():
            status, rest = line.split(maxsplit=1)
            area, text = rest.split(": ", 1)
            found[area] = (status, text)
        else:
            status, text = found[area]
            found[area] = (status, f"{text} {line.strip()}")
    return found


def count_calls(session: boto3.Session) -> list[str]:
    """Every AWS call made through ``session`` from now on, in order, as IAM actions (repeats included)."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}:{model.name}")

    session.events.register("before-call", record)
    return calls


def record_calls(session: boto3.Session) -> set[str]:
    """Every AWS call made through ``session`` from now on, as IAM actions (boto3's service name is the IAM
    prefix for every service the doctor uses)."""
    calls: set[str] = set()

    def record(model: Any, **_: Any) -> None:
        calls.add(f"{model.service_model.service_name}:{model.name}")

    session.events.register("before-call", record)
    return calls


def runbook_policy() -> dict[str, Any]:
    """The IAM policy the runbook tells users to grant."""
    text = (ROOT / "docs" / "runbook.md").read_text()
    match = re.search(r"```json\n(\{\n  \"Version\".*?)\n```", text, re.DOTALL)
    assert match, "the runbook has no JSON IAM policy"
    policy: dict[str, Any] = json.loads(match[1])
    return policy


def runbook_permissions() -> set[str]:
    """The actions of the runbook's IAM policy."""
    return {action for statement in runbook_policy()["Statement"] for action in statement["Action"]}
