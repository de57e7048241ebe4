"""obs-doctor: check a deployed constructs_obs stack with boto3, the observability guide's troubleshooting as
one command.

Run ``obs-doctor --stack AiTutorStaging --region us-east-2`` after every deploy (``python -m
constructs_obs.doctor`` works too), or call :func:`run_doctor` with a ``boto3.Session``. It only reads; ``--deep``
adds one SSM Run Command that runs a read-only ``docker inspect`` on the host.
"""

from constructs_obs.doctor.checks import DoctorOptions, run_doctor
from constructs_obs.doctor.report import SCHEMA_VERSION, CheckResult, Report, Status
from constructs_obs.doctor.stack import StackNotFoundError

__all__ = [
    "SCHEMA_VERSION",
    "CheckResult",
    "DoctorOptions",
    "Report",
    "StackNotFoundError",
    "Status",
    "run_doctor",
]
