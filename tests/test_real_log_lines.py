"""The log-pattern alarms' patterns on lines real nginx and uvicorn/FastAPI wrote (tests/realprograms.py).

Nothing here is written to fit a pattern: each test starts the program, makes real requests (hostile ones too)
and counts what the metric filter would count, one CloudWatch event per output line, with the literal numbers
the requests should give.
"""

from __future__ import annotations

import pytest

from constructs_obs.alarms.log_patterns import BACKEND_ERROR_PATTERN, NGINX_5XX_PATTERN
from constructs_obs.testing.filter_pattern import matches, split_fields
from tests import realprograms
from tests.realprograms import (
    NGINX_REQUESTS,
    NginxRun,
    RawRequest,
    basic_auth,
    nginx_run,
    uvicorn_output_lines,
)

#: The nginx pattern before this fix: nine fixed slots, so only 9-field (combined) lines could match.
OLD_NINE_SLOT_PATTERN = (
    "[remote_addr, ident, remote_user, time_local, request, status_code = 5*, body_bytes_sent, "
    "http_referer, http_user_agent]"
)
#: The nine slots plus a trailing ellipsis and no other condition: matches main lines, and forged ones too.
ELLIPSIS_ONLY_PATTERN = OLD_NINE_SLOT_PATTERN[:-1] + ", ...]"
#: The backend pattern before this fix: any line containing one of the phrases.
OLD_BACKEND_TERM_PATTERN = '?"ERROR:" ?"CRITICAL:" ?"- ERROR -" ?"- CRITICAL -" ?"[ERROR]" ?"[CRITICAL]"'

#: Requests whose text a client controls, sent byte for byte after NGINX_REQUESTS: none is a 5xx.
NGINX_HOSTILE = (
    RawRequest("/a 500 b"),  # spaces in the request line (nginx answers 400)
    RawRequest('/x"y 500 "z'),  # quotes in the request line: nginx logs them as \x22
    RawRequest("/missing", headers=(("User-Agent", 'curl" 500 "x'),)),
    # $remote_user is the Basic-auth user name, logged unquoted with its spaces: "a b c 500" puts 500 in the
    # sixth field of a 200 line.
    RawRequest("/index.html", headers=(basic_auth("a b c 500"),)),
    # A [ in the user name merges it with the time field; a : in the path looks like a time.
    RawRequest("/a:b", headers=(basic_auth("[x"),)),
    RawRequest("/index.html", headers=(basic_auth("[x y 500"),)),
)

#: 5xx flags of the lines NGINX_REQUESTS give: 200, 404, 502, 502, 504, 500, 503.
NGINX_EXPECTED = [False, False, True, True, True, True, True]

pytestmark = pytest.mark.xdist_group(
    "real_log_lines"
)  # one worker starts these programs, one after the other


@pytest.fixture(scope="module", params=["main", "combined"])
def nginx_lines(request: pytest.FixtureRequest) -> tuple[str, NginxRun]:
    log_format: str = request.param
    return log_format, nginx_run(log_format, raw_requests=NGINX_HOSTILE)


def test_nginx_wrote_one_line_per_request(nginx_lines: tuple[str, NginxRun]) -> None:
    log_format, run = nginx_lines
    assert len(run.access) == len(NGINX_REQUESTS) + len(NGINX_HOSTILE) == 13
    # main (the official image's format) has ten fields, combined nine.
    assert len(split_fields(run.access[0])) == {"main": 10, "combined": 9}[log_format]
    assert run.access[0].startswith("127.0.0.1 - - [")
    assert '"GET /index.html HTTP/1.1" 200 12 "-" "Python-urllib/' in run.access[0]
    assert '"GET /api/v1/lessons HTTP/1.1" 502 157 "-" "Python-urllib/' in run.access[2]
    assert run.access[2].endswith('"-"' if log_format == "main" else '"')


def test_nginx_5xx_pattern_counts_exactly_the_5xx_lines(nginx_lines: tuple[str, NginxRun]) -> None:
    _, run = nginx_lines
    counted = [matches(NGINX_5XX_PATTERN, line) for line in run.access]
    assert counted == NGINX_EXPECTED + [False] * len(NGINX_HOSTILE)
    assert sum(counted) == 5


def test_the_old_nine_slot_pattern_missed_every_line_of_the_official_image(
    nginx_lines: tuple[str, NginxRun],
) -> None:
    log_format, run = nginx_lines
    count = sum(matches(OLD_NINE_SLOT_PATTERN, line) for line in run.access)
    assert count == {"main": 0, "combined": 5}[log_format]


def test_an_ellipsis_alone_would_count_forged_lines(nginx_lines: tuple[str, NginxRun]) -> None:
    """Why the pattern pins time_local and request: a Basic-auth user name shifts a forged 500 into place."""
    _, run = nginx_lines
    hostile = run.access[len(NGINX_REQUESTS) :]
    forged = [line for line in hostile if matches(ELLIPSIS_ONLY_PATTERN, line)]
    assert len(forged) == 1
    assert " - a b c 500 [" in forged[0]
    assert '"GET /index.html HTTP/1.1" 200 12 ' in forged[0]  # nginx answered 200


def test_nginx_error_log_lines_are_not_counted(nginx_lines: tuple[str, NginxRun]) -> None:
    # The official image sends the error log to the container's output too: its lines must not count.
    _, run = nginx_lines
    assert any(
        "connect() failed (111: Connection refused) while connecting to upstream" in e for e in run.errors
    )
    assert any("upstream timed out (110: Connection timed out)" in e for e in run.errors)
    assert sum(matches(NGINX_5XX_PATTERN, line) for line in run.errors) == 0


# --------------------------------------------------------------------------------------------------------------
# uvicorn / FastAPI

#: Requests making the server write error lines: two unhandled exceptions (one with client text in its
#: message), an ERROR and a CRITICAL in Python's default format, an ERROR in the common format.
SERVER_ERRORS = (
    RawRequest("/"),
    RawRequest("/boom"),
    RawRequest("/log-error"),
    RawRequest("/log-critical"),
    RawRequest("/log-error-common"),
    RawRequest("/boom?q=ERROR:%20x"),
)

#: What a client can send to put error words in the server's output, as a real client sends them: literal where
#: the request line allows it, URL-encoded where it does not (h11 rejects a raw space: WARNING, 400).
HOSTILE = (
    RawRequest("/search?q=ERROR:"),
    RawRequest("/x?q=CRITICAL:"),
    RawRequest("/search?q=-%20ERROR%20-"),
    RawRequest("/search?q=- ERROR -"),
    RawRequest("/search?q=[ERROR]"),
    RawRequest("/[ERROR]"),
    RawRequest("/ERROR:/CRITICAL:"),
)


@pytest.fixture(scope="module")
def server_error_lines() -> list[str]:
    return uvicorn_output_lines(SERVER_ERRORS, second_server_on_same_port=True)


@pytest.fixture(scope="module")
def hostile_lines() -> list[str]:
    return uvicorn_output_lines(HOSTILE)


def test_uvicorn_writes_no_colours_without_a_tty(server_error_lines: list[str]) -> None:
    assert not any("\x1b[" in line for line in server_error_lines)
    assert "INFO:     Application startup complete." in server_error_lines


def test_each_server_error_counts_once(server_error_lines: list[str]) -> None:
    counted = [line for line in server_error_lines if matches(BACKEND_ERROR_PATTERN, line)]
    assert len(counted) == 6
    assert counted[0] == "ERROR:    Exception in ASGI application"
    assert counted[1] == "ERROR:app:LLM call failed after 3 retries: ReadTimeout"
    assert counted[2] == "CRITICAL:app:database unreachable"
    assert counted[3].endswith(" - app.common - ERROR - could not connect to server: Connection refused")
    assert counted[4] == "ERROR:    Exception in ASGI application"
    assert counted[5].startswith("ERROR:    [Errno 98] error while attempting to bind on address ")
    # Two exceptions, each with a traceback of many lines and a 500 access line: one count each.
    assert server_error_lines.count("Traceback (most recent call last):") == 2
    assert len(server_error_lines) > 40
    access_500 = [line for line in server_error_lines if line.endswith('" 500 Internal Server Error')]
    assert len(access_500) == 2
    assert not any(matches(BACKEND_ERROR_PATTERN, line) for line in access_500)


def test_client_text_in_an_exception_is_not_counted(server_error_lines: list[str]) -> None:
    assert "ValueError: lesson ERROR: x not found" in server_error_lines
    assert not matches(BACKEND_ERROR_PATTERN, "ValueError: lesson ERROR: x not found")
    # The old pattern counted the exception three times: its ERROR line, the ValueError line, the access line.
    start = next(i for i, line in enumerate(server_error_lines) if "GET /boom?q=ERROR:%20x HTTP/1.1" in line)
    end = server_error_lines.index("ValueError: lesson ERROR: x not found") + 1
    boom = server_error_lines[start:end]
    assert boom[0].endswith('"GET /boom?q=ERROR:%20x HTTP/1.1" 500 Internal Server Error')
    assert boom[1:3] == ["ERROR:    Exception in ASGI application", "Traceback (most recent call last):"]
    assert sum(matches(OLD_BACKEND_TERM_PATTERN, line) for line in boom) == 3
    assert sum(matches(BACKEND_ERROR_PATTERN, line) for line in boom) == 1


def test_hostile_requests_count_nothing(hostile_lines: list[str]) -> None:
    assert sum(matches(BACKEND_ERROR_PATTERN, line) for line in hostile_lines) == 0
    # They reached the output: the access lines (query strings unencoded), the app's INFO lines, h11's warning.
    assert any(line.endswith('"GET /search?q=ERROR: HTTP/1.1" 200 OK') for line in hostile_lines)
    assert any(line.endswith('"GET /x?q=CRITICAL: HTTP/1.1" 200 OK') for line in hostile_lines)
    assert "INFO:app:search for - ERROR -" in hostile_lines
    assert "INFO:app:search for [ERROR]" in hostile_lines
    assert "WARNING:  Invalid HTTP request received." in hostile_lines


def test_the_old_term_pattern_counted_hostile_requests(hostile_lines: list[str]) -> None:
    # ERROR: -> access line and both app lines (3); CRITICAL: -> access line (1); - ERROR - -> both app lines
    # (2); [ERROR] in the query -> access line and both app lines (3). Paths are re-encoded (%3A, %5B): 0.
    assert sum(matches(OLD_BACKEND_TERM_PATTERN, line) for line in hostile_lines) == 9


def test_newlines_in_logged_client_text_forge_lines() -> None:
    """The limit of any line-based pattern: an app logging raw client text lets a %0A start a line of its own.

    Documented in constructs_obs/alarms/log_patterns.py: log client text with %r, or strip newlines.
    """
    lines = uvicorn_output_lines((RawRequest("/search?q=x%0AERROR:%20forged"),))
    assert lines.count("ERROR: forged") == 2  # one per app logger
    assert sum(matches(BACKEND_ERROR_PATTERN, line) for line in lines) == 2


def test_a_missing_nginx_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realprograms.shutil, "which", lambda *_args, **_kwargs: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="nginx is not installed"):
        realprograms.require_program("nginx")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test, not skip it"):
        realprograms.require_program("nginx")
