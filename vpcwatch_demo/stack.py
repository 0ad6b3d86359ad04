"""The demo stack: the lab of the articles in docs/sources.md, watched by vpcwatch.

A VPC (2 AZs, no NAT gateway), a web-server security group open to the internet
on 80/443 only, a bastion security group reachable over SSH from one admin
network, SSH to the web servers only from the bastion's group,
all-fields flow logs with 1-minute aggregation, and the whole detector catalog
alarming to an encrypted topic with the e-mail from context.
"""

from __future__ import annotations

import aws_cdk as cdk
import cdk_nag
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from vpcwatch import (
    AlarmEnricher,
    AlertTopic,
    ExposureRules,
    FlowLogFormat,
    FlowLogMonitoring,
    FlowLogPipeline,
    FlowLogTable,
    OpenIngressGuard,
    PortProbeFindings,
)
from vpcwatch.constructs._validation import acknowledge, acknowledge_rules
from vpcwatch.detectors import default_detectors, with_thresholds
from vpcwatch_demo.settings import DemoSettings


class DemoStack(cdk.Stack):
    """The articles' lab. Attributes: ``vpc``, ``web_security_group``, ``bastion_security_group``,
    ``pipeline``, ``alerts``, ``monitoring``."""

    def __init__(self, scope: Construct, id: str, *, settings: DemoSettings, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.settings = settings
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="Public",
                    subnet_type=ec2.SubnetType.PUBLIC,
                    map_public_ip_on_launch=False,  # an instance asks for its public IP
                ),
                ec2.SubnetConfiguration(
                    name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
                ),
            ],
            restrict_default_security_group=True,
        )
        acknowledge_rules(self.vpc, "NIST.800.53.R5", [(
            "VPCNoUnrestrictedRouteToIGW",
            "The public subnets host the lab's web server, reachable on 80 and 443 only.",
        )])  # fmt: skip
        self.bastion_security_group = ec2.SecurityGroup(
            self, "BastionSecurityGroup", vpc=self.vpc, description="Bastion: SSH from admins"
        )
        self.bastion_security_group.add_ingress_rule(
            ec2.Peer.ipv4(settings.admin_cidr), ec2.Port.tcp(22), "SSH from the admin network"
        )
        self.web_security_group = ec2.SecurityGroup(
            self, "WebSecurityGroup", vpc=self.vpc, description="Web servers: 80/443 from anyone"
        )
        for port in (80, 443):
            self.web_security_group.add_ingress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(port), f"HTTP(S) {port} from the internet"
            )
        self.web_security_group.add_ingress_rule(
            self.bastion_security_group, ec2.Port.tcp(22), "SSH only from the bastion"
        )
        acknowledge(
            self.web_security_group,
            [("EC23", "A public web server: only 80 and 443 are open to the internet.")],
        )
        self.pipeline = FlowLogPipeline(
            self,
            "FlowLogs",
            vpc=self.vpc,
            log_format=FlowLogFormat.all_fields(),
            encryption_key=True,
            destinations=("cloudwatch", "s3") if settings.archive else ("cloudwatch",),
        )
        self.table = (
            FlowLogTable(self, "Table", pipeline=self.pipeline) if settings.archive else None
        )
        self.alerts = AlertTopic(self, "Alerts", emails=[settings.alert_email])
        self.monitoring = FlowLogMonitoring(
            self,
            "Monitoring",
            pipeline=self.pipeline,
            alerts=self.alerts,
            detectors=with_thresholds(
                default_detectors(allowed_destinations=settings.allowed_destinations),
                dict(settings.thresholds),
            ),
        )
        self.enricher = AlarmEnricher(
            self, "Enricher", monitoring=self.monitoring, alerts=self.alerts
        )
        # The cause, caught three ways: at synth (the guard), in the account (Config),
        # and when probed (GuardDuty).
        self.exposure = ExposureRules(
            self, "Exposure", alerts=self.alerts, remediation=True, remediation_vpcs=[self.vpc]
        )
        self.port_probes = PortProbeFindings(self, "PortProbes", alerts=self.alerts)
        if settings.open_ssh_to_the_world:  # to see the guard stop a synth
            self.web_security_group.add_ingress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(22), "SSH from anywhere (the classic mistake)"
            )
        OpenIngressGuard.protect(self, ports=(22, 3389))


def add_aws_solutions_checks(app: cdk.App) -> None:
    """cdk-nag's AwsSolutions pack on the whole app: a validation plugin in cdk-nag 3
    (aws-cdk-lib >= 2.257, its unacknowledged errors fail the synth), an Aspect that
    annotates errors in cdk-nag 2 (older aws-cdk-lib, as in the floor test environment)."""
    if hasattr(cdk, "Acknowledgment"):
        cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    else:
        cdk.Aspects.of(app).add(cdk_nag.AwsSolutionsChecks())


def build_app(app: cdk.App) -> DemoStack:
    """Add the demo stack to ``app``, with cdk-nag's AwsSolutions checks on the whole app."""
    settings = DemoSettings.from_context(app.node.try_get_context)
    add_aws_solutions_checks(app)
    return DemoStack(
        app,
        settings.stack_name,  # one name: the template is <stack name>.template.json
        settings=settings,
        stack_name=settings.stack_name,
        description="vpcwatch demo: VPC flow logs turned into network threat detection",
    )
