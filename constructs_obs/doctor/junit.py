"""``--format junit``: the report as JUnit XML, so CI systems show the verdict as test results.

One ``<testsuite>`` per stack, one ``<testcase>`` per row: a ``<failure>`` for ``FAIL``, ``<skipped>`` for
``UNKNOWN`` (could not check) and ``PENDING`` (not there yet), a passing case for ``PASS`` and ``WARN`` (a warning's
text in ``<system-out>``). After ``--wait``, a row still pending at the deadline is a ``<failure>``: it makes the
exit code 1, and the CI's test view says the same. A stack the doctor could not check at all is one case with an
``<error>``. The element and attribute names are those of the JUnit XML format most CI systems read (the Ant
JUnit task's; GitLab, Jenkins and GitHub test reporters read them).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import timezone

from constructs_obs.doctor.report import CheckResult, Report, Status


def _case(report: Report, row: CheckResult) -> ET.Element:
    host = row.host or "stack"
    case = ET.Element(
        "testcase", classname=f"{report.stack_name}.{host}", name=f"{row.check} {row.resource}", time="0"
    )
    text = row.detail + (f"\nnext: {row.next_step}" if row.next_step else "")
    settled = report.wait is not None and row.status is Status.PENDING
    if row.status is Status.FAIL or settled:
        kind = "pending at the deadline" if settled else "fail"
        failure = ET.SubElement(case, "failure", message=row.detail, type=kind)
        failure.text = text
    elif row.status in (Status.PENDING, Status.UNKNOWN):
        ET.SubElement(case, "skipped", message=f"{row.status.value}: {row.detail}")
    elif row.status is Status.WARN:
        ET.SubElement(case, "system-out").text = f"warn: {text}"
    return case


def _suite(report: Report) -> ET.Element:
    cases = [_case(report, row) for row in report.results]
    suite = ET.Element(
        "testsuite",
        name=report.stack_name,
        tests=str(len(cases)),
        failures=str(sum(1 for c in cases if c.find("failure") is not None)),
        errors="0",
        skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
        time="0",
        timestamp=report.checked_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("region", report.region), ("exit_code", str(report.exit_code))):
        ET.SubElement(properties, "property", name=name, value=value)
    suite.extend(cases)
    return suite


def _error_suite(stack: str, reason: str) -> ET.Element:
    suite = ET.Element("testsuite", name=stack, tests="1", failures="0", errors="1", skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname=stack, name="obs-doctor", time="0")
    ET.SubElement(case, "error", message=reason, type="cannot run").text = reason
    return suite


def document(results: Sequence[Report | tuple[str, str]]) -> str:
    """The JUnit XML document: one suite per stack, in order: its report, or ``(stack, reason)`` for a stack
    that could not be checked."""
    root = ET.Element("testsuites", name="obs-doctor")
    root.extend([_suite(r) if isinstance(r, Report) else _error_suite(*r) for r in results])
    for total in ("tests", "failures", "errors", "skipped"):
        root.set(total, str(sum(int(s.get(total, "0")) for s in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
