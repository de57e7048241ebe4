"""Observing one Docker host: what runs on it, what its role may do, the metrics it publishes.

- :mod:`~constructs_obs.host.instance`: :class:`~constructs_obs.host.instance.ObservedEc2Host`, a secure EC2
  Docker host.
- :mod:`~constructs_obs.host.observability`: the interface alarms, queries and dashboards read from a host.
- :mod:`~constructs_obs.host.setup`: the SSM State Manager association that sets the host up.
- :mod:`~constructs_obs.host.agent`: the CloudWatch agent (memory and disk metrics, log files).
- :mod:`~constructs_obs.host.docker_events`: container crash events and their metric.
- :mod:`~constructs_obs.host.log_groups`: one log group per container, for Docker's ``awslogs`` driver.
- :mod:`~constructs_obs.host.images`: the machine images the host can run on.
- :mod:`~constructs_obs.host.prometheus`: Prometheus endpoints of an app, scraped by the agent.
"""
