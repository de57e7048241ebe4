"""The Prometheus scrape configuration file the CloudWatch agent reads (``prometheus_config_path``).

The file is written by PyYAML's safe dumper (plain data only: mappings, lists, strings and integers), in block style
with every string value double-quoted, so no value is read back as another type (YAML 1.1 reads ``on`` or ``1e3``
unquoted as a boolean or a number) and the file reads like Prometheus's own examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from constructs_obs.host.prometheus.scrape import PrometheusScrape

#: The comment lines the file starts with.
HEADER = (
    "# Written by constructs_obs: the CloudWatch agent's Prometheus scrape configuration",
    "# (logs.metrics_collected.prometheus.prometheus_config_path). Changes come from the stack.",
)


class _Quoted(str):
    """A string value, written double-quoted (keys stay plain)."""

    __slots__ = ()


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with lists indented under their key (``key:\\n  - item``, as Prometheus's examples)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_quoted(dumper: yaml.SafeDumper, value: _Quoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style='"')


_Dumper.add_representer(_Quoted, _represent_quoted)


def _quote_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _quote_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_quote_values(item) for item in value]
    if isinstance(value, str):
        return _Quoted(value)
    return value


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
    """:func:`scrape_config_document` as the YAML file the agent reads (block style, string values double-quoted).

    Keys keep the document's order; no line is folded (``width``), so a long ``regex`` stays on one line.
    """
    body = yaml.dump(
        _quote_values(scrape_config_document(scrapes)),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,
        width=2**31 - 1,
    )
    return "\n".join(HEADER) + "\n" + body
