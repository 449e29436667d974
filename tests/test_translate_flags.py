"""Ground truth for the translation tables: every flag they hand to crictl and ctr exists in the
installed tool's own --help, and docker's grammar (docker.yaml) is what the installed docker CLI
says. These run the real binaries (no daemon needed): `<tool> <command> --help` only.

nerdctl is not installed here: its flags are checked against the flags transcribed from its
command reference (tests/fixtures/nerdctl/), and against `nerdctl --help` when it is installed.
podman's are checked against the flags scripts/transcribe_podman_help.py transcribed from podman
4.3.1's --help (tests/fixtures/podman-translate/), and against `podman <command> --help` when podman
is installed (`--help` only: it touches no store).
"""

from __future__ import annotations

import functools
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ctrtool.translate.tables import grammar, table, target_flags

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ROOT = pathlib.Path(__file__).resolve().parent.parent
# a flag as the tools' help prints it: --all, -a, --tls-server-name
_FLAG = re.compile(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)")


def _binary(name: str) -> str | None:
    if name == "crictl":
        from ctrtool.lab import find_crictl

        return find_crictl()
    return shutil.which(name)


def _need(name: str) -> str:
    path = _binary(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (scripts/dev.sh installs it)", pytrace=False)
        pytest.skip(f"{name} is not installed")
    return path


@functools.cache
def help_flags(tool: str, words: tuple[str, ...]) -> frozenset[str]:
    """The flags `<tool> <words> --help` lists in its OPTIONS sections."""
    binary = _need(tool)
    env = {k: v for k, v in os.environ.items() if k not in ("CONTAINER_RUNTIME_ENDPOINT", "CRI_CONFIG_FILE")}
    proc = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=30, env=env)
    text = proc.stdout
    assert proc.returncode == 0 and "USAGE" in text, f"`{tool} {' '.join(words)} --help` failed: {proc.stderr}"
    flags: set[str] = set()
    in_options = False
    for line in text.splitlines():
        if re.match(r"^\s*(GLOBAL )?OPTIONS:", line):
            in_options = True
            continue
        if in_options and re.match(r"^\S", line):
            in_options = False
        if in_options and line.strip().startswith("-"):
            # the flag names come before the description (two or more spaces)
            names = re.split(r"\s{2,}", line.strip())[0]
            flags.update(_FLAG.findall(names))
    return frozenset(flags)


@pytest.mark.parametrize("tool", ["crictl", "ctr"])
def test_every_target_flag_exists_in_the_tools_help(tool):
    missing = []
    checked = 0
    for where, words, flag in target_flags(table(tool)):
        known = help_flags(tool, words)
        checked += 1
        if flag not in known:
            missing.append(f"{where}: `{tool} {' '.join(words)}` has no {flag}")
    assert checked > 30
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("tool", ["crictl", "ctr"])
def test_every_target_command_exists(tool):
    """`<tool> <words> --help` succeeds for every target command (help_flags asserts it)."""
    commands = {words for _, words, _ in target_flags(table(tool))}
    for entry in table(tool).commands.values():
        for e in [entry, *entry.variants.values()]:
            if not e.none and not e.dispatch:
                commands.add(tuple(e.words()))
    for words in sorted(commands):
        help_flags(tool, words)


def test_nerdctl_flags_are_in_its_command_reference():
    ref = yaml.safe_load((FIXTURES / "nerdctl" / "command-reference-flags.yaml").read_text())
    missing = []
    for where, words, flag in target_flags(table("nerdctl")):
        known = ref["global"] if not words else ref["commands"].get(" ".join(words))
        if known is None:
            missing.append(f"{where}: no `nerdctl {' '.join(words)}` in the reference")
        elif flag not in known:
            missing.append(f"{where}: `nerdctl {' '.join(words)}` has no {flag} in the reference")
    assert not missing, "\n".join(missing)


def _podman_flag(tok: str) -> str:
    """--archive=false is the flag --archive."""
    return tok.split("=", 1)[0]


def test_podman_flags_are_in_the_transcribed_help():
    ref = yaml.safe_load((FIXTURES / "podman-translate" / "help-flags.yaml").read_text())
    missing = []
    checked = 0
    for where, words, flag in target_flags(table("podman")):
        known = ref["global"] if not words else ref["commands"].get(" ".join(words))
        checked += 1
        if known is None:
            missing.append(
                f"{where}: no `podman {' '.join(words)}` in the transcription (run scripts/transcribe_podman_help.py)"
            )
        elif _podman_flag(flag) not in known:
            missing.append(f"{where}: `podman {' '.join(words)}` has no {flag}")
    assert checked > 100
    assert not missing, "\n".join(missing)


_PODMAN_FLAG = re.compile(r"^\s{1,6}(?:-(\w), )?\s*(--[a-z0-9-]+)", re.M)


@functools.cache
def podman_help_flags(words: tuple[str, ...]) -> frozenset[str]:
    """The flags `podman <words> --help` lists under Options: (--help never touches a store)."""
    binary = _need("podman")
    proc = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, f"`podman {' '.join(words)} --help` failed: {proc.stderr}"
    options = proc.stdout.split("Options:", 1)[1] if "Options:" in proc.stdout else ""
    flags: set[str] = set()
    for short, long in _PODMAN_FLAG.findall(options):
        flags.add(long)
        if short:
            flags.add("-" + short)
    return frozenset(flags)


def test_podman_flags_exist_in_podmans_help():
    missing = []
    for where, words, flag in target_flags(table("podman")):
        if _podman_flag(flag) not in podman_help_flags(words):
            missing.append(f"{where}: `podman {' '.join(words)} --help` has no {flag}")
    assert not missing, "\n".join(missing)


def test_podman_transcription_is_what_the_installed_podman_says():
    """The fixture is the script's output for this podman (only where the same version is installed)."""
    binary = _need("podman")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    ref = yaml.safe_load((FIXTURES / "podman-translate" / "help-flags.yaml").read_text())
    if version.strip() not in ref["source"]:
        # CI installs Debian 12's podman, the one transcribed: there a mismatch is a failure
        why = f"the transcription is of another podman ({ref['source']}), this is {version.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: run scripts/transcribe_podman_help.py with this podman", pytrace=False)
        pytest.skip(why)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "transcribe_podman_help.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


# -- docker's side: docker.yaml against the docker CLI's help ------------------------------------

_DOCKER_FLAG = re.compile(r"^\s{2}(?:-(\w), )?\s*--([a-z0-9-]+)(?: ([a-z0-9-]+))?\s{2,}", re.M)


def docker_help(words: tuple[str, ...]) -> dict[str, tuple[str | None, bool]]:
    """--long -> (-s or None, takes a value) from `docker <words> --help`."""
    binary = _need("docker")
    proc = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("Options:", 1)[1] if "Options:" in proc.stdout else ""
    out = {}
    for short, long, typ in _DOCKER_FLAG.findall(options):
        if long != "help":
            out["--" + long] = ("-" + short if short else None, bool(typ))
    return out


@pytest.mark.parametrize("command", sorted(grammar().commands))
def test_docker_grammar_matches_docker_help(command):
    spec = grammar().commands[command]
    real = docker_help(tuple(command.split()))
    ours = {f.long: (f.short, f.takes_value) for f in spec.flags if not f.hidden}
    assert ours == real, f"docker {command}: docker.yaml and `docker {command} --help` differ"


def test_docker_aliases_are_real_docker_commands():
    """`docker container ls --help` etc. name the command the alias stands for."""
    binary = _need("docker")
    for alias, target in grammar().aliases.items():
        proc = subprocess.run([binary, *alias.split(), "--help"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"docker {alias}: {proc.stderr}"
        if "Aliases:" in proc.stdout:
            aliases = proc.stdout.split("Aliases:", 1)[1].split("\n\n")[0]
            assert f"docker {target}" in aliases or f"docker {alias}" in aliases, alias
