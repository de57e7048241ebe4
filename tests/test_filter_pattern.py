"""The local filter-pattern evaluator, checked on its own against the examples of AWS's filter-pattern docs."""

from __future__ import annotations

import json
import re

import pytest

from constructs_obs.testing.filter_pattern import matches, parse, split_fields

# The documentation's JSON example event.
DOC_EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
    }
)

# The documentation's compound-condition example event.
COMPOUND_EVENT = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [{"id": 2, "email": "John.Doe@example.com"}, {"id": 3, "email": "Jane.Doe@example.com"}],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)

APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355',
]


@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        # Single term, case-sensitive substring (the docs: ERROR matches "Exiting with ERRORCODE: -1").
        ("ERROR", "[ERROR] A fatal exception has occurred", True),
        ("ERROR", "Exiting with ERRORCODE: -1", True),
        ("ERROR", "error: lower case", False),
        # Include and exclude.
        ('"ERROR" -"Exiting"', "Exiting with ERRORCODE: -1", False),
        ('"ERROR" -"Exiting"', "[ERROR] A fatal exception has occurred", True),
        # Multiple terms must all occur.
        ("ERROR Exception", "[ERROR] Caught IllegalArgumentException", True),
        ("ERROR Exception", "[ERROR] Unhandled Exception", True),
        ("ERROR Exception", "[ERROR] A fatal exception has occurred", False),
        ("Failed to process the request", "[WARN] Failed to process the request", True),
        ("Failed to process the request", "[ERROR] Unable to continue: Failed to process the request", True),
        # OR terms: ?ERROR ?WARN matches all three docs events, ERROR WARN only the first, ERROR -WARN the second.
        ("?ERROR ?WARN", "ERROR WARN message", True),
        ("?ERROR ?WARN", "ERROR message", True),
        ("?ERROR ?WARN", "WARN message", True),
        ("?ERROR ?WARN", "INFO message", False),
        ("ERROR WARN", "ERROR WARN message", True),
        ("ERROR WARN", "ERROR message", False),
        ("ERROR -WARN", "ERROR message", True),
        ("ERROR -WARN", "ERROR WARN message", False),
        # A quoted phrase is matched as a whole.
        ('"ERROR 401"', "[ERROR 401] UNAUTHORIZED REQUEST", True),
        ('"ERROR 401"', "ERROR 400 401", False),
        # The empty pattern matches everything.
        ("", "anything at all", True),
    ],
)
def test_term_patterns(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.eventType = "UpdateTrail" }', True),
        ("{ $.eventType = UpdateTrail }", True),
        ('{ $.eventType = "DeleteTrail" }', False),
        ("{ $.sourceIPAddress != 123.123.* }", True),
        ("{ $.sourceIPAddress != 111.111.* }", False),
        ('{ $.arrayKey[0] = "value" }', True),
        ('{ $.arrayKey[1] = "value" }', False),
        ("{ $.objectList[1].id = 2 }", True),
        ("{ $.objectList[0].id = 2 }", False),
        ("{ $.SomeObject IS NULL }", True),
        ("{ $.ThisFlag IS NULL }", False),
        ("{ $.SomeOtherObject NOT EXISTS }", True),
        ("{ $.eventType NOT EXISTS }", False),
        ("{ $.ThisFlag IS TRUE }", True),
        ("{ $.ThisFlag IS FALSE }", False),
        # Wildcards only at the start or end; "Ev*ent" is the literal string.
        ("{ $.eventType = *Trail }", True),
        ("{ $.eventType = Update* }", True),
        ("{ $.eventType = Up*Trail }", False),
        # A selector pointing at an array never matches, for = and != alike.
        ("{ $.arrayKey = 1 }", False),
        ("{ $.arrayKey != 1 }", False),
    ],
)
def test_json_patterns_on_the_docs_event(pattern: str, expected: bool) -> None:
    assert matches(pattern, DOC_EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        (
            '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch && '
            "$.actions[2] = nomatch }",
            True,
        ),
        (
            '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) && '
            "$.actions[2] = nomatch }",
            False,
        ),
    ],
)
def test_json_compound_conditions_follow_the_docs(pattern: str, expected: bool) -> None:
    assert matches(pattern, COMPOUND_EVENT) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("{ $.latency >= 500 }", 500, True),
        ("{ $.latency >= 500 }", 499.9, False),
        ("{ $.latency > +1000 }", 1001, True),
        ("{ $.numbers < 10e3 }", 9999, True),
        ("{ $.numbers < 10e-3 }", 0.01, False),
        ("{ $.errorCode = 400 }", 400, True),
        ("{ $.errorCode != 500 }", 400, True),
        ("{ $.errorCode != 500 }", 500, False),
        ("{ $.latency > 1 }", "2", False),  # numeric operators need a JSON number
    ],
)
def test_json_numeric_comparisons(pattern: str, value: object, expected: bool) -> None:
    key = pattern.split("$.")[1].split()[0]
    assert matches(pattern, json.dumps({key: value})) is expected


def test_json_pattern_never_matches_text_events() -> None:
    assert not matches('{ $.level = "error" }', "level=error not json")


def test_space_delimited_fields_follow_brackets_and_quotes() -> None:
    assert split_fields(APACHE[0]) == [
        "127.0.0.1",
        "-",
        "frank",
        "10/Oct/2000:13:25:15 -0700",
        "GET /apache_pb.gif HTTP/1.0",
        "200",
        "1534",
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ip, user, username, timestamp, request, status_code, bytes]", [True, True, True]),
        ("[ip, user, username, timestamp, request, status_code]", [False, False, False]),  # field count
        ("[..., status_code, bytes]", [True, True, True]),
        ("[ip, user, ..., status_code, bytes]", [True, True, True]),
        ("[ip, user, ...]", [True, True, True]),
        ("[ip, user, username, timestamp, request, status_code, bytes > 1000]", [True, True, True]),
        ("[ip, user, username, timestamp, request, status_code, bytes > 5000]", [False, True, False]),
        ("[ip, user, username, timestamp, request, status_code = 200, bytes]", [True, False, True]),
        ("[ip, user, username, timestamp, request, status_code = 5*, bytes]", [False, True, False]),
        ("[ip, user, username, timestamp, request = *gif*, status_code = 2*, bytes]", [True, False, True]),
        (
            "[ip, user, username, timestamp, request, status_code = 2* && status_code != 200, bytes]",
            [False] * 3,
        ),
        (
            "[ip, user, username, timestamp, request, status_code = 500 || bytes = 4355, bytes]",
            [False, True, True],
        ),
    ],
)
def test_space_delimited_patterns_on_the_docs_apache_lines(pattern: str, expected: list[bool]) -> None:
    assert [matches(pattern, line) for line in APACHE] == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[w1=ERROR, w2]", [False, True, False]),
        ("[w1=ERROR || w1=WARN, w2]", [False, True, True]),
        ("[w1=ERROR, ...]", [True, True, False]),
    ],
)
def test_space_delimited_or_from_the_docs(pattern: str, expected: list[bool]) -> None:
    events = ["ERROR WARN message", "ERROR message", "WARN message"]
    assert [matches(pattern, event) for event in events] == expected


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("ERROR:", r"term 'ERROR:' .* needs it in double quotes"),
        ('"unterminated', "unterminated double quote"),
        ("[w1 = %ERROR|WARN%, w2]", r"regular expressions \(%\.\.\.%\) inside"),
        ("{ $.level = %ERROR% }", r"regular expressions \(%\.\.\.%\) inside"),
        ("[a, b", "must end with"),
        ("[a, b = , c]", "cannot parse condition"),
        ("[a, b > high]", "needs a number"),
        ("{ $.a = 1", "must end with"),
        ("{ $.a 1 }", "expected an operator"),
        ("{ ($.a = 1 }", "ends where"),
        ("{ a = 1 }", r"expected a \$\. selector"),
        ("{ $.a IS MAYBE }", "unknown test IS MAYBE"),
    ],
)
def test_invalid_patterns_are_rejected(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse(pattern)


# The examples of CloudWatch Logs' "Supported regular expressions (regex) syntax" page,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/regex-expressions.html, with the strings it says they
# match or do not match.
@pytest.mark.parametrize(
    ("pattern", "message", "expected"),
    [
        ("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", True),
        ("%AUTHORIZED%", "[SUCCESS 200] AUTHORIZED REQUEST", True),
        ("%AUTHORIZED%", "[SUCCESS 200] OK", False),
        (r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "client 10.0.12.7 connected", True),
        (r"%\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}%", "client localhost connected", False),
        ("%[Ee]rror|[Ff]ail%", "error: disk full", True),
        ("%[Ee]rror|[Ff]ail%", "Failed to open", True),
        ("%[Ee]rror|[Ff]ail%", "all good", False),
        # ^ and $ anchor at the start and end of the event.
        ("%^[hc]at%", "hat trick", True),
        ("%^[hc]at%", "cat", True),
        ("%^[hc]at%", "the cat", False),
        ("%[hc]at$%", "the cat", True),
        ("%[hc]at$%", "cat food", False),
        ("%colou?r%", "color", True),
        ("%colou?r%", "colour", True),
        ("%[abc]%", "xbx", True),
        ("%[abc]%", "xyz", False),
        ("%[a-z]%", "123q", True),
        ("%[abcx-z]%", "y", True),
        ("%[abcx-z]%", "w", False),
        ("%^a{3,5}$%", "aaa", True),
        ("%^a{3,5}$%", "aaaaa", True),
        ("%^a{3,5}$%", "aa", False),
        ("%^a{3,5}$%", "aaaaaa", False),
        ("%^a{3,}$%", "aaaaaa", True),
        ("%^a{,2}$%", "aa", True),
        ("%^a{,2}$%", "aaa", False),
        ("%^a{3, 5}$%", "aaaa", True),  # the page writes {m, n} with a space
        ("%gra|ey%", "gray", True),
        ("%gra|ey%", "grey", True),
        # Each alternative keeps its own anchor.
        ("%^starting|^initializing|^shutting down%", "starting ...", True),
        ("%^starting|^initializing|^shutting down%", "initializing ...", True),
        ("%^starting|^initializing|^shutting down%", "shutting down", True),
        ("%^starting|^initializing|^shutting down%", "skipping initializing ...", False),
        ("%abcc|ab[^c]$%", "abcc ...", True),
        ("%abcc|ab[^c]$%", "aba", True),
        ("%abcc|ab[^c]$%", "aac ...", False),
        (r"%\[.\]%", "[a]", True),
        (r"%\[.\]%", "[7]", True),
        (r"%\[.\]%", "[]]", True),
        (r"%\[.\]%", "[ ]", True),
        (r"%\[.\]%", "[ab]", False),
        (r"%10\.10\.0\.1%", "10.10.0.1", True),
        (r"%10\.10\.0\.1%", "10010,051", False),
        ("%10.10.0.1%", "10010,051", True),  # the page's warning: an unescaped . matches any character
        ("%ab*c%", "ac", True),
        ("%ab*c%", "abc", True),
        ("%ab*c%", "abbbc", True),
        ("%ab[0-9]*%", "ab129", True),
        ("%ab+c%", "abbc", True),
        ("%ab+c%", "ac", False),
        ("%.at%", "hat", True),
        ("%.at%", "#at", True),
        ("%.at%", " at", True),
        ("%.at%", "at", False),
        (r"%\d%", "port 80", True),
        (r"%\d%", "port", False),
        (r"%^\D%", "port 80", True),
        (r"%^\D%", "80", False),
        (r"%a\sb%", "a b", True),
        (r"%a\sb%", "a\tb", True),
        (r"%a\Sb%", "a b", False),
        (r"%^\w+$%", "a_Z_0", True),
        (r"%^\w+$%", "a-b", False),
        (r"%\W%", "a-b", True),
        (r"%\x3A%", "a:b", True),
        (r"%\x28%", "f(x)", True),
        (r"%\x28%", "fx", False),
        # Documented symbols, escaped or not.
        (r"%^[a-z]+:\-_#=@/;,%", "key:-_#=@/;,", True),
    ],
)
def test_regex_patterns_follow_the_docs(pattern: str, message: str, expected: bool) -> None:
    assert matches(pattern, message) is expected


@pytest.mark.parametrize(
    ("pattern", "error"),
    [
        ("%something!%", "character '!' is not supported"),  # the page's own example of a rejected pattern
        ("%(ERROR|WARN)%", "do not support parentheses"),
        ("%caf\u00e9%", "multi-byte characters"),
        ("%%", "empty regular expression"),
        (r"%\bERROR%", "not in CloudWatch's documented regex syntax"),
        (r"%\x4%", "not in CloudWatch's documented regex syntax"),
        ('%"quoted"%', "character '\"' is not supported"),
        ("%a{x}%", "must start a {m,n} repetition"),
        ("%[a-%", "invalid regular expression"),
    ],
)
def test_regex_patterns_outside_the_documented_subset_are_rejected(pattern: str, error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error) if "{" in error else error):
        parse(pattern)
