"""Checks shared by the constructs: each raises a ``ValueError`` or ``TypeError`` that names the prop, the value
received and what is expected, before anything reaches AWS. Unresolved tokens are left alone (their value is
only known at deploy time)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Token

#: CloudWatch Logs: log group names are 1-512 characters of these, and may not start with ``aws/`` (Amazon
#: CloudWatch Logs API Reference, CreateLogGroup, logGroupName: pattern ``[\.\-_/#A-Za-z0-9]+``).
LOG_GROUP_NAME_MAX_LENGTH = 512
_LOG_GROUP_NAME_CHARS = re.compile(r"[.\-_/#A-Za-z0-9]+")

#: A docker-compose service name, which is also one log group name segment: no ``/``.
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: Containers whose logs can hold query data (statements, parameters, connection strings). A name matches when
#: any of its alphabetic words is one of these: ``postgres``, ``postgres-16``, ``app_db``, ``redis-cache``.
DATABASE_WORDS: frozenset[str] = frozenset(
    {
        "postgres",
        "postgresql",
        "pg",
        "pgbouncer",
        "timescaledb",
        "mysql",
        "mariadb",
        "redis",
        "valkey",
        "keydb",
        "memcached",
        "mongo",
        "mongodb",
        "cassandra",
        "scylla",
        "couchdb",
        "couchbase",
        "neo4j",
        "clickhouse",
        "cockroachdb",
        "influxdb",
        "elasticsearch",
        "opensearch",
        "db",
        "database",
    }
)

#: CloudWatch alarm names: 1-255 characters ("Length Constraints: Minimum length of 1. Maximum length of 255.",
#: Amazon CloudWatch API Reference, PutMetricAlarm, AlarmName). These constructs keep them to printable ASCII so
#: they read the same in the console, in ARNs and in notification email subjects.
ALARM_NAME_MAX_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
#: CloudWatch alarm descriptions: at most 1024 characters (PutMetricAlarm, AlarmDescription).
ALARM_DESCRIPTION_MAX_LENGTH = 1024

#: CloudWatch dashboard names: "The maximum length is 255, and valid characters are A-Z, a-z, 0-9, "-", and "_""
#: (Amazon CloudWatch API Reference, PutDashboard, DashboardName).
DASHBOARD_NAME_MAX_LENGTH = 255
_DASHBOARD_NAME = re.compile(r"[A-Za-z0-9_-]+")
#: The characters of a name prefix: a dashboard name's, since the prefix names the default dashboard too.
NAME_PREFIX_CHARACTERS = "letters, digits, '-' and '_'"

#: CloudWatch Logs Insights saved query names: 1-255 characters, ``/`` making folders in the console (Amazon
#: CloudWatch Logs API Reference, PutQueryDefinition, name; AWS::Logs::QueryDefinition, Name).
QUERY_NAME_MAX_LENGTH = 255

#: CloudWatch alarm periods: 10, 20 or 30 seconds (high resolution, custom metrics only) or a multiple of 60.
HIGH_RESOLUTION_PERIODS_SECONDS: tuple[int, ...] = (10, 20, 30)
#: An alarm's evaluation range (period x evaluation periods) is at most one day for periods under an hour, and at
#: most seven days otherwise.
MAX_EVALUATION_RANGE_SECONDS_SHORT_PERIOD = 86_400
MAX_EVALUATION_RANGE_SECONDS = 604_800

#: An address SNS can deliver to: a local part of the usual characters (no leading, trailing or double dot), an
#: ``@``, and a domain of dot-separated labels ending in an alphabetic top-level domain.
_EMAIL = re.compile(
    r"(?!\.)(?!.*\.\.)[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}(?<!\.)"
    r"@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)

#: IAM role names: 1-64 characters of letters, digits and ``+=,.@_-`` (IAM API Reference, CreateRole, RoleName:
#: pattern ``[\w+=,.@-]+``).
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def unresolved(value: Any) -> bool:
    """Whether ``value`` is (or holds) a token only known at deploy time."""
    if isinstance(value, Duration):
        return value.is_unresolved()
    if isinstance(value, float) and not math.isfinite(value):
        return False  # number tokens are finite; NaN and infinity cannot even cross to jsii (JSON)
    return Token.is_unresolved(value)


def require_type(prop: str, value: Any, expected: type | tuple[type, ...], description: str) -> None:
    """``TypeError`` unless ``value`` is an instance of ``expected`` (described as ``description``)."""
    if not isinstance(value, expected):
        raise TypeError(f"{prop} must be {description}, got {_show(value)}")


def require_interface(prop: str, value: Any, attribute: str, description: str) -> None:
    """``TypeError`` unless ``value`` has ``attribute`` (a CDK interface such as ``ec2.IVpc`` by duck typing)."""
    if value is None or isinstance(value, (str, bytes, int, float)) or not hasattr(value, attribute):
        raise TypeError(f"{prop} must be {description}, got {_show(value)}")


def require_bool(prop: str, value: Any) -> None:
    """``TypeError`` unless ``value`` is ``True`` or ``False``."""
    require_type(prop, value, bool, "True or False")


def string_list(prop: str, values: Any, what: str) -> list[str]:
    """``values`` as a list of strings; ``TypeError`` for a bare string or anything else."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{prop} must be a list of {what}, got {_show(values)}")
    items = list(values)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{prop} must be a list of {what}, got {_show(item)} among {_show(items)}")
    return items


def no_duplicates(prop: str, values: Sequence[str], *, ignore_case: bool = False) -> None:
    """``ValueError`` naming the repeated values, if any."""
    seen: set[str] = set()
    repeated: list[str] = []
    for value in values:
        key = value.lower() if ignore_case else value
        if key in seen and value not in repeated:
            repeated.append(value)
        seen.add(key)
    if repeated:
        raise ValueError(f"{prop} must not repeat a value, got {list(values)!r} (repeated: {repeated!r})")


def log_group_prefix(prop: str, value: Any, *, longest_suffix: int) -> str:
    """A log group name prefix with trailing slashes removed (``/shop/`` -> ``/shop``).

    ``longest_suffix`` is the length of the longest ``/{container}`` that will follow it.
    """
    require_type(prop, value, str, "a string such as '/shop'")
    if unresolved(value):
        return str(value)
    prefix: str = value.rstrip("/")
    if not prefix:
        raise ValueError(f"{prop} must name something besides slashes, such as '/shop', got {value!r}")
    if not _LOG_GROUP_NAME_CHARS.fullmatch(prefix):
        raise ValueError(
            f"{prop} must use only the characters CloudWatch Logs allows in log group names "
            f"(letters, digits, '.', '-', '_', '/', '#'), got {value!r}"
        )
    if prefix.startswith("aws/"):
        raise ValueError(f"{prop} must not start with 'aws/', which CloudWatch Logs reserves, got {value!r}")
    if len(prefix) + longest_suffix > LOG_GROUP_NAME_MAX_LENGTH:
        raise ValueError(
            f"{prop} is too long: log group names are at most {LOG_GROUP_NAME_MAX_LENGTH} characters and "
            f"'{prefix}' plus the longest '/{{container}}' makes {len(prefix) + longest_suffix}, got {value!r}"
        )
    return prefix


def database_words(container: str) -> list[str]:
    """The words of ``container`` that name a database engine (empty if none)."""
    return [word for word in re.split(r"[^a-z]+", container.lower()) if word in DATABASE_WORDS]


def container_names(prop: str, values: Any, *, allow_database_containers: bool) -> list[str]:
    """Non-empty, unique docker-compose service names; database containers only when allowed."""
    containers = string_list(prop, values, "container names such as ['backend', 'nginx']")
    if not containers:
        raise ValueError(f"{prop} must name at least one container, got {containers!r}")
    for container in containers:
        if unresolved(container):
            continue
        if not _CONTAINER_NAME.fullmatch(container):
            raise ValueError(
                f"{prop} entries must be docker-compose service names (letters, digits, '.', '_', '-', starting "
                f"with a letter or digit; one log group name segment, so no '/'), got {container!r}"
            )
        words = database_words(container)
        if words and not allow_database_containers:
            raise ValueError(
                f"{prop} includes {container!r}, which looks like a database container ({', '.join(words)}). "
                "Database logs can hold query data (statements, parameters, sometimes credentials), so they "
                f"stay on the host on purpose (read them with `docker compose logs {container}`). Pass "
                "allow_database_containers=True to ship them to CloudWatch anyway."
            )
    no_duplicates(prop, containers)
    return containers


def email_addresses(prop: str, values: Any) -> list[str]:
    """Well-formed, unique (ignoring case) email addresses."""
    emails = string_list(prop, values, "email addresses such as ['ops@example.com']")
    for email in emails:
        if unresolved(email):
            continue
        if not _EMAIL.fullmatch(email):
            raise ValueError(
                f"{prop} entries must be email addresses such as 'ops@example.com', got {email!r}"
            )
    no_duplicates(prop, emails, ignore_case=True)
    return emails


def alarm_name_prefix(prop: str, value: Any, *, longest_suffix: str) -> None:
    """A prefix that makes valid alarm names ``{prefix}-{suffix}`` for suffixes up to ``longest_suffix``, and a
    valid dashboard name by itself (:class:`~constructs_obs.views.dashboard.HostDashboard`'s default name).

    Only a dashboard name's characters, so the prefix fails here, naming the prop, rather than in the dashboard
    later; they also keep ``*`` and ``?`` out of the ``{prefix}-*`` alarm ARN pattern the topic policy allows.
    """
    require_type(prop, value, str, "a string such as 'shop-prod'")
    if unresolved(value):
        return
    if not value:
        raise ValueError(f"{prop} must not be empty, got {value!r}")
    if not _DASHBOARD_NAME.fullmatch(value):
        raise ValueError(
            f"{prop} must use only {NAME_PREFIX_CHARACTERS}: it names the alarms ('{{prefix}}-{longest_suffix}', "
            f"...) and, by default, the dashboard, and CloudWatch allows only these characters in dashboard "
            f"names, got {value!r}"
        )
    longest = f"{value}-{longest_suffix}"
    if len(longest) > ALARM_NAME_MAX_LENGTH:
        raise ValueError(
            f"{prop} is too long: alarm names are at most {ALARM_NAME_MAX_LENGTH} characters and "
            f"'{{prefix}}-{longest_suffix}' would be {len(longest)}; use at most "
            f"{ALARM_NAME_MAX_LENGTH - len(longest_suffix) - 1} characters, got {len(value)}"
        )


def alarm_name(prop: str, value: str) -> None:
    """A full alarm name CloudWatch accepts (1-255 printable ASCII characters)."""
    if unresolved(value):
        return
    if not value or len(value) > ALARM_NAME_MAX_LENGTH or not _PRINTABLE_ASCII.fullmatch(value):
        raise ValueError(
            f"{prop} must make an alarm name of 1-{ALARM_NAME_MAX_LENGTH} printable ASCII characters, "
            f"got {value!r} ({len(value)} characters)"
        )


def alarm_description(prop: str, value: str) -> None:
    """An alarm description CloudWatch accepts: at most 1024 characters."""
    if not unresolved(value) and len(value) > ALARM_DESCRIPTION_MAX_LENGTH:
        raise ValueError(
            f"{prop} makes an alarm description of {len(value)} characters; CloudWatch allows at most "
            f"{ALARM_DESCRIPTION_MAX_LENGTH}: shorten it, got {value[:60]!r}..."
        )


def dashboard_name(prop: str, value: Any) -> None:
    """A CloudWatch dashboard name: 1-255 of ``A-Z a-z 0-9 - _``."""
    require_type(prop, value, str, "a string such as 'shop-prod'")
    if unresolved(value):
        return
    if not _DASHBOARD_NAME.fullmatch(value) or len(value) > DASHBOARD_NAME_MAX_LENGTH:
        raise ValueError(
            f"{prop} must be a CloudWatch dashboard name: 1-{DASHBOARD_NAME_MAX_LENGTH} {NAME_PREFIX_CHARACTERS}, "
            f"got {value!r}"
        )


def query_name(prop: str, value: str) -> None:
    """A Logs Insights saved query name CloudWatch Logs accepts: 1-255 characters, none a control character."""
    if unresolved(value):
        return
    if not value or len(value) > QUERY_NAME_MAX_LENGTH or not value.isprintable():
        raise ValueError(
            f"{prop} must make saved query names of 1-{QUERY_NAME_MAX_LENGTH} printable characters, got "
            f"{value!r} ({len(value)} characters)"
        )


def log_group_name(prop: str, value: str) -> None:
    """A CloudWatch Logs log group name: 1-512 of ``. - _ / # A-Z a-z 0-9``."""
    if unresolved(value):
        return
    if not _LOG_GROUP_NAME_CHARS.fullmatch(value) or len(value) > LOG_GROUP_NAME_MAX_LENGTH:
        raise ValueError(
            f"{prop} makes the log group name {value!r} ({len(value)} characters); CloudWatch Logs allows 1-"
            f"{LOG_GROUP_NAME_MAX_LENGTH} letters, digits, '.', '-', '_', '/' and '#'"
        )


def runbook_texts(prop: str, value: Any, known: Sequence[str]) -> dict[str, str]:
    """``{alarm name: text}`` for names among ``known``, each text non-empty; ``{}`` for None."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{prop} must map alarm names to texts, such as {{{known[0]!r}: 'What we do: ...'}}, got {_show(value)}"
        )
    unknown = [name for name in value if name not in known]
    if unknown:
        raise ValueError(f"{prop} names unknown alarms {unknown}; the alarms are {list(known)}")
    for name, text in value.items():
        require_type(f"{prop}[{name!r}]", text, str, "a text")
        if not text.strip():
            raise ValueError(f"{prop}[{name!r}] must not be empty, got {text!r}")
    return dict(value)


def number(prop: str, value: Any) -> float:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{prop} must be a number, got {_show(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{prop} must be a finite number, got {value!r}")
    return float(value)


def percent_threshold(prop: str, value: Any) -> None:
    """A percentage a ``greater than`` alarm can cross: at least 0 and below 100."""
    number(prop, value)
    if unresolved(value):
        return
    if not 0 <= value < 100:
        raise ValueError(
            f"{prop} must be between 0 and 100 (below 100: a percentage never exceeds 100, so the alarm "
            f"would never fire), got {value!r}"
        )


def integer(prop: str, value: Any, *, minimum: int, maximum: int | None = None, unit: str = "") -> int:
    """An int (not a bool) in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{prop} must be a whole number, got {_show(value)}")
    if unresolved(value):
        return value
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{prop} must be {bounds}{unit}, got {value!r}")
    return value


def alarm_period(prop: str, value: Any, *, high_resolution: bool = False) -> int | None:
    """Seconds of a CloudWatch alarm period: a multiple of 60 (or 10/20/30 for high-resolution metrics).

    Returns ``None`` for an unresolved duration.
    """
    require_type(prop, value, Duration, "a Duration such as Duration.minutes(5)")
    if unresolved(value):
        return None
    seconds = value.to_seconds()
    allowed = seconds > 0 and seconds % 60 == 0
    if high_resolution:
        allowed = allowed or seconds in HIGH_RESOLUTION_PERIODS_SECONDS
        expected = "10, 20 or 30 seconds, or a multiple of 60 seconds"
    else:
        expected = (
            "a multiple of 60 seconds (EC2 publishes its metrics at most once a minute; 10, 20 and 30 seconds "
            "are only for high-resolution custom metrics)"
        )
    if not allowed:
        raise ValueError(f"{prop} must be {expected}, got {_duration(value)}")
    return int(seconds)


def evaluation_range(prop: str, evaluation_periods: int, period_seconds: int | None) -> None:
    """``evaluation_periods`` >= 1, and ``evaluation_periods x period`` within what CloudWatch evaluates."""
    integer(prop, evaluation_periods, minimum=1)
    if period_seconds is None or unresolved(evaluation_periods):
        return
    limit = (
        MAX_EVALUATION_RANGE_SECONDS_SHORT_PERIOD if period_seconds < 3600 else MAX_EVALUATION_RANGE_SECONDS
    )
    total = evaluation_periods * period_seconds
    if total > limit:
        raise ValueError(
            f"{prop} must span at most {limit // 3600} hours of {period_seconds}-second periods (CloudWatch "
            f"evaluates an alarm over at most {limit // 86400} day{'s' if limit > 86400 else ''} for such "
            f"periods), got {evaluation_periods} periods = {total / 3600:g} hours"
        )


def whole_periods(prop: str, value: Any, period_prop: str, period_seconds: int | None) -> int | None:
    """How many periods ``value`` (a Duration) spans; it must be a whole multiple of at least one period."""
    require_type(prop, value, Duration, "a Duration such as Duration.minutes(10)")
    if period_seconds is None or unresolved(value):
        return None
    seconds = value.to_seconds()
    if seconds < period_seconds or seconds % period_seconds:
        raise ValueError(
            f"{prop} must be a whole multiple of {period_prop} ({period_seconds} seconds), got {_duration(value)}"
        )
    return int(seconds // period_seconds)


def datapoints(prop: str, value: Any, evaluation_periods: int) -> None:
    """``datapoints_to_alarm``: between 1 and ``evaluation_periods``."""
    integer(prop, value, minimum=1, maximum=evaluation_periods, unit=" (the alarm's evaluation periods)")


def role_name(prop: str, value: Any) -> None:
    """An IAM role name: 1-64 characters of letters, digits and ``+=,.@_-``."""
    require_type(prop, value, str, "a string")
    if not unresolved(value) and not _ROLE_NAME.fullmatch(value):
        raise ValueError(
            f"{prop} must be an IAM role name: 1-64 letters, digits and '+=,.@_-', got {value!r}"
        )


def tag_value(prop: str, value: Any) -> None:
    """An EC2 tag value: at most 256 characters."""
    require_type(prop, value, str, "a string")
    if not unresolved(value) and len(value) > 256:
        raise ValueError(
            f"{prop} must be at most 256 characters (an EC2 tag value), got {len(value)} characters"
        )


#: CloudWatch metric namespaces: 1-255 characters of letters, digits and ``.-_/#:``, not ``AWS/...`` (reserved).
_NAMESPACE = re.compile(r"[A-Za-z0-9.\-_/#:]{1,255}")


def metrics_namespace(prop: str, value: Any) -> None:
    """A custom CloudWatch metrics namespace: 1-255 of ``[A-Za-z0-9.-_/#:]``, not starting with ``AWS/``."""
    require_type(prop, value, str, "a string")
    if unresolved(value):
        return
    if not _NAMESPACE.fullmatch(value) or value.startswith(("AWS/", ":")):
        raise ValueError(
            f"{prop} must be a custom CloudWatch namespace: 1-255 letters, digits and '.-_/#:', not starting "
            f"with 'AWS/' (reserved for AWS services), got {value!r}"
        )


def _duration(value: Duration) -> str:
    seconds = value.to_seconds()
    human = value.to_human_string()
    return human if human == f"{seconds:g} seconds" else f"{human} ({seconds:g} seconds)"


def _show(value: Any) -> str:
    """``value`` for an error message: its repr and, for objects, its type."""
    if value is None or isinstance(value, (str, bytes, int, float, bool)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(_show(item) for item in value)}]"
    return f"a {type(value).__module__}.{type(value).__qualname__}"
