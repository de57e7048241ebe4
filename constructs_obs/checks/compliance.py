"""Acknowledged compliance findings, shipped with the constructs that cause them.

Every finding the rule packs report on these constructs is either fixed or acknowledged here, with its reason,
on the narrowest construct, so a stack built from them passes cdk-nag (AwsSolutions, NIST 800-53 rev 5, HIPAA
Security), CDK's built-in CloudFormation validation and cfn-lint without a suppression of its own.

Each acknowledgment is declared once with :func:`declare` (which is what ``docs/compliance.md`` lists) and
applied with :func:`acknowledge`. Rule ids:

- cdk-nag rules as the packs report them: ``AwsSolutions-EC28``, ``NIST.800.53.R5-SNSEncryptedKMS``,
  ``AwsSolutions-IAM5[Resource::*]`` (one finding of a rule).
- CDK's built-in template validation: ``CloudFormation-Validate::E1152``.
- cfn-lint: ``cfn-lint::E1152``, written into the resource's template ``Metadata`` where cfn-lint reads it.

A rule id may hold ``{placeholders}`` filled in when it is applied (a finding that names a region, say); the
declaration says what each one stands for.

This module needs aws-cdk-lib only: acknowledgments are CDK's own ``Validations`` metadata, so using the
constructs does not require cdk-nag. On an aws-cdk-lib older than ``Validations`` (2.252.0), they are written in
cdk-nag 2's suppression metadata instead (:mod:`constructs_obs.checks.cdk_versions`).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import CfnResource, Stack
from constructs import IConstruct

from constructs_obs.checks.cdk_versions import HAS_VALIDATIONS

#: Rule ids with this prefix are cfn-lint checks, acknowledged in the resource's template Metadata.
CFN_LINT_PREFIX = "cfn-lint::"
#: Rule ids of CDK's built-in CloudFormation validator (aws-cdk-lib 2.252.0 and later, like ``Validations``).
CDK_VALIDATOR_PREFIX = "CloudFormation-Validate::"
#: The resource metadata key cdk-nag 2 reads suppressions from.
CDK_NAG_2_METADATA_KEY = "cdk_nag"


@dataclass(frozen=True)
class AcknowledgedFinding:
    """A compliance finding that is accepted on purpose, and why.

    Attributes:
        key: a unique, stable name, e.g. ``host.detailed-monitoring``.
        owner: the construct (or stack) class that applies it, e.g. ``ObservedEc2Host``.
        target: the child it is attached to, e.g. ``Instance``: the narrowest construct the finding is on.
        rules: the rule ids it acknowledges (several packs often report the same thing).
        reason: why the finding is accepted.
        stricter: how to get the stricter variant instead (an opt-in prop), or ``None`` if there is none.
        placeholders: what each ``{placeholder}`` in ``rules`` stands for.
    """

    key: str
    owner: str
    target: str
    rules: tuple[str, ...]
    reason: str
    stricter: str | None = None
    placeholders: Mapping[str, str] = field(default_factory=dict)

    def rule_ids(self, **values: str) -> list[str]:
        """The rule ids with their placeholders filled in from ``values``."""
        missing = sorted(set(self.placeholders) - set(values))
        if missing:
            raise ValueError(f"acknowledgment {self.key!r} needs values for {missing}")
        return [rule.format(**values) for rule in self.rules]

    def documented_rules(self) -> list[str]:
        """The rule ids as the docs show them: placeholders replaced by what they stand for."""
        return [rule.format(**self.placeholders) for rule in self.rules]


_DECLARED: dict[str, AcknowledgedFinding] = {}


def declare(
    key: str,
    *,
    owner: str,
    target: str,
    rules: Iterable[str],
    reason: str,
    stricter: str | None = None,
    placeholders: Mapping[str, str] | None = None,
) -> AcknowledgedFinding:
    """Declare an acknowledgment (once, at import time of the module that applies it) and return it."""
    finding = AcknowledgedFinding(
        key=key,
        owner=owner,
        target=target,
        rules=tuple(rules),
        reason=" ".join(reason.split()),
        stricter=stricter,
        placeholders=dict(placeholders or {}),
    )
    if not finding.rules:
        raise ValueError(f"acknowledgment {key!r} must name at least one rule")
    existing = _DECLARED.get(key)
    if existing is not None and existing != finding:
        raise ValueError(f"acknowledgment {key!r} is declared twice, differently")
    _DECLARED[key] = finding
    return finding


def declared() -> list[AcknowledgedFinding]:
    """Every declared acknowledgment, in declaration order."""
    return list(_DECLARED.values())


def acknowledge(scope: IConstruct, finding: AcknowledgedFinding, **placeholders: str) -> None:
    """Acknowledge ``finding`` on ``scope`` (and so on everything below it).

    cdk-nag and CloudFormation-Validate rules go to CDK's ``Validations`` metadata; ``cfn-lint::`` rules also go
    into the template ``Metadata`` of ``scope`` (a ``CfnResource``, or a construct whose default child is one).
    Without ``Validations`` (aws-cdk-lib before 2.252.0), cdk-nag rules go into cdk-nag 2's ``cdk_nag`` metadata
    of every CloudFormation resource at or below ``scope``, as ``NagSuppressions.add_resource_suppressions(scope,
    ..., apply_to_children=True)`` would write them.
    """
    for rule in finding.rule_ids(**placeholders):
        if HAS_VALIDATIONS:
            cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=finding.reason))
        elif not rule.startswith((CFN_LINT_PREFIX, CDK_VALIDATOR_PREFIX)):
            _suppress_in_cdk_nag_2(scope, rule, finding.reason)
        if rule.startswith(CFN_LINT_PREFIX):
            _ignore_in_cfn_lint(scope, rule[len(CFN_LINT_PREFIX) :])


def cdk_nag_2_suppression(rule: str, reason: str) -> dict[str, Any]:
    """``rule`` (``AwsSolutions-IAM5`` or one finding of it, ``AwsSolutions-IAM5[Resource::*]``) as one entry of
    cdk-nag 2's ``rules_to_suppress``: ``{"reason", "id"}`` plus ``"applies_to"`` for a finding; a reason with a
    character beyond Latin-1 is base64 with ``"is_reason_encoded": True``, as cdk-nag 2 writes it."""
    rule_id, bracket, finding_id = rule.partition("[")
    entry: dict[str, Any] = {"reason": reason, "id": rule_id}
    if bracket:
        entry["applies_to"] = [finding_id.removesuffix("]")]
    if any(ord(char) > 255 for char in reason):
        entry["reason"] = base64.b64encode(reason.encode("utf-8")).decode("ascii")
        entry["is_reason_encoded"] = True
    return entry


def _suppress_in_cdk_nag_2(scope: IConstruct, rule: str, reason: str) -> None:
    # An Aspect, so resources created below ``scope`` after this call are covered too (as Validations covers
    # them); MUTATING priority runs it before cdk-nag 2's packs, which users add with the default priority.
    cdk.Aspects.of(scope).add(
        _CdkNag2Suppression(cdk_nag_2_suppression(rule, reason)), priority=cdk.AspectPriority.MUTATING
    )


@jsii.implements(cdk.IAspect)
class _CdkNag2Suppression:
    """Adds one cdk-nag 2 suppression entry to every CloudFormation resource it visits."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry

    def visit(self, node: IConstruct) -> None:
        if not CfnResource.is_cfn_resource(node):
            return
        resource = node
        assert isinstance(resource, CfnResource)
        existing = resource.get_metadata(CDK_NAG_2_METADATA_KEY) or {}
        rules = list(existing.get("rules_to_suppress", []))
        if self.entry not in rules:
            rules.append(self.entry)
        resource.add_metadata(CDK_NAG_2_METADATA_KEY, {**existing, "rules_to_suppress": rules})


def nag_label(scope: IConstruct, value: Any) -> str:
    """``value`` (a string that may hold tokens) the way cdk-nag names it in a finding id.

    For example an ARN built from ``Stack.format_arn`` becomes ``arn:aws:ec2:us-east-2:<AWS::AccountId>:instance/*``.
    """
    return _flatten(Stack.of(scope).resolve(value))


def _flatten(node: Any) -> str:
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    raise TypeError(f"cannot name {node!r} the way cdk-nag does")


def _ignore_in_cfn_lint(scope: IConstruct, check: str) -> None:
    resource = scope if CfnResource.is_cfn_resource(scope) else scope.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"cfn-lint acknowledgments need a CloudFormation resource, got {scope.node.path}")
    metadata = resource.get_metadata("cfn-lint") or {}
    config = dict(metadata.get("config", {}))
    checks = list(config.get("ignore_checks", []))
    if check not in checks:
        checks.append(check)
    resource.add_metadata("cfn-lint", {**metadata, "config": {**config, "ignore_checks": checks}})


def markdown_table(findings: Iterable[AcknowledgedFinding]) -> str:
    """A Markdown table of ``findings`` (sorted by key): where, which rules, why, and the stricter opt-in."""
    lines = [
        "| construct | on | rules | reason | stricter variant |",
        "|---|---|---|---|---|",
    ]
    for finding in sorted(findings, key=lambda f: f.key):
        rules = "<br>".join(f"`{rule}`" for rule in finding.documented_rules())
        stricter = finding.stricter or "none"
        target = finding.target if " " in finding.target else f"`{finding.target}`"
        cells = [f"`{finding.owner}`", target, rules, finding.reason, stricter]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"
