"""`ctrtool copy IMAGE --from STORE --to STORE`: stream an image from one store into another."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .. import completion
from ..errors import UsageError
from ..output import Output
from .common import DryRunOpt, YesOpt, carry_out, check_names, check_namespace, handle_errors, settings

STORES = "docker|ctr[:NS]|crictl"

FromOpt = Annotated[
    str, typer.Option("--from", metavar=STORES, autocompletion=completion.stores, help="Where the image is now.")
]
ToOpt = Annotated[
    str,
    typer.Option(
        "--to", metavar=STORES, autocompletion=completion.stores, help="Where to put it (crictl: ctr namespace k8s.io)."
    ),
]


def parse_store(text: str, option: str) -> tuple[str, Optional[str]]:
    """ "docker", "crictl", "ctr" (its default namespace) or "ctr:NS" -> (backend, namespace)."""
    from ..adapters import BACKENDS, get_descriptor

    backend, _, namespace = text.partition(":")
    if (
        backend not in BACKENDS
        or (namespace and not get_descriptor(backend).selects_namespace)
        or (_ and not namespace)
    ):
        raise UsageError(
            f"{option} {text!r}: expected {STORES}",
            "docker's store; ctr:NS for a containerd namespace; crictl for the kubelet's (k8s.io)",
        )
    return backend, check_namespace(namespace or None, f"{option} ctr:NS:")


@handle_errors
def copy(
    ctx: typer.Context,
    image: Annotated[
        str,
        typer.Argument(metavar="IMAGE", autocompletion=completion.images, help="Image name, ID or unique ID prefix."),
    ],
    source: FromOpt,
    target: ToOpt,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Copy an image from one store to another without a temporary file: the source's export
    (docker save; ctr images export) is streamed into the target's import (docker load; ctr
    images import), with a progress bar on a terminal. crictl has no import or export: the data
    goes through ctr namespace k8s.io and crictl checks the result. Afterwards the target tool is
    asked whether it sees the image, and where it now is is printed. Replacing a reference the
    target already has asks first (--yes); --dry-run prints the pipeline."""
    import shlex

    from ..core.copying import copy_plan

    out = Output()
    check_names("image", [image])
    src, dst = parse_store(source, "--from"), parse_store(target, "--to")

    def elsewhere(backend: str, namespace: Optional[str]) -> str:
        """The copy from where the image is instead (for the not-found hint)."""
        from ..adapters import get_descriptor

        spec = f"{backend}:{namespace}" if get_descriptor(backend).selects_namespace and namespace else backend
        return shlex.join(["ctrtool", "copy", image, "--from", spec, "--to", target])

    plan, where, cost = copy_plan(settings(ctx), image, src, dst, elsewhere)
    if cost is not None:
        out.note(f"{plan.what}")  # what it will add, before anything runs (and with --dry-run)
    for found in carry_out(out, [plan], yes=yes, dry_run=dry_run):
        names = ", ".join(dict.fromkeys(r.ref or r.id for r in found))
        out.note(f"{image} is now in {where}: {names}")
        if cost is not None and cost.added is not None:
            from ..output import human_size

            out.note(
                f"it added {human_size(cost.added)} ({cost.added} bytes) under {cost.root} "
                "(measured before and after, its databases aside)"
            )
        out.lines([image])
