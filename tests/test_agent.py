"""CloudWatchAgent: the configuration file the host gets, its dimensions, the user data, least privilege."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsonschema
import pytest
from aws_cdk import assertions
from aws_cdk import aws_ec2 as ec2

from constructs_obs import ContainerLogGroups, ObservedEc2Host
from constructs_obs.host.agent import (
    AGENT_CONFIG_HEREDOC,
    AgentLogFile,
    agent_config,
)
from tests.conftest import logical_id
from tests.user_data import heredoc, setup_script, user_data_script

# The keys of the CloudWatch agent's configuration schema (amazon-cloudwatch-agent translator/config/schema.json
# and the agent's configuration reference) for the sections this library writes. Unknown keys are rejected so a
# typo fails here rather than on the host.
_INTERVAL = {"type": "integer", "minimum": 1, "maximum": 172800}
_STRINGS = {"type": "array", "items": {"type": "string", "minLength": 1}}
_MEASUREMENT = {
    "type": "array",
    "minItems": 1,
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1},
}
AGENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "agent": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "metrics_collection_interval": _INTERVAL,
                "logfile": {"type": "string"},
                "region": {"type": "string"},
                "debug": {"type": "boolean"},
                "omit_hostname": {"type": "boolean"},
                "run_as_user": {"type": "string", "minLength": 1},
                "usage_data": {"type": "boolean"},
            },
        },
        "metrics": {
            "type": "object",
            "additionalProperties": False,
            "required": ["metrics_collected"],
            "properties": {
                "namespace": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 255,
                    "not": {"pattern": "^AWS/"},
                },
                "append_dimensions": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        key: {"const": "${aws:" + key + "}"}
                        for key in ("ImageId", "InstanceId", "InstanceType", "AutoScalingGroupName")
                    },
                },
                "aggregation_dimensions": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"type": "string", "minLength": 1},
                    },
                },
                "force_flush_interval": _INTERVAL,
                "metrics_collected": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": False,
                    "properties": {
                        "mem": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["measurement"],
                            "properties": {
                                "measurement": _MEASUREMENT,
                                "metrics_collection_interval": _INTERVAL,
                                "append_dimensions": {"type": "object"},
                                "drop_original_metrics": _STRINGS,
                            },
                        },
                        "disk": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["measurement"],
                            "properties": {
                                "measurement": _MEASUREMENT,
                                "metrics_collection_interval": _INTERVAL,
                                "append_dimensions": {"type": "object"},
                                "drop_original_metrics": _STRINGS,
                                "resources": _STRINGS,
                                "ignore_file_system_types": _STRINGS,
                                "drop_device": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
        "logs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["logs_collected"],
            "properties": {
                "force_flush_interval": _INTERVAL,
                # logsDefinition.metrics_collected.prometheus and emfProcessorDefinition of the agent's schema.json.
                "metrics_collected": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "prometheus": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "cluster_name": {"type": "string"},
                                "log_group_name": {"type": "string", "minLength": 1, "maxLength": 512},
                                "prometheus_config_path": {"type": "string", "pattern": "^/"},
                                "disable_metric_extraction": {"type": "boolean"},
                                "emf_processor": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "metric_declaration_dedup": {"type": "boolean"},
                                        "metric_namespace": {"type": "string"},
                                        "metric_unit": {
                                            "type": "object",
                                            "additionalProperties": {
                                                "type": "string",
                                                "minLength": 1,
                                                "maxLength": 256,
                                            },
                                        },
                                        "metric_declaration": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "additionalProperties": False,
                                                "properties": {
                                                    "source_labels": _STRINGS,
                                                    "label_matcher": {"type": "string"},
                                                    "label_separator": {"type": "string"},
                                                    "metric_selectors": _STRINGS,
                                                    "dimensions": {
                                                        "type": "array",
                                                        "items": {
                                                            "type": "array",
                                                            "items": {"type": "string"},
                                                        },
                                                    },
                                                },
                                            },
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
                "logs_collected": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "files": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["collect_list"],
                            "properties": {
                                "collect_list": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["file_path"],
                                        "properties": {
                                            "file_path": {"type": "string", "pattern": "^/"},
                                            "log_group_name": {
                                                "type": "string",
                                                "minLength": 1,
                                                "maxLength": 512,
                                            },
                                            "log_stream_name": {
                                                "type": "string",
                                                "minLength": 1,
                                                "maxLength": 512,
                                            },
                                            "timezone": {"enum": ["Local", "LOCAL", "UTC"]},
                                            "timestamp_format": {"type": "string"},
                                            "multi_line_start_pattern": {"type": "string"},
                                            "retention_in_days": {"type": "integer"},
                                        },
                                    },
                                }
                            },
                        }
                    },
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def config_file(staging_template_json: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent configuration file exactly as the staging host's setup script writes it."""
    path, content = heredoc(setup_script(staging_template_json), AGENT_CONFIG_HEREDOC)
    assert path == "/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json"
    local = tmp_path_factory.mktemp("agent") / Path(path).name
    local.write_text(content)
    return local


def test_config_file_is_valid_json_with_the_agents_keys(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    jsonschema.validate(config, AGENT_SCHEMA)
    # The Prometheus section is checked against literal values in tests/test_prometheus.py.
    del config["logs"]["metrics_collected"]
    assert config == agent_config(
        namespace="AiTutor/Staging",
        log_files=[AgentLogFile("/var/log/docker-events/events.log", "/ai-tutor/docker-events")],
    )


def test_schema_rejects_what_the_agent_would(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    config["metrics"]["metrics_collected"]["mem"]["measurment"] = ["mem_used_percent"]
    with pytest.raises(jsonschema.ValidationError, match="measurment"):
        jsonschema.validate(config, AGENT_SCHEMA)


def test_dimensions_are_stable_across_amis_and_devices(config_file: Path) -> None:
    metrics = json.loads(config_file.read_text())["metrics"]
    assert metrics["namespace"] == "AiTutor/Staging"
    # Every metric carries the instance id and, after the roll-up, nothing else.
    assert metrics["append_dimensions"] == {"InstanceId": "${aws:InstanceId}"}
    assert metrics["aggregation_dimensions"] == [["InstanceId"]]
    collected = metrics["metrics_collected"]
    assert set(collected) == {"mem", "disk"}
    # The root disk by mount path; device name and the per-device series are dropped.
    assert collected["disk"] == {
        "measurement": ["used_percent"],
        "resources": ["/"],
        "drop_device": True,
        "drop_original_metrics": ["disk_used_percent"],
    }
    # Memory's original series already has only InstanceId: the agent publishes no identical roll-up, so it
    # must not be dropped or nothing would be published.
    assert collected["mem"] == {"measurement": ["mem_used_percent"]}


def test_agent_runs_unprivileged_and_ships_the_docker_events_file(config_file: Path) -> None:
    config = json.loads(config_file.read_text())
    assert config["agent"] == {"metrics_collection_interval": 60, "run_as_user": "cwagent"}
    assert config["logs"]["logs_collected"]["files"]["collect_list"] == [
        {
            "file_path": "/var/log/docker-events/events.log",
            "log_group_name": "/ai-tutor/docker-events",
            "log_stream_name": "{instance_id}",
            "timezone": "UTC",
        }
    ]


def test_setup_installs_configures_starts_and_checks_the_agent(
    staging_template_json: dict[str, Any], tmp_path: Path
) -> None:
    script = setup_script(staging_template_json)
    lines = script.splitlines()
    for line in (
        "dnf install -y amazon-cloudwatch-agent",
        "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s "
        "-c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json",
        "systemctl enable amazon-cloudwatch-agent",
    ):
        assert line in lines
    # The events service whose file the agent ships, then the agent; the agent must report running.
    assert (
        lines.index("systemctl restart docker-events.service")
        < lines.index("dnf install -y amazon-cloudwatch-agent")
        < lines.index("systemctl enable amazon-cloudwatch-agent")
    )
    assert lines[-1] == (
        "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a status | "
        """grep -q '"status": "running"' || { echo 'amazon-cloudwatch-agent is not running' >&2; exit 1; }"""
    )
    (tmp_path / "setup.sh").write_text(script)
    for shell in ("bash", "sh"):  # AL2023's sh is bash; Debian's dash is the stricter POSIX check
        check = subprocess.run([shell, "-n", str(tmp_path / "setup.sh")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_user_data_has_nothing_of_the_agent(staging_template_json: dict[str, Any]) -> None:
    assert "amazon-cloudwatch-agent" not in user_data_script(staging_template_json)


def test_put_metric_data_only_into_its_namespace(staging: assertions.Template) -> None:
    role = logical_id(staging, "AWS::IAM::Role", RoleName="ai-tutor-staging-ec2-role")
    policies = staging.find_resources("AWS::IAM::Policy", {"Properties": {"Roles": [{"Ref": role}]}})
    statements = next(iter(policies.values()))["Properties"]["PolicyDocument"]["Statement"]
    metric_statements = [s for s in statements if "cloudwatch:PutMetricData" in str(s["Action"])]
    assert metric_statements == [
        {
            "Action": "cloudwatch:PutMetricData",
            "Condition": {"StringEquals": {"cloudwatch:namespace": "AiTutor/Staging"}},
            "Effect": "Allow",
            "Resource": "*",
        }
    ]
    # No other cloudwatch action at all, and no AWS-managed policy (CloudWatchAgentServerPolicy).
    assert all(
        not a.startswith("cloudwatch:") or a == "cloudwatch:PutMetricData"
        for s in statements
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    )
    for resource in staging.find_resources("AWS::IAM::Role").values():
        assert not str(resource["Properties"].get("ManagedPolicyArns", "")).count("CloudWatchAgent")


def test_instance_declares_the_agent_metrics(staging_template_json: dict[str, Any]) -> None:
    instance = next(
        r for r in staging_template_json["Resources"].values() if r["Type"] == "AWS::EC2::Instance"
    )
    # The key docgen and the free-tier check read (docs/generated/cost.md lists these metrics).
    assert instance["Metadata"]["ConstructsObs::CustomMetrics"] == [
        {"Namespace": "AiTutor/Staging", "MetricName": "mem_used_percent", "Dimensions": ["InstanceId"]},
        {"Namespace": "AiTutor/Staging", "MetricName": "disk_used_percent", "Dimensions": ["InstanceId"]},
        # The backend's LLM cache counters, scraped by the agent (tests/test_prometheus.py): no dimension.
        {"Namespace": "AiTutor/Staging", "MetricName": "llm_cache_hits_total", "Dimensions": []},
        {"Namespace": "AiTutor/Staging", "MetricName": "llm_cache_misses_total", "Dimensions": []},
    ]


def _host(**props: Any) -> tuple[cdk.Stack, ObservedEc2Host]:
    stack = cdk.Stack(cdk.App(), "AgentTest", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    host = ObservedEc2Host(
        stack,
        "Host",
        vpc=vpc,
        log_groups=ContainerLogGroups(
            stack, "Logs", prefix="/app", containers=["backend", "frontend", "nginx"]
        ),
        **props,
    )
    return stack, host


def test_default_namespace_and_metrics() -> None:
    stack, host = _host()
    # One namespace per host by default: ConstructsObs/{stack name}/{host path in the stack}.
    assert host.agent.namespace == host.metrics_namespace == "ConstructsObs/AgentTest/Host"
    metric = host.agent.metric_memory_used_percent(period=cdk.Duration.minutes(5))
    assert (metric.namespace, metric.metric_name, metric.statistic) == (
        "ConstructsObs/AgentTest/Host",
        "mem_used_percent",
        "Average",
    )
    assert stack.resolve(metric.dimensions) == {"InstanceId": {"Ref": "HostInstance2C59A3BE"}}
    disk = host.agent.metric_disk_used_percent(period=cdk.Duration.minutes(5))
    assert (disk.metric_name, disk.statistic) == ("disk_used_percent", "Maximum")


@pytest.mark.parametrize("namespace", ["AWS/EC2", ""])
def test_namespace_must_be_a_custom_one(namespace: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"metrics_namespace must be a custom CloudWatch namespace: .* not starting with 'AWS/' "
        rf"\(reserved for AWS services\), got '{namespace}'",
    ):
        _host(metrics_namespace=namespace)


def _host_template(namespace: str) -> dict[str, Any]:
    app = cdk.App()
    stack = cdk.Stack(app, "Change", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Vpc",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["eu-west-1a"],
        public_subnet_ids=["subnet-1"],
    )
    logs = ContainerLogGroups(stack, "Logs", prefix="/change", containers=["api"])
    ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, metrics_namespace=namespace)
    return assertions.Template.from_stack(stack).to_json()


def test_an_agent_change_reaches_the_setup_and_leaves_the_user_data_alone() -> None:
    """A UserData change stops and starts the instance (and cloud-init does not rerun it): an agent setting
    must change only the setup association, which State Manager applies again on update."""
    before, after = _host_template("Change/One"), _host_template("Change/Two")
    (instance_before,) = [r for r in before["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    (instance_after,) = [r for r in after["Resources"].values() if r["Type"] == "AWS::EC2::Instance"]
    assert instance_before["Properties"]["UserData"] == instance_after["Properties"]["UserData"]
    script_before, script_after = setup_script(before), setup_script(after)
    assert script_before != script_after
    assert '    "namespace": "Change/One"' in script_before.splitlines()
    assert '    "namespace": "Change/Two"' in script_after.splitlines()
    # No other instance property changes either (no replacement, no stop/start); only the template metadata
    # that declares the agent's metrics for the free-tier check, which CloudFormation does not apply to EC2.
    assert instance_before["Properties"] == instance_after["Properties"]
