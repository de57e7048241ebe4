"""Bad input gets a clear error at construction: one case per bad input, each asserting the whole message.

Every message names the prop, the value received and what is expected. Unresolved tokens are left alone.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    HostDashboard,
    LogPatternAlarms,
    ObservedEc2Host,
    SavedQueries,
)

Case = tuple[dict[str, Any], type[Exception], str]


class Parts:
    """A stack with a VPC, log groups and a host, shared by the cases (each adds its construct under a new id)."""

    def __init__(self) -> None:
        self.stack = cdk.Stack(cdk.App(), "Validation", env=cdk.Environment(region="eu-west-1"))
        self.vpc = ec2.Vpc(self.stack, "Vpc", nat_gateways=0, max_azs=1)
        self.logs = ContainerLogGroups(self.stack, "Logs", prefix="/shop", containers=["api"])
        self.host = ObservedEc2Host(self.stack, "Host", vpc=self.vpc, log_groups=self.logs)
        self._count = 0

    def new_id(self) -> str:
        self._count += 1
        return f"Case{self._count}"


@pytest.fixture(scope="module")
def parts() -> Parts:
    return Parts()


def _raises(error: type[Exception], message: str) -> Any:
    """``pytest.raises`` matching the whole message literally."""
    return pytest.raises(error, match=f"^{re.escape(message)}$")


# --- ContainerLogGroups -------------------------------------------------------------------------------------

DATABASE_MESSAGE = (
    "containers includes {name!r}, which looks like a database container ({words}). Database logs can hold "
    "query data (statements, parameters, sometimes credentials), so they stay on the host on purpose (read them "
    "with `docker compose logs {name}`). Pass allow_database_containers=True to ship them to CloudWatch anyway."
)
SERVICE_NAME_MESSAGE = (
    "containers entries must be docker-compose service names (letters, digits, '.', '_', '-', starting with a "
    "letter or digit; one log group name segment, so no '/'), got {name!r}"
)
PREFIX_CHARS_MESSAGE = (
    "prefix must use only the characters CloudWatch Logs allows in log group names (letters, digits, '.', '-', "
    "'_', '/', '#'), got {value!r}"
)

LOG_GROUP_CASES: dict[str, Case] = {
    "empty-container-list": (
        {"containers": []},
        ValueError,
        "containers must name at least one container, got []",
    ),
    "duplicated-container": (
        {"containers": ["api", "worker", "api"]},
        ValueError,
        "containers must not repeat a value, got ['api', 'worker', 'api'] (repeated: ['api'])",
    ),
    "one-string-instead-of-a-list": (
        {"containers": "backend"},
        TypeError,
        "containers must be a list of container names such as ['backend', 'nginx'], got 'backend'",
    ),
    "container-name-not-a-string": (
        {"containers": ["api", 3]},
        TypeError,
        "containers must be a list of container names such as ['backend', 'nginx'], got 3 among ['api', 3]",
    ),
    "container-name-with-a-slash": (
        {"containers": ["api/v2"]},
        ValueError,
        SERVICE_NAME_MESSAGE.format(name="api/v2"),
    ),
    "container-name-with-a-space": (
        {"containers": ["web app"]},
        ValueError,
        SERVICE_NAME_MESSAGE.format(name="web app"),
    ),
    "container-name-starting-with-a-dash": (
        {"containers": ["-api"]},
        ValueError,
        SERVICE_NAME_MESSAGE.format(name="-api"),
    ),
    "container-name-empty": ({"containers": [""]}, ValueError, SERVICE_NAME_MESSAGE.format(name="")),
    "postgres": (
        {"containers": ["backend", "postgres"]},
        ValueError,
        DATABASE_MESSAGE.format(name="postgres", words="postgres"),
    ),
    "postgres-image-style-name": (
        {"containers": ["postgres-16"]},
        ValueError,
        DATABASE_MESSAGE.format(name="postgres-16", words="postgres"),
    ),
    "mysql": ({"containers": ["mysql"]}, ValueError, DATABASE_MESSAGE.format(name="mysql", words="mysql")),
    "mariadb": (
        {"containers": ["mariadb"]},
        ValueError,
        DATABASE_MESSAGE.format(name="mariadb", words="mariadb"),
    ),
    "redis": (
        {"containers": ["redis-cache"]},
        ValueError,
        DATABASE_MESSAGE.format(name="redis-cache", words="redis"),
    ),
    "mongo": ({"containers": ["mongo"]}, ValueError, DATABASE_MESSAGE.format(name="mongo", words="mongo")),
    "db-service": (
        {"containers": ["app_db"]},
        ValueError,
        DATABASE_MESSAGE.format(name="app_db", words="db"),
    ),
    "empty-prefix": (
        {"prefix": ""},
        ValueError,
        "prefix must name something besides slashes, such as '/shop', got ''",
    ),
    "slash-only-prefix": (
        {"prefix": "/"},
        ValueError,
        "prefix must name something besides slashes, such as '/shop', got '/'",
    ),
    "prefix-with-a-space": (
        {"prefix": "/ai tutor"},
        ValueError,
        PREFIX_CHARS_MESSAGE.format(value="/ai tutor"),
    ),
    "prefix-with-a-colon": (
        {"prefix": "/shop:prod"},
        ValueError,
        PREFIX_CHARS_MESSAGE.format(value="/shop:prod"),
    ),
    "prefix-reserved-by-aws": (
        {"prefix": "aws/shop"},
        ValueError,
        "prefix must not start with 'aws/', which CloudWatch Logs reserves, got 'aws/shop'",
    ),
    "prefix-too-long": (
        {"prefix": "/" + "a" * 508, "containers": ["api"]},
        ValueError,
        "prefix is too long: log group names are at most 512 characters and '/" + "a" * 508 + "' plus the "
        "longest '/{container}' makes 513, got '/" + "a" * 508 + "'",
    ),
    "prefix-not-a-string": ({"prefix": 5}, TypeError, "prefix must be a string such as '/shop', got 5"),
    "retention-as-a-number": ({"retention": 30}, TypeError, "retention must be a logs.RetentionDays, got 30"),
    "removal-policy-as-a-string": (
        {"removal_policy": "retain"},
        TypeError,
        "removal_policy must be a RemovalPolicy, got 'retain'",
    ),
    "encryption-key-as-an-arn": (
        {"encryption_key": "arn:aws:kms:eu-west-1:111111111111:key/abc"},
        TypeError,
        "encryption_key must be a kms.IKey, got 'arn:aws:kms:eu-west-1:111111111111:key/abc'",
    ),
    "database-opt-in-not-a-bool": (
        {"allow_database_containers": "yes"},
        TypeError,
        "allow_database_containers must be True or False, got 'yes'",
    ),
}


@pytest.mark.parametrize(("props", "error", "message"), LOG_GROUP_CASES.values(), ids=LOG_GROUP_CASES.keys())
def test_container_log_groups_refuses(
    parts: Parts, props: dict[str, Any], error: type[Exception], message: str
) -> None:
    construct_id = parts.new_id()
    with _raises(error, message):
        ContainerLogGroups(parts.stack, construct_id, **{"prefix": "/app", "containers": ["api"], **props})
    assert parts.stack.node.try_find_child(construct_id) is None, "a refused construct leaves nothing behind"


def test_database_containers_ship_only_on_explicit_opt_in(parts: Parts) -> None:
    groups = ContainerLogGroups(
        parts.stack, parts.new_id(), prefix="/db", containers=["postgres"], allow_database_containers=True
    )
    assert groups.log_group_name("postgres") == "/db/postgres"


def test_names_that_only_contain_database_letters_are_not_databases(parts: Parts) -> None:
    names = ["dbt-docs", "feedback", "mongoose-api", "pgadmin4", "dashboard"]
    groups = ContainerLogGroups(parts.stack, parts.new_id(), prefix="/apps", containers=names)
    assert groups.containers == names


# --- ObservedEc2Host -----------------------------------------------------------------------------------------

REMOTE_LOGIN_MESSAGE = (
    "public_ports would open {ports} to the whole internet, got {got}. The host needs no open port for a shell: "
    "Session Manager (aws ssm start-session --target <instance id>). To let your own network in, use "
    "host.connections.allow_from(ec2.Peer.ipv4('203.0.113.0/24'), ec2.Port.tcp(22)); to open it to the internet "
    "anyway, pass allow_remote_login_from_internet=True"
)

HOST_CASES: dict[str, Case] = {
    "log-groups-none": (
        {"log_groups": None},
        TypeError,
        "log_groups is required: the ContainerLogGroups this host's containers ship their output to (its role "
        "may write to those groups and nowhere else), got None",
    ),
    "log-groups-as-a-log-group-name": (
        {"log_groups": "/ai-tutor/backend"},
        TypeError,
        "log_groups must be the ContainerLogGroups this host's containers ship to (wrap plain log groups in "
        "ContainerLogGroups), got '/ai-tutor/backend'",
    ),
    "vpc-as-an-id": (
        {"vpc": "vpc-0123456789abcdef0"},
        TypeError,
        "vpc must be an ec2.IVpc, got 'vpc-0123456789abcdef0'",
    ),
    "instance-type-as-a-string": (
        {"instance_type": "t3.small"},
        TypeError,
        "instance_type must be an ec2.InstanceType, got 't3.small'",
    ),
    "machine-image-as-an-ami-id": (
        {"machine_image": "ami-0123456789abcdef0"},
        TypeError,
        "machine_image must be an ec2.IMachineImage, got 'ami-0123456789abcdef0'",
    ),
    "role-name-with-a-space": (
        {"role_name": "shop role"},
        ValueError,
        "role_name must be an IAM role name: 1-64 letters, digits and '+=,.@_-', got 'shop role'",
    ),
    "role-name-too-long": (
        {"role_name": "r" * 65},
        ValueError,
        f"role_name must be an IAM role name: 1-64 letters, digits and '+=,.@_-', got '{'r' * 65}'",
    ),
    "instance-name-too-long": (
        {"instance_name": "n" * 257},
        ValueError,
        "instance_name must be at most 256 characters (an EC2 tag value), got 257 characters",
    ),
    "root-volume-below-the-ami": (
        {"root_volume_size_gib": 4},
        ValueError,
        "root_volume_size_gib must be between 8 and 16384 GiB (the AMI's 8 GiB snapshot up to gp3's maximum), got 4",
    ),
    "root-volume-beyond-gp3": (
        {"root_volume_size_gib": 20_000},
        ValueError,
        "root_volume_size_gib must be between 8 and 16384 GiB (the AMI's 8 GiB snapshot up to gp3's maximum), "
        "got 20000",
    ),
    "root-volume-fractional": (
        {"root_volume_size_gib": 30.5},
        TypeError,
        "root_volume_size_gib must be a whole number, got 30.5",
    ),
    "compose-version-latest": (
        {"compose_version": "latest"},
        ValueError,
        "compose_version must be a Docker Compose release tag like 'v2.40.3' (it goes into the download URL and "
        "the user data script), got 'latest'",
    ),
    "compose-version-with-shell": (
        {"compose_version": "v2.40.3; rm -rf /"},
        ValueError,
        "compose_version must be a Docker Compose release tag like 'v2.40.3' (it goes into the download URL and "
        "the user data script), got 'v2.40.3; rm -rf /'",
    ),
    "termination-protection-as-a-string": (
        {"termination_protection": "yes"},
        TypeError,
        "termination_protection must be True or False, got 'yes'",
    ),
    "detailed-monitoring-as-a-number": (
        {"detailed_monitoring": 1},
        TypeError,
        "detailed_monitoring must be True or False, got 1",
    ),
    "hop-limit-zero": (
        {"metadata_hop_limit": 0},
        ValueError,
        "metadata_hop_limit must be between 1 and 64, got 0",
    ),
    "hop-limit-as-a-string": (
        {"metadata_hop_limit": "2"},
        TypeError,
        "metadata_hop_limit must be a whole number, got '2'",
    ),
    "elastic-ip-as-a-string": (
        {"elastic_ip": "no"},
        TypeError,
        "elastic_ip must be True or False, got 'no'",
    ),
    "ssh-open-to-the-internet": (
        {"public_ports": (80, 443, 22)},
        ValueError,
        REMOTE_LOGIN_MESSAGE.format(ports="22 (SSH)", got="[80, 443, 22]"),
    ),
    "rdp-open-to-the-internet": (
        {"public_ports": (3389,)},
        ValueError,
        REMOTE_LOGIN_MESSAGE.format(ports="3389 (RDP)", got="[3389]"),
    ),
    "remote-login-opt-in-as-a-string": (
        {"public_ports": (22,), "allow_remote_login_from_internet": "yes"},
        TypeError,
        "allow_remote_login_from_internet must be True or False, got 'yes'",
    ),
}


@pytest.mark.parametrize(("props", "error", "message"), HOST_CASES.values(), ids=HOST_CASES.keys())
def test_observed_ec2_host_refuses(
    parts: Parts, props: dict[str, Any], error: type[Exception], message: str
) -> None:
    construct_id = parts.new_id()
    with _raises(error, message):
        ObservedEc2Host(parts.stack, construct_id, **{"vpc": parts.vpc, "log_groups": parts.logs, **props})
    assert parts.stack.node.try_find_child(construct_id) is None


def test_host_without_log_groups(parts: Parts) -> None:
    with pytest.raises(TypeError, match=r"missing 1 required keyword-only argument: 'log_groups'$"):
        ObservedEc2Host(parts.stack, parts.new_id(), vpc=parts.vpc)  # type: ignore[call-arg]


def test_host_with_plain_log_groups(parts: Parts) -> None:
    group = logs.LogGroup(parts.stack, parts.new_id())
    with _raises(
        TypeError,
        "log_groups must be the ContainerLogGroups this host's containers ship to (wrap plain log groups in "
        "ContainerLogGroups), got [a aws_cdk.aws_logs.LogGroup]",
    ):
        ObservedEc2Host(parts.stack, parts.new_id(), vpc=parts.vpc, log_groups=[group])  # type: ignore[arg-type]


# --- BasicAlarms ---------------------------------------------------------------------------------------------

EMAIL_MESSAGE = "emails entries must be email addresses such as 'ops@example.com', got {email!r}"
PREFIX_CHARACTERS_MESSAGE = (
    "name_prefix must use only letters, digits, '-' and '_': it names the alarms ('{{prefix}}-container-crash', "
    "...) and, by default, the dashboard, and CloudWatch allows only these characters in dashboard names, got "
    "{value!r}"
)
PERIOD_MESSAGE = (
    "period must be a multiple of 60 seconds (EC2 publishes its metrics at most once a minute; 10, 20 and 30 "
    "seconds are only for high-resolution custom metrics), got {got}"
)
THRESHOLD_MESSAGE = (
    "cpu_threshold_percent must be between 0 and 100 (below 100: a percentage never exceeds 100, so the alarm "
    "would never fire), got {value}"
)

ALARM_CASES: dict[str, Case] = {
    "host-none": (
        {"host": None},
        TypeError,
        "host must be an IObservedHost (ObservedEc2Host or HostObservability), got None",
    ),
    "empty-name-prefix": ({"name_prefix": ""}, ValueError, "name_prefix must not be empty, got ''"),
    "name-prefix-with-a-dot": (
        {"name_prefix": "shop.prod"},
        ValueError,
        PREFIX_CHARACTERS_MESSAGE.format(value="shop.prod"),
    ),
    "name-prefix-with-a-wildcard": (
        {"name_prefix": "shop*"},
        ValueError,
        PREFIX_CHARACTERS_MESSAGE.format(value="shop*"),
    ),
    "name-prefix-with-a-newline": (
        {"name_prefix": "shop\nprod"},
        ValueError,
        PREFIX_CHARACTERS_MESSAGE.format(value="shop\nprod"),
    ),
    "name-prefix-not-ascii": (
        {"name_prefix": "café"},
        ValueError,
        PREFIX_CHARACTERS_MESSAGE.format(value="café"),
    ),
    "name-prefix-with-a-space": (
        {"name_prefix": "shop prod"},
        ValueError,
        PREFIX_CHARACTERS_MESSAGE.format(value="shop prod"),
    ),
    "name-prefix-too-long": (
        {"name_prefix": "p" * 240},
        ValueError,
        "name_prefix is too long: alarm names are at most 255 characters and '{prefix}-container-crash' would be "
        "256; use at most 239 characters, got 240",
    ),
    "name-prefix-not-a-string": (
        {"name_prefix": 7},
        TypeError,
        "name_prefix must be a string such as 'shop-prod', got 7",
    ),
    "emails-as-one-string": (
        {"emails": "ops@example.com"},
        TypeError,
        "emails must be a list of email addresses such as ['ops@example.com'], got 'ops@example.com'",
    ),
    "email-without-at": ({"emails": ["ops"]}, ValueError, EMAIL_MESSAGE.format(email="ops")),
    "email-without-domain-dot": (
        {"emails": ["ops@example"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops@example"),
    ),
    "email-with-two-ats": (
        {"emails": ["ops@@example.com"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops@@example.com"),
    ),
    "email-with-a-space": (
        {"emails": ["ops team@example.com"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops team@example.com"),
    ),
    "email-with-a-trailing-comma": (
        {"emails": ["ops@example.com,"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops@example.com,"),
    ),
    "email-with-a-leading-dot": (
        {"emails": [".ops@example.com"]},
        ValueError,
        EMAIL_MESSAGE.format(email=".ops@example.com"),
    ),
    "email-with-double-dots": (
        {"emails": ["ops..team@example.com"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops..team@example.com"),
    ),
    "email-domain-with-a-dash-edge": (
        {"emails": ["ops@-example.com"]},
        ValueError,
        EMAIL_MESSAGE.format(email="ops@-example.com"),
    ),
    "duplicated-email-ignoring-case": (
        {"emails": ["Ops@example.com", "ops@example.com"]},
        ValueError,
        "emails must not repeat a value, got ['Ops@example.com', 'ops@example.com'] (repeated: ['ops@example.com'])",
    ),
    "threshold-above-100": ({"cpu_threshold_percent": 150}, ValueError, THRESHOLD_MESSAGE.format(value=150)),
    "threshold-of-100": ({"cpu_threshold_percent": 100}, ValueError, THRESHOLD_MESSAGE.format(value=100)),
    "threshold-below-0": ({"cpu_threshold_percent": -5}, ValueError, THRESHOLD_MESSAGE.format(value=-5)),
    "threshold-not-a-number": (
        {"cpu_threshold_percent": float("nan")},
        ValueError,
        "cpu_threshold_percent must be a finite number, got nan",
    ),
    "threshold-as-a-string": (
        {"cpu_threshold_percent": "80"},
        TypeError,
        "cpu_threshold_percent must be a number, got '80'",
    ),
    "threshold-as-a-bool": (
        {"cpu_threshold_percent": True},
        TypeError,
        "cpu_threshold_percent must be a number, got True",
    ),
    "period-of-90-seconds": (
        {"period": cdk.Duration.seconds(90), "cpu_duration": cdk.Duration.seconds(180)},
        ValueError,
        PERIOD_MESSAGE.format(got="1 minute 30 seconds (90 seconds)"),
    ),
    "high-resolution-period-on-ec2": (
        {"period": cdk.Duration.seconds(30)},
        ValueError,
        PERIOD_MESSAGE.format(got="30 seconds"),
    ),
    "period-as-seconds": (
        {"period": 300},
        TypeError,
        "period must be a Duration such as Duration.minutes(5), got 300",
    ),
    "cpu-duration-not-a-multiple-of-period": (
        {"cpu_duration": cdk.Duration.minutes(7)},
        ValueError,
        "cpu_duration must be a whole multiple of period (300 seconds), got 7 minutes (420 seconds)",
    ),
    "cpu-duration-below-one-period": (
        {"cpu_duration": cdk.Duration.minutes(1)},
        ValueError,
        "cpu_duration must be a whole multiple of period (300 seconds), got 1 minute (60 seconds)",
    ),
    "cpu-duration-beyond-one-day": (
        {"cpu_duration": cdk.Duration.hours(25)},
        ValueError,
        "cpu_duration must span at most 24 hours of 300-second periods (CloudWatch evaluates an alarm over at "
        "most 1 day for such periods), got 300 periods = 25 hours",
    ),
    "cpu-duration-as-minutes": (
        {"cpu_duration": 10},
        TypeError,
        "cpu_duration must be a Duration such as Duration.minutes(10), got 10",
    ),
    "topic-as-an-arn": (
        {"topic": "arn:aws:sns:eu-west-1:111111111111:ops"},
        TypeError,
        "topic must be an sns.ITopic, got 'arn:aws:sns:eu-west-1:111111111111:ops'",
    ),
    "runbook-of-an-unknown-alarm": (
        {"runbook": {"cpu": "Call the on-call."}},
        ValueError,
        "runbook names unknown alarms ['cpu']; the alarms are ['cpu-high', 'status-check', 'memory-high', "
        "'disk-high', 'container-crash']",
    ),
    "runbook-with-an-empty-text": (
        {"runbook": {"cpu-high": " "}},
        ValueError,
        "runbook['cpu-high'] must not be empty, got ' '",
    ),
    "runbook-as-a-string": (
        {"runbook": "Call the on-call."},
        TypeError,
        "runbook must map alarm names to texts, such as {'cpu-high': 'What we do: ...'}, got 'Call the on-call.'",
    ),
    "runbook-too-long": (
        {"runbook": {"cpu-high": "x" * 1000}},
        ValueError,
        # What happened (80 characters), a space, and the runbook's 1000: more than CloudWatch's 1024.
        "runbook['cpu-high'] makes an alarm description of 1081 characters; CloudWatch allows at most 1024: "
        "shorten it, got 'CPU above 80% for 10 minutes on Validation/Host: the server '...",
    ),
}


@pytest.mark.parametrize(("props", "error", "message"), ALARM_CASES.values(), ids=ALARM_CASES.keys())
def test_basic_alarms_refuses(
    parts: Parts, props: dict[str, Any], error: type[Exception], message: str
) -> None:
    construct_id = parts.new_id()
    with _raises(error, message):
        BasicAlarms(parts.stack, construct_id, **{"host": parts.host, "name_prefix": "shop", **props})
    assert parts.stack.node.try_find_child(construct_id) is None


def test_topic_encryption_key_with_an_existing_topic(parts: Parts) -> None:
    topic = sns.Topic.from_topic_arn(parts.stack, parts.new_id(), "arn:aws:sns:eu-west-1:111111111111:ops")
    key = kms.Key(parts.stack, parts.new_id())
    with _raises(
        ValueError,
        "topic_encryption_key encrypts the topic BasicAlarms creates, but topic= was given too: encrypt your own "
        "topic instead, or drop topic=",
    ):
        BasicAlarms(
            parts.stack,
            parts.new_id(),
            host=parts.host,
            name_prefix="shop",
            topic=topic,
            topic_encryption_key=key,
        )


ADD_ALARM_CASES: dict[str, Case] = {
    "evaluation-periods-of-0": (
        {"evaluation_periods": 0},
        ValueError,
        "evaluation_periods must be at least 1, got 0",
    ),
    "evaluation-periods-beyond-one-day": (
        {"evaluation_periods": 289},
        ValueError,
        "evaluation_periods must span at most 24 hours of 300-second periods (CloudWatch evaluates an alarm over "
        "at most 1 day for such periods), got 289 periods = 24.0833 hours",
    ),
    "datapoints-beyond-evaluation-periods": (
        {"evaluation_periods": 2, "datapoints_to_alarm": 3},
        ValueError,
        "datapoints_to_alarm must be between 1 and 2 (the alarm's evaluation periods), got 3",
    ),
    "alarm-name-too-long": (
        {"suffix": "s" * 251},
        ValueError,
        f"suffix must make an alarm name of 1-255 printable ASCII characters, got 'shop-{'s' * 251}' (256 characters)",
    ),
    "threshold-infinite": (
        {"threshold": float("inf")},
        ValueError,
        "threshold must be a finite number, got inf",
    ),
    "description-too-long": (
        {"description": "d" * 1025},
        ValueError,
        f"description makes an alarm description of 1025 characters; CloudWatch allows at most 1024: shorten it, "
        f"got '{'d' * 60}'...",
    ),
}


@pytest.mark.parametrize(("props", "error", "message"), ADD_ALARM_CASES.values(), ids=ADD_ALARM_CASES.keys())
def test_add_alarm_refuses(parts: Parts, props: dict[str, Any], error: type[Exception], message: str) -> None:
    alarms = BasicAlarms(parts.stack, parts.new_id(), host=parts.host, name_prefix="shop")
    arguments: dict[str, Any] = {
        "suffix": "memory-high",
        "metric": alarms.host.metric_cpu_utilization(period=cdk.Duration.minutes(5)),
        "threshold": 90,
        "comparison_operator": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        "evaluation_periods": 1,
        "treat_missing_data": cloudwatch.TreatMissingData.MISSING,
        "description": "test",
        **props,
    }
    with _raises(error, message):
        alarms.add_alarm(parts.new_id(), **arguments)


# --- Physical names derived from props: checked at construction, naming the prop ----------------------------


def test_dashboard_name_outside_cloudwatchs_characters(parts: Parts) -> None:
    alarms = BasicAlarms(parts.stack, parts.new_id(), host=parts.host, name_prefix="shop")
    construct_id = parts.new_id()
    with _raises(
        ValueError,
        "dashboard_name must be a CloudWatch dashboard name: 1-255 letters, digits, '-' and '_', got 'shop prod'",
    ):
        HostDashboard(parts.stack, construct_id, alarms=alarms, dashboard_name="shop prod")
    assert parts.stack.node.try_find_child(construct_id) is None


def test_dashboard_named_after_a_sources_name_prefix(parts: Parts) -> None:
    class OwnAlarms(Construct):
        name_prefix = "shop.prod"
        graphs: ClassVar[list[Any]] = []

    source = OwnAlarms(parts.stack, parts.new_id())
    with _raises(
        ValueError,
        f"dashboard_name (default: the name_prefix of Validation/{source.node.id}) must be a CloudWatch dashboard "
        "name: 1-255 letters, digits, '-' and '_', got 'shop.prod'",
    ):
        HostDashboard(parts.stack, parts.new_id(), alarms=source)


def test_log_pattern_alarms_name_prefix_and_runbook(parts: Parts) -> None:
    topic = sns.Topic(parts.stack, parts.new_id())
    group = logs.LogGroup(parts.stack, parts.new_id())
    with _raises(
        ValueError,
        "name_prefix must use only letters, digits, '-' and '_': it names the alarms ('{prefix}-backend-errors', "
        "...) and, by default, the dashboard, and CloudWatch allows only these characters in dashboard names, got "
        "'shop.prod'",
    ):
        LogPatternAlarms(
            parts.stack, parts.new_id(), topic=topic, name_prefix="shop.prod", backend_log_group=group
        )
    with _raises(
        ValueError,
        "runbook names unknown alarms ['cpu-high']; the alarms are ['nginx-5xx', 'backend-errors']",
    ):
        LogPatternAlarms(
            parts.stack,
            parts.new_id(),
            topic=topic,
            name_prefix="shop",
            backend_log_group=group,
            runbook={"cpu-high": "x"},
        )


def test_saved_query_names_too_long(parts: Parts) -> None:
    prefix = "q" * 240  # "{prefix}/backend-errors" is 255 characters, "{prefix}/container-crashes" 258
    construct_id = parts.new_id()
    with _raises(
        ValueError,
        f"name_prefix must make saved query names of 1-255 printable characters, got '{prefix}/container-crashes' "
        "(258 characters)",
    ):
        SavedQueries(parts.stack, construct_id, name_prefix=prefix, host=parts.host, backend_container="api")
    assert parts.stack.node.try_find_child(construct_id) is None


def test_a_prefix_too_long_for_the_hosts_own_log_group(parts: Parts) -> None:
    # 500 characters: every container's group fits in 512, the host's "{prefix}/docker-events" (514) does not.
    groups = ContainerLogGroups(parts.stack, parts.new_id(), prefix="/" + "p" * 499, containers=["api"])
    construct_id = parts.new_id()
    with _raises(
        ValueError,
        f"log_groups' prefix '/{'p' * 499}' makes the log group name '/{'p' * 499}/docker-events' (514 characters); "
        "CloudWatch Logs allows 1-512 letters, digits, '.', '-', '_', '/' and '#'",
    ):
        ObservedEc2Host(parts.stack, construct_id, vpc=parts.vpc, log_groups=groups)
    assert parts.stack.node.try_find_child(construct_id) is None


# --- Tokens --------------------------------------------------------------------------------------------------


def test_unresolved_tokens_are_left_alone() -> None:
    stack = cdk.Stack(cdk.App(), "Tokens", env=cdk.Environment(region="eu-west-1"))
    email = cdk.CfnParameter(stack, "Email").value_as_string
    prefix = cdk.CfnParameter(stack, "Prefix").value_as_string
    threshold = cdk.CfnParameter(stack, "Threshold", type="Number").value_as_number
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    groups = ContainerLogGroups(stack, "Logs", prefix=prefix, containers=["api"])
    host = ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=groups)
    BasicAlarms(
        stack, "Alarms", host=host, name_prefix=prefix, emails=[email], cpu_threshold_percent=threshold
    )
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::Subscription", {"Endpoint": {"Ref": "Email"}})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"Threshold": {"Ref": "Threshold"}})
    template.has_resource_properties(
        "AWS::Logs::LogGroup", {"LogGroupName": {"Fn::Join": ["", [{"Ref": "Prefix"}, "/api"]]}}
    )


def test_longest_name_prefix_is_accepted_and_the_topic_display_name_fits_sns(parts: Parts) -> None:
    prefix = "p" * 239
    alarms = BasicAlarms(parts.stack, parts.new_id(), host=parts.host, name_prefix=prefix)
    longest = alarms.container_crash.node.default_child.alarm_name  # type: ignore[union-attr]
    assert (longest, len(longest)) == (f"{prefix}-container-crash", 255)
    topic = alarms.topic.node.default_child
    assert parts.stack.resolve(topic.display_name) == "p" * 100  # type: ignore[union-attr]
