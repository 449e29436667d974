"""The runner's streaming and interactive calls on real processes: output passed through untouched,
exit status kept, stderr lines withheld on request, terminal size passed on and followed."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pexpect
import pytest

from ctrtool import runner
from ctrtool.errors import ToolNotInstalled, ToolTimeout

PY = sys.executable
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_passthrough_keeps_stdout_stderr_and_exit_status(capfd):
    got = runner.run_passthrough(
        [PY, "-c", "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(7)"]
    )
    assert got.returncode == 7
    captured = capfd.readouterr()
    assert captured.out == "to out\n"
    assert captured.err == "to err\n"
    assert got.stderr_tail == "to err\n" and got.withheld == []


def test_passthrough_withholds_the_lines_asked_for_and_keeps_them_in_the_tail(capfd):
    code = "import sys; sys.stderr.write('keep 1\\nsecret 2\\nkeep 3 no newline')"
    got = runner.run_passthrough([PY, "-c", code], withhold=lambda line: line.startswith("secret"))
    assert capfd.readouterr().err == "keep 1\nkeep 3 no newline"
    assert got.withheld == ["secret 2"]
    assert "secret 2" in got.stderr_tail


def test_passthrough_stdin_is_devnull_unless_asked(capfd):
    code = "import sys; print(repr(sys.stdin.read()))"
    runner.run_passthrough([PY, "-c", code], stdin=False)
    assert capfd.readouterr().out == "''\n"


def test_passthrough_stdout_can_go_to_stderr(capfd):
    runner.run_passthrough([PY, "-c", "print('progress')"], stdout_to_stderr=True)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == "progress\n"


def test_passthrough_reports_death_by_signal_like_a_shell():
    got = runner.run_passthrough([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    assert got.returncode == 128 + signal.SIGKILL


def test_passthrough_timeout_and_missing_tool_are_typed():
    with pytest.raises(ToolTimeout):
        runner.run_passthrough(["sleep", "30"], timeout=0.5)
    with pytest.raises(ToolNotInstalled):
        runner.run_passthrough(["ctrtool-no-such-tool-xyz"])
    with pytest.raises(ToolNotInstalled):
        runner.run_interactive(["ctrtool-no-such-tool-xyz"])


# A program run by run_interactive: prints its terminal size on each line it reads, exits with
# the number on a line "exit N", and writes one line on stderr that the caller withholds.
INNER = textwrap.dedent("""
    import os, sys
    sys.stderr.write("inner says hi on stderr\\nSECRET exit report\\n"); sys.stderr.flush()
    print("inner ready", flush=True)
    for line in sys.stdin:
        size = os.get_terminal_size(0)
        print(f"size={size.lines}x{size.columns} tty={sys.stdout.isatty()}", flush=True)
        if line.startswith("exit"):
            sys.exit(int(line.split()[1]))
""")

OUTER = textwrap.dedent("""
    import sys
    from ctrtool import runner
    got = runner.run_interactive([sys.executable, "-c", sys.argv[1]], withhold=lambda l: l.startswith("SECRET"))
    print(f"withheld={got.withheld}", flush=True)
    sys.exit(got.returncode)
""")


def test_interactive_passes_the_terminal_size_and_its_changes_and_the_exit_status():
    child = pexpect.spawn(
        PY,
        ["-c", OUTER, INNER],
        dimensions=(30, 90),
        encoding="utf-8",
        timeout=20,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    # type only once the session runs: pexpect's interact() puts the terminal in raw mode with
    # TCSAFLUSH, which drops what was typed before (a lost line here made this test flaky)
    child.expect("inner ready")
    child.sendline("size please")
    child.expect(r"size=30x90 tty=True")
    child.setwinsize(20, 70)  # the window is resized: SIGWINCH reaches ctrtool, which resizes its pty
    child.sendline("again")
    child.expect(r"size=20x70 tty=True")
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    # the tool's stderr is shown once the session is over, minus the withheld line
    assert "inner says hi on stderr" in child.before
    assert "SECRET exit report" not in child.before.replace("withheld=['SECRET exit report']", "")
    assert "withheld=['SECRET exit report']" in child.before


def test_ctrl_c_reaches_the_tool_and_ctrtool_reports_its_status():
    """Ctrl-C on the terminal goes to the whole foreground group: the tool gets SIGINT as it would
    when run by hand; ctrtool waits for it and reports its status instead of dying first."""
    script = textwrap.dedent("""
        import sys
        from ctrtool import runner
        got = runner.run_passthrough(["sh", "-c", "echo ready; exec sleep 60"])
        print(f"status={got.returncode}", flush=True)
    """)
    child = pexpect.spawn(
        PY, ["-c", script], encoding="utf-8", timeout=30, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}
    )
    child.expect("ready")
    child.sendintr()
    child.expect(r"status=(\d+)")
    assert child.match.group(1) == "130", "killed by SIGINT: 128 + 2, as a shell reports it"
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_ctrl_c_right_as_the_tool_starts_does_not_kill_ctrtool_first():
    """The handlers are in place before the tool is started (a Ctrl-C the moment it starts used
    to raise KeyboardInterrupt in ctrtool while the tool ran on)."""
    import subprocess

    script = textwrap.dedent("""
        import os, signal, subprocess
        from ctrtool import runner
        real = subprocess.Popen
        class Popen(real):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, the moment the tool has started
        subprocess.Popen = Popen
        got = runner.run_passthrough(["sh", "-c", "sleep 0.2; exit 4"])
        print(f"status={got.returncode}")
    """)
    proc = subprocess.run(
        [PY, "-c", script], capture_output=True, text=True, timeout=30, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}
    )
    assert proc.stdout == "status=4\n", proc.stderr


def test_the_tool_gets_the_usual_signal_dispositions(capfd):
    """ctrtool keeps Ctrl-C to itself with a handler, not by ignoring it: an ignored signal would
    stay ignored in the tool."""
    runner.run_passthrough(["sh", "-c", "grep SigIgn /proc/self/status"])
    ignored = int(capfd.readouterr().out.split()[1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1)) and not ignored & (1 << (signal.SIGQUIT - 1))
