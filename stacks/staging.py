"""AiTutorStaging: the seed's observability setup (us-east-2) composed from constructs_obs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Annotations, CfnOutput, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from constructs_obs import (
    BasicAlarms,
    ContainerLogGroups,
    DataVolume,
    HostDashboard,
    HostObservability,
    IObservedHost,
    LogPatternAlarms,
    ObservedEc2Host,
    SavedQueries,
)
from constructs_obs.checks.compliance import acknowledge, declare, nag_label
from constructs_obs.host.prometheus.cache import CachePerformance
from constructs_obs.host.prometheus.scrape import PrometheusScrape

STACK_NAME = "AiTutorStaging"
REGION = "us-east-2"
#: The seed's instance role (docs: "IAM Permissions"), the name of the role the stack's own host gets by default.
SEED_ROLE_NAME = "ai-tutor-staging-ec2-role"
#: How long the container log groups keep events. The import of existing groups (docs/migration.md, import_app.py)
#: refuses to go on while this is shorter than what a group keeps today: the next deploy would delete the rest.
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
#: The staging host's data volume: Docker's data (named volumes, Postgres's among them) lives on it, not on the
#: root volume, and outlives the instance (ObservedEc2Host(data_volume=...)).
DATA_VOLUME = DataVolume(size_gib=20)


@dataclass(frozen=True)
class ExistingInstance:
    """The instance the stack observes instead of creating one (docs/migration.md, "Keep the instance").

    Attributes:
        instance_id: the running instance, ``i-...``.
        role_name: the role of its instance profile; it stays managed where it is (Terraform): the stack adds one
            policy of its own to it.
    """

    instance_id: str
    role_name: str


@dataclass(frozen=True)
class HostMove:
    """Moving the app to a new host (docs/migration.md, "Move to a new host"): the bucket the database dump
    travels through, created by hand for the move and deleted after it.

    Attributes:
        bucket_name: the bucket. The stack's host role may read and write its objects, and nothing else of S3.
        from_role_name: the role of the host the dump comes from (an instance outside the stack), which may put
            objects into the bucket for the move; None when that host is the stack's own.
    """

    bucket_name: str
    from_role_name: str | None = None


#: The custom resource CDK adds to every new VPC (feature flag @aws-cdk/aws-ec2:restrictDefaultSecurityGroup)
#: to remove all rules from the VPC's default security group.
RESTRICT_DEFAULT_SG_PROVIDER = "Custom::VpcRestrictDefaultSGCustomResourceProvider"

NO_FLOW_LOGS = declare(
    "staging.vpc-flow-logs",
    owner="AiTutorStagingStack",
    target="Vpc",
    rules=(
        "AwsSolutions-VPC7",
        "NIST.800.53.R5-VPCFlowLogsEnabled",
        "HIPAA.Security-VPCFlowLogsEnabled",
    ),
    reason="""Flow logs of a public web host record every connection attempt from the internet (scanners
    included) and are billed as vended-log ingestion, outside the $0/month budget. The host's only open ports are
    80 and 443, and nginx's access log (in `/ai-tutor/nginx`) already records that traffic.""",
)
PUBLIC_SUBNETS = declare(
    "staging.public-subnets",
    owner="AiTutorStagingStack",
    target="Vpc/publicSubnet{n} (each subnet, with its default route)",
    rules=(
        "NIST.800.53.R5-VPCSubnetAutoAssignPublicIpDisabled",
        "HIPAA.Security-VPCSubnetAutoAssignPublicIpDisabled",
        "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
        "HIPAA.Security-VPCNoUnrestrictedRouteToIGW",
    ),
    reason="""A public-only VPC by design: the host serves the public site itself and needs a public address
    and a route to the internet gateway. Private subnets would need a NAT gateway (about $32/month) or a load
    balancer, outside the $0/month budget. The security group admits only 80 and 443.""",
)
RESTRICT_DEFAULT_SG_DEPENDS_ON = declare(
    "staging.restrict-default-sg-provider",
    owner="AiTutorStagingStack",
    target=f"{RESTRICT_DEFAULT_SG_PROVIDER}/Handler",
    rules=("cfn-lint::W3005",),
    reason="""CDK's provider function for the VPC's restrict-default-security-group custom resource declares
    `DependsOn` its role although `Fn::GetAtt` on the role already implies it; harmless redundancy in code CDK
    generates. The custom resource itself is kept: it removes every rule from the VPC's default security group,
    with a role that may change that one group only.""",
)

MOVE_FROM_ROLE = declare(
    "staging.move-from-role",
    owner="AiTutorStagingStack(host_move=HostMove(from_role_name=...))",
    target="MoveFromRole (the old host's role)",
    rules=(
        "AwsSolutions-IAM5[Action::s3:Abort*]",
        "AwsSolutions-IAM5[Resource::{objects}]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "HIPAA.Security-IAMNoInlinePolicy",
    ),
    placeholders={"objects": "<the move bucket's ARN>/*"},
    reason="""Only during a move to a new host: the old host's role may put objects (aws-cdk-lib's `grant_put`: the
    object writes and aborting its own multipart uploads) into the one bucket the database dump travels through.
    The statement is one policy of this stack attached to that role only (the role is Terraform's, imported by
    name); it goes with `host_move` once the move is done.""",
)


#: The logical ids the two log-pattern alarms were deployed with while BasicAlarms owned them. A changed logical
#: id makes CloudFormation create the "new" resource before deleting the old one (AWS CDK Developer Guide,
#: "Identifiers", Logical ID stability); for an alarm with a fixed AlarmName that means PutMetricAlarm on the
#: existing name, then DeleteAlarms of that same name in the cleanup, or a failed update
#: (justeattakeaway/AwsWatchman#222). Pinning them keeps the deployed alarms.
DEPLOYED_LOG_ALARM_IDS = {
    "nginx_5xx": "AlarmsNginx5xx1C8EDC78",
    "backend_errors": "AlarmsBackendErrorsFEF274AF",
}


#: The seed's backend: Prometheus metrics at /metrics on port 9898 of the backend container, and the LLM response
#: cache's counters (label content_item_id). The agent scrapes only the two cache counters, every 2 minutes: each
#: scrape writes one log event per content item, so this halves the log data of a 1-minute scrape (about 0.5 GB a
#: month for 50 content items instead of 1 GB, of the free tier's 5 GB) at no loss on the 5-minute graphs.
BACKEND_METRICS = PrometheusScrape(
    job_name="backend",
    container="backend",
    port=9898,
    path="/metrics",
    metrics=("llm_cache_hits_total", "llm_cache_misses_total"),
    labels=("content_item_id",),
    units={"llm_cache_hits_total": "Count", "llm_cache_misses_total": "Count"},
    interval=Duration.minutes(2),
    expected_label_sets=50,
)
#: The seed's estimate of what a cache hit saves: "~$0.01 per LLM call (approximate for Claude Haiku-class models)".
LLM_CALL_USD = 0.01

#: The app's own advice in the alarm notifications: Sentry (the seed's error tracker and APM) has every exception
#: and the slow endpoints, so the on-call engineer starts there.
RUNBOOK = {
    "cpu-high": "Find the busy container with `docker stats` (Session Manager) and slow endpoints in Sentry "
    "Performance; scale up if the load is real.",
    "backend-errors": "Sentry has each exception; see the backend-errors saved query.",
}


@dataclass(frozen=True)
class AppViews:
    """What the example apps put on their compute: the LLM cache's metrics, the alarms and their emails, the log
    alarms, the saved queries and the dashboard."""

    llm_cache: CachePerformance
    alarms: BasicAlarms
    log_alarms: LogPatternAlarms
    queries: SavedQueries
    dashboard: HostDashboard


def app_views(
    stack: Stack,
    source: IObservedHost,
    *,
    name_prefix: str,
    alarm_emails: Sequence[str],
    alarm_runbook: dict[str, str] | None = None,
) -> AppViews:
    """The app's views on ``source`` (a host or a fleet), as both example stacks compose them; with no email, the
    app's own warning names the context key that adds one."""
    llm_cache = CachePerformance(
        source=source,
        hits="llm_cache_hits_total",
        misses="llm_cache_misses_total",
        breakdown_label="content_item_id",
        saving_per_hit_usd=LLM_CALL_USD,
        title="LLM cache",
    )
    alarms = BasicAlarms(
        stack,
        "Alarms",
        host=source,
        name_prefix=name_prefix,
        emails=list(alarm_emails),
        runbook=alarm_runbook,
    )
    if not alarm_emails:
        # The library's warning says "pass emails=": this app takes them from the command line.
        Annotations.of(alarms).acknowledge_warning(
            "constructs-obs:no-alarm-emails",
            "replaced by the app's own warning, which names its context key",
        )
        Annotations.of(alarms).add_warning_v2(
            "ai-tutor:no-alarm-emails",
            f"{alarms.name_prefix}: the alarm topic has no email subscription, so alarms notify nobody: deploy with "
            "-c alarm_emails=ops@example.com (comma-separated; each address confirms its subscription once).",
        )
    log_alarms = LogPatternAlarms(
        stack,
        "LogAlarms",
        alarms=alarms,
        nginx_container="nginx",
        backend_container="backend",
        runbook={"backend-errors": RUNBOOK["backend-errors"]},
    )
    queries = SavedQueries(
        stack,
        "Queries",
        host=source,
        name_prefix=alarms.name_prefix,
        backend_container="backend",
        nginx_container="nginx",
        cache=llm_cache,
    )
    dashboard = HostDashboard(stack, "Dashboard", alarms=alarms, cache=llm_cache)
    return AppViews(llm_cache, alarms, log_alarms, queries, dashboard)


def _keep_logical_ids(log_alarms: LogPatternAlarms) -> None:
    for attribute, logical_id in DEPLOYED_LOG_ALARM_IDS.items():
        alarm = getattr(log_alarms, attribute)
        if alarm is not None:
            alarm.node.default_child.override_logical_id(logical_id)


class AiTutorStagingStack(Stack):
    """The staging host, its container log groups, alarms, saved queries and dashboard, named like the seed.

    Composition only: every behaviour lives in the constructs. Seven alarms, seven custom metrics (two of them
    the backend's LLM cache counters, scraped by the CloudWatch agent) and one dashboard: inside the CloudWatch free
    tier (the app's FreeTierCheck says so at every synth).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str = STACK_NAME,
        *,
        alarm_emails: Sequence[str] = (),
        vpc_id: str | None = None,
        existing_instance: ExistingInstance | None = None,
        host_role_name: str = SEED_ROLE_NAME,
        host_move: HostMove | None = None,
        without_custom_resources: bool = False,
        **kwargs: Any,
    ) -> None:
        """Compose the stack.

        Args:
            scope: the app.
            construct_id: the stack's id and name.
            alarm_emails: addresses subscribed to the alarm topic.
            vpc_id: an existing VPC to look up instead of creating one (not with ``existing_instance``).
            existing_instance: observe this running instance (and its role) instead of creating a host: the
                keep-the-instance path of docs/migration.md. The log groups and alarms have the same logical ids
                either way.
            host_role_name: the name of the role of the host the stack creates. Default the seed's
                ``ai-tutor-staging-ec2-role``; another name when a role of that name still serves an instance
                outside the stack, so that nothing has to be deleted before the stack creates its own.
            host_move: the bucket a database dump travels through while the app moves to a new host, and the
                role of the host it comes from (docs/migration.md, "Move to a new host"). Default: none.
            without_custom_resources: leave out the VPC's Lambda-backed custom resource that empties the default
                security group, for the LocalStack rehearsal (LocalStack cannot run Lambda here; tests/rehearsal.py).
            kwargs: passed to ``Stack`` (env, description, termination_protection, ...).
        """
        if existing_instance is not None and vpc_id:
            raise ValueError(
                f"vpc_id={vpc_id!r} chooses the VPC of a host the stack creates; with existing_instance="
                f"{existing_instance.instance_id!r} the stack creates none: drop one of them"
            )
        # Stack termination protection is off unless asked for (app.py: -c termination_protection=true): the CDK
        # CLI switches it on before it executes the first create's change set (aws-cdk
        # FullCloudFormationDeployment.changeSetDeployment), and cannot delete the ROLLBACK_COMPLETE stack a failed
        # first create leaves while it is on, so the retry fails (aws-samples/aws-secure-environment-accelerator#253).
        # Turn it on once the stack exists; the host protects itself after every deploy (ObservedEc2Host).
        kwargs.setdefault("termination_protection", False)
        kwargs.setdefault(
            "description",
            "ai-tutor staging: EC2 Docker host, container logs, alarms, saved queries and a dashboard",
        )
        super().__init__(scope, construct_id, **kwargs)

        self.logs = ContainerLogGroups(
            self,
            "Logs",
            prefix="/ai-tutor",
            containers=["backend", "frontend", "nginx"],
            retention=LOG_RETENTION,
        )
        bucket = (
            s3.Bucket.from_bucket_name(self, "MoveBucket", host_move.bucket_name)
            if host_move is not None
            else None
        )
        self.host: ObservedEc2Host | HostObservability
        if existing_instance is not None:
            # The instance, its profile and role stay where they are (Terraform); the stack adds its setup and one
            # policy of its own to the role. The role's SSM permissions come from where the role is managed.
            self.host = HostObservability(
                self,
                "Host",
                instance=existing_instance.instance_id,
                role=iam.Role.from_role_name(self, "InstanceRole", existing_instance.role_name),
                log_groups=self.logs,
                metrics_namespace="AiTutor/Staging",
                prometheus_scrapes=[BACKEND_METRICS],
                transfer_bucket=bucket,
            )
        else:
            self.host = ObservedEc2Host(
                self,
                "Host",
                vpc=self._vpc(vpc_id, without_custom_resources),
                log_groups=self.logs,
                role_name=host_role_name,
                instance_name="ai-tutor-staging",
                metrics_namespace="AiTutor/Staging",
                prometheus_scrapes=[BACKEND_METRICS],
                data_volume=DATA_VOLUME,
                transfer_bucket=bucket,
            )
        if bucket is not None and host_move is not None and host_move.from_role_name:
            # The old host puts its dump into the bucket: its role may put objects there, and nothing else.
            previous = iam.Role.from_role_name(self, "MoveFromRole", host_move.from_role_name)
            bucket.grant_put(previous)
            acknowledge(previous, MOVE_FROM_ROLE, objects=nag_label(self, bucket.arn_for_objects("*")))
        views = app_views(
            self,
            self.host,
            name_prefix="ai-tutor-staging",
            alarm_emails=alarm_emails,
            alarm_runbook={"cpu-high": RUNBOOK["cpu-high"]},
        )
        self.llm_cache, self.alarms, self.log_alarms = views.llm_cache, views.alarms, views.log_alarms
        self.queries, self.dashboard = views.queries, views.dashboard
        _keep_logical_ids(self.log_alarms)

        CfnOutput(self, "InstanceId", value=self.host.instance_id, description="The EC2 host")
        CfnOutput(self, "InstanceRoleName", value=self.host.role.role_name, description="The host's IAM role")
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn, description="Alarm notifications")
        CfnOutput(
            self,
            "DashboardName",
            value=self.dashboard.dashboard.dashboard_name,
            description="CloudWatch dashboard: host metrics, log-pattern counts and every alarm's state",
        )
        CfnOutput(
            self,
            "ComposeLogging",
            value=self.to_json_string(
                self.logs.compose_override(loopback_ports=self.host.prometheus.loopback_ports)
            ),
            description="docker-compose override that sends each container's output to its log group and "
            "publishes the backend's metrics port 9898 on 127.0.0.1 only: the host's CloudWatch agent scrapes it, "
            "nothing outside the host can reach it",
        )

    def _vpc(self, vpc_id: str | None, without_custom_resources: bool) -> ec2.IVpc:
        """The VPC the stack's host launches in: ``vpc_id`` looked up, or a new public-only one."""
        if vpc_id:
            return ec2.Vpc.from_lookup(self, "Vpc", vpc_id=vpc_id)
        # Public subnets only, no NAT gateway: the host needs no private network and NAT costs money.
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            restrict_default_security_group=False if without_custom_resources else None,
        )
        acknowledge(vpc, NO_FLOW_LOGS)
        for subnet in vpc.public_subnets:
            acknowledge(subnet, PUBLIC_SUBNETS)
        provider = self.node.try_find_child(RESTRICT_DEFAULT_SG_PROVIDER)
        if provider is not None:  # only with the feature flag on
            acknowledge(provider.node.find_child("Handler"), RESTRICT_DEFAULT_SG_DEPENDS_ON)
        return vpc
