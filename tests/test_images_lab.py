"""`ctrtool images` and `ctrtool info` against the real lab: docker, ctr and crictl.

Every path and size ctrtool prints is checked against the filesystem or an independent tool.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading

import pytest
import yaml
from helpers import ctrtool, ctrtool_json

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
PAUSE = "localhost/ctrtool/pause:3.6"
FIELDS = [
    "backend",
    "namespace",
    "ref",
    "id",
    "digest",
    "size",
    "size_kind",
    "store",
    "store_kind",
    "store_owner",
    "content_store",
    "copies",
    "ref_copies",
    "kubelet_visible",
    "created",
    "source",
    "aliases",
]


@pytest.fixture(scope="module")
def rows(lab_env):
    data, _ = ctrtool_json("images", "--all-backends", env=lab_env)
    return data


def by(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def test_demo_image_is_seen_in_all_three_stores_and_marked_stored_3x(rows, lab):
    assert all(list(r) == FIELDS for r in rows)
    demo = by(rows, ref=DEMO)
    places = sorted((r["backend"], r["namespace"] or "") for r in demo)
    if lab.profile.docker_store == "overlay2":
        assert places == [("crictl", "k8s.io"), ("ctr", "default"), ("ctr", "k8s.io"), ("docker", "")]
    else:  # docker's images are namespace moby's, which ctr sees as well: the same copy
        assert places == [
            ("crictl", "k8s.io"),
            ("ctr", "default"),
            ("ctr", "k8s.io"),
            ("ctr", "moby"),
            ("docker", "moby"),
        ]
        assert by(rows, backend="docker", ref=DEMO)[0]["store"] == by(rows, backend="ctr", namespace="moby")[0]["store"]
    assert len({r["id"] for r in demo}) == 1, "docker, ctr and crictl agree on the image id"
    assert all(r["copies"] == 3 for r in demo)
    # the sandbox image lives only in k8s.io: one copy, seen by both ctr and crictl
    pause = by(rows, ref=PAUSE)
    assert sorted(r["backend"] for r in pause) == ["crictl", "ctr"]
    assert all(r["copies"] == 1 and r["namespace"] == "k8s.io" for r in pause)
    for r in rows:
        assert isinstance(r["size"], int) and r["size"] > 0
        assert r["id"].startswith("sha256:") and len(r["id"]) == 71


def test_stores_are_the_real_layer_directories(rows, lab):
    docker_store = by(rows, backend="docker")[0]["store"]
    ctr_stores = {r["store"] for r in by(rows, backend="ctr")}
    assert len(ctr_stores) == 1
    (snap_root,) = ctr_stores
    assert snap_root == {r["store"] for r in by(rows, backend="crictl")}.pop()
    snapshots = os.path.join(snap_root, "snapshots")
    in_containerd = [
        d for d in os.listdir(snapshots) if os.path.isfile(os.path.join(snapshots, d, "fs", "bin", "busybox"))
    ]
    if lab.profile.docker_store == "overlay2":
        # on disk: busybox unpacked once under docker's store and once per containerd namespace
        assert docker_store == str(lab.directory / "docker" / "data" / "overlay2")
        in_docker = [
            d
            for d in os.listdir(docker_store)
            if os.path.isfile(os.path.join(docker_store, d, "diff", "bin", "busybox"))
        ]
        assert len(in_docker) == 1
        assert len(in_containerd) == 2, "one unpacked copy in `default`, one in `k8s.io`"
        assert len(in_docker) + len(in_containerd) == by(rows, ref=DEMO)[0]["copies"]
    else:
        # on containerd's image store docker keeps no layers of its own: its copy is namespace
        # moby's snapshot, one of three under containerd's snapshotter
        assert docker_store == snap_root
        data = lab.directory / "docker" / "data"
        assert not any(f == "busybox" for _b, _d, files in os.walk(data) for f in files)
        assert len(in_containerd) == 3, "one unpacked copy in `moby`, `default` and `k8s.io` each"
        assert len(in_containerd) == by(rows, ref=DEMO)[0]["copies"]


def test_ctr_size_is_the_bytes_of_its_blobs_on_disk(rows, lab):
    row = by(rows, backend="ctr", namespace="default", ref=DEMO)[0]
    blobs = os.path.join(lab.directory, "containerd", "root", "io.containerd.content.v1.content", "blobs", "sha256")

    def on_disk(digest):
        manifest_path = os.path.join(blobs, digest.split(":")[1])
        manifest = json.load(open(manifest_path))
        parts = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        return manifest, os.path.getsize(manifest_path) + sum(
            os.path.getsize(os.path.join(blobs, d.split(":")[1])) for d in parts
        )

    manifest, size = on_disk(row["digest"])
    assert row["size"] == size
    assert row["id"] == manifest["config"]["digest"]
    # the CRI computes the same figure independently, for one of the manifests it has of this image
    # (an image copied in from elsewhere may have another manifest of the same config)
    k8s = {on_disk(r["digest"])[1] for r in by(rows, backend="ctr", namespace="k8s.io", id=row["id"])}
    assert by(rows, backend="crictl", ref=DEMO)[0]["size"] in k8s


def test_docker_size_matches_its_unpacked_layers_on_disk(rows, lab_env, lab):
    row = by(rows, backend="docker", ref=DEMO)[0]
    if lab.profile.docker_store == "containerd":
        # Docker 29 counts the image's blobs and its unpacked snapshots: both are on disk
        assert row["size_kind"] == "content+unpacked"
        blobs = by(rows, backend="ctr", namespace="moby", ref=DEMO)[0]["size"]
        layers, _ = ctrtool_json("layers", "-b", "docker", DEMO, env=lab_env)
        unpacked = sum(c["size"] for layer in layers for c in layer["copies"] if c["kind"] == "unpacked")
        assert abs(blobs + unpacked - row["size"]) <= 0.05 * row["size"], (blobs, unpacked, row["size"])
        return
    # which overlay2 directories are this image's layers: docker itself says so
    inspect = subprocess.run(
        ["docker", "-H", lab_env["DOCKER_HOST"], "image", "inspect", DEMO], capture_output=True, text=True, check=True
    )
    data = json.loads(inspect.stdout)[0]["GraphDriver"]["Data"]
    diffs = [data["UpperDir"]] + [d for d in (data.get("LowerDir") or "").split(":") if d]
    assert all(os.path.dirname(os.path.dirname(d)) == row["store"] for d in diffs)
    total = 0
    for diff in diffs:
        for base, _dirs, files in os.walk(diff):
            for name in files:
                path = os.path.join(base, name)
                if not os.path.islink(path):
                    total += os.path.getsize(path)
    assert abs(total - row["size"]) <= 0.05 * row["size"], (total, row["size"])


def test_namespace_flag_and_env_restrict_ctr(lab_env):
    data, _ = ctrtool_json("images", "--backend", "ctr", "-n", "default", env=lab_env)
    assert data and {(r["backend"], r["namespace"]) for r in data} == {("ctr", "default")}
    env = dict(lab_env, CONTAINERD_NAMESPACE="k8s.io")
    data, _ = ctrtool_json("images", "-b", "ctr", env=env)
    assert {r["namespace"] for r in data} == {"k8s.io"}
    assert PAUSE in {r["ref"] for r in data}


def test_output_modes_agree(lab_env, rows):
    yaml_proc = ctrtool("images", "--all-backends", "-o", "yaml", env=lab_env)
    assert yaml_proc.returncode == 0
    assert yaml.safe_load(yaml_proc.stdout) == rows
    quiet = ctrtool("images", "--all-backends", "-q", env=lab_env)
    ids = quiet.stdout.split()
    assert ids == list(dict.fromkeys(r["id"] for r in rows)), "unique ids, in table order"
    table = ctrtool("images", "--all-backends", env=lab_env)
    assert table.returncode == 0 and table.stderr == ""
    assert "stored 3x" in table.stdout
    assert by(rows, backend="docker")[0]["store"] in table.stdout
    assert "\x1b[" not in table.stdout
    # a table row per json row (header + rule + rows + caption lines)
    body = [ln for ln in table.stdout.splitlines() if re.match(r"(docker|ctr|crictl)\s{2,}", ln)]
    assert len(body) == len(rows)
    wide = ctrtool("images", "--all-backends", "-o", "wide", env=lab_env)
    assert by(rows, backend="ctr", ref=DEMO)[0]["digest"] in wide.stdout
    assert rows[0]["id"] in wide.stdout


def test_info_reports_true_directories(lab_env, lab):
    infos, _ = ctrtool_json("info", "--all-backends", env=lab_env)
    got = {i["backend"]: i for i in infos}
    assert set(got) == {"docker", "ctr", "crictl"}
    d, c, k = got["docker"], got["ctr"], got["crictl"]
    assert d["root"] == str(lab.directory / "docker" / "data") and os.path.isdir(d["root"])
    if lab.profile.docker_store == "overlay2":
        assert d["image_store"] == "graph" and d["content_store"] is None
        assert d["store"] == os.path.join(d["root"], d["storage_driver"]) and os.path.isdir(d["store"])
    else:  # docker reports only containerd's socket: the directories are containerd's
        assert d["image_store"] == "containerd" and d["containerd"] == lab_env["CONTAINERD_ADDRESS"]
        assert d["store"] == c["store"] and d["content_store"] == c["content_store"]
        assert d["state"] is None, "dockerd's own state directory is not containerd's"
    assert k["sandbox_image"] == PAUSE and k["storage_driver"] == c["storage_driver"] == "overlayfs"
    assert d["namespaces"] == ["moby"]
    assert c["root"] == str(lab.directory / "containerd" / "root") == k["root"]
    assert c["state"] == str(lab.directory / "containerd" / "state") == k["state"]
    assert os.path.isdir(c["store"]) and c["store"] == k["store"]
    assert {"default", "k8s.io"} <= set(c["namespaces"])
    assert k["namespaces"] == ["k8s.io"]
    assert c["endpoint"] == lab_env["CONTAINERD_ADDRESS"] and c["endpoint_source"] == "env CONTAINERD_ADDRESS"
    assert d["endpoint"] == lab_env["DOCKER_HOST"]
    # image counts agree with the native listings
    ns_counts = c["namespace_image_counts"]
    native = subprocess.run(
        ["ctr", "-a", c["endpoint"], "-n", "default", "images", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert ns_counts["default"] == len(native)
    assert d["image_count"] == len(
        set(
            subprocess.run(
                ["docker", "-H", lab_env["DOCKER_HOST"], "images", "-aq", "--no-trunc"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
        )
    )
    table = ctrtool("where", env=lab_env)
    assert table.returncode == 0
    if lab.profile.docker_store == "overlay2":
        assert "different directories" in table.stdout.lower() and "k8s.io" in table.stdout
    else:
        assert "docker, ctr and crictl work with one containerd" in table.stdout
        import re

        said = re.search(r"stored once and shared by its namespaces \(([^)]*)\)", table.stdout)
        # moby is listed while docker has an image there; in a full run an earlier test can leave
        # docker with none on this profile (not found yet: see the closing note of 2026-12-07)
        assert said and {"default", "k8s.io"} <= set(said.group(1).split(", ")), table.stdout


def test_dead_backend_is_one_line_and_the_others_print(lab_env):
    env = dict(lab_env, DOCKER_HOST="unix:///nonexistent/docker.sock")
    proc = ctrtool("images", "--all-backends", "-o", "json", env=env)
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    assert {r["backend"] for r in data} == {"ctr", "crictl"}
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ctrtool: error:")]
    assert len(errors) == 1
    assert "docker" in errors[0] and "unix:///nonexistent/docker.sock" in errors[0]
    assert "cannot reach the daemon" in errors[0]
    assert "Traceback" not in proc.stderr


def test_every_backend_dead_is_exit_1(lab_env):
    env = dict(
        lab_env,
        DOCKER_HOST="unix:///nonexistent/d.sock",
        CONTAINERD_ADDRESS="/nonexistent/c.sock",
        CONTAINER_RUNTIME_ENDPOINT="unix:///nonexistent/c.sock",
        IMAGE_SERVICE_ENDPOINT="unix:///nonexistent/c.sock",
    )
    proc = ctrtool("--timeout", "5", "images", "--all-backends", env=env)
    assert proc.returncode == 1
    assert len([ln for ln in proc.stderr.splitlines() if ln.startswith("ctrtool: error:")]) == 3


@pytest.fixture
def hung_socket(tmp_path):
    """A unix socket that accepts connections and never answers."""
    path = str(tmp_path / "hung.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield path
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_hung_backend_costs_only_its_timeout(lab_env, hung_socket):
    env = dict(lab_env, CONTAINERD_ADDRESS=hung_socket)
    proc = ctrtool("--timeout", "2", "images", "--all-backends", "-o", "json", env=env)
    assert proc.returncode == 3, proc.stderr
    assert {r["backend"] for r in json.loads(proc.stdout)} == {"docker", "crictl"}
    (err,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ctrtool: error:")]
    assert "ctr" in err and hung_socket in err and "timed out after 2s" in err


def test_missing_tool_is_reported_and_others_print(lab_env, tmp_path):
    conf = tmp_path / "config.yaml"
    conf.write_text("crictl:\n  binary: /nonexistent/bin/crictl\n")
    proc = ctrtool("--config", str(conf), "images", "--all-backends", "-o", "json", env=lab_env)
    assert proc.returncode == 3
    assert {r["backend"] for r in json.loads(proc.stdout)} == {"docker", "ctr"}
    assert "crictl: not installed" in proc.stderr


def test_tool_calls_do_not_grow_with_images(lab_env, lab, tmp_path):
    """Add tags to every store and check that the number of tool invocations stays the same."""

    def count_calls():
        trace = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}.jsonl"
        proc = ctrtool("images", "--all-backends", "-o", "json", env=dict(lab_env, CTRTOOL_TRACE=str(trace)))
        assert proc.returncode == 0, proc.stderr
        return [json.loads(x)["argv"] for x in trace.read_text().splitlines()], len(json.loads(proc.stdout))

    before, rows_before = count_calls()
    docker = ["docker", "-H", lab_env["DOCKER_HOST"]]
    ctr = ["ctr", "-a", lab_env["CONTAINERD_ADDRESS"]]
    extra = [f"localhost/ctrtool/extra:{i}" for i in range(5)]
    try:
        for ref in extra:
            subprocess.run(docker + ["tag", DEMO, ref], check=True, capture_output=True)
            subprocess.run(ctr + ["-n", "default", "images", "tag", DEMO, ref], check=True, capture_output=True)
        after, rows_after = count_calls()
    finally:
        subprocess.run(docker + ["rmi", *extra], capture_output=True)
        subprocess.run(ctr + ["-n", "default", "images", "rm", *extra], capture_output=True)
    # 5 tags in docker and 5 in ctr default; on containerd's image store ctr sees docker's in moby too
    assert rows_after == rows_before + 10 + (5 if lab.profile.docker_store == "containerd" else 0)
    assert len(after) == len(before)
    assert sorted(a[0] for a in after) == sorted(b[0] for b in before)


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_only_on_a_terminal_and_never_with_no_color(lab_env, no_color):
    import sys

    import pexpect

    env = dict(lab_env, TERM="xterm-256color", COLUMNS="200")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ctrtool", "images", "--all-backends"],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "stored 3x" in child.before
    # NO_COLOR (no-color.org) forbids colour; bold and the like may stay
    params = [p for seq in re.findall(r"\x1b\[([0-9;]*)m", child.before) for p in seq.split(";")]
    colours = [p for p in params if p.isdigit() and (30 <= int(p) <= 38 or 90 <= int(p) <= 97)]
    assert bool(colours) is (not no_color)


def test_tables_into_a_pipe_have_no_trailing_blanks(lab_env):
    for args in (["images", "--all-backends"], ["info", "--all-backends"]):
        proc = ctrtool(*args, env=lab_env)
        assert proc.returncode == 0
        lines = proc.stdout.splitlines()
        assert lines and all(line == line.rstrip() for line in lines), args


# -- what the kubelet can use, per name; filters and sorting ---------------------------------------


def _cri_names(native) -> set[str]:
    from ctrtool.refs import canonical

    data = json.loads(native.crictl("images", "-o", "json").stdout)
    return {canonical(t) for i in data["images"] for t in i.get("repoTags") or []}


def test_kubelet_visibility_is_per_name_and_true_to_crictl(native, lab_env):
    """A name tagged only in ctr's default namespace is not available to the kubelet, and its row
    does not claim the copies its image has under other names; every mark agrees with crictl."""
    from ctrtool.refs import canonical

    other = "example.local/visible:2"
    native.ctr("default", "images", "tag", DEMO, other)
    try:
        rows, _ = ctrtool_json("images", "--all-backends", env=lab_env)
        (row,) = [r for r in rows if r["ref"] == other]
        assert row["kubelet_visible"] is False and row["ref_copies"] == 1 and row["copies"] == 3
        demo = [r for r in rows if r["ref"] == DEMO]
        assert all(r["kubelet_visible"] is True and r["ref_copies"] == 3 for r in demo)
        cri = _cri_names(native)
        for r in rows:
            if r["ref"] and not r["ref"].startswith("sha256:"):
                assert r["kubelet_visible"] is (canonical(r["ref"]) in cri), r
        table = ctrtool("images", "--all-backends", env=dict(lab_env, COLUMNS="200"))
        line = next(x for x in table.stdout.splitlines() if other in x)
        assert "1x (image 3x)" in line and "✗" in line and "stored 3x" not in line
        assert any(x.startswith("K8S: ✓ the kubelet can use this name") for x in table.stdout.splitlines())
        # nothing listed what the kubelet has: not known, never a guess
        alone, _ = ctrtool_json("images", "-b", "docker", env=lab_env)
        assert alone and all(r["kubelet_visible"] is None for r in alone)
        default_only, _ = ctrtool_json("images", "-b", "ctr", "-n", "default", env=lab_env)
        assert all(r["kubelet_visible"] is None for r in default_only)
    finally:
        native.ctr("default", "images", "rm", other, check=False)


def test_the_cris_id_names_are_folded_into_the_image_they_name(native, lab_env, rows):
    """ctr lists every image of k8s.io also by its id (the CRI plugin names it so): no row of its
    own, but in the named row's ``aliases`` (of every name the image has there); the table has no
    sha256: row either. Counts and kubelet visibility are the named row's."""
    listed = native.ctr("k8s.io", "images", "ls", "-q").stdout.split()
    id_names = {n for n in listed if n.startswith("sha256:") and len(n) == 71}
    assert id_names  # the CRI plugin did name them
    ctr_k8s = by(rows, backend="ctr", namespace="k8s.io")
    named_ids = {r["id"] for r in ctr_k8s if r["ref"] and not r["ref"].startswith("sha256:")}
    assert not [r for r in rows if r["ref"] in named_ids]  # no alias row left, in any backend
    for r in ctr_k8s:
        if r["ref"] and not r["ref"].startswith("sha256:"):
            assert r["aliases"] == ([r["id"]] if r["id"] in id_names else []), r
    (demo,) = by(rows, backend="ctr", namespace="k8s.io", ref=DEMO)
    assert demo["aliases"] == [demo["id"]]
    assert demo["kubelet_visible"] is True and demo["copies"] == by(rows, backend="docker", ref=DEMO)[0]["copies"]
    assert {a for r in rows for a in r["aliases"]} == id_names & named_ids
    assert all(r["aliases"] == [] for r in rows if r["backend"] != "ctr" or r["namespace"] != "k8s.io")
    table = ctrtool("images", "--all-backends", env=dict(lab_env, COLUMNS="200"))
    assert "sha256:" not in "".join(
        line.split()[2] for line in table.stdout.splitlines()[2:] if line.startswith(("ctr ", "crictl ", "docker "))
    )
    # a second name of the same image in k8s.io: the id-name is an alias of both
    native.ctr("k8s.io", "images", "tag", DEMO, "localhost/ctrtool/alias-probe:1")
    try:
        both, _ = ctrtool_json("images", "-b", "ctr", "-n", "k8s.io", env=lab_env)
        probe = by(both, ref="localhost/ctrtool/alias-probe:1")
        assert probe and probe[0]["aliases"] == [demo["id"]]
        assert by(both, ref=DEMO)[0]["aliases"] == [demo["id"]]
    finally:
        native.ctr("k8s.io", "images", "rm", "localhost/ctrtool/alias-probe:1", check=False)


def test_repository_and_reference_filters(lab_env, rows):
    demo, _ = ctrtool_json("images", "--all-backends", "localhost/ctrtool/demo", env=lab_env)
    assert demo and {r["ref"] for r in demo} == {DEMO}
    assert len(demo) == len([r for r in rows if r["ref"] == DEMO])
    tagged, _ = ctrtool_json("images", "--all-backends", "localhost/ctrtool/demo:9.9", env=lab_env)
    assert tagged == []
    pause, _ = ctrtool_json("images", "-A", "--filter", "reference=localhost/*/pau*", env=lab_env)
    assert pause and {r["ref"] for r in pause} == {PAUSE}
    both, _ = ctrtool_json("images", "-A", "-f", "reference=localhost/ctrtool/*", "-f", "dangling=false", env=lab_env)
    assert {r["ref"] for r in both} == {DEMO, PAUSE}
    dangling, _ = ctrtool_json("images", "-A", "--filter", "dangling=true", env=lab_env)
    assert all(r["ref"] is None for r in dangling)  # the CRI's id-names of named images are not dangling
    for bad in (
        ["--filter", "colour=red"],
        ["--filter", "dangling=maybe"],
        ["--filter", "reference"],
        ["--sort", "age"],
    ):
        proc = ctrtool("images", "-A", *bad, env=dict(lab_env, CTRTOOL_DEBUG=""))
        assert proc.returncode == 2 and proc.stdout == "", (bad, proc.stderr)
        assert proc.stderr.startswith("ctrtool: error: ") and "debug: run:" not in proc.stderr


def test_sorting_and_created_times_are_true(lab_env, native, lab):
    by_size, _ = ctrtool_json("images", "-A", "--sort", "size", env=lab_env)
    sizes = [r["size"] for r in by_size]
    assert sizes == sorted(sizes, reverse=True)
    by_ref, _ = ctrtool_json("images", "-A", "--sort", "ref", env=lab_env)
    refs = [r["ref"] for r in by_ref if r["ref"]]
    assert refs == sorted(refs)
    by_created, _ = ctrtool_json("images", "-A", "--sort", "created", env=lab_env)
    times = [r["created"] for r in by_created if r["created"]]
    assert times and times == sorted(times, reverse=True)
    # each created time is the image config's own, read independently
    for r in by_created:
        if r["backend"] == "docker" and r["ref"]:
            raw = json.loads(native.docker("image", "inspect", r["ref"]).stdout)[0]["Created"]
            assert raw.startswith(r["created"][:19]), (raw, r)
        elif r["content_store"] and r["id"]:
            with open(os.path.join(r["content_store"], "blobs", "sha256", r["id"][7:])) as fh:
                assert json.load(fh)["created"].startswith(r["created"][:19]), r
