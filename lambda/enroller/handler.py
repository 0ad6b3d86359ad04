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
    VPCWATCH_ARCHIVE_ARN   optional: an S3 bucket ARN (a central archive) each VPC also
                           delivers to, in the same format
    VPCWATCH_ARCHIVE_OPTIONS  with it: JSON ``DestinationOptions`` (file format, Hive
                           prefixes, per-hour partitions)
    VPCWATCH_ARCHIVE_TRAFFIC_TYPE  with it: ALL, ACCEPT or REJECT (default: the same)

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
                 aggregation: int, tag: tuple[str, str], archive_arn: str | None = None,
                 archive_options: dict[str, Any] | None = None,
                 archive_traffic_type: str | None = None) -> None:  # fmt: skip
        self.log_group, self.role_arn, self.log_format = log_group, role_arn, log_format
        self.traffic_type, self.aggregation, self.tag = traffic_type, aggregation, tag
        self.archive_arn, self.archive_options = archive_arn, archive_options or {}
        self.archive_traffic_type = archive_traffic_type or traffic_type

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
            environment.get("VPCWATCH_ARCHIVE_ARN") or None,
            json.loads(environment.get("VPCWATCH_ARCHIVE_OPTIONS") or "{}"),
            environment.get("VPCWATCH_ARCHIVE_TRAFFIC_TYPE") or None,
        )

    def destinations(self) -> dict[str, dict[str, Any]]:
        """``{destination: CreateFlowLogs arguments}``: the log group, and the archive when
        there is one."""
        common = {
            "ResourceType": "VPC",
            "LogFormat": self.log_format,
            "MaxAggregationInterval": self.aggregation,
            "TagSpecifications": [{
                "ResourceType": "vpc-flow-log",
                "Tags": [{"Key": self.tag[0], "Value": self.tag[1]}],
            }],
        }  # fmt: skip
        found = {
            "cloudwatch": {
                **common,
                "TrafficType": self.traffic_type,
                "LogDestinationType": "cloud-watch-logs",
                "LogGroupName": self.log_group,
                "DeliverLogsPermissionArn": self.role_arn,
            }
        }
        if self.archive_arn:
            found["s3"] = {
                **common,
                "TrafficType": self.archive_traffic_type,
                "LogDestinationType": "s3",
                "LogDestination": self.archive_arn,
                "DestinationOptions": self.archive_options,
            }
        return found


def enrol(ec2: Any, vpc_ids: list[str], settings: Settings) -> dict[str, Any]:
    """Create vpcwatch's flow logs (to the log group, and to the archive when there is
    one) for each of ``vpc_ids`` that lacks them.

    Returns counts and ids: ``enrolled`` (got a flow log now), ``already`` (had all of
    them), ``failed`` (CreateFlowLogs refused them, with the reason), and ``created``:
    the VPCs given a flow log, per destination.
    """
    existing = _existing(ec2, vpc_ids)
    created: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    for destination, arguments in settings.destinations().items():
        lacking = [vpc for vpc in vpc_ids if not _delivers(existing.get(vpc, []), arguments)]
        created[destination] = []
        for start in range(0, len(lacking), CREATE_BATCH):
            batch = lacking[start : start + CREATE_BATCH]
            response = ec2.create_flow_logs(ResourceIds=batch, **arguments)
            refused = {
                item.get("ResourceId", "?"): item.get("Error", {}).get("Message", "refused")
                for item in response.get("Unsuccessful", [])
            }
            failed.update({vpc: f"{destination}: {why}" for vpc, why in refused.items()})
            created[destination] += [vpc for vpc in batch if vpc not in refused]
    enrolled = sorted({vpc for vpcs in created.values() for vpc in vpcs})
    already = sorted(set(vpc_ids) - set(enrolled) - set(failed))
    return {
        "enrolled": enrolled,
        "already": already,
        "failed": failed,
        "created": created,
        "counts": {"enrolled": len(enrolled), "already": len(already), "failed": len(failed)},
    }


def _delivers(flow_logs: list[dict[str, Any]], arguments: dict[str, Any]) -> bool:
    """Whether one of a VPC's flow logs already delivers where ``arguments`` would."""
    if arguments["LogDestinationType"] == "s3":
        target = arguments["LogDestination"].rstrip("/")
        return any((f.get("LogDestination") or "").rstrip("/") == target for f in flow_logs)
    return any(f.get("LogGroupName") == arguments["LogGroupName"] for f in flow_logs)


def _existing(ec2: Any, vpc_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The flow logs of each of ``vpc_ids``, whoever made them."""
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(vpc_ids), 200):
        chunk = vpc_ids[start : start + 200]
        pages = ec2.get_paginator("describe_flow_logs").paginate(
            Filters=[{"Name": "resource-id", "Values": chunk}]
        )
        for page in pages:
            for flow_log in page.get("FlowLogs", []):
                found.setdefault(flow_log.get("ResourceId"), []).append(flow_log)
    return found


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
