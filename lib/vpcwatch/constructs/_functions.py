"""What vpcwatch's Lambda functions share: their code asset and their log group."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from vpcwatch.constructs._pipeline_args import logs_key_statement
from vpcwatch.constructs._validation import acknowledge
from vpcwatch.functions import path as function_path

ASSET_EXCLUDE = ["__pycache__", "*.pyc"]
"""Byte code is not code: leave it out, so the asset hash is the source's."""


PINNED_RUNTIME = (
    "Pinned to Python 3.12 so the deployed runtime does not change with the "
    "aws-cdk-lib version; the handler needs only the standard library and boto3."
)


def function_code(name: str) -> lambda_.Code:
    """The asset of the function ``name`` (a folder of the top-level ``lambda/``)."""
    return lambda_.Code.from_asset(str(function_path(name)), exclude=ASSET_EXCLUDE)


def vpcwatch_function(scope: Construct, name: str, **props: Any) -> lambda_.Function:
    """The Lambda function of ``lambda/<name>/handler.py``: Python 3.12 (acknowledged as
    pinned), ``handler.handler``, the folder as its asset; ``props`` are the rest of
    ``lambda_.Function``'s (role, log group, environment, limits)."""
    function = lambda_.Function(
        scope,
        "Function",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="handler.handler",
        code=function_code(name),
        **props,
    )
    acknowledge(function, [("L1", PINNED_RUNTIME)])
    return function


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
