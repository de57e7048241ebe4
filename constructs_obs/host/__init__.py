"""Observing one Docker host: what runs on it, what its role may do, the metrics it publishes.

- :mod:`~constructs_obs.host.interface`: :class:`~constructs_obs.host.interface.IObservedHost`, what alarms,
  saved queries and dashboards read from a host; :mod:`~constructs_obs.host.metric_options`, the options every
  metric method takes.
- :mod:`~constructs_obs.host.observability`: :class:`~constructs_obs.host.observability.HostObservability`, the
  observability of an instance made anywhere (setup, grants, docker-events, agent, metrics).
- :mod:`~constructs_obs.host.instance`: :class:`~constructs_obs.host.instance.ObservedEc2Host`, a secure EC2
  Docker host: an ``ec2.Instance`` plus a ``HostObservability``, whose termination protection the host switches on
  after the deploy (:mod:`~constructs_obs.host.protection`).
- The parts they are made of: :mod:`~constructs_obs.host.setup` (the SSM State Manager association that sets the
  host up), :mod:`~constructs_obs.host.agent` (the CloudWatch agent), :mod:`~constructs_obs.host.docker_events`
  (container crash events and their metric), :mod:`~constructs_obs.host.log_groups` (one log group per
  container, for Docker's ``awslogs`` driver), :mod:`~constructs_obs.host.images` (the machine images the host
  can run on) and :mod:`~constructs_obs.host.prometheus` (Prometheus endpoints of an app, scraped by the agent).
"""
