"""The doctor's report: one row per check, rendered as a table for people or as JSON for machines."""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

#: Version of the ``--json`` document. Bumped only when a key is removed or changes meaning.
SCHEMA_VERSION = 1


class Status(str, Enum):
    """The outcome of one check. Only ``FAIL`` makes the exit code 1."""

    PASS = "pass"  # noqa: S105 (a check status, not a password)
    WARN = "warn"
    FAIL = "fail"


_SEVERITY = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    """One row of the report.

    Attributes:
        check: what was checked, a stable identifier such as ``log-group`` or ``alarm-instance``.
        status: pass, warn or fail.
        resource: the resource the row is about (stack name, instance id, log group or alarm name, ...).
        detail: what was found.
        next_step: what to do about it; empty when there is nothing to do.
        host: the path of the host the row is about (``AiTutorStaging/Host``), or None for the stack as a whole.
    """

    check: str
    status: Status
    resource: str
    detail: str
    next_step: str = ""
    host: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The row as the ``--json`` document writes it."""
        return {
            "check": self.check,
            "status": self.status.value,
            "resource": self.resource,
            "detail": self.detail,
            "next_step": self.next_step or None,
            "host": self.host,
        }


@dataclass(frozen=True)
class Report:
    """Every check run against one stack.

    Attributes:
        stack_name: the stack checked.
        region: the region it was looked up in.
        checked_at: when the checks ran (UTC).
        results: the rows, in the order the checks ran.
        stack_id: the stack's ARN.
        hosts: the hosts found in the stack, each ``{"host": path, "instance_id": ..., "metrics_namespace":
            ..., "role_name": ..., "log_groups": [...]}``, in template order.
    """

    stack_name: str
    region: str
    checked_at: datetime
    results: tuple[CheckResult, ...]
    stack_id: str | None = None
    hosts: tuple[Mapping[str, Any], ...] = ()

    @property
    def status(self) -> Status:
        """The worst status of any row (``PASS`` for an empty report)."""
        return max((r.status for r in self.results), key=_SEVERITY.__getitem__, default=Status.PASS)

    @property
    def exit_code(self) -> int:
        """0 when nothing failed (warnings included), 1 when any check failed."""
        return 1 if self.status is Status.FAIL else 0

    def counts(self) -> dict[str, int]:
        """How many rows have each status, e.g. ``{"pass": 15, "warn": 1, "fail": 0}``."""
        counter = Counter(r.status for r in self.results)
        return {status.value: counter[status] for status in Status}

    def failures(self) -> list[CheckResult]:
        """The failed rows."""
        return [r for r in self.results if r.status is Status.FAIL]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (schema version :data:`SCHEMA_VERSION`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "stack": self.stack_name,
            "stack_id": self.stack_id,
            "region": self.region,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "status": self.status.value,
            "exit_code": self.exit_code,
            "error": None,
            "summary": self.counts(),
            "hosts": [dict(h) for h in self.hosts],
            "checks": [r.as_dict() for r in self.results],
        }

    def groups(self) -> list[tuple[str | None, list[CheckResult]]]:
        """The rows grouped by host: the stack-wide rows first (host None), then each host's, in the order of
        :attr:`hosts` (then any other host named by a row)."""
        order = list(
            dict.fromkeys([None, *(str(h["host"]) for h in self.hosts), *(r.host for r in self.results)])
        )
        return [
            (host, [r for r in self.results if r.host == host])
            for host in order
            if host is None or any(r.host == host for r in self.results)
        ]

    def host_label(self, host: str) -> str:
        """``host AiTutorStaging/Host (i-0abc...)``: the heading of a host's rows."""
        instance = next((h.get("instance_id") for h in self.hosts if h.get("host") == host), None)
        return f"host {host}" + (f" ({instance})" if instance else "")

    def render_table(self, width: int | None = None) -> str:
        """A plain-text table: one row per check; under a problem, its next step wrapped to ``width`` columns
        (default: the terminal's width, at least 80)."""
        width = max(width or shutil.get_terminal_size((120, 24)).columns, 80)
        headers = ("STATUS", "CHECK", "RESOURCE", "DETAIL")
        rows = [(r.status.value.upper(), r.check, r.resource, r.detail) for r in self.results]
        widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers[:3])]
        indent = " " * (widths[0] + 2)

        def line(cells: tuple[str, str, str, str]) -> str:
            return "  ".join(cell.ljust(width) for cell, width in zip(cells[:3], widths, strict=True)) + (
                "  " + cells[3]
            )

        when = self.checked_at.strftime("%Y-%m-%d %H:%M UTC")
        out = [f"obs-doctor: stack {self.stack_name} in {self.region}, {when}", "", line(headers)]
        for host, results in self.groups():
            if host is not None:
                out += ["", self.host_label(host)]
            for result in results:
                out.append(
                    line((result.status.value.upper(), result.check, result.resource, result.detail)).rstrip()
                )
                if result.next_step and result.status is not Status.PASS:
                    out.append(
                        textwrap.fill(
                            result.next_step,
                            width=width,
                            initial_indent=f"{indent}next: ",
                            subsequent_indent=f"{indent}      ",
                            break_long_words=False,
                            break_on_hyphens=False,
                        )
                    )
        counts = self.counts()
        out += [
            "",
            f"{len(self.results)} checks: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail",
        ]
        return "\n".join(out)


def error_document(stack_name: str, region: str | None, reason: str) -> dict[str, Any]:
    """The ``--json`` document when the doctor cannot run (exit code 2)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "stack": stack_name,
        "stack_id": None,
        "region": region,
        "checked_at": None,
        "status": "error",
        "exit_code": 2,
        "error": reason,
        "summary": {status.value: 0 for status in Status},
        "hosts": [],
        "checks": [],
    }


def combined_document(documents: list[dict[str, Any]], exit_code: int) -> dict[str, Any]:
    """The ``--json`` document for several stacks: each stack's document (or error document) under ``reports``."""
    statuses = [str(d.get("status")) for d in documents]
    status = next((s for s in ("error", "fail", "warn") if s in statuses), "pass")
    return {"schema_version": SCHEMA_VERSION, "status": status, "exit_code": exit_code, "reports": documents}
