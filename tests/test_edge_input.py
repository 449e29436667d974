"""Bad input is one line on stderr and exit 2, never a traceback: options, environment variables,
config files, stdout that cannot be written, and the locale. No daemon is needed: every backend
points at a socket that does not exist (tests/fault_helpers.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fault_helpers import assert_one_error, offline_env, run_ctrtool


@pytest.fixture
def env(tmp_path):
    return offline_env(tmp_path)


# -- --timeout, CTRTOOL_TIMEOUT, timeout: -----------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "1e10", "-inf", "nan", "0", "-1", "86401", "abc", ""])
def test_timeout_out_of_bounds_is_a_usage_error(env, value):
    proc = run_ctrtool("-t", value, "images", "-b", "docker", env=env)
    line = assert_one_error(proc, 2)
    assert "--timeout" in line


@pytest.mark.parametrize("value", ["inf", "1e10", "nan", "-3", "abc", "0"])
def test_ctrtool_timeout_is_checked_like_the_option(env, value):
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_TIMEOUT": value})
    line = assert_one_error(proc, 2)
    assert "CTRTOOL_TIMEOUT" in line


@pytest.mark.parametrize("value", [".inf", "1e10", ".nan", "0", "90000"])
def test_config_file_timeout_is_checked_like_the_option(env, tmp_path, value):
    conf = tmp_path / "config.yaml"
    conf.write_text(f"# bounds\ntimeout: {value}\n")
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_CONFIG": str(conf)})
    line = assert_one_error(proc, 2)
    assert line.startswith(f"ctrtool: error: config file {conf}:2: 'timeout'")


def test_a_day_is_accepted(env):
    proc = run_ctrtool("-t", "86400", "images", "-b", "docker", env=env)
    line = assert_one_error(proc, 1)  # docker is not there: the timeout itself was fine
    assert "cannot reach the daemon" in line


# -- files that are not UTF-8 ---------------------------------------------------------------------


def test_config_file_that_is_not_utf8(env, tmp_path):
    conf = tmp_path / "config.yaml"
    conf.write_bytes(b"timeout: 5\n# caf\xe9 latin-1\n")
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_CONFIG": str(conf)})
    line = assert_one_error(proc, 2)
    assert line == f"ctrtool: error: config file {conf}:2: not UTF-8 text: byte 0xe9 at offset 16"


def test_crictl_config_file_that_is_not_utf8(env, tmp_path):
    conf = tmp_path / "crictl.yaml"
    conf.write_bytes(b"runtime-endpoint: unix:///run/\xff.sock\n")
    env = {k: v for k, v in env.items() if k != "CONTAINER_RUNTIME_ENDPOINT"}
    proc = run_ctrtool("images", "-b", "crictl", env={**env, "CRI_CONFIG_FILE": str(conf)})
    line = assert_one_error(proc, 2)
    assert f"config file {conf}:1: not UTF-8 text" in line


def test_config_path_that_is_a_directory(env, tmp_path):
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_CONFIG": str(tmp_path)})
    assert "not a regular file (a directory)" in assert_one_error(proc, 2)


# -- COLUMNS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", ["abc", "-5", "0", "99999999999", "٣"])
def test_a_bad_columns_is_ignored_and_errors_still_show(env, columns):
    proc = run_ctrtool("images", "-b", "docker", env={**env, "COLUMNS": columns})
    line = assert_one_error(proc, 1)
    assert "docker" in line and "cannot reach the daemon" in line


@pytest.mark.parametrize("columns", ["abc", "-5", "0"])
def test_a_bad_columns_still_prints_help(env, columns):
    proc = run_ctrtool("rmi", "--help", env={**env, "COLUMNS": columns})
    assert proc.returncode == 0 and b"--dry-run" in proc.stdout and not proc.stderr


# -- stdout that cannot be written ------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["rmi", "--help"]])
def test_stdout_on_a_full_disk(env, args):
    with open("/dev/full", "wb") as full:
        proc = run_ctrtool(*args, env=env, stdout=full, stderr=subprocess.PIPE)
    line = assert_one_error(proc, 1)
    assert line == "ctrtool: error: cannot write to stdout: No space left on device"


@pytest.mark.parametrize("entry", ["ctrtool.cli", "ctrtool.launch"])  # launch answers --version itself
def test_closed_stdout(env, entry):
    code = f"import sys; from {entry} import main; sys.argv[0] = 'ctrtool'; main()"
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" --version >&-', sys.executable, code], env=env, capture_output=True
    )
    line = assert_one_error(proc, 1)
    assert line == "ctrtool: error: cannot write to stdout: Bad file descriptor"


def test_closed_stdout_is_never_reused_for_a_file(env, tmp_path):
    """With fd 1 closed, a file ctrtool opens must not become its stdout (the trace file here)."""
    trace = tmp_path / "trace.jsonl"
    code = "import sys; from ctrtool.cli import main; sys.argv[0] = 'ctrtool'; main()"
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" -c "$1" -t 1 images -b docker -q >&-', sys.executable, code],
        env={**env, "CTRTOOL_TRACE": str(trace)},
        capture_output=True,
    )
    assert b"Traceback" not in proc.stderr and proc.returncode == 1
    assert all(line.startswith("{") for line in trace.read_text().splitlines())


def test_a_reader_that_goes_away_is_silent(env):
    code = "import sys; from ctrtool.cli import main; sys.argv[0] = 'ctrtool'; main()"
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-c", code, "--help"],
        env={**env, "COLUMNS": "2000"},
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    reader.stdin.close()
    reader.wait()
    assert writer.stderr == b""
    assert writer.returncode in (0, 141)  # 0 if everything fitted in the pipe before head left


# -- CTRTOOL_TRACE ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["dir", "missing"])
def test_trace_path_that_cannot_be_appended_to(env, tmp_path, where):
    path = str(tmp_path) if where == "dir" else str(tmp_path / "no" / "such" / "trace.jsonl")
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_TRACE": path})
    line = assert_one_error(proc, 2)
    assert line.startswith(f"ctrtool: error: CTRTOOL_TRACE={path!r}: cannot append to it")


# -- the locale -------------------------------------------------------------------------------------


@pytest.mark.parametrize("locale_env", [{"LC_ALL": "C"}, {"LANG": "C"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}])
def test_ascii_locale_with_a_non_ascii_name(env, locale_env):
    env = {k: v for k, v in env.items() if k not in ("LANG", "LC_ALL", "PYTHONIOENCODING", "PYTHONUTF8")}
    env.update(locale_env)
    proc = run_ctrtool("kill", "-s", "ñ", "wéb", env=env)
    line = assert_one_error(proc, 2)
    assert line.startswith("ctrtool: error: unknown signal")


def test_ascii_stdout_escapes_what_it_cannot_encode(env):
    """Tables carry "…" and names may hold any byte: on an ASCII-only locale they are written
    (bytes that came in undecodable go out as they came), never a UnicodeEncodeError."""
    env = {k: v for k, v in env.items() if k not in ("LANG", "LC_ALL", "PYTHONIOENCODING")}
    env.update({"LC_ALL": "C", "PYTHONUTF8": "0"})
    code = (
        r"import sys; from ctrtool.cli import _stdio; _stdio(); "
        r"print('sha256:10da968d4b97\u2026', sys.argv[1], 'caf\u00e9'); sys.stdout.flush()"
    )
    proc = subprocess.run([sys.executable, "-c", code, os.fsdecode(b"n\xf1me")], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"sha256:10da968d4b97... n\xf1me caf\\xe9\n"


# -- names and values checked at the edge ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["rmi", "-b", "docker", "--", "-f"],
        ["rmi", "-b", "docker", "--", "--all"],
        ["rm", "-b", "ctr", "--", "-x"],
        ["stop", "-b", "crictl", "--", "-t"],
        ["kill", "--", "-s"],
        ["start", "--dry-run", "--", "--help"],
        ["tag", "-b", "docker", "--", "localhost/a:1", "-b"],
        ["tag", "-b", "docker", "--", "-x", "localhost/a:1"],
        ["save", "-b", "ctr", "-o", "/tmp/x.tar", "--", "-o"],
        ["pull", "-b", "docker", "--", "--platform=x"],
        ["inspect", "--", "-x"],
        ["logs", "-b", "docker", "--", "-f"],
        ["exec", "-b", "docker", "--", "-it", "sh"],
        ["copy", "--from", "docker", "--to", "ctr", "--", "-x"],
        ["rmi", "-b", "docker", "a\nb"],
        ["rmi", "-b", "docker", ""],
    ],
)
def test_a_name_that_would_read_as_an_option_is_refused(env, tmp_path, args):
    trace = tmp_path / "trace.jsonl"
    proc = run_ctrtool(*args, env={**env, "CTRTOOL_TRACE": str(trace)})
    line = assert_one_error(proc, 2)
    assert "name" in line
    assert not trace.exists() or trace.read_text() == "", "no tool ran"


@pytest.mark.parametrize(
    "args, words",
    [
        (["copy", "x", "--from", "ctr:b@d", "--to", "docker"], "'b@d' is not a containerd namespace"),
        (["copy", "x", "--from", "docker", "--to", "ctr:-x"], "'-x' is not a containerd namespace"),
        (["copy", "x", "--from", "docker", "--to", "ctr:"], "expected docker|ctr[:NS]|crictl"),
        (["rmi", "-n", "", "x"], "'' is not a containerd namespace"),
        (["images", "-n", ""], "'' is not a containerd namespace"),
        (["ps", "-n", "a/b"], "'a/b' is not a containerd namespace"),
        (["save", "-b", "ctr", "-o", "", "x"], "an empty file name"),
        (["save", "-b", "ctr", "-o", "/nonexistent-dir/x.tar", "x"], "no such directory"),
        (["save", "-b", "ctr", "-o", "/tmp", "x"], "is a directory"),
        (["logs", "-b", "docker", "--since", "garbage", "web"], "--since 'garbage'"),
        (["logs", "-b", "docker", "--since", "2024-13-45T99:00:00Z", "web"], "--since"),
        (["load", "-b", "docker", ""], "an empty FILE name"),
    ],
)
def test_bad_values_are_usage_errors_before_any_tool_runs(env, tmp_path, args, words):
    trace = tmp_path / "trace.jsonl"
    proc = run_ctrtool(*args, env={**env, "CTRTOOL_TRACE": str(trace)})
    line = assert_one_error(proc, 2)
    assert words in line
    assert not trace.exists() or trace.read_text() == "", "no tool ran"


@pytest.mark.parametrize(
    "since", ["42m", "1h30m", "1.5h", "10s", "2024-01-02T13:23:37Z", "2024-01-02T13:23:37.5+02:00"]
)
def test_good_since_values_pass(since):
    from ctrtool.commands.containers import check_since

    assert check_since(since) == since


def test_usage_errors_from_parsing_are_one_line_too(env):
    for args in (["images", "-o", "xml"], ["nosuch"], ["images", "--bogus"], ["rmi"]):
        proc = run_ctrtool(*args, env=env)
        assert_one_error(proc, 2)


def test_a_tty_is_refused_for_an_archive(env):
    """save -o - onto a terminal: exit 2, like docker's "cowardly refusing"."""
    import pty

    leader, follower = pty.openpty()
    try:
        proc = run_ctrtool("save", "-b", "ctr", "-o", "-", "x", env=env, stdout=follower, stderr=subprocess.PIPE)
    finally:
        os.close(leader)
        os.close(follower)
    assert "terminal" in assert_one_error(proc, 2)


@pytest.mark.parametrize("path", ["/nonexistent/a\nb.yaml", "/nonexistent/\x1e.yaml", "/nonexistent/\x1b[31mred"])
def test_an_error_about_a_value_with_control_characters_stays_one_line(env, path):
    """Found by the fuzz (tests/test_fuzz_cli.py): a newline or a record separator in a value
    the error quotes split the message; control characters are shown escaped."""
    proc = run_ctrtool("images", env={**env, "CTRTOOL_CONFIG": path})
    line = assert_one_error(proc, 2)
    assert "\x1b" not in line and "no such file" in line
