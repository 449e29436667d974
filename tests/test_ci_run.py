""".ci/run (what CI runs on a clean clone) runs README's set-up commands, all of them, in README's
order: it ran only `scripts/dev.sh test`, so the suite never met the lab `scripts/dev.sh demo` leaves
running (issue 20, item 1)."""

from __future__ import annotations

import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path: str) -> str:
    with open(os.path.join(REPO, *path), encoding="utf-8") as fh:
        return fh.read()


def test_ci_runs_the_readme_commands_in_the_readme_order():
    readme = _read("README.md")
    section = readme[readme.index("## Set up on a fresh machine") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    commands = block.group(1).splitlines()
    assert commands == ["scripts/dev.sh demo", "scripts/dev.sh test"]
    ci = [line.strip() for line in _read(".ci", "run").splitlines() if line.strip().startswith("scripts/")]
    assert ci == commands


def test_ci_stops_only_a_demo_lab_it_started():
    """The lab `scripts/dev.sh demo` leaves is stopped by its own `lab down`, with --purge only when
    this run made its directory; a lab running before is left alone."""
    ci = _read(".ci", "run")
    assert "trap stop_demo_lab EXIT" in ci
    stop = ci[ci.index("stop_demo_lab() {") : ci.index("trap stop_demo_lab EXIT")]
    running, stopped, none = (stop[stop.index(f"{case})") :].split(";;")[0] for case in ("running", "stopped", "none"))
    assert "lab down" not in running
    assert "lab down --yes" in stopped and "--purge" not in stopped
    assert "lab down --purge --yes" in none
