"""LogPatternAlarms: patterns checked on real nginx and uvicorn/FastAPI lines, filters, alarms, options."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2

from constructs_obs import BasicAlarms, ContainerLogGroups, LogPatternAlarms, ObservedEc2Host
from constructs_obs.alarms.log_patterns import (
    BACKEND_ERROR_PATTERN,
    BACKEND_ERROR_REGEXES,
    NGINX_5XX_PATTERN,
    NGINX_COMBINED_FIELDS,
    NGINX_MAIN_FIELDS,
)
from constructs_obs.testing.filter_pattern import matches, split_fields
from tests.conftest import logical_id

UA = '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"'

# nginx's default combined format:
# $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
NGINX_5XX = [
    f'203.0.113.7 - - [27/Nov/2026:10:15:32 +0000] "GET /api/v1/lessons HTTP/1.1" 502 157 "https://learn.2sigma.io/app" {UA}',
    '198.51.100.23 - alice [27/Nov/2026:10:16:01 +0000] "POST /api/v1/chat HTTP/1.1" 504 167 "-" "python-requests/2.32.3"',
    '203.0.113.7 - - [27/Nov/2026:10:16:09 +0000] "GET /api/v1/lessons?page=2&sort=title HTTP/1.1" 500 0 "-" "curl/8.5.0"',
    f'2001:db8::1 - - [27/Nov/2026:10:17:44 +0000] "GET / HTTP/2.0" 503 197 "-" {UA}',
]
# The official image's main format adds "$http_x_forwarded_for" (the first two: lines nginx wrote, see
# tests/realprograms.py).
NGINX_MAIN_5XX = [
    '127.0.0.1 - - [27/Nov/2026:10:54:58 +0000] "GET /api/v1/lessons HTTP/1.1" 502 157 "-" "Python-urllib/3.11" "-"',
    '127.0.0.1 - - [27/Nov/2026:10:54:59 +0000] "GET /slow/chat HTTP/1.1" 504 167 "-" "Python-urllib/3.11" "-"',
    f'203.0.113.7 - - [27/Nov/2026:10:15:32 +0000] "GET /api/v1/lessons HTTP/1.1" 502 157 "-" {UA} "198.51.100.4"',
]
NGINX_NOT_5XX = [
    f'203.0.113.7 - - [27/Nov/2026:10:15:30 +0000] "GET /api/v1/lessons HTTP/1.1" 200 5120 "https://learn.2sigma.io/app" {UA}',
    '203.0.113.7 - - [27/Nov/2026:10:15:31 +0000] "GET /favicon.ico HTTP/1.1" 404 153 "-" "curl/8.5.0"',
    '203.0.113.7 - - [27/Nov/2026:10:15:31 +0000] "POST /api/v1/chat HTTP/1.1" 499 0 "-" "curl/8.5.0"',
    # A 200 whose size or path contains 5xx-looking numbers: the status field decides.
    '203.0.113.7 - - [27/Nov/2026:10:15:33 +0000] "GET /status/502 HTTP/1.1" 200 502 "-" "curl/8.5.0"',
    # nginx's error log goes to the same container output; its shape differs and it is not counted.
    "2026/11/27 10:15:32 [error] 29#29: *1 connect() failed (111: Connection refused) while connecting to "
    'upstream, client: 203.0.113.7, server: _, request: "GET /api/v1/lessons HTTP/1.1", upstream: '
    '"http://172.18.0.3:8000/api/v1/lessons", host: "learn.2sigma.io"',
    "/docker-entrypoint.sh: Configuration complete; ready for start up",
    # main format, not 5xx.
    '127.0.0.1 - - [27/Nov/2026:10:54:58 +0000] "GET /index.html HTTP/1.1" 200 12 "-" "Python-urllib/3.11" "-"',
    # Client-controlled text: a Basic-auth user name with spaces is logged unquoted as $remote_user (nginx
    # decodes it without auth_basic configured); quotes in the request line and user agent are logged as \x22.
    # Lines nginx wrote for such requests (tests/test_real_log_lines.py).
    '127.0.0.1 - a b c 500 [27/Nov/2026:10:54:59 +0000] "GET /index.html HTTP/1.1" 200 12 "-" "-" "-"',
    '127.0.0.1 - [x [27/Nov/2026:10:54:59 +0000] "GET /a:b HTTP/1.1" 404 153 "-" "-" "-"',
    '127.0.0.1 - a [b [27/Nov/2026:10:54:59 +0000] "GET /index.html HTTP/1.1" 200 12 "-" "-" "-"',
    '127.0.0.1 - - [27/Nov/2026:10:54:59 +0000] "GET /a 500 b HTTP/1.1" 400 157 "-" "-" "-"',
    '127.0.0.1 - - [27/Nov/2026:10:54:59 +0000] "GET /x\\x22y 500 \\x22z HTTP/1.1" 400 157 "-" "-" "-"',
    '127.0.0.1 - - [27/Nov/2026:10:54:59 +0000] "GET /ok HTTP/1.1" 404 153 "-" "curl\\x22 500 \\x22x" "-"',
]

# gunicorn's lines follow its glogging.py: error_fmt "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
# datefmt "[%Y-%m-%d %H:%M:%S %z]" (gunicorn 27.0.1).
BACKEND_ERRORS = [
    "ERROR:    Exception in ASGI application",
    "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', 8000): address already in use",
    "CRITICAL: Worker failed to boot.",
    "ERROR:app.services.llm:LLM call failed after 3 retries: ReadTimeout",
    "2026-11-27 10:15:32,123 - app.db - ERROR - could not connect to server: Connection refused",
    "2026-11-27 10:15:32,123 - sqlalchemy.pool.impl.QueuePool - CRITICAL - connection pool exhausted",
    "[2026-11-27 10:15:32 +0000] [1] [ERROR] Worker (pid:8) was sent SIGKILL! Perhaps out of memory?",
    "[2026-11-27 10:15:32 +0000] [1] [CRITICAL] WORKER TIMEOUT (pid:8)",
]
BACKEND_NOT_ERRORS = [
    'INFO:     172.18.0.5:43210 - "GET /api/v1/health HTTP/1.1" 200 OK',
    # The access line of a 500: the exception's ERROR line is what counts, once.
    'INFO:     172.18.0.5:43210 - "GET /api/v1/lessons HTTP/1.1" 500 Internal Server Error',
    "INFO:     Application startup complete.",
    "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    "WARNING:  Invalid HTTP request received.",
    "Traceback (most recent call last):",
    '  File "/app/app/api/lessons.py", line 42, in get_lessons',
    "ValueError: lesson 17 not found",
    "2026-11-27 10:15:32,123 - app.main - INFO - error rate reset after deploy",
    "Sentry initialized",
    "DEBUG:app.cache:errors=0 hits=12",
]

# Lines with client-controlled text that the server writes at INFO/WARNING or in a traceback, as uvicorn 0.54 and
# Python logging wrote them for hostile requests (tests/test_real_log_lines.py). The former term pattern counted
# the first five.
BACKEND_HOSTILE = [
    'INFO:     127.0.0.1:40920 - "GET /search?q=ERROR: HTTP/1.1" 200 OK',
    'INFO:     127.0.0.1:40936 - "GET /x?q=CRITICAL: HTTP/1.1" 200 OK',
    "INFO:app:search for ERROR:",
    "2026-11-27 10:55:15,259 - app.common - INFO - search for - ERROR -",
    "ValueError: lesson ERROR: x not found",
    'INFO:     127.0.0.1:40962 - "GET /%5BERROR%5D HTTP/1.1" 200 OK',
    'INFO:     127.0.0.1:40972 - "GET /ERROR%3A/CRITICAL%3A HTTP/1.1" 200 OK',
    'INFO:     127.0.0.1:40976 - "GET /boom?q=ERROR:%20x HTTP/1.1" 500 Internal Server Error',
    "2026-11-27 10:55:15,257 - app.common - INFO - search for ERROR:",
    "[2026-11-27 10:15:32 +0000] [1] [INFO] search for [ERROR] - ERROR - ERROR:",
    # The level's place holds another word: a logger name with a space is not the common format.
    "2026-11-27 10:15:32,123 - app db - ERROR - name with a space",
]

#: The backend pattern before it was anchored (issue "Alerts that really arrive", item 4).
OLD_BACKEND_TERM_PATTERN = '?"ERROR:" ?"CRITICAL:" ?"- ERROR -" ?"- CRITICAL -" ?"[ERROR]" ?"[CRITICAL]"'

# One unhandled exception as uvicorn writes it: one event per line through the awslogs driver.
UVICORN_EXCEPTION = [
    'INFO:     172.18.0.5:43210 - "GET /api/v1/lessons/17 HTTP/1.1" 500 Internal Server Error',
    "ERROR:    Exception in ASGI application",
    "Traceback (most recent call last):",
    '  File "/usr/local/lib/python3.12/site-packages/uvicorn/protocols/http/h11_impl.py", line 403, in run_asgi',
    "    result = await app(  # type: ignore[func-returns-value]",
    '  File "/app/app/api/lessons.py", line 42, in get_lesson',
    "    raise ValueError(f'lesson {lesson_id} not found')",
    "ValueError: lesson 17 not found",
]


def test_nginx_pattern_has_the_combined_fields_then_an_ellipsis() -> None:
    assert len(split_fields(NGINX_5XX[0])) == len(NGINX_COMBINED_FIELDS) == 9
    assert len(split_fields(NGINX_MAIN_5XX[0])) == len(NGINX_MAIN_FIELDS) == 10
    assert NGINX_5XX_PATTERN == (
        "[remote_addr, ident, remote_user, time_local = *:*, request = *HTTP/*, status_code = 5*, "
        "body_bytes_sent, http_referer, http_user_agent, ...]"
    )


@pytest.mark.parametrize("line", NGINX_5XX + NGINX_MAIN_5XX)
def test_nginx_5xx_lines_match(line: str) -> None:
    assert matches(NGINX_5XX_PATTERN, line)


@pytest.mark.parametrize("line", NGINX_NOT_5XX)
def test_other_nginx_lines_do_not(line: str) -> None:
    assert not matches(NGINX_5XX_PATTERN, line)


@pytest.mark.parametrize("line", BACKEND_ERRORS)
def test_backend_error_lines_match(line: str) -> None:
    assert matches(BACKEND_ERROR_PATTERN, line)


@pytest.mark.parametrize("line", BACKEND_NOT_ERRORS)
def test_other_backend_lines_do_not(line: str) -> None:
    assert not matches(BACKEND_ERROR_PATTERN, line)


@pytest.mark.parametrize("line", BACKEND_HOSTILE)
def test_client_text_is_never_counted(line: str) -> None:
    assert not matches(BACKEND_ERROR_PATTERN, line)


def test_the_old_term_pattern_counted_client_text() -> None:
    assert [matches(OLD_BACKEND_TERM_PATTERN, line) for line in BACKEND_HOSTILE[:5]] == [True] * 5


def test_backend_pattern_is_an_anchored_regex() -> None:
    assert BACKEND_ERROR_PATTERN.startswith("%^") and BACKEND_ERROR_PATTERN.endswith("%")
    assert all(regex.startswith("^") for regex in BACKEND_ERROR_REGEXES)
    assert len(BACKEND_ERROR_REGEXES) == 6
    assert BACKEND_ERROR_PATTERN == (
        r"%^ERROR:"
        r"|^\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d,\d{3}\s-\s\S+\s-\sERROR\s-"
        r"|^\[\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d\s\S+\]\s\[\d+\]\s\[ERROR\]"
        r"|^CRITICAL:"
        r"|^\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d,\d{3}\s-\s\S+\s-\sCRITICAL\s-"
        r"|^\[\d{4}-\d\d-\d\d\s\d\d:\d\d:\d\d\s\S+\]\s\[\d+\]\s\[CRITICAL\]%"
    )


def test_an_unhandled_exception_counts_once() -> None:
    assert sum(matches(BACKEND_ERROR_PATTERN, line) for line in UVICORN_EXCEPTION) == 1


def test_metric_filters_on_the_container_groups(staging: assertions.Template) -> None:
    for container, pattern, metric in (
        ("nginx", NGINX_5XX_PATTERN, "Nginx5xxResponses"),
        ("backend", BACKEND_ERROR_PATTERN, "BackendErrorLines"),
    ):
        group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName=f"/ai-tutor/{container}")
        staging.has_resource_properties(
            "AWS::Logs::MetricFilter",
            {
                "LogGroupName": {"Ref": group},
                "FilterPattern": pattern,
                # One count per line, no dimensions (one metric each), no default value (no data when quiet).
                "MetricTransformations": [
                    {"MetricName": metric, "MetricNamespace": "AiTutor/Staging", "MetricValue": "1"}
                ],
            },
        )
    staging.resource_count_is("AWS::Logs::MetricFilter", 3)


def _alarm(template: assertions.Template, name: str) -> dict[str, Any]:
    found = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": name}})
    assert len(found) == 1
    props: dict[str, Any] = next(iter(found.values()))["Properties"]
    return props


@pytest.mark.parametrize(
    ("name", "metric", "threshold", "description"),
    [
        (
            "ai-tutor-staging-nginx-5xx",
            "Nginx5xxResponses",
            1,
            "1 or more 5xx responses a minute, in 3 of the last 5 minutes, in /ai-tutor/nginx",
        ),
        (
            "ai-tutor-staging-backend-errors",
            "BackendErrorLines",
            1,
            "1 or more ERROR/CRITICAL lines a minute, in 3 of the last 5 minutes, in /ai-tutor/backend",
        ),
    ],
)
def test_log_pattern_alarms(
    staging: assertions.Template, name: str, metric: str, threshold: int, description: str
) -> None:
    topic = logical_id(staging, "AWS::SNS::Topic")
    props = _alarm(staging, name)
    assert props.pop("AlarmDescription").startswith(description)
    assert props == {
        "AlarmName": name,
        "Namespace": "AiTutor/Staging",
        "MetricName": metric,
        "Statistic": "Sum",
        # 1-minute counts, 3 bad minutes of the last 5: fires 180 s into a lasting failure, and one minute of
        # 502s while a deploy restarts the backend does not page anyone.
        "Period": 60,
        "EvaluationPeriods": 5,
        "DatapointsToAlarm": 3,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": topic}],
    }


def _shop(**props: Any) -> tuple[cdk.Stack, BasicAlarms, LogPatternAlarms]:
    stack = cdk.Stack(cdk.App(), "LogAlarmsTest", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api", "proxy"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, metrics_namespace="Shop/Prod")
    alarms = BasicAlarms(stack, "Alarms", host=host, name_prefix="shop", topic=None, emails=["a@example.com"])
    log_alarms = LogPatternAlarms(stack, "LogAlarms", alarms=alarms, **props)
    return stack, alarms, log_alarms


def test_other_containers_thresholds_and_namespace() -> None:
    stack, alarms, log_alarms = _shop(
        nginx_container="proxy", backend_container="api", nginx_5xx_threshold=20, backend_errors_threshold=1
    )
    template = assertions.Template.from_stack(stack)
    assert _alarm(template, "shop-nginx-5xx")["Threshold"] == 20
    assert _alarm(template, "shop-backend-errors")["Threshold"] == 1
    proxy = logical_id(template, "AWS::Logs::LogGroup", LogGroupName="/shop/proxy")
    template.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": {"Ref": proxy},
            "MetricTransformations": [assertions.Match.object_like({"MetricNamespace": "Shop/Prod"})],
        },
    )
    # The alarms join the BasicAlarms' list (and so the dashboard and its topic).
    assert alarms.alarms[-2:] == [log_alarms.nginx_5xx, log_alarms.backend_errors]
    assert set(log_alarms.metric_filters) == {"Nginx5xxResponses", "BackendErrorLines"}


def test_a_container_can_be_left_out() -> None:
    stack, _, log_alarms = _shop(nginx_container=None, backend_container="api")
    assert log_alarms.nginx_5xx is None
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::Logs::MetricFilter", 2)  # the crash filter and the backend's


def test_unknown_container_names_the_known_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"nginx_container='nginx' has no log group on LogAlarmsTest/Host; its containers are \['api', 'proxy'\]",
    ):
        _shop(nginx_container="nginx", backend_container="api")


@pytest.mark.parametrize("prop", ["nginx_5xx_threshold", "backend_errors_threshold"])
def test_thresholds_must_be_positive(prop: str) -> None:
    with pytest.raises(ValueError, match=rf"{prop} must be at least 1, got 0"):
        _shop(nginx_container="proxy", backend_container="api", **{prop: 0})


def test_the_window_is_configurable_and_checked() -> None:
    containers = {"nginx_container": "proxy", "backend_container": "api"}
    stack, _, _ = _shop(
        period=cdk.Duration.minutes(5),
        datapoints_to_alarm=1,
        evaluation_periods=1,
        nginx_5xx_threshold=5,
        **containers,
    )
    props = _alarm(assertions.Template.from_stack(stack), "shop-nginx-5xx")
    assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"], props["Threshold"]) == (
        300,
        1,
        1,
        5,
    )
    assert props["AlarmDescription"].startswith(
        "5 or more 5xx responses per 5 minutes, in 1 of the last 1 such periods, in /shop/proxy"
    )
    with pytest.raises(
        ValueError,
        match=r"datapoints_to_alarm must be between 1 and 2 \(the alarm's evaluation periods\), got 3",
    ):
        _shop(datapoints_to_alarm=3, evaluation_periods=2, **containers)


def test_the_librarys_advice_and_a_runbook_instead() -> None:
    stack, _, _ = _shop(backend_container="api")
    assert _alarm(assertions.Template.from_stack(stack), "shop-backend-errors")["AlarmDescription"] == (
        "1 or more ERROR/CRITICAL lines a minute, in 3 of the last 5 minutes, in /shop/api: errors keep coming. "
        "See the backend-errors saved query; each error's traceback follows its line in the log stream."
    )
    stack, _, _ = _shop(
        backend_container="api", runbook={"backend-errors": "Our tracker has each exception."}
    )
    assert _alarm(assertions.Template.from_stack(stack), "shop-backend-errors")["AlarmDescription"] == (
        "1 or more ERROR/CRITICAL lines a minute, in 3 of the last 5 minutes, in /shop/api: errors keep coming. "
        "Our tracker has each exception."
    )
