"""`ctrtool copy` says what it will add before it runs, and what it added after (du of the
target's storage root before and after), on every profile."""

from __future__ import annotations

import random
import re

import pytest
from helpers import ctrtool
from test_reclaim_lab import archive, layer

pytestmark = pytest.mark.lab


def said(stderr: str) -> tuple[int, int, int]:
    """(total, blobs, unpacked) from the cost line."""
    m = re.search(r"adds (?:about )?[^(]+\((\d+) bytes\): blobs ([^,]+), \d+ layer\(s\) unpacked ([^;)\n]+)", stderr)
    assert m, stderr
    return int(m.group(1)), m.group(2), m.group(3)


def added(stderr: str) -> int:
    m = re.search(r"it added [^(]+\((-?\d+) bytes\) under (\S+)", stderr)
    assert m, stderr
    return int(m.group(1))


def test_copy_says_its_cost_then_what_it_added(lab, lab_env, native, tmp_path):
    rng = random.Random(11)
    ref = "localhost/reclaim/copycost:1"
    data, _ = archive(ref, [layer(rng, "one", 1_200_000), layer(rng, "two", 700_000)])
    (tmp_path / "a.tar").write_bytes(data)
    try:
        native.docker("load", "-i", str(tmp_path / "a.tar"))
        dry = ctrtool("copy", ref, "--from", "docker", "--to", "ctr:default", "--dry-run", env=lab_env)
        assert dry.returncode == 0, dry.stderr
        total, _blobs, _unpacked = said(dry.stderr)
        assert ref not in native.ctr("default", "images", "ls", "-q").stdout  # --dry-run changed nothing
        done = ctrtool("copy", ref, "--from", "docker", "--to", "ctr:default", env=lab_env)
        assert done.returncode == 0, done.stderr
        total_said, blobs_said, _ = said(done.stderr)
        assert total_said == total
        if lab.profile.docker_store == "overlay2":
            # from docker's own store: the blobs (the layers' tars) and the snapshots are both new
            assert total > 2 * 1_800_000 and blobs_said != "0 B"
        else:  # docker on containerd's image store: its blobs are the content store's already
            assert blobs_said == "0 B" and 1_800_000 < total < 2_000_000
        assert abs(added(done.stderr) - total) <= total * 0.05 + 65536, done.stderr
        # from default to the CRI on the same containerd: no blob is written again
        again = ctrtool("copy", ref, "--from", "ctr:default", "--to", "crictl", env=lab_env)
        assert again.returncode == 0, again.stderr
        total2, blobs2, _ = said(again.stderr)
        assert blobs2 == "0 B" and 1_800_000 < total2 < 2_000_000
        assert abs(added(again.stderr) - total2) <= total2 * 0.05 + 65536, again.stderr
    finally:
        native.forget_images(ref)
