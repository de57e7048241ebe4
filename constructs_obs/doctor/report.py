"""The doctor's report: one row per check, with its status, and the verdict (exit code) of the rows together.

How it is printed is elsewhere: :mod:`constructs_obs.doctor.text` (the summary and the table for people),
:mod:`constructs_obs.doctor.junit` (JUnit XML for CI); :meth:`Report.to_json` is the ``--format json`` document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

#: Version of the JSON document. Bumped only when a key is removed or changes meaning. 2: the statuses
#: ``pending`` and ``unknown`` (``could not check`` rows were ``fail`` in 1), ``expected_by`` on each row, exit
#: code 3, and ``wait``.
SCHEMA_VERSION = 2

#: Exit codes: every check passed (pending and warning rows allowed); a check failed (or, with ``--wait``, is
#: still pending at the deadline); the doctor could not run at all; nothing failed but something could not be
#: checked.
EXIT_PASS, EXIT_FAIL, EXIT_CANNOT_RUN, EXIT_UNKNOWN = 0, 1, 2, 3


class Status(str, Enum):
    """The outcome of one check.

    - ``PASS``: what was checked works.
    - ``PENDING``: the data it looks for cannot have arrived yet (a new host, a new alarm); the row says when it
      is expected by (:attr:`CheckResult.expected_by`). It becomes ``PASS`` or ``FAIL`` by then.
    - ``WARN``: worth a look, not broken.
    - ``FAIL``: broken: alerts or data are lost.
    - ``UNKNOWN``: the doctor could not check (its own access, or an AWS error): not a finding about the stack.
    """

    PASS = "pass"  # noqa: S105 (a check status, not a password)
    PENDING = "pending"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


#: Worst first is highest: what a group of rows (a report, an area of the summary) shows.
SEVERITY = {Status.PASS: 0, Status.PENDING: 1, Status.WARN: 2, Status.UNKNOWN: 3, Status.FAIL: 4}


def worst(statuses: Any) -> Status:
    """The worst of ``statuses`` (``PASS`` for none)."""
    return max(statuses, key=SEVERITY.__getitem__, default=Status.PASS)


@dataclass(frozen=True)
class CheckResult:
    """One row of the report.

    Attributes:
        check: what was checked, a stable identifier such as ``log-group`` or ``alarm-instance``.
        status: see :class:`Status`.
        resource: the resource the row is about (stack name, instance id, log group or alarm name, ...).
        detail: what was found, in one line.
        next_step: what to do about it; empty when there is nothing to do.
        host: the path of the host the row is about (``ShopProd/Host``), or None for the stack as a whole.
        expected_by: for a ``PENDING`` row, when the data it waits for is expected by (UTC).
    """

    check: str
    status: Status
    resource: str
    detail: str
    next_step: str = ""
    host: str | None = None
    expected_by: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What the row is about: (check, resource, host); a later run of the same check replaces it."""
        return (self.check, self.resource, self.host)

    def as_dict(self) -> dict[str, str | None]:
        """The row as the JSON document writes it."""
        return {
            "check": self.check,
            "status": self.status.value,
            "resource": self.resource,
            "detail": self.detail,
            "next_step": self.next_step or None,
            "host": self.host,
            "expected_by": self.expected_by.isoformat(timespec="seconds") if self.expected_by else None,
        }


@dataclass(frozen=True)
class Wait:
    """How ``--wait`` ran: its deadline and how many rounds of checks it made (the first run included)."""

    deadline: datetime
    rounds: int


@dataclass(frozen=True)
class Report:
    """Every check run against one stack.

    Attributes:
        stack_name: the stack checked.
        region: the region it was looked up in.
        checked_at: when the checks (of the last round) ran (UTC).
        results: the rows, in the order the checks ran.
        stack_id: the stack's ARN.
        hosts: the hosts found in the stack, each ``{"host": path, "instance_id": ..., "created_by_stack": ...,
            "auto_scaling_group": ..., "metrics_namespace": ..., "role_name": ..., "log_groups": [...]}``, in
            template order; a fleet's instances are one entry each, with the fleet's path and group.
        wait: how ``--wait`` ran, or None for a single run. After a wait, a row still pending fails the verdict.
    """

    stack_name: str
    region: str
    checked_at: datetime
    results: tuple[CheckResult, ...]
    stack_id: str | None = None
    hosts: tuple[Mapping[str, Any], ...] = ()
    wait: Wait | None = None

    @property
    def status(self) -> Status:
        """The worst status of any row (``PASS`` for an empty report)."""
        return worst(r.status for r in self.results)

    @property
    def exit_code(self) -> int:
        """1 when a check failed (or, after ``--wait``, is still pending), else 3 when a check could not be
        checked, else 0 (pending and warning rows included)."""
        statuses = {r.status for r in self.results}
        if Status.FAIL in statuses or (self.wait is not None and Status.PENDING in statuses):
            return EXIT_FAIL
        return EXIT_UNKNOWN if Status.UNKNOWN in statuses else EXIT_PASS

    def counts(self) -> dict[str, int]:
        """How many rows have each status, e.g. ``{"pass": 15, "pending": 2, "warn": 1, "fail": 0, ...}``."""
        counter = Counter(r.status for r in self.results)
        return {status.value: counter[status] for status in Status}

    def failures(self) -> list[CheckResult]:
        """The failed rows."""
        return [r for r in self.results if r.status is Status.FAIL]

    def pending(self) -> list[CheckResult]:
        """The rows still waiting for their data."""
        return [r for r in self.results if r.status is Status.PENDING]

    def to_json(self) -> dict[str, Any]:
        """The JSON document (schema version :data:`SCHEMA_VERSION`)."""
        wait = self.wait
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
            "wait": {"deadline": wait.deadline.isoformat(timespec="seconds"), "rounds": wait.rounds}
            if wait
            else None,
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
        """``host ShopProd/Host (i-0abc...)``: the heading of a host's rows; ``fleet ShopProd/Fleet (Auto Scaling
        group shop-web, 3 instances)`` for a fleet's."""
        entries = [h for h in self.hosts if h.get("host") == host]
        group = next((h.get("auto_scaling_group") for h in entries if h.get("auto_scaling_group")), None)
        if group:
            count = sum(1 for h in entries if h.get("instance_id"))
            return f"fleet {host} (Auto Scaling group {group}, {count} {'instance' if count == 1 else 'instances'})"
        instance = next((h.get("instance_id") for h in entries), None)
        return f"host {host}" + (f" ({instance})" if instance else "")


def combined_exit_code(codes: list[int]) -> int:
    """The exit code of several stacks: could not run (2), else failed (1), else unknown (3), else 0."""
    for code in (EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_UNKNOWN):
        if code in codes:
            return code
    return EXIT_PASS


def error_document(stack_name: str, region: str | None, reason: str) -> dict[str, Any]:
    """The JSON document when the doctor cannot run (exit code 2)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "stack": stack_name,
        "stack_id": None,
        "region": region,
        "checked_at": None,
        "status": "error",
        "exit_code": EXIT_CANNOT_RUN,
        "error": reason,
        "summary": {status.value: 0 for status in Status},
        "wait": None,
        "hosts": [],
        "checks": [],
    }


def combined_document(documents: list[dict[str, Any]], exit_code: int) -> dict[str, Any]:
    """The JSON document for several stacks: each stack's document (or error document) under ``reports``."""
    statuses = [str(d.get("status")) for d in documents]
    order = ("error", *(s.value for s in sorted(Status, key=SEVERITY.__getitem__, reverse=True)))
    status = next((s for s in order if s in statuses), Status.PASS.value)
    return {"schema_version": SCHEMA_VERSION, "status": status, "exit_code": exit_code, "reports": documents}
