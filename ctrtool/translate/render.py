"""Text rendering of translations: a shell snippet that can be pasted as it is.

The command is a plain line; what else there is to say (flags with no equivalent, notes) comes as
`#` comments, so the whole output still runs in a shell; config files come as here-documents
before the command that reads them, a value the command needs from an earlier step as
``NAME=$(...)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from .engine import Translation, join


def heredoc(name: str, content: str) -> list[str]:
    # JSON from json.dumps never has a line that is just EOF (strings keep \n escaped)
    return [f"cat > {join([name])} <<'EOF'", *content.rstrip("\n").split("\n"), "EOF"]


def comment(text: str) -> str:
    """One comment line: control characters (a newline in an argument) are shown escaped, so a
    pasted comment can never end early and run the rest of the line."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\x85":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "# " + "".join(out)


def text_lines(tr: Translation, quiet: bool = False, header: bool = False) -> list[str]:
    lines: list[str] = []
    if header:
        lines.append(comment(tr.tool))
    if tr.argv is None:
        if not quiet:
            lines.append(comment(f"{tr.tool}: no equivalent: {tr.reason}"))
            lines.extend(comment(f"note: {n}") for n in tr.notes)
            lines.extend(_dropped(tr))
        return lines
    for name, content in tr.files.items():
        lines.extend(heredoc(name, content))
    for step in tr.before:
        if step.capture:
            lines.append(f"{step.capture}=$({step.command})")
        else:
            lines.append(step.command)
    lines.append(tr.command or "")
    if not quiet:
        lines.extend(_dropped(tr))
        lines.extend(comment(f"note: {n}") for n in tr.notes)
    return lines


def _dropped(tr: Translation) -> Iterable[str]:
    for u in tr.unsupported:
        yield comment(f"not translated: {u['arg']} ({u['reason']})")


def text(translations: list[Translation], quiet: bool = False) -> list[str]:
    if len(translations) == 1:
        return text_lines(translations[0], quiet)
    out: list[str] = []
    for i, tr in enumerate(translations):
        if i:
            out.append("")
        out.extend(text_lines(tr, quiet, header=not quiet))
    return out
