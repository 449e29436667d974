"""The containers/storage reader (ctrtool/adapters/cstorage.py) on stores written here in the
layout go.podman.io/storage writes (the field names of its Layer, Image and Container structs), and
on hostile files."""

from __future__ import annotations

import json
import os

import pytest

from ctrtool.adapters import cstorage
from ctrtool.errors import ConfigError, LayoutNotUnderstood

A, B, C = ("a" * 64, "b" * 64, "c" * 64)


def store(tmp_path, images=None, layers=None, containers=None, driver="overlay"):
    root = tmp_path / "graph"
    for sub, name, value in (
        (f"{driver}-images", "images.json", images),
        (f"{driver}-layers", "layers.json", layers),
        (f"{driver}-containers", "containers.json", containers),
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
        if value is not None:
            (root / sub / name).write_text(value if isinstance(value, str) else json.dumps(value))
    return cstorage.StorageConf(str(root), str(tmp_path / "run"), driver)


def test_an_images_layers_bottom_up_and_their_directories(tmp_path):
    conf = store(
        tmp_path,
        images=[{"id": C, "names": ["localhost/x:1"], "layer": B, "big-data-sizes": {"manifest": 500, "config": 300}}],
        layers=[{"id": A, "diff-size": 10}, {"id": B, "parent": A, "diff-size": 20}],
        containers=[{"id": "k" * 64, "names": ["web"], "image": C, "layer": "d" * 64}],
    )
    got = cstorage.read(conf, containers=True)
    image = got.find_image("localhost/x:1")
    assert image is not None and image.metadata_bytes == 800
    assert [layer.id for layer in got.chain(image.top_layer)] == [A, B]
    assert got.find_image(C[:12]) is image and got.find_image("sha256:" + C) is image
    assert got.image_layer_ids() == {A, B}
    assert got.containers[0].layer == "d" * 64
    assert cstorage.layer_dir(conf, A) == os.path.join(conf.graphroot, "overlay", A, "diff")
    vfs = cstorage.StorageConf(conf.graphroot, conf.runroot, "vfs")
    assert cstorage.layer_dir(vfs, A) == os.path.join(conf.graphroot, "vfs", "dir", A)


def test_a_new_store_without_files_is_empty(tmp_path):
    got = cstorage.read(store(tmp_path), containers=True)
    assert (got.images, got.layers, got.containers) == ([], {}, [])


def test_a_chain_that_loops_or_breaks_is_said_not_guessed(tmp_path):
    conf = store(tmp_path, layers=[{"id": A, "parent": B}, {"id": B, "parent": A}])
    with pytest.raises(LayoutNotUnderstood, match="its own ancestor"):
        cstorage.read(conf).chain(A)
    conf = store(tmp_path, layers=[{"id": A, "parent": C}])
    with pytest.raises(LayoutNotUnderstood, match="not in the store"):
        cstorage.read(conf).chain(A)


@pytest.mark.parametrize(
    "content, words",
    [("{not json", "not valid JSON"), ('{"id": 1}', "not a JSON list"), (b"[\xff]", "not UTF-8")],
)
def test_a_broken_metadata_file_is_one_error_naming_it(tmp_path, content, words):
    conf = store(tmp_path)
    path = os.path.join(cstorage.images_dir(conf), "images.json")
    with open(path, "wb") as fh:
        fh.write(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(LayoutNotUnderstood, match=words) as info:
        cstorage.read(conf)
    assert info.value.path == path


def test_a_fifo_in_place_of_a_metadata_file_is_refused_without_hanging(tmp_path):
    conf = store(tmp_path)
    os.mkfifo(os.path.join(cstorage.images_dir(conf), "images.json"))
    with pytest.raises(LayoutNotUnderstood, match="not a regular file"):
        cstorage.read(conf)


def test_entries_without_a_valid_id_are_skipped(tmp_path):
    conf = store(tmp_path, images=[{"id": "../../etc"}, {"names": ["x"]}, 7, {"id": A, "layer": None}])
    assert [i.id for i in cstorage.read(conf).images] == [A]


def test_storage_conf_keys_of_the_storage_table_only(tmp_path):
    text = """
# a comment
driver = "vfs"   # outside any table: not the store's
[storage]
driver = "overlay"
graphroot = "/srv/graph"  # trailing comment
runroot = '/run/lit'
[storage.options]
graphroot = "/not/this"
"""
    conf = cstorage.parse_conf(text, "f")
    assert (conf.driver, conf.graphroot, conf.runroot, conf.source) == ("overlay", "/srv/graph", "/run/lit", "f")
    defaults = cstorage.parse_conf("")
    assert (defaults.graphroot, defaults.driver) == ("/var/lib/containers/storage", "overlay")


def test_system_conf_follows_containers_storage_conf(tmp_path):
    path = tmp_path / "storage.conf"
    path.write_text('[storage]\ngraphroot = "/g"\n')
    assert cstorage.system_conf({"CONTAINERS_STORAGE_CONF": str(path)}).graphroot == "/g"
    with pytest.raises(ConfigError):
        cstorage.system_conf({"CONTAINERS_STORAGE_CONF": str(tmp_path)})  # a directory


def test_the_image_metadata_directory_crictl_names_gives_the_graph_root():
    conf = cstorage.conf_of_images_dir("/var/lib/containers/storage/overlay-images")
    assert conf is not None and (conf.graphroot, conf.driver) == ("/var/lib/containers/storage", "overlay")
    assert cstorage.conf_of_images_dir("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs") is None
