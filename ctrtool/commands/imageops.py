"""Routed image operations: rmi, prune, tag, pull, load, save.

The adapters plan each change (the exact commands); rmi, prune (and save over an existing file)
ask first, every one of them takes --dry-run.
"""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from ..output import Output
from .common import (DryRunOpt, OneBackendOpt, OneNamespaceOpt, YesOpt, carry_out, handle_errors, rerun,
                     settings)

ImagesArg = Annotated[list[str], typer.Argument(metavar="IMAGE...", help="Names, IDs or unique ID prefixes.")]
StoreBackendOpt = Annotated[Optional[str], typer.Option(
    "--backend", "-b", metavar="docker|ctr|crictl",
    help="The tool whose images to prune. Default: the one backend found (an error if there are several).")]


@handle_errors
def rmi(ctx: typer.Context, images: ImagesArg, backend: OneBackendOpt = None, namespace: OneNamespaceOpt = None,
        force: Annotated[bool, typer.Option("--force", "-f", help="docker: remove even if in use or "
                                                                  "tagged in several repositories.")] = False,
        yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    """Remove images (docker image rm; ctr images rm; crictl rmi, which removes the whole image
    with every name it has). Asks first."""
    from .. import core

    out = Output()
    found = core.locate_images(settings(ctx), backend, namespace, images,
                               rerun("rmi", *(["--force"] if force else []), *images))
    plans = [adapter.plan_rmi(image, force) for adapter, image in found]
    if carry_out(out, plans, yes=yes, dry_run=dry_run):
        out.lines(images)


@handle_errors
def prune(ctx: typer.Context, backend: StoreBackendOpt = None, namespace: OneNamespaceOpt = None,
          everything: Annotated[bool, typer.Option(
              "--all", "-a", help="Every image no container uses, not only the dangling (untagged) ones.")] = False,
          yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    """Remove images: the dangling (untagged) ones no container uses, or with --all every image no
    container uses (docker image prune; crictl rmi --prune, which has only the --all kind; ctr has
    no prune). Says which images first, then asks. Prints the IDs of the images removed."""
    from .. import core

    out = Output()
    adapter = core.creation_adapter(settings(ctx), backend, namespace, "prune")
    for removed in carry_out(out, [adapter.plan_prune(everything, namespace)], yes=yes, dry_run=dry_run):
        out.lines(removed)


@handle_errors
def tag(ctx: typer.Context,
        source: Annotated[str, typer.Argument(metavar="SOURCE", help="An existing image.")],
        target: Annotated[str, typer.Argument(metavar="TARGET", help="The new name.")],
        backend: OneBackendOpt = None, namespace: OneNamespaceOpt = None, dry_run: DryRunOpt = False) -> None:
    """Give an image another name (docker tag; ctr images tag). crictl cannot: the CRI has no tag
    call (tag in ctr namespace k8s.io instead)."""
    from .. import core

    out = Output()
    (adapter, image), = core.locate_images(settings(ctx), backend, namespace, [source],
                                           rerun("tag", source, target))
    carry_out(out, [adapter.plan_tag(image, target)], yes=True, dry_run=dry_run)


@handle_errors
def pull(ctx: typer.Context, ref: Annotated[str, typer.Argument(metavar="IMAGE", help="The reference to pull.")],
         backend: OneBackendOpt = None, namespace: OneNamespaceOpt = None, dry_run: DryRunOpt = False) -> None:
    """Pull an image from its registry (docker pull; ctr images pull; crictl pull). The tool's
    progress goes to stderr; the reference pulled is printed on stdout."""
    from .. import core

    out = Output()
    adapter = core.creation_adapter(settings(ctx), backend, namespace, "pull")
    done = carry_out(out, [adapter.plan_pull(ref, namespace)], yes=True, dry_run=dry_run)
    out.lines(done)


@handle_errors
def load(ctx: typer.Context,
         path: Annotated[str, typer.Argument(metavar="FILE", help="An image archive (docker save, ctr export, OCI).")],
         backend: OneBackendOpt = None, namespace: OneNamespaceOpt = None, dry_run: DryRunOpt = False) -> None:
    """Load images from a tar archive (docker load; ctr images import). crictl cannot: import into
    ctr namespace k8s.io, the one the kubelet sees. Prints the images loaded."""
    from .. import core

    out = Output()
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file")
    adapter = core.creation_adapter(settings(ctx), backend, namespace, "load")
    done = carry_out(out, [adapter.plan_load(path, namespace)], yes=True, dry_run=dry_run)
    for refs in done:
        out.lines(refs)


@handle_errors
def save(ctx: typer.Context, images: ImagesArg,
         path: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="The tar archive to write.")],
         backend: OneBackendOpt = None, namespace: OneNamespaceOpt = None,
         yes: YesOpt = False, dry_run: DryRunOpt = False) -> None:
    """Save images to a tar archive (docker save; ctr images export). crictl cannot: export from
    ctr namespace k8s.io. Overwriting an existing file asks first."""
    from .. import core

    out = Output()
    found = core.locate_images(settings(ctx), backend, namespace, images, rerun("save", "-o", path, *images))
    places = {(a.name, i.namespace) for a, i in found}
    if len(places) > 1:
        raise UsageError("the images are in different places; save them one place at a time",
                         "choose one with --backend (and -n for ctr)")
    adapter = found[0][0]
    plan = adapter.plan_save([i for _a, i in found], path, found[0][1].namespace)
    if carry_out(out, [plan], yes=yes, dry_run=dry_run):
        out.note(f"saved {', '.join(images)} to {path}")
