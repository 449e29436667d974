"""`layers` pieces that need no lab: chain ids, sizes, docker's layer database on disk."""

from __future__ import annotations

import os

import pytest

from ctrtool.adapters.base import chain_ids, tree_size
from ctrtool.adapters.docker import docker_layers
from ctrtool.errors import LayoutNotUnderstood

BUSYBOX = "sha256:866571f0bf12039d7878c740b086637738931b777de20303f180e934d5584187"
SMALL = "sha256:50750803320571fe8281cee867c250b82dea87adbb4f943dc96b5c73757929e2"


def test_chain_ids_follow_the_image_spec():
    # the second value is containerd's own snapshot key for these two layers (lab, ctr snapshots ls)
    assert chain_ids([BUSYBOX, SMALL]) == [
        BUSYBOX,
        "sha256:f312888aa6c0aa901f23908fb5508efb2d25e3bc002578ce083b1bfe5ea2eb08",
    ]
    assert chain_ids([]) == []


def test_tree_size_counts_files_and_symlinks_and_hard_links_once(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "d" / "a", tmp_path / "b")
    (tmp_path / "c").write_bytes(b"y" * 10)
    os.symlink("d/a", tmp_path / "s")
    assert tree_size(str(tmp_path)) == 100 + 10 + len("d/a")


def test_docker_layer_database_mismatch_is_an_error_naming_the_file(tmp_path):
    root, store = tmp_path, tmp_path / "overlay2"
    layerdb = root / "image" / "overlay2" / "layerdb" / "sha256" / BUSYBOX[7:]
    layerdb.mkdir(parents=True)
    with pytest.raises(LayoutNotUnderstood) as err:
        docker_layers(str(root), str(store), [BUSYBOX])
    assert str(layerdb) in err.value.message and "unknown" in err.value.message
    (layerdb / "cache-id").write_text("ab" * 32)
    with pytest.raises(LayoutNotUnderstood, match="not a directory"):
        docker_layers(str(root), str(store), [BUSYBOX])
    (store / ("ab" * 32) / "diff").mkdir(parents=True)
    (rec,) = docker_layers(str(root), str(store), [BUSYBOX])
    assert rec.copies[0].path == str(store / ("ab" * 32) / "diff") and rec.chain_id == BUSYBOX
