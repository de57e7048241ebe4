"""A fresh consumer's stack: the README's three constructs with their defaults, in an existing VPC.

Nothing in it acknowledges a finding: whatever the constructs need ships with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, ObservedEc2Host
from constructs_obs.alarms.basic import BASIC_MONITORING_PERIOD, DEFAULT_CPU_THRESHOLD_PERCENT

REGION = "eu-west-1"
#: An AMI id pinned on purpose (the README's way to move the host to a newer AMI deliberately).
PINNED_AMI = ec2.MachineImage.generic_linux({REGION: "ami-0123456789abcdef0"})


class ConsumerStack(cdk.Stack):
    """The constructs as a new team would use them.

    ``machine_image`` pins an AMI instead of resolving Amazon Linux 2023 at launch. ``strict`` takes every
    stricter opt-in: one customer-managed key (with rotation) for the log groups and the
    topic, and detailed monitoring with 1-minute alarm periods.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        strict: bool = False,
        cpu_threshold_percent: float = DEFAULT_CPU_THRESHOLD_PERCENT,
        emails: Sequence[str] = ("oncall@example.com",),
        machine_image: ec2.IMachineImage | None = None,
        name: str = "shop",
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id="vpc-0123456789abcdef0",
            availability_zones=[f"{REGION}a"],
            public_subnet_ids=["subnet-0123456789abcdef0"],
            public_subnet_route_table_ids=["rtb-0123456789abcdef0"],
        )
        self.key = kms.Key(self, "Key", enable_key_rotation=True) if strict else None
        self.logs = ContainerLogGroups(
            self, "Logs", prefix=f"/{name}", containers=["api", "worker"], encryption_key=self.key
        )
        self.host = ObservedEc2Host(
            self,
            "Host",
            vpc=vpc,
            log_groups=self.logs,
            detailed_monitoring=strict,
            machine_image=machine_image,
        )
        self.alarms = BasicAlarms(
            self,
            "Alarms",
            host=self.host,
            name_prefix=f"{name}-prod",
            emails=list(emails),
            cpu_threshold_percent=cpu_threshold_percent,
            period=cdk.Duration.minutes(1) if strict else BASIC_MONITORING_PERIOD,
            topic_encryption_key=self.key,
        )
