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


# -- issue 22: names with control characters, and files as input ------------------------------------

ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ESCAPES = st.sampled_from(["\x1b]0;owned\x07", "\x1b[31m", "\x1b[2J", "\x9b31m", "\r", "\n", "\x07", "\x00", "\u2028"])
HOSTILE_NAME = st.builds(lambda a, e, b: a + e + b, ANY_TEXT, ESCAPES, ANY_TEXT)


def _raw_controls(text: str) -> list[str]:
    return [ch for ch in text if ord(ch) < 32 and ch not in "\t" or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, HOSTILE_NAME))
def test_a_name_in_a_table_cell_a_line_or_a_completion_has_no_raw_control_character(name):
    from ctrtool import completion
    from ctrtool.output import _cell, one_line, printable

    assert not _raw_controls(_cell(name).plain)
    assert not _raw_controls(one_line(name))
    assert not [ch for ch in _raw_controls(printable(name)) if ch != "\n"]
    assert not any(_raw_controls(w) for w in completion.quietly(lambda: [name], ""))
    if name.isprintable():
        assert one_line(name) == name  # plain names are shown as they are


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        ANY_TEXT,
        st.lists(
            st.sampled_from(
                ["a: ", "&x ", "*x", "[", "]", "{", "}", "- ", "\n", "  ", "9" * 40, ".nan", "!!str ", "? "]
            ),
            max_size=30,
        ).map("".join),
    )
)
def test_any_yaml_text_is_a_value_or_one_config_error(text):
    from ctrtool import safeio
    from ctrtool.errors import ConfigError

    try:
        safeio.load_yaml("f.yaml", text, "config file")
    except ConfigError as exc:
        assert exc.exit_code == 2 and exc.message.startswith("config file f.yaml")
