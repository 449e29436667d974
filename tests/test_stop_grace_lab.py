"""`ctrtool stop` on a container whose PID 1 ignores SIGTERM (any `sh -c` loop): docker's grace
period, then SIGKILL, on all three tools (issue 10, item 1).

Found: with the default 10 s grace period and the 10 s per-backend timeout, `ctrtool stop --yes
NAME` failed with "timed out after 10s" and, through crictl, the container still ran afterwards.
The stop's deadline is now the grace period plus the per-backend timeout. Here both are 2 s.
"""

from __future__ import annotations

import pytest
from helpers import ctrtool

pytestmark = pytest.mark.lab

# PID 1 of a container ignores the signals it has no handler for: SIGTERM does nothing
STUBBORN = "while :; do sleep 1; done"


def test_docker_stop_of_a_container_that_ignores_sigterm(native, lab_env):
    native.docker_run("ctl-stubborn-d", STUBBORN)
    proc = ctrtool("-t", "2", "stop", "--yes", "-b", "docker", "-t", "2", "ctl-stubborn-d", env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert native.docker_state("ctl-stubborn-d") == "exited"


def test_ctr_stop_of_a_container_that_ignores_sigterm(native, lab_env):
    native.ctr_run("default", "ctl-stubborn-c", STUBBORN)
    proc = ctrtool("-t", "2", "stop", "--yes", "-b", "ctr", "-n", "default", "-t", "2", "ctl-stubborn-c", env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert native.ctr_task("default", "ctl-stubborn-c") == "STOPPED"


def test_crictl_stop_of_a_container_that_ignores_sigterm(native, lab_env):
    pod = native.pod("ctl-stubborn-pod")
    cid = native.cri_container(pod, "ctl-stubborn-pod", "ctl-stubborn-k", script=STUBBORN)
    proc = ctrtool("-t", "2", "stop", "--yes", "-b", "crictl", "-t", "2", cid, env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert native.cri_state(cid) == "CONTAINER_EXITED"
