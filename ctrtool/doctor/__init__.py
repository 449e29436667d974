"""`ctrtool doctor`: read-only checks of a node's container tooling, each with its evidence and fix.

A check is one module in ``ctrtool.doctor.checks`` with ``NAME``, ``TITLE`` and
``run(probe, options) -> Result``; adding a check is adding its module and its name to ``CHECKS``.
Checks read only: the tool calls the adapters make to list and describe, and files.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .result import Evidence, Fix, Result, Status, worst

__all__ = ["CHECKS", "Evidence", "Fix", "Options", "Result", "Skip", "Status", "exit_code", "run_checks", "worst"]

# in the order an operator looks: can the tools reach the daemons, is the CRI there, can pods start,
# the image asked about, then storage and versions
CHECKS = ("endpoints", "cri_plugin", "sandbox_image", "image", "snapshotter", "disk", "versions")


class Skip(Exception):
    """Raised by a check that cannot run here: a tool missing, a daemon not answering, not root."""

    def __init__(self, reason: str, evidence: list[Evidence] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence or []


@dataclass
class Options:
    image: str | None = None  # --image REF


def check_module(name: str) -> Any:
    return importlib.import_module(f"{__name__}.checks.{name}")


def run_checks(settings: Any, options: Options, names: tuple[str, ...] = CHECKS) -> list[Result]:
    from ..errors import CtrtoolError
    from .probe import Probe

    results = []
    with Probe(settings) as probe:
        for name in names:
            module = check_module(name)
            if getattr(module, "NEEDS_IMAGE", False) and not options.image:
                continue  # asked for with --image only
            try:
                results.append(module.run(probe, options))
            except Skip as exc:
                results.append(Result(name, module.TITLE, Status.SKIPPED, exc.reason, evidence=exc.evidence))
            except CtrtoolError as exc:
                reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
                results.append(Result(name, module.TITLE, Status.SKIPPED, f"could not run: {reason}"))
    return results


def exit_code(results: list[Result]) -> int:
    """0: every check ok; 1: a problem found (warn or fail); 3: no problem found, but some checks
    could not run."""
    statuses = [r.status for r in results]
    if Status.FAIL in statuses or Status.WARN in statuses:
        return 1
    if Status.SKIPPED in statuses:
        return 3
    return 0
