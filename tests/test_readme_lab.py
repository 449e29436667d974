"""README.md's examples are a real run: scripts/gen_readme.py reruns them on fresh labs in its own
directories (written back as the ones the README names), and they must match (docker's random ids,
container ids and ages masked). A changed output or a changed command fails here until the README is
regenerated. A lab a user left running in the default directories (README's `scripts/dev.sh demo`
leaves one) is neither refused nor touched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))

import gen_readme  # noqa: E402


def test_every_example_block_is_one_the_generator_knows_with_the_same_commands():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as fh:
        assert gen_readme.check_names(fh.read()) == []


def test_the_mask_hides_what_varies_and_keeps_what_does_not():
    a = "docker  -  124636ada8cc  web  running  2 seconds ago\n/x/overlay2/{09c9…,94…}/diff"
    b = "docker  -  9f00aa11bb22  web  running    just now\n/x/overlay2/{a1b2…,c3…}/diff"
    assert gen_readme.masked(a) == gen_readme.masked(b)
    assert gen_readme.masked("stored 3x") != gen_readme.masked("stored 2x")
    assert gen_readme.masked("/var/tmp/ctrtool-lab/x") != gen_readme.masked("/var/tmp/other-lab/x")


def test_outputs_name_the_readme_directories_whole_or_shortened():
    run, readme = gen_readme.RUN_ROOT, gen_readme.README_ROOT
    assert run != readme and len(run) == len(readme)
    assert not gen_readme.lab_dir("debian").startswith(readme)
    assert not gen_readme.lab_dir("modern").startswith(readme)
    got = gen_readme.as_readme(f"{run}/docker/docker.sock {run}-modern/x {run[:19]}…fs/1 {run[:18]}…2 /var/tmp/ctrt…3")
    assert got == f"{readme}/docker/docker.sock {readme}-modern/x {readme[:19]}…fs/1 {readme[:18]}…2 /var/tmp/ctrt…3"


def _default_labs() -> dict[str, object]:
    """What runs in the labs' default directories (a user's): pids, sockets, images, from `lab status`."""
    from ctrtool.lab import Lab, profiles

    found = {}
    for name in ("debian", "modern", "modern-overlay2", "kube"):
        directory = profiles.get(name).default_dir
        if os.path.isdir(directory) and name != "kube":
            status = Lab(directory, name).status()
            found[directory] = (status["daemons"], status["images"])
        elif os.path.isdir(directory):
            found[directory] = sorted(os.listdir(directory))
    return found


def test_the_readme_examples_match_a_run_now(lab_prerequisites):
    """Also beside a lab a user left running in README's directories (the situation after README's
    `scripts/dev.sh demo`): it was refused ("a lab is running in /var/tmp/ctrtool-lab"); it must be
    left as it was."""
    before = _default_labs()
    got = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "gen_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert _default_labs() == before
