"""Arguments of :class:`~vpcwatch.FlowLogPipeline`: targets, traffic types, windows,
destinations, and the key-policy statement. Each check names the argument."""

from __future__ import annotations

import enum
import re
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam

from vpcwatch.constructs._validation import (
    choose,
    is_token,
    require_instance,
    require_interface,
    require_sequence,
)

DEFAULT_AGGREGATION = cdk.Duration.minutes(1)
"""1-minute windows: the shortest detection latency flow logs allow."""

_ENI_ID = re.compile(r"eni-[0-9a-f]{8,17}")


class TrafficType(enum.Enum):
    """Which flows a flow log records."""

    ALL = "ALL"
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"


def flow_log_targets(
    vpc: Any, subnets: Any, network_interface_ids: Any, *, enrolling: bool = False
) -> list[tuple[str, str, str]]:
    """(construct id, resource type, resource id) for every flow log to create (none is
    allowed when ``enrolling``: the account's VPCs are enrolled at run time)."""
    targets: list[tuple[str, str, str]] = []
    if vpc is not None:
        require_interface("vpc", vpc, "vpc_id", "an ec2.IVpc")
        targets.append(("VpcFlowLog", "VPC", vpc.vpc_id))
    if subnets is not None:
        own = _subnet_ids(vpc)
        for index, subnet in enumerate(require_sequence("subnets", subnets, "ec2.ISubnet")):
            require_interface(f"subnets[{index}]", subnet, "subnet_id", "an ec2.ISubnet")
            if subnet.subnet_id in own:
                raise ValueError(
                    f"subnets[{index}] is a subnet of vpc, which is logged already: one "
                    "pipeline would record its flows twice into one log group and double "
                    "every count. Give vpc or its subnets, not both"
                )
            targets.append((f"SubnetFlowLog{index}", "Subnet", subnet.subnet_id))
    if network_interface_ids is not None:
        ids = require_sequence("network_interface_ids", network_interface_ids, "'eni-...' ids")
        for index, eni in enumerate(ids):
            if not is_token(eni) and (not isinstance(eni, str) or not _ENI_ID.fullmatch(eni)):
                raise ValueError(
                    f"network_interface_ids[{index}] must be an interface id like "
                    f"'eni-0123456789abcdef0', got {eni!r}"
                )
            targets.append((f"InterfaceFlowLog{index}", "NetworkInterface", eni))
    if not targets and not enrolling:
        raise ValueError(
            "FlowLogPipeline needs something to log: give vpc, subnets or "
            "network_interface_ids (none was given, or the lists were empty), or "
            "enroll_account_vpcs=True"
        )
    return targets


def _subnet_ids(vpc: Any) -> set[str]:
    """The ids of the subnets ``vpc`` knows (all of them for a VPC made or looked up in
    CDK; those given to ``from_vpc_attributes`` for an imported one)."""
    if vpc is None:
        return set()
    groups = ("public_subnets", "private_subnets", "isolated_subnets")
    return {subnet.subnet_id for group in groups for subnet in getattr(vpc, group, [])}


def interface_overlap_warning(vpc: Any, network_interface_ids: Any) -> str | None:
    """Interfaces listed beside their VPC would be logged twice; which VPC an interface is
    in is not known at synth, so this is a warning."""
    if vpc is None or not network_interface_ids:
        return None
    return (
        "network_interface_ids are logged beside vpc: an interface that is in this VPC is "
        "recorded twice into one log group, doubling its counts. List only interfaces of "
        "other VPCs."
    )


def traffic_type_of(value: Any, name: str = "traffic_type") -> TrafficType | str:
    """A :class:`TrafficType`, or a deploy-time token as it is (CloudFormation resolves it;
    the constructs that depend on it say they cannot verify it)."""
    if is_token(value):
        return value
    if isinstance(value, ec2.FlowLogTrafficType):
        value = value.name
    return choose(name, value, TrafficType)


def traffic_type_text(value: TrafficType | str) -> str:
    """The CloudFormation value: the enum's, or the token."""
    return value.value if isinstance(value, TrafficType) else value


DESTINATIONS = ("cloudwatch", "s3")


def destinations_of(value: Any) -> tuple[str, ...]:
    chosen = require_sequence("destinations", value, "'cloudwatch' and/or 's3'")
    if not chosen or any(d not in DESTINATIONS for d in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(
            f"destinations must be a non-empty list of distinct {DESTINATIONS}; got {value!r}"
        )
    return chosen


def refuse_without_cloudwatch(**given: Any) -> None:
    names = [name for name, value in given.items() if value is not None]
    if names:
        raise ValueError(f"{', '.join(names)} need 'cloudwatch' in destinations")


def refuse_without_s3(**given: Any) -> None:
    names = [name for name, value in given.items() if value is not None]
    if names:
        verb = "needs" if len(names) == 1 else "need"
        raise ValueError(f"{', '.join(names)} {verb} 's3' in destinations")


def window_seconds(value: cdk.Duration | ec2.FlowLogMaxAggregationInterval | None) -> int:
    if value is None:
        value = DEFAULT_AGGREGATION
    if isinstance(value, ec2.FlowLogMaxAggregationInterval):
        value = cdk.Duration.seconds({"ONE_MINUTE": 60, "TEN_MINUTES": 600}[value.name])
    require_instance(
        "max_aggregation_interval",
        value,
        cdk.Duration,
        "a cdk.Duration or an ec2.FlowLogMaxAggregationInterval",
    )
    seconds = value.to_seconds()
    if seconds not in (60, 600):
        raise ValueError(
            f"max_aggregation_interval must be 60 or 600 seconds (Duration.minutes(1) or "
            f"Duration.minutes(10)); got {seconds:g} seconds"
        )
    return int(seconds)


def refuse_with_log_group(**given: Any) -> None:
    names = [name for name, value in given.items() if value is not None]
    if names:
        raise ValueError(
            f"{', '.join(names)} cannot be set with log_group: they configure the log group "
            "the pipeline creates; configure your own group where you create it"
        )


def logs_key_statement(
    stack: cdk.Stack, log_group_name: str, sid: str = "AllowCloudWatchLogsForFlowLogGroup"
) -> iam.PolicyStatement:
    """Key-policy statement: CloudWatch Logs of this region may use the key for one group."""
    return iam.PolicyStatement(
        sid=sid,
        principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
        actions=[
            "kms:Encrypt*",
            "kms:Decrypt*",
            "kms:ReEncrypt*",
            "kms:GenerateDataKey*",
            "kms:Describe*",
        ],
        resources=["*"],
        conditions={
            "ArnEquals": {
                "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=log_group_name,
                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                )
            }
        },
    )
