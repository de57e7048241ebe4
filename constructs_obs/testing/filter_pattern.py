"""A local evaluator of CloudWatch Logs filter patterns, to test metric filters without AWS.

It implements the four pattern kinds of the CloudWatch Logs "Filter pattern syntax" documentation:

- **Term patterns**: ``ERROR``, ``"Failed to process"``, ``?ERROR ?WARN``, ``ERROR -Exiting``. Every plain term
  must occur in the event (case-sensitive substring, as documented: ``ERROR`` matches ``ERRORCODE``), at least
  one ``?`` term must occur when there are any, and no ``-`` term may occur. Terms with characters other than
  letters, digits and ``_`` must be double-quoted, as CloudWatch requires.
- **Space-delimited patterns**: ``[ip, user, ..., status_code = 5*, bytes]``. The event is split on spaces;
  text between ``[`` and ``]`` or between double quotes is one field (without the brackets or quotes). Each slot
  names a field and may carry conditions (``=``, ``!=`` with ``*`` wildcards; ``<``, ``>``, ``<=``, ``>=``, and
  ``=``/``!=`` on numbers) joined with ``&&`` and ``||``; ``...`` stands for any number of fields. Without an
  ellipsis the event must have exactly as many fields as the pattern has slots.
- **JSON patterns**: ``{ ($.Action = "die") && ($.Actor.Attributes.exitCode != "0") }``. Selectors ``$.a.b[0]``;
  ``=`` and ``!=`` on strings (``*`` wildcard at the start and/or end only; ``Ev*ent`` is literal, as
  documented) and numbers, ``<``, ``>``, ``<=``, ``>=`` on numbers, ``IS NULL``, ``IS TRUE``, ``IS FALSE``,
  ``EXISTS``, ``NOT EXISTS``; ``&&`` binds tighter than ``||``; parentheses group. A comparison whose selector
  is missing or points at an object or array is false (for ``=`` and ``!=`` alike); an event that is not JSON
  never matches.
- **Regular-expression patterns**: ``%^ERROR:|^CRITICAL:%``, the whole pattern between ``%`` signs, as in the
  CloudWatch Logs "Supported regular expressions (regex) syntax" documentation
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html). The event matches when the
  expression matches anywhere in it (``^`` and ``$`` anchor at its start and end). Only the documented subset is
  accepted: letters, digits, the symbols ``: _ # = @ / ; , -`` and spaces (the documentation's own
  ``%^starting|^initializing|^shutting down%`` has one); the operators ``^ $ ? [ ] { } | \\ * + .``; the escapes
  ``\\d \\D \\s \\S \\w \\W``, ``\\xhh`` and a backslash before an operator or symbol. Parentheses, other characters,
  other escapes and characters outside ASCII raise ``ValueError``, as CloudWatch rejects them.

Regular expressions inside space-delimited or JSON patterns (``[ip = %127\\.0%, ...]``) are not implemented:
:func:`parse` raises ``ValueError`` for them, so a test can never pass by accident on a pattern this evaluator does
not understand.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["FilterPattern", "matches", "parse", "split_fields"]


class FilterPattern(Protocol):
    """A parsed filter pattern."""

    def matches(self, message: str) -> bool:
        """Whether the log event ``message`` matches."""
        ...


def matches(pattern: str, message: str) -> bool:
    """Whether ``message`` matches the CloudWatch Logs filter ``pattern``."""
    return parse(pattern).matches(message)


def parse(pattern: str) -> FilterPattern:
    """Parse ``pattern``; ``ValueError`` naming the problem when it is not valid filter-pattern syntax."""
    text = pattern.strip()
    if len(text) >= 2 and text.startswith("%") and text.endswith("%"):
        return _RegexPattern.compile(text[1:-1], pattern)
    if "%" in text and re.search(r"%[^%]*%", text):
        raise ValueError(
            "regular expressions (%...%) inside term, space-delimited or JSON filter patterns are not supported "
            f"here: {pattern!r}"
        )
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ValueError(f"JSON filter pattern must end with '}}': {pattern!r}")
        return _JsonPattern(_JsonParser(text[1:-1], pattern).parse())
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"space-delimited filter pattern must end with ']': {pattern!r}")
        return _SpaceDelimitedPattern(_parse_slots(text[1:-1], pattern))
    return _parse_terms(text, pattern)


# --------------------------------------------------------------------------------------------------------------
# Shared: literal values, wildcards and comparisons


@dataclass(frozen=True)
class _Literal:
    text: str
    quoted: bool

    @property
    def number(self) -> float | None:
        if self.quoted:
            return None
        try:
            value = float(self.text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None


def _wildcard_equals(value: str, literal: _Literal) -> bool:
    """String equality with ``*`` at the start and/or end of the literal as a wildcard."""
    pattern = literal.text
    if pattern == "*":
        return True
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    core = pattern[1 if starts else 0 : len(pattern) - 1 if ends else len(pattern)]
    if starts and ends:
        return core in value
    if starts:
        return value.endswith(core)
    if ends:
        return value.startswith(core)
    return value == pattern


_ORDERING: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


def _to_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _compare_text(value: str, op: str, literal: _Literal) -> bool:
    """Compare a field's text (space-delimited events) with a literal."""
    number = literal.number
    if op in _ORDERING:
        field_number = _to_number(value)
        if number is None:
            raise ValueError(f"operator {op} needs a number, got {literal.text!r}")
        return field_number is not None and _ORDERING[op](field_number, number)
    field_number = _to_number(value)
    if number is not None and field_number is not None:
        equal = field_number == number
    else:
        equal = _wildcard_equals(value, literal)
    return equal if op == "=" else not equal


# --------------------------------------------------------------------------------------------------------------
# Regular-expression patterns

_REGEX_LITERALS = frozenset(string.ascii_letters + string.digits + ":_#=@/;,- ")
_REGEX_OPERATORS = frozenset("^$?[]{}|\\*+.")
_REGEX_CLASS_ESCAPES = frozenset("dDsSwW")
_REGEX_BRACES = re.compile(r"\{\s*(\d*)\s*(?:(,)\s*(\d*)\s*)?\}")


@dataclass(frozen=True)
class _RegexPattern:
    expression: re.Pattern[str]

    @classmethod
    def compile(cls, body: str, pattern: str) -> _RegexPattern:
        """Check ``body`` against the documented subset and compile it (ASCII classes, as documented)."""
        if not body:
            raise ValueError(f"empty regular expression in filter pattern {pattern!r}")
        out: list[str] = []
        i = 0
        while i < len(body):
            char = body[i]
            if char == "\\":
                escaped = body[i + 1 : i + 2]
                if escaped in _REGEX_CLASS_ESCAPES:
                    out.append(body[i : i + 2])
                    i += 2
                    continue
                if escaped in _REGEX_OPERATORS or (escaped in _REGEX_LITERALS and not escaped.isalnum()):
                    out.append(re.escape(escaped))
                    i += 2
                    continue
                if escaped == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", body[i + 2 : i + 4]):
                    out.append(body[i : i + 4])
                    i += 4
                    continue
                raise ValueError(
                    f"escape {body[i : i + 2]!r} is not in CloudWatch's documented regex syntax: {pattern!r}"
                )
            if char in "()":
                raise ValueError(f"CloudWatch regex filter patterns do not support parentheses: {pattern!r}")
            if not char.isascii():
                raise ValueError(
                    f"CloudWatch regex filter patterns do not support multi-byte characters: {pattern!r}"
                )
            if char not in _REGEX_LITERALS and char not in _REGEX_OPERATORS:
                raise ValueError(
                    f"character {char!r} is not supported in CloudWatch regex filter patterns: {pattern!r}"
                )
            if char == "{":
                braces = _REGEX_BRACES.match(body, i)
                if braces is None or not (braces.group(1) or braces.group(3)):
                    raise ValueError(f"'{{' must start a {{m,n}} repetition in filter pattern {pattern!r}")
                low, comma, high = braces.groups()
                out.append("{" + low + (comma or "") + (high or "") + "}")
                i = braces.end()
                continue
            out.append(char)
            i += 1
        try:
            return cls(re.compile("".join(out), re.ASCII))
        except re.error as error:
            raise ValueError(f"invalid regular expression in filter pattern {pattern!r}: {error}") from error

    def matches(self, message: str) -> bool:
        return self.expression.search(message) is not None


# --------------------------------------------------------------------------------------------------------------
# Term patterns


_BARE_TERM = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class _TermPattern:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    excluded: tuple[str, ...]

    def matches(self, message: str) -> bool:
        if not all(term in message for term in self.required):
            return False
        if self.optional and not any(term in message for term in self.optional):
            return False
        return not any(term in message for term in self.excluded)


def _read_quoted(text: str, start: int, pattern: str) -> tuple[str, int]:
    """The content of the double-quoted string opening at ``text[start]`` and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise ValueError(f"unterminated double quote in filter pattern {pattern!r}")


def _parse_terms(text: str, pattern: str) -> _TermPattern:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        bucket = required
        if text[i] in "?-":
            bucket = optional if text[i] == "?" else excluded
            i += 1
            while i < len(text) and text[i].isspace():
                i += 1
        if i < len(text) and text[i] == '"':
            term, i = _read_quoted(text, i, pattern)
        else:
            end = i
            while end < len(text) and not text[end].isspace():
                end += 1
            term = text[i:end]
            if not _BARE_TERM.fullmatch(term):
                raise ValueError(
                    f"term {term!r} in filter pattern {pattern!r} has characters other than letters, digits "
                    "and '_': CloudWatch needs it in double quotes"
                )
            i = end
        if not term:
            raise ValueError(f"empty term in filter pattern {pattern!r}")
        bucket.append(term)
    return _TermPattern(tuple(required), tuple(optional), tuple(excluded))


# --------------------------------------------------------------------------------------------------------------
# Space-delimited patterns


def split_fields(message: str) -> list[str]:
    """Split a log event into space-delimited fields; ``[...]`` and ``"..."`` are one field each, unwrapped."""
    fields: list[str] = []
    i, n = 0, len(message)
    while i < n:
        char = message[i]
        if char == " ":
            i += 1
            continue
        closer = {'"': '"', "[": "]"}.get(char)
        if closer is not None:
            end = message.find(closer, i + 1)
            if end != -1:
                fields.append(message[i + 1 : end])
                i = end + 1
                continue
        end = message.find(" ", i)
        end = n if end == -1 else end
        fields.append(message[i:end])
        i = end
    return fields


@dataclass(frozen=True)
class _Condition:
    field: str
    op: str
    literal: _Literal

    def evaluate(self, values: Mapping[str, str]) -> bool:
        value = values.get(self.field)
        return value is not None and _compare_text(value, self.op, self.literal)


@dataclass(frozen=True)
class _Slot:
    """One position of a space-delimited pattern: a named field with an OR of ANDs of conditions, or ``...``."""

    name: str | None  # None for the ellipsis
    any_of: tuple[tuple[_Condition, ...], ...] = ()

    def evaluate(self, values: Mapping[str, str]) -> bool:
        return not self.any_of or any(all(c.evaluate(values) for c in group) for group in self.any_of)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SLOT_CONDITION = re.compile(
    r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(!=|<=|>=|=|<|>)\s*("(?:[^"\\]|\\.)*"|[^\s&|]+)\s*'
)


def _split_top_level(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, i = 0, False, 0
    while i < len(text):
        char = text[i]
        if char == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        if not quoted and depth == 0 and text.startswith(separator, i):
            parts.append("".join(current))
            current = []
            i += len(separator)
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _literal(token: str) -> _Literal:
    if token.startswith('"'):
        return _Literal(json.loads(token), quoted=True)
    return _Literal(token, quoted=False)


def _parse_slots(inner: str, pattern: str) -> tuple[_Slot, ...]:
    slots: list[_Slot] = []
    parts = _split_top_level(inner, ",")
    for index, raw in enumerate(parts):
        text = raw.strip()
        if not text:
            if index != len(parts) - 1 or index == 0:
                raise ValueError(f"empty field in space-delimited filter pattern {pattern!r}")
            continue  # a trailing comma, as in the documentation's own example
        if text in ("...", "\u2026"):
            slots.append(_Slot(None))
            continue
        if _IDENT.fullmatch(text):
            slots.append(_Slot(text))
            continue
        groups: list[tuple[_Condition, ...]] = []
        name: str | None = None
        for disjunct in _split_top_level(text, "||"):
            conditions: list[_Condition] = []
            for conjunct in _split_top_level(disjunct, "&&"):
                match = _SLOT_CONDITION.fullmatch(conjunct)
                if match is None:
                    raise ValueError(
                        f"cannot parse condition {conjunct.strip()!r} in filter pattern {pattern!r}"
                    )
                field, op, token = match.groups()
                literal = _literal(token)
                if op in _ORDERING and literal.number is None:
                    raise ValueError(
                        f"operator {op} needs a number, got {token!r} in filter pattern {pattern!r}"
                    )
                conditions.append(_Condition(field, op, literal))
                name = name or field
            groups.append(tuple(conditions))
        slots.append(_Slot(name, tuple(groups)))
    if not slots:
        raise ValueError(f"space-delimited filter pattern has no fields: {pattern!r}")
    return tuple(slots)


@dataclass(frozen=True)
class _SpaceDelimitedPattern:
    slots: tuple[_Slot, ...]

    def matches(self, message: str) -> bool:
        fields = split_fields(message)
        return any(self._conditions_hold(binding) for binding in self._bindings(0, fields, {}))

    def _bindings(
        self, slot_index: int, fields: Sequence[str], bound: dict[str, str]
    ) -> Iterator[dict[str, str]]:
        """Every assignment of ``fields`` to the slots from ``slot_index`` on (ellipses take 0+ fields)."""
        if slot_index == len(self.slots):
            if not fields:
                yield dict(bound)
            return
        slot = self.slots[slot_index]
        if slot.name is None:
            for skip in range(len(fields) + 1):
                yield from self._bindings(slot_index + 1, fields[skip:], bound)
            return
        if not fields:
            return
        yield from self._bindings(slot_index + 1, fields[1:], {**bound, slot.name: fields[0]})

    def _conditions_hold(self, values: Mapping[str, str]) -> bool:
        return all(slot.evaluate(values) for slot in self.slots)


# --------------------------------------------------------------------------------------------------------------
# JSON patterns

_MISSING = object()


@dataclass(frozen=True)
class _Selector:
    path: tuple[str | int, ...]
    text: str

    def resolve(self, document: Any) -> Any:
        node = document
        for step in self.path:
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    return _MISSING
                node = node[step]
            else:
                if not isinstance(node, dict) or step not in node:
                    return _MISSING
                node = node[step]
        return node


@dataclass(frozen=True)
class _JsonComparison:
    selector: _Selector
    op: str
    literal: _Literal | None  # None for the IS/EXISTS forms

    def evaluate(self, document: Any) -> bool:
        value = self.selector.resolve(document)
        if self.op == "NOT EXISTS":
            return value is _MISSING
        if self.op == "EXISTS":
            return value is not _MISSING
        if self.op == "IS NULL":
            return value is None
        if self.op in ("IS TRUE", "IS FALSE"):
            return value is (self.op == "IS TRUE")
        assert self.literal is not None
        if value is _MISSING or value is None or isinstance(value, (dict, list, bool)):
            return False
        number = self.literal.number
        if self.op in _ORDERING:
            return (
                isinstance(value, (int, float)) and number is not None and _ORDERING[self.op](value, number)
            )
        if isinstance(value, (int, float)) and number is not None:
            equal = value == number
        elif isinstance(value, (int, float)):
            equal = _wildcard_equals(json.dumps(value), self.literal)
        else:
            equal = _wildcard_equals(str(value), self.literal)
        return equal if self.op == "=" else not equal


@dataclass(frozen=True)
class _JsonBool:
    op: str  # "&&" or "||"
    operands: tuple[Any, ...]

    def evaluate(self, document: Any) -> bool:
        results = (operand.evaluate(document) for operand in self.operands)
        return all(results) if self.op == "&&" else any(results)


@dataclass(frozen=True)
class _JsonPattern:
    expression: Any

    def matches(self, message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return bool(self.expression.evaluate(document))


_JSON_TOKEN = re.compile(
    r"""\s*(?:
        (?P<paren>[()])
      | (?P<bool>&&|\|\|)
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$(?:\.[A-Za-z0-9_-]+|\[\d+\])*)
      | (?P<word>[^\s()&|=!<>"]+)
    )""",
    re.VERBOSE,
)
_SELECTOR_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


class _JsonParser:
    """Recursive descent: or := and ('||' and)*; and := primary ('&&' primary)*; primary := '(' or ')' | test."""

    def __init__(self, text: str, pattern: str) -> None:
        self.pattern = pattern
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _JSON_TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise ValueError(f"cannot parse JSON filter pattern {pattern!r} at {text[position:]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.index = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, what: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ValueError(f"JSON filter pattern {self.pattern!r} ends where {what} was expected")
        self.index += 1
        return token

    def parse(self) -> Any:
        expression = self._or()
        if self._peek() is not None:
            raise ValueError(f"unexpected {self._peek()[1]!r} in JSON filter pattern {self.pattern!r}")  # type: ignore[index]
        return expression

    def _or(self) -> Any:
        operands = [self._and()]
        while self._peek() == ("bool", "||"):
            self.index += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else _JsonBool("||", tuple(operands))

    def _and(self) -> Any:
        operands = [self._primary()]
        while self._peek() == ("bool", "&&"):
            self.index += 1
            operands.append(self._primary())
        return operands[0] if len(operands) == 1 else _JsonBool("&&", tuple(operands))

    def _primary(self) -> Any:
        kind, value = self._next("a condition")
        if (kind, value) == ("paren", "("):
            inner = self._or()
            if self._next("')'") != ("paren", ")"):
                raise ValueError(f"missing ')' in JSON filter pattern {self.pattern!r}")
            return inner
        if kind != "selector":
            raise ValueError(f"expected a $. selector, got {value!r} in JSON filter pattern {self.pattern!r}")
        selector = _Selector(tuple(int(i) if i else k for k, i in _SELECTOR_STEP.findall(value[1:])), value)
        kind, op = self._next("an operator")
        if kind == "word" and op.upper() in ("IS", "NOT", "EXISTS"):
            return self._keyword_test(selector, op.upper())
        if kind != "op":
            raise ValueError(f"expected an operator after {value}, got {op!r} in {self.pattern!r}")
        kind, token = self._next("a value")
        if kind not in ("string", "word"):
            raise ValueError(f"expected a value after {value} {op}, got {token!r} in {self.pattern!r}")
        literal = _literal(token)
        if op in _ORDERING and literal.number is None:
            raise ValueError(
                f"operator {op} needs a number, got {token!r} in JSON filter pattern {self.pattern!r}"
            )
        return _JsonComparison(selector, op, literal)

    def _keyword_test(self, selector: _Selector, first: str) -> _JsonComparison:
        if first == "EXISTS":
            return _JsonComparison(selector, "EXISTS", None)
        _kind, second = self._next("a keyword")
        second = second.upper()
        if first == "NOT" and second == "EXISTS":
            return _JsonComparison(selector, "NOT EXISTS", None)
        if first == "IS" and second in ("NULL", "TRUE", "FALSE"):
            return _JsonComparison(selector, f"IS {second}", None)
        raise ValueError(f"unknown test {first} {second} in JSON filter pattern {self.pattern!r}")
