"""Check CloudWatch Logs filter patterns against your own log lines, in your own tests, without AWS.

A metric filter whose pattern never matches what your program writes is an alarm that never fires, and nothing
says so. Collect a few real lines from your program (copied from its output, or better, produced by running it
in the test) and assert which of them your pattern counts::

    # tests/test_log_patterns.py
    from constructs_obs.testing import count, matches, matching

    PAYMENT_FAILED = '{ $.level = "error" && $.event = "payment_failed" }'

    # Copied from the worker's own output (one CloudWatch event per line, as Docker's awslogs driver ships them).
    LINES = [
        '{"level": "info", "event": "payment_ok", "order": 17}',
        '{"level": "error", "event": "payment_failed", "order": 18, "reason": "card_declined"}',
        "Traceback (most recent call last):",
    ]


    def test_counts_failed_payments_only() -> None:
        assert matching(PAYMENT_FAILED, LINES) == [LINES[1]]
        assert count(PAYMENT_FAILED, LINES) == 1


    def test_a_request_cannot_forge_an_error() -> None:
        assert not matches("%^ERROR:%", "GET /search?q=ERROR: HTTP/1.1 200")

A metric filter adds its metric value (by default 1) for every event its pattern matches, so :func:`count` is
what such a filter would add for these lines.

**What is evaluated.** The four pattern kinds of CloudWatch Logs' "Filter pattern syntax for metric filters"
documentation (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html):

- term patterns: ``ERROR``, ``"Failed to process"``, ``?ERROR ?WARN``, ``ERROR -Exiting`` (case-sensitive
  substrings; terms with characters other than letters, digits and ``_`` must be double-quoted);
- space-delimited patterns: ``[ip, user, ..., status_code = 5*, bytes]``, with ``=``/``!=`` (``*`` wildcards),
  numeric ``<``, ``>``, ``<=``, ``>=``, ``&&``, ``||`` and ``...``;
- JSON patterns: ``{ ($.a.b = "x") && ($.n > 3) }``, with ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``EXISTS``,
  ``NOT EXISTS`` and parentheses;
- regular-expression patterns ``%...%`` in the documented subset only
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html): no parentheses, ASCII
  only, the documented operators and escapes.

Anything else, including regular expressions inside space-delimited or JSON patterns, raises
:class:`FilterPatternError` rather than guessing, so a test cannot pass on a pattern the evaluator does not
understand. Syntax CloudWatch itself rejects raises it too.

**The authority is AWS.** This is a local reimplementation of documented behaviour, tested on the documentation's
own examples (see :mod:`constructs_obs.testing.filter_pattern` for the details). Where it and CloudWatch disagree,
CloudWatch is right: to confirm a pattern against the real service, run ``aws logs test-metric-filter
--filter-pattern '...' --log-event-messages '...'`` (the ``TestMetricFilter`` API) with the same lines.

This module imports neither aws-cdk-lib nor boto3; it needs only the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable

from constructs_obs.testing import filter_pattern

__all__ = ["FilterPatternError", "count", "matches", "matching"]


class FilterPatternError(ValueError):
    """The pattern is not valid filter-pattern syntax, or uses a part this evaluator does not implement.

    The message names the problem and the pattern. A subclass of ``ValueError``.
    """


def _parse(pattern: str) -> filter_pattern.FilterPattern:
    try:
        return filter_pattern.parse(pattern)
    except FilterPatternError:
        raise
    except ValueError as error:
        raise FilterPatternError(str(error)) from error


def matches(pattern: str, line: str) -> bool:
    """Whether the log event ``line`` matches the CloudWatch Logs filter ``pattern``.

    Raises:
        FilterPatternError: ``pattern`` is not valid, or not supported here.
    """
    return _parse(pattern).matches(line)


def matching(pattern: str, lines: Iterable[str]) -> list[str]:
    """The ``lines`` (one log event each) that ``pattern`` matches, in their order.

    Raises:
        FilterPatternError: ``pattern`` is not valid, or not supported here (even when ``lines`` is empty).
    """
    parsed = _parse(pattern)
    return [line for line in lines if parsed.matches(line)]


def count(pattern: str, lines: Iterable[str]) -> int:
    """How many of ``lines`` (one log event each) ``pattern`` matches: what a metric filter with the default
    metric value of 1 adds for them.

    Raises:
        FilterPatternError: ``pattern`` is not valid, or not supported here (even when ``lines`` is empty).
    """
    parsed = _parse(pattern)
    return sum(1 for line in lines if parsed.matches(line))
