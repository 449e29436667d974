"""ctrtool's fish script in real fish, without a lab (`complete -C` asks fish for what a Tab would
offer): ctrtool's candidates when it has some, and paths only when it has none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)  # the venv's bin: `ctrtool` is there


def _fish(tmp_path, *lines: str) -> list[str]:
    fish = shutil.which("fish")
    if not fish:
        if os.environ.get("CI") == "true":
            pytest.fail("fish is needed for the completion tests")
        pytest.skip("fish not installed")
    here = tmp_path / "cwd"
    here.mkdir(exist_ok=True)
    for name in ("globbox-a", "globbox-b"):
        (here / name).write_text("")
    script = subprocess.run(
        [sys.executable, "-m", "ctrtool", "completion", "fish"], capture_output=True, text=True, check=True
    ).stdout
    asks = "; echo ---; ".join(f"complete -C{line!r}" for line in lines)
    env = {
        "HOME": str(tmp_path),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "XDG_CONFIG_HOME": str(tmp_path),
        "CONTAINERD_ADDRESS": str(tmp_path / "none.sock"),
        "DOCKER_HOST": f"unix://{tmp_path}/none.sock",
        "CONTAINER_RUNTIME_ENDPOINT": f"unix://{tmp_path}/none.sock",
    }
    got = subprocess.run(
        [fish, "--no-config", "-c", f"{script}\n{asks}"], cwd=here, env=env, capture_output=True, text=True, timeout=60
    )
    assert got.returncode == 0 and got.stderr == "", got.stderr
    return [block.strip("\n").splitlines() for block in got.stdout.split("---\n")]


def test_fish_offers_ctrtools_candidates_and_paths_only_without_them(tmp_path):
    command, option, path = _fish(tmp_path, "ctrtool ima", "ctrtool images --all-b", "ctrtool load -i glob")
    # candidates only (the directory holds files that `glob` would match)
    assert [c.split("\t")[0] for c in command] == ["images"]
    assert [c.split("\t")[0] for c in option] == ["--all-backends"]
    # load's file: ctrtool has no candidate (it answers one empty line), fish offers the paths, as
    # bash does (`complete -o default`); a name candidate is never replaced by files (the lab test)
    assert path == ["globbox-a", "globbox-b"]
