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


def test_the_brief_report_is_one_line_per_check_and_the_fixes_the_evidence_behind_v():
    from ctrtool.commands.doctor import brief, render
    from ctrtool.doctor.result import Evidence, Fix, Status
    from ctrtool.doctor.result import Result as Check

    header = "REF" + " " * 70 + "TYPE" + " " * 50 + "DIGEST" + " " * 60 + "SIZE"
    results = [
        Check("endpoints", "t", Status.OK, "every installed tool has an endpoint that answers"),
        Check(
            "image",
            "t",
            Status.FAIL,
            "localhost/app:2 is not in containerd namespace k8s.io, which the kubelet uses; it is in ctr namespace "
            "default",
            evidence=[Evidence("ctr -n k8s.io images ls", header + "\n(no line about it)")],
            fixes=[
                Fix("copy it to the kubelet's store", ["ctrtool copy localhost/app:2 --from ctr:default --to crictl"])
            ],
            details=["a detail"],
        ),
    ]
    short = brief(results, 80)
    assert short == [
        "[ok] endpoints: every installed tool has an endpoint that answers",
        "[FAIL] image: localhost/app:2 is not in containerd namespace k8s.io, which the",
        "    kubelet uses; it is in ctr namespace default",
        "    fix: copy it to the kubelet's store",
        "      $ ctrtool copy localhost/app:2 --from ctr:default --to crictl",
        "1 ok, 1 fail",
        "(-v shows the details and the evidence of each problem)",
    ]
    # into a pipe without COLUMNS: not wrapped
    assert brief(results, None)[1] == f"[FAIL] image: {results[1].summary}"
    full = render(results)
    assert "    evidence (ran): ctr -n k8s.io images ls" in full and f"      | {header}" in full
    assert "    a detail" in full
