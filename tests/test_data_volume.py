"""The host's data volume: no volume holding the app's data is deleted by an instance replacement or a stack
deletion (constructs_obs/host/data_volume.py says why, with CloudFormation's and EC2's sources)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import RemovalPolicy, assertions
from aws_cdk import aws_ec2 as ec2

from constructs_obs import ContainerLogGroups, DataVolume, ObservedEc2Host
from tests.conftest import logical_id


def _refs(value: Any) -> set[str]:
    """Logical ids a property value refers to (Ref and Fn::GetAtt)."""
    refs: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if "Ref" in v:
                refs.add(v["Ref"])
            if "Fn::GetAtt" in v:
                refs.add(v["Fn::GetAtt"][0])
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return refs


def test_no_volume_holding_app_data_is_deleted_by_a_replacement_or_a_deletion(
    staging: assertions.Template,
) -> None:
    instance = logical_id(staging, "AWS::EC2::Instance")
    resources = staging.to_json()["Resources"]
    # The root volume goes with the instance; it holds no app data, Docker's data root is on the data volume.
    root = resources[instance]["Properties"]["BlockDeviceMappings"]
    assert [(m["DeviceName"], m["Ebs"]["DeleteOnTermination"]) for m in root] == [("/dev/xvda", True)]
    [volume] = staging.find_resources("AWS::EC2::Volume").items()
    volume_id, body = volume
    # Kept on stack deletion and on its own replacement; removed only by the rollback of the deploy creating it.
    assert (body["DeletionPolicy"], body["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")
    assert body["Properties"]["Encrypted"] is True and body["Properties"]["VolumeType"] == "gp3"
    # Its properties never name the instance, so replacing the instance never replaces it: its zone is the one
    # the instance's subnet is in, as the instance's own AvailabilityZone property says.
    assert instance not in _refs(body["Properties"])
    assert body["Properties"]["AvailabilityZone"] == resources[instance]["Properties"]["AvailabilityZone"]
    # The attachment names both: a replacement of the instance needs a new attachment, which EC2 refuses while the
    # old instance holds the volume (VolumeInUse), so the update rolls back with the data on the running host. Its
    # own deletion does not detach the volume from a running host.
    [attachment] = staging.find_resources("AWS::EC2::VolumeAttachment").values()
    assert attachment["Properties"]["InstanceId"] == {"Ref": instance}
    assert attachment["Properties"]["VolumeId"] == {"Ref": volume_id}
    assert (attachment["DeletionPolicy"], attachment["UpdateReplacePolicy"]) == (
        "RetainExceptOnCreate",
        "Retain",
    )


def test_the_setup_mounts_the_volume_first_once_it_is_attached(staging: assertions.Template) -> None:
    [association] = [
        r
        for r in staging.find_resources("AWS::SSM::Association").values()
        if "commands" in r["Properties"].get("Parameters", {})
        and "data volume" in json.dumps(r["Properties"]["Parameters"]["commands"])
    ]
    commands = association["Properties"]["Parameters"]["commands"]
    assert commands[:2] == ["set -eu", "echo '== constructs-obs setup: data volume'"]
    assert logical_id(staging, "AWS::EC2::VolumeAttachment") in association["DependsOn"]
    text = json.dumps(commands)
    assert "mount_point=/var/lib/docker" in text
    # Never moves a running app's data: refuses while containers exist.
    assert "docker ps -aq" in text


def _host(**data_volume: Any) -> assertions.Template:
    stack = cdk.Stack(cdk.App(), "Shop", env=cdk.Environment(region="eu-west-1"))
    logs = ContainerLogGroups(stack, "Logs", prefix="/shop", containers=["api"])
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    ObservedEc2Host(stack, "Host", vpc=vpc, log_groups=logs, data_volume=DataVolume(**data_volume))
    return assertions.Template.from_stack(stack)


def test_a_snapshot_gives_a_new_host_the_data_and_removal_policy_is_the_callers() -> None:
    template = _host(
        snapshot_id="snap-0123456789abcdef0",
        size_gib=50,
        mount_point="/srv/data",
        removal_policy=RemovalPolicy.SNAPSHOT,
    )
    [volume] = template.find_resources("AWS::EC2::Volume").values()
    assert volume["Properties"]["SnapshotId"] == "snap-0123456789abcdef0"
    assert volume["Properties"]["Size"] == 50
    assert (volume["DeletionPolicy"], volume["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size_gib": 0}, "data_volume.size_gib"),
        ({"mount_point": "var/lib/docker"}, "data_volume.mount_point must be an absolute path"),
        ({"mount_point": "/var"}, "not a system folder"),
        ({"snapshot_id": "vol-0123456789abcdef0"}, "data_volume.snapshot_id must be an EBS snapshot id"),
    ],
)
def test_bad_options_are_refused_naming_the_value(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _host(**options)
