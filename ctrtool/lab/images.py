"""The plain lab's two images (:mod:`ctrtool.imagebuild`) in its runtime: loaded into docker and
imported into containerd's ``default`` and ``k8s.io`` namespaces, each only when it is not there
yet. DIR/images/imported.json records what was imported where (and the digest ctr made of it)."""

from __future__ import annotations

import json
import os
import pathlib

from .. import imagebuild
from .common import DEMO_IMAGE, PAUSE_IMAGE, LabError, Progress
from .runtime import Runtime

# namespace -> the images the lab imports there
NAMESPACES = (("default", [DEMO_IMAGE]), ("k8s.io", [DEMO_IMAGE, PAUSE_IMAGE]))


def _json_list(text: str) -> list | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) else None


def load_imported(imported_file: pathlib.Path) -> dict:
    try:
        data = json.loads(imported_file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def image_status(images_dir: pathlib.Path) -> dict:
    """ref -> its archive (or None) and where it was imported, from the files only."""
    recorded = load_imported(images_dir / "imported.json")
    out = {}
    for ref, name in imagebuild.ARCHIVE_NAMES.items():
        path = images_dir / name
        out[ref] = {
            "archive": str(path) if path.exists() else None,
            "imported": sorted(k.split("/", 1)[0] for k, v in recorded.items() if k.split("/", 1)[1] == ref),
        }
    return out


def ensure_images(runtime: Runtime, images_dir: pathlib.Path, binaries: dict[str, str], progress: Progress) -> None:
    """Build both images and bring them into docker and containerd where they are missing or stale."""
    imported_file = images_dir / "imported.json"
    built = imagebuild.build_images(images_dir, busybox=binaries["busybox"])
    recorded = load_imported(imported_file)
    changed = False

    # docker: the image ID is the config digest, so it can be compared directly
    demo = built[DEMO_IMAGE]
    res = runtime.docker(
        binaries, "image", "inspect", "--format", "{{.Id}} {{json .RootFS.Layers}}", DEMO_IMAGE, check=False
    )
    # on its graph driver docker's image ID is the config digest; on containerd's image store it is
    # the manifest's, so the layers (diff ids) are what is compared there
    loaded_id, _, layers = res.stdout.strip().partition(" ")
    if res.returncode == 0 and (
        loaded_id == demo.image_id
        or (runtime.profile.docker_store == "containerd" and _json_list(layers) == demo.diff_ids)
    ):
        progress(f"docker: {DEMO_IMAGE} already loaded")
    else:
        progress(f"docker: loading {DEMO_IMAGE}")
        runtime.docker(binaries, "load", "-i", str(demo.path), timeout=120)
        recorded[f"docker/{DEMO_IMAGE}"] = {"image_id": demo.image_id}
        changed = True

    # containerd: ctr shows the manifest digest it made on import; remember it per namespace
    for namespace, refs in NAMESPACES:
        present = runtime.ctr_image_digests(binaries, namespace)
        for ref in refs:
            key = f"{namespace}/{ref}"
            entry = recorded.get(key) or {}
            if ref in present and entry.get("digest") == present[ref] and entry.get("image_id") == built[ref].image_id:
                progress(f"ctr -n {namespace}: {ref} already imported")
                continue
            progress(f"ctr -n {namespace}: importing {ref}")
            runtime.ctr(binaries, "images", "import", str(built[ref].path), namespace=namespace, timeout=120)
            digest = runtime.ctr_image_digests(binaries, namespace).get(ref)
            if not digest:
                raise LabError(
                    f"ctr imported {built[ref].path} into namespace {namespace} but "
                    f"`ctr images ls` does not show {ref}",
                    f"see {runtime.containerd_log}",
                )
            recorded[key] = {"image_id": built[ref].image_id, "digest": digest}
            changed = True
    if changed:
        tmp = imported_file.with_name(imported_file.name + ".tmp")
        tmp.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, imported_file)
