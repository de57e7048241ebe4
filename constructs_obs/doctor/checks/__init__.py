"""The doctor's checks, one module per family. Each reads the account (never writes) and returns report rows.

- :mod:`~constructs_obs.doctor.checks.stack_status`: the stack's state and its ``ComposeLogging`` output.
- :mod:`~constructs_obs.doctor.checks.instances`: each instance runs with its instance profile.
- :mod:`~constructs_obs.doctor.checks.log_groups`: each log group exists, keeps events, receives them.
- :mod:`~constructs_obs.doctor.checks.alarms`: each alarm exists, notifies, watches the right instance, has data.
- :mod:`~constructs_obs.doctor.checks.delivery`: CloudWatch may publish to each alarm topic (topic and key
  policies), no alarm action failed, someone is subscribed.
- :mod:`~constructs_obs.doctor.checks.agent`: each host's CloudWatch agent reports its metrics.
- :mod:`~constructs_obs.doctor.checks.prometheus`: the Prometheus metrics each host's agent scrapes reach
  CloudWatch (or there was no traffic to count).
- :mod:`~constructs_obs.doctor.checks.docker_events`: each host's docker-events service started since boot.
- :mod:`~constructs_obs.doctor.checks.log_format`: each metric filter's group has lines of the format it reads.
- :mod:`~constructs_obs.doctor.checks.setup`: each host's setup association succeeded.
- :mod:`~constructs_obs.doctor.checks.permissions`: each host's role may write its logs and metrics.
- :mod:`~constructs_obs.doctor.checks.deep`: ``--deep``, on the host through SSM Run Command.

They depend on :mod:`constructs_obs.doctor.facts` (shared facts and errors), the report, the guide and
:mod:`constructs_obs.doctor.windows` (when data can be there: a check that waits for data says ``PENDING`` until
then), never on each other; :mod:`constructs_obs.doctor.runner` runs them in the order of
:mod:`constructs_obs.doctor.plan`.
"""
