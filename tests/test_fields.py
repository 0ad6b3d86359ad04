"""The field catalog and FlowLogFormat."""

from __future__ import annotations

import pytest

from vpcwatch import FIELDS, FieldError, FieldKind, FlowLogFormat, FormatError
from vpcwatch.fields import field

# Example records from the Amazon VPC user guide ("Flow log record examples").
GUIDE_RECORDS = [
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK",
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
    "1418530010 1418530070 REJECT OK",
    "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
    "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
]

DEFAULT_LOG_FORMAT = (
    "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} "
    "${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}"
)


class TestCatalog:
    def test_versions_2_to_5_7_and_8_are_covered(self):
        assert {f.version for f in FIELDS.values()} == {2, 3, 4, 5, 7, 8}
        assert len(FIELDS) == 40

    def test_pattern_names_use_underscores(self):
        for f in FIELDS.values():
            assert "-" not in f.name
            assert f.name == f.aws_name.replace("-", "_")

    @pytest.mark.parametrize(
        "name",
        ["version", "srcport", "dstport", "protocol", "packets", "bytes", "start", "end",
         "tcp_flags", "traffic_path"],
    )  # fmt: skip
    def test_numeric_fields(self, name):
        assert FIELDS[name].kind is FieldKind.NUMBER

    def test_every_other_field_is_a_string(self):
        numbers = {f.name for f in FIELDS.values() if f.kind is FieldKind.NUMBER}
        assert len(numbers) == 10
        assert FIELDS["srcaddr"].kind is FieldKind.STRING

    def test_every_field_has_a_description(self):
        for f in FIELDS.values():
            assert f.description.endswith(".") and len(f.description) < 120

    def test_address_fields(self):
        addresses = {f.name for f in FIELDS.values() if f.is_address}
        assert addresses == {"srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr"}

    def test_catalog_is_read_only(self):
        with pytest.raises(TypeError):
            FIELDS["new"] = FIELDS["version"]  # type: ignore[index]

    def test_cross_check_with_aws_cdk_log_format(self):
        """Every ec2.LogFormat constant names a catalog field with the same placeholder."""
        from aws_cdk import aws_ec2 as ec2

        checked = 0
        for attribute in dir(ec2.LogFormat):
            value = getattr(ec2.LogFormat, attribute)
            if attribute.startswith("_") or not isinstance(value, ec2.LogFormat):
                continue
            placeholder = value.value
            if not placeholder.startswith("${") or " " in placeholder:
                continue  # ALL_DEFAULT_FIELDS and the like
            aws_name = placeholder[2:-1]
            assert field(aws_name).placeholder == placeholder, attribute
            checked += 1
        assert checked >= 25


class TestFactories:
    def test_default_is_the_14_version_2_fields_in_aws_order(self):
        fmt = FlowLogFormat.default()
        assert fmt.log_format == DEFAULT_LOG_FORMAT
        assert len(fmt) == 14 and fmt.version == 2

    def test_all_fields(self):
        fmt = FlowLogFormat.all_fields()
        assert fmt.names == tuple(FIELDS)
        assert fmt.version == 8

    def test_of_accepts_members_aws_names_and_pattern_names(self):
        fmt = FlowLogFormat.of(FIELDS["srcaddr"], "account-id", "flow_direction")
        assert fmt.names == ("srcaddr", "account_id", "flow_direction")
        assert fmt.log_format == "${srcaddr} ${account-id} ${flow-direction}"
        assert fmt.version == 5

    @pytest.mark.parametrize(
        "fmt", [FlowLogFormat.default(), FlowLogFormat.all_fields(), FlowLogFormat.of("dstport")]
    )
    def test_parse_round_trip(self, fmt):
        assert FlowLogFormat.parse(fmt.log_format) == fmt

    def test_parse_tolerates_any_whitespace(self):
        assert FlowLogFormat.parse("  ${srcaddr}\n${dstaddr}\t") == FlowLogFormat.of(
            "srcaddr", "dstaddr"
        )

    def test_equal_formats_hash_equal(self):
        assert hash(FlowLogFormat.default()) == hash(FlowLogFormat.parse(DEFAULT_LOG_FORMAT))

    def test_repr_reproduces(self):
        fmt = FlowLogFormat.of("srcaddr", "dstport")
        assert eval(repr(fmt)) == fmt


class TestLookups:
    fmt = FlowLogFormat.default()

    def test_names(self):
        assert self.fmt.names[:3] == ("version", "account_id", "interface_id")

    def test_index_by_either_name(self):
        assert self.fmt.index("dstport") == 6
        assert self.fmt.index("log-status") == self.fmt.index("log_status") == 13

    def test_contains(self):
        assert "srcaddr" in self.fmt and "account-id" in self.fmt
        assert FIELDS["srcaddr"] in self.fmt
        assert "flow_direction" not in self.fmt
        assert "nonsense" not in self.fmt and 3 not in self.fmt

    def test_missing(self):
        assert self.fmt.missing(["srcaddr", "flow-direction", "az_id"]) == (
            "flow_direction",
            "az_id",
        )

    def test_index_of_a_field_the_format_lacks(self):
        with pytest.raises(FieldError, match="'flow_direction' is not in this flow-log format"):
            self.fmt.index("flow_direction")

    def test_parse_line_on_the_guide_examples(self):
        accepted, rejected, nodata, skipdata = (self.fmt.parse_line(r) for r in GUIDE_RECORDS)
        assert accepted["dstport"] == "22" and accepted["action"] == "ACCEPT"
        assert rejected["srcaddr"] == "172.31.9.69" and rejected["dstport"] == "3389"
        assert nodata["log_status"] == "NODATA" and nodata["srcaddr"] == "-"
        assert skipdata["interface_id"] == "eni-11111111aaaaaaaaa"
        assert list(accepted) == list(self.fmt.names)

    @pytest.mark.parametrize("line", ["2 123", GUIDE_RECORDS[0] + " extra", ""])
    def test_parse_line_refuses_a_wrong_field_count(self, line):
        with pytest.raises(FormatError, match=r"record has \d+ fields, the format has 14"):
            self.fmt.parse_line(line)


class TestBadInput:
    def test_unknown_field_lists_the_closest_names(self):
        with pytest.raises(FieldError, match=r"unknown flow-log field 'dstadr'.*'dstaddr'"):
            FlowLogFormat.of("srcaddr", "dstadr")

    def test_unknown_field_without_close_names(self):
        with pytest.raises(FieldError, match="unknown flow-log field 'zzz'"):
            field("zzz")

    def test_duplicates(self):
        with pytest.raises(FieldError, match="duplicate fields in flow-log format: srcaddr"):
            FlowLogFormat.of("srcaddr", "dstaddr", "srcaddr")

    def test_same_field_by_two_names_is_a_duplicate(self):
        with pytest.raises(FieldError, match=r"duplicate.*account_id"):
            FlowLogFormat.of("account-id", "account_id")

    def test_empty(self):
        with pytest.raises(FormatError, match="at least one field"):
            FlowLogFormat.of()

    def test_a_list_instead_of_arguments(self):
        with pytest.raises(FormatError, match="separate arguments"):
            FlowLogFormat.of(["srcaddr", "dstaddr"])  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "log_format is empty"),
            ("   ", "log_format is empty"),
            ("${version}${srcaddr}", "not a '\\${field}' placeholder"),
            ("version srcaddr", "'version' is not a '\\${field}' placeholder"),
            ("${version} ${}", "'\\${}' is not"),
            ("${version", "not a '\\${field}' placeholder"),
        ],
    )
    def test_malformed_format_strings(self, text, message):
        with pytest.raises(FormatError, match=message):
            FlowLogFormat.parse(text)

    def test_parse_unknown_field(self):
        with pytest.raises(FieldError, match="unknown flow-log field 'src-addr'"):
            FlowLogFormat.parse("${version} ${src-addr}")

    def test_parse_non_string(self):
        with pytest.raises(FormatError, match="must be a string"):
            FlowLogFormat.parse(None)  # type: ignore[arg-type]

    def test_field_of_wrong_type(self):
        with pytest.raises(FieldError, match="must be a FlowLogField or a field name"):
            field(3)  # type: ignore[arg-type]

    def test_all_errors_are_value_errors(self):
        assert issubclass(FieldError, ValueError) and issubclass(FormatError, ValueError)


def test_importing_vpcwatch_does_not_load_aws_cdk():
    import subprocess
    import sys

    code = "import sys, vpcwatch; vpcwatch.FlowLogFormat.default(); print('aws_cdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_vpcwatch_or_its_constructs_does_not_load_duckdb_or_numpy():
    """DuckDB and numpy are dependencies for replay only: constructs users never pay
    their import."""
    import subprocess
    import sys

    code = (
        "import sys, vpcwatch, vpcwatch.filterpattern, vpcwatch.detectors;"
        "from vpcwatch import FlowLogMonitoring, FlowLogPipeline, FlowLogTable;"
        "vpcwatch.FlowLogFormat.default(); print({'duckdb', 'numpy'} & set(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "set()"
