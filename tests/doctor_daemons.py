"""A containerd of the lab's version for the doctor scenarios that need a daemon configured wrong on
purpose: its own root, state, socket, config and pid file in a directory beside the lab's
(``<lab dir>-<name>``), optionally its root on a small tmpfs; started and stopped by its pid."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import time


class OwnContainerd:
    def __init__(self, lab, name: str, cri: bool = True, tmpfs_mb: int | None = None):
        from ctrtool.lab import profiles

        self.lab = lab
        self.dir = pathlib.Path(f"{lab.directory}-{name}")
        self.config = self.dir / "config.toml"
        self.socket = self.dir / "c.sock"
        self.pidfile = self.dir / "containerd.pid"
        self.root = self.dir / "root"
        built = profiles.built_binaries(lab.profile) or {}
        self.binary = built.get("containerd") or "/usr/bin/containerd"
        self.v2 = lab.profile.containerd_major >= 2
        self.cri = cri
        self.tmpfs_mb = tmpfs_mb
        self.proc: subprocess.Popen | None = None
        self.dir.mkdir(parents=True, exist_ok=True)
        if tmpfs_mb:
            self.root.mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={tmpfs_mb}m", "tmpfs", str(self.root)], check=True)
        self.write_config()

    def write_config(self) -> None:
        d = self.dir
        if self.cri:
            disabled = ["io.containerd.internal.v1.tracing"] + (["io.containerd.nri.v1.nri"] if self.v2 else [])
        elif self.v2:
            disabled = [
                "io.containerd.grpc.v1.cri",
                "io.containerd.internal.v1.tracing",
                "io.containerd.cri.v1.images",
                "io.containerd.cri.v1.runtime",
                "io.containerd.nri.v1.nri",
            ]
        else:
            disabled = ["cri"]  # as docker's containerd.io package has it (config version 1)
        opt = "'io.containerd.internal.v1.opt'" if self.v2 or self.cri else "opt"
        lines = [
            # 1.x: version 2 with the CRI (the lab's), none (version 1) without it, as docker's package
            *(["version = 3"] if self.v2 else (["version = 2"] if self.cri else [])),
            f'root = "{self.root}"',
            f'state = "{d}/state"',
            *(["imports = []"] if self.v2 else []),
            "disabled_plugins = [" + ", ".join(f'"{p}"' for p in disabled) + "]",
            "",
            "[grpc]",
            f'  address = "{self.socket}"',
            "",
            "[plugins]",
            f"  [plugins.{opt}]",
            f'    path = "{d}/opt"',
        ]
        if self.cri and not self.v2:
            lines += [
                "  [plugins.'io.containerd.grpc.v1.cri']",
                '    stream_server_address = "127.0.0.1"',
                '    stream_server_port = "0"',
                "    disable_tcp_service = true",
                "    [plugins.'io.containerd.grpc.v1.cri'.cni]",
                f'      conf_dir = "{d}/cni"',
            ]
        elif self.cri:
            lines += [
                "  [plugins.'io.containerd.grpc.v1.cri']",
                '    stream_server_address = "127.0.0.1"',
                '    stream_server_port = "0"',
                "    disable_tcp_service = true",
                "  [plugins.'io.containerd.cri.v1.runtime'.cni]",
                f'    conf_dir = "{d}/cni"',
            ]
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        with open(self.dir / "containerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--config", str(self.config)], stdout=log, stderr=log, start_new_session=True
            )
        self.pidfile.write_text(f"{self.proc.pid}\n")
        end = time.monotonic() + 30
        while time.monotonic() < end:
            if (
                self.socket.exists()
                and subprocess.run(["ctr", "--address", str(self.socket), "version"], capture_output=True).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"containerd did not start: {(self.dir / 'containerd.log').read_text()[-2000:]}")

    def env(self, lab_env: dict[str, str]) -> dict[str, str]:
        """The lab's environment with ctr and crictl at this containerd (and no docker)."""
        env = {k: v for k, v in lab_env.items() if k not in ("CRI_CONFIG_FILE", "IMAGE_SERVICE_ENDPOINT")}
        env.update(CONTAINERD_ADDRESS=str(self.socket), CONTAINER_RUNTIME_ENDPOINT=f"unix://{self.socket}")
        env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
        return env

    def ctr(self, env: dict[str, str], namespace: str, *args: str) -> subprocess.CompletedProcess:
        """ctr at this containerd, in one namespace; fails the test if ctr does."""
        return subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", namespace, *args],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.pidfile.unlink(missing_ok=True)

    def purge(self) -> None:
        self.stop()
        # what containerd mounted under its state and root (shm, rootfs), then the tmpfs itself
        for path in (self.dir / "state", self.root):
            subprocess.run(["umount", "-R", str(path)], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnDockerd:
    """A second dockerd of the lab's version with its own data root, exec root, socket, daemon.json
    and pid file (``<lab dir>-<name>``), and its own containerd namespaces; without a "containerd" in
    its daemon.json it starts a containerd of its own under its exec root. Stopped by its pid."""

    def __init__(self, lab, name: str):
        import json

        from ctrtool.lab import profiles
        from ctrtool.lab.common import find_binary

        self.lab = lab
        self.dir = pathlib.Path(f"{lab.directory}-{name}")
        self.exec_root = self.dir / "x"  # short: its containerd's socket is under it
        self.socket = self.dir / "docker.sock"
        self.pidfile = self.dir / "dockerd.pid"
        self.config = self.dir / "daemon.json"
        built = profiles.built_binaries(lab.profile) or {}
        self.binary = built.get("dockerd") or find_binary("dockerd") or "dockerd"
        self.dir.mkdir(parents=True, exist_ok=True)
        settings: dict = {"containerd-namespace": "doctor-moby", "containerd-plugins-namespace": "doctor-plugins"}
        if lab.profile.builds:
            settings["features"] = {
                "time-namespaces": False,
                "containerd-snapshotter": lab.profile.docker_store == "containerd",
            }
        self.config.write_text(json.dumps(settings, indent=2) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        argv = [
            self.binary,
            "--data-root",
            str(self.dir / "data"),
            "--exec-root",
            str(self.exec_root),
            "-H",
            self.host,
            "--pidfile",
            str(self.pidfile),
            "--config-file",
            str(self.config),
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge=none",
        ]
        if self.lab.profile.builds and self.lab.profile.docker_store == "overlay2":
            argv += ["--storage-driver", "overlay2"]
        with open(self.dir / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        end = time.monotonic() + 60
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT",)}
        env["DOCKER_HOST"] = self.host
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            if subprocess.run(["docker", "version"], env=env, capture_output=True).returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError(f"dockerd did not start: {(self.dir / 'dockerd.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def purge(self) -> None:
        self.stop()
        for path in (self.dir / "data", self.exec_root):
            subprocess.run(["umount", "-R", str(path)], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
