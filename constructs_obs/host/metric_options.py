"""The options every metric method of a host takes: :class:`MetricOptions`, aws-cdk-lib's ``cloudwatch.MetricOptions``
as keyword arguments, and :func:`metric_options`, which lays them over a method's defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

#: The period of a ``metric_*`` method when none is given (aws-cdk-lib's default for L2 metrics).
DEFAULT_METRIC_PERIOD = Duration.minutes(5)


class MetricOptions(TypedDict, total=False):
    """The options of a metric method: the fields of aws-cdk-lib's ``cloudwatch.MetricOptions``.

    Passed on to ``cloudwatch.Metric`` as given (an option set to ``None`` counts as not given), so their meaning
    is aws-cdk-lib's; ``id``, ``stack_account`` and ``stack_region`` need an aws-cdk-lib that has them.
    """

    account: str
    color: str
    dimensions_map: Mapping[str, str]
    id: str
    label: str
    period: Duration
    region: str
    stack_account: str
    stack_region: str
    statistic: str
    unit: cloudwatch.Unit
    visible: bool


def metric_options(options: Mapping[str, Any], *, statistic: str, **defaults: Any) -> dict[str, Any]:
    """``options`` over the method's defaults: ``period`` 5 minutes, ``statistic``, then ``defaults``.

    Options given as ``None`` are left out (they keep the default). Unknown options raise ``TypeError`` naming
    them and the known ones.
    """
    unknown = sorted(set(options) - set(MetricOptions.__annotations__))
    if unknown:
        raise TypeError(
            f"unknown metric options {unknown}; the options are cloudwatch.MetricOptions' fields: "
            f"{sorted(MetricOptions.__annotations__)}"
        )
    given = {key: value for key, value in options.items() if value is not None}
    return {"period": DEFAULT_METRIC_PERIOD, "statistic": statistic, **defaults, **given}
