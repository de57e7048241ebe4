"""constructs_obs: AWS CDK constructs that observe a Docker host on EC2.

- :class:`ContainerLogGroups`: one CloudWatch log group per container, for Docker's ``awslogs`` driver.
- :class:`ObservedEc2Host`: a secure-by-default EC2 Docker host allowed to write only to those groups.
- :class:`BasicAlarms`: CPU and status-check alarms notifying an SNS topic by email.
- :mod:`constructs_obs.doctor`: the ``obs-doctor`` command, which checks a deployed stack.

The constructs are imported on first use, so ``obs-doctor`` (which needs boto3, not the CDK) starts without
loading aws-cdk-lib and its Node.js runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_obs.alarms import BasicAlarms
    from constructs_obs.host import ObservedEc2Host
    from constructs_obs.log_groups import ContainerLogGroups

#: Public name -> the module that defines it.
_EXPORTS = {
    "BasicAlarms": "constructs_obs.alarms",
    "ContainerLogGroups": "constructs_obs.log_groups",
    "ObservedEc2Host": "constructs_obs.host",
}

__all__ = ["BasicAlarms", "ContainerLogGroups", "ObservedEc2Host"]


def __getattr__(name: str) -> Any:
    """Import a construct on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_obs' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
