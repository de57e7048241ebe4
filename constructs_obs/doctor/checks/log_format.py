"""Logs have the format the filters read: each metric filter is tested on its group's recent lines.

A metric filter whose pattern never matches what the program writes is an alarm that never fires, and nothing
says so. For each metric filter of the stack (on a host's group or any other, such as an ECS service's), the
check reads the live filter (``logs:DescribeMetricFilters``) and the group's newest lines (up to
:data:`SAMPLE_SIZE`, ``logs:DescribeLogStreams`` + ``logs:GetLogEvents``), relaxes the pattern to its shape
(:func:`relax`: for nginx, ``[remote_addr, ident, ..., http_user_agent, ...]``: the fields, not the 5xx status) and
counts the lines it matches (the conditions that pin the library's nginx fields to their places stay: see
:data:`~constructs_obs.contract.NGINX_LAYOUT_CONDITIONS`): with CloudWatch's own ``logs:TestMetricFilter`` where the call is available, with
the library's evaluator (:mod:`constructs_obs.testing.filter_pattern`) otherwise. No line of that shape means the
program writes another format (nginx writing JSON, say) and the filter counts nothing, whatever happens.

Term and regular-expression patterns select lines by their content, not by a layout: they have no shape to test.
A group without any line yet is ``PENDING`` while it waits for its first events, as its ``log-events`` row
(:func:`~constructs_obs.doctor.windows.first_logs_expected_by`), then a warning: nothing to test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from constructs_obs.contract import NGINX_COMBINED_FIELDS, NGINX_LAYOUT_CONDITIONS
from constructs_obs.doctor import guide
from constructs_obs.doctor.facts import (
    FilterSpec,
    InstanceState,
    StackFacts,
    error_code,
    error_text,
    missing_or_could_not_check,
)
from constructs_obs.doctor.report import CheckResult, Status
from constructs_obs.doctor.windows import first_logs_expected_by, pending_row
from constructs_obs.testing import filter_pattern

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient

#: How many recent lines are tested (TestMetricFilter takes at most 50).
SAMPLE_SIZE = 50

#: How many of the most recently written streams the lines come from (Docker writes one per container).
STREAMS = 5


#: The official nginx image's ``main`` log format (``combined`` plus X-Forwarded-For), which the filter reads.
NGINX_MAIN_LOG_FORMAT = (
    'log_format main \'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"\';'
)

#: Errors after which the doctor stops asking TestMetricFilter and uses the library's evaluator.
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "ServiceUnavailableException"})

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SELECTOR = r"\$(?:\.[A-Za-z0-9_\-]+|\[\d+\])*"
_NOT_EXISTS = re.compile(rf"({_SELECTOR})\s+NOT\s+EXISTS")
_IS = re.compile(rf"({_SELECTOR})\s+IS\s+(?:NULL|TRUE|FALSE)")
_COMPARE = re.compile(rf'({_SELECTOR})\s*(?:!=|<=|>=|=|<|>)\s*(?:"(?:[^"\\]|\\.)*"|[^\s()&|]+)')


@dataclass(frozen=True)
class Shape:
    """A filter pattern relaxed to the shape of the lines it reads.

    Attributes:
        kind: ``space`` (space-delimited fields) or ``json``.
        pattern: the relaxed pattern: the same fields with no condition on their values (only the
            :data:`~constructs_obs.contract.NGINX_LAYOUT_CONDITIONS`).
        fields: the field names (``...`` for any number of fields), or the JSON selectors.
        kept: the layout conditions kept, field -> value.
    """

    kind: str
    pattern: str
    fields: tuple[str, ...]
    kept: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """What lines of this shape look like, in words."""
        if self.kind == "json":
            return f"JSON lines with {', '.join(self.fields)}"
        named = [f for f in self.fields if f != "..."]
        more = " or more" if "..." in self.fields else ""
        kept = "".join(f"; {field} matches {value}" for field, value in self.kept)
        return (
            f"space-delimited lines of {len(named)} fields{more} ({' '.join(self.fields)}{kept}; a [bracketed] or "
            '"quoted" text is one field)'
        )


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted, depth = False, 0
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        if char == "," and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def relax(pattern: str) -> Shape | None:
    """``pattern`` with every condition dropped, keeping its shape; None for term and regex patterns (no shape)
    and for patterns whose relaxed form the library's parser does not accept."""
    text = pattern.strip()
    if text.startswith("[") and text.endswith("]"):
        fields: list[str] = []
        slots: list[str] = []
        kept: list[tuple[str, str]] = []
        for slot in _split_top_level(text[1:-1]):
            slot = slot.strip()
            if not slot:
                continue
            if slot in ("...", "\u2026"):
                fields.append("...")
                slots.append("...")
                continue
            match = _IDENT.match(slot)
            if match is None:
                return None
            name = match.group(0)
            fields.append(name)
            layout = NGINX_LAYOUT_CONDITIONS.get(name)
            if layout is not None and " ".join(slot.split()) == f"{name} = {layout}":
                slots.append(f"{name} = {layout}")
                kept.append((name, layout))
            else:
                slots.append(name)
        shape = Shape("space", "[" + ", ".join(slots) + "]", tuple(fields), tuple(kept))
    elif text.startswith("{") and text.endswith("}") and not text.startswith("{%"):
        relaxed = _NOT_EXISTS.sub(r"((\1 EXISTS) || (\1 NOT EXISTS))", text)
        relaxed = _IS.sub(r"\1 EXISTS", relaxed)
        relaxed = _COMPARE.sub(r"\1 EXISTS", relaxed)
        selectors = tuple(dict.fromkeys(re.findall(_SELECTOR, relaxed)))
        shape = Shape("json", relaxed, tuple(s for s in selectors if s != "$"))
    else:
        return None
    try:
        filter_pattern.parse(shape.pattern)
    except ValueError:
        return None
    return shape


def recent_lines(logs: CloudWatchLogsClient, group: str) -> list[str]:
    """The newest non-empty events of ``group`` (up to :data:`SAMPLE_SIZE`), newest first."""
    streams = logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True, limit=STREAMS
    ).get("logStreams", [])
    events: list[tuple[int, str]] = []
    for stream in streams:
        page = logs.get_log_events(
            logGroupName=group,
            logStreamName=stream["logStreamName"],
            startFromHead=False,
            limit=SAMPLE_SIZE,
        )
        events += [(e.get("timestamp", 0), e.get("message", "")) for e in page.get("events", [])]
    # Newest first; events of one millisecond keep their order in the stream (the later one first).
    ordered = sorted(enumerate(events), key=lambda item: (item[1][0], item[0]), reverse=True)
    return [message for _, (_, message) in ordered if message.strip()][:SAMPLE_SIZE]


class Tester:
    """Counts the lines a pattern matches: TestMetricFilter while AWS answers it, the library's evaluator once it
    does not (unavailable in the region or endpoint, not allowed, ...)."""

    def __init__(self, logs: CloudWatchLogsClient) -> None:
        """Test with ``logs``'s TestMetricFilter first."""
        self.logs = logs
        self.unavailable: str | None = None

    def count(self, pattern: str, lines: Sequence[str]) -> tuple[int, str]:
        """(matching lines, how they were tested). ``ValueError`` when the library's evaluator cannot read the
        pattern and TestMetricFilter is unavailable."""
        if self.unavailable is None:
            try:
                response = self.logs.test_metric_filter(filterPattern=pattern, logEventMessages=list(lines))
                return len(response.get("matches", [])), "CloudWatch's TestMetricFilter"
            except ClientError as error:
                if error_code(error) in _THROTTLED:
                    raise
                self.unavailable = error_code(error) or error_text(error)
            except BotoCoreError as error:
                self.unavailable = error_text(error)
        parsed = filter_pattern.parse(pattern)
        matched = sum(1 for line in lines if parsed.matches(line))
        return matched, f"the library's evaluator; TestMetricFilter: {self.unavailable}"


def _live_filters(logs: CloudWatchLogsClient, group: str) -> list[dict[str, Any]]:
    return [
        dict(f)
        for page in logs.get_paginator("describe_metric_filters").paginate(logGroupName=group)
        for f in page.get("metricFilters", [])
    ]


def _live(spec: FilterSpec, filters: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    for live in filters:
        for t in live.get("metricTransformations", []):
            if (t.get("metricNamespace"), t.get("metricName")) == (spec.metric_namespace, spec.metric_name):
                return live
    return next((f for f in filters if f.get("filterPattern") == spec.pattern), None)


def filter_label(facts: StackFacts, spec: FilterSpec) -> str:
    """How the report names a filter: after the alarm that watches its metric, else after its metric."""
    alarms = [a.name for a in facts.alarms_on(spec.metric_namespace, spec.metric_name) if a.name]
    if alarms:
        return "/".join(alarms)
    return str(spec.metric_name or spec.logical_id)


def _next_step(shape: Shape, label: str, lines: Sequence[str]) -> str:
    step = f"The {label} filter reads {shape.describe()}."
    if shape.kind == "space" and tuple(f for f in shape.fields if f != "...")[:9] == NGINX_COMBINED_FIELDS:
        step += (
            " Make nginx log in the official image's main format (or combined): "
            f"{NGINX_MAIN_LOG_FORMAT} access_log /var/log/nginx/access.log main; (a JSON or other log_format is "
            "not read)."
        )
    newest = lines[0] if lines else ""
    if newest:
        step += f" The newest line is: {newest if len(newest) <= 200 else newest[:197] + '...'}"
    return step


def check_log_formats(
    logs: CloudWatchLogsClient,
    facts: StackFacts,
    *,
    states: Mapping[str, InstanceState],
    now: datetime,
    recent_minutes: int,
) -> list[CheckResult]:
    """Each metric filter of the stack exists on its group, and some of the group's recent lines have its shape
    (the groups are in the stack's region, as CloudFormation requires); a group still waiting for its first
    events (``states``: the instances, ``recent_minutes``: how long a group waits) is ``PENDING``."""
    tester = Tester(logs)
    rows: list[CheckResult] = []
    filters_of: dict[str, list[dict[str, Any]]] = {}
    lines_of: dict[str, list[str]] = {}
    for spec in facts.filters:
        label = filter_label(facts, spec)
        group = spec.log_group
        if group is None:
            rows.append(
                CheckResult(
                    "log-format",
                    Status.WARN,
                    spec.logical_id,
                    f"the {label} filter's log group is not known from the template: not checked",
                    "Check the filter's group in the CloudWatch console (Log groups → Metric filters).",
                )
            )
            continue
        try:
            if group not in filters_of:
                filters_of[group] = _live_filters(logs, group)
            live = _live(spec, filters_of[group])
            if live is None:
                rows.append(
                    CheckResult(
                        "log-format",
                        Status.FAIL,
                        group,
                        f"the {label} filter ({spec.metric_namespace}/{spec.metric_name}) does not exist on {group}: "
                        "its alarm never gets a datapoint",
                        guide.drift(f"The metric filter {spec.logical_id}", facts.inv.name, facts.region),
                    )
                )
                continue
            pattern = str(live.get("filterPattern", spec.pattern))
            shape = relax(pattern)
            if shape is None:
                rows.append(
                    CheckResult(
                        "log-format",
                        Status.PASS,
                        group,
                        f"the {label} filter selects lines by their content (a term or regular-expression "
                        "pattern), not by a layout: no format to check",
                    )
                )
                continue
            if group not in lines_of:
                lines_of[group] = recent_lines(logs, group)
            lines = lines_of[group]
            waiting = None if lines else first_logs_expected_by(facts, group, states, None, recent_minutes)
            if waiting is not None and now < waiting[0]:
                detail = f"{group} has no events yet to test the {label} filter's format on; waiting since {waiting[1]}"
                rows.append(pending_row("log-format", group, detail, waiting[0]))
                continue
            if not lines:
                rows.append(
                    CheckResult(
                        "log-format",
                        Status.WARN,
                        group,
                        f"{group} has no events yet, so whether they have the format the {label} filter reads is "
                        "unknown",
                        "Run obs-doctor again once the program has written to it.",
                    )
                )
                continue
            matched, how = tester.count(shape.pattern, lines)
        except (ClientError, BotoCoreError) as error:
            rows.append(
                missing_or_could_not_check(
                    "log-format",
                    group,
                    error,
                    missing_code="ResourceNotFoundException",
                    detail=f"{group} does not exist: the {label} filter has nothing to read",
                    what=f"Log group {group}",
                    stack=facts.inv.name,
                    region=facts.region,
                )
            )
            continue
        except ValueError as error:
            rows.append(
                CheckResult(
                    "log-format",
                    Status.WARN,
                    group,
                    f"the {label} filter's pattern cannot be tested here ({error})",
                    f"Test it with aws logs test-metric-filter --filter-pattern '{pattern}' --log-event-messages "
                    "<recent lines of the group>.",
                )
            )
            continue
        counted = (
            f"{matched} of {len(lines)} recent lines in {group} have the format the {label} filter reads"
        )
        if matched:
            rows.append(CheckResult("log-format", Status.PASS, group, f"{counted} (tested with {how})"))
        else:
            rows.append(
                CheckResult(
                    "log-format",
                    Status.FAIL,
                    group,
                    f"{counted}: it counts nothing, so its alarm never fires (tested with {how})",
                    _next_step(shape, label, lines),
                )
            )
    return rows
