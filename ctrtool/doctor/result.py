"""What a doctor check returns: a status, the evidence it rests on, and the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass
class Evidence:
    """One fact a check read: the tool call (shell-quoted, as it ran) or the file, and the lines
    of its output or content that matter."""

    source: str
    excerpt: str = ""
    kind: str = "command"  # "command" (a tool call ctrtool made) or "file" (a file it read)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "excerpt": self.excerpt}


@dataclass
class Fix:
    """What to do: commands to run, in order, and/or lines to put in a file (then ``file`` says
    which; ``commands`` may follow, e.g. a restart)."""

    summary: str
    commands: list[str] = field(default_factory=list)
    file: str | None = None
    lines: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary, "commands": self.commands, "file": self.file, "lines": self.lines}


@dataclass
class Result:
    check: str  # the check's name (its module)
    title: str  # what it checks, in a few words
    status: Status
    summary: str  # one line: what was found (for skipped: why it could not run)
    evidence: list[Evidence] = field(default_factory=list)
    fixes: list[Fix] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # more findings, one line each

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON fields (docs/reference.md, `doctor`), in order."""
        return {
            "check": self.check,
            "title": self.title,
            "status": self.status.value,
            "summary": self.summary,
            "details": self.details,
            "evidence": [e.to_dict() for e in self.evidence],
            "fixes": [f.to_dict() for f in self.fixes],
        }


def worst(statuses: list[Status]) -> Status:
    order = [Status.OK, Status.SKIPPED, Status.WARN, Status.FAIL]
    return max(statuses, key=order.index, default=Status.OK)
