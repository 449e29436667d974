"""The table layout at a terminal's width (ctrtool.output.fit): columns are left out by priority,
then text wraps and paths are shortened in the middle; an identifier is never split or shortened."""

from __future__ import annotations

import io

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from ctrtool.output import GAP, MIN_PATH, Column, Output, fit, middle_ellipsis, wrap

printable = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x2FFF, exclude_categories=("Cc", "Cs", "Zs")),
    min_size=1,
    max_size=80,
)


@given(printable, st.integers(min_value=1, max_value=100))
def test_middle_ellipsis_keeps_the_head_and_the_tail_within_the_width(text, width):
    got = middle_ellipsis(text, width)
    assert cell_len(got) <= width
    if cell_len(text) <= width:
        assert got == text
    else:
        head, _, tail = got.partition("…")
        assert "…" in got and text.startswith(head) and text.endswith(tail)


COLS = [
    Column("NAME", lambda r: r[0]),
    Column("WHAT", lambda r: r[1], shape="text"),
    Column("EXTRA", lambda r: r[2], drop=2),
    Column("MORE", lambda r: r[3], drop=1),
    Column("PATH", lambda r: r[4], shape="path"),
]


def _cells(rows):
    return [[Text(str(v)) for v in row] for row in rows]


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z0-9][a-z0-9./:-]{0,40}", fullmatch=True),
            st.lists(st.from_regex(r"[a-z]{1,10}", fullmatch=True), min_size=1, max_size=6).map(" ".join),
            st.from_regex(r"[a-z]{1,15}", fullmatch=True),
            st.from_regex(r"[a-z]{1,15}", fullmatch=True),
            st.from_regex(r"/[a-z0-9/]{1,100}", fullmatch=True),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=20, max_value=200),
)
def test_the_layout_fits_by_dropping_then_wrapping_then_shortening_never_splitting_an_id(rows, width):
    cells = _cells(rows)
    layout = fit(COLS, cells, width)
    names = [COLS[i].header for i in layout.keep]
    assert "NAME" in names and "WHAT" in names and "PATH" in names  # drop=0: never left out
    # columns go in priority order: MORE (1) never goes while EXTRA (2) stays
    assert not ("EXTRA" in names and "MORE" not in names)
    name = layout.keep.index(0)
    assert layout.widths[layout.keep[name]] == layout.natural[0]  # an id keeps its whole width
    if layout.total > width:
        # it could not fit: everything that may give has given
        assert layout.dropped == [2, 3]
        assert layout.widths[4] == min(layout.natural[4], max(MIN_PATH, len("PATH")))
    else:
        assert layout.total == sum(layout.widths[i] for i in layout.keep) + GAP * (len(layout.keep) - 1)


def _render(width: int, rows, fmt: str = "table", caption=()) -> str:
    out = Output(fmt)
    from rich.console import Console

    buf = io.StringIO()
    out._out = Console(file=buf, width=width, force_terminal=True, color_system=None)
    out.table(COLS, rows, caption=caption)
    return buf.getvalue()


def test_a_table_on_a_narrow_terminal_keeps_ids_whole_and_says_what_it_left_out():
    rows = [
        (
            "example.local/many/a-very-long-name:83",
            "a few words of text here",
            "x" * 12,
            "y" * 12,
            "/var/lib/" + "d" * 90,
        ),
        ("app:2", "short", "e", "m", "/p"),
    ]
    screen = _render(80, rows)
    lines = screen.splitlines()
    rule = next(line for line in lines if set(line.strip()) == {"─"})
    assert len(rule) <= 80
    assert any("example.local/many/a-very-long-name:83" in line for line in lines)
    assert "/var/lib/d" in screen and "…" in screen and ("d" * 90) not in screen
    assert "(left out at 80 columns: EXTRA, MORE; -o wide or a wider terminal shows them)" in screen
    assert "(shortened at 80 columns: PATH; -o wide shows every path whole)" in screen
    wide = _render(400, rows)
    assert "left out" not in wide and "shortened" not in wide and "/var/lib/" + "d" * 90 in wide


def test_a_caption_line_about_a_column_is_printed_only_with_its_column():
    rows = [("app:2", "a few words of text here", "x" * 30, "y" * 30, "/var/lib/" + "d" * 30)]
    caption = ["about the table", ("MORE", "[1] a footnote of MORE"), ("NAME", "NAME: a legend")]
    narrow = _render(80, rows, caption=caption).splitlines()
    assert "MORE" not in narrow[0] and "[1] a footnote of MORE" not in narrow
    assert "about the table" in narrow and "NAME: a legend" in narrow
    assert "[1] a footnote of MORE" in _render(400, rows, caption=caption).splitlines()


@given(
    st.lists(st.from_regex(r"[a-z/._-]{1,40}", fullmatch=True), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=6),
    st.booleans(),
    st.integers(min_value=10, max_value=120),
)
def test_wrap_breaks_between_words_only_and_indents_what_follows(words, lead, bullet, width):
    # a line whose first word is "-" is a bulleted line, whatever the draw called it (hypothesis
    # found words ["-", "_", ...] drawn as not bulleted: wrap rightly indented them as a bullet's)
    assume(bullet or words[0] != "-")
    line = " " * lead + ("- " if bullet else "") + " ".join(words)
    got = wrap(line, width)
    assert [w for g in got for w in g.split()] == line.split()  # every word whole, in order
    for i, g in enumerate(got):
        assert len(g) <= width or len(g.split()) == 1 + (bullet and i == 0)
        indent = len(g) - len(g.lstrip(" "))
        assert indent == (lead if i == 0 else lead + 2 * bullet + 2)


def test_a_table_too_wide_even_after_everything_gave_runs_past_the_edge_rather_than_split_an_id():
    long_id = "registry.example.com/" + "n" * 120 + ":1"
    screen = _render(60, [(long_id, "t", "e", "m", "/p")])
    assert any(long_id in line for line in screen.splitlines())


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_info_sections_wrap_values_between_words_and_lose_none(columns, monkeypatch, capsys):
    """A value longer than its column (a user's store: a path, then words) wraps between words;
    no word is cut and none is dropped (rich's "ignore" overflow kept only the first line)."""
    from ctrtool.output import Output

    monkeypatch.setenv("COLUMNS", str(columns))
    path = "/tmp/pw/home/alice/.local/share/containers/storage"
    value = f"alice: {path} (rootless; its directory owned by uid 4242)"
    Output().sections([("podman", [("version", "4.3.1"), ("user store", value), ("images", 2)])])
    out = capsys.readouterr().out
    words = out.split()
    assert path in words and "4242)" in words and "(rootless;" in words, out
    assert all(w in words for w in value.split()), out
