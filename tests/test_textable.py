"""Tables align at any width: columns are as wide as their widest cell."""

from __future__ import annotations

from vpcwatch.textable import table


def test_columns_follow_their_widest_cell():
    rows = [("item", "quantity", "USD"), ("storage at a long retention", "7,300 GB-month", "$219"),
            ("a free line, as long as it likes",), ("alarms", "9", "$0.90")]  # fmt: skip
    lines = table(rows, right=(False, True, True))
    widths = {len(line) for line in lines if "free line" not in line}
    assert len(widths) == 1  # every row of cells ends at the same column
    assert lines[1].index("7,300") == lines[3].index("9") - len("7,300 GB-month") + 1
    assert lines[2] == "  a free line, as long as it likes"
