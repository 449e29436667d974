#!/usr/bin/env python3
"""Re-record the unit-test fixtures from the real tools in the local lab.

    ctrtool lab up && python3 scripts/record_fixtures.py [--lab-dir DIR] [--only containers] [--out DIR]

``--out tests/fixtures/profiles/modern`` (with a lab of that profile: ``--lab-dir``) records another
stack's fixtures beside the default ones (the debian profile's, in tests/fixtures). tests/replay.py
serves them back to the adapters, so that core is tested on them without daemons.

Every tool call that the adapters make for `images` and `info` is saved as
tests/fixtures/<tool>/<slug>.json ({argv, returncode, stdout, stderr}), plus the failures each tool
prints for a socket that does not exist, and the ctr manifests and configs (content blobs) that
the image listing reads from disk. For `ps` and `pods` the script first makes a few workloads with
the native tools (a running and a created docker container, a ctr container with a task and one
without, a CRI pod with a running and a created container), records the listings, and removes
them. ``--only containers`` records just those listings, leaving the other fixtures as they are.

``--only podman`` needs no lab: it makes a podman store of its own under /var/tmp (a storage.conf
named by CONTAINERS_STORAGE_CONF, graph root and run root beside it), loads the lab's two images
into it, makes a created and a running container, and a rootless-like store in a user's home (a
passwd file named by CTRTOOL_PASSWD_FILE, the store populated with ``podman --root`` as root, one
image and one container); records podman's calls for images, info and ps into tests/fixtures/podman,
copies both stores' metadata files (images.json, layers.json, containers.json) beside them, and
removes the stores (``podman system reset``) and the directory.
Nothing in tests/fixtures is written by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ctrtool import runner  # noqa: E402
from ctrtool.adapters import BACKENDS, adapter_class  # noqa: E402
from ctrtool.config import Flags, load  # noqa: E402
from ctrtool.errors import CtrtoolError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
# connection flags and their values are left out of the fixture names
CONNECTION_FLAGS = {
    "--host",
    "--context",
    "--address",
    "--config",
    "--runtime-endpoint",
    "--image-endpoint",
    "--timeout",
    # podman's store, named on every call
    "--root",
    "--runroot",
    "--storage-driver",
}
# the backends recorded against the lab (podman is recorded against a store of its own: --only podman)
LAB_BACKENDS = [b for b in BACKENDS if b != "podman"]


def slug(argv: list[str]) -> str:
    words, skip = [], False
    for token in argv[1:]:
        if skip:
            skip = False
            continue
        if token in CONNECTION_FLAGS:
            skip = True
            continue
        if token.startswith("sha256:") or "{{" in token:  # image ids, Go templates
            continue
        words.append(token)
    name = "_".join(words)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "call"


def write(results: list[runner.Result], prefix: str) -> list[Path]:
    written = []
    for result in results:
        tool = os.path.basename(result.argv[0])
        path = FIXTURES / tool / f"{prefix}{slug(result.argv)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "argv": result.argv,
                    "returncode": result.returncode,
                    "stdout": result.stdout,
                    "stderr": result.stderr,
                },
                indent=1,
            )
            + "\n"
        )
        written.append(path)
    return written


# PID 1 of the recorded containers: waits, and exits at once on SIGTERM
SCRIPT = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"


@contextlib.contextmanager
def workloads(lab, env: dict[str, str]):
    """Containers in every state each tool has, made with the native tools, removed afterwards."""
    from ctrtool.lab import DEMO_IMAGE, find_crictl

    crictl = find_crictl() or "crictl"
    tmp = Path(tempfile.mkdtemp(prefix="ctrtool-record-"))

    def tool(*argv: str, check: bool = True) -> str:
        return runner.run(list(argv), timeout=60, env=env, check=check).stdout.strip()

    runc_root = str(lab.directory / "containerd" / "runc")
    pod_config = tmp / "pod.json"
    pod_config.write_text(
        json.dumps(
            {
                "metadata": {"name": "record-pod", "namespace": "default", "uid": "record-uid", "attempt": 0},
                "log_directory": str(tmp / "logs"),
                "linux": {},
            }
        )
    )
    pod = None
    try:
        tool("docker", "run", "-d", "--network", "none", "--name", "record-running", DEMO_IMAGE, "sh", "-c", SCRIPT)
        tool("docker", "create", "--network", "none", "--name", "record-created", DEMO_IMAGE, "true")
        for name in ("record-task", "record-no-task"):
            tool(
                "ctr",
                "-n",
                "default",
                "run",
                "-d",
                "--null-io",
                "--runc-root",
                runc_root,
                DEMO_IMAGE,
                name,
                "sh",
                "-c",
                SCRIPT,
            )
        tool("ctr", "-n", "default", "tasks", "delete", "--force", "record-no-task")
        pod = tool(crictl, "runp", str(pod_config))
        for name, start in (("record-box", True), ("record-new", False)):
            config = tmp / f"{name}.json"
            config.write_text(
                json.dumps(
                    {
                        "metadata": {"name": name},
                        "image": {"image": DEMO_IMAGE},
                        "command": ["sh", "-c", SCRIPT],
                        "log_path": f"{name}.log",
                        "linux": {},
                    }
                )
            )
            cid = tool(crictl, "create", pod, str(config), str(pod_config))
            if start:
                tool(crictl, "start", cid)
        yield
    finally:
        tool("docker", "rm", "--force", "record-running", "record-created", check=False)
        for name in ("record-task", "record-no-task"):
            tool("ctr", "-n", "default", "tasks", "delete", "--force", name, check=False)
            tool("ctr", "-n", "default", "containers", "rm", name, check=False)
        if pod:
            tool(crictl, "rmp", "--force", pod, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


# podman's containers run where the machine's limits are not podman's defaults (a container host
# that may not raise RLIMIT_NOFILE/NPROC): explicit, low limits
PODMAN_ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
PODMAN_STORE_FILES = ("overlay-images/images.json", "overlay-layers/layers.json", "overlay-containers/containers.json")


def podman_store(base: Path) -> dict[str, str]:
    """A podman store of its own under ``base``, and a rootless-like one in user alice's home:
    the environment that points podman and ctrtool at them."""
    conf = base / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{base / "root"}"\nrunroot = "{base / "run"}"\n')
    home = base / "home" / "alice"
    home.mkdir(parents=True)
    (base / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\nalice:x:4242:4242:alice:{home}:/bin/sh\n")
    return {"CONTAINERS_STORAGE_CONF": str(conf), "CTRTOOL_PASSWD_FILE": str(base / "passwd")}


def record_podman() -> list[Path]:
    """podman's calls for images, info and ps, on a store of its own (see the module's doc)."""
    from ctrtool import imagebuild

    base = Path(tempfile.mkdtemp(prefix="ctrtool-test-podman-rec-", dir="/var/tmp"))
    env = {**os.environ, **podman_store(base)}
    user_root = str(base / "home" / "alice" / ".local" / "share" / "containers" / "storage")
    # podman refuses a run root longer than 50 characters
    as_user = ["--root", user_root, "--runroot", str(base / "ar"), "--storage-driver", "overlay"]

    def podman(*argv: str, check: bool = True) -> str:
        return runner.run(["podman", *argv], timeout=120, env=env, check=check).stdout.strip()

    calls: list[runner.Result] = []
    try:
        built = imagebuild.build_images(base / "images")
        for image in built.values():
            podman("load", "--input", str(image.path))
        podman(*as_user, "load", "--input", str(built[imagebuild.PAUSE_IMAGE].path))
        podman(*as_user, "create", "--name", "record-rootless", imagebuild.PAUSE_IMAGE, "true")
        os.chown(base / "home" / "alice", 4242, 4242)
        podman("create", "--network", "none", "--name", "record-created", imagebuild.DEMO_IMAGE, "true")
        podman(
            "run", "-d", "--network", "none", *PODMAN_ULIMITS, "--name", "record-running",
            imagebuild.DEMO_IMAGE, "sh", "-c", SCRIPT,
        )  # fmt: skip
        settings = load(Flags(), env=env)
        shutil.rmtree(FIXTURES / "podman", ignore_errors=True)
        runner.set_recorder(calls.append)
        adapter = adapter_class("podman")(settings)
        adapter.images()
        adapter.info()
        adapter.containers()
        runner.set_recorder(None)
        written = write(calls, "")
        for name, root in (("rootful", str(base / "root")), ("alice", user_root)):
            for rel in PODMAN_STORE_FILES:
                target = FIXTURES / "podman" / "store" / name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(root) / rel, target)
                written.append(target)
        meta = FIXTURES / "podman" / "store" / "recorded.json"
        meta.write_text(json.dumps({"base": str(base), "alice": user_root}, indent=1) + "\n")
        written.append(meta)
        return written
    finally:
        runner.set_recorder(None)
        podman("rm", "--force", "--time", "0", "record-running", "record-created", check=False)
        podman("system", "reset", "--force", check=False)
        podman(*as_user, "system", "reset", "--force", check=False)
        # podman's overlay driver mounts its own directory (and a container's rootfs) under base
        with open("/proc/self/mounts") as fh:
            mounts = [line.split()[1] for line in fh if f" {base}/" in line]
        for mount in sorted(mounts, key=len, reverse=True):
            runner.run(["umount", "--lazy", mount], timeout=30, check=False)
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab-dir", default=None)
    parser.add_argument(
        "--only",
        choices=["containers", "podman"],
        default=None,
        help="record only the container and pod listings, or only podman's calls (on a store of its own)",
    )
    parser.add_argument("--out", default=None, help="fixture directory (default: tests/fixtures)")
    args = parser.parse_args()
    from ctrtool.lab import Lab

    global FIXTURES
    if args.out:
        FIXTURES = Path(args.out).resolve()
    if args.only == "podman":
        for path in record_podman():
            print(path)
        return 0
    lab = Lab(args.lab_dir)
    env = dict(os.environ)
    env.pop("DOCKER_CONTEXT", None)
    env.update(lab.env())
    calls: list[runner.Result] = []
    runner.set_recorder(calls.append)

    settings = load(Flags(), env=env)
    container_calls: list[runner.Result] = []
    runner.set_recorder(None)
    with workloads(lab, env):
        runner.set_recorder(container_calls.append)
        for backend in LAB_BACKENDS:
            adapter_class(backend)(settings).containers()
        adapter_class("crictl")(settings).pods()
        runner.set_recorder(None)
    # the listings only: the namespace list and versions belong to the images/info recording
    container_calls = [c for c in container_calls if re.search(r"(containers|tasks)_ls|^ps_|^pods_", slug(c.argv))]
    runner.set_recorder(calls.append)
    if args.only == "containers":
        for path in write(container_calls, ""):
            print(path)
        return 0

    for backend in LAB_BACKENDS:
        shutil.rmtree(FIXTURES / backend, ignore_errors=True)
        adapter = adapter_class(backend)(settings)
        adapter.images()
        adapter.info()
    calls.extend(container_calls)
    # what each tool prints when its socket does not exist
    dead = load(
        Flags(
            docker_host="unix:///nonexistent/docker.sock",
            containerd_address="/nonexistent/containerd.sock",
            runtime_endpoint="unix:///nonexistent/cri.sock",
            timeout=30,
        ),
        env=env,
    )
    dead_calls: list[runner.Result] = []
    runner.set_recorder(dead_calls.append)
    for backend in LAB_BACKENDS:
        try:
            adapter_class(backend)(dead).info()
        except CtrtoolError:
            pass
    runner.set_recorder(None)

    written = write(calls, "") + write(dead_calls, "unreachable_")

    # the ctr manifests and configs that the image listing reads from the content store
    plugins = adapter_class("ctr")(settings).plugins()
    blob_dir = FIXTURES / "ctr" / "content" / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    wanted = set()
    for path in (FIXTURES / "ctr").glob("*images_ls.json"):
        wanted.update(re.findall(r"sha256:([0-9a-f]{64})", json.loads(path.read_text())["stdout"]))
    for hexdigest in sorted(wanted):
        src = Path(plugins.content_root) / "blobs" / "sha256" / hexdigest
        if src.exists() and src.stat().st_size < 1_000_000:
            shutil.copyfile(src, blob_dir / hexdigest)
            doc = json.loads(src.read_bytes())
            config = (doc.get("config") or {}).get("digest", "")
            if config.startswith("sha256:"):
                shutil.copyfile(Path(plugins.content_root) / "blobs" / "sha256" / config[7:], blob_dir / config[7:])
    (FIXTURES / "recorded-from.json").write_text(
        json.dumps(
            {
                "lab_dir": str(lab.directory),
                "content_root": plugins.content_root,
                "profile": lab.profile.name,
                "env": {k: v for k, v in lab.env().items() if k != "PATH"},
            },
            indent=1,
        )
        + "\n"
    )
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
