"""``ExposureRules``: AWS Config rules that keep finding security groups open to the world
(the second of the three layers), with optional remediation and alerting."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_config as config
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import (
    acknowledge,
    acknowledge_role_policy,
    claim_physical_name,
    nag_rendering,
    require_interface,
    require_sequence,
)
from vpcwatch.constructs.alerts import AlertTopic, alert_topic_of
from vpcwatch.values import port_list

DEFAULT_RESTRICTED_PORTS = (20, 21, 3389, 3306, 4333, 5432, 6379, 9200, 27017)
PORTS_PER_RULE = 5  # RESTRICTED_INCOMING_TRAFFIC takes blockedPort1 .. blockedPort5
REMEDIATION_DOCUMENT = "AWS-DisablePublicAccessForSecurityGroup"
_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,40}")


def _default_prefix(scope: Construct) -> str:
    """``vpcwatch-<stack name>-``: unique per account and region, as stack names are."""
    name = cdk.Stack.of(scope).stack_name
    if cdk.Token.is_unresolved(name):
        return "vpcwatch-"
    return "vpcwatch-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)[:60] + "-"


def _remediation_vpcs(remediation: bool, vpcs: Sequence[ec2.IVpc] | None) -> tuple:
    if vpcs is None:
        if remediation:
            raise ValueError(
                "remediation=True needs remediation_vpcs=[vpc, ...]: the remediation role may "
                "only revoke rules of security groups in the VPCs it is given"
            )
        return ()
    if not remediation:
        raise ValueError("remediation_vpcs is given but remediation is False")
    chosen = require_sequence("remediation_vpcs", vpcs, "ec2.IVpc")
    if not chosen:
        raise ValueError("remediation_vpcs must name at least one VPC")
    for index, vpc in enumerate(chosen):
        require_interface(f"remediation_vpcs[{index}]", vpc, "vpc_id", "an ec2.IVpc")
    return chosen


class ExposureRules(Construct):
    """Managed Config rules for open ingress, flow logs and default security groups.

    Example::

        ExposureRules(self, "Exposure", alerts=alerts, remediation=True,
                      remediation_vpcs=[vpc])

    Args:
        scope: the parent construct.
        id: the construct id.
        restricted_ports: ports that must not be open to the world, besides 22 (which
            ``restricted-ssh`` covers). More than 5 ports make several
            ``restricted-common-ports-<n>`` rules. Default: 20, 21, 3389, 3306, 4333, 5432,
            6379, 9200, 27017.
        remediation: automatically run ``AWS-DisablePublicAccessForSecurityGroup`` on
            groups that fail ``restricted-ssh`` (it removes 22 and 3389 rules open to
            the world, nothing else). Default: ``False``.
        remediation_vpcs: the VPCs whose security groups remediation may change (an
            ``ec2:Vpc`` condition on the role's ``RevokeSecurityGroupIngress``); required
            with ``remediation``. Default: none.
        alerts: an :class:`AlertTopic` or any ``sns.ITopic`` told of every change to
            NON_COMPLIANT. Default: none.
        create_recorder: create a configuration recorder and delivery channel, for an
            account that has none (a second recorder fails to deploy). Default: ``False``.
        rule_name_prefix: prefix of the Config rule names (unique per account and
            region). Default: ``"vpcwatch-<stack name>-"``.
        object_lock: Object Lock for the recorder's bucket (``s3.ObjectLockRetention``):
            no snapshot can be deleted or overwritten before it expires. Needs
            ``create_recorder``. Default: ``None`` (versioning only).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        restricted_ports: Sequence[int] = DEFAULT_RESTRICTED_PORTS,
        remediation: bool = False,
        remediation_vpcs: Sequence[ec2.IVpc] | None = None,
        alerts: AlertTopic | sns.ITopic | None = None,
        create_recorder: bool = False,
        rule_name_prefix: str | None = None,
        object_lock: s3.ObjectLockRetention | None = None,
    ) -> None:
        super().__init__(scope, id)
        ports = port_list(restricted_ports, "restricted_ports")
        for name, flag in (("remediation", remediation), ("create_recorder", create_recorder)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        alerts = alert_topic_of(self, alerts)
        if rule_name_prefix is None:
            rule_name_prefix = _default_prefix(self)
        elif not isinstance(rule_name_prefix, str) or not _PREFIX.fullmatch(rule_name_prefix):
            raise ValueError(
                "rule_name_prefix must be up to 40 letters, digits, '-' or '_'; "
                f"got {rule_name_prefix!r}"
            )
        self._prefix = rule_name_prefix
        if object_lock is not None and not create_recorder:
            raise ValueError(
                "object_lock applies to the recorder's bucket: set create_recorder=True"
            )
        self._recorder = self._create_recorder(object_lock) if create_recorder else None
        group_scope = config.RuleScope.from_resources([config.ResourceType.EC2_SECURITY_GROUP])
        self._rules: dict[str, config.ManagedRule] = {}
        self._names: list[str] = []
        self._add_rule("RestrictedSsh", "restricted-ssh",
                       config.ManagedRuleIdentifiers.EC2_SECURITY_GROUPS_INCOMING_SSH_DISABLED,
                       group_scope)  # fmt: skip
        chunks = [ports[i : i + PORTS_PER_RULE] for i in range(0, len(ports), PORTS_PER_RULE)]
        for number, chunk in enumerate(chunks, start=1):
            self._add_rule(
                f"RestrictedCommonPorts{number}",
                f"restricted-common-ports-{number}",
                config.ManagedRuleIdentifiers.EC2_SECURITY_GROUPS_RESTRICTED_INCOMING_TRAFFIC,
                group_scope,
                {f"blockedPort{i}": str(port) for i, port in enumerate(chunk, start=1)},
            )
        self._add_rule("VpcFlowLogsEnabled", "vpc-flow-logs-enabled",
                       config.ManagedRuleIdentifiers.VPC_FLOW_LOGS_ENABLED,
                       config.RuleScope.from_resources([config.ResourceType.EC2_VPC]))  # fmt: skip
        self._add_rule("VpcDefaultSecurityGroupClosed", "vpc-default-security-group-closed",
                       config.ManagedRuleIdentifiers.VPC_DEFAULT_SECURITY_GROUP_CLOSED,
                       group_scope)  # fmt: skip
        vpcs = _remediation_vpcs(remediation, remediation_vpcs)
        self._remediation = self._add_remediation(vpcs) if remediation else None
        self._alert_rule = self._route_to(alerts) if alerts is not None else None

    @property
    def rules(self) -> dict[str, config.ManagedRule]:
        """The Config rules by construct id (``RestrictedSsh``, ``RestrictedCommonPorts1``...)."""
        return dict(self._rules)

    @property
    def rule_names(self) -> list[str]:
        """The Config rule names, as deployed (``<prefix>restricted-ssh``, ...)."""
        return list(self._names)

    @property
    def remediation(self) -> config.CfnRemediationConfiguration | None:
        return self._remediation

    @property
    def alert_rule(self) -> events.Rule | None:
        """The EventBridge rule routing NON_COMPLIANT changes to the alerts, if any."""
        return self._alert_rule

    def _add_rule(
        self,
        id: str,
        name: str,
        identifier: str,
        rule_scope: config.RuleScope,
        parameters: dict[str, str] | None = None,
    ) -> None:
        rule = config.ManagedRule(
            self,
            id,
            identifier=identifier,
            config_rule_name=self._prefix + name,
            rule_scope=rule_scope,
            input_parameters=parameters,
        )
        if self._recorder is not None:
            rule.node.add_dependency(self._recorder)
        claim_physical_name(self, "Config rule", self._prefix + name, "rule_name_prefix")
        self._rules[id] = rule
        self._names.append(self._prefix + name)

    def _add_remediation(self, vpcs: tuple[ec2.IVpc, ...]) -> config.CfnRemediationConfiguration:
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "RemediationRole",
            assumed_by=iam.ServicePrincipal(
                "ssm.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
            description=f"Runs {REMEDIATION_DOCUMENT} for the restricted-ssh Config rule",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:DescribeSecurityGroups"],
                resources=["*"],  # Describe* takes no resource-level permission
            )
        )
        groups = stack.format_arn(service="ec2", resource="security-group", resource_name="*")
        vpc_arns = [
            stack.format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)
            for vpc in vpcs
        ]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["ec2:RevokeSecurityGroupIngress"],
                resources=[groups],
                conditions={"ArnEquals": {"ec2:Vpc": vpc_arns}},
            )
        )
        acknowledge_role_policy(role)
        acknowledge(role, [
            ("IAM5[Resource::*]", "ec2:DescribeSecurityGroups supports no resource scoping."),
            (f"IAM5[Resource::{nag_rendering(self, groups)}]",
             "Any group Config finds non-compliant, but only in the given VPCs (ec2:Vpc)."),
        ])  # fmt: skip
        # Parameters as plain PascalCase dicts: the typed property classes render
        # lowercase keys and break the template (aws-cdk #8996).
        remediation = config.CfnRemediationConfiguration(
            self,
            "RestrictedSshRemediation",
            config_rule_name=self._rules["RestrictedSsh"].config_rule_name,
            target_type="SSM_DOCUMENT",
            target_id=REMEDIATION_DOCUMENT,
            automatic=True,
            maximum_automatic_attempts=3,
            retry_attempt_seconds=60,
            parameters={
                "AutomationAssumeRole": {"StaticValue": {"Values": [role.role_arn]}},
                "GroupId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
            },
        )
        remediation.node.add_dependency(self._rules["RestrictedSsh"])
        return remediation

    def _route_to(self, alerts: AlertTopic) -> events.Rule:
        detail = events.EventField
        message = (
            f"vpcwatch: AWS Config rule {detail.from_path('$.detail.configRuleName')} found "
            f"{detail.from_path('$.detail.resourceType')} "
            f"{detail.from_path('$.detail.resourceId')} NON_COMPLIANT in account "
            f"{detail.from_path('$.detail.awsAccountId')}, region "
            f"{detail.from_path('$.detail.awsRegion')}."
        )
        return alerts.route(
            self,
            "NonCompliantRule",
            description="vpcwatch: Config exposure rules that turn NON_COMPLIANT",
            event_pattern=events.EventPattern(
                source=["aws.config"],
                detail_type=["Config Rules Compliance Change"],
                detail={
                    "configRuleName": self.rule_names,
                    "newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
                },
            ),
            message=message,
        )

    def _create_recorder(
        self, object_lock: s3.ObjectLockRetention | None
    ) -> config.CfnConfigurationRecorder:
        bucket = private_bucket(
            self,
            "ConfigBucket",
            lifecycle_rules=[
                s3.LifecycleRule(
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=cdk.Duration.days(90),
                        )
                    ],
                    expiration=cdk.Duration.days(730),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            object_lock=object_lock,
        )
        account = cdk.Stack.of(self).account
        source = {"StringEquals": {"aws:SourceAccount": account}}
        role = iam.Role(
            self,
            "RecorderRole",
            assumed_by=iam.ServicePrincipal("config.amazonaws.com", conditions=source),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWS_ConfigRole")
            ],
        )
        managed = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWS_ConfigRole"
        acknowledge(role, [(f"IAM4[Policy::{managed}]", "The policy Config documents for it.")])
        # The delivery policy of the AWS Config developer guide ("Permissions for the
        # Amazon S3 bucket"), each statement limited to this account.
        config_service = iam.ServicePrincipal("config.amazonaws.com")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSConfigBucketDelivery",
                principals=[config_service],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"AWSLogs/{account}/Config/*")],
                conditions={
                    "StringEquals": {
                        "aws:SourceAccount": account,
                        "s3:x-amz-acl": "bucket-owner-full-control",
                    }
                },
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSConfigBucketPermissionsCheck",
                principals=[config_service],
                actions=["s3:GetBucketAcl", "s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions=source,
            )
        )
        recorder = config.CfnConfigurationRecorder(
            self,
            "Recorder",
            role_arn=role.role_arn,
            recording_group=config.CfnConfigurationRecorder.RecordingGroupProperty(
                all_supported=True, include_global_resource_types=False
            ),
        )
        channel = config.CfnDeliveryChannel(
            self, "DeliveryChannel", s3_bucket_name=bucket.bucket_name
        )
        channel.node.add_dependency(recorder)
        return recorder
