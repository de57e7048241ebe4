"""Run every check against one deployed stack and collect the rows into a report, grouped by host; run the
``PENDING`` ones again (``--wait``: :mod:`constructs_obs.doctor.wait`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import NoRegionError

from constructs_obs.doctor.discovery import discover
from constructs_obs.doctor.facts import DoctorOptions, StackFacts, could_not_check
from constructs_obs.doctor.fleets import with_fleet_instances
from constructs_obs.doctor.plan import FAMILIES, Context, Family
from constructs_obs.doctor.regions import require_known_region
from constructs_obs.doctor.report import CheckResult, Report
from constructs_obs.doctor.stack import load_stack

if TYPE_CHECKING:
    import boto3


class Clients:
    """One boto3 client per service and region, made on first use."""

    def __init__(self, session: boto3.Session, region: str) -> None:
        """Clients of ``session``; ``region`` unless another is asked for."""
        self._session = session
        self._region = region
        self._made: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str | None = None) -> Any:
        """The client for ``service`` in ``region`` (default: the stack's)."""
        key = (service, region or self._region)
        if key not in self._made:
            self._made[key] = self._session.client(service, region_name=key[1])  # type: ignore[call-overload]
        return self._made[key]


def _owners(facts: StackFacts) -> dict[str, str]:
    """Resource of a row -> the path of the host it belongs to."""
    owners: dict[str, str] = {}
    for host in facts.hosts:
        for key in (host.instance_id, host.role_name, *host.log_groups):
            if key:
                owners.setdefault(key, host.path)
        if host.metrics_namespace:
            owners.setdefault(f"namespace {host.metrics_namespace}", host.path)
        if host.auto_scaling_group:
            owners.setdefault(host.auto_scaling_group, host.path)
    for alarm in facts.alarms:
        if not alarm.name:
            continue
        for host in facts.hosts:
            if (
                host.instance_id in alarm.instance_ids
                or host.auto_scaling_group in alarm.auto_scaling_groups
                or (host.metrics_namespace and alarm.namespace == host.metrics_namespace)
            ):
                owners.setdefault(alarm.name, host.path)
                break
    return owners


class Doctor:
    """The checks of one deployed stack: :meth:`check` runs them all, :meth:`recheck` the pending ones again.

    Raises (on creation, when the stack is read):
        StackNotFoundError: no such stack in the region.
        botocore.exceptions.NoRegionError: no region given and the session has none.
        constructs_obs.doctor.regions.UnknownRegionError: the region is in no partition botocore knows.
        botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError: the stack could not be read
            (no credentials, access denied, no network): the doctor cannot run.
    """

    def __init__(
        self,
        session: boto3.Session,
        stack_name: str,
        *,
        options: DoctorOptions | None = None,
        region: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Read the stack ``stack_name`` in ``region`` (default: the session's) and what it holds."""
        region = region or session.region_name
        if not region:
            raise NoRegionError()
        require_known_region(session, region)
        self.region = region
        self.options = options or DoctorOptions()
        self.client = Clients(session, region)
        self.inv = load_stack(self.client("cloudformation"), stack_name, region)
        self.facts = with_fleet_instances(self.client("autoscaling"), discover(self.inv))
        self.owners = _owners(self.facts)
        self.ctx = Context(self.client, self.options, sleep, datetime.now(timezone.utc))

    def _family(
        self, family: Family, facts: StackFacts, pending: Sequence[CheckResult] = ()
    ) -> list[CheckResult]:
        """The family's rows, each under its host; an AWS error or an answer it did not expect becomes an
        ``UNKNOWN`` row (one per pending row when it runs again), so the other families still run."""
        try:
            rows = family.run(self.ctx, facts)
        except Exception as error:  # each check family is isolated from the others
            rows = [
                dataclasses.replace(could_not_check(r.check, r.resource, error), host=r.host) for r in pending
            ]
            rows = rows or [could_not_check(family.name, self.inv.name, error)]
        return [
            r if r.host is not None else dataclasses.replace(r, host=self.owners.get(r.resource))
            for r in rows
        ]

    def _report(self, rows: Sequence[CheckResult]) -> Report:
        hosts = tuple(
            {
                "host": h.path,
                "instance_id": h.instance_id,
                "created_by_stack": h.created_by_stack,
                "auto_scaling_group": h.auto_scaling_group,
                "metrics_namespace": h.metrics_namespace,
                "role_name": h.role_name,
                "log_groups": h.log_groups,
            }
            for h in self.facts.hosts
        )
        return Report(self.inv.name, self.region, self.ctx.now, tuple(rows), self.inv.stack_id or None, hosts)

    def check(self, now: datetime | None = None) -> Report:
        """Every check, at ``now`` (default: the current time)."""
        self.ctx.now = now or datetime.now(timezone.utc)
        rows = [row for family in FAMILIES for row in self._family(family, self.facts)]
        return self._report(rows)

    def recheck(self, report: Report, now: datetime | None = None) -> Report:
        """``report`` with its ``PENDING`` rows checked again at ``now``, and only those: each family with
        pending rows runs on the stack's facts narrowed to them, so a round makes no more AWS calls than
        :meth:`check`. Its other rows stay as they were."""
        self.ctx.now = now or datetime.now(timezone.utc)
        pending = report.pending()
        keys = {r.key for r in pending}
        fresh: dict[tuple[str, str, str | None], list[CheckResult]] = {}
        for family in FAMILIES:
            mine = [r for r in pending if r.check in family.checks]
            if mine and family.narrow is not None:
                for row in self._family(family, family.narrow(self.facts, mine), mine):
                    if row.key in keys:
                        fresh.setdefault(row.key, []).append(row)
        rows: list[CheckResult] = []
        for row in report.results:
            if row.key not in fresh:
                rows.append(row)
            elif row.key in keys:
                rows += fresh[row.key]
                keys.discard(row.key)
        return dataclasses.replace(self._report(rows), wait=report.wait)


def run_doctor(
    session: boto3.Session,
    stack_name: str,
    *,
    options: DoctorOptions | None = None,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
    region: str | None = None,
) -> Report:
    """Check the deployed stack ``stack_name`` in ``region`` (default: the session's) and return the report.

    Raises: as :class:`Doctor`.
    """
    return Doctor(session, stack_name, options=options, region=region, sleep=sleep).check(now)
