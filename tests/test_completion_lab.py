"""Shell completion in real shells (bash, zsh, fish) in a real terminal (tmux), against the lab:
commands, options, backends, namespaces, and image and container names from the listings; and the
completion protocol itself: no error output, a bounded number of tool calls."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest
from helpers import ctrtool, lab_exports, pane

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
GLOB = "globbox*"
BIN = os.path.dirname(sys.executable)  # the venv's bin: `ctrtool` is there

SHELLS = {
    # shell: (how to start it with no user config, how to load ctrtool's completion)
    "bash": ("bash --norc --noprofile", "source <(ctrtool completion bash)"),
    "zsh": ("zsh -f", "autoload -Uz compinit && compinit -u && source <(ctrtool completion zsh)"),
    "fish": ("fish --no-config", "ctrtool completion fish | source"),
}


@pytest.fixture(scope="module")
def container(lab, lab_env):
    from workloads import Native

    native = Native(lab, lab_env)
    native.docker_run("ctl-completion-box")
    # a CRI container whose name is a glob (the CRI takes any name): bash expanded it against the
    # files of the current directory (`COMPREPLY=( $(...) )`)
    native.cri_container(native.pod("ctl-completion-pod"), "ctl-completion-pod", GLOB, start=False)
    yield "ctl-completion-box"
    native.cleanup()


def _type(tmux, session: str, keys: str, expect: str, seconds: float = 30) -> str:
    """Type ``keys`` then Tab, and wait until the prompt line shows ``expect``."""
    subprocess.run([*tmux, "send-keys", "-t", session, "-l", keys], check=True)
    subprocess.run([*tmux, "send-keys", "-t", session, "Tab"], check=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        screen = pane(tmux, session)
        if expect in screen:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{expect!r} not completed from {keys!r}:\n{pane(tmux, session)}")
    # clear the line for the next one
    subprocess.run([*tmux, "send-keys", "-t", session, "C-u"], check=True)
    subprocess.run([*tmux, "send-keys", "-t", session, "C-l"], check=True)
    time.sleep(0.3)
    return screen


@pytest.mark.parametrize("shell", sorted(SHELLS))
def test_completion_in_a_real_shell(shell, lab_env, tmux, container, tmp_path):
    start, load = SHELLS[shell]
    # the candidates come from the lab's tools, which a CI run keeps busy: more than the 1 s a Tab
    # gives each backend (what is tested here is the candidates, not the deadline: see below)
    env = lab_exports(lab_env) + " CTRTOOL_COMPLETION_TIMEOUT=10"
    path = f"{BIN}:{lab_env['PATH']}"
    session = f"complete-{shell}"
    here = tmp_path / "cwd"  # files a glob candidate would expand to
    here.mkdir()
    for name in ("globbox-a", "globbox-b"):
        (here / name).write_text("")
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            str(here),
            f"env -i HOME={shlex.quote(os.environ.get('HOME', '/root'))} TERM=xterm PATH={shlex.quote(path)} {env} {start}",
        ],
        check=True,
    )
    try:
        subprocess.run([*tmux, "send-keys", "-t", session, "-l", load], check=True)
        subprocess.run([*tmux, "send-keys", "-t", session, "Enter"], check=True)
        time.sleep(1.5)
        _type(tmux, session, "ctrtool ima", "ctrtool images")
        _type(tmux, session, "ctrtool images --all-b", "ctrtool images --all-backends")
        _type(tmux, session, "ctrtool rmi --backend cri", "ctrtool rmi --backend crictl")
        _type(tmux, session, "ctrtool rmi -b ctr -n k8", "ctrtool rmi -b ctr -n k8s.io")
        _type(
            tmux, session, "ctrtool rmi -b ctr -n default localhost/ctrtool/de", f"ctrtool rmi -b ctr -n default {DEMO}"
        )
        # a word with ':' completes whole (bash splits words at ':')
        _type(tmux, session, "ctrtool rmi -b ctr -n default localhost/ctrtool/demo:1", f"-n default {DEMO}")
        _type(tmux, session, "ctrtool stop ctl-completion-b", f"ctrtool stop {container}")
        _type(tmux, session, "ctrtool df -o ya", "ctrtool df -o yaml")
        # values that had no completion: copy's stores, doctor --image, lab up --profile, translate
        _type(tmux, session, "ctrtool copy x --from cri", "ctrtool copy x --from crictl")
        _type(tmux, session, "ctrtool copy x --to ctr:de", "ctrtool copy x --to ctr:default")
        _type(tmux, session, "ctrtool doctor --image localhost/ctrtool/de", f"ctrtool doctor --image {DEMO}")
        _type(tmux, session, "ctrtool lab up --profile modern-o", "ctrtool lab up --profile modern-overlay2")
        _type(tmux, session, "ctrtool translate -- dock", "ctrtool translate -- docker")
        _type(tmux, session, "ctrtool translate -- docker unp", "ctrtool translate -- docker unpause")
        _type(tmux, session, "ctrtool translate -- docker container unp", "-- docker container unpause")
        _type(tmux, session, "ctrtool translate -- docker run --pul", "ctrtool translate -- docker run --pull")
        # a candidate is inserted as it is (the shell quotes a glob character its own way), not
        # replaced by the files it matches, in every shell. fish offered the files (typer's script:
        # its autosuggestion, computed before the Tab's answer, ignored the `--condition` that turns
        # file completion off); no file may show, before or after the Tab
        if shell == "fish":
            subprocess.run([*tmux, "send-keys", "-t", session, "-l", "ctrtool stop globb"], check=True)
            time.sleep(2)  # fish computes its autosuggestion as soon as the line changes
            typed = next(ln for ln in pane(tmux, session).splitlines() if "ctrtool stop globb" in ln)
            assert "globbox-" not in typed, typed
            subprocess.run([*tmux, "send-keys", "-t", session, "C-u"], check=True)
            time.sleep(0.3)
        for _attempt in range(5):
            screen = _type(tmux, session, "ctrtool stop globb", "ctrtool stop globbox")
            line = next(ln for ln in screen.splitlines() if "ctrtool stop globbox" in ln)
            if "*" in line:
                break
            subprocess.run([*tmux, "send-keys", "-t", session, "C-u"], check=True)
            subprocess.run([*tmux, "send-keys", "-t", session, "C-l"], check=True)
            time.sleep(1)
        assert "globbox-" not in line and "*" in line, line
    finally:
        subprocess.run([*tmux, "kill-session", "-t", session], capture_output=True)


def test_a_hung_backend_is_given_one_second(lab_env, tmp_path):
    """A completion waits for no backend more than 1 s (it was 3): a socket that accepts and never
    answers stands for a hung daemon; the trace shows the deadline the call was given."""
    import socket

    hung = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(hung))
    server.listen(16)  # connections wait in the backlog: never accepted, never answered
    try:
        trace = tmp_path / "trace.jsonl"
        env = dict(lab_env, CONTAINERD_ADDRESS=str(hung), CTRTOOL_VIA="tools")
        got = _complete(env, "ctrtool rmi -b ctr -n default ", trace=str(trace))
    finally:
        server.close()
    assert (got.returncode, got.stdout.strip(), got.stderr) == (0, "", "")
    calls = [json.loads(line) for line in trace.read_text().splitlines()]
    assert calls and all(c["argv"][0].endswith("ctr") for c in calls), calls
    assert all(0 < c["timeout"] <= 1.0 for c in calls), calls
    assert any(c["returncode"] is None for c in calls), calls  # ended at its deadline


def _complete(lab_env, words: str, trace=None) -> subprocess.CompletedProcess:
    env = dict(lab_env, _CTRTOOL_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1))
    if trace:
        env["CTRTOOL_TRACE"] = trace
    return subprocess.run([sys.executable, "-m", "ctrtool"], env=env, capture_output=True, text=True, timeout=60)


def test_image_names_come_from_one_listing_and_a_dead_backend_prints_nothing(lab_env, tmp_path):
    got = _complete(lab_env, "ctrtool rmi -b ctr -n default ")
    assert got.returncode == 0 and got.stderr == ""
    assert DEMO in got.stdout.split()
    # the namespace given limits the listing: k8s.io's id-names are not offered
    assert not any(w.startswith("sha256:") for w in got.stdout.split())
    # one listing: the same tool calls as `ctrtool images` of that place, however many images
    completing, listing = tmp_path / "completing.trace", tmp_path / "listing.trace"
    assert _complete(lab_env, "ctrtool rmi -b ctr -n default ", trace=str(completing)).returncode == 0
    assert (
        ctrtool("images", "-b", "ctr", "-n", "default", "-q", env=dict(lab_env, CTRTOOL_TRACE=str(listing))).returncode
        == 0
    )
    calls = completing.read_text().splitlines()
    assert 0 < len(calls) == len(listing.read_text().splitlines())
    dead = dict(lab_env, CONTAINERD_ADDRESS=str(tmp_path / "nothing.sock"))
    got = _complete(dead, "ctrtool rmi -b ctr -n default ")
    assert (got.returncode, got.stdout.strip(), got.stderr) == (0, "", "")


def test_the_completion_command_prints_each_shells_script_and_refuses_others(lab_env):
    for shell, marker in (
        ("bash", "complete -o default -F"),
        ("zsh", "compdef"),
        ("fish", "complete --command ctrtool"),
    ):
        got = ctrtool("completion", shell, env=lab_env)
        assert got.returncode == 0 and marker in got.stdout and "_CTRTOOL_COMPLETE" in got.stdout
    bad = ctrtool("completion", "tcsh", env=lab_env)
    assert bad.returncode == 2 and bad.stdout == "" and "no completion for shell 'tcsh'" in bad.stderr
