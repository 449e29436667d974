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


VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Also the details and the evidence of each problem (the tool calls and files read, and the lines "
        "that show it), as -o wide, json and yaml have them.",
    ),
]


@handle_errors
def doctor(
    ctx: typer.Context,
    image: ImageOpt = None,
    checks: ChecksOpt = None,
    output: OutputOpt = "table",
    verbose: VerboseOpt = False,
) -> None:
    """Check this node's container tooling and say what is wrong, why (the tool call or file read,
    and the lines that show it) and how to fix it (exact commands, or config lines and their file).
    Only reads; changes nothing. Checks: endpoints, CRI plugin, sandbox (pause) image, --image,
    snapshotter consistency, disk, versions. Exit status: 0 every check ok, 1 a problem found (warn
    or fail), 3 no problem found but some checks could not run (skipped, with the reason). The
    table is one line per check and the fix of each problem; -v (or -o wide) adds the evidence."""
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
        fmt, verbose = "table", True
    out = Output(fmt)
    if image is not None:
        check_names("image", [image])
    results = run_checks(settings(ctx), Options(image=image), names)
    if out.structured:
        out.data(results)
    else:
        out.lines(render(results) if verbose else brief(results, out.prose_width))
    raise typer.Exit(exit_code(results))


def brief(results: list, width: int | None) -> list[str]:
    """The short report: one line per check (wrapped at the terminal's width between words, the
    rest indented) and the fix of each problem (a lone check, its findings too); the evidence is
    behind -v."""
    from ..output import wrap

    lines: list[str] = []
    for r in results:
        lines += wrap(f"[{_MARK[r.status.value]}] {r.check}: {r.summary}", width, indent=4)
        if len(results) == 1:  # one check asked for (--check): its findings too
            lines += [x for d in r.details if d != r.summary for x in wrap(f"    {d}", width)]
        for f in r.fixes:
            lines += wrap(f"    fix: {f.summary}", width)
            if f.file:
                lines += wrap(f"      in {f.file}:", width)
                lines += [f"        {x}" for x in f.lines]
            lines += [f"      $ {c}" for c in f.commands]  # a command stays whole, to paste
    lines.append(_counts(results))
    if any(r.status.value in ("warn", "fail") and (r.evidence or r.details) for r in results):
        lines.append("(-v shows the details and the evidence of each problem)")
    return lines


def _counts(results: list) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in counts.items())


def render(results: list) -> list[str]:
    """The full report (-v): one block per check, its findings, evidence and fix, indented."""
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
    lines.append(_counts(results))
    return lines
