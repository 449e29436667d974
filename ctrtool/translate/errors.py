"""The errors of `ctrtool translate`, each with its exit code (docs/reference.md)."""

from __future__ import annotations

from ..errors import EXIT_NO_EQUIVALENT, EXIT_USAGE, CtrtoolError


class Unsupported(Exception):
    """This value cannot be translated; ``str(exc)`` says why (raised by the converters and the
    templates, turned into a note or a NoEquivalent by the engine)."""


class DockerUsageError(CtrtoolError):
    """The docker command line itself is wrong (unknown command or flag, missing value, bad
    argument count): docker would refuse it too. Exit 2."""

    exit_code = EXIT_USAGE


class NotCovered(CtrtoolError):
    """A real docker command that ctrtool has no translation table for. Exit 2."""

    exit_code = EXIT_USAGE


class NoEquivalent(CtrtoolError):
    """The target tool has no equivalent (or --run refused an incomplete translation). Exit 4."""

    exit_code = EXIT_NO_EQUIVALENT


class TableError(CtrtoolError):
    """A translation table (YAML under ctrtool/translate/data/) that cannot be used: names the
    file and the entry. A packaging or editing mistake, not the user's: exit 1."""

    def __init__(self, path: str, entry: str | None, problem: str):
        where = f"{path}: {entry}" if entry else path
        super().__init__(
            f"translation table {where}: {problem}",
            "the table is part of ctrtool: fix the entry (see docs/translate.md for the format)",
        )
        self.path = path
        self.entry = entry
        self.problem = problem
