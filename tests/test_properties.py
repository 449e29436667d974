"""Property tests where input is open-ended: arguments and ctr's column tables."""

from __future__ import annotations

import json
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from ctrtool import runner
from ctrtool.adapters.ctr import parse_table

# anything a user can type into an argv entry: every character but NUL (argv is NUL-terminated);
# surrogates cannot be encoded to bytes at all
ARG = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(st.lists(ARG, max_size=8))
def test_any_argument_reaches_the_tool_unchanged(args):
    code = "import json,sys; sys.stdout.write(json.dumps(sys.argv[1:]))"
    result = runner.run([sys.executable, "-c", code, *args], timeout=30)
    assert json.loads(result.stdout) == args


CELL = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789:/._-@="), min_size=1, max_size=30)
# ctr cells may hold single spaces ("1.9 MiB") but never two in a row
SPACED = st.builds(lambda a, b: f"{a} {b}", CELL, CELL)


def tabwriter(header: list[str], rows: list[list[str]]) -> str:
    """What ctr's Go text/tabwriter (minwidth 1, padding 1, padchar ' ') produces: each column
    as wide as its widest cell plus one space (compare tests/fixtures/ctr/*images_ls.json)."""
    widths = [max(len(r[i]) for r in [header] + rows) + 1 for i in range(len(header))]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in [header] + rows) + "\n"


@settings(max_examples=200)
@given(
    st.integers(1, 6).flatmap(
        lambda n: st.tuples(
            st.lists(st.from_regex(r"[A-Z]{2,10}", fullmatch=True), min_size=n, max_size=n, unique=True),
            st.lists(st.lists(st.one_of(CELL, SPACED), min_size=n, max_size=n), max_size=6),
        )
    )
)
def test_ctr_tables_parse_back_to_their_cells(table):
    header, rows = table
    parsed = parse_table(tabwriter(header, rows), required=header[:1])
    assert parsed == [dict(zip(header, row)) for row in rows]
