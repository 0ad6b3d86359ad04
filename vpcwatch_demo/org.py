"""The organization demo: vpcwatch across an AWS Organization, from one Python app.

Three kinds of stack, in three accounts, with no reference between them (ARNs and names
are text, derived from :class:`OrgSettings`):

- ``LogArchive`` (log-archive account): the :class:`~vpcwatch.CentralArchive` bucket
  every member account's flow logs deliver to, read by the security account.
- ``Security`` (security account): the central :class:`~vpcwatch.AlertTopic`, the
  :class:`~vpcwatch.CentralAlertBus` that admits the members, and one
  :class:`~vpcwatch.FlowLogTable` projected over every member account and region.
- ``MemberStackSet`` (the security account, as the organization's delegated
  administrator of CloudFormation StackSets): one service-managed StackSet of
  :class:`~vpcwatch.MemberBaseline`, deployed to the members' organizational unit in
  each region; its Lambda code is published to one asset bucket per region
  (``StackSetAssets-<region>``) that the organization may read (cdklabs'
  cdk-stacksets).

Deployment order: ``LogArchive`` and ``Security`` (any order), the asset stacks, then
``MemberStackSet``. ``python -m vpcwatch_demo.org`` synthesizes it into
``demo-output/org`` and shows the topology.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aws_cdk as cdk
import cdk_nag
import cdk_stacksets as stacksets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch import (
    AlertTopic,
    CentralAlertBus,
    CentralArchive,
    FlowLogFormat,
    FlowLogTable,
    MemberBaseline,
)
from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import acknowledge, acknowledge_rules


@dataclass(frozen=True)
class OrgSettings:
    """The organization, as text: every stack derives its ARNs and lists from these, so
    adding an account is one change here (archive policy, table and StackSet follow)."""

    organization_id: str = "o-a1b2c3d4e5"
    members_ou: str = "ou-ab12-3c4d5e6f"
    security_account: str = "111111111111"
    log_archive_account: str = "999999999999"
    home_region: str = "us-east-1"
    member_accounts: tuple[str, ...] = ("222222222222", "333333333333", "444444444444")
    regions: tuple[str, ...] = ("eu-west-1", "us-east-1")
    alert_email: str = "security-alerts@example.com"
    archive_format: str = "parquet"  # vpcwatch's default, and `vpcwatch replay` reads it
    archive_hive_partitions: bool = True
    bus_name: str = "vpcwatch-alerts"
    log_format: FlowLogFormat = field(default_factory=FlowLogFormat.all_fields)

    @property
    def archive_bucket_name(self) -> str:
        return f"vpcwatch-archive-{self.log_archive_account}-{self.home_region}"

    @property
    def archive_bucket_arn(self) -> str:
        return f"arn:aws:s3:::{self.archive_bucket_name}"

    @property
    def archive_files(self) -> dict:
        """How the members write archive objects, and so how the table reads them: one
        dict for both, so they cannot disagree."""
        return {
            "log_format": self.log_format,
            "archive_format": self.archive_format,
            "archive_hive_partitions": self.archive_hive_partitions,
        }

    @property
    def central_bus_arn(self) -> str:
        return (
            f"arn:aws:events:{self.home_region}:{self.security_account}:event-bus/{self.bus_name}"
        )

    @property
    def asset_bucket_prefix(self) -> str:
        """cdk-stacksets reads a region's code from ``<prefix>-<region>``."""
        return f"vpcwatch-stackset-assets-{self.security_account}"

    def asset_bucket_name(self, region: str) -> str:
        return f"{self.asset_bucket_prefix}-{region}"

    def env(self, account: str, region: str | None = None) -> cdk.Environment:
        return cdk.Environment(account=account, region=region or self.home_region)


class LogArchiveStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, settings: OrgSettings, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.archive = CentralArchive(
            self,
            "Archive",
            member_account_ids=list(settings.member_accounts),
            reader_account_ids=[settings.security_account],
            bucket_name=settings.archive_bucket_name,
        )


class SecurityStack(cdk.Stack):
    def __init__(self, scope: Construct, id: str, *, settings: OrgSettings, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.alerts = AlertTopic(self, "Alerts", emails=[settings.alert_email])
        self.bus = CentralAlertBus(
            self,
            "CentralAlerts",
            alerts=self.alerts,
            organization_id=settings.organization_id,
            bus_name=settings.bus_name,
        )
        self.table = FlowLogTable(
            self,
            "Table",
            archive_bucket_name=settings.archive_bucket_name,
            account_ids=list(settings.member_accounts),
            regions=list(settings.regions),
            database_name="vpcwatch_org",
            **settings.archive_files,
        )


class StackSetAssetsStack(cdk.Stack):
    """One region's bucket for the StackSet's Lambda code, readable by the organization
    (Lambda fetches code from a bucket in its own region)."""

    def __init__(self, scope: Construct, id: str, *, settings: OrgSettings, **kwargs) -> None:
        super().__init__(scope, id, **kwargs)
        self.bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[],
            bucket_name=settings.asset_bucket_name(self.region),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OrganizationReadsCode",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[self.bucket.arn_for_objects("*")],
                conditions={"StringEquals": {"aws:PrincipalOrgID": settings.organization_id}},
            )
        )


class MemberStackSetStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        settings: OrgSettings,
        **kwargs,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self._settings = settings
        asset_buckets = [  # by name: no reference to the asset stacks
            s3.Bucket.from_bucket_attributes(
                self, f"Assets-{region}", bucket_name=settings.asset_bucket_name(region),
                region=region,
            )
            for region in settings.regions
        ]  # fmt: skip
        template = stacksets.StackSetStack(
            self,
            "Member",
            asset_buckets=asset_buckets,
            asset_bucket_prefix=settings.asset_bucket_prefix,
        )
        self.baseline = MemberBaseline(
            template,
            "Vpcwatch",
            central_bus_arn=settings.central_bus_arn,
            archive_bucket_arn=settings.archive_bucket_arn,
            **settings.archive_files,
        )
        self.template_stack = template
        self.stack_set = stacksets.StackSet(
            self,
            "StackSet",
            stack_set_name="vpcwatch-member",
            description="vpcwatch member baseline: flow logs, detectors, forwarding",
            target=stacksets.StackSetTarget.from_organizational_units(
                organizational_units=[settings.members_ou],
                intersection_accounts=list(settings.member_accounts),
                regions=list(settings.regions),
            ),
            deployment_type=stacksets.DeploymentType.service_managed(delegated_admin=True),
            capabilities=[stacksets.Capability.IAM],
            template=stacksets.StackSetTemplate.from_stack_set_stack(template),
        )
        self._acknowledge_code_publisher()

    def _acknowledge_code_publisher(self) -> None:
        """cdk-stacksets copies the Lambda code to each region's asset bucket with
        aws-cdk-lib's BucketDeployment: a function of theirs, reviewed here."""
        for child in self.node.children:
            if not child.node.id.startswith("Custom::CDKBucketDeployment"):
                continue
            acknowledge(
                child,
                [
                    ("L1", "aws-cdk-lib's BucketDeployment picks its own runtime."),
                    (
                        "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole]",
                        "BucketDeployment's own role: only CloudWatch Logs writes.",
                    ),
                    *[
                        (
                            f"IAM5[Action::{action}]",
                            "BucketDeployment copies objects between "
                            "the CDK asset bucket and the StackSet asset buckets only.",
                        )
                        for action in (
                            "s3:GetObject*",
                            "s3:GetBucket*",
                            "s3:List*",
                            "s3:DeleteObject*",
                            "s3:Abort*",
                        )
                    ],
                    *[
                        (
                            f"IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/*]",
                            "The objects of one bucket it copies from or to.",
                        )
                        for bucket in self._asset_bucket_names()
                    ],
                ],
            )
            acknowledge_rules(
                child,
                "NIST.800.53.R5",
                [
                    ("IAMNoInlinePolicy", "BucketDeployment's own role and policy."),
                    (
                        "LambdaDLQ",
                        "A CloudFormation custom resource: CloudFormation reports a "
                        "failure and retries the deployment.",
                    ),
                    ("LambdaInsideVPC", "It calls only S3."),
                    ("LambdaConcurrency", "It runs once per deployment."),
                ],
            )

    def _asset_bucket_names(self) -> list[str]:
        stack_assets = f"cdk-hnb659fds-assets-{self.account}-{self.region}"
        return [stack_assets] + [
            self._settings.asset_bucket_name(r) for r in self._settings.regions
        ]


def build_org_app(app: cdk.App, settings: OrgSettings | None = None) -> dict[str, cdk.Stack]:
    """Add the organization's stacks to ``app``; returns them by name."""
    settings = OrgSettings() if settings is None else settings
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app), cdk_nag.NIST80053R5Checks(app)
    )
    stacks: dict[str, cdk.Stack] = {
        "LogArchive": LogArchiveStack(
            app, "LogArchive", settings=settings, env=settings.env(settings.log_archive_account)
        ),
        "Security": SecurityStack(
            app, "Security", settings=settings, env=settings.env(settings.security_account)
        ),
    }
    for region in settings.regions:
        assets = StackSetAssetsStack(
            app,
            f"StackSetAssets-{region}",
            settings=settings,
            env=settings.env(settings.security_account, region),
        )
        stacks[assets.stack_name] = assets
    stacks["MemberStackSet"] = MemberStackSetStack(
        app,
        "MemberStackSet",
        settings=settings,
        env=settings.env(settings.security_account),
    )
    return stacks


def main() -> None:
    app = cdk.App(outdir="demo-output/org")
    build_org_app(app)
    app.synth()


if __name__ == "__main__":
    main()
