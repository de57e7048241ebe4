"""Stacks built with the constructs for the doctor's discovery scenarios (synthesized once per session).

``TwoHosts``: two hosts in one stack (a web host with nginx and an API, a worker host), each with its own log
groups, namespace, role and alarms; the web host's nginx has the log-pattern alarms. The VPC is an existing one
(``VPC_ID``/``SUBNET_ID``, placeholders the deployment replaces by the ids moto created).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from constructs_obs import BasicAlarms, ContainerLogGroups, LogPatternAlarms, ObservedEc2Host

VPC_ID = "vpc-0123456789abcdef0"
SUBNET_ID = "subnet-0123456789abcdef0"
TWO_HOSTS = "TwoHosts"
TWO_HOSTS_REGION = "us-east-2"


class TwoHostsStack(cdk.Stack):
    """Two observed hosts in one stack, in an existing VPC."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=VPC_ID,
            availability_zones=[f"{TWO_HOSTS_REGION}a"],
            public_subnet_ids=[SUBNET_ID],
        )
        web_logs = ContainerLogGroups(self, "WebLogs", prefix="/two/web", containers=["nginx", "api"])
        self.web = ObservedEc2Host(self, "Web", vpc=vpc, log_groups=web_logs)
        worker_logs = ContainerLogGroups(self, "WorkerLogs", prefix="/two/worker", containers=["worker"])
        self.worker = ObservedEc2Host(self, "Worker", vpc=vpc, log_groups=worker_logs)
        web_alarms = BasicAlarms(
            self, "WebAlarms", host=self.web, name_prefix="two-web", emails=["ops@example.com"]
        )
        BasicAlarms(self, "WorkerAlarms", host=self.worker, name_prefix="two-worker", topic=web_alarms.topic)
        LogPatternAlarms(
            self, "WebLogAlarms", alarms=web_alarms, nginx_container="nginx", backend_container="api"
        )
