"""Resolve a synthesized template's intrinsic functions to the strings a deployment would see.

Enough of CloudFormation to read policies and ARNs out of a template: pseudo parameters (a fixed test account,
the stack's region, partition ``aws``), ``Ref`` and ``Fn::GetAtt ... Arn`` of the resource types the library
creates, ``Fn::Join``, ``Fn::Sub`` (string form), ``Fn::Select`` and ``Fn::Split``. What ``Ref`` returns per type is
from the CloudFormation resource reference ("Return values" of each type): an SNS topic's ``Ref`` is its ARN, a
KMS key's its id, an instance's its id, a log group's its name.
"""

from __future__ import annotations

import re
from typing import Any

ACCOUNT = "111122223333"
PARTITION = "aws"


class Intrinsics:
    """Walks a template value and resolves its intrinsic functions through :meth:`ref` and :meth:`get_att`.

    Subclasses say what ``Ref`` and ``Fn::GetAtt`` return (from the template alone, or from a deployment's
    physical ids); an intrinsic this does not model raises ``NotImplementedError``.
    """

    def ref(self, name: str) -> str:
        raise NotImplementedError(f"Ref {name}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        raise NotImplementedError(f"Fn::GetAtt {logical_id}.{attribute}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

                def sub(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in variables:
                        return str(variables[name])
                    if "." in name:
                        return self.get_att(*name.split(".", 1))
                    return self.ref(name)

                return re.sub(r"\$\{([^}!]+)\}", sub, text)
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        return {k: self.resolve(v) for k, v in value.items()}


class Resolver(Intrinsics):
    """Resolves values of ``template`` as deployed in ``region`` by :data:`ACCOUNT`, from the template alone."""

    def __init__(self, template: dict[str, Any], region: str) -> None:
        self.template = template
        self.region = region
        self.resources: dict[str, Any] = template.get("Resources", {})

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": self.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "Stack",
        }
        if name not in values:
            raise KeyError(f"pseudo parameter {name} is not modelled")
        return values[name]

    def ref(self, logical_id: str) -> str:
        if logical_id.startswith("AWS::"):
            return self.pseudo(logical_id)
        resource = self.resources[logical_id]
        kind = resource["Type"]
        props = resource.get("Properties", {})
        if kind == "AWS::SNS::Topic":
            name = self.resolve(props.get("TopicName", logical_id))
            return f"arn:{PARTITION}:sns:{self.region}:{ACCOUNT}:{name}"
        if kind == "AWS::KMS::Key":
            return f"key-{logical_id.lower()}"
        if kind == "AWS::Logs::LogGroup":
            return str(self.resolve(props.get("LogGroupName", logical_id)))
        if kind == "AWS::EC2::Instance":
            return "i-0123456789abcdef0"
        if kind == "AWS::IAM::Role":
            return str(self.resolve(props.get("RoleName", logical_id)))
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources[logical_id]
        kind = resource["Type"]
        if attribute == "Arn":
            if kind == "AWS::KMS::Key":
                return f"arn:{PARTITION}:kms:{self.region}:{ACCOUNT}:key/{self.ref(logical_id)}"
            if kind == "AWS::Logs::LogGroup":
                return f"arn:{PARTITION}:logs:{self.region}:{ACCOUNT}:log-group:{self.ref(logical_id)}:*"
            if kind == "AWS::IAM::Role":
                return f"arn:{PARTITION}:iam::{ACCOUNT}:role/{self.ref(logical_id)}"
            if kind == "AWS::SNS::Topic":
                return self.ref(logical_id)
            if kind == "AWS::Events::Rule":  # a rule on the default bus, named by CloudFormation
                return f"arn:{PARTITION}:events:{self.region}:{ACCOUNT}:rule/{logical_id}"
        raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} ({kind}) is not modelled")


def alarm_arn(region: str, name: str) -> str:
    """The ARN CloudWatch gives an alarm (and sends as ``aws:SourceArn`` when it publishes for it)."""
    return f"arn:{PARTITION}:cloudwatch:{region}:{ACCOUNT}:alarm:{name}"
