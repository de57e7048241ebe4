"""Prometheus metrics of an application on the host, scraped by the CloudWatch agent that already runs there.

No Prometheus server and no new container: the CloudWatch agent's ``prometheus`` input scrapes the endpoints of a
standard Prometheus scrape configuration and writes the metrics it selects to a CloudWatch log group in embedded
metric format (EMF); CloudWatch Logs turns those events into metrics. One module per responsibility:

- :mod:`~constructs_obs.host.prometheus.scrape`: :class:`~constructs_obs.host.prometheus.scrape.PrometheusScrape`,
  one endpoint and the metrics to keep, validated;
- :mod:`~constructs_obs.host.prometheus.scrape_config`: the Prometheus scrape configuration file the agent reads;
- :mod:`~constructs_obs.host.prometheus.agent_section`: the agent's ``logs.metrics_collected.prometheus`` section;
- :mod:`~constructs_obs.host.prometheus.cost`: the estimate of what the log group ingests a month;
- :mod:`~constructs_obs.host.prometheus.metrics`: :class:`~constructs_obs.host.prometheus.metrics.PrometheusMetrics`,
  the construct that puts them together for one host (the log group, the role's write grant, the free-tier
  declarations); hosts build it from ``prometheus_scrapes=[...]``;
- :mod:`~constructs_obs.host.prometheus.cache`: :class:`~constructs_obs.host.prometheus.cache.CachePerformance`,
  a cache's hit rate and estimated saving from its hit and miss counters, as dashboard widgets and a saved query.

The EMF events the agent writes are emulated for tests in :mod:`constructs_obs.testing.emf`.

What the agent does with a scrape, and what this package relies on (sources: the Amazon CloudWatch User Guide pages
"Set up and configure Prometheus metrics collection on Amazon EC2 instances" (CloudWatch-Agent-PrometheusEC2),
"Scraping additional Prometheus sources and importing those metrics" (ContainerInsights-Prometheus-Setup-configure)
and "Prometheus metric type conversion by the CloudWatch agent" (ContainerInsights-Prometheus-metrics-conversion);
the agent's source, aws/amazon-cloudwatch-agent at ab55b8daa204e95c42c0267ee5aa49ec3b3a7317, files named below;
its EMF exporter, amazon-contributing/opentelemetry-collector-contrib ``exporter/awsemfexporter``):

- **Counters arrive as per-scrape increases.** "The CloudWatch agent calculates a delta from the previous scrape and
  sends the delta value as the metric value in the log event. So the CloudWatch agent will start to produce one log
  event from the second scrape" (metrics-conversion page; ``plugins/inputs/prometheus/delta_calculator.go``). A
  counter that goes down (the application restarted) counts its new value as the increase. So the ``Sum`` of a
  counter's metric over any period is the number of events in that period, and a hit rate is
  ``hits / (hits + misses)`` over any period. Consequences: the first scrape of each series (each new label value,
  and every series after the agent restarts) is only a baseline, its count is not published; and the agent forgets
  a series' previous value 5 minutes after it last saw it (``CacheTTL`` in ``delta_calculator.go``,
  ``internal/mapWithExpiry``), so the scrape interval must stay below that (at most 4 minutes here).
- **Types come from the exposition's ``# TYPE`` lines**: the agent drops samples whose type it cannot find, and
  histograms (``plugins/inputs/prometheus/metrics_type_handler.go``, ``metrics_filter.go``). Counters, gauges and
  summaries are supported.
- **Only the selected metrics are scraped at all**: the scrape configuration's ``metric_relabel_configs`` keeps the
  configured names and drops every other sample before the agent sees it (the agent runs the Prometheus scrape
  library, ``plugins/inputs/prometheus/start.go``), so nothing else reaches the log group or CloudWatch.
- **One event per label set, one metric per name.** Samples with identical labels are merged into one log event
  (``plugins/inputs/prometheus/utils.go`` ``mergeMetrics``) carrying every label (``job``, ``instance``, the
  application's labels such as ``route``, ``prom_metric_type``, and the agent's ``host`` tag). The
  ``emf_processor`` ``metric_declaration`` selects the metrics (``metric_selectors``, anchored regular
  expressions) of the scrape job (``source_labels: ["job"]``) and names the dimensions: ``[[]]``, no dimension, by
  default, so each metric is one CloudWatch metric however many label values there are, and CloudWatch adds the
  events of one period together (use the ``Sum`` statistic). Labels not kept stay in the events, for Logs Insights.
  A dimension set naming a label that an event lacks is dropped for that event, and a metric with no dimension set
  left is not published (``metric_translator.go``, ``metric_declaration.go``).
- **The log group must exist**: with it in place the exporter calls only ``PutLogEvents`` and, for a missing
  stream, ``CreateLogStream`` (``internal/aws/cwlogs/cwlog_client.go``); the stream is named after the job. EMF
  metrics are created by CloudWatch Logs from the events, so they need no ``cloudwatch:PutMetricData`` (and its
  namespace condition does not apply to them): what bounds them is the agent's configuration and the role being
  able to write to this one log group only.

Memory: the scrape runs inside the agent process (``plugins/inputs/prometheus/prometheus.go`` starts the
Prometheus scrape manager as goroutines of the agent); there is no new process. AWS publishes no figure for one
static target; for a whole Kubernetes cluster's discovery and scraping AWS's own manifest requests 200 MiB and
limits the agent to 1000 MiB (aws-samples/amazon-cloudwatch-container-insights,
``k8s-deployment-manifest-templates/deployment-mode/service/cwagent-prometheus/prometheus-k8s.yaml``). One target
with a few series holds a few series in the scrape cache and the delta calculator; measure it on the host with
``systemctl show amazon-cloudwatch-agent -p MemoryCurrent`` before and after, and the memory alarm covers the host.
"""
