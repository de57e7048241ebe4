"""obs-doctor: check a deployed constructs_obs stack with boto3, the observability guide's troubleshooting as
one command.

Run ``obs-doctor --stack ShopProd --region eu-west-1`` after every deploy (``python -m
constructs_obs.doctor`` works too; ``--wait 15m`` makes it the post-deploy gate), or call :func:`run_doctor` with a
``boto3.Session`` (:class:`~constructs_obs.doctor.runner.Doctor` to check the pending rows again). It checks the alert path
as AWS runs it: who may publish to the alarm topic, whether the agent reports, whether the Prometheus metrics it
scrapes reach CloudWatch, whether the docker-events service started, whether the logs have the format the metric
filters read, whether the host's setup succeeded and whether its role may write. It only reads; ``--deep`` adds
one SSM Run Command per host that runs a read-only ``systemctl is-active`` and ``docker inspect`` there.

Modules: :mod:`~constructs_obs.doctor.cli` (the command), :mod:`~constructs_obs.doctor.runner` (runs the checks,
in the order of :mod:`~constructs_obs.doctor.plan`), :mod:`~constructs_obs.doctor.wait` (``--wait``),
:mod:`~constructs_obs.doctor.stack` and :mod:`~constructs_obs.doctor.discovery` (what the stack holds),
:mod:`~constructs_obs.doctor.facts` (shared facts and errors), :mod:`~constructs_obs.doctor.windows` (when data a
check waits for can be there), :mod:`~constructs_obs.doctor.checks` (one module per check family),
:mod:`~constructs_obs.doctor.report` (rows, statuses, exit codes, JSON), :mod:`~constructs_obs.doctor.text` and
:mod:`~constructs_obs.doctor.junit` (how a report is printed), and :mod:`~constructs_obs.doctor.guide`.

boto3 is the package's ``doctor`` extra: ``pip install "constructs-obs[doctor]"``. The names below are imported
on first use, so the command can say so in one line when boto3 is missing instead of failing on import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs_obs.doctor.facts import DoctorOptions
    from constructs_obs.doctor.report import SCHEMA_VERSION, CheckResult, Report, Status
    from constructs_obs.doctor.runner import Doctor, run_doctor
    from constructs_obs.doctor.stack import StackNotFoundError

#: Public name -> the module that defines it.
_EXPORTS = {
    "SCHEMA_VERSION": "constructs_obs.doctor.report",
    "CheckResult": "constructs_obs.doctor.report",
    "Doctor": "constructs_obs.doctor.runner",
    "DoctorOptions": "constructs_obs.doctor.facts",
    "Report": "constructs_obs.doctor.report",
    "StackNotFoundError": "constructs_obs.doctor.stack",
    "Status": "constructs_obs.doctor.report",
    "run_doctor": "constructs_obs.doctor.runner",
}

__all__ = [
    "SCHEMA_VERSION",
    "CheckResult",
    "Doctor",
    "DoctorOptions",
    "Report",
    "StackNotFoundError",
    "Status",
    "run_doctor",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'constructs_obs.doctor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
