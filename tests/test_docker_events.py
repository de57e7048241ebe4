"""DockerEventsLog: the service's unit file (verified by systemd), the log group, the crash filter and alarm."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2

from constructs_obs import ContainerLogGroups, ObservedEc2Host
from constructs_obs.host.docker_events import (
    CONTAINER_CRASH_PATTERN,
    PROGRAM_HEREDOC,
    UNIT_HEREDOC,
    UNIT_PATH,
)
from constructs_obs.testing.filter_pattern import matches
from tests.conftest import logical_id
from tests.user_data import heredoc, setup_script, user_data_script

SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def _event(action: str, exit_code: str | None = None, name: str = "app-backend-1") -> str:
    """A ``docker events --format '{{json .}}'`` line as Docker 25 writes it."""
    attributes = {
        "com.docker.compose.project": "app",
        "com.docker.compose.service": name.split("-")[1],
        "image": "app-backend:latest",
        "name": name,
    }
    if exit_code is not None:
        attributes |= {"exitCode": exit_code, "execDuration": "3"}
    return json.dumps(
        {
            "status": action,
            "id": "4f8c2b7e9a1d",
            "from": "app-backend:latest",
            "Type": "container",
            "Action": action,
            "Actor": {"ID": "4f8c2b7e9a1d", "Attributes": attributes},
            "scope": "local",
            "time": 1795000000,
            "timeNano": 1795000000123456789,
        },
        separators=(",", ":"),
    )


@pytest.mark.parametrize(
    ("line", "crash"),
    [
        (_event("oom"), True),  # the OOM killer: counted once, through its oom event
        (_event("die", "1"), True),  # uncaught exception
        (_event("die", "2"), True),  # usage error
        (_event("die", "139"), True),  # segmentation fault
        (_event("die", "0"), False),  # clean shutdown on docker stop / compose down
        (_event("die", "143"), False),  # ended on the SIGTERM of a stop
        (_event("die", "137"), False),  # SIGKILL after the stop timeout (or the die after an oom event)
        (_event("start"), False),
        (_event("stop"), False),
        ("not json at all", False),
    ],
)
def test_crash_pattern_on_real_docker_events(line: str, crash: bool) -> None:
    assert matches(CONTAINER_CRASH_PATTERN, line) is crash


def test_an_oom_kill_counts_once() -> None:
    # The kernel kills the process: Docker emits oom, then die with 137.
    assert sum(matches(CONTAINER_CRASH_PATTERN, e) for e in (_event("oom"), _event("die", "137"))) == 1


@pytest.fixture(scope="module")
def unit_root(staging_template_json: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filesystem root with the unit file and program exactly as the setup writes them, for systemd-analyze."""
    script = setup_script(staging_template_json)
    path, content = heredoc(script, UNIT_HEREDOC)
    program_path, program = heredoc(script, PROGRAM_HEREDOC)
    assert path == UNIT_PATH == "/etc/systemd/system/docker-events.service"
    root = tmp_path_factory.mktemp("root")
    # systemd's own targets (sysinit.target, multi-user.target, ...), which default dependencies need.
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / path.lstrip("/")).write_text(content)
    (root / program_path.lstrip("/")).parent.mkdir(parents=True)
    (root / program_path.lstrip("/")).write_text(program)
    (root / program_path.lstrip("/")).chmod(0o755)
    # What Amazon Linux 2023's docker package provides and this machine lacks: the CLI and docker.service.
    docker = root / "usr/bin/docker"
    docker.parent.mkdir(parents=True)
    docker.write_text("#!/bin/sh\n")
    docker.chmod(0o755)
    (root / "etc/systemd/system/docker.service").write_text("[Service]\nExecStart=/usr/bin/docker\n")
    return root


def _verify(root: Path, unit: str = UNIT_PATH) -> subprocess.CompletedProcess[str]:
    systemd_analyze = shutil.which("systemd-analyze")
    assert systemd_analyze, "systemd-analyze is missing: scripts/setup.sh installs Debian's systemd package"
    return subprocess.run(
        [systemd_analyze, "verify", f"--root={root}", "--man=no", "--generators=no", unit],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_systemd_accepts_the_unit_file(unit_root: Path) -> None:
    result = _verify(unit_root)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_systemd_analyze_would_catch_a_broken_unit(unit_root: Path, tmp_path: Path) -> None:
    broken = unit_root / "etc/systemd/system/broken-events.service"
    text = (unit_root / UNIT_PATH.lstrip("/")).read_text()
    broken.write_text(text.replace("Restart=always", "Restart=sometimes\nRestartSecs=5"))
    try:
        result = _verify(unit_root, "/etc/systemd/system/broken-events.service")
    finally:
        broken.unlink()
    assert "Failed to parse service restart specifier" in result.stderr
    assert "Unknown key 'RestartSecs'" in result.stderr


def test_unit_runs_the_program_that_opens_its_own_file(unit_root: Path) -> None:
    unit = (unit_root / UNIT_PATH.lstrip("/")).read_text().splitlines()
    assert "ExecStart=/usr/local/libexec/docker-events-log" in unit
    # systemd 252 opens StandardOutput=append: files before it creates LogsDirectory= (systemd/systemd#27591):
    # the unit must not ask systemd to open the file.
    assert not [line for line in unit if line.startswith("StandardOutput=")]
    for line in (
        "LogsDirectory=docker-events",
        "After=docker.service",
        "Restart=always",
        "StartLimitIntervalSec=0",
        "WantedBy=multi-user.target",
    ):
        assert line in unit


def test_program_writes_a_start_line_then_die_and_oom_events(unit_root: Path) -> None:
    program = (unit_root / "usr/local/libexec/docker-events-log").read_text().splitlines()
    assert program[0] == "#!/bin/sh"
    assert "log=/var/log/docker-events/events.log" in program
    assert (
        """printf '{"Type":"docker-events","Action":"start","time":%s,"since":"%s"}\\n' "$(date +%s)" """
        """"${2:-now}" >>"$log\""""
    ) in program
    assert (
        'exec /usr/bin/docker events "$@" --filter type=container --filter event=die --filter event=oom '
        '--format "{""{json .}}" >>"$log"'
    ) in program


def test_program_runs_in_a_posix_shell_and_builds_the_json_format(unit_root: Path, tmp_path: Path) -> None:
    """The program under Debian's /bin/sh (dash, stricter than AL2023's bash) with a stand-in docker that echoes."""
    program = (unit_root / "usr/local/libexec/docker-events-log").read_text()
    log = tmp_path / "events.log"
    fake_docker = tmp_path / "docker"
    fake_docker.write_text("#!/bin/sh\nprintf '%s\\n' \"$*\"\n")
    fake_docker.chmod(0o755)
    text = (
        program.replace("/var/log/docker-events/events.log", str(log))
        .replace("mkdir -p /var/log/docker-events", f"mkdir -p {tmp_path}")
        .replace("/usr/bin/docker", str(fake_docker))
    )
    subprocess.run(["/bin/sh", "-c", text], check=True, timeout=30)
    start, args = log.read_text().splitlines()
    event = json.loads(start)
    assert event["Type"] == "docker-events" and event["Action"] == "start" and isinstance(event["time"], int)
    assert event["since"] == "now"  # nothing recorded yet: from now
    assert not matches(CONTAINER_CRASH_PATTERN, start)
    assert args == "events --filter type=container --filter event=die --filter event=oom --format {{json .}}"

    # A real `die` line (shape of Docker 20.10's `{{json .}}`, tests/test_real_docker_events.py) was recorded last,
    # with a timeNano whose nanoseconds are 999999999: the next start resumes 1 ns later, carrying into the second.
    die = (
        '{"status":"die","id":"abc","from":"busybox","Type":"container","Action":"die","Actor":{"ID":"abc",'
        '"Attributes":{"exitCode":"3","name":"web"}},"scope":"local","time":1796293012,"timeNano":1796293012999999999}'
    )
    with log.open("a") as file:
        file.write(die + "\n")
    subprocess.run(["/bin/sh", "-c", text], check=True, timeout=30)
    *_, start, args = log.read_text().splitlines()
    assert json.loads(start)["since"] == "1796293013.000000000"
    assert args.startswith("events --since 1796293013.000000000 --filter type=container ")

    # After a rotation (copytruncate) the current file has no event yet: the last one is in the copy.
    log.rename(log.with_name("events.log.1"))
    log.write_text("")
    subprocess.run(["/bin/sh", "-c", text], check=True, timeout=30)
    assert log.read_text().splitlines()[-1].startswith("events --since 1796293013.000000000 ")


def test_the_folder_exists_before_the_service_starts(staging_template_json: dict[str, Any]) -> None:
    lines = setup_script(staging_template_json).splitlines()
    folder = lines.index("install -d -m 0755 /var/log/docker-events /usr/local/libexec")
    assert folder < lines.index("systemctl daemon-reload")
    assert lines.index("systemctl daemon-reload") < lines.index("systemctl enable docker-events.service")
    assert lines.index("systemctl enable docker-events.service") < lines.index(
        "systemctl restart docker-events.service"
    )
    # The setup fails (and with it the deploy) unless the service is active.
    assert lines[-1].startswith("/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a status")
    assert "systemctl is-active docker-events.service" in lines


def test_user_data_no_longer_installs_the_service(staging_template_json: dict[str, Any]) -> None:
    assert "docker-events" not in user_data_script(staging_template_json)


def test_log_group_is_named_from_the_prefix_and_kept(staging: assertions.Template) -> None:
    staging.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"LogGroupName": "/ai-tutor/docker-events", "RetentionInDays": 30},
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_crash_metric_filter(staging: assertions.Template) -> None:
    group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName="/ai-tutor/docker-events")
    staging.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "LogGroupName": {"Ref": group},
            # An oom event, or a die whose exit code is not a deliberate stop's (0, 143, 137): see
            # test_crash_pattern_on_real_docker_events for what it counts.
            "FilterPattern": (
                '{ ($.Action = "oom") || ($.Action = "die" && $.Actor.Attributes.exitCode != "0" && '
                '$.Actor.Attributes.exitCode != "137" && $.Actor.Attributes.exitCode != "143") }'
            ),
            "MetricTransformations": [
                {"MetricName": "ContainerCrashes", "MetricNamespace": "AiTutor/Staging", "MetricValue": "1"}
            ],
        },
    )


def test_container_crash_alarm_fires_on_the_first_crash(staging: assertions.Template) -> None:
    topic = logical_id(staging, "AWS::SNS::Topic")
    found = staging.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": "ai-tutor-staging-container-crash"}}
    )
    props = next(iter(found.values()))["Properties"]
    props.pop("AlarmDescription")
    assert props == {
        "AlarmName": "ai-tutor-staging-container-crash",
        "Namespace": "AiTutor/Staging",
        "MetricName": "ContainerCrashes",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": topic}],
    }


def test_role_writes_to_the_events_group_by_exact_arn(staging: assertions.Template) -> None:
    role = logical_id(staging, "AWS::IAM::Role", RoleName="ai-tutor-staging-ec2-role")
    group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName="/ai-tutor/docker-events")
    policies = staging.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    statements = next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
    writes = [s for s in statements if s["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]]
    assert len(writes) == 1
    assert {"Fn::GetAtt": [group, "Arn"]} in writes[0]["Resource"]


def test_a_container_named_docker_events_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "Clash", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api", "docker-events"])
    with pytest.raises(
        ValueError,
        match=r"log_groups has a container named 'docker-events', whose log group '/shop/docker-events' the "
        r"host needs for Docker events",
    ):
        ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs)
