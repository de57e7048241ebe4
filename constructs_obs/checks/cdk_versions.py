"""The aws-cdk-lib releases the library supports, and what differs between them, in one place.

The floor in ``pyproject.toml`` is aws-cdk-lib 2.208.0 (2025-07-29), the first release whose
``logs.QueryString`` takes ``stats_statements`` (the saved queries use it). ``ec2.Instance``'s ``http_tokens`` came
with 2.231.0, so the host sets the same ``MetadataOptions`` on its L1 instead. Everything else the constructs use
is older, except two APIs of aws-cdk-lib 2.252.0 (2026-04-29):

- ``Validations`` and ``Acknowledgment``: how the constructs acknowledge the compliance findings they cause on
  purpose (:mod:`constructs_obs.checks.compliance`). cdk-nag 3 reads them. On older releases, where teams run
  cdk-nag 2 (an Aspect; cdk-nag 3 itself needs aws-cdk-lib 2.257.0), the constructs write the same
  acknowledgments in cdk-nag 2's documented suppression format instead: resource metadata ``cdk_nag`` with
  ``rules_to_suppress`` entries ``{"id", "reason", "applies_to"}`` (cdk-nag 2 README, "Suppressing a rule";
  ``NagSuppressionHelper.toCfnFormat`` in cdk-nag 2.38). CDK's built-in CloudFormation validator, whose rules the
  constructs also acknowledge, arrived with the same release, so older releases have nothing of it to acknowledge.
- The validation-plugin API without the ``Beta1`` suffix (``IPolicyValidationPlugin``, whose context names each
  stack's account and Region): :class:`~constructs_obs.checks.free_tier.FreeTierCheck` needs it and says so when
  created on an older release; :func:`~constructs_obs.checks.free_tier.count_billables` works on every release.

CI runs the consumer and cookbook tests on the floor as well as on the newest release (``make test-floor``).
"""

from __future__ import annotations

from importlib import metadata

import aws_cdk as cdk

#: The oldest aws-cdk-lib the library supports (pyproject.toml's floor): ``logs.QueryString(stats_statements=...)``.
FLOOR = "2.208.0"
#: The release that added ``Validations``, ``Acknowledgment`` and the validation-plugin API without ``Beta1``.
VALIDATIONS_RELEASE = "2.252.0"

#: Whether the installed aws-cdk-lib has ``Validations`` (acknowledgments and validation plugins).
HAS_VALIDATIONS: bool = all(
    hasattr(cdk, name) for name in ("Validations", "Acknowledgment", "IPolicyValidationPlugin")
)


def installed_release() -> str:
    """The installed aws-cdk-lib's version, e.g. ``2.275.0``."""
    return metadata.version("aws-cdk-lib")
