"""`--help` from the cache of what typer rendered (ctrtool/helpcache.py): a hit writes exactly what the
app writes, under every setting the rendering depends on; the app is not loaded for a hit; the cache
is used only in a directory of the user's own, and a file in it only if it is a regular file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HELPS = [
    ["--help"],
    ["-h"],
    ["images", "--help"],
    ["nodes", "df", "--help"],
    ["lab", "up", "-h"],
]
SETTINGS = [
    {"COLUMNS": "100"},
    {"COLUMNS": "60"},
    {"COLUMNS": "140", "NO_COLOR": "1"},
    {"COLUMNS": "100", "FORCE_COLOR": "1"},
    {"COLUMNS": "80", "TERM": "dumb"},
]


def run(args: list[str], env: dict[str, str], *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *flags, "-m", "ctrtool", *args], env=env, capture_output=True, check=False)


@pytest.fixture
def env(tmp_path):
    out = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "FORCE_COLOR", "TERM")}
    out["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out.pop("CTRTOOL_HELP_CACHE", None)
    return out


def cached(env) -> list[str]:
    directory = os.path.join(env["XDG_CACHE_HOME"], "ctrtool", "help")
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_a_cached_help_is_what_the_app_writes(env, args):
    for setting in SETTINGS:
        here = {**env, **setting}
        uncached = run(args, {**here, "CTRTOOL_HELP_CACHE": "0"})
        assert uncached.returncode == 0 and uncached.stdout, uncached.stderr
        miss, hit = run(args, here), run(args, here)
        assert miss.stdout == uncached.stdout and hit.stdout == uncached.stdout, setting
        assert miss.returncode == hit.returncode == 0
    # each setting is a key of its own, and colour is there when forced
    assert len(cached(env)) == len(SETTINGS)
    assert b"\x1b[" in run(args, {**env, "COLUMNS": "100", "FORCE_COLOR": "1"}).stdout


def test_a_hit_does_not_load_the_app(env):
    env = {**env, "COLUMNS": "100"}
    run(["--help"], env)
    hit = run(["--help"], env, "-X", "importtime")
    loaded = {line.split("|")[-1].strip() for line in hit.stderr.decode().splitlines() if "|" in line}
    assert hit.returncode == 0 and b"Usage" in hit.stdout
    assert not {"typer", "click", "rich", "ctrtool.cli"} & loaded, sorted(loaded)


def test_no_cache_when_it_is_turned_off_or_not_a_help_request(env):
    run(["--help"], {**env, "CTRTOOL_HELP_CACHE": "0"})
    run(["no-such-command", "--help"], env)  # a usage error, exit 2
    run(["images", "-A", "--help"], env)  # an option before the help flag: the app decides
    run(["translate", "--help"], env)  # translate's help is not its declaration alone
    assert cached(env) == []


def test_a_directory_others_can_write_is_not_used(env):
    directory = os.path.join(env["XDG_CACHE_HOME"], "ctrtool", "help")
    os.makedirs(directory)
    os.chmod(directory, 0o777)
    first = run(["--help"], env)
    assert first.returncode == 0 and cached(env) == []


def test_a_cache_file_that_is_not_a_regular_file_is_not_read(env, tmp_path):
    run(["--help"], env)
    (name,) = cached(env)
    path = os.path.join(env["XDG_CACHE_HOME"], "ctrtool", "help", name)
    truth = run(["--help"], {**env, "CTRTOOL_HELP_CACHE": "0"}).stdout
    os.unlink(path)
    (tmp_path / "elsewhere").write_bytes(b"not the help\n")
    os.symlink(tmp_path / "elsewhere", path)
    assert run(["--help"], env).stdout == truth  # a symbolic link is not followed
    os.unlink(path)
    os.mkfifo(path)
    got = subprocess.run(
        [sys.executable, "-m", "ctrtool", "--help"], env=env, capture_output=True, timeout=60, check=False
    )
    assert got.stdout == truth  # a FIFO neither blocks nor is read


def test_a_changed_module_is_a_new_help(env, tmp_path):
    from ctrtool import helpcache

    before = helpcache.key(["--help"], {})
    source = os.path.join(os.path.dirname(helpcache.__file__), "helpcache.py")
    st = os.stat(source)
    try:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert helpcache.key(["--help"], {}) != before
    finally:
        os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert helpcache.key(["--help"], {}) == before
    assert helpcache.key(["--help"], {"COLUMNS": "90"}) != before
