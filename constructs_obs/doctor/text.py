"""The report for people: a summary first (one line per area, with counts), then the problems, each with its next
step; ``--verbose`` adds every row, grouped by host.

Rows that repeat (the same check on several instances, alarms or groups) are counted, not listed: "agent: 5 of 6
instances reporting; failing: i-0abc". Problems whose text differs only in the resource they name are one entry
naming all of them; rows still waiting for their data are one entry with the time each is expected by.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from constructs_obs.doctor.report import SEVERITY, CheckResult, Report, Status, worst


@dataclass(frozen=True)
class Unit:
    """How the summary counts one check's rows: what each is about, and what a passing one is."""

    one: str
    many: str
    passing: str
    by_host: bool = False


@dataclass(frozen=True)
class Area:
    """One line of the summary: the checks it counts (in order), and those it only names when they do not pass."""

    name: str
    units: dict[str, Unit]
    only_problems: tuple[str, ...] = ()

    @property
    def checks(self) -> set[str]:
        """Every check whose rows the line covers."""
        return {*self.units, *self.only_problems}


AREAS: tuple[Area, ...] = (
    Area(
        "stack and delivery",
        {
            "stack": Unit("stack", "stacks", "deployed"),
            "logging-region": Unit("service", "services", "logging here"),
            "topic-policy": Unit("topic", "topics", "open to CloudWatch"),
            "topic-key": Unit("topic key", "topic keys", "usable by CloudWatch"),
            "subscriptions": Unit("topic", "topics", "with a confirmed email subscriber"),
        },
        ("stack-template", "subscription"),
    ),
    Area(
        "hosts",
        {
            "instance": Unit("instance", "instances", "running"),
            "instance-profile": Unit("instance", "instances", "with its instance profile"),
            "fleet-capacity": Unit("fleet", "fleets", "at its desired capacity"),
        },
    ),
    Area(
        "logs",
        {
            "log-group": Unit("log group", "log groups", "in place"),
            "log-events": Unit("container group", "container groups", "receiving events"),
            "log-format": Unit("filter", "filters", "matching their logs"),
        },
    ),
    Area(
        "alarms",
        {
            "alarm": Unit("alarm", "alarms", "notifying their topic"),
            "alarm-instance": Unit("alarm", "alarms", "on its instances"),
            "alarm-state": Unit("alarm", "alarms", "OK"),
            "alarm-history": Unit("alarm", "alarms", "without a failed action"),
        },
    ),
    Area(
        "agent",
        {
            "agent-metrics": Unit("instance", "instances", "reporting"),
            "fleet-agent-metrics": Unit("fleet", "fleets", "reporting"),
        },
    ),
    Area(
        "docker-events",
        {
            "docker-events": Unit("instance", "instances", "with its start line"),
            "docker-events-service": Unit("instance", "instances", "running it (systemd)"),
        },
    ),
    Area("setup", {"setup": Unit("instance", "instances", "set up")}),
    Area("permissions", {"role-permissions": Unit("host role", "host roles", "may write", by_host=True)}),
    Area("prometheus", {"prometheus-metrics": Unit("scrape job", "scrape jobs", "reaching CloudWatch")}),
    Area("containers", {"docker-logging": Unit("container", "containers", "logging with awslogs")}),
)

#: How each status is named when the summary lists the resources that have it.
_NAMED = {
    Status.FAIL: "failing",
    Status.UNKNOWN: "not checked",
    Status.WARN: "warning",
    Status.PENDING: "pending",
}

_STATUS_WIDTH = max(len(s.value) for s in Status) + 2


def _clock(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:%M UTC")


def _names(items: Sequence[str], limit: int = 3) -> str:
    """``a, b and c``; beyond ``limit``, ``a, b, c and 4 more``."""
    if len(items) > limit:
        return f"{', '.join(items[:limit])} and {len(items) - limit} more"
    return " and ".join(items) if len(items) < 3 else f"{', '.join(items[:-1])} and {items[-1]}"


def _labels(rows: Sequence[CheckResult], among: Sequence[CheckResult] = ()) -> list[str]:
    """Each row's resource, with its host when the same resource appears under several hosts (in ``rows`` and
    ``among``)."""
    hosts: dict[str, set[str | None]] = {}
    for row in (*rows, *among):
        hosts.setdefault(row.resource, set()).add(row.host)
    return list(
        dict.fromkeys(f"{r.resource} on {r.host}" if len(hosts[r.resource]) > 1 else r.resource for r in rows)
    )


def _fragments(area: Area, rows: Sequence[CheckResult]) -> list[str]:
    """``7 of 7 alarms notifying their topic``, then ``all OK`` for as many alarms, ``4 of 4 on its instances``
    for fewer."""
    fragments: list[str] = []
    first: tuple[str, int] | None = None
    for check, unit in area.units.items():
        mine = [r for r in rows if r.check == check]
        if not mine:
            continue
        if check == "stack":
            fragments.append(mine[0].detail.split(":")[0])
            continue
        units: dict[object, list[Status]] = {}
        for row in mine:
            units.setdefault(row.host if unit.by_host else (row.host, row.resource), []).append(row.status)
        total = len(units)
        passed = sum(1 for statuses in units.values() if worst(statuses) is Status.PASS)
        if first is None or first[0] != unit.many:
            fragments.append(f"{passed} of {total} {unit.one if total == 1 else unit.many} {unit.passing}")
            first = first or (unit.many, total)
        elif passed == total == first[1]:
            fragments.append(f"all {unit.passing}")
        else:
            fragments.append(f"{passed} of {total} {unit.passing}")
    return fragments


def _exceptions(rows: Sequence[CheckResult]) -> list[str]:
    """``failing: i-0abc``, ``pending until 10:15 UTC: a, b``: the rows that did not pass, by status."""
    found = []
    for status in sorted(_NAMED, key=SEVERITY.__getitem__, reverse=True):
        mine = [r for r in rows if r.status is status]
        if not mine:
            continue
        until = max((r.expected_by for r in mine if r.expected_by), default=None)
        named = _NAMED[status] + (f" until {_clock(until)}" if until else "")
        # When every row of the checks concerned has it, their counts already say which: no names.
        checks = {r.check for r in mine}
        everyone = all(r.status is status for r in rows if r.check in checks)
        found.append(named if everyone else f"{named}: {_names(_labels(mine, rows), limit=2)}")
    return found


def _area_rows(report: Report) -> list[tuple[str, list[CheckResult]]]:
    known = set().union(*(a.checks for a in AREAS))
    areas = [(a.name, [r for r in report.results if r.check in a.checks]) for a in AREAS]
    areas.append(("other", [r for r in report.results if r.check not in known]))
    return [(name, rows) for name, rows in areas if rows]


def summary_lines(report: Report, width: int) -> list[str]:
    """One line per area (wrapped to ``width``): its worst status, its counts, the resources that did not pass."""
    lines = []
    indent = " " * _STATUS_WIDTH
    for name, rows in _area_rows(report):
        area = next((a for a in AREAS if a.name == name), Area(name, {}))
        text = "; ".join([", ".join(_fragments(area, rows)), *_exceptions(rows)]).strip("; ")
        text = text or f"{len(rows)} {'check' if len(rows) == 1 else 'checks'} passed"
        lines += _wrap(
            f"{name}: {text}",
            width,
            f"{worst(r.status for r in rows).value.upper():<{_STATUS_WIDTH}}",
            indent,
        )
    return lines


def _wrap(text: str, width: int, first: str, indent: str) -> list[str]:
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _shape(row: CheckResult) -> tuple[str, str, str, str]:
    """What a problem says with its resource (and the resource's last path part, often a container's name) left
    out: problems of the same shape are one entry."""
    names = sorted({row.resource, row.resource.rstrip("/").rsplit("/", 1)[-1]} - {""}, key=len, reverse=True)
    pattern = "|".join(re.escape(n) for n in names if len(n) >= 3) or re.escape(row.resource)
    return (
        row.check,
        row.status.value,
        re.sub(pattern, "{}", row.detail),
        re.sub(pattern, "{}", row.next_step),
    )


def problem_lines(report: Report, width: int) -> list[str]:
    """The rows that did not pass, worst first, each with its next step (problems that differ only in their
    resource are one entry); then one entry for the rows still waiting for their data, which the summary names."""
    lines: list[str] = []
    indent = " " * _STATUS_WIDTH
    problems = [r for r in report.results if r.status not in (Status.PASS, Status.PENDING)]
    groups: dict[tuple[str, str, str, str], list[CheckResult]] = {}
    for row in sorted(problems, key=lambda r: -SEVERITY[r.status]):
        groups.setdefault(_shape(row), []).append(row)
    for rows in groups.values():
        first = rows[0]
        head = f"{first.status.value.upper():<{_STATUS_WIDTH}}"
        lines += _wrap(
            f"{first.check} {_names(_labels(rows, report.results))}: {first.detail}", width, head, indent
        )
        if first.next_step:
            which = f"(for {first.resource}; the same for the others) " if len(rows) > 1 else ""
            lines += _wrap(which + first.next_step, width, f"{indent}next: ", f"{indent}      ")
    pending = report.pending()
    if pending:
        latest = max((r.expected_by for r in pending if r.expected_by), default=None)
        by = f", the last expected by {_clock(latest)}" if latest else ""
        text = (
            f"{len(pending)} {'check waits' if len(pending) == 1 else 'checks wait'} for data not there yet{by}: "
            "nothing to fix yet; run obs-doctor again then, or let it wait (--wait 15m)"
        )
        lines += _wrap(text, width, f"{Status.PENDING.value.upper():<{_STATUS_WIDTH}}", indent)
    return lines


def row_lines(report: Report, width: int) -> list[str]:
    """Every row, grouped by host (the stack's own rows first), with the next step under each problem."""
    headers = ("STATUS", "CHECK", "RESOURCE", "DETAIL")
    cells = [(r.status.value.upper(), r.check, r.resource) for r in report.results]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers[:3])]
    indent = " " * (widths[0] + 2)

    def line(cells: tuple[str, str, str, str]) -> str:
        return (
            "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + "  " + cells[3]
        ).rstrip()

    out = [line(headers)]
    for host, results in report.groups():
        if host is not None:
            out += ["", report.host_label(host)]
        for r in results:
            out.append(line((r.status.value.upper(), r.check, r.resource, r.detail)))
            if r.next_step and r.status is not Status.PASS:
                out += _wrap(r.next_step, width, f"{indent}next: ", f"{indent}      ")
    return out


def footer(report: Report, verbose: bool) -> str:
    """``46 checks: 40 pass, 5 pending, 1 fail; exit code 1`` (statuses no row has are left out)."""
    counts = report.counts()
    shown = ", ".join(f"{counts[s.value]} {s.value}" for s in Status if counts[s.value] or s is Status.PASS)
    waited = ""
    if report.wait is not None and report.pending():
        waited = f", still pending at the deadline {_clock(report.wait.deadline)}"
    hint = "" if verbose else " (--verbose: every row)"
    return f"{len(report.results)} checks: {shown}{waited}; exit code {report.exit_code}{hint}"


def render(report: Report, *, verbose: bool = False, width: int | None = None) -> str:
    """The report as text: the heading, the summary, then the problems (``verbose``: every row), then the
    counts and the exit code. ``width``: the terminal's, at least 80."""
    width = max(width or shutil.get_terminal_size((120, 24)).columns, 80)
    when = report.checked_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"obs-doctor: stack {report.stack_name} in {report.region}, {when}", ""]
    out += summary_lines(report, width)
    details = row_lines(report, width) if verbose else problem_lines(report, width)
    if details:
        out += ["", *details]
    return "\n".join([*out, "", *_wrap(footer(report, verbose), width, "", "")])
