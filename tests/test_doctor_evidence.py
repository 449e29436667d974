"""doctor's evidence lines, from calls recorded from the real tools (tests/fixtures/)."""

from __future__ import annotations

import json
import pathlib

from ctrtool.config import Settings
from ctrtool.doctor.probe import Probe
from ctrtool.runner import Result

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def _probe(*names: str) -> Probe:
    probe = Probe(Settings())
    for name in names:
        rec = json.loads((FIXTURES / name).read_text())
        probe.calls.append(Result(rec["argv"], rec["returncode"], rec["stdout"], rec["stderr"], 0.0))
    return probe


def test_one_matching_line_is_not_called_no_line():
    ev = _probe("crictl/version.json").evidence("version", pick=lambda line: "RuntimeVersion" in line)
    assert ev is not None
    assert ev.excerpt == "RuntimeVersion:  1.6.20~ds1"


def test_no_matching_line_says_so_under_the_header():
    probe = _probe("ctr/namespace_k8s.io_images_ls.json")
    ev = probe.evidence(
        "images", "ls", pick=lambda line: "no-such-image" in line, header=lambda line: line.startswith("REF")
    )
    assert ev is not None
    lines = ev.excerpt.splitlines()
    assert lines[0].startswith("REF") and lines[1:] == ["(no line about it)"]
    ev = probe.evidence("images", "ls", pick=lambda line: "pause" in line, header=lambda line: line.startswith("REF"))
    assert ev is not None and "(no line about it)" not in ev.excerpt and "pause" in ev.excerpt.splitlines()[1]
