"""Containers and pods for the lab tests, made and removed with the native tools (never ctrtool),
so that the tests check ctrtool against what docker, ctr and crictl themselves say."""

from __future__ import annotations

import json
import pathlib
import re
import secrets
import shlex
import subprocess
import time

from ctrtool.lab import DEMO_IMAGE, find_crictl

# PID 1 of the test containers: a line on stdout and one on stderr, then wait; exit 0 at once on
# SIGTERM (a shell as PID 1 ignores SIGTERM unless it traps it)
SCRIPT = "echo hello-out; echo hello-err >&2; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"


class Native:
    def __init__(self, lab, env: dict[str, str]):
        self.lab = lab
        self.env = env
        self.crictl_bin = find_crictl()
        self.configs = pathlib.Path(lab.directory) / "test-configs"
        self.configs.mkdir(exist_ok=True)
        self.made: list[tuple] = []

    # -- the tools ----------------------------------------------------------------------------
    def _run(self, argv: list[str], check: bool) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["docker", *args], check)

    def ctr(self, namespace: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run(["ctr", "--namespace", namespace, *args], check)

    def crictl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self._run([self.crictl_bin, *args], check)

    def docker_image_ids(self) -> dict[str, str]:
        """reference -> image id as the config digest (what ctr and crictl call an image's id), from
        docker's own listing. Docker 29 on containerd's image store lists the manifest's digest as the
        ID instead: the config digest is then read from that manifest with `ctr -n moby content get`."""
        out = self.docker("image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").stdout
        ids = dict(line.split() for line in out.splitlines())
        status = json.loads(self.docker("info", "--format", "{{json .DriverStatus}}").stdout) or []
        if any(pair[0] == "driver-type" and "snapshotter" in pair[1] for pair in status):
            for ref, digest in ids.items():
                ids[ref] = json.loads(self.ctr("moby", "content", "get", digest).stdout)["config"]["digest"]
        return ids

    # -- making things ------------------------------------------------------------------------
    def docker_run(self, name: str, script: str = SCRIPT) -> str:
        self.made.append(("docker", name))
        return self.docker(
            "run", "-d", "--network", "none", "--name", name, DEMO_IMAGE, "sh", "-c", script
        ).stdout.strip()

    def docker_create(self, name: str) -> str:
        self.made.append(("docker", name))
        return self.docker("create", "--network", "none", "--name", name, DEMO_IMAGE, "sh", "-c", SCRIPT).stdout.strip()

    def ctr_run(self, namespace: str, name: str, script: str = SCRIPT) -> None:
        self.made.append(("ctr", namespace, name))
        runc_root = str(pathlib.Path(self.lab.directory) / "containerd" / "runc")  # runc state in the lab
        self.ctr(namespace, "run", "-d", "--null-io", "--runc-root", runc_root, DEMO_IMAGE, name, "sh", "-c", script)

    def ctr_without_task(self, namespace: str, name: str) -> None:
        """A ctr container whose task is gone: what `ctr containers create` makes, but with its runc
        state inside the lab."""
        self.ctr_run(namespace, name)
        self.ctr(namespace, "tasks", "kill", "--signal", "SIGKILL", name)
        self.wait(lambda: self.ctr_task(namespace, name) == "STOPPED")
        self.ctr(namespace, "tasks", "delete", name)

    def pod(self, name: str) -> str:
        path = self.configs / f"pod-{name}.json"
        path.write_text(
            json.dumps(
                {
                    "metadata": {"name": name, "namespace": "default", "uid": secrets.token_hex(8), "attempt": 0},
                    # a directory of its own: the CRI leaves the logs behind when the pod is removed
                    "log_directory": str(self.configs / f"logs-{name}-{secrets.token_hex(4)}"),
                    "linux": {},
                }
            )
        )
        pod_id = self.crictl("runp", str(path)).stdout.strip()
        self.made.append(("pod", pod_id))
        return pod_id

    def cri_container(self, pod_id: str, pod_name: str, name: str, start: bool = True, script: str = SCRIPT) -> str:
        ctn = self.configs / f"ctn-{pod_name}-{name}.json"
        ctn.write_text(
            json.dumps(
                {
                    "metadata": {"name": name},
                    "image": {"image": DEMO_IMAGE},
                    "command": ["sh", "-c", script],
                    "log_path": f"{name}.log",
                    "linux": {},
                }
            )
        )
        pod = self.configs / f"pod-{pod_name}.json"
        cid = self.crictl("create", pod_id, str(ctn), str(pod)).stdout.strip()
        if start:
            self.crictl("start", cid)
        return cid

    # -- what the tools say ---------------------------------------------------------------------
    def cri_pods(self) -> list[dict]:
        return json.loads(self.crictl("pods", "-o", "json").stdout).get("items") or []

    def docker_state(self, name: str) -> str | None:
        proc = self.docker("inspect", "--format", "{{.State.Status}}", name, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def ctr_task(self, namespace: str, name: str) -> str | None:
        for line in self.ctr(namespace, "tasks", "ls").stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == name:
                return fields[-1]
        return None

    def ctr_containers(self, namespace: str) -> list[str]:
        return self.ctr(namespace, "containers", "ls", "--quiet").stdout.split()

    def cri_state(self, cid: str) -> str | None:
        proc = self.crictl("inspect", "--output", "json", cid, check=False)
        return json.loads(proc.stdout)["status"]["state"] if proc.returncode == 0 else None

    @staticmethod
    def wait(condition, seconds: float = 20) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise AssertionError("timed out waiting")
            time.sleep(0.1)

    # -- removing them --------------------------------------------------------------------------
    def forget_images(self, *refs: str) -> None:
        """Remove images a test made from docker and ctr's default and k8s.io, with every name:
        in k8s.io the CRI also names each image by its id (sha256:<id>), and removing only the
        test's names with ctr would leave that one behind, an unnamed image for later tests."""

        for ref in refs:
            got = self.crictl("inspecti", "-o", "json", ref, check=False)
            try:
                image_id = json.loads(got.stdout)["status"]["id"]
            except (ValueError, KeyError, TypeError):
                image_id = None
            if image_id:
                self.crictl("rmi", image_id, check=False)
            for ns in ("default", "k8s.io"):
                self.ctr(ns, "images", "rm", ref, check=False)
            self.docker("image", "rm", "--force", ref, check=False)

    def cleanup(self) -> None:
        for item in reversed(self.made):
            if item[0] == "docker":
                self.docker("rm", "-f", item[1], check=False)
            elif item[0] == "ctr":
                _, ns, name = item
                self.ctr(ns, "tasks", "kill", "--signal", "SIGKILL", name, check=False)
                self.ctr(ns, "tasks", "delete", "--force", name, check=False)
                self.ctr(ns, "containers", "rm", name, check=False)
            elif item[0] == "pod":
                self.crictl("rmp", "--force", item[1], check=False)
        self.made.clear()
        import shutil

        shutil.rmtree(self.configs, ignore_errors=True)


# -- shared by the lifecycle and kill/prune tests --------------------------------------------------


def docker_argv(env, *args):
    """The exact docker command line ctrtool prints for ``args`` (as --dry-run shows it)."""
    return shlex.join(["docker", "--host", env["DOCKER_HOST"], *args])


def ctr_argv(env, *args):
    return shlex.join(["ctr", "--address", env["CONTAINERD_ADDRESS"], "--namespace", "default", *args])


def crictl_line(env, *args) -> re.Pattern:
    ep = env["CONTAINER_RUNTIME_ENDPOINT"]
    prefix = shlex.join(
        ["crictl", "--config", env["CRI_CONFIG_FILE"], "--runtime-endpoint", ep, "--image-endpoint", ep]
    )
    return re.compile(re.escape(prefix) + r" --timeout \d+s " + re.escape(shlex.join(args)) + "\n")
