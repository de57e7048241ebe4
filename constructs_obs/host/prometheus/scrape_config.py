"""The Prometheus scrape configuration file the CloudWatch agent reads (``prometheus_config_path``)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from constructs_obs.host.prometheus.scrape import PrometheusScrape


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """Block-style YAML of dicts, lists, strings (double-quoted, JSON escapes) and ints."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(item, (Mapping, list)) and item:
                lines.append(f"{pad}{key}:")
                lines += _yaml(item, indent + 2)
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            inner = _yaml(item, indent + 2)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines += inner[1:]
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"no YAML scalar for {value!r} here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    raise TypeError(f"no YAML scalar for {value!r}")


def scrape_config_document(scrapes: Sequence[PrometheusScrape]) -> dict[str, Any]:
    """The Prometheus scrape configuration, as data: one ``scrape_configs`` job per scrape.

    Each job scrapes its one static target every ``interval`` with Prometheus's ``sample_limit`` and keeps only
    its metrics (``metric_relabel_configs`` ``keep`` on ``__name__``; Prometheus anchors the expression).
    """
    return {
        "scrape_configs": [
            {
                "job_name": s.job_name,
                "scrape_interval": f"{s.interval_seconds}s",
                "scrape_timeout": f"{s.timeout_seconds}s",
                "metrics_path": s.path,
                "scheme": "http",
                "sample_limit": s.sample_limit,
                "static_configs": [{"targets": [s.target]}],
                "metric_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": s.keep_regex, "action": "keep"}
                ],
            }
            for s in scrapes
        ]
    }


def scrape_config_yaml(scrapes: Sequence[PrometheusScrape]) -> str:
    """:func:`scrape_config_document` as the YAML file the agent reads (block style, strings double-quoted)."""
    header = [
        "# Written by constructs_obs: the CloudWatch agent's Prometheus scrape configuration",
        "# (logs.metrics_collected.prometheus.prometheus_config_path). Changes come from the stack.",
    ]
    return "\n".join([*header, *_yaml(scrape_config_document(scrapes))]) + "\n"
