"""Docker container crashes on the host, as a log group of their own and a metric that counts them.

A small systemd service, ``docker-events.service``, runs ``docker events`` for container ``die`` and ``oom``
events and appends each one as a JSON line to :data:`DOCKER_EVENTS_LOG_FILE`; the CloudWatch agent ships that
file to the ``{prefix}/docker-events`` log group, and a metric filter counts the crashes.

What counts as a crash (:data:`CONTAINER_CRASH_PATTERN`):

- every ``oom`` event: the kernel's OOM killer killed a process of the container;
- every ``die`` event whose exit code is not a deliberate stop. ``docker stop``, ``docker compose down``,
  ``docker compose up`` recreating a container on deploy, and a daemon shutdown all emit ``die`` too, with exit
  code 0 (the process shut down cleanly), 143 (it ended on the SIGTERM it was sent) or 137 (it was SIGKILLed
  after ignoring SIGTERM for the stop timeout, which is what a Node.js process running as PID 1 does on every
  stop). Those three codes are not counted. An OOM kill also exits with 137; it is counted through its
  ``oom`` event, so each OOM kill counts once. Every other code (1 for an uncaught exception, 2 for a usage
  error, 139 for a segmentation fault, ...) counts, including a one-off ``docker compose run`` that fails and a
  failing step of the legacy (non-BuildKit) image builder on the host.

A known gap, seen on a real daemon: in about 1 of 25 OOM kills Docker emitted no ``oom`` event, only ``die``
with exit code 137 (``State.OOMKilled`` false; compare hashicorp/nomad#13119 on cgroup v2), and such a kill is not
counted, since a bare 137 is indistinguishable from a stop. The memory alarm still covers memory pressure.

The log group keeps every ``die`` and ``oom`` event, deliberate stops included, for the saved query and for
investigation.

**Nothing is lost across a restart, nothing is written twice.** ``docker events`` without ``--since`` starts from
now, so every crash while the service (or the Docker daemon) restarts, and each setup re-run restarts it, would be
lost. The program resumes instead: it reads the ``timeNano`` of the last event it wrote (in the file, or in the
rotated ``.1`` file when the current one has none) and runs ``docker events --since <that time + 1 ns>``. Seen on
Docker 20.10 (tests/test_real_docker_events.py): ``--since T`` includes an event at exactly ``T`` and ``T + 1 ns``
does not, so the last recorded event is not written again; ``--since`` without ``--until`` first replays the
daemon's past events, then follows new ones. The daemon keeps its past events in memory only (the last 256 of all
kinds: ``eventsLimit = 256`` in moby's ``daemon/events/events.go``), so a crash while the daemon itself restarts, or more than 256 events during a stop
of the service, can still be missed. With no event recorded yet (a new host) it starts from now.

**The file is rotated** by logrotate (:func:`docker_events_logrotate`, installed in ``/etc/logrotate.d``; Amazon Linux 2023
ships logrotate with a daily timer) with ``copytruncate``: the CloudWatch agent follows a truncated file (its tailer
reopens it from the start, aws/amazon-cloudwatch-agent ``plugins/inputs/logfile/tail``), while a renamed-and-recreated
file is read from the old file's saved offset, losing the new file's first lines
(aws/amazon-cloudwatch-agent#447). The program appends (``>>``, ``O_APPEND``), so after the truncation it writes
from the start of the file. The file grows by about 1-2 kB per event; it is rotated past
:data:`ROTATE_SIZE` and :data:`ROTATE_KEEP` rotations are kept, so it never holds more than a few tens of MB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from constructs_obs.checks._registry import claim_series
from constructs_obs.contract import (  # the names shared with obs-doctor, re-exported here
    DOCKER_EVENTS_LOG_FILE as DOCKER_EVENTS_LOG_FILE,
)
from constructs_obs.contract import (
    DOCKER_EVENTS_UNIT,
)
from constructs_obs.contract import (
    START_LINE_ACTION as START_LINE_ACTION,
)
from constructs_obs.contract import (
    START_LINE_TYPE as START_LINE_TYPE,
)
from constructs_obs.host.agent import AgentLogFile
from constructs_obs.host.log_groups import DEFAULT_REMOVAL_POLICY, claimed_log_group
from constructs_obs.host.metric_options import metric_options
from constructs_obs.host.setup import HostSetup, SetupStep

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from constructs_obs.host.metric_options import MetricOptions

#: The service's name and where its unit file goes on the host.
UNIT_NAME = DOCKER_EVENTS_UNIT
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
#: The program the service runs: writes the start line, then ``docker events`` appending to the file.
PROGRAM_PATH = "/usr/local/libexec/docker-events-log"
#: The heredoc delimiters around the unit file and the program in the setup script.
UNIT_HEREDOC = "DOCKER_EVENTS_UNIT"
PROGRAM_HEREDOC = "DOCKER_EVENTS_PROGRAM"


#: Exit codes of a container that was stopped on purpose (see the module docstring).
DELIBERATE_STOP_EXIT_CODES: tuple[str, ...] = ("0", "137", "143")

#: The metric filter pattern that counts crashes in the JSON lines of ``docker events --format '{{json .}}'``.
#: ``exitCode`` is a string attribute of the event's actor.
CONTAINER_CRASH_PATTERN = (
    '{ ($.Action = "oom") || ($.Action = "die" && '
    + " && ".join(f'$.Actor.Attributes.exitCode != "{code}"' for code in DELIBERATE_STOP_EXIT_CODES)
    + ") }"
)

#: Name of the metric the crash filter publishes (one count per crash, no dimensions).
CONTAINER_CRASHES_METRIC = "ContainerCrashes"

#: Where the setup installs the rotation of the events file (logrotate reads every file in that folder).
LOGROTATE_PATH = "/etc/logrotate.d/docker-events"
#: The events file is rotated once it is larger than this (logrotate's ``size``), at logrotate's daily run.
ROTATE_SIZE = "10M"
#: How many rotated files are kept (the newest uncompressed, the others gzipped).
ROTATE_KEEP = 4
LOGROTATE_HEREDOC = "DOCKER_EVENTS_LOGROTATE"


def docker_events_logrotate(log_file: str = DOCKER_EVENTS_LOG_FILE) -> str:
    """The logrotate configuration of the events file (see the module docstring for ``copytruncate``).

    ``delaycompress`` keeps the newest rotated file as text: the program reads its last event from it when the
    current file has none yet.
    """
    return "\n".join(
        [
            "# Installed by constructs_obs: rotate the docker-events file (the CloudWatch agent follows a truncated",
            "# file; it would miss the start of a renamed-and-recreated one).",
            f"{log_file} {{",
            f"    size {ROTATE_SIZE}",
            f"    rotate {ROTATE_KEEP}",
            "    copytruncate",
            "    compress",
            "    delaycompress",
            "    missingok",
            "    notifempty",
            "}",
            "",
        ]
    )


#: How long the setup waits for the service to be ``active`` before it fails (and with it the deploy).
ACTIVE_WAIT_SECONDS = 30


def docker_events_program(log_file: str = DOCKER_EVENTS_LOG_FILE) -> str:
    """The service's program: append a start line, then container ``die``/``oom`` events, to ``log_file``.

    The program opens ``log_file`` itself (a shell redirection) instead of systemd's
    ``StandardOutput=append:``: systemd 252 sets up a unit's output before it creates its ``LogsDirectory=``,
    so on a fresh host that combination fails with status 209/STDOUT and, with ``Restart=always``, loops while
    ``systemctl enable --now`` reports success (systemd/systemd#27591). The directory is also created by the
    setup before the unit starts.

    The start line, ``{"Type":"docker-events","Action":"start","time":<epoch seconds>}``, shows in CloudWatch
    that the service is running (one per start, so also after each restart); the crash filter does not count it.
    The format template's braces are written ``{""{`` so the setup script holds no ``{{`` pair (see
    :mod:`constructs_obs.host.setup`); the shell joins the quoted pieces back into ``{{json .}}``.
    """
    directory = log_file.rsplit("/", 1)[0]
    return "\n".join(
        [
            "#!/bin/sh",
            "# Installed by constructs_obs (docker-events.service): Docker container die/oom events as JSON lines.",
            "set -eu",
            f"log={log_file}",
            f"mkdir -p {directory}",
            "# Resume after the last event written (here, or in the file logrotate copied away): --since includes",
            "# an event at exactly that time, so start 1 ns later. No event yet: from now.",
            "last=''",
            'for f in "$log" "$log.1"; do',
            '  [ -f "$f" ] || continue',
            '  last=$(tail -c 65536 "$f" | grep -o \'"timeNano":[0-9]*\' | tail -n 1 | cut -d: -f2) || true',
            '  if [ -n "$last" ]; then break; fi',
            "done",
            "set --",
            'if [ -n "$last" ]; then',
            "  next=$((last + 1))",
            "  set -- --since \"$(printf '%d.%09d' $((next / 1000000000)) $((next % 1000000000)))\"",
            "fi",
            f'printf \'{{"Type":"{START_LINE_TYPE}","Action":"{START_LINE_ACTION}","time":%s,"since":"%s"}}\\n\' '
            '"$(date +%s)" "${2:-now}" >>"$log"',
            'exec /usr/bin/docker events "$@" --filter type=container --filter event=die --filter event=oom '
            '--format "{""{json .}}" >>"$log"',
            "",
        ]
    )


def docker_events_unit(program: str = PROGRAM_PATH, log_file: str = DOCKER_EVENTS_LOG_FILE) -> str:
    """The systemd unit of the service that runs ``program``.

    It starts after Docker (and pulls it in), restarts 5 seconds after ``docker events`` exits (for instance when
    the daemon restarts) without ever giving up (``StartLimitIntervalSec=0``), and is enabled for
    ``multi-user.target`` so it comes back after a reboot. ``LogsDirectory=`` makes systemd create the folder
    (mode 0755) before the program starts; the program opens the file (mode 0644 under the default umask), so the
    unprivileged CloudWatch agent can read it.
    """
    logs_directory = log_file.rsplit("/", 1)[0].removeprefix("/var/log/")
    return "\n".join(
        [
            "[Unit]",
            f"Description=Append Docker container die and oom events to {log_file} for the CloudWatch agent",
            "Documentation=https://docs.docker.com/reference/cli/docker/system/events/",
            "Wants=docker.service",
            "After=docker.service",
            "StartLimitIntervalSec=0",
            "",
            "[Service]",
            "Type=simple",
            f"LogsDirectory={logs_directory}",
            f"ExecStart={program}",
            "Restart=always",
            "RestartSec=5",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def docker_events_setup_steps(
    unit: str, program: str, log_file: str = DOCKER_EVENTS_LOG_FILE, logrotate: str | None = None
) -> list[SetupStep]:
    """The setup: Docker's CLI from the Amazon Linux repositories, the file's rotation, the folder, program and unit.

    ``logrotate`` defaults to :func:`docker_events_logrotate` of ``log_file``. The last step is portable (files and ``systemctl`` only): it (re)starts the service so a changed unit or
    program takes effect, and fails unless the service is ``active`` within :data:`ACTIVE_WAIT_SECONDS`,
    printing its status and journal.
    """
    directory = log_file.rsplit("/", 1)[0]
    logrotate = logrotate if logrotate is not None else docker_events_logrotate(log_file)
    return [
        SetupStep(
            name="docker (for docker-events)",
            commands=("dnf install -y docker",),
            portable=False,
        ),
        SetupStep(
            name="docker-events rotation",
            commands=(
                f"install -d -m 0755 {LOGROTATE_PATH.rsplit('/', 1)[0]}",
                f"cat > {LOGROTATE_PATH} <<'{LOGROTATE_HEREDOC}'\n{logrotate.rstrip()}\n{LOGROTATE_HEREDOC}",
                f"chmod 0644 {LOGROTATE_PATH}",
            ),
        ),
        SetupStep(
            name="docker-events service",
            commands=(
                f"install -d -m 0755 {directory} {PROGRAM_PATH.rsplit('/', 1)[0]}",
                f"cat > {PROGRAM_PATH} <<'{PROGRAM_HEREDOC}'\n{program.rstrip()}\n{PROGRAM_HEREDOC}",
                f"chmod 0755 {PROGRAM_PATH}",
                f"cat > {UNIT_PATH} <<'{UNIT_HEREDOC}'\n{unit.rstrip()}\n{UNIT_HEREDOC}",
                "systemctl daemon-reload",
                f"systemctl enable {UNIT_NAME}",
                f"systemctl restart {UNIT_NAME}",
                f"i=0; until systemctl is-active --quiet {UNIT_NAME}; do i=$((i + 1)); "
                f"if [ $i -ge {ACTIVE_WAIT_SECONDS} ]; then systemctl status --no-pager {UNIT_NAME} || true; "
                f"journalctl -u {UNIT_NAME} -n 20 --no-pager || true; "
                f"echo '{UNIT_NAME} is not active' >&2; exit 1; fi; sleep 1; done",
                # Active is not enough: a unit that fails right after starting is "active" for a moment.
                "sleep 2",
                f"systemctl is-active {UNIT_NAME}",
            ),
        ),
    ]


class DockerEventsLog(Construct):
    """Container crash events of a host: the log group, the service that feeds it, the crash metric.

    - Log group ``log_group_name`` (for example ``/shop/docker-events``), with ``retention`` and
      ``removal_policy`` (default: kept when the stack goes, removed when the deploy that created it rolls back).
    - The ``docker-events`` systemd service (see :func:`docker_events_unit`), installed by the host's setup
      association (:class:`~constructs_obs.host.setup.HostSetup`). The CloudWatch agent ships its file: pass :attr:`agent_log_file` to the agent.
    - A metric filter publishing ``1`` to ``{namespace}/ContainerCrashes`` for every crash
      (:data:`CONTAINER_CRASH_PATTERN`); no default value, so the metric has no data while nothing crashes.
    - The instance role may write to this log group only (see :meth:`grant_write`).

    Attributes:
        log_group: the log group.
        write_grant: the grant that lets the host's role write to the log group.
        crash_filter: the metric filter counting crashes.
        agent_log_file: the file the CloudWatch agent must ship to the log group.
        unit: the systemd unit file's text.
        program: the text of the program the unit runs (:func:`docker_events_program`).
        logrotate: the text of the file's logrotate configuration (:func:`docker_events_logrotate`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        grantee: iam.IGrantable,
        setup: HostSetup,
        log_group_name: str,
        namespace: str,
        retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: RemovalPolicy = DEFAULT_REMOVAL_POLICY,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        """Create the log group and metric filter; install the service through ``setup``.

        Args:
            scope: the parent construct.
            construct_id: the construct id.
            grantee: the Docker host's role (may write to the log group, and nowhere else).
            setup: the host's setup association, which installs the service.
            log_group_name: the log group's name.
            namespace: namespace of the crash metric.
            retention: how long CloudWatch keeps the events. Default one month.
            removal_policy: what happens to the log group when it leaves the stack. Default
                ``RETAIN_ON_UPDATE_OR_DELETE``: kept, except when the deploy that created it rolls back.
            encryption_key: a customer-managed KMS key for the log group (its key policy must let CloudWatch
                Logs use it, as ``ContainerLogGroups(encryption_key=...)`` arranges for its prefix). Default:
                none, acknowledged like the container log groups.
        """
        super().__init__(scope, construct_id)
        self.log_group = claimed_log_group(
            self,
            "LogGroup",
            name=log_group_name,
            retention=retention,
            removal_policy=removal_policy,
            encryption_key=encryption_key,
            hint="each host needs its own docker-events group: give each host its own ContainerLogGroups prefix",
        )
        self.crash_filter = logs.MetricFilter(
            self,
            "CrashFilter",
            log_group=self.log_group,
            filter_pattern=logs.FilterPattern.literal(CONTAINER_CRASH_PATTERN),
            metric_namespace=namespace,
            metric_name=CONTAINER_CRASHES_METRIC,
            metric_value="1",
        )
        claim_series(self.crash_filter, namespace=namespace, metric_name=CONTAINER_CRASHES_METRIC)
        self.agent_log_file = AgentLogFile(file_path=DOCKER_EVENTS_LOG_FILE, log_group_name=log_group_name)
        self.program = docker_events_program()
        self.unit = docker_events_unit()
        self.logrotate = docker_events_logrotate()
        for step in docker_events_setup_steps(self.unit, self.program, logrotate=self.logrotate):
            setup.add_step(step)
        self.write_grant = self.grant_write(grantee)

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (the CloudWatch agent's role) ship events to this log group and nowhere else.

        Exactly ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on this group's ARN: with the group in place
        and no ``retention_in_days`` in its configuration, the agent calls nothing else.
        """
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resource_arns=[self.log_group.log_group_arn],
        )

    def metric_crashes(self, **options: Unpack[MetricOptions]) -> cloudwatch.Metric:
        """Container crashes: the filter's counts. Default: sum over 5 minutes."""
        return self.crash_filter.metric(**metric_options(options, statistic=cloudwatch.Stats.SUM))
