"""``FlowLogTable``: a Glue table over the pipeline's S3 archive (or a central archive
that many accounts and regions deliver to), an Athena workgroup, and named queries
built from the same field list and detectors."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import (
    account_list,
    bucket_name_of,
    claim_physical_name,
    region_list,
    require_instance,
)
from vpcwatch.constructs.archive import ArchiveLayout
from vpcwatch.constructs.pipeline import FlowLogPipeline
from vpcwatch.detectors import Detector, SilenceDetector, default_detectors
from vpcwatch.detectors.model import check_detectors
from vpcwatch.fields import FlowLogFormat
from vpcwatch.queries import athena_columns, athena_counts_by_partition

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
ACCOUNT_PARTITION = "aws_account_id"
REGION_PARTITION = "aws_region"
"""The partitions of a table over a central archive (not ``account_id``/``region``:
those are flow-log fields, and a partition may not share a column's name)."""


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

    Over a central archive (:class:`CentralArchive`, in another account) that many
    accounts and regions deliver to, the table adds two partitions, ``aws_account_id``
    and ``aws_region``, projected from the lists given (no crawler)::

        FlowLogTable(self, "Table", archive_bucket_name="org-flow-logs-archive",
                     account_ids=["222222222222", "333333333333"],
                     regions=["eu-west-1", "us-east-1"])

    Args:
        scope: the parent construct.
        id: the construct id.
        pipeline: a :class:`FlowLogPipeline` with the ``"s3"`` destination. Give this or
            ``archive_bucket_name``.
        archive_bucket_name: the name of a bucket (of any account) that flow logs of
            ``account_ids`` in ``regions`` deliver to, in AWS's key layout.
        account_ids: with ``archive_bucket_name``: the 12-digit accounts to project.
        regions: with ``archive_bucket_name``: the regions to project (``eu-west-1``).
        log_format: with ``archive_bucket_name``: the members' record format. Default:
            ``FlowLogFormat.detection()`` (the pipeline's default).
        archive_format: with ``archive_bucket_name``: ``"parquet"`` or ``"plain-text"``.
            Default: ``"parquet"``.
        archive_hive_partitions: with ``archive_bucket_name``. Default: ``True``.
        archive_per_hour_partitions: with ``archive_bucket_name``. Default: ``False``.
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
        pipeline: FlowLogPipeline | None = None,
        archive_bucket_name: str | None = None,
        account_ids: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
        log_format: FlowLogFormat | None = None,
        archive_format: str = "parquet",
        archive_hive_partitions: bool = True,
        archive_per_hour_partitions: bool = False,
        database_name: str | None = None,
        table_name: str = "flow_logs",
        bytes_scanned_limit: int = DEFAULT_SCAN_LIMIT_BYTES,
        detectors: Sequence[Detector | SilenceDetector] | None = None,
    ) -> None:
        super().__init__(scope, id)
        stack = cdk.Stack.of(self)
        central_only = {  # settings that describe a central archive, by whether given
            "account_ids": account_ids is not None,
            "regions": regions is not None,
            "log_format": log_format is not None,
            "archive_format": archive_format != "parquet",
            "archive_hive_partitions": archive_hive_partitions is not True,
            "archive_per_hour_partitions": archive_per_hour_partitions is not False,
        }
        if (pipeline is None) == (archive_bucket_name is None):
            raise ValueError(
                "give pipeline (its own archive) or archive_bucket_name (a central archive), "
                "exactly one of them"
            )
        if pipeline is not None:
            if not isinstance(pipeline, FlowLogPipeline):
                raise TypeError(f"pipeline must be a vpcwatch.FlowLogPipeline, got {pipeline!r}")
            if pipeline.archive is None:
                raise ValueError("pipeline has no S3 archive: give it destinations=(..., 's3')")
            given = [name for name, is_given in central_only.items() if is_given]
            if given:
                raise ValueError(
                    f"{', '.join(given)} describe a central archive (archive_bucket_name); "
                    "with pipeline they come from the pipeline"
                )
            self._fmt = pipeline.log_format
            source = _ArchiveSource(
                pipeline.archive.bucket.bucket_name,
                pipeline.archive.layout,
                fixed_account=stack.account,
                fixed_region=stack.region,
            )
        else:
            self._fmt = FlowLogFormat.detection() if log_format is None else log_format
            require_instance("log_format", self._fmt, FlowLogFormat, "a vpcwatch.FlowLogFormat")
            source = _central_source(
                archive_bucket_name,
                account_ids,
                regions,
                archive_format,
                archive_hive_partitions,
                archive_per_hour_partitions,
            )
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
        self.full_name = f"{database_name}.{table_name}"
        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=stack.account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=database_name, description="vpcwatch flow-log archive"
            ),
        )
        self.table = self._table(source, database_name, table_name, stack)
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
        for name, description, sql in self._queries(chosen, source.partitions()):
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
        self, source: _ArchiveSource, database: str, table: str, stack: cdk.Stack
    ) -> glue.CfnTable:
        layout = source.layout
        parts = ["year", "month", "day"] + (["hour"] if layout.per_hour_partitions else [])
        location, template = source.locations(parts)
        parameters = {
            "projection.enabled": "true",
            **source.projections(),
            "projection.year.type": "integer",
            "projection.year.range": "2024,2099",
            "storage.location.template": template,
            "classification": "parquet" if layout.file_format == "parquet" else "csv",
        }
        ranges = {"month": "1,12", "day": "1,31", "hour": "0,23"}
        for part in parts[1:]:
            parameters |= {
                f"projection.{part}.type": "integer",
                f"projection.{part}.range": ranges[part],
                f"projection.{part}.digits": "2",
            }
        partition_keys = [(name, "string") for name in source.partitions()]
        partition_keys += [(part, "int") for part in parts]
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
                partition_keys=[column(name=n, type=t) for n, t in partition_keys],
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

    def _queries(self, detectors, partitions: Sequence[str]) -> list[tuple[str, str, str]]:
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
        selections = [
            (detector.name, detector.title, detector.to_athena_sql(self._fmt, self.full_name))
            for detector in detectors
            if isinstance(detector, Detector) and not self._fmt.missing(detector.required_fields)
        ]
        queries += [(name, title, sql + "\nLIMIT 100") for name, title, sql in selections]
        if partitions and selections:
            queries.append((
                "DetectorRecordsByAccount",
                "Records each detector counts, per account and region of the archive",
                athena_counts_by_partition([(n, sql) for n, _, sql in selections], partitions),
            ))  # fmt: skip
        return queries


class _ArchiveSource:
    """Where a table's objects are: the bucket, the layout, and either one account and
    region (a pipeline's own archive) or projected lists of them (a central archive)."""

    def __init__(
        self,
        bucket_name: str,
        layout: ArchiveLayout,
        *,
        fixed_account: str | None = None,
        fixed_region: str | None = None,
        account_ids: Sequence[str] = (),
        regions: Sequence[str] = (),
    ) -> None:
        self.bucket_name, self.layout = bucket_name, layout
        self.fixed_account, self.fixed_region = fixed_account, fixed_region
        self.account_ids, self.regions = tuple(account_ids), tuple(regions)

    def partitions(self) -> list[str]:
        return [] if self.fixed_account is not None else [ACCOUNT_PARTITION, REGION_PARTITION]

    def projections(self) -> dict[str, str]:
        if self.fixed_account is not None:
            return {}
        return {
            f"projection.{ACCOUNT_PARTITION}.type": "enum",
            f"projection.{ACCOUNT_PARTITION}.values": ",".join(self.account_ids),
            f"projection.{REGION_PARTITION}.type": "enum",
            f"projection.{REGION_PARTITION}.values": ",".join(self.regions),
        }

    def locations(self, parts: Sequence[str]) -> tuple[str, str]:
        """The table's location and its ``storage.location.template``: AWS's key layout
        (``AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/``, or its Hive form)."""
        hive = self.layout.hive_partitions
        if self.fixed_account is not None:
            account, region = self.fixed_account, self.fixed_region
        else:
            account, region = f"${{{ACCOUNT_PARTITION}}}", f"${{{REGION_PARTITION}}}"
        fixed = (
            f"AWSLogs/aws-account-id={account}/aws-service=vpcflowlogs/aws-region={region}"
            if hive
            else f"AWSLogs/{account}/vpcflowlogs/{region}"
        )
        variable = "/".join(f"{part}=${{{part}}}" if hive else f"${{{part}}}" for part in parts)
        root = f"s3://{self.bucket_name}/"
        location = root + (fixed if self.fixed_account is not None else "AWSLogs")
        return location, f"{root}{fixed}/{variable}"


def _central_source(
    bucket_name: object,
    account_ids: object,
    regions: object,
    archive_format: object,
    hive_partitions: object,
    per_hour_partitions: object,
) -> _ArchiveSource:
    bucket_name_of("archive_bucket_name", bucket_name)
    layout = ArchiveLayout.of(archive_format, hive_partitions, per_hour_partitions)
    return _ArchiveSource(
        bucket_name,
        layout,
        account_ids=account_list("account_ids", account_ids, required=True),
        regions=region_list("regions", regions),
    )
