"""Which series the CloudWatch agent publishes for a configuration: a transcription of the agent's own code.

Transcribed from aws/amazon-cloudwatch-agent at ab55b8d (v1.300071.0 and 9 commits, 2026-08); the parts that
decide a host metric's dimensions, in the order the host pipeline runs them
(``translator/translate/otel/pipeline/host/translator.go``: ec2tagger before the rollup processor):

- ``plugins/processors/ec2tagger/ec2tagger.go`` ``updateOtelAttributes``: each ``append_dimensions`` key is added
  when the data point lacks it (``AutoScalingGroupName`` from the instance's ``aws:autoscaling:groupName`` tag,
  read with ``ec2:DescribeTags``; the others from instance metadata), and the ``host`` attribute is removed.
  Without ``append_dimensions`` the ``host`` dimension stays (the agent's ``omit_hostname`` defaults to false).
- the disk plugin's tags ``device``, ``fstype`` and ``path``, ``device`` left out with ``drop_device``;
  ``mem`` has none of its own.
- ``processor/rollupprocessor/processor.go`` ``buildRollup``: one copy of the data point per
  ``aggregation_dimensions`` group, only when the group has fewer attributes than the data point and the data
  point has them all; ``rollupDataPoints``: the original is dropped when its name is in ``drop_original``.
- ``translator/translate/otel/common/metrics.go`` ``GetDropOriginalMetrics``: a ``drop_original_metrics`` name
  without its plugin's name is prefixed with it (``used_percent`` of ``disk`` is ``disk_used_percent``).

The rollup processor is in this form since v1.300048.0. An agent older than that is not covered by this file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The tags each plugin the library configures puts on its data points (besides ``host``).
_PLUGIN_TAGS: dict[str, tuple[str, ...]] = {"mem": (), "disk": ("device", "fstype", "path")}

#: What the appended dimensions resolve to on an instance (the values do not matter, only the keys).
_INSTANCE = {
    "InstanceId": "i-0123456789abcdef0",
    "AutoScalingGroupName": "web-asg",
    "ImageId": "ami-1",
    "InstanceType": "t3.small",
}


def _metric_name(plugin: str, measurement: str) -> str:
    return measurement if measurement.startswith(plugin) else f"{plugin}_{measurement}"


def published_series(config: Mapping[str, Any]) -> set[tuple[str, frozenset[str]]]:
    """(metric name, dimension keys) of every series one instance publishes under ``config``'s ``metrics``."""
    metrics = config["metrics"]
    appended = dict(metrics.get("append_dimensions") or {})
    groups = [list(group) for group in metrics.get("aggregation_dimensions") or []]
    published: set[tuple[str, frozenset[str]]] = set()
    for plugin, section in metrics["metrics_collected"].items():
        dropped = {_metric_name(plugin, name) for name in section.get("drop_original_metrics", [])}
        for measurement in section["measurement"]:
            name = _metric_name(plugin, measurement)
            attributes = dict.fromkeys(_PLUGIN_TAGS[plugin], "x")
            if plugin == "disk" and section.get("drop_device"):
                attributes.pop("device", None)
            attributes["host"] = "ip-10-0-0-1"
            if appended:
                for key in appended:
                    attributes.setdefault(key, _INSTANCE[key])
                attributes.pop("host")
            if name not in dropped:
                published.add((name, frozenset(attributes)))
            for group in groups:
                if len(group) >= len(attributes):
                    continue
                if all(key in attributes for key in group):
                    published.add((name, frozenset(group)))
    return published
