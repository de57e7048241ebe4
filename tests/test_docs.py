"""The documentation cannot drift: generated pages match the stack, and every Python sample runs."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import assertions

from scripts import docgen
from stacks.synth import ROOT, make_app

DOCS = ROOT / "docs"


@pytest.mark.parametrize("path", sorted(docgen.pages({"Resources": {}}).keys()), ids=lambda p: p.name)
def test_generated_file_is_current(path: Path, staging_template_json: dict[str, Any]) -> None:
    expected = docgen.pages(staging_template_json)[path]
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make docs-gen`"
    assert path.read_text() == expected, f"{path.relative_to(ROOT)} is stale: run `make docs-gen`"


def test_alert_path_picture_is_drawn_from_the_current_graph(staging_template_json: dict[str, Any]) -> None:
    dot = docgen.alert_path_dot(staging_template_json)
    svg = (DOCS / "img" / "alert-path.svg").read_text()
    assert f"<!-- dot-sha256: {docgen.dot_digest(dot)} -->" in svg, (
        "alert-path.svg is stale: run `make docs-gen`"
    )


def test_coverage_reflects_the_template() -> None:
    page = docgen.coverage_page(
        {
            "Resources": {
                "A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "x-memory-high"}},
                "L": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/x/nginx"}},
            }
        }
    )
    assert "| Memory usage alerts | CloudWatch agent + alarm | Active | `x-memory-high` |" in page
    assert "| CPU spikes | Not configured | Not yet | none |" in page
    assert "| Container OOM/crash | Docker healthchecks + UptimeRobot | Partial | none |" in page
    assert "| Nginx errors | CloudWatch Logs (nginx container) | Active | `/x/nginx` |" in page


def test_staging_coverage_has_cpu_and_status_rows_active(staging_template_json: dict[str, Any]) -> None:
    page = docgen.coverage_page(staging_template_json)
    assert "| CPU spikes | CloudWatch Alarms | Active | `ai-tutor-staging-cpu-high` |" in page
    assert (
        "| EC2 status check failure | CloudWatch Alarms | Active | `ai-tutor-staging-status-check` |" in page
    )


def test_alarms_reference_lists_every_alarm(staging_template_json: dict[str, Any]) -> None:
    page = docgen.alarms_page(staging_template_json)
    for name in docgen.alarm_names(staging_template_json):
        assert f"| `{name}` |" in page
    assert "| Average > 80 in 2 of 2 periods | 5 min | not breaching" in page
    for logical_id in docgen._resources(staging_template_json, "AWS::CloudWatch::Alarm"):
        tta = docgen.time_to_alert(staging_template_json, logical_id)
        assert f"| **{docgen._duration(tta.total_seconds)}**: {tta.breakdown()} |" in page
    assert "## How the time to alert is computed" in page


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def _markdown_pages() -> list[Path]:
    return sorted([*DOCS.rglob("*.md"), ROOT / "README.md"])


def _samples() -> list[tuple[str, str]]:
    samples = []
    for page in _markdown_pages():
        for index, block in enumerate(_python_blocks(page.read_text())):
            samples.append((f"{page.relative_to(ROOT)}#{index}", block))
    return samples


@pytest.mark.parametrize(("where", "code"), _samples(), ids=[w for w, _ in _samples()])
def test_python_sample_runs(where: str, code: str, tmp_path: Path) -> None:
    """Each ```python block of the docs and README runs; a snippet include runs the file it includes."""
    include = re.fullmatch(r'--8<-- "([^"]+)"\s*', code)
    if include:
        runpy.run_path(str(ROOT / include.group(1)), run_name="__main__")
        return
    namespace: dict[str, Any] = {"__name__": "docs_sample"}
    exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own documentation samples
    stacks = [
        v
        for v in namespace.values()
        if isinstance(v, type) and issubclass(v, cdk.Stack) and v.__module__ == "docs_sample"
    ]
    for stack_class in stacks:
        app = make_app(tmp_path)
        stack = stack_class(app, "Sample", env=cdk.Environment(region="us-east-2"))
        assert assertions.Template.from_stack(stack).find_resources("AWS::Logs::LogGroup"), where


def test_every_page_with_code_has_its_samples_collected() -> None:
    assert any(w.startswith("docs/usage.md") for w, _ in _samples())
    assert any(w.startswith("README.md") for w, _ in _samples())


def test_example_stack_synthesizes_with_its_own_names(tmp_path: Path) -> None:
    module = runpy.run_path(str(DOCS / "examples" / "shop_stack.py"))
    app = make_app(tmp_path)
    stack = module["ShopStack"](
        app,
        "Shop",
        env=cdk.Environment(region="eu-central-1"),
        oncall_topic_arn="arn:aws:sns:eu-central-1:1:t",
    )
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties("AWS::Logs::LogGroup", {"LogGroupName": "/shop/worker"})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "shop-prod-cpu-high", "Threshold": 70}
    )


def test_cost_page_is_zero_for_staging_and_counts_like_the_check(
    staging_template_json: dict[str, Any],
) -> None:
    assert "| **Total** | | | | **$0.00/month** |" in docgen.cost_page(staging_template_json)
    alarm = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {"AlarmName": "a", "MetricName": "m", "Namespace": "n", "Period": 300},
    }
    over = docgen.cost_page({"Resources": {f"A{i}": alarm for i in range(12)}})
    assert "| Alarm metrics (standard resolution) | 12 | 10 | $0.10 each | $0.20 |" in over
    assert "**$0.20/month**" in over


# --- time to alert and the alert path, on a small hand-made template ---------------------------------------

_AGENT_CONFIG = {
    "agent": {"metrics_collection_interval": 30},
    "metrics": {
        "namespace": "Shop",
        "force_flush_interval": 15,
        "metrics_collected": {"mem": {"measurement": ["mem_used_percent"]}},
    },
    "logs": {
        "force_flush_interval": 2,
        "logs_collected": {
            "files": {
                "collect_list": [{"file_path": "/var/log/events.log", "log_group_name": "/shop/host-events"}]
            }
        },
    },
}


def _alarm(metric: str, namespace: str, period: int, **props: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"shop-{metric}",
            "MetricName": metric,
            "Namespace": namespace,
            "Period": period,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1,
            "Statistic": "Sum",
            "AlarmActions": [{"Ref": "Topic"}],
            **props,
        },
    }


def _small_template(agent_config_in: str = "parameter") -> dict[str, Any]:
    """A container group with a filter, an agent-shipped group with a filter, agent, EC2 and unknown metrics."""
    resources: dict[str, Any] = {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "shop alarms"}},
        "Sub": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {"Protocol": "email", "TopicArn": {"Ref": "Topic"}, "Endpoint": "ops@example.com"},
        },
        "Web": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/shop/web"}},
        "Worker": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/shop/worker"}},
        "Events": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/shop/host-events"}},
        "WebFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "FilterName": "web-errors",
                "LogGroupName": {"Ref": "Web"},
                "MetricTransformations": [
                    {"MetricNamespace": "Shop", "MetricName": "WebErrors", "MetricValue": "1"}
                ],
            },
        },
        "EventsFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": "/shop/host-events",
                "MetricTransformations": [
                    {"MetricNamespace": "Shop", "MetricName": "Crashes", "MetricValue": "1"}
                ],
            },
        },
        "Host": {
            "Type": "AWS::EC2::Instance",
            "Properties": {"Monitoring": True, "UserData": {"Fn::Base64": "#!/bin/bash\necho hello\n"}},
            "Metadata": {
                "ConstructsObs::CustomMetrics": [
                    {"Namespace": "Shop", "MetricName": "mem_used_percent", "Dimensions": ["InstanceId"]}
                ]
            },
        },
        "WebErrorsAlarm": _alarm("WebErrors", "Shop", 60, DatapointsToAlarm=1),
        "CrashesAlarm": _alarm("Crashes", "Shop", 60),
        "MemoryAlarm": _alarm("mem_used_percent", "Shop", 300, EvaluationPeriods=3, DatapointsToAlarm=2),
        "CpuAlarm": _alarm(
            "CPUUtilization",
            "AWS/EC2",
            60,
            EvaluationPeriods=3,
            Dimensions=[{"Name": "InstanceId", "Value": {"Ref": "Host"}}],
        ),
        "StatusAlarm": _alarm("StatusCheckFailed", "AWS/EC2", 60, DatapointsToAlarm=2, EvaluationPeriods=2),
        "OtherAlarm": _alarm("Thing", "Elsewhere", 10),
    }
    del resources["StatusAlarm"]["Properties"]["AlarmActions"]
    config = json.dumps(_AGENT_CONFIG, indent=2)
    if agent_config_in == "parameter":
        resources["AgentConfig"] = {
            "Type": "AWS::SSM::Parameter",
            "Properties": {"Type": "String", "Value": config},
        }
    elif agent_config_in == "user-data":
        resources["Host"]["Properties"]["UserData"] = {
            "Fn::Base64": {
                "Fn::Join": ["", ["#!/bin/bash\ncat > /opt/agent.json <<'EOF'\n", config, "\nEOF\n"]]
            }
        }
    return {"Resources": resources}


def test_time_to_alert_of_a_container_log_metric() -> None:
    tta = docgen.time_to_alert(_small_template(), "WebErrorsAlarm")
    assert tta.kind == "container-log"
    assert tta.parts == [
        ("awslogs driver batch", 5),
        ("metric filter", 60),
        ("alarm period (1 x 1 min)", 60),
        ("alarm evaluation", 60),
        ("SNS email", 60),
    ]
    assert tta.total_seconds == 245
    assert tta.summary() == (
        "shop-WebErrors: 4 min 5 s = 5 s awslogs driver batch + 1 min metric filter + 1 min alarm period "
        "(1 x 1 min) + 1 min alarm evaluation + 1 min SNS email"
    )


@pytest.mark.parametrize("where", ["parameter", "user-data"])
def test_time_to_alert_reads_the_agent_configuration(where: str) -> None:
    template = _small_template(where)
    crashes = docgen.time_to_alert(template, "CrashesAlarm")
    assert crashes.kind == "agent-log"  # its group is in the agent's collect_list, whatever its name
    assert crashes.parts[0] == ("CloudWatch agent log flush", 2)
    assert crashes.total_seconds == 242
    memory = docgen.time_to_alert(template, "MemoryAlarm")
    assert memory.kind == "agent-metric"
    assert memory.parts[:3] == [
        ("CloudWatch agent collection", 30),
        ("CloudWatch agent metrics flush", 15),
        ("alarm periods (2 x 5 min)", 600),
    ]
    assert memory.total_seconds == 765


def test_time_to_alert_falls_back_to_the_agent_defaults() -> None:
    template = _small_template("nowhere")
    assert docgen.time_to_alert(template, "MemoryAlarm").total_seconds == 60 + 60 + 600 + 60 + 60
    # Without an agent configuration, a group ending in /docker-events is the agent's, the others Docker's.
    assert docgen.time_to_alert(template, "CrashesAlarm").kind == "container-log"
    template["Resources"]["Events"]["Properties"]["LogGroupName"] = "/shop/docker-events"
    template["Resources"]["EventsFilter"]["Properties"]["LogGroupName"] = {"Ref": "Events"}
    crashes = docgen.time_to_alert(template, "CrashesAlarm")
    assert (crashes.kind, crashes.parts[0], crashes.total_seconds) == (
        "agent-log",
        ("CloudWatch agent log flush", 5),
        245,
    )


def test_time_to_alert_of_ec2_and_other_metrics() -> None:
    template = _small_template()
    cpu = docgen.time_to_alert(template, "CpuAlarm")  # detailed monitoring on the instance, 3 of 3 periods
    assert cpu.parts[:2] == [("EC2 detailed monitoring", 60), ("alarm periods (3 x 1 min)", 180)]
    assert cpu.total_seconds == 360
    template["Resources"]["Host"]["Properties"]["Monitoring"] = False
    assert docgen.time_to_alert(template, "CpuAlarm").total_seconds == 600
    status = docgen.time_to_alert(template, "StatusAlarm")  # no alarm action: no email
    assert status.parts == [
        ("EC2 status check", 60),
        ("alarm periods (2 x 1 min)", 120),
        ("alarm evaluation", 60),
    ]
    other = docgen.time_to_alert(template, "OtherAlarm")  # high resolution: evaluated every 10 s
    assert (other.kind, other.total_seconds) == ("unknown", 60 + 10 + 10 + 60)
    with pytest.raises(KeyError):
        docgen.time_to_alert(template, "Nope")


def test_alert_path_is_drawn_from_the_template() -> None:
    template = _small_template()
    dot = docgen.alert_path_dot(template)
    assert '"awslogs" -> "lg:/shop/web" [label="5 s batches"];' in dot
    assert '"lg:/shop/web" -> "m:Shop/WebErrors" [label="web-errors\\n1 min"];' in dot
    assert '"m:Shop/WebErrors" -> "a:WebErrorsAlarm" [label="1 x 1 min"];' in dot
    assert '"agent" -> "lg:/shop/host-events" [label="2 s flush"];' in dot
    assert '"agent" -> "m:Shop/mem_used_percent" [label="every 30 s\\n+ 15 s flush"];' in dot
    assert '"ec2:Host" -> "m:AWS/EC2/CPUUtilization" [label="every 1 min\\n(detailed monitoring)"];' in dot
    assert '"lg:quiet" [label="/shop/worker\\n(no alarm)"' in dot
    assert '"email:Topic" [label="email\\n1 subscription", shape=note];' in dot
    assert "a:StatusAlarm" in dot and "cluster_alarms_1" in dot  # the alarm without an action stands apart
    template["Resources"]["NewAlarm"] = _alarm("Slow", "Shop", 60)
    assert '"m:Shop/Slow" -> "a:NewAlarm" [label="1 x 1 min"];' in docgen.alert_path_dot(template)


# --- the home page lists every public construct ------------------------------------------------------------


def _public_constructs() -> list[tuple[str, type]]:
    import constructs

    import constructs_obs

    found = []
    for name in constructs_obs.__all__:
        value = getattr(constructs_obs, name)
        if isinstance(value, type) and issubclass(value, constructs.Construct):
            found.append((name, value))
    return found


def test_home_page_table_lists_every_public_construct() -> None:
    index = (DOCS / "index.md").read_text()
    constructs_found = _public_constructs()
    assert len(constructs_found) >= 8
    for name, cls in constructs_found:
        assert f"| [`{name}`](api.md#{cls.__module__}.{name}) |" in index, (
            f"{name} is missing from docs/index.md"
        )


def test_api_reference_documents_every_public_construct() -> None:
    api = (DOCS / "api.md").read_text()
    entries = set(re.findall(r"^::: (\S+)\s*$", api, flags=re.MULTILINE))
    for name, cls in _public_constructs():
        assert f"{cls.__module__}.{name}" in entries or cls.__module__ in entries, (
            f"{name} is not in docs/api.md"
        )


def test_the_readme_starts_with_the_quickstart_and_keeps_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", readme, flags=re.MULTILINE)
    assert headings[0] == "Quickstart"
    assert "Two commands" in headings
    two = readme[readme.index("## Two commands") :]
    assert re.search(r"^make synth +#", two, flags=re.MULTILINE)
    assert re.search(r"^make test +#", two, flags=re.MULTILINE)
    # A package that is not on PyPI: no placeholder URL, the wheel the README's own lines build.
    assert "example.com/your-org" not in readme
    assert "python -m pip install dist/constructs_obs-*.whl" in readme
    # docs/getting-started.md starts with the same quickstart, included from the README.
    getting_started = (DOCS / "getting-started.md").read_text().splitlines()
    assert getting_started[:3] == ["# Getting started", "", '--8<-- "README.md:quickstart"']
