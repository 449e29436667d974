"""ctrtool's node image run for real on the lab's containerd, the way `ctrtool nodes` runs it on a node:
a privileged container in the host's PID namespace with the host's / at /host (what a pod with
hostPID: true and a hostPath / volume gets), its entrypoint chrooting into the host with the image's
own Python. The containerd daemon's PID namespace stands for the host's (PID 1's may not be readable)."""

from __future__ import annotations

import json
import pathlib
import platform
import secrets
import subprocess
import tarfile
import time

import pytest

import ctrtool
from ctrtool.fleet import nodeimage

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> nodeimage.NodeImage:
    # a reference of its own: nothing else's image is replaced or removed
    ref = f"localhost/ctrtool-node:test-{secrets.token_hex(4)}"
    return nodeimage.build(tmp_path_factory.mktemp("node") / "node.tar", ref=ref)


OUT_DIR = "/ctrtool-test-out"  # where a run writes its output, bind-mounted from the test's tmp dir


class NodeRun:
    """ctr on the lab: import the image, run it as a node pod would run, clean up.

    The container's output (stdout and stderr together, in the order written) is written by the
    container itself into a file of a directory bind-mounted from the test's tmp directory
    (``busybox sh -c '"$@" >FILE 2>&1'`` around the entrypoint), and CompletedProcess.stdout is that
    file; .stderr is ctr's own. Neither of the runtime's two ways loses nothing here:
    - ctr's own stdout and stderr: ctr (its containerd client, 1.6 and 2.4 alike) closes its end of
      the output FIFOs as soon as the exit status arrives, so output still on its way is dropped
      (a short process's one line "needs hostPID: true" was lost on a busy machine; 200 kB came
      through as 81,920 bytes);
    - the shim's log file (``ctr run --log-uri file://...``): containerd 2.4.2's shim left it empty
      for about 1 run in 10 of a process that writes a line and exits at once (3 of 30 here, the
      file never filled afterwards; 1.6's did not), which failed the hostPID test on CI twice.
    The redirect is the container's own write, finished before its exit status exists."""

    def __init__(self, lab, env: dict[str, str], ref: str, logs: pathlib.Path):
        self.lab, self.env, self.ref, self.logs = lab, env, ref, logs
        self.containers: list[str] = []

    def ctr(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["ctr", "--namespace", "default", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ctr {args} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def host_pid_ns(self) -> str:
        pid = next(d["pid"] for d in self.lab.status()["daemons"] if d["name"] == "containerd")
        assert pid, "the lab's containerd is not running"
        return f"/proc/{pid}/ns/pid"

    def run(
        self, *args: str, host_pid: bool = True, host_root: str = "/", command: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess:
        """The entrypoint with ARGS (or COMMAND instead) in a container run as a node pod would be."""
        name = f"ctrtool-node-test-{secrets.token_hex(4)}"
        self.containers.append(name)
        out = self.logs / name
        out.mkdir()
        runc_root = f"{self.lab.directory}/containerd/runc"  # runc state in the lab
        opts = ["--rm", "--privileged", "--runc-root", runc_root]
        opts += ["--mount", f"type=bind,src={host_root},dst=/host,options=rbind:rw"]
        opts += ["--mount", f"type=bind,src={out},dst={OUT_DIR},options=rbind:rw"]
        if host_root != "/":  # a bare root of a host: give it the host's /proc
            opts += ["--mount", "type=bind,src=/proc,dst=/host/proc,options=rbind:rw"]
        if host_pid:
            opts += ["--with-ns", f"pid:{self.host_pid_ns()}"]
        # ctr replaces the image's entrypoint when given arguments: name it
        argv = command or (nodeimage.ENTRYPOINT, *args)
        wrapped = ("/bin/busybox", "sh", "-c", f'"$@" >{OUT_DIR}/output 2>&1', "sh", *argv)
        proc = self.ctr("run", *opts, self.ref, name, *wrapped, check=False)
        log = out / "output"
        output = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout=output, stderr=proc.stderr)

    def cleanup(self) -> None:
        for name in self.containers:
            self.ctr("tasks", "kill", "--signal", "SIGKILL", name, check=False)
            self.ctr("tasks", "delete", "--force", name, check=False)
            self.ctr("containers", "delete", name, check=False)
        self.ctr("images", "rm", self.ref, check=False)


@pytest.fixture
def node(lab, lab_env, built, tmp_path):
    run = NodeRun(lab, lab_env, built.ref, tmp_path)
    started = time.monotonic()
    run.ctr("images", "import", str(built.path), timeout=300)
    run.import_seconds = time.monotonic() - started  # type: ignore[attr-defined]
    yield run
    run.cleanup()
    assert built.ref not in run.ctr("images", "ls", "-q").stdout.split()


def test_probe_runs_the_images_python_in_the_host_root(node, built):
    started = time.monotonic()
    proc = node.run("probe")
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, proc.stdout
    probe = json.loads(lines[0])
    assert probe["python"] == built.python == platform.python_version()
    assert probe["ctrtool"] == ctrtool.__version__
    print(
        f"\nnode image: {built.archive_bytes} bytes, gzip {built.gzip_bytes}, {built.files} files, "
        f"built in {built.seconds}s; ctr import {node.import_seconds:.2f}s; probe end to end {seconds:.2f}s"
    )
    # the interpreter and loader that ran are the image's: they are in the archive, at the paths the
    # entrypoint hands to the loader (the host's own Python is never named)
    with tarfile.open(built.path) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        names: set[str] = set()
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                names.update(inner.getnames())
    assert "opt/ctrtool/bin/python3" in names
    assert f"opt/ctrtool/lib/{built.loader}" in names


def test_runs_on_a_host_root_with_no_python_and_no_libc(node, built, tmp_path):
    """A node's root holding nothing but /proc (no Python, no libc, no shell): the probe still runs,
    since everything it executes comes from the image."""
    bare = tmp_path / "bare-node-root"
    (bare / "proc").mkdir(parents=True)
    proc = node.run("probe", host_root=str(bare))
    assert proc.returncode == 0, proc.stderr
    probe = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])
    assert probe == {"python": built.python, "ctrtool": ctrtool.__version__, "cwd": "/"}
    assert sorted(p.name for p in bare.iterdir()) == ["proc"]  # nothing written into the host's root


def test_without_the_host_pid_namespace_it_says_so(node):
    proc = node.run("probe", host_pid=False)
    assert proc.returncode == 125, (proc.returncode, proc.stdout, proc.stderr)
    assert "the pod needs hostPID: true" in proc.stdout, (proc.stdout, proc.stderr)


def test_a_runs_output_is_complete_when_it_exits_at_once(node):
    """What the hostPID test lost on a busy machine: output still on its way when the process exits.
    Here 200 kB on stdout and a last line on stderr, written at once before exit 125 (more than a
    pipe holds): through ctr's stdout with a reader slower than the exit (`| (sleep 3; wc -c)`),
    ctr 2.4.2 printed 81920 of 150001 bytes and exited 125. The harness's file has it all, stdout
    and stderr in the order written (one file, opened once: NodeRun)."""
    script = "/bin/busybox head -c 200000 /dev/zero; echo; echo last line >&2; exit 125"
    proc = node.run(command=("/bin/busybox", "sh", "-c", script))
    assert proc.returncode == 125, (proc.returncode, proc.stderr)
    assert proc.stdout.count("\0") == 200000
    assert proc.stdout.endswith("\nlast line\n"), proc.stdout[-100:]


def test_onnode_usage_error_passes_its_exit_status(node):
    proc = node.run("no-such-command")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "usage: python -m ctrtool.fleet.onnode" in proc.stderr + proc.stdout
