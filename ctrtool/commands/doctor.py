"""`ctrtool doctor`: what is wrong with this node's container tooling, the evidence, and the fix."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import completion
from ..output import Output
from .common import OutputOpt, check_format, check_names, handle_errors, settings

ImageOpt = Annotated[
    Optional[str],
    typer.Option(
        "--image",
        metavar="REF",
        autocompletion=completion.images,
        help="Also check that the kubelet can start a container from this image without pulling it.",
    ),
]


def _check_names(incomplete: str) -> list[str]:
    from ..doctor import CHECKS

    return [c for c in CHECKS if c.startswith(incomplete)]


ChecksOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--check",
        metavar="NAME",
        autocompletion=_check_names,
        help="Run only this check (repeatable): endpoints, cri_plugin, sandbox_image, image, snapshotter, disk, "
        "versions. Default: all (image only with --image).",
    ),
]

_VERB = {"file": "read", "command": "ran", "system": "measured"}
_MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "skipped": "skipped"}


@handle_errors
def doctor(ctx: typer.Context, image: ImageOpt = None, checks: ChecksOpt = None, output: OutputOpt = "table") -> None:
    """Check this node's container tooling and say what is wrong, why (the tool call or file read,
    and the lines that show it) and how to fix it (exact commands, or config lines and their file).
    Only reads; changes nothing. Checks: endpoints, CRI plugin, sandbox (pause) image, --image,
    snapshotter consistency, disk, versions. Exit status: 0 every check ok, 1 a problem found (warn
    or fail), 3 no problem found but some checks could not run (skipped, with the reason)."""
    from ..doctor import CHECKS, Options, exit_code, run_checks
    from ..errors import UsageError

    unknown = [c for c in checks or [] if c not in CHECKS]
    if unknown:
        raise UsageError(f"no check named {unknown[0]!r}", f"choose from {', '.join(CHECKS)}")
    if "image" in (checks or []) and image is None:
        raise UsageError("the image check needs --image REF")
    names = tuple(c for c in CHECKS if c in checks) if checks else CHECKS
    fmt = check_format(output)
    if fmt == "wide":
        fmt = "table"
    out = Output(fmt)
    if image is not None:
        check_names("image", [image])
    results = run_checks(settings(ctx), Options(image=image), names)
    if out.structured:
        out.data(results)
    else:
        out.lines(render(results))
    raise typer.Exit(exit_code(results))


def render(results: list) -> list[str]:
    """The human report: one block per check, its findings, evidence and fix, indented."""
    lines: list[str] = []
    for r in results:
        lines.append(f"[{_MARK[r.status.value]}] {r.check}: {r.summary}")
        if r.status.value != "ok" or len(results) == 1:
            lines += [f"    {d}" for d in r.details if d != r.summary]
        for e in r.evidence if r.status.value != "ok" else []:
            lines.append(f"    evidence ({_VERB.get(e.kind, e.kind)}): {e.source}")
            lines += [f"      | {x}" for x in e.excerpt.splitlines()]
        for f in r.fixes:
            lines.append(f"    fix: {f.summary}")
            if f.file:
                lines.append(f"      in {f.file}:")
                lines += [f"        {x}" for x in f.lines]
            lines += [f"      $ {c}" for c in f.commands]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return lines
