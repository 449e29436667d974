"""The fast read path against the real lab (every profile): ctr's listings read from containerd's
meta.db and content store on disk give the same rows as the tools; it reads consistently while
containerd writes; its tool calls do not grow with the number of images."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest
from helpers import ctrtool, ctrtool_json

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"


def without_source(rows):
    return [{k: v for k, v in r.items() if k != "source"} for r in rows]


def ctr_cmd(lab_env):
    return ["ctr", "-a", lab_env["CONTAINERD_ADDRESS"]]


@pytest.fixture(scope="module")
def extra_tags(lab_env):
    """A few more names in ctr's default namespace, so that the rows compared are more than one."""
    refs = [f"localhost/ctrtool/fast-row:{i}" for i in range(3)]
    for ref in refs:
        subprocess.run(
            ctr_cmd(lab_env) + ["-n", "default", "images", "tag", DEMO, ref], check=True, capture_output=True
        )
    yield refs
    subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "rm", *refs], capture_output=True)


def test_images_fast_and_tool_paths_give_the_same_rows(lab_env, extra_tags):
    fast, proc = ctrtool_json("images", "--all-backends", env=lab_env)
    assert "listed with ctr" not in proc.stderr, proc.stderr
    tool, _ = ctrtool_json("--via", "tools", "images", "--all-backends", env=lab_env)
    assert without_source(fast) == without_source(tool)
    ctr_rows = [r for r in fast if r["backend"] == "ctr"]
    assert ctr_rows and {r["source"] for r in ctr_rows} == {"metadata"}
    # docker through its Engine API on the socket; crictl always the tool (the CRI's own view)
    assert {r["source"] for r in fast if r["backend"] == "docker"} == {"api"}
    assert {r["source"] for r in fast if r["backend"] == "crictl"} == {"tool"}
    assert {r["source"] for r in tool} == {"tool"}
    assert set(extra_tags) <= {r["ref"] for r in ctr_rows}
    # the env variable does what the option does
    env_tool, _ = ctrtool_json("images", "--all-backends", env=dict(lab_env, CTRTOOL_VIA="tools"))
    assert env_tool == tool


@pytest.mark.parametrize("command", [["layers", DEMO], ["df"]])
def test_layers_and_df_fast_and_tool_paths_agree(lab_env, command):
    fast, _ = ctrtool_json(*command, "--all-backends", env=lab_env)
    tool, _ = ctrtool_json("--via", "tools", *command, "--all-backends", env=lab_env)
    assert fast == tool


def test_reads_while_containerd_writes(lab_env):
    """Tagging in a loop with ctr (each tag a bbolt commit) while ctrtool lists 30 times: no errors,
    no warnings, and no torn row (every one of ctr's rows complete and the demo image's)."""
    demo_rows, _ = ctrtool_json("images", "-b", "ctr", "-n", "default", DEMO, env=lab_env)
    (demo,) = [r for r in demo_rows if r["ref"] == DEMO]
    stop = threading.Event()
    made: list[str] = []
    failures: list[str] = []

    def tag_loop():
        i = 0
        while not stop.is_set():
            ref = f"localhost/ctrtool/fast-conc:{i}"
            p = subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "tag", DEMO, ref], capture_output=True)
            if p.returncode:
                failures.append(p.stderr.decode())
            else:
                made.append(ref)
            if i % 3 == 2:  # removals are writes too
                subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "rm", made.pop(0)], capture_output=True)
            i += 1

    writer = threading.Thread(target=tag_loop)
    writer.start()
    seen = set()
    try:
        for _ in range(30):
            proc = ctrtool("images", "-b", "ctr", "-n", "default", "-o", "json", env=lab_env)
            assert proc.returncode == 0, proc.stderr
            assert "warning" not in proc.stderr.lower(), proc.stderr
            rows = json.loads(proc.stdout)
            for r in rows:
                assert r["source"] == "metadata", r
                if r["ref"].startswith("localhost/ctrtool/fast-conc:"):
                    seen.add(r["ref"])
                    assert (r["id"], r["digest"], r["size"]) == (demo["id"], demo["digest"], demo["size"]), r
                assert r["id"] and r["digest"] and r["size"], r
    finally:
        stop.set()
        writer.join()
        subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "rm", *made], capture_output=True)
    assert not failures, failures[:3]
    assert seen, "the reads saw none of the tags written meanwhile"


def test_reader_in_process_while_containerd_writes(lab_env):
    """The same, faster: the reader itself, 300 reads of meta.db during tagging; every read is one
    transaction (the images it lists only ever grow in steps the writer made, nothing half-written)."""
    from ctrtool.adapters.metadata import meta_db_path, read_metadata

    out = subprocess.run(ctr_cmd(lab_env) + ["plugins", "ls", "-d"], capture_output=True, text=True, check=True)
    content = next(ln.split()[-1] for ln in out.stdout.splitlines() if ln.strip().endswith(".content.v1.content"))
    path = meta_db_path(os.path.dirname(content))
    stop = threading.Event()
    refs = [f"localhost/ctrtool/fast-inproc:{i}" for i in range(40)]

    def tag_loop():
        for ref in refs:
            if stop.is_set():
                break
            subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "tag", DEMO, ref], capture_output=True)

    writer = threading.Thread(target=tag_loop)
    writer.start()
    txids = []
    try:
        for _ in range(300):
            meta = read_metadata(path)
            txids.append(meta.txid)
            for image in meta.images["default"]:
                assert image.digest and image.digest.startswith("sha256:") and image.media_type and image.size
                assert meta.content["default"].get(image.digest) == image.size, image
    finally:
        stop.set()
        writer.join()
        subprocess.run(ctr_cmd(lab_env) + ["-n", "default", "images", "rm", *refs], capture_output=True)
    assert len(set(txids)) > 1, "containerd committed while the reader read"


def _trace(lab_env, tmp_path, *args):
    trace = tmp_path / f"trace-{len(list(tmp_path.iterdir()))}.jsonl"
    proc = ctrtool(*args, env=dict(lab_env, CTRTOOL_TRACE=str(trace)))
    assert proc.returncode == 0, proc.stderr
    return [json.loads(x)["argv"] for x in trace.read_text().splitlines()]


def test_tool_calls_do_not_grow_with_images(lab_env, tmp_path):
    """The calls of `images --all-backends` (both paths) are the same before and after adding tags;
    the fast path asks ctr once (`plugins ls`: where containerd's root is), whatever the namespaces,
    and starts no docker process (the Engine API answers)."""

    def calls(*via):
        argvs = _trace(lab_env, tmp_path, *via, "images", "--all-backends", "-q")
        return sorted(" ".join(a for a in argv if not a.startswith("/")).split(" --")[0] for argv in argvs), argvs

    before_fast, argvs = calls()
    ctr_calls = [a for a in argvs if os.path.basename(a[0]) == "ctr"]
    assert len(ctr_calls) == 1 and ctr_calls[0][-3:] == ["plugins", "ls", "--detailed"], ctr_calls
    assert not [a for a in argvs if os.path.basename(a[0]) == "docker"], argvs
    before_tool, _ = calls("--via", "tools")
    docker = ["docker", "-H", lab_env["DOCKER_HOST"]]
    extra = [f"localhost/ctrtool/fast-calls:{i}" for i in range(8)]
    try:
        for ref in extra:
            subprocess.run(docker + ["tag", DEMO, ref], check=True, capture_output=True)
            for ns in ("default", "k8s.io"):
                subprocess.run(
                    ctr_cmd(lab_env) + ["-n", ns, "images", "tag", DEMO, ref], check=True, capture_output=True
                )
        after_fast, _ = calls()
        after_tool, _ = calls("--via", "tools")
    finally:
        subprocess.run(docker + ["rmi", *extra], capture_output=True)
        for ns in ("default", "k8s.io"):
            subprocess.run(ctr_cmd(lab_env) + ["-n", ns, "images", "rm", *extra], capture_output=True)
    assert after_fast == before_fast
    assert after_tool == before_tool
    assert len(before_fast) < len(before_tool)


def test_info_counts_every_namespace_from_the_metadata(lab_env, extra_tags, tmp_path):
    """`info -b ctr` counts each namespace's names from meta.db (no `images ls` per namespace), and
    the counts are what ctr lists."""
    fast, _ = ctrtool_json("info", "-b", "ctr", env=lab_env)
    tool, _ = ctrtool_json("--via", "tools", "info", "-b", "ctr", env=lab_env)
    assert fast == tool
    counts = fast[0]["namespace_image_counts"]
    for ns, n in counts.items():
        listed = subprocess.run(
            ctr_cmd(lab_env) + ["-n", ns, "images", "ls", "-q"], check=True, capture_output=True, text=True
        ).stdout.split()
        assert n == len(listed), ns
    argvs = _trace(lab_env, tmp_path, "info", "-b", "ctr")
    assert not [a for a in argvs if "images" in a], argvs
