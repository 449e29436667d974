"""`ctrtool doctor`, CRI plugin check, against the lab: loaded and answering, with the plugin list
and crictl's version as evidence."""

from __future__ import annotations

import pytest
from helpers import doctor

pytestmark = pytest.mark.lab


def test_cri_plugin_loaded_and_answering(lab, lab_env):
    got, _ = doctor(env=lab_env)
    r = got["cri_plugin"]
    assert r["status"] == "ok", r
    plugins = next(e for e in r["evidence"] if " plugins ls" in e["source"])
    if lab.profile.containerd_major >= 2:
        assert "io.containerd.cri.v1" in plugins["excerpt"] and "images" in plugins["excerpt"]
    assert "io.containerd.grpc.v1" in plugins["excerpt"]
    assert all(line.split()[-1] == "ok" for line in plugins["excerpt"].splitlines()[1:])
    assert any("RuntimeApiVersion:  v1" in e["excerpt"] for e in r["evidence"])


# -- containerd started with the CRI plugin disabled (what docker's containerd package ships) ---------


class PluginlessContainerd:
    """A containerd of the lab's version, of its own (root, state, socket, config and pid file under
    the lab's directory), started with the CRI plugin disabled; stopped by its pid."""

    def __init__(self, lab):
        import os
        import pathlib

        from ctrtool.lab import profiles

        self.lab = lab
        self.dir = pathlib.Path(f"{lab.directory}-nocri")
        self.config = self.dir / "config.toml"
        self.socket = self.dir / "c.sock"
        self.pidfile = self.dir / "containerd.pid"
        built = profiles.built_binaries(lab.profile) or {}
        self.binary = built.get("containerd") or "/usr/bin/containerd"
        self.v2 = lab.profile.containerd_major >= 2
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)

    def write_config(self) -> None:
        d = self.dir
        disabled = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.tracing"]
        if self.v2:
            disabled += ["io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]
        else:
            disabled = ["cri"]  # as docker's containerd.io package has it
        opt = "'io.containerd.internal.v1.opt'" if self.v2 else "opt"
        lines = [
            # 1.x: no version line (version 1), as in the config.toml of docker's containerd.io package
            *(["version = 3"] if self.v2 else []),
            f'root = "{d}/root"',
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
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        import subprocess
        import time

        log = open(self.dir / "containerd.log", "ab")
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

    def stop(self) -> None:
        import os
        import signal

        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except Exception:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.pidfile.unlink(missing_ok=True)

    def purge(self) -> None:
        import shutil
        import subprocess

        self.stop()
        subprocess.run(["umount", "-R", str(self.dir / "state")], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_cri_disabled_names_config_line_and_fix(lab, lab_env):
    import os

    c = PluginlessContainerd(lab)
    c.write_config()
    c.start()
    env = {k: v for k, v in lab_env.items() if k not in ("CRI_CONFIG_FILE", "IMAGE_SERVICE_ENDPOINT")}
    # ctr and crictl at the CRI-less containerd; no docker (it is not this scenario's)
    env.update(CONTAINERD_ADDRESS=str(c.socket), CONTAINER_RUNTIME_ENDPOINT=f"unix://{c.socket}")
    env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    try:
        got, proc = doctor(env=env)
        r = got["cri_plugin"]
        assert r["status"] == "fail" and proc.returncode == 1, r
        assert "unknown service runtime.v1.RuntimeService" in r["summary"]
        assert f"containerd (pid {c.proc.pid}) was started with config {c.config}" in r["details"][0]
        assert any(
            e["kind"] == "file"
            and e["source"] == f"{c.config}:{5 if c.v2 else 3}"
            and "disabled_plugins" in e["excerpt"]
            for e in r["evidence"]
        ), r["evidence"]
        assert any(e["source"] == f"/proc/{c.proc.pid}/cmdline" for e in r["evidence"])
        (fix,) = r["fixes"]
        assert fix["file"] == str(c.config)
        plugins = (
            "io.containerd.cri.v1.images, io.containerd.cri.v1.runtime, io.containerd.grpc.v1.cri"
            if c.v2
            else "io.containerd.grpc.v1.cri"
        )
        assert f"({plugins}; config version {3 if c.v2 else 1})" in fix["summary"]
        # the fix: that line in that file, then a restart of containerd
        (line,) = fix["lines"]
        number = int(
            next(e["source"] for e in r["evidence"] if e["source"].startswith(f"{c.config}:")).rsplit(":", 1)[1]
        )
        text = c.config.read_text().splitlines()
        assert text[number - 1].startswith("disabled_plugins")
        text[number - 1] = line
        c.config.write_text("\n".join(text) + "\n")
        assert fix["commands"] == ["systemctl restart containerd"]
        c.stop()
        c.start()
        got, _ = doctor(env=env)
        assert got["cri_plugin"]["status"] == "ok", got["cri_plugin"]
        assert "cri" not in line.replace("cri-", "")
    finally:
        c.purge()
        assert not os.path.exists(c.dir)
