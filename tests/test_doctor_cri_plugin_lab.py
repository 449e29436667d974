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
