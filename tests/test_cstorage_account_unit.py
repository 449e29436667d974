"""The containers/storage classifier and model of the byte account (ctrtool/adapters/cstorage_account.py),
on stores written here in the layout go.podman.io/storage writes (as tests/test_cstorage_unit.py)."""

from __future__ import annotations

import json
import os
import subprocess

from ctrtool.account import Bucket, walk
from ctrtool.adapters import cstorage
from ctrtool.adapters.cstorage_account import classify

BASE, MID, TOP, OTHER, WRITABLE, STRAY, GONE = (c * 64 for c in "abcdef0")
IMG, NAMELESS = "1" * 64, "2" * 64


def store(tmp_path):
    """An image (two names) on BASE <- MID; a nameless image on BASE <- OTHER; a container of the
    first image with its writable layer; a layer in layers.json nothing uses (STRAY) and a directory
    layers.json does not name (GONE). Each layer directory holds a file of its own size."""
    root = tmp_path / "graph"
    layers = [
        {"id": BASE, "diff-digest": "sha256:" + "9" * 64},
        {"id": MID, "parent": BASE, "diff-digest": "sha256:" + "8" * 64},
        {"id": OTHER, "parent": BASE, "diff-digest": "sha256:" + "7" * 64},
        {"id": WRITABLE, "parent": MID},
        {"id": STRAY},
    ]
    images = [
        {"id": IMG, "names": ["localhost/a:1", "localhost/a:2"], "layer": MID},
        {"id": NAMELESS, "names": [], "layer": OTHER},
    ]
    containers = [{"id": "c" * 64, "names": ["web"], "image": IMG, "layer": WRITABLE}]
    for sub, name, value in (
        ("overlay-images", "images.json", images),
        ("overlay-layers", "layers.json", layers),
        ("overlay-containers", "containers.json", containers),
    ):
        (root / sub).mkdir(parents=True)
        (root / sub / name).write_text(json.dumps(value))
    (root / "overlay" / "l").mkdir(parents=True)
    for n, layer in enumerate((BASE, MID, OTHER, WRITABLE, STRAY, GONE)):
        d = root / "overlay" / layer / "diff"
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"x" * (1000 * (n + 1)))
        short = f"SHORT{n}"
        (root / "overlay" / layer / "link").write_text(short)
        os.symlink(f"../{layer}/diff", root / "overlay" / "l" / short)
        (root / "overlay-layers" / f"{layer}.tar-split.gz").write_bytes(b"t" * 10)
    (root / "overlay-images" / IMG).mkdir()
    (root / "overlay-images" / IMG / "manifest").write_bytes(b"m" * 300)
    (root / "overlay-containers" / ("c" * 64) / "userdata").mkdir(parents=True)
    (root / "overlay" / ".has-mount-program").write_text("false")
    (root / "volumes").mkdir()
    return cstorage.StorageConf(str(root), str(tmp_path / "run"), "overlay")


def du(path) -> int:
    out = subprocess.run(["du", "-sxb", "--apparent-size", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def test_each_layer_goes_to_what_holds_it_and_the_buckets_add_up_to_du(tmp_path):
    conf = store(tmp_path)
    got = walk(classify(conf, cri_visible=True))
    assert got.bytes == du(conf.graphroot) and got.cri_visible and got.tool == "containers-storage"
    kinds = {b.kind: b for b in got.buckets}
    assert kinds[Bucket.LAYERS].items == 2  # BASE and MID: the named image's
    assert kinds[Bucket.CONTAINERS].items == 1  # the writable layer, with the container's own files
    assert kinds[Bucket.DANGLING].items == 1  # OTHER: the nameless image's only
    assert kinds[Bucket.ORPHANED].items == 2  # STRAY (listed, used by nothing) and GONE (not listed)
    # a layer's item is its directory, with its tar-split and short link counted in it
    assert got.item_paths[MID] == os.path.join(conf.graphroot, "overlay", MID)
    assert got.item_bytes[MID] == du(os.path.join(conf.graphroot, "overlay", MID)) + 10 + len(f"../{MID}/diff")


def test_what_removing_names_and_containers_frees(tmp_path):
    model = classify(store(tmp_path), cri_visible=False).model
    both = {"localhost/a:1", "localhost/a:2"}
    # one name of two only untags; both names with the container there remove nothing
    assert model.images_going({"localhost/a:1"}) == set()
    assert model.images_going(both) == set()
    assert model.images_going(both, containers_gone={"c" * 64}) == {IMG}
    alive = model.alive(set())
    gone = model.alive({IMG}, containers_gone={"c" * 64})
    assert alive - gone == {MID, WRITABLE, f"image:{IMG}"}  # BASE stays: the nameless image is on it
    assert [c for c, _d, _i in model.image_layers("localhost/a:2")] and model.image_layers("nope") == []
    chains = [c for c, _d, _i in model.image_layers(IMG)]
    assert all(model.unpacked(c) for c in chains) and not model.unpacked("sha256:" + "0" * 64)
