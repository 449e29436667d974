"""runner.run_pipe on real processes: the bytes go from one process to the other through ctrtool
(counted), each side's exit status and stderr are kept, and the side to blame is the right one."""

from __future__ import annotations

import sys

import pytest

from ctrtool import runner
from ctrtool.errors import ToolFailed, ToolNotInstalled

PY = sys.executable
SIZE = 5 * (1 << 20) + 123


def test_bytes_pass_through_and_are_counted(tmp_path):
    out = tmp_path / "out"
    got = runner.run_pipe(
        [PY, "-c", f"import sys; sys.stdout.buffer.write(b'x' * {SIZE})"],
        [PY, "-c", f"import sys; d = sys.stdin.buffer.read(); open({str(out)!r}, 'wb').write(d); print(len(d))"],
        progress=False,
    )
    assert got.bytes == SIZE and out.stat().st_size == SIZE
    assert got.target.stdout.strip() == str(SIZE)
    assert got.failed_side() is None and not got.source_stopped


def test_source_failure_is_blamed_on_the_source():
    got = runner.run_pipe(
        [PY, "-c", "import sys; sys.stderr.write('no such image\\n'); sys.exit(1)"],
        [PY, "-c", "import sys; sys.stdin.read(); sys.stderr.write('unexpected EOF\\n'); sys.exit(1)"],
        progress=False,
    )
    bad = got.failed_side()
    assert bad is got.source and "no such image" in bad.stderr
    err = runner.failure(bad)
    assert isinstance(err, ToolFailed) and err.returncode == 1 and "no such image" in err.message


def test_target_that_stops_reading_is_blamed_and_the_source_stopped():
    # several times: the source used to be stopped only after its pipe was closed, and under load
    # it sometimes ended first by itself (EPIPE), which blamed it instead of the target
    for _ in range(15):
        got = runner.run_pipe(
            [PY, "-c", "import sys\nwhile True: sys.stdout.buffer.write(b'x' * 65536)"],
            [PY, "-c", "import sys; sys.stdin.buffer.read(10); sys.stderr.write('bad archive\\n'); sys.exit(4)"],
            progress=False,
        )
        assert got.source_stopped
        bad = got.failed_side()
        assert bad is got.target and bad.returncode == 4 and "bad archive" in bad.stderr


def test_missing_tool_is_typed():
    with pytest.raises(ToolNotInstalled):
        runner.run_pipe(["/nonexistent/ctrtool-no-such-tool"], [PY, "-c", "pass"], progress=False)


def test_dry_run_shows_one_pipeline(capsys):
    from ctrtool.safety import approve

    assert not approve(
        "copy", [["docker", "save", "a b"], ["ctr", "-n", "k8s.io", "images", "import", "-"]], dry_run=True, piped=True
    )
    assert capsys.readouterr().out == "docker save 'a b' | ctr -n k8s.io images import -\n"
