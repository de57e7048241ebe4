"""constructs_obs: AWS CDK constructs that observe a Docker host on EC2.

- :class:`ContainerLogGroups`: one CloudWatch log group per container, for Docker's ``awslogs`` driver.
- :class:`ObservedEc2Host`: a secure-by-default EC2 Docker host allowed to write only to those groups.
- :class:`BasicAlarms`: CPU and status-check alarms notifying an SNS topic by email.
"""

from constructs_obs.alarms import BasicAlarms
from constructs_obs.host import ObservedEc2Host
from constructs_obs.log_groups import ContainerLogGroups

__all__ = ["BasicAlarms", "ContainerLogGroups", "ObservedEc2Host"]
