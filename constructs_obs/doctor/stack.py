"""What a deployed stack holds: its status, outputs, template and the physical id of each resource."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient

#: Stable states in which the last deploy succeeded.
COMPLETE_STATES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"})

#: Stable states in which the last update failed and CloudFormation restored the previous version.
ROLLED_BACK_STATES = frozenset({"UPDATE_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})


class StackNotFoundError(Exception):
    """No stack of that name exists in the region (or the credentials may not see it)."""


@dataclass(frozen=True)
class StackResource:
    """One resource of the stack.

    Attributes:
        logical_id: its id in the template.
        resource_type: e.g. ``AWS::Logs::LogGroup``.
        properties: its template properties (empty when the template could not be read).
        physical_id: what CloudFormation created (a name, id or ARN); ``None`` when the stack's resource
            list does not have it.
        metadata: its template ``Metadata`` (the constructs describe hosts there).
    """

    logical_id: str
    resource_type: str
    properties: Mapping[str, Any] = field(default_factory=dict)
    physical_id: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def name(self, name_property: str) -> str | None:
        """The physical name: the physical id, else the template's literal ``name_property`` (if a string)."""
        if self.physical_id:
            return self.physical_id
        value = self.properties.get(name_property)
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class StackInventory:
    """Everything the checks need to know about the stack, read once.

    Attributes:
        name: the stack name.
        stack_id: the stack's ARN.
        region: the region it lives in.
        status: e.g. ``UPDATE_COMPLETE``.
        status_reason: CloudFormation's reason for the status, if any.
        outputs: output key -> value.
        resources: every resource, in template order, then any the template does not list.
        template_read: whether the template could be parsed (its properties give expected values).
        parameters: the stack's parameter values (what ``Ref`` to a parameter resolves to).
        updated_at: when the stack last changed: its ``LastUpdatedTime``, else its ``CreationTime``.
    """

    name: str
    stack_id: str
    region: str
    status: str
    status_reason: str
    outputs: Mapping[str, str]
    resources: tuple[StackResource, ...]
    template_read: bool
    parameters: Mapping[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None

    def of_type(self, resource_type: str) -> list[StackResource]:
        """The resources of ``resource_type``."""
        return [r for r in self.resources if r.resource_type == resource_type]

    def physical_id(self, logical_id: str) -> str | None:
        """The physical id of ``logical_id``, if the stack has it."""
        for resource in self.resources:
            if resource.logical_id == logical_id:
                return resource.physical_id
        return None

    def ref(self, value: object) -> str | None:
        """Resolve a template value: a literal string, or ``{"Ref": logical_id}`` to its physical id."""
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping) and set(value) == {"Ref"}:
            return self.physical_id(str(value["Ref"]))
        return None


def parse_template(body: object) -> dict[str, Any] | None:
    """The template as a dict: boto3 returns JSON templates parsed and YAML ones as text (not parsed here)."""
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def load_stack(cfn: CloudFormationClient, stack_name: str, region: str) -> StackInventory:
    """Read the stack's status, outputs, template and resource list. ``StackNotFoundError`` if it does not exist."""
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise StackNotFoundError(stack_name) from None
        raise
    if not stacks:
        raise StackNotFoundError(stack_name)
    stack = stacks[0]
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", []) if "OutputKey" in o}
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
        for p in stack.get("Parameters", [])
        if "ParameterKey" in p
    }

    listed: dict[str, tuple[str, str]] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page.get("StackResourceSummaries", []):
            logical_id = summary.get("LogicalResourceId")
            if logical_id:
                listed[logical_id] = (summary.get("ResourceType", ""), summary.get("PhysicalResourceId", ""))

    template = parse_template(cfn.get_template(StackName=stack_name).get("TemplateBody"))
    resources: list[StackResource] = []
    template_resources = (template or {}).get("Resources", {})
    for logical_id, definition in template_resources.items():
        if not isinstance(definition, Mapping):
            continue
        if logical_id not in listed and "Condition" in definition:
            continue  # its condition was false: CloudFormation did not create it
        resource_type, physical_id = listed.get(logical_id, ("", ""))
        resources.append(
            StackResource(
                logical_id=logical_id,
                resource_type=str(definition.get("Type", resource_type)),
                properties=dict(definition.get("Properties") or {}),
                physical_id=physical_id or None,
                metadata=dict(definition.get("Metadata") or {}),
            )
        )
    for logical_id, (resource_type, physical_id) in listed.items():
        if logical_id not in template_resources:
            resources.append(StackResource(logical_id, resource_type, {}, physical_id or None))

    return StackInventory(
        name=stack.get("StackName", stack_name),
        stack_id=stack.get("StackId", ""),
        region=region,
        status=stack.get("StackStatus", ""),
        status_reason=stack.get("StackStatusReason", ""),
        outputs=outputs,
        resources=tuple(resources),
        template_read=template is not None,
        parameters=parameters,
        updated_at=stack.get("LastUpdatedTime") or stack.get("CreationTime"),
    )
