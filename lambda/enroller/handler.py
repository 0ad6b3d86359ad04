"""Enrols VPCs that CDK did not create: creates vpcwatch's flow log for every VPC of the
account and region that lacks one (vpcwatch.VpcEnrollment deploys this function).

Triggered by EventBridge: a ``CreateVpc`` API call (CloudTrail) enrols that VPC at
once; a schedule sweeps every VPC. Idempotent: a VPC that already has a flow log to
vpcwatch's log group is left alone. It only ever creates flow logs, tagged as its own;
it never modifies or deletes one, so flow logs made by people or other tools are never
touched (a VPC may then have both).

Configuration, from the environment (set by the construct):
    VPCWATCH_LOG_GROUP     the flow-log group's name
    VPCWATCH_ROLE_ARN      the delivery role flow logs assume to write to it
    VPCWATCH_LOG_FORMAT    the flow-log format (``${version} ${account-id} ...``)
    VPCWATCH_TRAFFIC_TYPE  ALL, ACCEPT or REJECT
    VPCWATCH_AGGREGATION   max aggregation interval, 60 or 600 seconds
    VPCWATCH_TAG           ``key=value`` tagged on the flow logs it creates

Standard library and boto3 only.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

CREATE_BATCH = 25
"""VPCs per CreateFlowLogs call."""


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Enrol the VPC of a ``CreateVpc`` event, or sweep every VPC (any other event)."""
    settings = Settings.from_environment(os.environ)
    ec2 = boto3.client("ec2")
    created_vpc = _created_vpc(event)
    vpc_ids = [created_vpc] if created_vpc else list(_all_vpcs(ec2))
    result = enrol(ec2, vpc_ids, settings)
    print(json.dumps({"vpcwatch": "enrolment", "trigger": "CreateVpc" if created_vpc
                      else "sweep", **result}))  # fmt: skip
    return result


class Settings:
    """What a created flow log looks like."""

    def __init__(self, log_group: str, role_arn: str, log_format: str, traffic_type: str,
                 aggregation: int, tag: tuple[str, str]) -> None:  # fmt: skip
        self.log_group, self.role_arn, self.log_format = log_group, role_arn, log_format
        self.traffic_type, self.aggregation, self.tag = traffic_type, aggregation, tag

    @classmethod
    def from_environment(cls, environment: Any) -> Settings:
        required = ("VPCWATCH_LOG_GROUP", "VPCWATCH_ROLE_ARN", "VPCWATCH_LOG_FORMAT")
        missing = [name for name in required if not environment.get(name)]
        if missing:
            raise ValueError(f"the enroller's environment lacks {', '.join(missing)}")
        key, _, value = environment.get("VPCWATCH_TAG", "vpcwatch:enrolled=true").partition("=")
        return cls(
            environment["VPCWATCH_LOG_GROUP"],
            environment["VPCWATCH_ROLE_ARN"],
            environment["VPCWATCH_LOG_FORMAT"],
            environment.get("VPCWATCH_TRAFFIC_TYPE", "ALL"),
            int(environment.get("VPCWATCH_AGGREGATION", "60")),
            (key, value),
        )


def enrol(ec2: Any, vpc_ids: list[str], settings: Settings) -> dict[str, Any]:
    """Create vpcwatch's flow log for each of ``vpc_ids`` that lacks one.

    Returns counts and ids: ``enrolled`` (created now), ``already`` (had one),
    ``failed`` (CreateFlowLogs refused them, with the reason).
    """
    covered = _covered(ec2, vpc_ids, settings.log_group)
    lacking = [vpc for vpc in vpc_ids if vpc not in covered]
    enrolled: list[str] = []
    failed: dict[str, str] = {}
    for start in range(0, len(lacking), CREATE_BATCH):
        batch = lacking[start : start + CREATE_BATCH]
        response = ec2.create_flow_logs(
            ResourceIds=batch,
            ResourceType="VPC",
            TrafficType=settings.traffic_type,
            LogDestinationType="cloud-watch-logs",
            LogGroupName=settings.log_group,
            DeliverLogsPermissionArn=settings.role_arn,
            LogFormat=settings.log_format,
            MaxAggregationInterval=settings.aggregation,
            TagSpecifications=[{
                "ResourceType": "vpc-flow-log",
                "Tags": [{"Key": settings.tag[0], "Value": settings.tag[1]}],
            }],
        )  # fmt: skip
        refused = {
            item.get("ResourceId", "?"): item.get("Error", {}).get("Message", "refused")
            for item in response.get("Unsuccessful", [])
        }
        failed.update(refused)
        enrolled += [vpc for vpc in batch if vpc not in refused]
    return {
        "enrolled": sorted(enrolled),
        "already": sorted(covered & set(vpc_ids)),
        "failed": failed,
        "counts": {"enrolled": len(enrolled), "already": len(covered & set(vpc_ids)),
                   "failed": len(failed)},
    }  # fmt: skip


def _covered(ec2: Any, vpc_ids: list[str], log_group: str) -> set[str]:
    """The VPCs among ``vpc_ids`` that already deliver to ``log_group``."""
    covered: set[str] = set()
    for start in range(0, len(vpc_ids), 200):
        chunk = vpc_ids[start : start + 200]
        pages = ec2.get_paginator("describe_flow_logs").paginate(
            Filters=[{"Name": "resource-id", "Values": chunk}]
        )
        for page in pages:
            for flow_log in page.get("FlowLogs", []):
                if flow_log.get("LogGroupName") == log_group:
                    covered.add(flow_log.get("ResourceId"))
    return covered


def _all_vpcs(ec2: Any):
    for page in ec2.get_paginator("describe_vpcs").paginate():
        for vpc in page.get("Vpcs", []):
            yield vpc["VpcId"]


def _created_vpc(event: dict[str, Any]) -> str | None:
    """The new VPC's id in a CloudTrail ``CreateVpc`` event delivered by EventBridge."""
    detail = event.get("detail") if isinstance(event, dict) else None
    if not isinstance(detail, dict) or detail.get("eventName") != "CreateVpc":
        return None
    vpc = (detail.get("responseElements") or {}).get("vpc") or {}
    return vpc.get("vpcId")
