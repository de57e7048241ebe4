"""The LLM cache counters from the backend's Prometheus endpoint, through the CloudWatch agent, at $0.

A real exposition: ``prometheus-client`` serves the seed's ``llm_cache_hits_total`` / ``llm_cache_misses_total``
(label ``content_item_id``) beside unrelated HTTP and database metrics on loopback. The scrape configuration and
the agent configuration are read back from the setup script the association delivers, the URL in the scrape
configuration is fetched, and the samples go through the agent's steps (tests/prometheus_agent.py, which names
the agent's source for each). The dashboard's expressions and the saved query are compared with literal values.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import Duration, assertions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from constructs_obs import ContainerLogGroups, HostDashboard, ObservedEc2Host, SavedQueries
from constructs_obs.checks.free_tier import count_billables
from constructs_obs.host.agent import (
    AGENT_CONFIG_HEREDOC,
    PROMETHEUS_CONFIG_HEREDOC,
)
from constructs_obs.host.observability import HostObservability
from constructs_obs.host.prometheus.cache import HIT_RATE_EXPRESSION, CachePerformance
from constructs_obs.host.prometheus.cost import event_bytes
from constructs_obs.host.prometheus.scrape import PrometheusScrape
from constructs_obs.host.prometheus.scrape_config import scrape_config_yaml
from constructs_obs.host.setup import no_template_braces
from constructs_obs.testing.emf import emf_event
from tests.conftest import logical_id
from tests.prometheus_agent import (
    CONTENT_ITEMS,
    HITS,
    MISSES,
    BackendMetrics,
    DeltaCalculator,
    emf_measurements,
    fetch,
    merge,
    scrape,
    serve,
    type_of,
    typed,
)
from tests.realenv.env import unavailable
from tests.test_dashboard import dashboard_body
from tests.user_data import heredoc, setup_script

NAMESPACE = "Team/Backend"


# --- a host scraping a real endpoint ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[BackendMetrics, int]]:
    """The backend's metrics served at http://127.0.0.1:<port>/metrics (404 elsewhere)."""
    metrics = BackendMetrics()
    with serve(metrics.registry) as port:
        yield metrics, port


def _team_stack(port: int) -> tuple[cdk.Stack, HostObservability]:
    """An instance created elsewhere, scraping the backend on ``port``."""
    app = cdk.App()
    stack = cdk.Stack(app, "Team", env=cdk.Environment(region="eu-west-1"))
    logs = ContainerLogGroups(stack, "Logs", prefix="/team", containers=["backend"])
    host = HostObservability(
        stack,
        "Host",
        instance="i-0123456789abcdef0",
        role=iam.Role.from_role_name(stack, "InstanceRole", "team-ec2-role"),
        log_groups=logs,
        metrics_namespace=NAMESPACE,
        prometheus_scrapes=[
            PrometheusScrape(
                job_name="backend",
                port=port,
                metrics=(HITS, MISSES),
                labels=("content_item_id",),
                container="backend",
            )
        ],
    )
    return stack, host


@pytest.fixture(scope="module")
def team(backend: tuple[BackendMetrics, int]) -> tuple[dict[str, Any], HostObservability]:
    stack, host = _team_stack(backend[1])
    return assertions.Template.from_stack(stack).to_json(), host


@pytest.fixture(scope="module")
def delivered(team: tuple[dict[str, Any], HostObservability]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(scrape configuration, agent configuration) exactly as the association's script writes them."""
    script = setup_script(team[0])
    path, scrape_text = heredoc(script, PROMETHEUS_CONFIG_HEREDOC)
    assert path == "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml"
    _, agent_text = heredoc(script, AGENT_CONFIG_HEREDOC)
    return yaml.safe_load(scrape_text), json.loads(agent_text)


def test_the_scrape_configuration_targets_the_real_endpoint(
    delivered: tuple[dict[str, Any], dict[str, Any]], backend: tuple[BackendMetrics, int]
) -> None:
    (job,) = delivered[0]["scrape_configs"]
    (target,) = job["static_configs"][0]["targets"]
    assert target == f"127.0.0.1:{backend[1]}"
    text = fetch(f"{job['scheme']}://{target}{job['metrics_path']}")
    assert f'{HITS}{{content_item_id="' in text or f"# TYPE {HITS} counter" in text
    assert "http_requests_total" in text  # the endpoint exposes more than the cache counters


def _scrape_once(
    metrics: BackendMetrics, port: int, config: tuple[dict[str, Any], dict[str, Any]], calc: DeltaCalculator
) -> list[dict[str, Any]]:
    """One scrape of the real endpoint through the agent's steps: the events it writes."""
    (job,) = config[0]["scrape_configs"]
    target = job["static_configs"][0]["targets"][0]
    samples, metadata = scrape(fetch(f"http://{target}{job['metrics_path']}"), job)
    return merge(calc.calculate(typed(samples, metadata)))


def test_only_the_two_counters_are_scraped_and_published_without_dimensions(
    delivered: tuple[dict[str, Any], dict[str, Any]], backend: tuple[BackendMetrics, int]
) -> None:
    metrics, port = backend
    for item in CONTENT_ITEMS:
        metrics.hits.labels(item).inc(0)
        metrics.misses.labels(item).inc(0)
    (job,) = delivered[0]["scrape_configs"]
    target = job["static_configs"][0]["targets"][0]
    text = fetch(f"http://{target}{job['metrics_path']}")
    all_names = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"}
    # The real exposition also has _created gauges, the HTTP counter and histogram, the pool gauge.
    assert {"llm_cache_hits_created", "http_requests_total", "db_pool_connections"} <= all_names
    kept, metadata = scrape(text, job)
    assert {s.name for s in kept} == {HITS, MISSES}
    assert {s.labels["content_item_id"] for s in kept} == set(CONTENT_ITEMS)
    assert all(s.labels["job"] == "backend" and s.labels["instance"] == target for s in kept)
    # The agent finds both as counters in the exposition's own # TYPE lines.
    assert {s.type for s in typed(kept, metadata)} == {"counter"}

    section = delivered[1]["logs"]["metrics_collected"]["prometheus"]
    declarations = section["emf_processor"]["metric_declaration"]
    calc = DeltaCalculator()
    assert _scrape_once(metrics, port, delivered, calc) == []  # the first scrape is only a baseline
    events = _scrape_once(metrics, port, delivered, calc)
    assert len(events) == len(CONTENT_ITEMS)  # one event per content item, both counters in it
    for event in events:
        assert set(event["metrics"]) == {HITS, MISSES}
        assert event["labels"]["prom_metric_type"] == "counter"
        # One CloudWatch metric per name: no dimension, so every content item adds into the same series.
        assert emf_measurements(event, declarations) == [
            {"metric": HITS, "dimensions": [[]]},
            {"metric": MISSES, "dimensions": [[]]},
        ]
    assert section["emf_processor"]["metric_namespace"] == NAMESPACE


def test_counters_arrive_as_per_scrape_increases_and_give_the_hit_rate(
    delivered: tuple[dict[str, Any], dict[str, Any]], backend: tuple[BackendMetrics, int]
) -> None:
    metrics, port = backend
    calc = DeltaCalculator()
    # Every series this test counts exists before the baseline scrape (prometheus-client exports a labelled
    # child from its first .labels() call): a series first seen in a scrape is only that series' baseline.
    for item in ("intro-to-limits", "chain-rule", "derivatives-101"):
        metrics.hits.labels(item)
        metrics.misses.labels(item)
    _scrape_once(metrics, port, delivered, calc)  # baseline
    metrics.hits.labels("intro-to-limits").inc(4)
    metrics.hits.labels("chain-rule").inc(2)
    metrics.misses.labels("intro-to-limits").inc(1)
    metrics.misses.labels("derivatives-101").inc(1)
    metrics.requests.labels("GET", "200").inc(100)
    events = _scrape_once(metrics, port, delivered, calc)
    # CloudWatch adds the events of a period: the Sum of each metric is the period's count.
    hits = sum(e["metrics"].get(HITS, 0) for e in events)
    misses = sum(e["metrics"].get(MISSES, 0) for e in events)
    assert (hits, misses) == (6, 2)
    assert 100 * hits / (hits + misses) == 75.0  # what HIT_RATE_EXPRESSION computes for that period
    by_item = {e["labels"]["content_item_id"]: e["metrics"] for e in events}
    assert by_item["intro-to-limits"] == {HITS: 4, MISSES: 1}
    assert by_item["derivatives-101"] == {HITS: 0, MISSES: 1}
    # No traffic: every increase is 0, so the period's hits + misses is 0 and the hit rate has no point.
    quiet = _scrape_once(metrics, port, delivered, calc)
    assert sum(v for e in quiet for v in e["metrics"].values()) == 0


def test_a_new_content_item_counts_from_its_second_scrape(
    delivered: tuple[dict[str, Any], dict[str, Any]], backend: tuple[BackendMetrics, int]
) -> None:
    """A series the agent sees for the first time is a baseline (delta_calculator.go): its first hits are lost."""
    metrics, port = backend
    calc = DeltaCalculator()
    _scrape_once(metrics, port, delivered, calc)
    metrics.hits.labels("integrals").inc(3)
    first = _scrape_once(metrics, port, delivered, calc)
    assert "integrals" not in {e["labels"]["content_item_id"] for e in first}
    metrics.hits.labels("integrals").inc(2)
    second = _scrape_once(metrics, port, delivered, calc)
    assert {e["labels"]["content_item_id"]: e["metrics"] for e in second}["integrals"] == {HITS: 2}


def test_estimated_event_size_covers_the_real_events(
    delivered: tuple[dict[str, Any], dict[str, Any]],
    backend: tuple[BackendMetrics, int],
    team: tuple[dict[str, Any], HostObservability],
) -> None:
    metrics, port = backend
    host = team[1]
    assert host.prometheus is not None
    (scrape_config,) = host.prometheus.scrapes
    calc = DeltaCalculator()
    _scrape_once(metrics, port, delivered, calc)
    uuid = "0b7c6f0e-3f4e-4a53-9a7e-2a1c3f6d9e10"
    metrics.hits.labels(uuid).inc(123456)
    _scrape_once(metrics, port, delivered, calc)
    metrics.hits.labels(uuid).inc(654321)
    metrics.misses.labels(uuid).inc(1)
    events = [
        e for e in _scrape_once(metrics, port, delivered, calc) if e["labels"]["content_item_id"] == uuid
    ]
    (event,) = events
    real = emf_event(
        scrape_config,
        namespace=NAMESPACE,
        label_values={"content_item_id": uuid},
        values=event["metrics"],
        host="ip-172-31-255-255.us-east-2.compute.internal",
    )
    # The event carries every label the agent adds and the application's, and the two values.
    document = json.loads(real)
    assert {k for k in document if k not in ("CloudWatchMetrics", "Version", "Timestamp")} == {
        *event["labels"],
        "host",
        HITS,
        MISSES,
    }
    assert len(real.encode()) + 26 <= event_bytes(scrape_config, namespace=NAMESPACE)


def test_promtool_accepts_the_scrape_configuration(
    team: tuple[dict[str, Any], HostObservability], tmp_path: Path
) -> None:
    """Prometheus's own loader (strict YAML, every field checked) reads the file (Debian's promtool, if any)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable(
            "promtool is not installed (Debian: apt-get install prometheus; scripts/setup.sh does it)"
        )
    _, text = heredoc(setup_script(team[0]), PROMETHEUS_CONFIG_HEREDOC)
    config = tmp_path / "prometheus.yaml"
    config.write_text(text)
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_refuses_what_prometheus_would(tmp_path: Path) -> None:
    """The check above is not vacuous: a timeout longer than the interval is refused."""
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable(
            "promtool is not installed (Debian: apt-get install prometheus; scripts/setup.sh does it)"
        )
    config = tmp_path / "prometheus.yaml"
    config.write_text(
        'scrape_configs:\n  - job_name: "x"\n    scrape_interval: "10s"\n    scrape_timeout: "20s"\n'
        '    static_configs:\n      - targets: ["127.0.0.1:1"]\n'
    )
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_host_metadata_tells_the_doctor_what_to_look_for(
    team: tuple[dict[str, Any], HostObservability],
) -> None:
    (association,) = [r for r in team[0]["Resources"].values() if r["Type"] == "AWS::SSM::Association"]
    port = team[1].prometheus.scrapes[0].port if team[1].prometheus else 0
    assert association["Metadata"]["ConstructsObs::Host"]["Prometheus"] == {
        "LogGroup": "/team/prometheus",
        "Jobs": [
            {
                "JobName": "backend",
                "Url": f"http://127.0.0.1:{port}/metrics",
                "IntervalSeconds": 60,
                "Metrics": [HITS, MISSES],
                "Dimensions": [],
            }
        ],
    }


# --- the staging stack: literal values ------------------------------------------------------------------------

STAGING_SCRAPE_CONFIG = """\
# Written by constructs_obs: the CloudWatch agent's Prometheus scrape configuration
# (logs.metrics_collected.prometheus.prometheus_config_path). Changes come from the stack.
scrape_configs:
  - job_name: "backend"
    scrape_interval: "120s"
    scrape_timeout: "10s"
    metrics_path: "/metrics"
    scheme: "http"
    sample_limit: 1000
    static_configs:
      - targets:
          - "127.0.0.1:9898"
    metric_relabel_configs:
      - source_labels:
          - "__name__"
        regex: "llm_cache_hits_total|llm_cache_misses_total"
        action: "keep"
"""


def test_string_values_stay_strings_in_the_scrape_configuration() -> None:
    """YAML 1.1 reads a bare ``on`` as true and ``1e3`` as a number: every string value is written quoted."""
    scrape = PrometheusScrape(job_name="on", port=9100, path="/1e3", metrics=("yes_total",))
    text = scrape_config_yaml([scrape])
    assert '  - job_name: "on"\n' in text
    (job,) = yaml.safe_load(text)["scrape_configs"]
    assert (job["job_name"], job["metrics_path"], job["metric_relabel_configs"][0]["regex"]) == (
        "on",
        "/1e3",
        "yes_total",
    )
    assert job["sample_limit"] == 1000


def test_staging_scrape_configuration(staging_template_json: dict[str, Any]) -> None:
    path, text = heredoc(setup_script(staging_template_json), PROMETHEUS_CONFIG_HEREDOC)
    assert path == "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml"
    assert text == STAGING_SCRAPE_CONFIG


def test_staging_agent_prometheus_section(staging_template_json: dict[str, Any]) -> None:
    _, text = heredoc(setup_script(staging_template_json), AGENT_CONFIG_HEREDOC)
    assert json.loads(text)["logs"]["metrics_collected"] == {
        "prometheus": {
            "log_group_name": "/ai-tutor/prometheus",
            "prometheus_config_path": "/opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml",
            "emf_processor": {
                "metric_namespace": "AiTutor/Staging",
                "metric_declaration": [
                    {
                        "source_labels": ["job"],
                        "label_matcher": "^backend$",
                        "metric_selectors": ["^llm_cache_hits_total$", "^llm_cache_misses_total$"],
                        "dimensions": [[]],
                    }
                ],
                "metric_unit": {"llm_cache_hits_total": "Count", "llm_cache_misses_total": "Count"},
            },
        }
    }


def test_the_scrape_configuration_reaches_the_host_before_the_agent_restarts(
    staging_template_json: dict[str, Any], staging_app: cdk.App
) -> None:
    script = setup_script(staging_template_json)
    no_template_braces(script)
    order = [
        "== constructs-obs setup: cloudwatch-agent package",
        "== constructs-obs setup: cloudwatch-agent prometheus scrape configuration",
        "== constructs-obs setup: cloudwatch-agent configuration",
        "== constructs-obs setup: cloudwatch-agent start",
    ]
    positions = [script.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "chmod 0644 /opt/aws/amazon-cloudwatch-agent/etc/prometheus.yaml" in script
    host = staging_app.node.find_child("AiTutorStaging").node.find_child("Host")
    steps = {step.name: step for step in host.setup.steps}
    # Files only: the tests run it under real systemd (tests/test_real_prometheus.py).
    assert steps["cloudwatch-agent prometheus scrape configuration"].portable


def test_staging_log_group_is_kept_and_claimed(staging: assertions.Template) -> None:
    group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName="/ai-tutor/prometheus")
    resource = staging.find_resources("AWS::Logs::LogGroup")[group]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    assert resource["Properties"]["RetentionInDays"] == 30
    assert resource["Metadata"]["ConstructsObs::LogIngestion"] == {
        "BytesPerMonth": 550_785_000,
        "Basis": "job backend: 50 label sets x 503 bytes x 21900 scrapes (120 s)",
    }


def test_the_role_writes_only_to_its_groups_and_never_creates_one(staging: assertions.Template) -> None:
    group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName="/ai-tutor/prometheus")
    statements = [
        s
        for p in staging.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    writes = [
        s
        for s in statements
        if {"Fn::GetAtt": [group, "Arn"]}
        in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    ]
    assert len(writes) == 1
    assert writes[0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    actions = [
        a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert "logs:CreateLogGroup" not in actions and "logs:*" not in actions
    (put,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert put["Condition"] == {"StringEquals": {"cloudwatch:namespace": "AiTutor/Staging"}}


def test_staging_dashboard_hit_rate_and_savings(staging: assertions.Template) -> None:
    widgets = [
        w
        for w in dashboard_body(staging)["widgets"]
        if w["type"] in ("metric", "text") and "annotations" not in w["properties"]
    ]
    hits = ["AiTutor/Staging", "llm_cache_hits_total", {"id": "hits", "visible": False, "stat": "Sum"}]
    misses = ["AiTutor/Staging", "llm_cache_misses_total", {"id": "misses", "visible": False, "stat": "Sum"}]
    rate = [
        {
            "label": "LLM cache hit rate (%)",
            "expression": "IF((hits + misses) > 0, 100 * hits / (hits + misses))",
        }
    ]
    savings = [{"label": "Estimated savings (USD, $0.01 per hit)", "expression": "hits * 0.01"}]
    assert [(w["properties"].get("title"), w["properties"].get("metrics")) for w in widgets[:3]] == [
        ("LLM cache hit rate (%)", [rate, hits, misses]),
        ("LLM cache estimated savings (USD per 5 minutes)", [savings, hits]),
        ("LLM cache over the time range", [rate, hits, misses, savings]),
    ]
    assert widgets[0]["properties"]["yAxis"] == {"left": {"max": 100, "min": 0}}
    assert widgets[2]["properties"]["setPeriodToTimeRange"] is True
    assert widgets[3]["properties"]["markdown"] == (
        "**LLM cache.** Hit rate = hits / (hits + misses) in each period, from the counters "
        "`llm_cache_hits_total` and `llm_cache_misses_total` (job `backend`): the CloudWatch agent publishes each "
        "counter's increase since its previous scrape, added up over every label value. A period without traffic "
        "has no point (not 0 %). Estimated savings = hits x $0.01, the assumed cost of the call each hit avoids: "
        "an estimate, not a bill. Per `content_item_id`: the saved Logs Insights query "
        "`.../llm-cache-hit-rate-by-content_item_id` over `/ai-tutor/prometheus`."
    )
    assert HIT_RATE_EXPRESSION == "IF((hits + misses) > 0, 100 * hits / (hits + misses))"


def test_staging_saved_query_is_the_seeds_hit_rate_by_topic(staging: assertions.Template) -> None:
    group = logical_id(staging, "AWS::Logs::LogGroup", LogGroupName="/ai-tutor/prometheus")
    staging.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {
            "Name": "ai-tutor-staging/llm-cache-hit-rate-by-content_item_id",
            "LogGroupNames": [{"Ref": group}],
            "QueryString": (
                "fields coalesce(llm_cache_hits_total, 0) as hits, coalesce(llm_cache_misses_total, 0) as misses\n"
                '| filter job = "backend" and ispresent(content_item_id) and hits + misses > 0\n'
                "| stats sum(hits) as cache_hits, sum(misses) as cache_misses, "
                "100 * sum(hits) / (sum(hits) + sum(misses)) as hit_rate_pct, "
                "0.01 * sum(hits) as estimated_savings_usd by content_item_id\n"
                "| sort hit_rate_pct desc\n"
                "| limit 1000"
            ),
        },
    )


def test_staging_free_tier_counts_the_counters_and_the_log_data(
    staging_template_json: dict[str, Any],
) -> None:
    usage = count_billables(staging_template_json)
    declared = [
        (m.metric_name, m.dimensions, m.per_resource) for m in usage.custom_metrics if "llm" in m.metric_name
    ]
    assert declared == [("llm_cache_hits_total", (), True), ("llm_cache_misses_total", (), True)]
    assert usage.log_ingestion_bytes == 550_785_000  # about 0.51 GB of the 5 GB a month
    assert usage.overages() == []
    assert usage.monthly_cost_usd() == 0.0


def test_compose_override_publishes_the_metrics_port_on_loopback_only(staging: assertions.Template) -> None:
    outputs = staging.find_outputs("ComposeLogging")
    (output,) = outputs.values()
    assert "127.0.0.1 only" in output["Description"]
    override = json.loads(output["Value"])
    assert override["services"]["backend"]["ports"] == ["127.0.0.1:9898:9898"]
    assert "ports" not in override["services"]["nginx"] and "ports" not in override["services"]["frontend"]


# --- what is refused ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"interval": Duration.minutes(5)}, "forgets a counter's previous value"),
        ({"metrics": ("llm-cache",)}, "Prometheus metric names"),
        ({"metrics": ()}, "at least one metric"),
        ({"metrics": ("mem_used_percent",)}, "host's own metrics"),
        ({"dimensions": ("content_item_id",)}, "not labels of these metrics"),
        ({"job_name": "back end"}, "job_name must be"),
        ({"port": 70000}, "port must be between 1 and 65535"),
        ({"path": "metrics"}, "path must be an HTTP path"),
        ({"units": {HITS: "Requests"}}, "CloudWatch unit"),
        ({"sample_limit": 1}, "sample_limit must be at least 2"),
    ],
)
def test_scrape_refuses(changes: dict[str, Any], message: str) -> None:
    props: dict[str, Any] = {"job_name": "backend", "port": 9898, "metrics": (HITS, MISSES)}
    props.update(changes)
    with pytest.raises((ValueError, TypeError), match=message):
        PrometheusScrape(**props)


def test_two_jobs_may_not_keep_one_metric_name() -> None:
    stack = cdk.Stack(cdk.App(), "Two", env=cdk.Environment(region="eu-west-1"))
    logs = ContainerLogGroups(stack, "Logs", prefix="/two", containers=["api"])
    scrapes = [
        PrometheusScrape(job_name="a", port=1, metrics=(HITS,)),
        PrometheusScrape(job_name="b", port=2, metrics=(HITS,)),
    ]
    with pytest.raises(ValueError, match="in more than one job"):
        HostObservability(
            stack,
            "Host",
            instance="i-0123456789abcdef0",
            role=iam.Role.from_role_name(stack, "R", "r"),
            log_groups=logs,
            prometheus_scrapes=scrapes,
        )


def test_two_hosts_in_one_namespace_fail_synth() -> None:
    """Without dimensions, two hosts' counters in one namespace would add up: the app-wide check refuses it."""
    app = cdk.App()
    for name in ("A", "B"):
        stack = cdk.Stack(app, name, env=cdk.Environment(account="123456789012", region="eu-west-1"))
        HostObservability(
            stack,
            "Host",
            instance="i-0123456789abcdef0",
            role=iam.Role.from_role_name(stack, "R", "r"),
            log_groups=ContainerLogGroups(stack, "Logs", prefix=f"/{name.lower()}", containers=["api"]),
            metrics_namespace="Shared/Namespace",
            prometheus_scrapes=[PrometheusScrape(job_name="api", port=9000, metrics=(HITS,))],
        )
    with pytest.raises(RuntimeError, match="llm_cache_hits_total"):
        app.synth()


def test_cache_performance_refuses(team: tuple[dict[str, Any], HostObservability]) -> None:
    source = team[1].prometheus
    assert source is not None
    ok: dict[str, Any] = {"source": source, "hits": HITS, "misses": MISSES, "saving_per_hit_usd": 0.01}
    with pytest.raises(ValueError, match="is not kept"):
        CachePerformance(**{**ok, "hits": "other_total"})
    with pytest.raises(ValueError, match="two metrics"):
        CachePerformance(**{**ok, "misses": HITS})
    with pytest.raises(ValueError, match="breakdown_label"):
        CachePerformance(**{**ok, "breakdown_label": "topic"})
    with pytest.raises(ValueError, match="0 or more"):
        CachePerformance(**{**ok, "saving_per_hit_usd": -1})
    with pytest.raises(TypeError, match="source"):
        CachePerformance(**{**ok, "source": object()})


def test_cache_performance_takes_the_host_or_its_prometheus_metrics(
    team: tuple[dict[str, Any], HostObservability],
) -> None:
    host = team[1]
    by_host = CachePerformance(source=host, hits=HITS, misses=MISSES, saving_per_hit_usd=0.01)
    assert by_host.source is host.prometheus
    stack = cdk.Stack(cdk.App(), "NoScrapes", env=cdk.Environment(region="eu-west-1"))
    plain = HostObservability(
        stack,
        "Host",
        instance="i-0123456789abcdef0",
        role=iam.Role.from_role_name(stack, "R", "r"),
        log_groups=ContainerLogGroups(stack, "Logs", prefix="/plain", containers=["api"]),
    )
    with pytest.raises(
        ValueError,
        match=r"source NoScrapes/Host scrapes no Prometheus endpoint: give it prometheus_scrapes=\[PrometheusScrape",
    ):
        CachePerformance(source=plain, hits=HITS, misses=MISSES, saving_per_hit_usd=0.01)


def test_dashboard_and_queries_on_any_host(team: tuple[dict[str, Any], HostObservability]) -> None:
    """CachePerformance works on a host made elsewhere too; the query needs a breakdown label."""
    stack, host = _team_stack(9100)
    assert host.prometheus is not None
    cache = CachePerformance(
        source=host,
        hits=HITS,
        misses=MISSES,
        saving_per_hit_usd=0.002,
        breakdown_label="content_item_id",
    )
    HostDashboard(stack, "Board", alarms=[], cache=cache, dashboard_name="team")
    SavedQueries(stack, "Queries", name_prefix="team", cache=cache)
    with pytest.raises(ValueError, match="no breakdown_label"):
        SavedQueries(
            stack,
            "More",
            name_prefix="team2",
            cache=CachePerformance(source=host.prometheus, hits=HITS, misses=MISSES, saving_per_hit_usd=0.0),
        )
    template = assertions.Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::Logs::QueryDefinition",
        {
            "Name": "team/cache-hit-rate-by-content_item_id",
            "QueryString": assertions.Match.string_like_regexp("0.002 \\* sum"),
        },
    )
    assert cache.savings_expression == "hits * 0.002"


def test_compose_override_refuses_unknown_containers_and_ports() -> None:
    stack = cdk.Stack(cdk.App(), "C", env=cdk.Environment(region="eu-west-1"))
    logs = ContainerLogGroups(stack, "Logs", prefix="/c", containers=["api"])
    with pytest.raises(ValueError, match="no log group here"):
        logs.compose_override(loopback_ports={"worker": [9000]})
    with pytest.raises(ValueError, match="between 1 and 65535"):
        logs.compose_override(loopback_ports={"api": [0]})
    with pytest.raises(ValueError, match="repeats a port"):
        logs.compose_override(loopback_ports={"api": [9000, 9000]})
    assert logs.compose_override(loopback_ports={"api": [9000]})["services"]["api"]["ports"] == [
        "127.0.0.1:9000:9000"
    ]


def test_a_container_named_prometheus_is_refused() -> None:
    stack = cdk.Stack(cdk.App(), "P", env=cdk.Environment(region="eu-west-1"))
    vpc = ec2.Vpc(stack, "Vpc", nat_gateways=0, max_azs=1)
    logs = ContainerLogGroups(stack, "Logs", prefix="/p", containers=["prometheus"])
    with pytest.raises(ValueError, match="container named 'prometheus'"):
        ObservedEc2Host(
            stack,
            "Host",
            vpc=vpc,
            log_groups=logs,
            prometheus_scrapes=[PrometheusScrape(job_name="api", port=9000, metrics=(HITS,))],
        )


# --- the real Prometheus scrape library, if installed ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> Any:
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback, checked above)
        return json.loads(response.read())


def test_real_prometheus_keeps_exactly_the_two_counters(tmp_path: Path) -> None:
    """Debian's Prometheus server scrapes with the generated configuration: the Prometheus scrape code the agent
    embeds (prometheus/prometheus 2.42 here, v0.300.1, i.e. 3.0, in the agent's go.mod; the fields used here mean
    the same in both).

    What it stores is what the scrape hands the agent's appender: the two counters per content item, as counters
    in the target's metadata, and nothing else of the exposition (the scrape's own ``up`` and ``scrape_*`` series
    are not exposition samples: the agent drops them, ``metrics_type_handler.go`` ``isInternalMetric``).
    """
    server = shutil.which("prometheus")
    if server is None:
        unavailable(
            "the Prometheus server is not installed (Debian: apt-get install prometheus; scripts/setup.sh does it)"
        )
    metrics = BackendMetrics()
    for item in CONTENT_ITEMS:
        metrics.hits.labels(item).inc()
        metrics.misses.labels(item).inc()
    with serve(metrics.registry) as port:
        _scrape_with_prometheus(server, port, tmp_path)


def _scrape_with_prometheus(server: str, port: int, tmp_path: Path) -> None:
    scrape_config = PrometheusScrape(
        job_name="backend",
        port=port,
        metrics=(HITS, MISSES),
        labels=("content_item_id",),
        interval=Duration.seconds(10),
    )
    config = tmp_path / "prometheus.yaml"
    config.write_text(scrape_config_yaml([scrape_config]))
    web = _free_port()
    process = subprocess.Popen(
        [
            server,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        query = urllib.parse.quote('{job="backend",__name__!~"up|scrape_.*"}')
        deadline = time.monotonic() + 40
        series: list[dict[str, str]] = []
        while time.monotonic() < deadline and len(series) < 2 * len(CONTENT_ITEMS):
            time.sleep(1)
            with contextlib.suppress(OSError, ValueError):
                series = [
                    r["metric"]
                    for r in _get(f"http://127.0.0.1:{web}/api/v1/query?query={query}")["data"]["result"]
                ]
        assert sorted((s["__name__"], s["content_item_id"]) for s in series) == sorted(
            (name, item) for name in (HITS, MISSES) for item in CONTENT_ITEMS
        )
        assert {s["instance"] for s in series} == {f"127.0.0.1:{port}"}
        metadata = _get(
            f"http://127.0.0.1:{web}/api/v1/targets/metadata?match_target="
            + urllib.parse.quote('{job="backend"}')
        )
        # Prometheus negotiated OpenMetrics: the families are named without _total, and the agent's lookup
        # still finds both as counters.
        types = {m["metric"]: m["type"] for m in metadata["data"]}
        assert types["llm_cache_hits"] == types["llm_cache_misses"] == "counter"
        assert type_of(HITS, types) == type_of(MISSES, types) == "counter"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_free_tier_flags_log_data_and_per_value_metrics() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Big", env=cdk.Environment(region="eu-west-1"))
    HostObservability(
        stack,
        "Host",
        instance="i-0123456789abcdef0",
        role=iam.Role.from_role_name(stack, "R", "r"),
        log_groups=ContainerLogGroups(stack, "Logs", prefix="/big", containers=["api"]),
        metrics_namespace="Big/Api",
        prometheus_scrapes=[
            PrometheusScrape(
                job_name="api",
                port=9000,
                metrics=("requests_total",),
                labels=("route",),
                dimensions=("route",),
                interval=Duration.seconds(10),
                expected_label_sets=1000,
                sample_limit=5000,
            )
        ],
    )
    usage = count_billables(assertions.Template.from_stack(stack).to_json())
    (metric,) = [m for m in usage.custom_metrics if m.metric_name == "requests_total"]
    assert (metric.dimensions, metric.per_dimension_value) == (("route",), True)
    (overage,) = [o for o in usage.overages() if o.rule == "log-ingestion"]
    # 1000 label sets x 378 bytes (API_EVENT_AT_ASSUMED_LENGTHS + 26) x 262,800 scrapes a month (one every 10 s for
    # 730 hours) = 92.52 GB: far over 5 GB, at $0.50 per GB beyond it.
    assert overage.monthly_usd == pytest.approx((378 * 1000 * 262_800 / 1024**3 - 5) * 0.50)
    assert overage.monthly_usd == pytest.approx(43.76, abs=0.005)
    assert overage.description.startswith("92.52 GB of log data a month declared (/big/prometheus: 92.52 GB)")


#: The event whose size the ingestion estimate takes for job ``api`` (test_free_tier_flags_log_data_and_per_value_
#: metrics), written out: one EMF event of one scrape of one label set (the fields of the agent's EMF exporter,
#: ``metric_translator.go``, transcribed in tests/prometheus_agent.py), with the values the template cannot know at
#: the estimate's assumed lengths: a 36-character label value (a UUID), a 48-character host tag and an 8-digit
#: value.
API_EVENT_AT_ASSUMED_LENGTHS = (
    '{"CloudWatchMetrics":[{"Namespace":"Big/Api","Dimensions":[["route"]],"Metrics":[{"Name":"requests_total"}]}],'
    '"Timestamp":"1700000000000","Version":"0","host":"'
    + "h"
    * 48
    + '","instance":"127.0.0.1:9000","job":"api",'
    '"prom_metric_type":"counter","route":"' + "x" * 36 + '","requests_total":11111111}'
)


def test_the_ingestion_estimate_sizes_one_event_at_the_assumed_lengths() -> None:
    scrape = PrometheusScrape(
        job_name="api", port=9000, metrics=("requests_total",), labels=("route",), dimensions=("route",)
    )
    # Plus the 26 bytes CloudWatch Logs counts per event (PutLogEvents, CloudWatch Logs API reference).
    assert event_bytes(scrape, namespace="Big/Api") == len(API_EVENT_AT_ASSUMED_LENGTHS) + 26 == 378
