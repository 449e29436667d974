"""One output sink: tables for people, JSON/YAML and quiet lists for scripts.

Data goes to stdout, messages (errors, warnings, notes) to stderr. Rich honours NO_COLOR and prints
no colour when stdout is not a terminal; tables piped to a file are not wrapped at 80 columns.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

FORMATS = ("table", "wide", "json", "yaml")


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], Any]  # a row (a record or a dict) -> what the cell shows
    wide_only: bool = False
    narrow_only: bool = False  # left out of -o wide, which shows the whole value in a wide_only column
    style: str | None = None
    no_wrap: bool = False
    # paths and references are never cut short with "…": on a narrow terminal they fold onto
    # the next line, so what is printed can still be copied
    overflow: Literal["fold", "crop", "ellipsis", "ignore"] = "fold"


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
        for item in items:
            sys.stdout.write(f"{item}\n")
        sys.stdout.flush()

    def table(
        self, columns: Sequence[Column], rows: Sequence[Any], *, title: str | None = None, caption: Sequence[str] = ()
    ) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        wide = self.fmt == "wide"
        cols = [c for c in columns if (c.wide_only <= wide) and not (wide and c.narrow_only)]
        table = Table(
            box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False, pad_edge=False, header_style="bold"
        )
        for col in cols:
            table.add_column(col.header, no_wrap=col.no_wrap, style=col.style, overflow=col.overflow)
        for row in rows:
            cells = []
            for col in cols:
                value = col.value(row)
                cells.append(value if isinstance(value, Text) else Text("-" if value is None else str(value)))
            table.add_row(*cells)
        self._print_table(table)
        for line in caption:
            self.out.print(Text(line), soft_wrap=True)

    def sections(self, blocks: Sequence[tuple[str, Sequence[tuple[str, Any]]]], caption: Sequence[str] = ()) -> None:
        """Key/value blocks, one per thing described (used by ``info``)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_header=False, show_edge=False, pad_edge=False)
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("field", no_wrap=True)
        table.add_column("value", overflow="fold")
        for index, (name, fields) in enumerate(blocks):
            for i, (key, value) in enumerate(fields):
                table.add_row(
                    Text(name if i == 0 else ""),
                    Text(key),
                    Text("-" if value in (None, "", []) else str(value)),
                    end_section=(i == len(fields) - 1 and index < len(blocks) - 1),
                )
        self._print_table(table)
        for line in caption:
            self.out.print(Text(line), soft_wrap=True)

    def _print_table(self, table) -> None:
        """On a terminal rich prints as usual; into a pipe or a file, lines lose the padding rich
        puts after the last column, so that grep, diff and editors see no trailing blanks."""
        if self.out.is_terminal:
            self.out.print(table)
            return
        with self.out.capture() as captured:
            self.out.print(table)
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
