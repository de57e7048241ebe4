"""What the constructs write and ``obs-doctor`` reads: names, paths and formats shared by both sides.

Plain values, no CDK import: the constructs build the template and the host's setup from them, and the doctor
(which runs with boto3 only, never loading aws-cdk-lib or Node.js) reads the deployment with the same values,
so the two cannot drift apart.
"""

from __future__ import annotations

#: Resource metadata key under which each host's setup association describes the host (see
#: :data:`constructs_obs.host.observability.HOST_METADATA_KEY` for its fields).
HOST_METADATA_KEY = "ConstructsObs::Host"

#: The AWS-managed Command document that runs the setup script (``commands``) on Linux.
RUN_SHELL_SCRIPT_DOCUMENT = "AWS-RunShellScript"
#: What the setup script prints before each step (followed by the step's name), so its output says which ran.
SETUP_STEP_MARKER = "== constructs-obs setup: "

#: The two metrics the CloudWatch agent publishes, each with the single dimension ``InstanceId``.
MEMORY_USED_PERCENT = "mem_used_percent"
DISK_USED_PERCENT = "disk_used_percent"
#: Where the setup writes the agent's JSON configuration on the host.
AGENT_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
#: Where the setup writes the Prometheus scrape configuration the agent reads (``prometheus_config_path``). The
#: agent runs as ``cwagent``: the file is world-readable (0644) in a world-searchable folder.
PROMETHEUS_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml"

#: The docker-events service's systemd unit.
DOCKER_EVENTS_UNIT = "docker-events.service"
#: Where the service writes the events (the CloudWatch agent ships the file).
DOCKER_EVENTS_LOG_FILE = "/var/log/docker-events/events.log"
#: The ``Type`` and ``Action`` of the line the service writes each time it starts (a JSON line, so the JSON
#: crash filter reads it and does not count it; ``docker-events`` is not one of Docker's event types).
START_LINE_TYPE = "docker-events"
START_LINE_ACTION = "start"

#: Field names of nginx's default ``combined`` log format, in order, as the nginx-5xx filter names them.
NGINX_COMBINED_FIELDS: tuple[str, ...] = (
    "remote_addr",
    "ident",
    "remote_user",
    "time_local",
    "request",
    "status_code",
    "body_bytes_sent",
    "http_referer",
    "http_user_agent",
)
#: Conditions of the nginx-5xx pattern that describe the layout: ``time_local = *:*`` and ``request = *HTTP/*``
#: keep client text in ``$remote_user`` from shifting a forged status into place (a JSON line with spaces in it
#: has nine "fields" too, but not these). The doctor keeps them when it relaxes the pattern to its shape.
NGINX_LAYOUT_CONDITIONS: dict[str, str] = {"time_local": "*:*", "request": "*HTTP/*"}
#: All conditions of the nginx-5xx pattern by field: the layout, and the status that is counted.
NGINX_5XX_CONDITIONS: dict[str, str] = {**NGINX_LAYOUT_CONDITIONS, "status_code": "5*"}
