"""Deploy a synthesized stack into moto the way ``cdk deploy`` does, then create what moto's CloudFormation skips.

``cdk deploy`` publishes the stack's file assets to the bootstrap bucket, then creates the stack, whose
``BootstrapVersion`` parameter reads an SSM parameter of the bootstrap stack. moto's CloudFormation parses the
whole template but does not create some resource types (:data:`MOTO_CFN_SKIPS`): the stack still completes.
:func:`create_skipped_resources` creates those through their own APIs from the template's properties, as
CloudFormation would. A Lambda-backed custom resource gets its Lambda invoked, which moto cannot run without
Docker, so the stack waits in CREATE_IN_PROGRESS until :func:`answer_custom_resources` sends the response the
handler would have sent (what the handler does, e.g. removing the default security group's rules, is not done).
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import weakref
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import requests
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.cloudformation.models import cloudformation_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends

from constructs_obs.doctor import DoctorOptions, Report, run_doctor
from tests.cfn import Intrinsics
from tests.doctor.moto_gaps import GAPS, MotoGaps

#: moto's default account id.
ACCOUNT = "123456789012"

#: The SSM parameter `cdk bootstrap` creates; the template's BootstrapVersion parameter reads it.
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"

#: Types moto's CloudFormation parses but does not create (a warning, and the stack still completes).
#: (AWS::CloudWatch::Alarm and AWS::SSM::Association are two more: :class:`AlarmThroughCloudFormation` below and
#: :class:`tests.doctor.moto_gaps.AssociationThroughCloudFormation` fill those gaps.)
MOTO_CFN_SKIPS = frozenset(
    {
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::Logs::MetricFilter",
        "AWS::Logs::QueryDefinition",
    }
)

#: Types moto creates without a physical id (its model has none): moto 5's EC2 ``VolumeAttachment`` (the attachment
#: is made: the volume shows it). CloudFormation gives every resource one.
MOTO_NO_PHYSICAL_ID = frozenset({"AWS::EC2::VolumeAttachment"})

CUSTOM_RESOURCE = re.compile(r"^(Custom::.+|AWS::CloudFormation::CustomResource)$")


_CLIENTS: weakref.WeakKeyDictionary[boto3.Session, dict[str, Any]] = weakref.WeakKeyDictionary()


def client(session: boto3.Session, service: str) -> Any:
    """One client per session and service (creating a botocore client costs about 50 ms)."""
    clients = _CLIENTS.setdefault(session, {})
    if service not in clients:
        clients[service] = session.client(service)  # type: ignore[call-overload]
    return clients[service]


class AlarmThroughCloudFormation(CloudFormationModel):
    """``AWS::CloudWatch::Alarm`` for moto's CloudFormation, which skips alarms.

    CloudFormation creates an alarm with ``PutMetricAlarm`` from the resource's properties, and its ``Arn``
    attribute is what other resources (the dashboard's alarm widgets) reference with ``Fn::GetAtt``. moto has no
    such model, so a template that references an alarm's ARN fails there; this one calls moto's own
    ``PutMetricAlarm`` (its CloudWatch backend) the same way. Registered once, when this module is imported.

    A new alarm starts in INSUFFICIENT_DATA ("When this operation creates an alarm, the alarm state is immediately
    set to INSUFFICIENT_DATA", Amazon CloudWatch API Reference, PutMetricAlarm); moto starts it in OK, so the state
    is set here as AWS sets it.
    """

    def __init__(self, name: str, arn: str) -> None:
        self.name = name
        self.arn = arn

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "AlarmName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> AlarmThroughCloudFormation:
        props = cloudformation_json["Properties"]
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=props.get("AlarmName", resource_name),
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props["ComparisonOperator"],
            evaluation_periods=int(props["EvaluationPeriods"]),
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            period=props.get("Period"),
            threshold=float(props["Threshold"]),
            statistic=props.get("Statistic"),
            extended_statistic=props.get("ExtendedStatistic"),
            description=props.get("AlarmDescription"),
            dimensions=props.get("Dimensions", []),
            alarm_actions=props.get("AlarmActions", []),
            ok_actions=props.get("OKActions", []),
            insufficient_data_actions=props.get("InsufficientDataActions", []),
            unit=props.get("Unit"),
            actions_enabled=props.get("ActionsEnabled", True),
            treat_missing_data=props.get("TreatMissingData"),
        )
        alarm.state_value, alarm.state_reason = "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation"
        return cls(alarm.name, alarm.alarm_arn)

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Arn":
            return self.arn
        raise UnformattedGetAttTemplateException()


for _cached in (cfn_parsing.get_model_list, cfn_parsing.get_model_map, cfn_parsing.get_name_type_map):
    _cached.cache_clear()  # moto caches its model list; let it see the class above


def substitute_placeholders(text: str, region: str) -> str:
    """Replace the asset manifest's ``${AWS::...}`` placeholders."""
    return (
        text.replace("${AWS::AccountId}", ACCOUNT)
        .replace("${AWS::Partition}", "aws")
        .replace("${AWS::Region}", region)
    )


def publish_assets(session: boto3.Session, assembly_dir: Path, stack_name: str) -> list[str]:
    """Upload the stack's file assets to their bootstrap-bucket destinations; return the ``s3://`` URLs."""
    manifest = json.loads((assembly_dir / f"{stack_name}.assets.json").read_text())
    published = []
    for asset in manifest.get("files", {}).values():
        source = assembly_dir / asset["source"]["path"]
        if asset["source"].get("packaging") == "zip":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for path in sorted(source.rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(source))
            body = buffer.getvalue()
        else:
            body = source.read_bytes()
        for destination in asset["destinations"].values():
            region = destination.get("region", session.region_name)
            bucket = substitute_placeholders(destination["bucketName"], region)
            s3 = session.client("s3", region_name=region)
            if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
                config = (
                    {}
                    if region == "us-east-1"
                    else {"CreateBucketConfiguration": {"LocationConstraint": region}}
                )
                s3.create_bucket(Bucket=bucket, **config)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            published.append(f"s3://{bucket}/{destination['objectKey']}")
    return published


def create_stack(session: boto3.Session, stack_name: str, template: Mapping[str, Any]) -> str:
    """Create the stack as ``cdk deploy`` does after publishing assets; return its id."""
    ssm = client(session, "ssm")
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String", Overwrite=True)
    response = client(session, "cloudformation").create_stack(
        StackName=stack_name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack_id: str = response["StackId"]
    return stack_id


def listed_resources(session: boto3.Session, stack_name: str) -> dict[str, str]:
    """Logical id -> physical id of every resource the stack lists (moto lists skipped ones without an id)."""
    cfn = client(session, "cloudformation")
    return {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }


def answer_custom_resources(session: boto3.Session, stack_id: str, template: Mapping[str, Any]) -> list[str]:
    """Send SUCCESS for every custom resource, as its handler would after doing its work; return their ids."""
    region = session.region_name
    answered = []
    for logical_id, resource in template["Resources"].items():
        if CUSTOM_RESOURCE.match(resource["Type"]):
            response = requests.put(
                f"https://cloudformation.{region}.amazonaws.com/cloudformation_{region}/cfnresponse",
                params={"stack": stack_id},
                json={
                    "Status": "SUCCESS",
                    "StackId": stack_id,
                    "LogicalResourceId": logical_id,
                    "RequestId": "answered-by-the-test",
                    "PhysicalResourceId": logical_id,
                    "Data": {},
                },
                timeout=10,
            )
            response.raise_for_status()
            answered.append(logical_id)
    return answered


@dataclass
class Resolver(Intrinsics):
    """Resolves the intrinsic functions CDK templates use, against the deployed stack's physical ids."""

    stack_name: str
    region: str
    physical: dict[str, str]
    types: dict[str, str]

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        value = self.pseudo(name)
        if value is not None:
            return value
        return self.physical[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind, physical = self.types[logical_id], self.physical[logical_id]
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return f"arn:aws:logs:{self.region}:{ACCOUNT}:log-group:{physical}:*"
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        if kind == "AWS::Events::Rule" and attribute == "Arn":  # the recovery rule, on the default bus
            return f"arn:aws:events:{self.region}:{ACCOUNT}:rule/{physical}"
        raise NotImplementedError(f"Fn::GetAtt {logical_id}.{attribute} ({kind})")

    __call__ = Intrinsics.resolve


def _subscription(session: boto3.Session, stack_name: str, logical_id: str, props: dict[str, Any]) -> str:
    arn: str = client(session, "sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return arn


def _topic_policy(session: boto3.Session, stack_name: str, logical_id: str, props: dict[str, Any]) -> str:
    for topic in props["Topics"]:
        client(session, "sns").set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
        )
    return logical_id


def _metric_filter(session: boto3.Session, stack_name: str, logical_id: str, props: dict[str, Any]) -> str:
    name = props.get("FilterName", f"{stack_name}-{logical_id}")
    keys = {
        "MetricName": "metricName",
        "MetricNamespace": "metricNamespace",
        "MetricValue": "metricValue",
        "DefaultValue": "defaultValue",
        "Unit": "unit",
    }
    transformations = []
    for t in props["MetricTransformations"]:
        item: dict[str, Any] = {keys[k]: v for k, v in t.items() if k in keys}
        if "DefaultValue" in t:
            item["defaultValue"] = float(t["DefaultValue"])
        if "Dimensions" in t:
            item["dimensions"] = {d["Key"]: d["Value"] for d in t["Dimensions"]}
        transformations.append(item)
    client(session, "logs").put_metric_filter(
        logGroupName=props["LogGroupName"],
        filterName=name,
        filterPattern=props["FilterPattern"],
        metricTransformations=transformations,
    )
    return str(name)


#: Skipped types the harness leaves uncreated: moto implements no Logs Insights query-definition API
#: (PutQueryDefinition), and obs-doctor does not check saved queries.
NOT_EMULATED = frozenset({"AWS::Logs::QueryDefinition"})

CREATORS: dict[str, Callable[[boto3.Session, str, str, dict[str, Any]], str]] = {
    "AWS::Logs::MetricFilter": _metric_filter,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::SNS::Subscription": _subscription,
}


def create_skipped_resources(
    session: boto3.Session, stack_name: str, template: Mapping[str, Any]
) -> dict[str, str]:
    """Create, through their APIs, the resources moto's CloudFormation skipped; return logical id -> physical id."""
    physical = listed_resources(session, stack_name)
    types = {logical_id: r["Type"] for logical_id, r in template["Resources"].items()}
    resolve = Resolver(stack_name, session.region_name or "", physical, types)
    created = {}
    skipped = [lid for lid in template["Resources"] if lid not in physical]
    # CREATORS is in dependency order (topic policies and subscriptions need the topic, which exists).
    for kind, create in CREATORS.items():
        for logical_id in skipped:
            if types[logical_id] == kind:
                props = resolve(template["Resources"][logical_id].get("Properties", {}))
                created[logical_id] = physical[logical_id] = create(session, stack_name, logical_id, props)
    unknown = sorted(
        {types[lid] for lid in skipped if types[lid] not in CREATORS and types[lid] not in NOT_EMULATED}
    )
    if unknown:
        raise NotImplementedError(f"moto skipped {unknown}; teach tests/doctor/deployment.py to create them")
    return created


#: An access-log line in the official nginx image's ``main`` format (what the nginx-5xx filter reads).
NGINX_MAIN_LINE = (
    '172.18.0.1 - - [27/Nov/2026:10:15:32 +0000] "GET /api/v1/lessons HTTP/1.1" 200 1532 "-" '
    '"Mozilla/5.0 (X11; Linux x86_64)" "-"'
)

#: The line the docker-events service writes when it starts (constructs_obs.host.docker_events).
START_LINE = '{"Type":"docker-events","Action":"start","time":%d}'

#: The agent's metrics.
AGENT_METRICS = ("mem_used_percent", "disk_used_percent")

#: What a healthy deployment's backend has served in the last scrapes: the LLM cache counters' increases (a
#: counter's increase in one period is what CloudWatch's Sum of it says). Other Prometheus metrics: 1 each.
CACHE_TRAFFIC = {"llm_cache_hits_total": 12.0, "llm_cache_misses_total": 4.0}


@dataclass(frozen=True)
class HostInfo:
    """A host of the deployed stack, from its setup association's ``ConstructsObs::Host`` metadata, resolved."""

    path: str
    instance_id: str
    namespace: str
    role_name: str
    container_groups: dict[str, str]
    docker_events_group: str
    prometheus: dict[str, Any] | None = None
    #: A fleet's group (its instance_id is then one of the group's instances, or "" for the fleet itself).
    auto_scaling_group: str = ""

    def prometheus_job(self, name: str | None = None) -> dict[str, Any]:
        """The metadata of one scrape job (the only one, without ``name``)."""
        assert self.prometheus is not None, f"{self.path} scrapes no Prometheus endpoint"
        jobs = [j for j in self.prometheus["Jobs"] if name is None or j["JobName"] == name]
        assert len(jobs) == 1, jobs
        job: dict[str, Any] = jobs[0]
        return job


@dataclass
class Deployment:
    """A stack deployed into moto, with handles to break it the way scenarios need."""

    session: boto3.Session
    stack_name: str
    stack_id: str
    template: dict[str, Any]
    deployed_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    gaps: MotoGaps = field(default_factory=lambda: GAPS)
    age: timedelta = timedelta(0)

    @property
    def launched_at(self) -> datetime:
        """When the stack was created and its instances launched (``age`` before it was deployed here)."""
        return self.deployed_at - self.age

    @property
    def region(self) -> str:
        return self.session.region_name or ""

    def with_session(self, session: boto3.Session) -> Deployment:
        """The same deployment seen through another session (its own event handlers)."""
        return dataclasses.replace(self, session=session)

    def client(self, service: str) -> Any:
        return client(self.session, service)

    def output(self, key: str) -> str:
        stack = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        return next(o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == key)

    def resolver(self) -> Resolver:
        physical = listed_resources(self.session, self.stack_name)
        types = {logical_id: r["Type"] for logical_id, r in self.template["Resources"].items()}
        return Resolver(self.stack_name, self.region, physical, types)

    def hosts(self) -> list[HostInfo]:
        """The stack's hosts (its setup associations' metadata, resolved against the deployment)."""
        resolve = self.resolver()
        found = []
        for resource in self.template["Resources"].values():
            meta = resource.get("Metadata", {}).get("ConstructsObs::Host")
            if resource["Type"] == "AWS::SSM::Association" and meta:
                found.append(
                    HostInfo(
                        path=meta["HostPath"],
                        instance_id=resolve(meta["InstanceId"]) if "InstanceId" in meta else "",
                        auto_scaling_group=resolve(meta["AutoScalingGroupName"])
                        if "AutoScalingGroupName" in meta
                        else "",
                        namespace=resolve(meta["MetricsNamespace"]),
                        role_name=resolve(meta["RoleName"])
                        if meta.get("RoleName")
                        else resolve({"Ref": meta["RoleLogicalId"]}),
                        container_groups=resolve(meta["ContainerLogGroups"]),
                        docker_events_group=resolve(meta["DockerEventsLogGroup"]),
                        prometheus=resolve(meta["Prometheus"]) if "Prometheus" in meta else None,
                    )
                )
        return found

    def group_instances(self, group: str) -> list[str]:
        """The instances of an Auto Scaling group, as moto's Auto Scaling lists them."""
        [found] = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ]
        return [str(i["InstanceId"]) for i in found["Instances"]]

    def instance_hosts(self) -> list[HostInfo]:
        """The stack's hosts, a fleet as one per instance of its group."""
        found = []
        for host in self.hosts():
            if host.auto_scaling_group:
                found += [
                    dataclasses.replace(host, instance_id=i)
                    for i in self.group_instances(host.auto_scaling_group)
                ]
            else:
                found.append(host)
        return found

    @property
    def instance_id(self) -> str:
        return self.output("InstanceId")

    @property
    def topic_arn(self) -> str:
        return self.output("AlarmTopicArn")

    def alarm_topics(self) -> list[str]:
        """The SNS topics the template's alarms notify (the stack's own or imported ones)."""
        resolve = self.resolver()
        topics: list[str] = []
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::CloudWatch::Alarm":
                for arn in resolve(resource["Properties"].get("AlarmActions", [])):
                    if ":sns:" in arn and arn not in topics:
                        topics.append(arn)
        return topics

    def names(self, resource_type: str, name_property: str) -> list[str]:
        """The literal names the template gives resources of ``resource_type``."""
        return [
            r["Properties"][name_property]
            for r in self.template["Resources"].values()
            if r["Type"] == resource_type and isinstance(r.get("Properties", {}).get(name_property), str)
        ]

    @property
    def log_groups(self) -> list[str]:
        return self.names("AWS::Logs::LogGroup", "LogGroupName")

    @property
    def alarm_names(self) -> list[str]:
        return self.names("AWS::CloudWatch::Alarm", "AlarmName")

    def filter_patterns(self) -> dict[str, list[str]]:
        """Log group name -> the patterns of the template's metric filters on it."""
        resolve = self.resolver()
        patterns: dict[str, list[str]] = {}
        for resource in self.template["Resources"].values():
            if resource["Type"] == "AWS::Logs::MetricFilter":
                props = resource["Properties"]
                patterns.setdefault(resolve(props["LogGroupName"]), []).append(props["FilterPattern"])
        return patterns

    def put_log_event(
        self,
        group: str,
        message: str = "GET /health 200",
        at: datetime | None = None,
        stream: str = "obs-test/container",
    ) -> None:
        """Ship one event to ``group`` as a container's awslogs driver (or the host's agent) would."""
        logs = self.client("logs")
        existing = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]
        if not any(s["logStreamName"] == stream for s in existing):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        moment = at or datetime.now(timezone.utc)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int(moment.timestamp() * 1000), "message": message}],
        )

    def put_start_line(self, host: HostInfo, at: datetime | None = None) -> None:
        """The docker-events service's start line, shipped by the agent to the host's stream."""
        moment = at or datetime.now(timezone.utc)
        self.put_log_event(
            host.docker_events_group, START_LINE % int(moment.timestamp()), moment, stream=host.instance_id
        )

    def put_agent_metrics(
        self, host: HostInfo, at: datetime | None = None, metrics: Sequence[str] = AGENT_METRICS
    ) -> None:
        """One datapoint of each agent metric, as the CloudWatch agent publishes them (a fleet's instance: in the
        fleet's series, dimension AutoScalingGroupName only, as its agent configuration rolls them up)."""
        moment = at or datetime.now(timezone.utc) - timedelta(minutes=1)
        dimension = (
            {"Name": "AutoScalingGroupName", "Value": host.auto_scaling_group}
            if host.auto_scaling_group
            else {"Name": "InstanceId", "Value": host.instance_id}
        )
        self.client("cloudwatch").put_metric_data(
            Namespace=host.namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [dimension],
                    "Value": 42.0,
                    "Unit": "Percent",
                    "Timestamp": moment,
                }
                for metric in metrics
            ],
        )

    def put_prometheus_event(
        self,
        host: HostInfo,
        values: Mapping[str, float] | None = None,
        at: datetime | None = None,
        *,
        job: str | None = None,
        label_values: Mapping[str, str] | None = None,
    ) -> None:
        """One EMF event of a scrape, as the host's CloudWatch agent writes it (one label set: the increases of
        ``values`` since the previous scrape) to the job's stream of the host's Prometheus group. moto stores it
        and does not extract metrics from it (AWS would): :meth:`put_prometheus_metrics` publishes those."""
        from aws_cdk import Duration

        from constructs_obs.host.prometheus.scrape import PrometheusScrape
        from constructs_obs.testing.emf import emf_event

        assert host.prometheus is not None
        meta = host.prometheus_job(job)
        url = urlsplit(meta["Url"])
        dimensions = tuple(meta["Dimensions"])
        scrape = PrometheusScrape(
            job_name=meta["JobName"],
            port=url.port or 80,
            path=url.path,
            address=url.hostname or "127.0.0.1",
            metrics=tuple(meta["Metrics"]),
            labels=tuple(sorted({*dimensions, "content_item_id"} - {"job", "instance"})),
            dimensions=dimensions,
            interval=Duration.seconds(meta["IntervalSeconds"]),
        )
        moment = at or datetime.now(timezone.utc) - timedelta(minutes=1)
        message = emf_event(
            scrape,
            namespace=host.namespace,
            label_values={"content_item_id": "lesson-1", **(label_values or {})},
            values=values if values is not None else self.traffic(meta),
            host="ip-10-0-0-10.us-east-2.compute.internal",
            timestamp_ms=int(moment.timestamp() * 1000),
        )
        self.put_log_event(host.prometheus["LogGroup"], message, moment, stream=meta["JobName"])

    def put_prometheus_metrics(
        self,
        host: HostInfo,
        values: Mapping[str, float] | None = None,
        at: datetime | None = None,
        *,
        job: str | None = None,
        dimensions: Mapping[str, str] | None = None,
        namespace: str | None = None,
    ) -> None:
        """The datapoints CloudWatch extracts from a scrape's EMF events: one per metric, in the host's namespace
        (or ``namespace``), with ``dimensions`` (the job's; none by default)."""
        meta = host.prometheus_job(job)
        moment = at or datetime.now(timezone.utc) - timedelta(minutes=1)
        self.client("cloudwatch").put_metric_data(
            Namespace=namespace or host.namespace,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()],
                    "Value": value,
                    "Unit": "Count",
                    "Timestamp": moment,
                }
                for metric, value in (values if values is not None else self.traffic(meta)).items()
            ],
        )

    @staticmethod
    def traffic(job: Mapping[str, Any]) -> dict[str, float]:
        """A scrape's increases on a backend that serves requests: :data:`CACHE_TRAFFIC`, 1 for other metrics."""
        return {metric: CACHE_TRAFFIC.get(metric, 1.0) for metric in job["Metrics"]}

    def describe_alarm(self, name: str) -> dict[str, Any]:
        alarm: dict[str, Any] = self.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][
            0
        ]
        return alarm

    def update_alarm(self, name: str, **changes: Any) -> None:
        """Change an alarm as someone in the console would (put_metric_alarm replaces it whole)."""
        alarm = self.describe_alarm(name)
        keys = (
            "AlarmName",
            "AlarmDescription",
            "ActionsEnabled",
            "OKActions",
            "AlarmActions",
            "InsufficientDataActions",
            "MetricName",
            "Namespace",
            "Statistic",
            "Dimensions",
            "Period",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
        )
        props = {k: alarm[k] for k in keys if k in alarm}
        props.update(changes)
        self.client("cloudwatch").put_metric_alarm(**props)

    def set_alarm_state(self, name: str, state: str, reason: str = "set by the test") -> None:
        self.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def doctor(
        self,
        *,
        now: datetime | None = None,
        sleep: Callable[[float], None] = lambda seconds: None,
        **options: Any,
    ) -> Report:
        """Run the doctor against this deployment."""
        return run_doctor(
            self.session,
            self.stack_name,
            options=DoctorOptions(**options),
            now=now or datetime.now(timezone.utc),
            sleep=sleep,
        )


#: How long ago a deployment was made, by default: longer than any window in which a check waits for its first
#: data (constructs_obs.doctor.windows; the setup's is its 15-minute timeout, first container logs the 60-minute
#: --recent-minutes), also for the tests that run the doctor hours before the data they publish (the shared
#: deployments of test_prometheus.py).
HEALTHY_AGE = timedelta(days=1)


def deploy(
    session: boto3.Session,
    assembly_dir: Path,
    stack_name: str,
    *,
    template: Mapping[str, Any] | None = None,
    substitutions: Mapping[str, str] | None = None,
    answer_custom: bool = True,
    create_skipped: bool = True,
    emails: Sequence[str] = ("ops@example.com",),
    healthy: bool = True,
    age: timedelta = HEALTHY_AGE,
) -> Deployment:
    """Deploy ``stack_name`` from the cloud assembly into moto and, by default, make it a healthy deployment.

    ``substitutions`` replace text in the template first (a placeholder id such as an existing VPC's or
    instance's, by the one moto created). Healthy means what a working host produces a few minutes after
    ``cdk deploy``: every alarm has evaluated to OK, every log group has just received an event of the format its
    metric filters read (an nginx access line where a space-delimited filter reads), each host's docker-events
    service has written its start line and its agent its two metrics, each Prometheus job's backend has served
    requests (an EMF event of the last scrape in the job's stream, and the metrics CloudWatch extracts from it,
    published here because moto does not extract EMF: :data:`CACHE_TRAFFIC`), and ``emails`` are confirmed
    subscribers of every alarm topic (moto confirms email subscriptions at once). Each host's setup association succeeded
    (:mod:`tests.doctor.moto_gaps`).

    ``age``: how long ago the stack was created, its instances launched, its setup ran and its alarms were
    created (:func:`age_deployment`): by default :data:`HEALTHY_AGE`, so that no check still waits for its first
    data and a missing datapoint fails; ``timedelta(0)`` for a deployment that has just finished.
    """
    body = dict(template or json.loads((assembly_dir / f"{stack_name}.template.json").read_text()))
    if substitutions:
        text = json.dumps(body)
        for old, new in substitutions.items():
            text = text.replace(old, new)
        body = json.loads(text)
    publish_assets(session, assembly_dir, stack_name)
    stack_id = create_stack(session, stack_name, body)
    if answer_custom:
        answer_custom_resources(session, stack_id, body)
    if create_skipped:
        create_skipped_resources(session, stack_name, body)
    deployment = Deployment(session, stack_name, stack_id, body, age=age)
    attach_launch_template_profiles(deployment)
    if age:
        age_deployment(deployment, age)
    if healthy:
        make_healthy(deployment, emails)
    return deployment


def attach_launch_template_profiles(deployment: Deployment) -> None:
    """Give each instance of the stack's Auto Scaling groups its launch template's instance profile, as EC2 does
    when it launches an instance from a template (Amazon EC2 API Reference, ``RequestLaunchTemplateData``:
    ``IamInstanceProfile``). moto 5.2's Auto Scaling launches them without it."""
    ec2, autoscaling = deployment.client("ec2"), deployment.client("autoscaling")
    for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
        template = group.get("LaunchTemplate")
        if not template:
            continue
        [version] = ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=[str(template.get("Version", "$Latest"))]
        )["LaunchTemplateVersions"]
        profile = version["LaunchTemplateData"].get("IamInstanceProfile")
        if not profile:
            continue
        attached = {
            a["InstanceId"]
            for a in ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
        }
        for instance in group["Instances"]:
            if instance["InstanceId"] not in attached:
                ec2.associate_iam_instance_profile(
                    InstanceId=instance["InstanceId"], IamInstanceProfile=profile
                )


def age_deployment(deployment: Deployment, age: timedelta) -> None:
    """Move the deployment ``age`` into the past, as if ``cdk deploy`` had finished then: the stack's creation
    time, the launch time of every instance it creates or observes, each setup association's run, and the state
    change of each of its alarms (moto keeps them as naive UTC datetimes; set here in its backends, which the
    doctor reads through the API as AWS would answer)."""
    region, account = deployment.region, ACCOUNT
    cloudformation_backends[account][region].stacks[deployment.stack_id].creation_time -= age
    ec2 = ec2_backends[account][region]
    for host in deployment.instance_hosts():
        ec2.get_instance(host.instance_id).launch_time -= age
        for run in GAPS.association_on(host.instance_id).runs.values():
            run.at -= age
    for name in deployment.alarm_names:
        cloudwatch_backends[account][region].alarms[name].state_updated_timestamp -= age


def make_healthy(deployment: Deployment, emails: Sequence[str] = ("ops@example.com",)) -> None:
    """What a working host produces a few minutes after deploy (see :func:`deploy`)."""
    for topic in deployment.alarm_topics():
        for email in emails:
            deployment.client("sns").subscribe(TopicArn=topic, Protocol="email", Endpoint=email)
    for name in deployment.alarm_names:
        deployment.set_alarm_state(name, "OK", "Threshold Crossed: no datapoint was breaching")
    hosts = deployment.hosts()
    events_groups = {h.docker_events_group for h in hosts}
    prometheus_groups = {h.prometheus["LogGroup"] for h in hosts if h.prometheus}
    patterns = deployment.filter_patterns()
    for group in deployment.log_groups:
        if group in events_groups or group in prometheus_groups:
            continue
        reads_fields = any(p.startswith("[") for p in patterns.get(group, []))
        deployment.put_log_event(group, NGINX_MAIN_LINE if reads_fields else "GET /health 200")
    for host in deployment.instance_hosts():
        deployment.put_start_line(host)
        deployment.put_agent_metrics(host)
    for host in hosts:
        for job in (host.prometheus or {}).get("Jobs", []):
            dimensions = dict.fromkeys(job["Dimensions"], "lesson-1")
            deployment.put_prometheus_event(host, job=job["JobName"])
            deployment.put_prometheus_metrics(host, job=job["JobName"], dimensions=dimensions)
