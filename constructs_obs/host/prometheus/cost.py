"""What a host's Prometheus log group is estimated to ingest a month, for the free-tier check.

Each scrape writes one EMF event per label set (see :mod:`constructs_obs.host.prometheus`), so a month's data is
the size of one event, times the label sets the caller expects (``PrometheusScrape(expected_label_sets=...)``),
times the scrapes in a month. :class:`~constructs_obs.host.prometheus.metrics.PrometheusMetrics` declares the
figure on its log group, and :mod:`constructs_obs.checks.free_tier` adds it up against the free tier's 5 GB.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from constructs_obs.testing.emf import emf_event

if TYPE_CHECKING:
    from constructs_obs.host.prometheus.scrape import PrometheusScrape

#: Seconds in the month the cost figures use (730 hours, as the AWS pricing calculator does).
SECONDS_PER_MONTH = 730 * 3600
#: What CloudWatch Logs counts per event besides its message when it sizes a ``PutLogEvents`` batch ("the sum of
#: all event messages in UTF-8, plus 26 bytes for each log event", CloudWatch Logs API reference, PutLogEvents).
#: Counted here as ingested bytes too, which can only overstate the bill.
PER_EVENT_OVERHEAD_BYTES = 26
#: Lengths assumed for values the template cannot know, in the estimate of an event's size: a label value (a UUID
#: is 36 characters), the agent's ``host`` tag (an EC2 private DNS name such as
#: ``ip-172-31-255-255.us-east-2.compute.internal`` is 44), and a metric value as the agent writes it.
ASSUMED_LABEL_VALUE_CHARS = 36
ASSUMED_HOSTNAME_CHARS = 48
ASSUMED_VALUE_CHARS = 8


def scrapes_per_month(scrape: PrometheusScrape) -> int:
    """Scrapes of ``scrape`` in a 730-hour month."""
    return SECONDS_PER_MONTH // scrape.interval_seconds


def event_bytes(scrape: PrometheusScrape, *, namespace: str) -> int:
    """The estimated bytes of one event of ``scrape`` (every metric in it), plus the per-event overhead.

    The event is the one the agent writes (:func:`constructs_obs.testing.emf.emf_event`, the emulation the tests
    hold against the agent's own output) with every value the template cannot know at its assumed length.
    """
    event = emf_event(
        scrape,
        namespace=namespace,
        label_values=dict.fromkeys(scrape.labels, "x" * ASSUMED_LABEL_VALUE_CHARS),
        values=dict.fromkeys(scrape.metrics, float("1" * ASSUMED_VALUE_CHARS)),
        host="h" * ASSUMED_HOSTNAME_CHARS,
    )
    return len(event.encode()) + PER_EVENT_OVERHEAD_BYTES


def monthly_ingestion_bytes(scrape: PrometheusScrape, *, namespace: str) -> int:
    """Estimated bytes a month: one event per label set per scrape (``expected_label_sets``), every scrape."""
    return event_bytes(scrape, namespace=namespace) * scrape.expected_label_sets * scrapes_per_month(scrape)
