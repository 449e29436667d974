"""Advice is an action: no command ctrtool prints for a person to run (doctor's fixes, the plan's
steps, explain's recommendation) carries --yes. The prompt is the person's consent."""

from __future__ import annotations

import shlex

import pytest
from helpers import ctrtool, ctrtool_json

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"


def commands_in(obj) -> list[str]:
    """Every command line anywhere in a JSON answer (lists under a "commands" key)."""
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "commands" and isinstance(v, list):
                found += [c for c in v if isinstance(c, str)]
            else:
                found += commands_in(v)
    elif isinstance(obj, list):
        for v in obj:
            found += commands_in(v)
    return found


def test_no_advice_carries_yes(lab_env):
    answers = []
    doctor = ctrtool("doctor", "--image", DEMO, "-o", "json", env=lab_env)
    assert doctor.returncode in (0, 1), doctor.stderr
    import json

    answers.append(json.loads(doctor.stdout))
    for args in (("df", "--plan", "-A"), ("df", "--plan", "--remove-stopped", "-A"), ("explain", "-A", DEMO)):
        got, _ = ctrtool_json(*args, env=lab_env)
        answers.append(got)
    lines = [c for a in answers for c in commands_in(a)]
    assert lines, "the lab's demo image is in three stores: the plan has steps"
    for line in lines:
        argv = shlex.split(line.split("=", 1)[-1] if line.startswith("CONTAINERD_") else line)
        assert "--yes" not in argv and "-y" not in argv, line
