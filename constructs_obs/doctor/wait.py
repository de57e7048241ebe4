"""``--wait DURATION``: the post-deploy gate (``cdk deploy && obs-doctor --stack X --wait 15m``).

After the first run, only the ``PENDING`` rows are checked again (:meth:`~constructs_obs.doctor.runner.Doctor.
recheck`), a round at most every :data:`ROUND_INTERVAL`, until none is left or the next round would start after
the deadline; each round prints one progress line. The verdict is then settled: a row still pending fails it
(exit code 1). A failed row is never checked again, so once one fails the verdict cannot change and the wait stops.
The clock and the sleep are injected: the tests run a wait of minutes in no time.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from constructs_obs.doctor.report import Report, Wait
from constructs_obs.doctor.runner import Doctor

#: The shortest time between the starts of two rounds.
ROUND_INTERVAL = timedelta(seconds=30)

Clock = Callable[[], datetime]

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """``15m``, ``90s``, ``1h``, ``1h30m`` -> a duration; ``ValueError`` for anything else or zero."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise ValueError(f"expected a duration like 15m, 90s or 1h30m, got {text!r}")
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise ValueError(f"expected a duration longer than 0, got {text!r}")
    return duration


def _at(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:%M:%S UTC")


def _pending(reports: Sequence[Report]) -> str:
    """``9 pending: alarm-state 7, agent-metrics 1, docker-events 1`` (per stack when there are several)."""
    parts = []
    for report in reports:
        counts = Counter(r.check for r in report.pending())
        if counts:
            named = ", ".join(f"{check} {count}" for check, count in counts.items())
            parts.append(f"{report.stack_name}: {named}" if len(reports) > 1 else named)
    total = sum(len(r.pending()) for r in reports)
    return f"{total} pending ({'; '.join(parts)})"


def settle(
    runs: Sequence[tuple[Doctor, Report]],
    *,
    started: datetime,
    deadline: datetime,
    clock: Clock,
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> list[Report]:
    """Check the pending rows of each stack's report again until none is left, a check failed, or the deadline;
    ``started``: when the first round (the reports given) started. Returns the settled reports."""
    reports = [report for _, report in runs]
    rounds, round_started = 1, started
    try:
        while True:
            head = f"obs-doctor: round {rounds} ({_at(round_started)})"
            if not any(r.pending() for r in reports):
                progress(f"{head}: nothing pending")
                break
            if any(r.failures() for r in reports):
                progress(
                    f"{head}: {_pending(reports)}, and a check failed: the verdict cannot change, not waiting"
                )
                break
            next_round = max(round_started + ROUND_INTERVAL, clock())
            if next_round > deadline:
                progress(f"{head}: {_pending(reports)} at the deadline {_at(deadline)}")
                break
            progress(f"{head}: {_pending(reports)}; next round {_at(next_round)}, until {_at(deadline)}")
            sleep(max((next_round - clock()).total_seconds(), 0.0))
            round_started = clock()
            reports = [
                doctor.recheck(report, round_started) if report.pending() else report
                for (doctor, _), report in zip(runs, reports, strict=True)
            ]
            rounds += 1
    except KeyboardInterrupt:
        progress(f"obs-doctor: interrupted in round {rounds}: {_pending(reports)}")
    return [dataclasses.replace(r, wait=Wait(deadline, rounds)) for r in reports]
