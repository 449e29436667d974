"""`ctrtool explain IMAGE` against the real lab: the sentences carry the numbers and paths of
`layers`, the paths exist, and the sizes agree with du."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers import ctrtool, ctrtool_json
from registry import scratch_image
from test_layers_lab import close, file_bytes
from workloads import Native

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
FIELDS = ["image", "stored", "duplicated", "places", "blobs", "advice", "sentences", "verdict", "recommendation"]
PLACE_FIELDS = ["store", "backend", "namespace", "seen_by", "has_image", "paths", "bytes", "refs", "used_by"]


@pytest.fixture(scope="module")
def told(lab_env):
    data, _ = ctrtool_json("explain", "--all-backends", DEMO, env=lab_env)
    return data


@pytest.fixture(scope="module")
def layers(lab_env):
    data, _ = ctrtool_json("layers", "--all-backends", DEMO, env=lab_env)
    return data


def test_facts_are_those_of_layers_and_true_on_disk(told, layers, lab, docker_place):
    assert list(told) == FIELDS
    assert told["stored"] == 3
    assert told["duplicated"] == sum(layer["duplicated"] for layer in layers)
    assert sorted(p["store"] for p in told["places"]) == sorted(
        [docker_place, "containerd namespace default", "containerd namespace k8s.io"]
    )
    unpacked = {c["path"] for layer in layers for c in layer["copies"] if c["kind"] == "unpacked"}
    assert {path for p in told["places"] for path in p["paths"]} == unpacked
    for p in told["places"]:
        assert list(p) == PLACE_FIELDS
        assert all(os.path.isdir(path) for path in p["paths"])
        assert p["bytes"] == sum(file_bytes(path) for path in p["paths"])
        du = subprocess.run(["du", "-scb", *p["paths"]], capture_output=True, text=True, check=True)
        assert close(p["bytes"], int(du.stdout.splitlines()[-1].split()[0])), p
    place = {p["store"]: p for p in told["places"]}
    assert place["containerd namespace k8s.io"]["seen_by"] == ["ctr", "crictl"]
    assert "docker" in place[docker_place]["seen_by"]
    assert all(p["has_image"] for p in told["places"])
    blobs = told["blobs"]
    assert len(blobs["paths"]) == len(layers)
    assert all(os.path.isfile(path) for path in blobs["paths"])
    assert blobs["bytes"] == sum(os.path.getsize(path) for path in blobs["paths"])
    assert {"default", "k8s.io"} <= set(blobs["namespaces"])


def test_sentences_carry_the_numbers_and_paths(told, lab_env, lab):
    first, recommended, *rest = told["sentences"]
    assert first == told["verdict"]
    assert first.startswith(f"{DEMO} is stored 3 times") and f"({told['duplicated']} bytes) duplicated" in first
    assert recommended == f"recommended: {told['recommendation']['text']}"
    for place, line in zip(told["places"], rest):
        assert f"({place['bytes']} bytes)" in line
        assert all(path in line for path in place["paths"])
    if lab.profile.docker_store == "overlay2":
        assert rest[0].startswith("docker keeps its own unpacked copy")
    else:
        assert any(
            line.startswith(
                "containerd namespace moby (docker's images: docker is on containerd's image "
                "store) unpacks its own snapshot"
            )
            for line in rest[:3]
        )
    assert any(line.startswith("containerd namespace default unpacks its own snapshot") for line in rest[:3])
    assert any("crictl" in line for line in rest[:3])
    blob_line = rest[3]
    assert "shared by namespaces" in blob_line and f"({told['blobs']['bytes']} bytes)" in blob_line
    assert all(path in blob_line for path in told["blobs"]["paths"])
    (todo,) = told["advice"]
    assert todo == told["recommendation"]["text"]
    # through the tool that owns each copy: docker's (even when it is namespace moby), never ctr -n moby
    commands = told["recommendation"]["commands"]
    assert sorted(commands) == sorted(
        [f"ctrtool rmi --backend docker {DEMO}", f"ctrtool rmi --backend ctr -n default {DEMO}"]
    )
    assert all(c in todo for c in commands)
    assert "-n moby" not in todo and "-n k8s.io" not in todo
    assert "k8s.io" in todo and told["recommendation"]["action"] == "remove"
    # into a pipe without COLUMNS the sentences are not wrapped (on a terminal they are)
    text = ctrtool("explain", "-A", DEMO, env={k: v for k, v in lab_env.items() if k != "COLUMNS"})
    assert text.returncode == 0, text.stderr
    printed = text.stdout.splitlines()
    # the verdict and the one recommendation come first, the evidence after them
    assert printed[0] == told["verdict"] + "."
    assert printed[1] == f"recommended: {told['recommendation']['headline']}:"
    assert [line.strip() for line in printed[2 : 2 + len(commands)]] == commands
    evidence = printed.index("evidence:")
    assert evidence > 2 + len(commands)
    assert [line.removeprefix("  - ") for line in printed[evidence + 1 :]] == rest


def test_the_recommendation_clears_what_would_keep_the_bytes(native, lab_env, tmp_path):
    """Removing one name frees nothing while the image has another name in that store: the
    recommended command removes every name, each once. A copy a container uses gets no command
    (advice never removes a container): it is named as what is in the way. Run as given, the
    commands free the copy they name (its snapshot directories go) and leave docker's alone."""
    ref, other, name = "localhost/ctrtool/explain:1", "example.local/explain-other:2", "ctrtool-explain-user"
    image = scratch_image(ref)
    archive = tmp_path / "explain.tar"
    archive.write_bytes(image.archive)
    try:
        native.docker("load", "-i", str(archive))
        for ns in ("default", "k8s.io"):
            native.ctr(ns, "images", "import", str(archive))
        native.ctr("default", "images", "tag", ref, other)
        native.docker("create", "--name", name, ref, "true")
        told, _ = ctrtool_json("explain", "-A", ref, env=lab_env)
        rec = told["recommendation"]
        assert rec["action"] == "remove"
        (default,) = [p for p in told["places"] if p["namespace"] == "default"]
        (rmi_default,) = rec["commands"]
        assert rmi_default.startswith("ctrtool rmi --backend ctr -n default ")
        assert sorted(rmi_default.split()[6:]) == sorted(default["refs"]) and other in default["refs"]
        assert not any(c.startswith("ctrtool rm ") for c in rec["commands"]), rec
        assert any(name in b and "stays" in b for b in rec["blockers"]) and any(other in b for b in rec["blockers"])
        assert default["used_by"] == []
        (docker,) = [p for p in told["places"] if "docker" in p["seen_by"]]
        assert docker["used_by"] == [name] and docker["refs"] == [ref]
        # every command, run as given (the test answers the prompt), succeeds; the copy it removed is gone
        for command in rec["commands"]:
            done = ctrtool(*command.split()[1:], "--yes", env=lab_env)
            assert done.returncode == 0, (command, done.stderr)
        Native.wait(lambda: not any(os.path.exists(path) for path in default["paths"]))
        assert all(os.path.exists(path) for path in docker["paths"])
        after, _ = ctrtool_json("explain", "-A", ref, env=lab_env)
        assert after["stored"] == 2 and after["recommendation"]["action"] == "blocked"
        assert after["recommendation"]["commands"] == [] and any(name in b for b in after["recommendation"]["blockers"])
    finally:
        native.docker("rm", "-f", name, check=False)
        # by name: Docker 29 on containerd's image store knows no image by its config digest
        native.forget_images(ref, other)


def test_one_store_and_the_kubelet_hint(lab_env):
    once, _ = ctrtool_json("explain", "-b", "docker", DEMO, env=lab_env)
    assert once["stored"] == 1 and once["duplicated"] == 0
    assert once["sentences"][0] == once["verdict"] == f"{DEMO} is stored once, nothing duplicated"
    two, _ = ctrtool_json("explain", "-b", "docker", "-b", "ctr", "-n", "default", DEMO, env=lab_env)
    assert two["stored"] == 2
    assert not any("kubelet cannot see" in a for a in two["advice"])  # k8s.io was not asked
    both, _ = ctrtool_json(
        "explain",
        "-b",
        "docker",
        "-b",
        "ctr",
        "-n",
        "default",
        "-n",
        "k8s.io",
        "localhost/ctrtool/pause:3.6",
        env=lab_env,
    )
    # pause is in k8s.io only; namespace default unpacks its base layer for the demo image
    assert both["stored"] == 1 and both["advice"] == ["nothing: the image is stored once"]
    assert both["recommendation"]["action"] == "nothing" and both["recommendation"]["commands"] == []
    (other,) = [p for p in both["places"] if not p["has_image"]]
    assert other["namespace"] == "default" and all(os.path.isdir(path) for path in other["paths"])
    assert "also unpacked for other images" in both["sentences"][0]
    assert any(s.startswith("containerd namespace default does not have the image") for s in both["sentences"])


def test_not_found(lab_env):
    proc = ctrtool("explain", "-A", "localhost/ctrtool/nonexistent:9", env=lab_env)
    assert proc.returncode == 1 and "not found" in proc.stderr and proc.stdout == ""


def test_the_recommendation_frees_what_the_plan_says(lab_env):
    """explain and df --plan read one account: the bytes explain's removals free are the plan's
    steps for that image, added up."""
    told, _ = ctrtool_json("explain", "-A", DEMO, env=lab_env)
    plan, _ = ctrtool_json("df", "--plan", "-A", env=lab_env)
    steps = [s for s in plan["steps"] if s["image"] == DEMO and s["commands"]]
    assert steps and told["recommendation"]["frees"] == sum(s["frees"] for s in steps) > 0


def test_a_copy_recommendation_says_what_the_copy_adds(native, lab_env, tmp_path):
    """An image only in docker: explain recommends the copy to the kubelet's namespace, and says what
    it will add on disk; carried out, copy adds that much (its own measure, du before and after)."""
    import re

    ref = "localhost/ctrtool/explain-copy:1"
    image = scratch_image(ref)
    archive = tmp_path / "copy.tar"
    archive.write_bytes(image.archive)
    try:
        native.docker("load", "-i", str(archive))
        told, _ = ctrtool_json("explain", "-A", ref, env=lab_env)
        rec = told["recommendation"]
        assert rec["action"] == "copy" and rec["copy_adds"] is not None, rec
        adds = rec["copy_adds"]["blobs"] + rec["copy_adds"]["unpacked"]
        assert "the copy adds" in rec["text"] and adds > 0
        shown = ctrtool("explain", "-A", ref, env=dict(lab_env, COLUMNS="200"))
        assert "(the copy adds" in shown.stdout
        done = ctrtool(*rec["commands"][0].split()[1:], env=lab_env)
        assert done.returncode == 0, done.stderr
        added = int(re.search(r"it added [^(]+\((-?\d+) bytes\)", done.stderr).group(1))
        assert abs(added - adds) <= adds * 0.05 + 65536, (added, adds)
    finally:
        native.forget_images(ref)
