"""podman's adapter on what podman printed and containers/storage wrote (tests/fixtures/podman,
recorded by `scripts/record_fixtures.py --only podman`), and its store discovery on files made here:
no podman runs in these tests, and none may (a call that was not recorded fails the test)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from replay import ROOT, Replay

from ctrtool import runner
from ctrtool.adapters import podman
from ctrtool.adapters.shared import chain_ids
from ctrtool.config import Flags, load
from ctrtool.errors import ConfigError
from ctrtool.model import CopyKind, ImageStore, State

FIXTURES = ROOT / "podman"
STORE_FILES = ("overlay-images/images.json", "overlay-layers/layers.json", "overlay-containers/containers.json")
DEMO, PAUSE = "localhost/ctrtool/demo:1.0", "localhost/ctrtool/pause:3.6"


def recorded(name: str) -> list:
    return json.loads(json.loads((FIXTURES / f"{name}.json").read_text())["stdout"])


def copy_store(name: str, graphroot: Path) -> None:
    for rel in STORE_FILES:
        target = graphroot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / "store" / name / rel, target)


def settings_for(tmp_path: Path, rootful: bool = True, users: str = "") -> tuple:
    """A storage.conf naming a graph root in tmp_path (its metadata copied from the recording when
    ``rootful``), and a passwd file with ``users`` (lines)."""
    conf = tmp_path / "storage.conf"
    root = tmp_path / "root"
    conf.write_text(
        "# podman's store for this test\n[storage]\n"
        f'driver = "overlay"\ngraphroot = "{root}"  # the graph root\nrunroot = \'{tmp_path / "run"}\'\n'
        '[storage.options]\ngraphroot = "/not/this/one"\n'
    )
    if rootful:
        copy_store("rootful", root)
    passwd = tmp_path / "passwd"
    passwd.write_text(users)
    env = {
        "CONTAINERS_STORAGE_CONF": str(conf),
        "CTRTOOL_PASSWD_FILE": str(passwd),
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
        "PATH": "/usr/bin:/bin",
    }
    return load(Flags(), env=env), root


def alice(tmp_path: Path) -> tuple[str, Path]:
    """User alice (uid 4242) with a rootless store in her home, as the recording made it."""
    home = tmp_path / "home" / "alice"
    graphroot = home / ".local" / "share" / "containers" / "storage"
    copy_store("alice", graphroot)
    return f"root:x:0:0:root:/root:/bin/sh\nalice:x:4242:4242::{home}:/bin/sh\n", graphroot


@pytest.fixture
def replay(monkeypatch):
    return Replay(ROOT).install(monkeypatch)


@pytest.fixture
def no_tool(monkeypatch):
    """Any tool call fails the test."""

    def refuse(argv, **_kw):
        raise AssertionError(f"a tool ran: {argv}")

    import ctrtool.adapters.base as base

    monkeypatch.setattr(base, "run", refuse)
    monkeypatch.setattr(runner, "run", refuse)


# -- store discovery, from files only --------------------------------------------------------


def test_storage_conf_says_only_what_it_sets(tmp_path):
    conf = tmp_path / "storage.conf"
    conf.write_text(
        '# a comment\n[storage]\ndriver = \'vfs\'\ngraphroot = "/g"  # trailing\nother = "ignored"\n'
        '[storage.options]\nrunroot = "/no"\n'
    )
    assert podman.read_storage_conf(str(conf)) == {"driver": "vfs", "graphroot": "/g"}
    assert podman.read_storage_conf(str(tmp_path / "missing.conf")) == {}


def test_passwd_users_leave_out_root_and_broken_lines():
    text = "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nbad line\nsvc:x:12:12::relative:/x\n"
    assert podman.passwd_homes(text) == [("bob", 1000, "/home/bob")]


def test_rootless_stores_one_per_user_that_has_one(tmp_path):
    (tmp_path / "a" / ".local/share/containers/storage").mkdir(parents=True)
    custom = tmp_path / "elsewhere"
    custom.mkdir()
    (tmp_path / "b" / ".config/containers").mkdir(parents=True)
    (tmp_path / "b" / ".config/containers/storage.conf").write_text(f'[storage]\ngraphroot = "{custom}"\n')
    (tmp_path / "c").mkdir()  # no store
    passwd = tmp_path / "passwd"
    passwd.write_text(
        f"a:x:1001:1001::{tmp_path / 'a'}:/bin/sh\nb:x:1002:1002::{tmp_path / 'b'}:/bin/sh\n"
        f"c:x:1003:1003::{tmp_path / 'c'}:/bin/sh\nroot:x:0:0::{tmp_path / 'a'}:/bin/sh\n"
    )
    stores = podman.rootless_stores({"CTRTOOL_PASSWD_FILE": str(passwd)})
    assert [(s.user, s.graphroot, s.driver) for s in stores] == [
        ("a", str(tmp_path / "a" / ".local/share/containers/storage"), "overlay"),
        ("b", str(custom), "overlay"),
    ]
    assert all(s.uid is not None and f"owned by uid {s.uid}" in s.words() for s in stores)


def test_present_only_where_podman_has_a_store_and_podman_is_not_run(tmp_path, monkeypatch, no_tool):
    import ctrtool.adapters.descriptor as descriptor

    monkeypatch.setattr(descriptor, "installed", lambda binary: True)
    settings, root = settings_for(tmp_path, rootful=False)
    assert not podman.DESCRIPTOR.present(settings)
    root.mkdir()
    assert podman.DESCRIPTOR.present(settings)
    root.rmdir()
    users, _ = alice(tmp_path)
    (tmp_path / "passwd").write_text(users)
    assert podman.DESCRIPTOR.present(settings)
    monkeypatch.setattr(descriptor, "installed", lambda binary: False)
    assert not podman.DESCRIPTOR.present(settings)


def test_without_a_store_nothing_is_listed_and_podman_is_not_run(tmp_path, no_tool):
    settings, root = settings_for(tmp_path, rootful=False)
    adapter = podman.PodmanAdapter(settings)
    assert adapter.images() == [] and adapter.containers() == [] and adapter.disk_usage() == []
    with pytest.raises(podman.NoStore) as err:
        adapter.info()
    assert str(root) in err.value.message and "does not run podman" in (err.value.hint or "")
    assert not root.exists()


def test_a_passwd_file_that_is_not_a_regular_file_is_one_line(tmp_path, no_tool):
    settings, _ = settings_for(tmp_path)
    settings.env["CTRTOOL_PASSWD_FILE"] = str(tmp_path)
    with pytest.raises(ConfigError) as err:
        podman.PodmanAdapter(settings).images()
    assert "passwd file" in err.value.message and "\n" not in err.value.message


def test_info_without_a_rootful_store_says_the_passwd_files_error(tmp_path, no_tool):
    settings, _ = settings_for(tmp_path, rootful=False)
    settings.env["CTRTOOL_PASSWD_FILE"] = str(tmp_path)  # a directory
    with pytest.raises(ConfigError) as err:
        podman.PodmanAdapter(settings).info()
    assert "passwd file" in err.value.message and "\n" not in err.value.message


def test_info_with_users_stores_only_lists_them_without_running_podman(tmp_path, no_tool):
    users, graphroot = alice(tmp_path)
    settings, root = settings_for(tmp_path, rootful=False, users=users)
    info = podman.PodmanAdapter(settings).info()
    assert info.root is None and info.image_store is ImageStore.CONTAINERS_STORAGE
    assert [(s["user"], s["graphroot"]) for s in info.user_stores] == [("alice", str(graphroot))]
    assert not root.exists()


def test_metadata_larger_than_the_limit_is_one_line(tmp_path, monkeypatch, no_tool):
    from ctrtool.adapters import cstorage
    from ctrtool.errors import LayoutNotUnderstood

    users, _ = alice(tmp_path)
    settings, _ = settings_for(tmp_path, users=users)
    monkeypatch.setattr(cstorage, "JSON_LIMIT", 100)
    with pytest.raises(LayoutNotUnderstood) as err:
        podman.PodmanAdapter(settings).disk_usage()
    assert "too big" in err.value.message and "\n" not in err.value.message


# -- replayed: podman's own output, and the stores' files ---------------------------------------


def test_images_rootful_from_one_call_and_rootless_from_files(tmp_path, replay):
    users, user_root = alice(tmp_path)
    settings, root = settings_for(tmp_path, users=users)
    adapter = podman.PodmanAdapter(settings)
    rows = adapter.images()
    assert [c[c.index("images") :] for c in replay.calls] == [["images", "--all", "--format", "json"]]
    assert replay.calls[0][1:3] == ["--root", str(root)]
    mine = [r for r in rows if r.source == "tool"]
    want = {(f"sha256:{i['Id']}", n) for i in recorded("images_--all_--format_json") for n in i["Names"]}
    assert {(r.id, r.ref) for r in mine} == want
    assert {r.store.path for r in mine if r.store} == {str(root / "overlay")}
    assert all(r.backend == "podman" and r.namespace is None and r.size for r in rows)
    theirs = [r for r in rows if r.source == "metadata"]
    assert [(r.ref, r.store.path if r.store else None) for r in theirs] == [(PAUSE, str(user_root / "overlay"))]
    same = next(r for r in mine if r.ref == PAUSE)
    assert theirs[0].id == same.id and theirs[0].size == same.size, "podman's size, counted from the files"
    assert theirs[0].digest == same.digest and theirs[0].created == same.created == "2024-01-01T00:00:00Z"
    # whose store it is: the row's store says so (no warning on every listing)
    assert theirs[0].store is not None and theirs[0].store.owner == "alice"
    assert theirs[0].store.words() == "containers/storage of user alice, rootless"
    assert theirs[0].to_dict()["store_owner"] == "alice" and same.to_dict()["store_owner"] is None
    assert adapter.warnings == []


def test_layers_each_store_holding_the_image(tmp_path, replay):
    users, user_root = alice(tmp_path)
    settings, root = settings_for(tmp_path, users=users)
    adapter = podman.PodmanAdapter(settings)
    demo = adapter.layers(DEMO)
    assert len(replay.calls) == 1
    layers = {i["id"]: i for i in json.loads((root / "overlay-layers/layers.json").read_text())}
    assert [r.diff_id for r in demo] == [
        layers[i]["diff-digest"] for i in (r.copies[0].path.split("/")[-2] for r in demo)
    ]
    assert [r.chain_id for r in demo] == chain_ids([r.diff_id for r in demo])
    assert [len(r.copies) for r in demo] == [2, 1], "the base layer is in alice's store too (her pause image's)"
    assert all(r.copies[0].path.startswith(str(root / "overlay") + "/") for r in demo)
    assert all(c.path.endswith("/diff") for r in demo for c in r.copies)
    (base,) = adapter.layers(PAUSE)
    assert sorted(c.path.rsplit("/overlay/", 1)[0] for c in base.copies) == sorted([str(root), str(user_root)])
    assert base.chain_id == demo[0].chain_id, "one layer, the same chain id in both stores"


def test_disk_usage_reads_files_only(tmp_path, no_tool):
    users, user_root = alice(tmp_path)
    settings, root = settings_for(tmp_path, users=users)
    items = podman.PodmanAdapter(settings).disk_usage()
    by_store: dict[str, set[str]] = {}
    for item in items:
        assert item.size is None and item.path.startswith(item.store + "/")
        owner = "containers/storage of user alice, rootless" if item.store.startswith(str(user_root)) else None
        if item.kind is CopyKind.CONTAINER:  # a container's own layer: its layer id
            assert item.label == f"containers in {owner or 'containers/storage'}"
            continue
        assert item.kind is CopyKind.UNPACKED
        if item.label.startswith("layers of no image in "):  # alice's store has the recorded layers.json
            assert owner and item.label.endswith(owner)
            continue
        assert item.label == (owner or "containers/storage")
        by_store.setdefault(item.store, set()).add(item.key)
    containers = json.loads((root / "overlay-containers/containers.json").read_text())
    ours = {i.key for i in items if i.kind is CopyKind.CONTAINER and i.store == str(root / "overlay")}
    assert ours == {c["layer"] for c in containers}
    assert set(by_store) == {str(root / "overlay"), str(user_root / "overlay")}
    assert len(by_store[str(root / "overlay")]) == 2 and len(by_store[str(user_root / "overlay")]) == 1
    assert by_store[str(user_root / "overlay")] <= by_store[str(root / "overlay")]


def test_containers_with_their_states(tmp_path, replay):
    users, _ = alice(tmp_path)
    settings, _ = settings_for(tmp_path, users=users)
    rows = podman.PodmanAdapter(settings).containers()
    got = {r.name: r for r in rows}
    assert got["record-running"].state is State.RUNNING and got["record-created"].state is State.CREATED
    assert got["record-running"].image == DEMO and got["record-running"].created
    assert got["record-running"].labels == {"org.opencontainers.image.title": "ctrtool lab demo"}
    assert got["record-rootless"].state is State.UNKNOWN and got["record-rootless"].image == PAUSE
    assert len(replay.calls) == 1


def test_info_names_the_graph_root(tmp_path, replay):
    settings, _ = settings_for(tmp_path)
    info = podman.PodmanAdapter(settings).info()
    base = json.loads((FIXTURES / "store" / "recorded.json").read_text())["base"]
    assert info.root == f"{base}/root" and info.store == f"{base}/root/overlay" and info.state == f"{base}/run"
    assert info.image_store is ImageStore.CONTAINERS_STORAGE and info.storage_driver == "overlay"
    assert info.version and info.image_count == 2 and info.endpoint is None


# -- operations: the rootful store only --------------------------------------------------------


def test_plans_name_the_store_and_run_podman_on_it(tmp_path, replay):
    settings, root = settings_for(tmp_path)
    adapter = podman.PodmanAdapter(settings)
    target = adapter.image_target(DEMO, adapter.images(), "podman")
    plan = adapter.plan_rmi(target)
    assert plan.destructive and plan.commands == [
        [
            "podman",
            "--root",
            str(root),
            "--storage-driver",
            "overlay",
            "--runroot",
            str(tmp_path / "run"),
            "image",
            "rm",
            DEMO,
        ]
    ]
    assert str(root) in plan.what
    assert adapter.plan_tag(target, "localhost/x:1").commands[0][-3:] == ["tag", DEMO, "localhost/x:1"]
    save = adapter.plan_save([target, target], str(tmp_path / "out.tar")).commands[0]
    assert "--multi-image-archive" in save and save[-2:] == [DEMO, DEMO]
    assert adapter.export_argv(DEMO, None)[-1] == DEMO and adapter.import_argv(None)[-1] == "load"


def test_an_image_only_in_a_users_store_is_read_only_there(tmp_path, replay):
    """An image of a user's store: saved (and so copied) through podman's read-only additional
    image store, never changed (rmi, tag refused with the way to reach it)."""
    users, user_root = alice(tmp_path)
    images = user_root / "overlay-images/images.json"
    data = json.loads(images.read_text())
    data[0]["names"].append("localhost/alice/own:1")
    images.write_text(json.dumps(data))
    settings, _ = settings_for(tmp_path, users=users)
    adapter = podman.PodmanAdapter(settings)
    records = adapter.images()
    target = adapter.image_target("localhost/alice/own:1", records, "podman")
    for plan in (lambda: adapter.plan_rmi(target), lambda: adapter.plan_tag(target, "localhost/x:1")):
        with pytest.raises(podman.RootlessRefused) as err:
            plan()
        assert "user alice's rootless podman store" in err.value.message
        assert err.value.hint == "run podman as that user: runuser -u alice -- podman ..."
    reading = ["--storage-opt", f"additionalimagestore={user_root}"]
    save = adapter.plan_save([target], str(tmp_path / "out.tar"))
    assert save.commands[0][len(adapter.argv()) : len(adapter.argv()) + 2] == reading, save.commands
    assert "user alice's rootless store (read only)" in save.what
    export = adapter.export_argv("localhost/alice/own:1", None)
    assert export[len(adapter.argv()) :] == [*reading, "save", "--format", "docker-archive", "localhost/alice/own:1"]
    assert adapter.export_argv(DEMO, None)[len(adapter.argv()) :][0] == "save", "the rootful store's: no option"
    # the same image in the rootful store too: that copy is the one operated on
    assert adapter.image_target(PAUSE, records, "podman").ref == PAUSE


def test_a_container_in_a_users_store_is_refused(tmp_path, replay):
    users, _ = alice(tmp_path)
    settings, _ = settings_for(tmp_path, users=users)
    adapter = podman.PodmanAdapter(settings)
    theirs = next(c for c in adapter.containers() if c.name == "record-rootless")
    for plan in (lambda: adapter.plan_rm(theirs, force=True), lambda: adapter.plan_stop(theirs, 1)):
        with pytest.raises(podman.RootlessRefused) as err:
            plan()
        assert "runuser -u alice -- podman" in (err.value.hint or "")
    mine = next(c for c in adapter.containers() if c.name == "record-running")
    assert adapter.plan_stop(mine, 3).commands[0][-4:] == ["stop", "--time", "3", mine.id]


def test_load_and_prune_output():
    assert podman.parse_loaded("Loaded image: localhost/a:1\nLoaded image(s): b:2,c:3\n") == [
        "localhost/a:1",
        "b:2",
        "c:3",
    ]
    hexid = "a" * 64
    assert podman.parse_pruned(f"{hexid}\nnot an id\n") == {f"sha256:{hexid}"}


def test_only_a_pull_or_a_load_may_make_the_store(tmp_path):
    settings, _ = settings_for(tmp_path, rootful=False)
    adapter = podman.PodmanAdapter(settings)
    load = adapter.plan_load(str(tmp_path / "a.tar")).commands[0]
    assert adapter.creates_store(load) and adapter.creates_store(adapter.argv("pull", "x"))
    assert not adapter.creates_store(adapter.argv("image", "rm", "x"))
    with pytest.raises(podman.NoStore):
        adapter.require_store(adapter.argv("image", "rm", "x"))


def test_an_image_with_two_names_is_two_rows_though_podman_prints_it_twice():
    (item,) = [i for i in recorded("images_--all_--format_json") if DEMO in i["Names"]]
    twice = {**item, "Names": [DEMO, "localhost/other:1"]}
    rows = podman.parse_images([twice, twice], None)
    assert [r.ref for r in rows] == [DEMO, "localhost/other:1"]


def test_saving_several_images_lists_the_store_once(tmp_path, replay):
    """Which store each image is in is read from one listing, however many images are named."""
    users, _ = alice(tmp_path)
    settings, _ = settings_for(tmp_path, users=users)
    adapter = podman.PodmanAdapter(settings)
    records = adapter.images()
    targets = [adapter.image_target(ref, records, "podman") for ref in (DEMO, PAUSE)]
    before = len(replay.calls)
    adapter.plan_save(targets, str(tmp_path / "both.tar"))
    adapter.export_argv(DEMO, None)
    assert len(replay.calls) - before <= 1, replay.calls[before:]
