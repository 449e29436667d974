"""`ctrtool doctor`, CRI plugin check, against the lab: loaded and answering, with the plugin list
and crictl's version as evidence."""

from __future__ import annotations

import pytest
from doctor_daemons import OwnContainerd
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


def test_cri_disabled_names_config_line_and_fix(lab, lab_env):
    import os

    c = OwnContainerd(lab, "nocri", cri=False)
    c.start()
    env = c.env(lab_env)  # ctr and crictl at the CRI-less containerd; no docker (not this scenario's)
    try:
        got, proc = doctor(env=env)
        r = got["cri_plugin"]
        assert r["status"] == "fail" and proc.returncode == 1, r
        assert r["summary"].startswith("the CRI plugin is not loaded (not in `ctr plugins ls`)")
        # what crictl itself said, as evidence; the summary quotes it
        crictl = next(e for e in r["evidence"] if e["source"].startswith("crictl "))
        assert "unknown service runtime.v1.RuntimeService" in crictl["excerpt"]
        assert "get 'unknown service runtime.v1.RuntimeService'" in r["summary"]
        plugins = next(e for e in r["evidence"] if e["source"].endswith(" plugins ls"))
        assert "cri" not in plugins["excerpt"].replace("TYPE", "")
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
