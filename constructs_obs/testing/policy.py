"""Evaluate a resource policy (an SNS topic policy, a KMS key policy) for one request, as AWS would.

Used to prove that the alert path is open: may ``cloudwatch.amazonaws.com`` call ``sns:Publish`` on the topic for
this alarm? The tests walk every alarm of a synthesized template through it, and ``obs-doctor`` can run it on a
deployed topic's policy. Pure Python (no CDK), so either can use it.

It implements the part of IAM's policy evaluation logic that resource policies of this library's kind use
(IAM User Guide, "Policy evaluation logic" and "IAM JSON policy elements: Condition operators"):

- An explicit ``Deny`` that applies wins; otherwise an ``Allow`` that applies is needed; otherwise the request is
  implicitly denied. (For a service principal calling within one account the resource policy alone decides.)
- A statement applies when its ``Principal`` (``"*"``, ``{"AWS": "*"}``, ``{"Service": ...}``, ``{"AWS": ARNs}``),
  ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource``/``NotResource``
  (case-sensitive wildcards) and every ``Condition`` match.
- Condition operators: ``String(Not)Equals``, ``StringEqualsIgnoreCase``, ``String(Not)Like``,
  ``Arn(Not)Equals`` and ``Arn(Not)Like`` (the same: each of the six ARN parts with wildcards), ``Bool``, ``Null`` and the numeric ones, each also with ``IfExists``. Several
  values for one key are ORed; several keys and operators are ANDed. A key missing from the request makes a
  positive operator false and a negated one (``...Not...``) true; ``IfExists`` makes a missing key true
  ("Condition keys missing from the request context" in the same guide). Condition key names are
  case-insensitive. ``ForAnyValue:``/``ForAllValues:`` and ``NotPrincipal`` raise :class:`UnsupportedPolicyError`:
  the answer would be a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Decision", "Request", "UnsupportedPolicyError", "evaluate"]


class UnsupportedPolicyError(ValueError):
    """The policy uses an element this evaluator does not implement."""


@dataclass(frozen=True)
class Request:
    """One request: who calls, what action, on which resource, with which context keys.

    Attributes:
        action: for example ``sns:Publish``.
        resource: the resource ARN.
        service: the calling service principal (``cloudwatch.amazonaws.com``), or None.
        principal_arn: the calling IAM principal's ARN, or None.
        context: condition keys and values (``aws:SourceAccount``, ``aws:SourceArn``, ``aws:SecureTransport``).
    """

    action: str
    resource: str
    service: str | None = None
    principal_arn: str | None = None
    context: Mapping[str, str | bool | Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The outcome: ``allowed``, and which statement decided (its Sid or index) and why."""

    allowed: bool
    reason: str


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.fullmatch(regex, value, flags) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: six colon-separated parts, each matched with wildcards (the resource part takes the rest)."""
    p_parts = pattern.split(":", 5)
    v_parts = value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(_wildcard(p, v, ignore_case=False) for p, v in zip(p_parts, v_parts, strict=True))


def _principal_matches(principal: Any, request: Request) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise UnsupportedPolicyError(f"unexpected Principal {principal!r}")
    for kind, values in principal.items():
        for value in _as_list(values):
            if kind == "AWS" and (value == "*" or (request.principal_arn and value == request.principal_arn)):
                return True
            if kind == "Service" and request.service is not None and value == request.service:
                return True
    return False


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_NUMERIC = {
    "NumericEquals": lambda a, b: a == b,
    "NumericNotEquals": lambda a, b: a != b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
    *_NUMERIC,
}


def _value_matches(operator: str, expected: str, actual: str) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return expected == actual
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return expected.lower() == actual.lower()
    if operator in ("StringLike", "StringNotLike"):
        return _wildcard(expected, actual, ignore_case=False)
    if operator in ("ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        # The guide: ArnEquals and ArnLike alike compare each colon-delimited part with wildcards.
        return _arn_like(expected, actual)
    if operator == "Bool":
        return str(expected).lower() == str(actual).lower()
    if operator in _NUMERIC:
        a, b = _number(actual), _number(expected)
        return a is not None and b is not None and bool(_NUMERIC[operator](a, b))
    raise UnsupportedPolicyError(f"condition operator {operator!r} is not supported")


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        raise UnsupportedPolicyError(f"set operator {operator!r} is not supported")
    base = operator.removesuffix("IfExists")
    if base not in _OPERATORS:
        raise UnsupportedPolicyError(f"condition operator {operator!r} is not supported")
    lowered = {k.lower(): v for k, v in context.items()}
    present = key.lower() in lowered
    if operator == "Null":
        wants_missing = any(str(v).lower() == "true" for v in _as_list(expected))
        return wants_missing != present
    if_exists = operator.endswith("IfExists")
    negated = "Not" in base
    if not present:
        return if_exists or negated
    actual_values = [
        str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(lowered[key.lower()])
    ]
    expected_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(expected)]
    if negated:
        positive = base.replace("Not", "", 1)
        return not any(_value_matches(positive, e, a) for e in expected_values for a in actual_values)
    return any(_value_matches(base, e, a) for e in expected_values for a in actual_values)


def _applies(statement: Mapping[str, Any], request: Request) -> bool:
    if "NotPrincipal" in statement:
        raise UnsupportedPolicyError("NotPrincipal is not supported")
    if not _principal_matches(statement.get("Principal"), request):
        return False
    if "Action" in statement:
        if not any(_wildcard(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif any(_wildcard(a, request.action, ignore_case=True) for a in _as_list(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(
            _wildcard(r, request.resource, ignore_case=False) for r in _as_list(statement["Resource"])
        ):
            return False
    elif any(
        _wildcard(r, request.resource, ignore_case=False) for r in _as_list(statement.get("NotResource"))
    ):
        return False
    conditions = statement.get("Condition", {})
    return all(
        _condition_holds(operator, key, expected, request.context)
        for operator, keys in conditions.items()
        for key, expected in keys.items()
    )


def _name(statement: Mapping[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"statement {index}")


def evaluate(policy: Mapping[str, Any], request: Request) -> Decision:
    """Whether ``policy`` lets ``request`` through: an applying Deny wins, else an applying Allow is needed."""
    statements = _as_list(policy.get("Statement"))
    allowed_by: str | None = None
    for index, statement in enumerate(statements):
        if not _applies(statement, request):
            continue
        if statement.get("Effect") == "Deny":
            return Decision(False, f"explicitly denied by {_name(statement, index)}")
        if statement.get("Effect") == "Allow" and allowed_by is None:
            allowed_by = _name(statement, index)
    if allowed_by is not None:
        return Decision(True, f"allowed by {allowed_by}")
    return Decision(False, f"no statement allows {request.action} for this principal on {request.resource}")
