"""`ctrtool doctor`, versions check: the end-of-life table (ctrtool/doctor/eol.yaml) and the verdicts
on the lab's real versions (Debian's containerd 1.6 and docker 20.10 are end of life)."""

from __future__ import annotations

import datetime

import pytest
from helpers import doctor

from ctrtool.doctor.checks import versions

pytestmark = pytest.mark.lab


def test_eol_table_has_dates_and_sources():
    table = versions.eol_table()
    assert "containerd/containerd/blob/main/RELEASES.md" in table["containerd"]["source"]
    assert "BRANCHES-AND-TAGS.md" in table["docker"]["source"]
    for minor, entry in table["containerd"]["releases"].items():
        assert versions.minor_of(minor) and isinstance(entry["eol"], datetime.date), minor
    assert table["containerd"]["releases"]["1.6"]["eol"] == datetime.date(2025, 8, 23)


def test_verdicts():
    table = versions.eol_table()
    day = datetime.date(2026, 12, 5)
    assert versions.containerd_verdict("1.6.20~ds1", table["containerd"], day)[0] is True
    assert versions.containerd_verdict("v2.3.1", table["containerd"], day)[0] is False
    assert versions.containerd_verdict("1.4.13", table["containerd"], day)[0] is True
    assert versions.docker_verdict("20.10.24+dfsg1", table["docker"], day)[0] is True
    assert versions.docker_verdict("29.1.2", table["docker"], day)[0] is False
    assert versions.docker_verdict("25.0.5", table["docker"], day)[0] is True  # maintained until 2026-12-04
    assert versions.docker_verdict("library-import", table["docker"], day)[0] is None
    assert versions.crictl_verdict("v1.37.0", "v1alpha2")[0] is True
    assert versions.crictl_verdict("v1.37.0", "v1")[0] is False
    assert versions.crictl_verdict(None, "v1")[0] is None


def test_lab_versions(lab, lab_env):
    got, _ = doctor(env=lab_env)
    r = got["versions"]
    sources = [e["source"] for e in r["evidence"]]
    assert any(s.endswith(" version") and s.startswith("ctr ") for s in sources), sources
    assert "ctrtool/doctor/eol.yaml" in sources
    # docker's version is shown as the docker call that said it (not lost when listings use the API)
    assert any(s.startswith("docker ") and s.endswith(" info --format '{{json .}}'") for s in sources), sources
    if lab.profile.name == "debian":
        assert r["status"] == "warn", r
        assert "containerd 1.6.20~ds1: 1.6 reached end of life on 2025-08-23" in r["summary"]
        assert "docker 20.10.24+dfsg1: older than 23.0, unmaintained (end of life)" in r["summary"]
        assert len(r["fixes"]) == 2
    else:  # containerd 2.4 (supported until 2027-04-26, tentative); dockerd built from source
        assert any(
            d.startswith("containerd 2.4.2") and ": 2.4 is supported until 2027-04-26" in d for d in r["details"]
        ), r
        assert any("docker reports version 'library-import'" in d for d in r["details"])
