"""Routed image operations: rmi, prune, tag, pull, load, save.

The adapters plan each change (the exact commands); rmi, prune, a tag or load that moves an
existing name, and save over an existing file ask first; every one of them takes --dry-run.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Optional

import typer

from .. import completion
from ..errors import UsageError
from ..output import Output
from .common import (
    DryRunOpt,
    OneBackendOpt,
    OneNamespaceOpt,
    YesOpt,
    carry_out,
    check_names,
    handle_errors,
    rerun,
    settings,
)

ImagesArg = Annotated[
    list[str],
    typer.Argument(metavar="IMAGE...", autocompletion=completion.images, help="Names, IDs or unique ID prefixes."),
]
StoreBackendOpt = Annotated[
    Optional[str],
    typer.Option(
        "--backend",
        "-b",
        metavar="docker|ctr|crictl",
        help="The tool whose images to prune. Default: the one backend found (an error if there are several).",
    ),
]


@handle_errors
def rmi(
    ctx: typer.Context,
    images: ImagesArg,
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="docker: remove even if in use or tagged in several repositories; crictl: even if a running container uses it.",
        ),
    ] = False,
    if_id: Annotated[
        Optional[str],
        typer.Option(
            "--if-id",
            metavar="ID",
            help="Remove only if every IMAGE is still the image with this ID (or ID prefix); else remove nothing. "
            "df --plan's steps use it, so that a name moved since the plan is not removed.",
        ),
    ] = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove images (docker image rm; ctr images rm; crictl rmi, which removes the whole image
    with every name it has). Asks first."""
    from ..core.routing import locate_images

    check_names("image", images)
    want = image_id(if_id) if if_id is not None else None  # checked before any tool is asked
    out = Output()
    found = locate_images(
        settings(ctx), backend, namespace, images, rerun("rmi", *(["--force"] if force else []), *images), complete=True
    )
    if want is not None:
        still(found, want)
    plans = [adapter.plan_rmi(image, force) for adapter, image in once(found)]
    if carry_out(out, plans, yes=yes, dry_run=dry_run):
        out.lines(images)


def image_id(expected: str) -> str:
    """--if-id's value as hex digits (``sha256:`` taken off), or a usage error."""
    want = expected.removeprefix("sha256:").lower()
    if len(want) < 12 or len(want) > 64 or any(c not in "0123456789abcdef" for c in want):
        raise UsageError(f"--if-id {expected!r} is not an image ID", "give 12 to 64 hex digits")
    return want


def still(found: list, want: str) -> None:
    """Every image found is still the one with the ID ``want`` (a prefix will do), or nothing is
    removed."""
    from ..errors import CtrtoolError

    for _adapter, image in found:
        have = (image.id or "").removeprefix("sha256:")
        if not have.startswith(want):
            raise CtrtoolError(
                f"{image.ref} is now image {have[:12] or 'with no ID'}, not {want[:12]}: nothing removed",
                "the name was moved since the plan was made: make the plan again (`ctrtool df --plan`)",
            )


def once(found: list) -> list:
    """One (adapter, target) per image name in each place: ``myapp:2`` and
    ``docker.io/library/myapp:2`` are two spellings of one name, and the tool would fail on the
    second after removing the first."""
    from ..refs import canonical

    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for adapter, image in found:
        key = (adapter.name, image.namespace, canonical(image.ref) if image.ref else "")
        if key not in seen:
            seen.add(key)
            out.append((adapter, image))
    return out


@handle_errors
def prune(
    ctx: typer.Context,
    backend: StoreBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    everything: Annotated[
        bool, typer.Option("--all", "-a", help="Every image no container uses, not only the dangling (untagged) ones.")
    ] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove images: the dangling (untagged) ones no container uses, or with --all every image no
    container uses (docker image prune; crictl rmi --prune, which has only the --all kind; ctr has
    no prune). Says which images first, then asks. Prints the IDs of the images removed."""
    from ..core.routing import creation_adapter

    out = Output()
    adapter = creation_adapter(settings(ctx), backend, namespace, "prune")
    for removed in carry_out(out, [adapter.plan_prune(everything, namespace)], yes=yes, dry_run=dry_run):
        out.lines(removed)


@handle_errors
def tag(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", autocompletion=completion.images, help="An existing image.")
    ],
    target: Annotated[str, typer.Argument(metavar="TARGET", help="The new name.")],
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Give an image another name (docker tag; ctr images tag). crictl cannot: the CRI has no tag
    call (tag in ctr namespace k8s.io instead). A TARGET that already names another image is
    moved away from it: that asks first."""
    from ..core.routing import existing_images, locate_images

    check_names("image", [source, target])
    out = Output()
    ((adapter, image),) = locate_images(
        settings(ctx), backend, namespace, [source], rerun("tag", source, target), complete=True
    )
    now = existing_images(adapter, image.namespace, [target]).get(target)
    if now is not None and image.id and now.id == image.id:
        out.note(f"{target} already names {image.ref} ({image.id[:19]}); nothing to do")
        return
    carry_out(out, [adapter.plan_tag(image, target, now)], yes=yes, dry_run=dry_run)


@handle_errors
def pull(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="IMAGE", help="The reference to pull.")],
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Pull an image from its registry (docker pull; ctr images pull; crictl pull). The tool's
    progress goes to stderr; the reference pulled is printed on stdout."""
    from ..core.routing import creation_adapter

    check_names("image", [ref])
    out = Output()
    adapter = creation_adapter(settings(ctx), backend, namespace, "pull")
    done = carry_out(out, [adapter.plan_pull(ref, namespace)], yes=True, dry_run=dry_run)
    out.lines(done)


@handle_errors
def load(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(metavar="FILE", help="An image archive (docker save, ctr export, OCI).")],
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Load images from a tar archive (docker load; ctr images import). crictl cannot: import into
    ctr namespace k8s.io, the one the kubelet sees. Prints the images loaded. Names in the archive
    that already name other images here are moved to the loaded ones: that asks first."""
    from ..core.routing import creation_adapter, existing_images

    out = Output()
    if not path or not os.path.isfile(path):
        raise UsageError(f"{path}: no such file" if path else "an empty FILE name")
    adapter = creation_adapter(settings(ctx), backend, namespace, "load")
    inside = archive_images(path)
    if inside is None:
        replaces = ["whatever names the archive holds (it could not be read)"]
    else:
        now = existing_images(adapter, namespace, list(inside))
        replaces = [ref for ref, record in now.items() if not (inside[ref] and record.id == inside[ref])]
    done = carry_out(out, [adapter.plan_load(path, namespace, replaces)], yes=yes, dry_run=dry_run)
    for refs in done:
        out.lines(refs)


def archive_images(path: str) -> dict[str, str | None] | None:
    """The image names an archive holds, each with its image id when the archive says it: a
    `docker save` archive's manifest.json (RepoTags, Config) and an OCI layout's index.json
    (io.containerd.image.name and full-reference org.opencontainers.image.ref.name annotations,
    the config from the manifest blob). None when the file is not a tar archive ctrtool can read
    (gzip, bzip2 and xz are); then nothing is known about what it replaces."""
    import json
    import tarfile

    from ..safeio import ARCHIVE_MEMBER_LIMIT

    def strings(value: Any) -> list[str]:
        return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []

    def mapping(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    names: dict[str, str | None] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {m.name.removeprefix("./"): m for m in tar}

            def read(name: str) -> Any:
                member = members.get(name)
                if member is None or not member.isfile() or member.size > ARCHIVE_MEMBER_LIMIT:
                    return None
                fh = tar.extractfile(member)
                return json.loads(fh.read(ARCHIVE_MEMBER_LIMIT + 1)) if fh else None

            # every value is type-checked: an archive is input like any other (RepoTags [["x"]])
            manifest = read("manifest.json")
            for entry in manifest if isinstance(manifest, list) else []:
                entry = mapping(entry)
                config = entry.get("Config")
                config = config if isinstance(config, str) else ""
                hexid = config.rsplit("/", 1)[-1].removesuffix(".json")
                for ref in strings(entry.get("RepoTags")):
                    names[ref] = f"sha256:{hexid}" if len(hexid) == 64 else None
            for desc in mapping(read("index.json")).get("manifests") or []:
                desc = mapping(desc)
                notes = mapping(desc.get("annotations"))
                refs = strings([notes.get("io.containerd.image.name"), notes.get("org.opencontainers.image.ref.name")])
                digest = desc.get("digest")
                digest = digest if isinstance(digest, str) else ""
                blob = read(f"blobs/sha256/{digest[7:]}") if digest.startswith("sha256:") else None
                config_id = mapping(mapping(blob).get("config")).get("digest")
                for ref in refs:
                    if ("/" in ref or ":" in ref) and ref not in names:
                        names[ref] = config_id if isinstance(config_id, str) else None
    except (tarfile.TarError, OSError, ValueError, AttributeError, EOFError, RecursionError, TypeError):
        return None
    return names


@handle_errors
def save(
    ctx: typer.Context,
    images: ImagesArg,
    path: Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="The tar archive to write (- : stdout).")],
    backend: OneBackendOpt = None,
    namespace: OneNamespaceOpt = None,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Save images to a tar archive (docker save; ctr images export). crictl cannot: export from
    ctr namespace k8s.io. The file is written whole or not at all (a temporary file next to it,
    renamed when complete); overwriting an existing file asks first. `-o -` writes to stdout."""
    from ..core.routing import locate_images

    check_names("image", images)
    check_output_path(path)
    out = Output()
    found = locate_images(settings(ctx), backend, namespace, images, rerun("save", "-o", path, *images), complete=True)
    places = {(a.name, i.namespace) for a, i in found}
    if len(places) > 1:
        raise UsageError(
            "the images are in different places; save them one place at a time",
            "choose one with --backend (and -n for ctr)",
        )
    adapter = found[0][0]
    plan = adapter.plan_save([i for _a, i in found], path, found[0][1].namespace)
    if carry_out(out, [plan], yes=yes, dry_run=dry_run):
        out.note(f"saved {', '.join(images)} to {path if path != '-' else 'stdout'}")


def check_output_path(path: str) -> None:
    """`save -o`: "-" (stdout, not a terminal), or a file in a directory that exists."""
    import sys

    if path == "-":
        if sys.stdout.isatty():
            raise UsageError(
                "refusing to write an image archive to a terminal",
                "redirect stdout (-o - > FILE, or into a pipe), or give -o FILE",
            )
        return
    if not path:
        raise UsageError("-o/--output: an empty file name", "give the archive's path, or - for stdout")
    if os.path.isdir(path):
        raise UsageError(f"-o/--output {path!r} is a directory", "give the archive's file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"-o/--output {path!r}: no such directory {directory!r}", "create it first")
