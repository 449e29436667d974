"""`ctrtool lab down` acts only on a lab directory, asks first, and has --dry-run (issue 9, item 1).

Found: `lab down --dir D` unmounted every mount under any D (a tmpfs with a file in it, under a plain
directory, was unmounted and the file lost), `--dir ""` acted on the current directory, and
`--purge` deleted without asking.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers import ctrtool

pytestmark = pytest.mark.lab


@pytest.fixture
def env(lab_prerequisites, tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if k != "CTRTOOL_LAB_DIR"},
        "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
    }


def mounted(path) -> bool:
    return any(line.split(" ")[4] == str(path) for line in open("/proc/self/mountinfo"))


def test_a_plain_directory_with_a_mount_is_not_touched(env, tmp_path):
    plain = tmp_path / "not-a-lab"
    point = plain / "data"
    point.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(point)], check=True)
    try:
        (point / "precious").write_text("keep me")
        for extra in ([], ["--purge"], ["--dry-run"]):
            proc = ctrtool("lab", "down", "--dir", str(plain), "--yes", *extra, env=env)
            assert proc.returncode == 2 and "is not a lab directory" in proc.stderr and "Traceback" not in proc.stderr
            assert mounted(point) and (point / "precious").read_text() == "keep me"
    finally:
        subprocess.run(["umount", str(point)], check=False)


def test_an_empty_dir_is_bad_input(env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ctrtool", "lab", "down", "--dir", "", "--yes"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--dir is empty" in proc.stderr


def test_purge_asks_first_and_dry_run_changes_nothing(env, tmp_path):
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / ".ctrtool-lab").write_text("made by lab up\n")
    (lab / "something").write_text("x")
    refused = ctrtool("lab", "down", "--dir", str(lab), "--purge", env=env)
    assert refused.returncode == 5 and "refusing to stop the lab" in refused.stderr and lab.is_dir()
    dry = ctrtool("lab", "down", "--dir", str(lab), "--purge", "--dry-run", env=env)
    assert dry.returncode == 0 and dry.stdout.strip() == f"rm -rf {lab}" and lab.is_dir()
    done = ctrtool("lab", "down", "--dir", str(lab), "--purge", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    assert not lab.exists()
