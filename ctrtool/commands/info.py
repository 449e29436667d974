"""`ctrtool info` (alias `where`): each backend's version, endpoint, directories and namespaces."""

from __future__ import annotations

import os
from typing import Any

import typer

from ..output import Output
from .common import (AllBackendsOpt, BackendOpt, OutputOpt, QuietOpt, check_format, handle_errors,
                     report_failures, settings)


@handle_errors
def info(
    ctx: typer.Context,
    backend: BackendOpt = None,
    all_backends: AllBackendsOpt = False,
    output: OutputOpt = "table",
    quiet: QuietOpt = False,
) -> None:
    """Where each tool keeps its images: version, endpoint, storage root, state directory,
    snapshotter or graph driver, namespaces and image count. Exit status 3: some backends failed."""
    from .. import core

    out = Output(check_format(output), quiet)
    conf = settings(ctx)
    names = core.select_backends(conf, backend, all_backends)
    got = core.backend_info(conf, names)
    infos, failed = got.rows, got.failed
    if failed and len(failed) == len(names):
        pass  # nothing to show: the errors say why
    elif quiet:
        out.lines(i["backend"] for i in infos)
    elif out.structured:
        out.data(infos)
    else:
        out.sections([(i["backend"], _fields(i)) for i in infos], caption=caption(infos))
    raise typer.Exit(report_failures(out, got, len(names)))


def _fields(i: dict[str, Any]) -> list[tuple[str, Any]]:
    driver_label = "graph driver" if i["backend"] == "docker" else "snapshotter"
    fields = [
        ("version", i["version"] if i["backend"] != "crictl" else f"CRI {i['version']} ({i['runtime']})"),
        ("endpoint", i["endpoint"]),
        ("endpoint from", i["endpoint_source"]),
        ("root", i["root"]),
        ("state", i["state"] if i["state"] else "(not reported by this tool)"),
        (driver_label, i["storage_driver"]),
        ("layers under", i["store"]),
    ]
    if i["content_store"]:
        fields.append(("blobs under", i["content_store"]))
    if i["backend"] == "ctr" and i["namespace_image_counts"] is not None:
        fields.append(("namespaces", ", ".join(f"{ns} ({_images(n)})" for ns, n in i["namespace_image_counts"].items())))
    elif i["backend"] == "docker":
        fields.append(("containerd namespace", ", ".join(i["namespaces"]) + " (its containers; its images stay in its own store)"))
    else:
        fields.append(("namespace", ", ".join(i["namespaces"]) or "(not containerd)"))
    fields.append(("images", i["image_count"]))
    return fields


def _images(n: int) -> str:
    return "1 image" if n == 1 else f"{n} images"


def caption(infos: list[dict[str, Any]]) -> list[str]:
    lines = []
    by = {i["backend"]: i for i in infos}
    docker, ctr, cri = by.get("docker"), by.get("ctr"), by.get("crictl")
    if docker and docker["store"] and (ctr or cri):
        other = (ctr or cri)["store"]
        if other and os.path.realpath(other) != os.path.realpath(docker["store"]):
            lines.append(f"docker keeps its images in {docker['store']}; containerd keeps its own under "
                         f"{other}. Different directories: an image loaded with docker is invisible "
                         "to ctr and crictl, and its layers are stored again when imported there.")
    if cri and "k8s.io" in cri["namespaces"]:
        lines.append("crictl (and so the kubelet) works in containerd namespace k8s.io only: "
                     "images imported with ctr into another namespace are invisible to it.")
    return lines
