"""What the constructs write and ``obs-doctor`` reads: names, paths and formats shared by both sides.

Plain values, no CDK import: the constructs build the template and the host's setup from them, and the doctor
(which runs with boto3 only, never loading aws-cdk-lib or Node.js) reads the deployment with the same values,
so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Final

#: Resource metadata key under which each host's setup association describes the host for ``obs-doctor``, with the
#: fields of :class:`HostFields` (and, with Prometheus scrapes, :class:`PrometheusFields`).
HOST_METADATA_KEY = "ConstructsObs::Host"


class HostFields:
    """The fields of the host metadata (:data:`HOST_METADATA_KEY`), as the setup association carries them::

        {"HostPath", "InstanceId", "MetricsNamespace", "RoleName", "RoleLogicalId",
         "ContainerLogGroups": {container: group}, "DockerEventsLogGroup", "Prometheus": {...}}

    A fleet (:class:`~constructs_obs.fleet.observability.FleetObservability`) names its Auto Scaling group
    (``AutoScalingGroupName``, a ``Ref`` to the group) instead of ``InstanceId``: its instances come and go, and
    ``obs-doctor`` lists them from the group.

    ``InstanceId`` is a ``Ref`` when the stack creates the instance (the association targets it anyway). The role is
    named by its literal name (an imported role: ``RoleName``) or by its logical id in the stack (a role of the
    stack: ``RoleLogicalId``, whose physical name is the stack resource's): a ``Ref`` would duplicate the
    association's explicit dependency on the role (cfn-lint W3005). ``Prometheus`` is present with scrapes only.
    """

    HOST_PATH: Final = "HostPath"
    INSTANCE_ID: Final = "InstanceId"
    AUTO_SCALING_GROUP_NAME: Final = "AutoScalingGroupName"
    METRICS_NAMESPACE: Final = "MetricsNamespace"
    ROLE_NAME: Final = "RoleName"
    ROLE_LOGICAL_ID: Final = "RoleLogicalId"
    CONTAINER_LOG_GROUPS: Final = "ContainerLogGroups"
    DOCKER_EVENTS_LOG_GROUP: Final = "DockerEventsLogGroup"
    PROMETHEUS: Final = "Prometheus"


class PrometheusFields:
    """The fields of the host metadata's ``Prometheus`` block: ``{"LogGroup", "Jobs": [{"JobName", "Url",
    "IntervalSeconds", "Metrics", "Dimensions"}]}``, one job per scrape."""

    LOG_GROUP: Final = "LogGroup"
    JOBS: Final = "Jobs"
    JOB_NAME: Final = "JobName"
    URL: Final = "Url"
    INTERVAL_SECONDS: Final = "IntervalSeconds"
    METRICS: Final = "Metrics"
    DIMENSIONS: Final = "Dimensions"


#: The scrape interval of a Prometheus job that names none (Prometheus's own default), in seconds.
DEFAULT_SCRAPE_INTERVAL_SECONDS = 60

#: Resource metadata key under which a resource declares the custom metrics it publishes at run time, so that a
#: template alone tells what a stack bills: a list of ``{"Namespace", "MetricName", "Dimensions": [keys]}`` and,
#: for a metric with one series per dimension value, ``"PerDimensionValue": true`` (read by
#: :mod:`constructs_obs.checks.free_tier`).
CUSTOM_METRICS_METADATA_KEY = "ConstructsObs::CustomMetrics"
#: Resource metadata key under which a log group declares what it is expected to ingest a month:
#: ``{"BytesPerMonth": int, "Basis": "how the figure is made"}`` (read by :mod:`constructs_obs.checks.free_tier`).
LOG_INGESTION_METADATA_KEY = "ConstructsObs::LogIngestion"

#: What the SSM agent calls to register the instance with Systems Manager (on the account's instances).
SSM_REGISTRATION_ACTION = "ssm:UpdateInstanceInformation"
#: What the SSM agent needs for Session Manager's message channels and Run Command's messages: the channel actions
#: of AmazonSSMManagedInstanceCore. None of them supports resource-level permissions.
SSM_CHANNEL_ACTIONS: tuple[str, ...] = (
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)
#: What the SSM agent calls to receive and report State Manager associations (the association actions of
#: AmazonSSMManagedInstanceCore, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/
#: AmazonSSMManagedInstanceCore.html). Run Command itself arrives over the ec2messages channel.
STATE_MANAGER_ACTIONS: tuple[str, ...] = (
    "ssm:DescribeAssociation",
    "ssm:ListAssociations",
    "ssm:ListInstanceAssociations",
    "ssm:PutComplianceItems",
    "ssm:UpdateAssociationStatus",
    "ssm:UpdateInstanceAssociationStatus",
)
#: Reading the document the association runs (resource-scoped to that document).
DOCUMENT_READ_ACTIONS: tuple[str, ...] = ("ssm:DescribeDocument", "ssm:GetDocument")

#: The AWS-managed Command document that runs the setup script (``commands``) on Linux.
RUN_SHELL_SCRIPT_DOCUMENT = "AWS-RunShellScript"
#: What the setup script prints before each step (followed by the step's name), so its output says which ran.
SETUP_STEP_MARKER = "== constructs-obs setup: "

#: The two metrics the CloudWatch agent publishes, each with the single dimension ``InstanceId`` (a host's) or
#: ``AutoScalingGroupName`` (a fleet's: :data:`FLEET_DIMENSION`).
MEMORY_USED_PERCENT = "mem_used_percent"
DISK_USED_PERCENT = "disk_used_percent"
#: The dimension of a fleet's agent metrics, and of the AWS/EC2 and AWS/AutoScaling metrics of its group.
FLEET_DIMENSION = "AutoScalingGroupName"
#: The EC2 tag Auto Scaling puts on every instance it launches: its group's name. A fleet's setup association
#: targets the instances by it (``tag:aws:autoscaling:groupName``).
AUTO_SCALING_GROUP_TAG = "aws:autoscaling:groupName"
#: The Auto Scaling group metrics a fleet's capacity alarm compares (namespace ``AWS/AutoScaling``).
GROUP_IN_SERVICE_INSTANCES = "GroupInServiceInstances"
GROUP_DESIRED_CAPACITY = "GroupDesiredCapacity"

#: Where the setup writes the agent's JSON configuration on the host (the input of ``fetch-config``).
AGENT_CONFIG_PATH = "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
#: The agent's live configuration: ``amazon-cloudwatch-agent-ctl -a fetch-config -c file:PATH`` in the default
#: multi-config mode translates :data:`AGENT_CONFIG_PATH` into this file and *deletes* the input
#: (aws/amazon-cloudwatch-agent ``packaging/dependencies/amazon-cloudwatch-agent-ctl``), so this is the file an
#: operator reads on the host.
AGENT_LIVE_CONFIG_PATH = (
    "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.d/file_amazon-cloudwatch-agent.json"
)
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
