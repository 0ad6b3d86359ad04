"""``FlowLogTable``: a Glue table over the pipeline's S3 archive, an Athena workgroup,
and named queries built from the same field list and detectors."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import claim_physical_name
from vpcwatch.constructs.pipeline import FlowLogPipeline
from vpcwatch.detectors import Detector, SilenceDetector, default_detectors
from vpcwatch.detectors.model import check_detectors
from vpcwatch.queries import athena_columns

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
PARQUET = {
    "input": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "output": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "serde": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
}
PLAIN_TEXT = {
    "input": "org.apache.hadoop.mapred.TextInputFormat",
    "output": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
    "serde": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
}
DEFAULT_SCAN_LIMIT_BYTES = 10 * 1024**3


def _default_database(stack: cdk.Stack) -> str:
    if cdk.Token.is_unresolved(stack.stack_name):
        return "vpcwatch"
    return ("vpcwatch_" + re.sub(r"[^a-z0-9_]", "_", stack.stack_name.lower()))[:64]


class FlowLogTable(Construct):
    """Athena over the archive: columns typed from the format, partition projection
    matching the S3 layout (no crawler, no ``MSCK REPAIR``), a workgroup with a result
    bucket and a bytes-scanned limit, and named queries.

    Example::

        pipeline = FlowLogPipeline(self, "FlowLogs", vpc=vpc,
                                   destinations=("cloudwatch", "s3"))
        FlowLogTable(self, "Table", pipeline=pipeline)

    Args:
        scope: the parent construct.
        id: the construct id.
        pipeline: a :class:`FlowLogPipeline` with the ``"s3"`` destination.
        database_name: the Glue database (unique per account and region). Default:
            ``"vpcwatch_<stack name>"`` in lowercase, other characters as ``_``.
        table_name: the table. Default: ``"flow_logs"``.
        bytes_scanned_limit: per-query cut-off of the workgroup, in bytes (at least 10 MB).
            Default: 10 GiB.
        detectors: one named query per detector. Default: ``default_detectors()``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        pipeline: FlowLogPipeline,
        database_name: str | None = None,
        table_name: str = "flow_logs",
        bytes_scanned_limit: int = DEFAULT_SCAN_LIMIT_BYTES,
        detectors: Sequence[Detector | SilenceDetector] | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(pipeline, FlowLogPipeline):
            raise TypeError(f"pipeline must be a vpcwatch.FlowLogPipeline, got {pipeline!r}")
        if pipeline.archive is None:
            raise ValueError("pipeline has no S3 archive: give it destinations=(..., 's3')")
        stack = cdk.Stack.of(self)
        if database_name is None:
            database_name = _default_database(stack)
        for name, value in (("database_name", database_name), ("table_name", table_name)):
            if cdk.Token.is_unresolved(value):
                continue  # CloudFormation resolves it; AWS judges it at deploy
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValueError(f"{name} must be lowercase letters, digits and '_'; got {value!r}")
        if (
            isinstance(bytes_scanned_limit, bool)
            or not isinstance(bytes_scanned_limit, int)
            or (bytes_scanned_limit < 10_000_000)
        ):
            raise ValueError(
                f"bytes_scanned_limit must be an integer of at least 10000000; got "
                f"{bytes_scanned_limit!r}"
            )
        chosen = check_detectors(default_detectors() if detectors is None else detectors)
        claim_physical_name(self, "Glue database", database_name, "database_name")
        self._fmt = pipeline.log_format
        self.full_name = f"{database_name}.{table_name}"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="vpcwatch flow-log archive"
            ),
        )
        self.table = self._table(pipeline, database_name, table_name, stack)
        self.table.node.add_dependency(self.database)
        self.results_bucket = private_bucket(
            self,
            "Results",
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(30))],
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        workgroup_name = (
            "vpcwatch"
            if cdk.Token.is_unresolved(stack.stack_name)
            else f"vpcwatch-{stack.stack_name}"
        )
        claim_physical_name(self, "Athena workgroup", workgroup_name, "(another stack)")
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=workgroup_name,
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                bytes_scanned_cutoff_per_query=bytes_scanned_limit,
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        self.named_queries = {}
        for name, description, sql in self._queries(chosen):
            query = athena.CfnNamedQuery(
                self,
                f"{name}Query",
                database=database_name,
                name=f"vpcwatch/{name}",
                description=description,
                query_string=sql,
                work_group=self.workgroup.name,
            )
            query.node.add_dependency(self.workgroup)
            self.named_queries[name] = query

    def _table(
        self, pipeline: FlowLogPipeline, database: str, table: str, stack: cdk.Stack
    ) -> glue.CfnTable:
        archive = pipeline.archive
        layout = archive.layout
        parts = ["year", "month", "day"] + (["hour"] if layout.per_hour_partitions else [])
        fixed = (
            f"AWSLogs/aws-account-id={stack.account}/aws-service=vpcflowlogs/"
            f"aws-region={stack.region}"
            if layout.hive_partitions
            else f"AWSLogs/{stack.account}/vpcflowlogs/{stack.region}"
        )
        variable = "/".join(
            f"{part}=${{{part}}}" if layout.hive_partitions else f"${{{part}}}" for part in parts
        )
        location = f"s3://{archive.bucket.bucket_name}/{fixed}"
        parameters = {
            "projection.enabled": "true",
            "projection.year.type": "integer",
            "projection.year.range": "2024,2099",
            "storage.location.template": f"{location}/{variable}",
            "classification": "parquet" if layout.file_format == "parquet" else "csv",
        }
        ranges = {"month": "1,12", "day": "1,31", "hour": "0,23"}
        for part in parts[1:]:
            parameters |= {
                f"projection.{part}.type": "integer",
                f"projection.{part}.range": ranges[part],
                f"projection.{part}.digits": "2",
            }
        formats = PARQUET if layout.file_format == "parquet" else PLAIN_TEXT
        serde_parameters = (
            {"field.delim": " ", "serialization.null.format": "-"}
            if layout.file_format == "plain-text"
            else None
        )
        if layout.file_format == "plain-text":
            parameters["skip.header.line.count"] = "1"
        column = glue.CfnTable.ColumnProperty
        return glue.CfnTable(
            self,
            "Table",
            catalog_id=stack.account,
            database_name=database,
            table_input=glue.CfnTable.TableInputProperty(
                name=table,
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[column(name=part, type="int") for part in parts],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[column(name=n, type=t) for n, t in athena_columns(self._fmt)],
                    location=location,
                    input_format=formats["input"],
                    output_format=formats["output"],
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=formats["serde"], parameters=serde_parameters
                    ),
                ),
            ),
        )

    def _queries(self, detectors) -> list[tuple[str, str, str]]:
        table = ".".join(f'"{part}"' for part in self.full_name.split("."))
        queries = [
            (
                "SshSourcesByPackets",
                "Who knocks on SSH, by packets (the GuardDuty SSH-scanner test's query)",
                f"SELECT SUM(packets) AS packetcount, srcaddr, dstaddr FROM {table}\n"
                "WHERE dstport = 22\nGROUP BY srcaddr, dstaddr\nORDER BY packetcount DESC\n"
                "LIMIT 20",
            ),
            (
                "RejectedPerMinute",
                "REJECT records per minute",
                f'SELECT "start" - "start" % 60 AS minute, COUNT(*) AS rejected FROM {table}\n'
                "WHERE action = 'REJECT'\nGROUP BY 1\nORDER BY 1",
            ),
            (
                "TopTalkers",
                "Sources and destinations by bytes",
                f"SELECT srcaddr, dstaddr, SUM(bytes) AS bytes FROM {table}\n"
                "GROUP BY srcaddr, dstaddr\nORDER BY bytes DESC\nLIMIT 20",
            ),
        ]
        needs = {
            "SshSourcesByPackets": ("packets", "srcaddr", "dstaddr", "dstport"),
            "RejectedPerMinute": ("start", "action"),
            "TopTalkers": ("srcaddr", "dstaddr", "bytes"),
        }
        queries = [q for q in queries if not self._fmt.missing(needs[q[0]])]
        for detector in detectors:
            if isinstance(detector, Detector) and not self._fmt.missing(detector.required_fields):
                sql = detector.to_athena_sql(self._fmt, self.full_name) + "\nLIMIT 100"
                queries.append((detector.name, detector.title, sql))
        return queries
