"""Athena stood in for by DuckDB, over a folder laid out like an S3 bucket: the files a
Glue table's partition projection would read are found from the table's own
``storage.location.template`` and ``projection.*`` parameters (so a wrong template finds
nothing), and its named queries run as synthesized. Used by the organization demo and
its tests; Trino's ``regexp_like`` is a macro over DuckDB's ``regexp_matches``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

DUCK_TYPES = {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}


def glue_table(template: dict[str, Any]) -> dict[str, Any]:
    """The ``TableInput`` of the template's one ``AWS::Glue::Table``."""
    (table,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Table"]
    return table["Properties"]["TableInput"]


def named_queries(template: dict[str, Any]) -> dict[str, str]:
    """``{name without "vpcwatch/": SQL}`` of the template's Athena named queries."""
    return {
        r["Properties"]["Name"].removeprefix("vpcwatch/"): r["Properties"]["QueryString"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Athena::NamedQuery"
    }


def connect(template: dict[str, Any], bucket_name: str, root: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection where the template's table (``<database>.<table>``) is a view
    of the files under ``root`` (standing for ``s3://<bucket_name>/``) that its partition
    projection reaches, with the partition columns it declares."""
    table_input = glue_table(template)
    parameters = table_input["Parameters"]
    location = parameters["storage.location.template"].replace(f"s3://{bucket_name}", str(root))
    partitions = [key["Name"] for key in table_input["PartitionKeys"]]
    pattern = re.compile(
        re.sub(r"\\\$\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(location)) + r"/[^/]+"
    )
    found: list[tuple[str, dict[str, str]]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        match = pattern.fullmatch(str(path))
        if match and all(projected(parameters, name, match[name]) for name in partitions):
            found.append((str(path), match.groupdict()))
    if not found:
        raise ValueError(f"no file under {root} matches {location}")
    database = _database(template)
    connection = duckdb.connect()
    connection.execute("CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)")
    connection.execute(f'CREATE SCHEMA "{database}"')
    files = [path for path, _ in found]
    if parameters["classification"] == "parquet":
        reader = f"read_parquet({files!r}, filename = true, hive_partitioning = false)"
    else:
        columns = table_input["StorageDescriptor"]["Columns"]
        types = {c["Name"]: DUCK_TYPES[c["Type"]] for c in columns}
        reader = (f"read_csv({files!r}, delim = ' ', header = true, nullstr = '-', "
                  f"columns = {types!r}, filename = true)")  # fmt: skip
    connection.execute(f'CREATE TABLE "{database}".records AS SELECT * FROM {reader}')
    connection.execute(f'CREATE TABLE "{database}".files (filename VARCHAR'
                       + "".join(f", {p} VARCHAR" for p in partitions) + ")")  # fmt: skip
    connection.executemany(
        f'INSERT INTO "{database}".files VALUES ({", ".join("?" * (len(partitions) + 1))})',
        [[path, *(parts[p] for p in partitions)] for path, parts in found],
    )
    connection.execute(
        f'CREATE VIEW "{database}"."{table_input["Name"]}" AS SELECT records.* EXCLUDE '
        "(filename), " + ", ".join(f"files.{p}" for p in partitions)
        + f' FROM "{database}".records JOIN "{database}".files USING (filename)'
    )  # fmt: skip
    return connection


def projected(parameters: dict[str, str], name: str, value: str) -> bool:
    """Whether partition projection reaches ``value`` of the partition ``name``."""
    kind = parameters[f"projection.{name}.type"]
    if kind == "enum":
        return value in parameters[f"projection.{name}.values"].split(",")
    low, high = (int(v) for v in parameters[f"projection.{name}.range"].split(","))
    digits = int(parameters.get(f"projection.{name}.digits", "1"))
    return value.isdigit() and len(value) >= digits and low <= int(value) <= high


def _database(template: dict[str, Any]) -> str:
    (database,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Glue::Database"]
    return database["Properties"]["DatabaseInput"]["Name"]
