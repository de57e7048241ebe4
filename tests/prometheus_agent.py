"""A real Prometheus exposition on loopback, and what the CloudWatch agent does with a scrape of it, step by step.

The agent cannot run here (it ships as an RPM/binary from AWS, not from a registry this project reaches). The
tests feed a real ``prometheus-client`` exposition through the steps below, each a transcription of the agent's
code (aws/amazon-cloudwatch-agent at ab55b8daa204e95c42c0267ee5aa49ec3b3a7317, and its EMF exporter in
amazon-contributing/opentelemetry-collector-contrib ``exporter/awsemfexporter``), so the library's selection is
checked against the samples a real client library exposes. What each step relies on:

1. :func:`scrape`: the Prometheus scrape library the agent embeds adds the target labels ``job`` and
   ``instance`` to every sample and applies ``metric_relabel_configs`` (Prometheus ``relabel`` semantics: source
   label values joined by ``;``, the regular expression anchored at both ends; ``keep`` drops what does not match).
2. :func:`typed`: ``plugins/inputs/prometheus/metrics_type_handler.go`` finds each sample's type in the scrape's
   ``# TYPE`` metadata (first under the name without ``_count``/``_sum``/``_bucket``, then without ``_total``) and
   drops samples it finds none for; ``metrics_filter.go`` drops types other than counter, gauge and summary.
3. :class:`DeltaCalculator`: ``delta_calculator.go``: a counter (and a summary's ``_count``/``_sum``) becomes its
   increase since the previous scrape of the same series (name and labels); the first scrape of a series gives
   nothing; a decrease (a restart) gives the new value.
4. :func:`merge`: ``utils.go`` ``mergeMetrics``: samples with identical labels (``prom_metric_type`` included)
   become one event.
5. :func:`emf_measurements`: ``exporter/awsemfexporter/metric_translator.go`` and ``metric_declaration.go``: a
   declaration applies when its label matcher (source label values joined by ``;``) matches (Go's ``MatchString``:
   unanchored search); a metric is selected when a metric selector matches its name; the dimension sets whose
   labels are all present are used, and a metric without any dimension set is not published.
"""

from __future__ import annotations

import contextlib
import re
import threading
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families

HITS = "llm_cache_hits_total"
MISSES = "llm_cache_misses_total"
CONTENT_ITEMS = ("intro-to-limits", "derivatives-101", "chain-rule")


class BackendMetrics:
    """What a FastAPI backend like the seed's exposes: the LLM cache counters and unrelated HTTP metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.hits = Counter(
            "llm_cache_hits", "Responses served from the cache", ["content_item_id"], registry=self.registry
        )
        self.misses = Counter(
            "llm_cache_misses", "LLM called (cache miss)", ["content_item_id"], registry=self.registry
        )
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "Request duration", ["method"], registry=self.registry
        )
        self.pool = Gauge("db_pool_connections", "Open DB connections", registry=self.registry)
        self.requests.labels("GET", "200").inc(5)
        self.duration.labels("GET").observe(0.12)
        self.pool.set(3)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(registry: CollectorRegistry, *, path: str = "/metrics") -> Iterator[int]:
    """Serve ``registry`` at ``http://127.0.0.1:<port><path>`` (404 elsewhere); yields the port."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != path:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        return metrics_app(environ, start_response)

    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> str:
    """GET ``url`` as a scraper does; the exposition text."""
    if not url.startswith("http://"):
        raise ValueError(f"expected an http:// URL, got {url!r}")
    request = urllib.request.Request(url, headers={"Accept": "text/plain;version=0.0.4"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (checked above)
        assert response.status == 200
        return str(response.read().decode())


@dataclass
class Sample:
    """One sample of a scrape."""

    name: str
    labels: dict[str, str]
    value: float
    type: str = ""


def _relabel_matches(config: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    separator = config.get("separator", ";")
    value = separator.join(labels.get(name, "") for name in config.get("source_labels", []))
    return re.fullmatch(f"(?:{config.get('regex', '(.*)')})", value) is not None


def scrape(text: str, job: Mapping[str, Any]) -> tuple[list[Sample], dict[str, str]]:
    """The samples of exposition ``text`` after the job's target labels and ``metric_relabel_configs``, and the
    ``# TYPE`` metadata (metric family name as written -> type)."""
    metadata = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE))
    (target,) = [t for group in job["static_configs"] for t in group["targets"]]
    samples = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = {"__name__": s.name, **s.labels, "job": job["job_name"], "instance": target}
            kept = True
            for rule in job.get("metric_relabel_configs", []):
                matched = _relabel_matches(rule, labels)
                if (rule["action"] == "keep" and not matched) or (rule["action"] == "drop" and matched):
                    kept = False
                    break
            if kept:
                name = labels.pop("__name__")
                samples.append(Sample(name, labels, float(s.value)))
    return samples, metadata


def _normalize(name: str, suffixes: Sequence[str]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name


def type_of(name: str, metadata: Mapping[str, str]) -> str | None:
    """The type the agent finds for sample ``name`` in the scrape's metadata (family name -> type).

    A Prometheus text 0.0.4 exposition from prometheus-client names a counter's family ``x_total``; an OpenMetrics
    one (which Prometheus's scrape negotiates first) names it ``x``: the agent's second lookup, without ``_total``,
    finds it there.
    """
    standard = _normalize(name, ("_count", "_sum", "_bucket"))
    kind = metadata.get(standard)
    if kind is None:
        if name != standard:  # noqa: SIM108 (the Go code's shape)
            kind = metadata.get(name)
        else:
            kind = metadata.get(_normalize(name, ("_total",)))
    return kind


def typed(samples: Sequence[Sample], metadata: Mapping[str, str]) -> list[Sample]:
    """Samples with the type the agent finds for them; those without one, or of another type, dropped."""
    out = []
    for sample in samples:
        kind = type_of(sample.name, metadata)
        if kind in ("counter", "gauge", "summary"):
            out.append(Sample(sample.name, {**sample.labels, "prom_metric_type": kind}, sample.value, kind))
    return out


@dataclass
class DeltaCalculator:
    """The agent's per-series previous values (one per agent process)."""

    previous: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)

    def calculate(self, samples: Sequence[Sample]) -> list[Sample]:
        out = []
        for sample in samples:
            cumulative = sample.type == "counter" or (
                sample.type == "summary" and sample.name.endswith(("_count", "_sum"))
            )
            if not cumulative:
                out.append(sample)
                continue
            key = (sample.name, tuple(sorted(sample.labels.items())))
            before = self.previous.get(key)
            self.previous[key] = sample.value
            if before is None:
                continue
            delta = sample.value - before if sample.value >= before else sample.value
            out.append(Sample(sample.name, sample.labels, delta, sample.type))
        return out


def merge(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """One event (labels and metric values) per distinct label set."""
    events: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for sample in samples:
        key = tuple(sorted(sample.labels.items()))
        events.setdefault(key, {"labels": dict(sample.labels), "metrics": {}})["metrics"][sample.name] = (
            sample.value
        )
    return list(events.values())


def emf_measurements(
    event: Mapping[str, Any], declarations: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The CloudWatchMetrics directives the exporter writes for ``event`` under the agent's declarations."""
    labels = event["labels"]
    matching = []
    for declaration in declarations:
        value = declaration.get("label_separator", ";").join(
            labels.get(name, "") for name in declaration["source_labels"]
        )
        if re.search(declaration.get("label_matcher", ".*"), value):
            matching.append(declaration)
    out = []
    for name in sorted(event["metrics"]):
        dims: list[list[str]] = []
        selected = False
        for declaration in matching:
            if any(re.search(selector, name) for selector in declaration["metric_selectors"]):
                selected = True
                for dim_set in declaration.get("dimensions", [[]]):
                    if all(d in labels for d in dim_set) and sorted(dim_set) not in dims:
                        dims.append(sorted(dim_set))
        if selected and dims:
            out.append({"metric": name, "dimensions": dims})
    return out
