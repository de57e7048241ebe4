"""The documentation cannot drift: generated pages match the stack, and every Python sample runs."""

from __future__ import annotations

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


def test_architecture_picture_is_drawn_from_the_current_graph(staging_template_json: dict[str, Any]) -> None:
    dot = docgen.architecture_dot(staging_template_json)
    svg = (DOCS / "img" / "architecture.svg").read_text()
    assert f"<!-- dot-sha256: {docgen.dot_digest(dot)} -->" in svg, (
        "architecture.svg is stale: run `make docs-gen`"
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
