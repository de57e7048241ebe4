"""cdk-nag's findings on a synthesized app, with whichever cdk-nag is installed.

The suite runs with cdk-nag 3 (a validation plugin, aws-cdk-lib 2.257 and later); `make test-floor` runs the
consumer and cookbook tests on the library's aws-cdk-lib floor with cdk-nag 2, where a pack is an Aspect that
reports each finding as an error or warning annotation on the resource (cdk-nag 2.38 ``AnnotationLogger``:
``RULE[FINDING]: info``) and reads suppressions from the resource's ``cdk_nag`` metadata, which the constructs write
on that release (constructs_obs/checks/cdk_versions.py).
"""

from __future__ import annotations

from importlib import metadata

import aws_cdk as cdk

#: The three packs the library is checked against, by rule-id prefix.
PACK_PREFIXES = ("AwsSolutions-", "NIST.800.53.R5-", "HIPAA.Security-")
#: Annotation types a cdk-nag 2 finding is written as (its rules' levels).
_FINDING_TYPES = ("aws:cdk:error", "aws:cdk:warning")

CDK_NAG_MAJOR = int(metadata.version("cdk-nag").split(".")[0])


def findings(app: cdk.App) -> list[tuple[str, str]]:
    """(rule id with its finding, construct path) of every unsuppressed finding of the three packs in ``app``
    (synthesized already)."""
    from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks

    packs = (AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks)
    if CDK_NAG_MAJOR >= 3:
        return [
            (violation.rule_name, resource.construct_path)
            for pack in packs
            for violation in pack().validate_scope(app).violations
            for resource in violation.violating_resources
        ]
    nodes = app.node.find_all()
    for pack in packs:
        checks = pack(reports=False)
        for node in nodes:
            checks.visit(node)
    return [
        (str(entry.data).split(":", 1)[0], node.node.path)
        for node in nodes
        for entry in node.node.metadata
        if entry.type in _FINDING_TYPES and str(entry.data).startswith(PACK_PREFIXES)
    ]
