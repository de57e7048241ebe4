"""The CloudWatch agent's ``logs.metrics_collected.prometheus`` section: where the scrape configuration is, which
log group the EMF events go to, and which metrics of which job the events declare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from constructs_obs.contract import PROMETHEUS_CONFIG_PATH
from constructs_obs.host.prometheus.scrape import PrometheusScrape


def agent_section(
    scrapes: Sequence[PrometheusScrape], *, namespace: str, log_group_name: str
) -> dict[str, Any]:
    """The agent's ``logs.metrics_collected.prometheus`` section for ``scrapes``.

    One ``metric_declaration`` per scrape: ``source_labels: ["job"]`` with ``label_matcher: "^<job>$"`` (the
    agent's translator drops a declaration without source labels), the metric selectors, the dimension sets.
    """
    units = {name: unit for s in scrapes for name, unit in s.units.items()}
    processor: dict[str, Any] = {
        "metric_namespace": namespace,
        "metric_declaration": [
            {
                "source_labels": ["job"],
                "label_matcher": f"^{s.job_name}$",
                "metric_selectors": s.metric_selectors,
                "dimensions": s.emf_dimensions,
            }
            for s in scrapes
        ],
    }
    if units:
        processor["metric_unit"] = units
    return {
        "log_group_name": log_group_name,
        "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
        "emf_processor": processor,
    }
