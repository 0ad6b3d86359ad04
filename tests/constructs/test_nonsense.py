"""Nonsense is refused at synth, each with a message naming the argument: thresholds that
NaN-crash jsii or can never (or always) be crossed, allow-lists that switch a detector off,
a VPC logged twice, and duplicate physical names within one account and region."""

from __future__ import annotations

import math

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Annotations, Match

from vpcwatch import ExposureRules, FlowLogMonitoring, FlowLogPipeline, FlowLogTable
from vpcwatch.detectors import (
    Comparison,
    DetectorError,
    admin_port_probes,
    exfiltration,
    rejected_flows,
    sensitive_port_probes,
)

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def _stack(name: str = "Nonsense") -> cdk.Stack:
    return cdk.Stack(cdk.App(), name, env=ENV)


def _vpc(stack: cdk.Stack) -> ec2.Vpc:
    return ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": math.nan}, "threshold must be a finite number of 0 or more"),
        ({"threshold": math.inf}, "threshold must be a finite number of 0 or more"),
        ({"threshold": -1}, "a negative threshold would keep the alarm in ALARM"),
        ({"threshold": 0, "comparison": Comparison.LESS_THAN}, "could never fire"),
        ({"threshold": 0}, "in ALARM whenever flow logs arrive"),
    ],
)
def test_thresholds_that_make_no_alarm_sense(changes, message):
    with pytest.raises(DetectorError, match=message):
        rejected_flows().with_(**changes)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: exfiltration(allowed_destinations=["0.0.0.0/0"]), "Exfiltration could never"),
        (lambda: exfiltration(allowed_destinations=["0.0.0.0/1", "128.0.0.0/1"]),
         "covers every IPv4 address"),
        (lambda: exfiltration(trusted_ranges=["::/0"]), "covers every IPv6 address"),
        (lambda: admin_port_probes(exclude_sources=["0.0.0.0/0"]), "exclude_sources covers"),
        (lambda: sensitive_port_probes(exclude_sources=["0::/0"]), "SensitivePortProbes could"),
        (lambda: exfiltration(allowed_destinations=[cdk.Token.as_string(cdk.Aws.ACCOUNT_ID)]),
         "allowed_destinations holds a deploy-time token"),
    ],
)  # fmt: skip
def test_allow_lists_that_switch_a_detector_off(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_vpc_and_its_own_subnets_are_refused():
    stack = _stack()
    vpc = _vpc(stack)
    with pytest.raises(ValueError, match=r"subnets\[0\] is a subnet of vpc"):
        FlowLogPipeline(stack, "FlowLogs", vpc=vpc, subnets=vpc.public_subnets)


def test_interfaces_beside_their_vpc_warn():
    stack = _stack()
    FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack),
                    network_interface_ids=["eni-0123456789abcdef0"])  # fmt: skip
    Annotations.from_stack(stack).has_warning(
        "/Nonsense/FlowLogs", Match.string_like_regexp(".*recorded twice.*")
    )


def test_two_monitorings_in_one_stack_need_distinct_alarm_names():
    stack = _stack()
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack))
    FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, detectors=[rejected_flows()])
    with pytest.raises(ValueError, match="alarm name 'vpcwatch-Nonsense-RejectedFlows'.*"
                                         "alarm_name_prefix"):  # fmt: skip
        FlowLogMonitoring(stack, "Again", pipeline=pipeline, detectors=[rejected_flows()])
    FlowLogMonitoring(stack, "Team", pipeline=pipeline, detectors=[rejected_flows()],
                      alarm_name_prefix="team-")  # fmt: skip


def test_two_exposure_rule_sets_in_one_stack_need_distinct_names():
    stack = _stack()
    ExposureRules(stack, "Exposure")
    with pytest.raises(ValueError, match="Config rule name.*rule_name_prefix"):
        ExposureRules(stack, "Again")


def test_config_rule_names_default_to_the_stack_name():
    stack = _stack("Network")
    assert ExposureRules(stack, "Exposure").rule_names[0] == "vpcwatch-Network-restricted-ssh"


def test_two_tables_share_no_database_or_workgroup():
    stack = _stack()
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack),
                               destinations=("cloudwatch", "s3"))  # fmt: skip
    table = FlowLogTable(stack, "Table", pipeline=pipeline)
    assert table.full_name == "vpcwatch_nonsense.flow_logs"
    with pytest.raises(ValueError, match="Glue database name 'vpcwatch_nonsense'.*database_name"):
        FlowLogTable(stack, "Again", pipeline=pipeline)
    with pytest.raises(ValueError, match="Athena workgroup name 'vpcwatch-Nonsense'"):
        FlowLogTable(stack, "Third", pipeline=pipeline, database_name="other")


def test_a_token_database_name_is_left_to_cloudformation():
    stack = _stack()
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack),
                               destinations=("cloudwatch", "s3"))  # fmt: skip
    name = cdk.CfnParameter(stack, "Database", default="vpcwatch").value_as_string
    assert FlowLogTable(stack, "Table", pipeline=pipeline, database_name=name).database


def test_a_token_traffic_type_is_accepted_with_a_warning():
    stack = _stack()
    traffic = cdk.CfnParameter(stack, "Traffic", default="ALL").value_as_string
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack), traffic_type=traffic)
    assert pipeline.traffic_type is None
    FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline)
    Annotations.from_stack(stack).has_warning(
        "/Nonsense/FlowLogs", Match.string_like_regexp(".*cannot verify.*AdminPortAccepted.*")
    )
