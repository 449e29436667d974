"""`ctrtool translate`: what is `docker X` with crictl, ctr, nerdctl or podman, flag by flag; --run runs it."""

from __future__ import annotations

import shutil
from typing import Annotated, Optional

import typer

from .. import completion
from ..errors import EXIT_NO_EQUIVALENT, EXIT_OK, UsageError
from ..output import Output
from .common import handle_errors

TO_CHOICES = ("crictl", "ctr", "nerdctl", "podman", "all")
TRANSLATE_FORMATS = ("text", "json", "yaml")

# options end at the first word that is not one: `ctrtool translate --to ctr docker ps -a`
# hands `docker ps -a` over untouched (`--` before it works too)
CONTEXT_SETTINGS = {"allow_interspersed_args": False}


@handle_errors
def translate(
    ctx: typer.Context,
    docker_args: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[--] [docker] COMMAND [ARGS]...",
            autocompletion=completion.docker_words,
            help="The docker command line, with or without the word docker.",
        ),
    ] = None,
    to: Annotated[
        str,
        typer.Option(
            "--to", "-t", metavar="|".join(TO_CHOICES), help="Target tool; all = crictl, ctr, nerdctl and podman."
        ),
    ] = "crictl",
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="|".join(TRANSLATE_FORMATS),
            help="text: the command(s) as a shell snippet, notes as # comments; json/yaml: the fields "
            "tool, argv, command, reason, unsupported, notes, files, before.",
        ),
    ] = "text",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the command(s), no comments.")] = False,
    namespace: Annotated[
        str,
        typer.Option(
            "--namespace",
            "-n",
            metavar="NS",
            help="containerd namespace for ctr and nerdctl (k8s.io: the CRI's, which the kubelet sees).",
        ),
    ] = "k8s.io",
    run: Annotated[
        bool, typer.Option("--run", help="Run the translation (crictl or ctr) through ctrtool's adapters.")
    ] = False,
    resolve: Annotated[
        bool,
        typer.Option(
            "--resolve",
            help="With --run: kept for scripts; --run always turns container names into the IDs the tool wants (one listing, said on stderr).",
        ),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="With --run: do not ask before a destructive command.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --run: print the exact command(s) that would run, run nothing.")
    ] = False,
    ignore_unsupported: Annotated[
        bool,
        typer.Option("--ignore-unsupported", help="With --run: run even when some docker flags have no equivalent."),
    ] = False,
) -> None:
    """Translate a docker command into crictl, ctr, nerdctl or podman, flag by flag, and say what has no equivalent and why.

    Example: ctrtool translate --to ctr -- docker image rm -f busybox

    Exit status: 0 translated (flags without an equivalent are listed as "# not translated"), 2 not a valid or covered docker command, 4 the target has no equivalent (--to all: none has one), 5 --run refused a destructive command without consent.
    """
    from ..translate import TARGETS, translate_all
    from ..translate.render import text

    if to not in TO_CHOICES:
        raise UsageError(f"--to {to!r} is not one of {', '.join(TO_CHOICES)}")
    if output not in TRANSLATE_FORMATS:
        raise UsageError(f"-o {output!r} is not one of {', '.join(TRANSLATE_FORMATS)}")
    argv = list(docker_args or [])
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("no docker command to translate", "e.g. ctrtool translate -- docker ps -a")
    flags_only_with_run = [
        name
        for name, on in (
            ("--resolve", resolve),
            ("--yes", yes),
            ("--dry-run", dry_run),
            ("--ignore-unsupported", ignore_unsupported),
        )
        if on
    ]
    if flags_only_with_run and not run:
        raise UsageError(f"{', '.join(flags_only_with_run)} only go(es) with --run")
    if run and to == "all":
        raise UsageError("--run needs one target: --to crictl or --to ctr")
    if run and output != "text":
        raise UsageError("--run prints the tool's own output: -o json/yaml applies to translations only")

    tools = TARGETS if to == "all" else (to,)
    translations = translate_all(argv, tools, namespace)
    for tr in translations:
        if tr.tool == "nerdctl" and not shutil.which("nerdctl"):
            tr.notes.append("nerdctl is not installed here: this follows nerdctl's command reference.")
        if tr.tool == "podman" and not shutil.which("podman"):
            tr.notes.append("podman is not installed here: this follows podman 4.3.1's --help.")

    if run:
        from ..translate.run import run as run_translation
        from .common import settings

        raise typer.Exit(
            run_translation(
                translations[0],
                settings(ctx),
                yes=yes,
                dry_run=dry_run,
                resolve=resolve,
                ignore_unsupported=ignore_unsupported,
                quiet=quiet,
            )
        )

    out = Output("json" if output == "json" else "yaml" if output == "yaml" else "table", quiet)
    if output == "text":
        out.lines(text(translations, quiet))
    else:
        data = [t.to_dict() for t in translations]
        out.data(data if to == "all" else data[0])
    if all(t.argv is None for t in translations):
        raise typer.Exit(EXIT_NO_EQUIVALENT)
    raise typer.Exit(EXIT_OK)
