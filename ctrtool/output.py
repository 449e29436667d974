"""One output sink: tables for people, JSON/YAML and quiet lists for scripts.

Data goes to stdout, messages (errors, warnings, notes) to stderr. Rich honours NO_COLOR and prints
no colour when stdout is not a terminal; tables piped to a file are not wrapped at 80 columns.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FORMATS = ("table", "wide", "json", "yaml")


@dataclass(frozen=True)
class Column:
    """A table column. On a terminal narrower than the table (or COLUMNS), columns are left out by
    ``drop`` (the highest number first, as ``kubectl get`` keeps its wide data for ``-o wide``;
    0: never), then ``text`` columns wrap between words and ``path`` columns are shortened in the
    middle with "…". Any other cell (a reference, a name, an id) is never split or shortened: if the
    table still does not fit, its lines run past the edge rather than break an identifier."""

    header: str
    value: Callable[[Any], Any]  # a row (a record or a dict) -> what the cell shows
    wide_only: bool = False
    narrow_only: bool = False  # left out of -o wide, which shows the whole value in a wide_only column
    style: str | None = None
    drop: int = 0
    shape: Literal["id", "path", "text"] = "id"


class Output:
    def __init__(self, fmt: str = "table", quiet: bool = False):
        self.fmt = fmt
        self.quiet = quiet
        self._out = None
        self._err = None

    # -- consoles (created on first use: rich is imported only when needed) -------------
    @property
    def out(self):
        if self._out is None:
            self._out = _console(sys.stdout)
        return self._out

    @property
    def err(self):
        if self._err is None:
            self._err = _console(sys.stderr)
        return self._err

    @property
    def prose_width(self) -> int | None:
        """The width to wrap prose at (:func:`wrap`): the terminal's, or COLUMNS; None into a
        pipe or a file without COLUMNS, where lines are not wrapped (as tables are not)."""
        if self.out.is_terminal or columns_from_env() is not None:
            return self.out.width
        return None

    # -- data ----------------------------------------------------------------------------
    @property
    def structured(self) -> bool:
        return self.fmt in ("json", "yaml") and not self.quiet

    def data(self, obj: Any) -> None:
        """Print ``obj`` as JSON or YAML: plain values, or typed records (dataclasses, enums,
        stores), serialised here once (:func:`ctrtool.model.plain`)."""
        from .model import plain

        obj = plain(obj)
        if self.fmt == "yaml":
            import yaml

            sys.stdout.write(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False))
        else:
            sys.stdout.write(json.dumps(obj, indent=2) + "\n")
        sys.stdout.flush()

    def lines(self, items: Iterable[str]) -> None:
        """Lines of text, each with its control characters escaped (:func:`printable`)."""
        for item in items:
            sys.stdout.write(f"{printable(item)}\n")
        sys.stdout.flush()

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Any],
        *,
        title: str | None = None,
        caption: Sequence[str | tuple[str, str]] = (),
    ) -> list[str]:
        """The table at the terminal's width (:func:`fit`), then its caption. A caption line given as
        ``(HEADER, line)`` is about that column (a footnote, a legend): printed only when the
        column is shown. When a path column had to be shortened, a last line says which and how
        to see it whole. Returns the headers of the columns shortened (for a caller that gives
        their paths whole under the table)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        wide = self.fmt == "wide"
        cols = [c for c in columns if (c.wide_only <= wide) and not (wide and c.narrow_only)]
        cells = [[_cell(col.value(row)) for col in cols] for row in rows]
        # -o wide shows everything whole, as kubectl's does: lines run past a narrow terminal's edge
        layout = fit(cols, cells, MAX_COLUMNS if wide else self.out.width)
        table = Table(
            box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False, header_style="bold"
        )
        for i in layout.keep:
            col = cols[i]
            text = col.shape == "text" and layout.widths[i] < layout.natural[i]
            table.add_column(
                col.header,
                style=col.style,
                no_wrap=not text,
                overflow="fold" if text else "ignore",
                width=layout.widths[i],
            )
        for row in cells:
            table.add_row(*(layout.shown(i, row[i]) for i in layout.keep))
        self._print_table(table, max(layout.total, self.out.width))
        shown = {cols[i].header for i in layout.keep}
        lines = [c if isinstance(c, str) else c[1] for c in caption if isinstance(c, str) or c[0] in shown]
        if layout.dropped:
            names = ", ".join(dict.fromkeys(cols[i].header for i in layout.dropped))
            lines.append(f"(left out at {self.out.width} columns: {names}; -o wide or a wider terminal shows them)")
        if layout.shortened:
            names = ", ".join(dict.fromkeys(cols[i].header for i in layout.shortened))
            lines.append(f"(shortened at {self.out.width} columns: {names}; -o wide shows every path whole)")
        for line in lines:
            self.out.print(Text(line), soft_wrap=True)
        return [cols[i].header for i in layout.shortened]

    def sections(self, blocks: Sequence[tuple[str, Sequence[tuple[str, Any]]]], caption: Sequence[str] = ()) -> None:
        """Key/value blocks, one per thing described (used by ``info``)."""
        from rich import box
        from rich.cells import cell_len
        from rich.table import Table
        from rich.text import Text

        # values wrap between words, never inside one (a path stays whole): the value column is at
        # least as wide as its longest word, and the table runs past a narrower terminal's edge
        def shown(value: Any) -> str:
            return "-" if value in (None, "", []) else one_line(str(value))

        names = max((cell_len(name) for name, _ in blocks), default=0)
        keys = max((cell_len(k) for _, fields in blocks for k, _ in fields), default=0)
        word = max((cell_len(w) for _, fields in blocks for _, v in fields for w in shown(v).split()), default=0)
        table = Table(box=box.SIMPLE_HEAD, show_header=False, show_edge=False, pad_edge=False)
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("field", no_wrap=True)
        # "fold" only splits a word wider than the column, and none is (min_width); "ignore" kept only
        # the first line of a value that wraps
        table.add_column("value", overflow="fold", min_width=word)
        for index, (name, fields) in enumerate(blocks):
            for i, (key, value) in enumerate(fields):
                table.add_row(
                    Text(one_line(name) if i == 0 else ""),
                    Text(one_line(key)),
                    Text(shown(value)),
                    end_section=(i == len(fields) - 1 and index < len(blocks) - 1),
                )
        self._print_table(table, max(self.out.width, names + keys + word + 2 * GAP))
        for line in caption:
            self.out.print(Text(line), soft_wrap=True)

    def _print_table(self, table, width: int | None = None) -> None:
        """On a terminal rich prints as usual; into a pipe or a file, lines lose the padding rich
        puts after the last column, so that grep, diff and editors see no trailing blanks. A table
        that cannot fit is printed at its own ``width``: lines run past the edge, cells stay whole."""
        console = self.out
        if width is not None and width > console.width:
            saved = console.width
            console.width = width  # rich caps print(width=) at the console's width
            try:
                self._print_table(table)
            finally:
                console.width = saved
            return
        if console.is_terminal:
            console.print(table)
            return
        with console.capture() as captured:
            console.print(table)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
        sys.stdout.flush()

    # -- messages (stderr) -----------------------------------------------------------------
    def error(self, message: str, hint: str | None = None) -> None:
        self._message("error", message, "bold red")
        if hint:
            self._message("hint", hint, "dim", indent="  ")

    def warn(self, message: str) -> None:
        self._message("warning", message, "yellow")

    def note(self, message: str) -> None:
        self._message(None, message, "dim")

    def _message(self, label: str | None, message: str, style: str, indent: str = "") -> None:
        from rich.text import Text

        text = Text(indent)
        text.append("ctrtool: " if not indent else "")
        if label:
            text.append(f"{label}: ", style=style)
        text.append(one_line(message))
        self.err.print(text, soft_wrap=True, highlight=False)


GAP = 3  # between columns: padding, the (blank) divider of box.SIMPLE_HEAD, padding
MIN_PATH = 24  # a path is not shortened below this
MIN_TEXT = 12  # nor wrapped narrower than this (or its longest word)
COMFORTABLE_TEXT = 20  # text is wrapped to this before a path is shortened


def _cell(value: Any):
    """A table cell: control characters in it (a name's escape sequence) shown escaped."""
    from rich.text import Text

    if isinstance(value, Text):
        return value if value.plain.isprintable() else Text(one_line(value.plain), style=value.style)
    return Text("-" if value is None else one_line(str(value)))


def _width(text) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.plain.split("\n")), default=0)


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` in ``width`` cells at most, its middle replaced by "…" (a path keeps its root and
    its last part, which say the most)."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) // 2
    head = width - 1 - tail
    start = set_cell_size(text, head).rstrip()
    end = text[::-1]
    kept = ""
    for ch in end:
        if cell_len(kept) + cell_len(ch) > tail:
            break
        kept = ch + kept
    return start + "…" + kept


@dataclass
class Layout:
    """Which columns a table keeps at a width, and how wide each is."""

    keep: list[int]
    dropped: list[int]
    natural: list[int]
    widths: list[int]
    header: list[int]

    @property
    def shortened(self) -> list[int]:
        """The path columns shown narrower than their longest path (cut in the middle)."""
        return [i for i in self.keep if self._shapes[i] == "path" and self.widths[i] < self.natural[i]]

    @property
    def total(self) -> int:
        return sum(self.widths[i] for i in self.keep) + GAP * max(len(self.keep) - 1, 0)

    def shown(self, i: int, text):
        """A cell as printed: a path column narrower than its longest path is shortened in the
        middle; every other cell as it is."""
        if self.widths[i] >= self.natural[i] or self._shapes[i] != "path":
            return text
        from rich.text import Text

        width = self.widths[i]
        return Text("\n".join(middle_ellipsis(line, width) for line in text.plain.split("\n")), style=text.style)

    _shapes: list[str] = field(default_factory=list)


def fit(cols: Sequence[Column], cells: Sequence[Sequence[Any]], width: int) -> Layout:
    """The kubectl-like layout of a table at ``width`` cells: drop columns by priority, then wrap
    text and shorten paths (in the middle), never below their minimums; ids and names stay whole."""
    from rich.cells import cell_len

    header = [cell_len(c.header) for c in cols]
    natural = [max([header[i], *(_width(row[i]) for row in cells)]) for i in range(len(cols))]
    layout = Layout(list(range(len(cols))), [], natural, list(natural), header, [c.shape for c in cols])
    while layout.total > width:
        droppable = [i for i in layout.keep if cols[i].drop > 0]
        if not droppable:
            break
        # the highest drop number goes first; of equal ones the rightmost
        victim = max(droppable, key=lambda i: (cols[i].drop, i))
        layout.keep.remove(victim)
        layout.dropped.append(victim)
    # text columns wrap to a comfortable width first, then paths are shortened, then text wraps
    # down to its longest word
    for shape, comfortable in (("text", COMFORTABLE_TEXT), ("path", MIN_PATH), ("text", MIN_TEXT)):
        for i in layout.keep:
            over = layout.total - width
            if over <= 0:
                break
            if cols[i].shape != shape:
                continue
            if shape == "text":
                words = max((cell_len(w) for row in cells for w in row[i].plain.split()), default=0)
                floor = max(header[i], min(natural[i], max(comfortable, words)))
            else:
                floor = max(header[i], min(natural[i], comfortable))
            layout.widths[i] = max(floor, layout.widths[i] - over)
    layout.dropped.sort()
    return layout


def wrap(line: str, width: int | None, indent: int = 2) -> list[str]:
    """``line`` wrapped at word boundaries to ``width`` cells: a word (a path, a name, an id) is
    never split, so one longer than the width has a line of its own, past the edge. Continuation
    lines are indented ``indent`` more than the line's own text (after its leading blanks and a
    "- " bullet). ``width`` None: not wrapped."""
    import textwrap

    from rich.cells import cell_len

    if width is None or cell_len(line) <= width:
        return [line]
    text = line.lstrip(" ")
    lead = len(line) - len(text)
    bullet = 2 if text.startswith("- ") else 0
    wrapped = textwrap.wrap(
        text,
        width=max(width - lead, 1),
        subsequent_indent=" " * (bullet + indent),
        break_long_words=False,
        break_on_hyphens=False,
    )
    return [" " * lead + x for x in wrapped] or [line]


def printable(text: str) -> str:
    """``text`` to show on a terminal: each line with its control characters escaped
    (:func:`one_line`), the lines kept."""
    if text.isprintable():
        return text
    return "\n".join(one_line(line) for line in text.split("\n"))


def one_line(text: str) -> str:
    """A message as one line: control characters (a newline or an escape sequence in a name, a
    path or a tool's stderr) and Unicode line and paragraph separators shown escaped."""
    import unicodedata

    if text.isprintable():
        return text
    return "".join(
        ch
        if ch == " "
        or ch == "\t"
        or unicodedata.category(ch) not in ("Cc", "Zl", "Zp")
        and ch not in "\x1c\x1d\x1e\x85"
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


MAX_COLUMNS = 10000


def columns_from_env() -> int | None:
    """COLUMNS as a width to use, or None when it is unset or not a sane width ("abc", "-5", "0",
    a million): then it is ignored, as Python's shutil.get_terminal_size and rich ignore it. It
    is a hint shared by every program on the terminal, not a ctrtool setting worth failing for."""
    raw = (os.environ.get("COLUMNS") or "").strip()
    if not raw.isdigit() or not raw.isascii():
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_COLUMNS else None


def _console(stream):
    from rich.console import Console

    kwargs: dict[str, Any] = {"file": stream, "highlight": False}
    width = columns_from_env()
    if not stream.isatty():
        # a pipe or a file: never wrap rows at a guessed width
        kwargs["width"] = width or 1000
    elif width is None and "COLUMNS" in os.environ:
        # rich would take a bad COLUMNS as it is: the terminal's own width instead
        try:
            kwargs["width"] = os.get_terminal_size(stream.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            kwargs["width"] = 80
    return Console(**kwargs)


def human_size(size: int | None) -> str:
    """Binary units, like ``ctr`` and ``du -h``: 1.9 MiB."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # not reached


def short_id(image_id: str | None, length: int = 12) -> str | None:
    if not image_id:
        return None
    return image_id.split(":", 1)[-1][:length]
