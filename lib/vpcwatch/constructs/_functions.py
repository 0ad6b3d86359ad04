"""What vpcwatch's Lambda functions share: their code asset and their log group."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from vpcwatch.constructs._pipeline_args import logs_key_statement
from vpcwatch.functions import path as function_path

ASSET_EXCLUDE = ["__pycache__", "*.pyc"]
"""Byte code is not code: leave it out, so the asset hash is the source's."""


def function_code(name: str) -> lambda_.Code:
    """The asset of the function ``name`` (a folder of the top-level ``lambda/``)."""
    return lambda_.Code.from_asset(str(function_path(name)), exclude=ASSET_EXCLUDE)


def function_log_group(scope: Construct, purpose: str, key: kms.IKey | None) -> logs.LogGroup:
    """A function's logs, a month, encrypted with the flow-log group's key when the
    pipeline has one (a key it created admits this group too; an imported one gets a
    warning that its policy must)."""
    stack = cdk.Stack.of(scope)
    name = f"/vpcwatch/{purpose}/" + cdk.Names.unique_resource_name(
        scope, max_length=200, separator="-"
    )
    if isinstance(key, kms.Key):
        sid = f"AllowCloudWatchLogsFor{purpose.capitalize()}Logs"
        key.add_to_resource_policy(logs_key_statement(stack, name, sid=sid))
    elif key is not None:
        cdk.Annotations.of(scope).add_warning_v2(
            "vpcwatch:imported-key",
            "the pipeline's encryption_key is imported, so vpcwatch cannot edit its key "
            "policy: it must also allow logs.<region>.amazonaws.com to use the key for "
            f"log group {name} (the {purpose}'s logs)",
        )
    group = logs.LogGroup(
        scope, "FunctionLogs", log_group_name=name, retention=logs.RetentionDays.ONE_MONTH,
        encryption_key=key, removal_policy=cdk.RemovalPolicy.DESTROY,
    )  # fmt: skip
    if key is not None:
        group.node.add_dependency(key)
    return group
