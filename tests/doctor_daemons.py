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
