"""Whether a region exists, from botocore's own endpoint data (no network): a mistyped ``--region`` is named as
such instead of failing later as an unreachable endpoint."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import botocore
from botocore.exceptions import BotoCoreError

if TYPE_CHECKING:
    import boto3


class UnknownRegionError(BotoCoreError):
    """The region is in none of the partitions botocore knows (``aws``, ``aws-cn``, ``aws-us-gov``, ...)."""

    fmt = "{message}"


def known_regions(session: boto3.Session) -> set[str]:
    """Every region of every partition where botocore's endpoint data lists CloudFormation (the doctor's first
    call, and a service of every region)."""
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudformation", partition_name=partition))
    return regions


def require_known_region(session: boto3.Session, region: str) -> None:
    """``UnknownRegionError`` (a ``BotoCoreError``: the doctor cannot run) when ``region`` is no known region.

    A region newer than the installed botocore is unknown to it too: the message says to upgrade boto3 then.
    """
    known = known_regions(session)
    if region in known:
        return
    close = difflib.get_close_matches(region, sorted(known), n=1, cutoff=0.8)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UnknownRegionError(
        message=f"unknown AWS region {region!r}{hint}: no partition botocore {botocore.__version__} knows has it; "
        "check --region (or NAME@REGION), or upgrade boto3 if the region is new"
    )
