"""The doctor's shape: one module per check family, a shared facts module, a short runner, and no import cycle.

The doctor must not import aws-cdk-lib (the command needs boto3 only), so what it knows of the constructs (the
metadata key, the docker-events start line and unit, the setup's step marker, the agent's metrics, the nginx
fields) is written out in it; the tests below hold each copy to the construct module it comes from.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import constructs_obs.doctor
from tests.conftest import ROOT

DOCTOR = ROOT / "constructs_obs" / "doctor"
PACKAGE = "constructs_obs.doctor"


def doctor_modules() -> dict[str, Path]:
    """Module name -> file, for every module of the doctor package."""
    modules = {}
    for path in sorted(DOCTOR.rglob("*.py")):
        parts = list(path.relative_to(DOCTOR.parent.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path) -> set[str]:
    """The doctor modules ``name`` imports, at run time or under TYPE_CHECKING alike (a cycle is one either way)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    modules = doctor_modules()
    # ``from constructs_obs.doctor import guide`` imports the module constructs_obs.doctor.guide.
    return {m for m in found if m in modules and m != name and m != PACKAGE}


def import_graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in doctor_modules().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


@pytest.mark.parametrize("module", sorted(set(doctor_modules()) - {f"{PACKAGE}.__main__"}))
def test_each_module_imports(module: str) -> None:
    # (__main__ runs the command when imported: test_cli runs it as ``python -m constructs_obs.doctor``.)
    assert importlib.import_module(module).__name__ == module


def test_no_import_cycle() -> None:
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one() -> None:
    # The doctor's former shape: checks imported deep, which imported checks back.
    assert find_cycle({"checks": {"deep", "report"}, "deep": {"checks"}, "report": set()}) == [
        "checks",
        "deep",
        "checks",
    ]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_layering() -> None:
    graph = import_graph()
    checks = {m for m in graph if m.startswith(f"{PACKAGE}.checks.")}
    assert len(checks) >= 10, "one module per check family"
    shared = {
        f"{PACKAGE}.{m}" for m in ("facts", "report", "guide", "stack", "discovery", "windows", "fleets")
    }
    for module in checks:
        # A check family depends on the shared modules only, never on another family or the runner.
        assert graph[module] <= shared, (module, graph[module] - shared)
    assert graph[f"{PACKAGE}.facts"] <= {f"{PACKAGE}.report", f"{PACKAGE}.stack", f"{PACKAGE}.guide"}
    assert graph[f"{PACKAGE}.windows"] <= {f"{PACKAGE}.facts", f"{PACKAGE}.report"}
    assert graph[f"{PACKAGE}.fleets"] <= {f"{PACKAGE}.facts"}
    assert graph[f"{PACKAGE}.report"] == set()
    assert graph[f"{PACKAGE}.guide"] == set()
    # How a report is printed depends on the report only; the checks and the runner never print.
    for printer in ("text", "junit"):
        assert graph[f"{PACKAGE}.{printer}"] == {f"{PACKAGE}.report"}, printer
    assert not {f"{PACKAGE}.text", f"{PACKAGE}.junit"} & (
        graph[f"{PACKAGE}.runner"] | graph[f"{PACKAGE}.plan"]
    )
    runner = doctor_modules()[f"{PACKAGE}.runner"]
    assert len(runner.read_text().splitlines()) < 200, "the runner stays short"
    for name, path in doctor_modules().items():
        assert len(path.read_text().splitlines()) < 500, f"{name} grew past 500 lines: split it"


def test_the_doctor_knows_what_the_constructs_write() -> None:
    """Both sides take the shared names from constructs_obs.contract (no copies); what they write is read back."""
    from constructs_obs.alarms import log_patterns as log_alarms
    from constructs_obs.contract import SETUP_STEP_MARKER
    from constructs_obs.doctor.checks import docker_events as doctor_events
    from constructs_obs.doctor.checks import log_format
    from constructs_obs.host import docker_events, setup

    # The pattern the constructs deploy keeps its layout conditions when the doctor relaxes it to its shape.
    shape = log_format.relax(log_alarms.NGINX_5XX_PATTERN)
    assert shape.pattern == (
        "[remote_addr, ident, remote_user, time_local = *:*, request = *HTTP/*, status_code, body_bytes_sent, "
        "http_referer, http_user_agent, ...]"
    )
    # The setup script prints the step marker the doctor reads.
    script = setup.render_script([setup.SetupStep("a step", ("true",))])
    assert "echo '== constructs-obs setup: a step'" in script
    assert SETUP_STEP_MARKER == "== constructs-obs setup: "
    # The start line the service writes is one the doctor recognizes (its printf, run by a real shell).
    import subprocess

    [printf] = [
        line for line in docker_events.docker_events_program().splitlines() if line.startswith("printf")
    ]
    written = subprocess.run(
        ["sh", "-c", printf.replace('>>"$log"', "")], capture_output=True, text=True, check=True
    ).stdout
    assert doctor_events.is_start_line(written.strip())


def test_the_doctor_reads_the_prometheus_metadata_and_events_the_constructs_write() -> None:
    from aws_cdk import Duration

    from constructs_obs.doctor.checks.prometheus import what_the_events_declare
    from constructs_obs.doctor.facts import PrometheusJob
    from constructs_obs.host.prometheus.scrape import PrometheusScrape
    from constructs_obs.testing.emf import emf_event
    from stacks.staging import BACKEND_METRICS

    api = PrometheusScrape(
        job_name="api",
        port=8000,
        metrics=("requests_total", "errors_total"),
        labels=("route",),
        dimensions=("route",),
        interval=Duration.minutes(4),
    )
    for scrape in (BACKEND_METRICS, api):
        job = PrometheusJob(
            job_name=scrape.job_name,
            url=scrape.url,
            interval_seconds=scrape.interval_seconds,
            metrics=scrape.metrics,
            dimensions=scrape.dimensions,
        )
        # The event the library says the agent writes declares the job's metrics as the doctor expects them.
        event = emf_event(scrape, namespace="AiTutor/Staging")
        assert what_the_events_declare(event, "AiTutor/Staging", job) is None
        assert what_the_events_declare(event, "Other/Namespace", job) == (
            "its events declare their metrics in AiTutor/Staging, not Other/Namespace"
        )


def test_running_the_doctor_does_not_load_the_cdk() -> None:
    # Every module the command runs, imported in a fresh interpreter: no aws-cdk-lib, no jsii (Node.js).
    import subprocess
    import sys

    modules = sorted(set(doctor_modules()) - {f"{PACKAGE}.__main__"})
    script = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('aws_cdk' in sys.modules, 'jsii' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_the_public_names() -> None:
    for name in constructs_obs.doctor.__all__:
        assert getattr(constructs_obs.doctor, name) is not None


#: The services the doctor calls, by boto3 name (which is also each one's IAM action prefix).
SERVICES = ("cloudformation", "ec2", "autoscaling", "iam", "logs", "cloudwatch", "sns", "kms", "ssm")


def calls_in_the_source() -> dict[str, set[str]]:
    """boto3 method name -> the IAM actions it can be, for every AWS call written in the doctor's source."""
    import re

    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    methods: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            methods.setdefault(xform_name(operation), set()).add(f"{service}:{operation}")
    source = "\n".join(path.read_text() for path in doctor_modules().values())
    # (guide.confirm_subscription is the doctor's own text, not SNS's ConfirmSubscription.)
    written = set(re.findall(r"(?<!guide)\.([a-z_]+)\(", source)) | set(
        re.findall(r'get_paginator\("([a-z_]+)"\)', source)
    )
    return {method: actions for method, actions in methods.items() if method in written}


def test_the_runbook_policy_allows_every_call_the_doctor_makes() -> None:
    from tests.doctor.helpers import runbook_permissions, runbook_policy

    allowed = runbook_permissions()
    calls = calls_in_the_source()
    assert {
        "test_metric_filter",
        "simulate_principal_policy",
        "describe_alarm_history",
        "get_key_policy",
    } <= set(calls)
    missing = {method: actions for method, actions in calls.items() if not actions & allowed}
    assert missing == {}
    # Nothing more than the calls: every action of the policy is one the doctor makes.
    assert allowed <= set().union(*calls.values())
    # Only --deep's statement holds an action that is not a read.
    read, deep = runbook_policy()["Statement"]
    assert (read["Sid"], deep["Sid"], deep["Action"]) == (
        "ObsDoctorRead",
        "ObsDoctorDeep",
        ["ssm:SendCommand"],
    )


def test_read_only_access_covers_the_read_statement() -> None:
    # The runbook says so: checked against the copy of the AWS-managed policy moto ships.
    # (Decode only that policy: the whole catalogue takes a second and a half to parse.)
    import re

    from moto.iam.aws_managed_policies import aws_managed_policies_data

    from constructs_obs.testing.policy import Request, evaluate
    from tests.doctor.helpers import runbook_policy

    found = re.search(r'\n\s?"ReadOnlyAccess":\s*\{', aws_managed_policies_data)
    assert found, "moto's catalogue has no ReadOnlyAccess"
    start = found.end() - 1
    document = json.JSONDecoder().raw_decode(aws_managed_policies_data, start)[0]["Document"]
    read, _deep = runbook_policy()["Statement"]
    # Only the statements' actions of the doctor's services matter (the others would only slow the evaluation).
    prefixes = {action.split(":")[0] for action in read["Action"]} | {"ssm"}

    def ours(actions: object) -> list[str]:
        items = actions if isinstance(actions, list) else [actions]
        return [a for a in items if isinstance(a, str) and (a == "*" or a.split(":")[0].lower() in prefixes)]

    policy = {
        "Statement": [
            {**statement, "Action": ours(statement["Action"]), "Principal": "*"}
            for statement in document["Statement"]
            if "Action" in statement and ours(statement["Action"])
        ]
    }
    role = "arn:aws:iam::123456789012:role/reader"
    assert [
        a for a in read["Action"] if not evaluate(policy, Request(a, "*", principal_arn=role)).allowed
    ] == []
    assert not evaluate(policy, Request("ssm:SendCommand", "*", principal_arn=role)).allowed


def test_the_shared_names_load_without_the_cdk() -> None:
    import subprocess
    import sys

    code = "import sys, constructs_obs.contract; assert 'aws_cdk' not in sys.modules and 'jsii' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


#: Contract values that are also names in AWS's own APIs (EC2's ``InstanceId`` dimension, ``Metrics`` and
#: ``Dimensions`` of CloudWatch's alarm and metric calls, IAM's ``RoleName``): the code reads those from AWS too.
AWS_API_NAMES = {"InstanceId", "Metrics", "Dimensions", "RoleName", "AutoScalingGroupName"}

#: The doctor's name for one of its checks, by which the summary keys its areas, and which is also a contract value
#: (the docker-events service's start line has the Type "docker-events"): the same word, not a copy of that value.
CHECK_NAMES = {("constructs_obs/doctor/text.py", "docker-events")}


def _names_written_or_read(tree: ast.AST) -> list[ast.Constant]:
    """String constants where a name is written or read: dict keys, ``.get()`` and subscript keys, keyword
    arguments (``DocumentName="..."``)."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            found += [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
                found.append(node.args[0])
            found += [keyword.value for keyword in node.keywords]
        elif isinstance(node, ast.Subscript):
            found.append(node.slice)
    return [n for n in found if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_copy_of_a_contract_name_outside_the_contract() -> None:
    """Every metadata key, field, path and document the constructs write and the doctor reads is spelled once,
    in constructs_obs.contract: no module writes or reads one by its literal value."""
    import constructs_obs
    from constructs_obs import contract

    values: set[str] = set()
    for holder in (contract, contract.HostFields, contract.PrometheusFields):
        values |= {v for k, v in vars(holder).items() if k.isupper() and isinstance(v, str)}
    assert {"ConstructsObs::Host", "AWS-RunShellScript", "RoleLogicalId", "IntervalSeconds"} <= values
    values -= AWS_API_NAMES
    values -= set(constructs_obs.__all__)  # ContainerLogGroups: the class of that name, by name
    copies = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for path in sorted((ROOT / "constructs_obs").rglob("*.py"))
        if path.name != "contract.py"
        for node in _names_written_or_read(ast.parse(path.read_text()))
        if node.value in values and (str(path.relative_to(ROOT)), node.value) not in CHECK_NAMES
    ]
    assert copies == []
