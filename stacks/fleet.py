"""AiTutorFleet: the staging app on an EC2 Auto Scaling group of 2 to 6 Docker hosts behind an Application Load
Balancer, observed as one fleet (us-east-2). An example of what comes after one host, not deployed by default:
``app.py`` adds it with ``-c fleet=true``.

Composition only, as the staging stack: the same container log groups (their own prefix), the fleet's alarms,
saved queries, dashboard and the backend's LLM cache counters. What it costs is in docs/fleet.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from constructs import Construct

from constructs_obs import (
    ContainerLogGroups,
    FleetObservability,
    docker_launch_template,
)
from constructs_obs.checks.compliance import acknowledge, declare
from stacks.staging import BACKEND_METRICS, app_views

FLEET_STACK_NAME = "AiTutorFleet"
REGION = "us-east-2"
#: The group's size: two instances in two Availability Zones at least, six at most.
MIN_INSTANCES = 2
MAX_INSTANCES = 6

FLEET_VPC_FLOW_LOGS = declare(
    "fleet-stack.vpc-flow-logs",
    owner="AiTutorFleetStack",
    target="Vpc",
    rules=(
        "AwsSolutions-VPC7",
        "NIST.800.53.R5-VPCFlowLogsEnabled",
        "HIPAA.Security-VPCFlowLogsEnabled",
    ),
    reason="""Flow logs of a public load balancer record every connection attempt from the internet (scanners
    included) and are billed as vended-log ingestion. The load balancer admits only HTTP, and nginx's access log
    (in `/ai-tutor-fleet/nginx`) records each request with the client's address (X-Forwarded-For).""",
)
FLEET_PUBLIC_SUBNETS = declare(
    "fleet-stack.public-subnets",
    owner="AiTutorFleetStack",
    target="Vpc/publicSubnet{n} (each subnet, with its default route)",
    rules=(
        "NIST.800.53.R5-VPCSubnetAutoAssignPublicIpDisabled",
        "HIPAA.Security-VPCSubnetAutoAssignPublicIpDisabled",
        "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
        "HIPAA.Security-VPCNoUnrestrictedRouteToIGW",
    ),
    reason="""A public-only VPC by design: the instances reach Systems Manager, CloudWatch and the package
    repositories through the internet gateway with a public address each. Private subnets would need a NAT gateway
    (about $32/month) or interface endpoints (about $7/month each). The instances' security group admits only the
    load balancer.""",
)
LOAD_BALANCER_HTTP = declare(
    "fleet-stack.load-balancer-http",
    owner="AiTutorFleetStack",
    target="LoadBalancer",
    rules=(
        "AwsSolutions-ELB2",
        "NIST.800.53.R5-ELBLoggingEnabled",
        "HIPAA.Security-ELBLoggingEnabled",
        "NIST.800.53.R5-ALBHttpToHttpsRedirection",
        "HIPAA.Security-ALBHttpToHttpsRedirection",
        "NIST.800.53.R5-ELBv2ACMCertificateRequired",
        "HIPAA.Security-ELBv2ACMCertificateRequired",
        "NIST.800.53.R5-ALBWAFEnabled",
        "NIST.800.53.R5-ELBDeletionProtectionEnabled",
        "HIPAA.Security-ELBDeletionProtectionEnabled",
    ),
    reason="""The example serves HTTP on the load balancer's own name: it has no domain, so no ACM certificate
    and no redirect to HTTPS (add a listener on 443 with your certificate). Access logs would need an S3 bucket
    and are billed; nginx's access log in CloudWatch records every request. WAF costs $5/month plus rules.
    Deletion protection would make the rollback of a failed first deploy fail (CloudFormation cannot delete the
    balancer), as termination protection does for an instance.""",
)
LOAD_BALANCER_PUBLIC_PORT = declare(
    "fleet-stack.load-balancer-public-port",
    owner="AiTutorFleetStack",
    target="LoadBalancer/SecurityGroup",
    rules=("AwsSolutions-EC23",),
    reason="""The load balancer serves the public site: HTTP (80) is open to the internet on it, and nothing
    else; the instances admit only the load balancer.""",
)
GROUP_NOTIFICATIONS = declare(
    "fleet-stack.group-notifications",
    owner="AiTutorFleetStack",
    target="Group",
    rules=("AwsSolutions-AS3",),
    reason="""Scaling events are not emailed one by one: the fleet's capacity alarm emails the team when the
    group has fewer instances in service than it wants for 10 minutes, and the group's activity history keeps
    every launch and termination.""",
)


class AiTutorFleetStack(Stack):
    """The fleet: VPC, load balancer, Auto Scaling group, and its observability.

    Eight alarms (the capacity alarm counts two alarm metrics, 9 in all with the log-pattern alarms' two), seven
    custom metrics whatever the group's size, one dashboard: inside the CloudWatch free tier.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str = FLEET_STACK_NAME,
        *,
        alarm_emails: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        """Compose the stack.

        Args:
            scope: the app.
            construct_id: the stack's id and name.
            alarm_emails: addresses subscribed to the alarm topic.
            kwargs: passed to ``Stack`` (env, description, ...).
        """
        kwargs.setdefault("termination_protection", False)
        kwargs.setdefault(
            "description",
            "ai-tutor fleet example: Auto Scaling group of Docker hosts behind a load balancer, observed as one",
        )
        super().__init__(scope, construct_id, **kwargs)
        self.logs = ContainerLogGroups(
            self, "Logs", prefix="/ai-tutor-fleet", containers=["backend", "frontend", "nginx"]
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
        )
        acknowledge(vpc, FLEET_VPC_FLOW_LOGS)
        for subnet in vpc.public_subnets:
            acknowledge(subnet, FLEET_PUBLIC_SUBNETS)

        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self, "LoadBalancer", vpc=vpc, internet_facing=True, drop_invalid_header_fields=True
        )
        acknowledge(self.load_balancer, LOAD_BALANCER_HTTP)
        acknowledge(self.load_balancer.connections.security_groups[0], LOAD_BALANCER_PUBLIC_PORT)
        instances = ec2.SecurityGroup(
            self,
            "InstanceSecurityGroup",
            vpc=vpc,
            description="Docker hosts: HTTP from the load balancer only; all out",
            allow_all_outbound=True,
        )
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="Docker hosts of the fleet: write container logs and the fleet's metrics; Session Manager",
        )
        template = docker_launch_template(self, "LaunchTemplate", role=role, security_group=instances)
        self.group = autoscaling.AutoScalingGroup(
            self,
            "Group",
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            launch_template=template,
            min_capacity=MIN_INSTANCES,
            max_capacity=MAX_INSTANCES,
            # Instances the load balancer finds unhealthy are replaced, after 5 minutes to boot and set up.
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                grace_period=Duration.minutes(5),
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
            ),
            cooldown=Duration.minutes(5),
        )
        acknowledge(self.group, GROUP_NOTIFICATIONS)
        listener = self.load_balancer.add_listener("Http", port=80, open=True)
        listener.add_targets(
            "Hosts",
            port=80,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.group],
            health_check=elbv2.HealthCheck(path="/", healthy_http_codes="200-399"),
            deregistration_delay=Duration.seconds(30),
        )
        self.group.scale_on_cpu_utilization("Cpu", target_utilization_percent=60)

        self.fleet = FleetObservability(
            self,
            "Fleet",
            auto_scaling_group=self.group,
            log_groups=self.logs,
            metrics_namespace="AiTutor/Fleet",
            prometheus_scrapes=[BACKEND_METRICS],
            ssm_agent_permissions=True,
        )
        views = app_views(self, self.fleet, name_prefix="ai-tutor-fleet", alarm_emails=alarm_emails)
        self.llm_cache, self.alarms, self.log_alarms = views.llm_cache, views.alarms, views.log_alarms
        self.queries, self.dashboard = views.queries, views.dashboard

        CfnOutput(
            self,
            "LoadBalancerDnsName",
            value=self.load_balancer.load_balancer_dns_name,
            description="The site, through the load balancer",
        )
        CfnOutput(
            self,
            "AutoScalingGroupName",
            value=self.group.auto_scaling_group_name,
            description="The group of Docker hosts",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn, description="Alarm notifications")
        CfnOutput(
            self,
            "DashboardName",
            value=self.dashboard.dashboard.dashboard_name,
            description="CloudWatch dashboard: the fleet's metrics, the instances in service and every alarm",
        )
        assert self.fleet.prometheus is not None
        CfnOutput(
            self,
            "ComposeLogging",
            value=self.to_json_string(
                self.logs.compose_override(loopback_ports=self.fleet.prometheus.loopback_ports)
            ),
            description="docker-compose override for every instance: each container's output to its log group, "
            "the backend's metrics port on 127.0.0.1 only",
        )
