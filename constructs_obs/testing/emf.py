"""The log events the CloudWatch agent writes for a Prometheus scrape, in embedded metric format (EMF), emulated.

A transcription of the agent's EMF exporter (aws/amazon-cloudwatch-agent at
ab55b8daa204e95c42c0267ee5aa49ec3b3a7317, ``metric_translator.go`` ``translateCWMetricToEMF``; see
:mod:`constructs_obs.host.prometheus`), not the agent itself: the tests hold it against events computed from a real
Prometheus exposition, ``obs-doctor``'s tests write it into moto as the host would, and the ingestion estimate
(:mod:`constructs_obs.host.prometheus.cost`) sizes it. Pure Python: it imports neither aws-cdk-lib nor boto3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["EXAMPLE_HOST", "EmfScrape", "emf_event"]


class EmfScrape(Protocol):
    """What the emulation reads of a scrape job: a
    :class:`~constructs_obs.host.prometheus.scrape.PrometheusScrape` has it all."""

    @property
    def job_name(self) -> str:
        """The ``job`` label."""
        ...

    @property
    def target(self) -> str:
        """``address:port``, the ``instance`` label."""
        ...

    @property
    def labels(self) -> tuple[str, ...]:
        """The application's labels."""
        ...

    @property
    def metrics(self) -> tuple[str, ...]:
        """The kept metric names."""
        ...

    @property
    def units(self) -> Mapping[str, str]:
        """CloudWatch unit per metric name."""
        ...

    @property
    def emf_dimensions(self) -> Sequence[Sequence[str]]:
        """The EMF dimension sets."""
        ...


#: The agent's ``host`` tag when none is given: an EC2 private DNS name.
EXAMPLE_HOST = "ip-10-0-0-10.us-east-2.compute.internal"


def emf_event(
    scrape: EmfScrape,
    *,
    namespace: str,
    label_values: Mapping[str, str] | None = None,
    values: Mapping[str, float] | None = None,
    host: str | None = None,
    timestamp_ms: int = 1_700_000_000_000,
) -> str:
    """One log event as the agent's EMF exporter writes it for ``scrape`` (``Version`` 0, the agent's default).

    The fields are the labels (``job``, ``instance``, the application's, ``prom_metric_type``, the agent's
    ``host``), ``Version``, ``Timestamp``, ``CloudWatchMetrics``, then the metric values (``metric_translator.go``
    ``translateCWMetricToEMF``; Go's JSON encoder sorts the keys).

    Args:
        scrape: the scrape job (its labels, metrics, units and dimensions).
        namespace: the namespace the event declares its metrics in.
        label_values: a value per application label. Default ``"example"`` for each label not given.
        values: each metric's value (the counter's increase since the previous scrape). Default 1.
        host: the agent's ``host`` tag. Default :data:`EXAMPLE_HOST`.
        timestamp_ms: the event's ``Timestamp``.
    """
    labels = dict.fromkeys(scrape.labels, "example")
    labels.update(label_values or {})
    labels.update(
        {
            "job": scrape.job_name,
            "instance": scrape.target,
            "prom_metric_type": "counter",
            "host": host if host is not None else EXAMPLE_HOST,
        }
    )
    measurement = {
        "Namespace": namespace,
        "Dimensions": scrape.emf_dimensions,
        "Metrics": [
            {"Name": name, **({"Unit": scrape.units[name]} if name in scrape.units else {})}
            for name in scrape.metrics
        ],
    }
    fields: dict[str, Any] = dict(labels)
    fields.update({"Version": "0", "Timestamp": str(timestamp_ms), "CloudWatchMetrics": [measurement]})
    # Go writes a map's keys sorted and a struct's fields in declaration order (cWMeasurement: Namespace,
    # Dimensions, Metrics): only the top level is sorted here.
    head = ",".join(
        f"{json.dumps(key)}:{json.dumps(fields[key], separators=(',', ':'))}" for key in sorted(fields)
    )
    metrics = {name: (values or {}).get(name, 1.0) for name in sorted(scrape.metrics)}
    tail = ",".join(f"{json.dumps(name)}:{json.dumps(_go_number(value))}" for name, value in metrics.items())
    return "{" + head + "," + tail + "}"


def _go_number(value: float) -> int | float:
    """A float as Go's JSON encoder writes it: integral values without a fraction."""
    return int(value) if math.isfinite(value) and value == int(value) else value
