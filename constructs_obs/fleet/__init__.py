"""Observing an EC2 Auto Scaling group as one fleet, at a cost that does not grow with it.

- :mod:`~constructs_obs.fleet.observability`: :class:`~constructs_obs.fleet.observability.FleetObservability`, the
  observability of every instance of a group (the setup of each, launched now or later; the role's grants; one
  series per metric for the whole group; the capacity metrics), usable wherever a host is.
- :mod:`~constructs_obs.fleet.alarms`: the alarms of a fleet (:data:`~constructs_obs.fleet.alarms.FLEET_ALARMS`),
  which :class:`~constructs_obs.alarms.basic.BasicAlarms` creates for it.
- :mod:`~constructs_obs.fleet.launch_template`: a launch template as secure as the single host
  (:func:`~constructs_obs.fleet.launch_template.docker_launch_template`), for teams that build their group with it.
"""
