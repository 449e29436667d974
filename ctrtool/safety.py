"""Consent for destructive operations: the one place that decides whether a change may run.

Rules (the same for every command that deletes or stops something):
* ``--dry-run``: print the exact command(s), shell-quoted, one per line on stdout; change nothing.
* ``--yes``: go ahead without asking.
* otherwise, on a terminal (stdin and stderr are TTYs): ask, default no.
* otherwise (a script, a pipe, CI): refuse with :class:`ConsentRefused` (exit code 5) and change nothing.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence

from .errors import EXIT_REFUSED, CtrtoolError


class ConsentRefused(CtrtoolError):
    exit_code = EXIT_REFUSED


def interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def approve(
    what: str,
    commands: Sequence[Sequence[str]],
    *,
    yes: bool = False,
    dry_run: bool = False,
    ask: Callable[[str], bool] | None = None,
    piped: bool = False,
) -> bool:
    """Return True when ``commands`` may run. With ``dry_run`` print them and return False.

    ``what`` says in plain words what will happen, e.g. "remove container web (docker)".
    ``ask`` is the prompt function (default: a y/N question on the terminal).
    ``piped``: the commands are one pipeline (``first | second``) and are shown as one line.
    """
    from .output import one_line

    # names come from tools and files: a control character in one is shown escaped, never sent raw
    lines = [" | ".join(shlex.join(argv) for argv in commands)] if piped else [shlex.join(argv) for argv in commands]
    lines = [one_line(line) for line in lines]
    what = one_line(what)
    if dry_run:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return False
    if yes:
        return True
    if not interactive():
        raise ConsentRefused(
            f"refusing to {what} without confirmation: not on a terminal",
            "add --yes to confirm, or --dry-run to see the command(s)",
        )
    question = f"{what}?\n" + "".join(f"  {line}\n" for line in lines) + "Proceed? [y/N] "
    answer = (ask or _ask)(question)
    if not answer:
        raise ConsentRefused(f"did not {what}: not confirmed", "nothing was changed")
    return True


def _ask(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        reply = sys.stdin.readline()
    except KeyboardInterrupt:
        return False
    return reply.strip().lower() in ("y", "yes")
