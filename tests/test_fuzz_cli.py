"""A hypothesis-driven fuzz of ctrtool's command line and environment: whatever the arguments and
the variables, the exit status is one ctrtool documents, there is never a traceback, and stderr
holds one line per error (a message, and perhaps a hint under it) in the project's format.

ctrtool runs as the user runs it (a subprocess through main()) with no tool on PATH and every
endpoint at a socket that does not exist, so that nothing can be changed anywhere; `lab` (which
starts and stops daemons and mounts) is never drawn.
"""

from __future__ import annotations

import os
import subprocess
import sys

from fault_helpers import EXIT_CODES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAIN = "import sys; from ctrtool.cli import main; sys.argv[0] = 'ctrtool'; main()"
EXAMPLES = int(os.environ.get("CTRTOOL_FUZZ_EXAMPLES", "60"))

COMMANDS = [
    "images",
    "layers",
    "df",
    "explain",
    "info",
    "where",
    "ps",
    "pods",
    "inspect",
    "logs",
    "exec",
    "start",
    "stop",
    "kill",
    "rm",
    "rmi",
    "prune",
    "tag",
    "pull",
    "load",
    "save",
    "copy",
    "reclaim",
    "translate",
]
OPTIONS = [
    "--plan",
    "--remove-stopped",
    "--lease-age",
    "--if-id",
    "-t",
    "--timeout",
    "-c",
    "--config",
    "-H",
    "-a",
    "-r",
    "-i",
    "--context",
    "-b",
    "--backend",
    "-n",
    "--namespace",
    "-A",
    "--all-backends",
    "-o",
    "--output",
    "-q",
    "--yes",
    "-y",
    "--dry-run",
    "--since",
    "--tail",
    "-f",
    "--from",
    "--to",
    "-s",
    "--signal",
    "--type",
    "--force",
    "-a",
    "--all",
    "-it",
    "-i",
    "--",
    "-h",
    "--help",
    "--version",
    "--time",
]
TRICKY = [
    "",
    " ",
    "-",
    "--",
    "-x",
    "--all",
    "-rf",
    "inf",
    "-inf",
    "nan",
    "1e10",
    "1e400",
    "0",
    "-1",
    "0.05",
    "86400",
    "86401",
    "abc",
    "é",
    "ñame",
    "\u2026",
    "x\ny",
    "\t",
    "a;b",
    "$(id)",
    "'",
    '"',
    "\\",
    "ctr:",
    "ctr:b@d",
    "ctr:k8s.io",
    "docker",
    "ctr",
    "crictl",
    "podman",
    "json",
    "yaml",
    "xml",
    "wide",
    "localhost/app:1",
    "sha256:",
    "sha256:" + "a" * 64,
    "busybox",
    "web",
    "42m",
    "garbage",
    "2024-01-02T13:23:37Z",
    "SIGKILL",
    "HUP",
    "99",
    "k8s.io",
    "default",
    "/",
    "/nonexistent/x",
    "/dev/null",
    "/tmp",
]
NO_NUL = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
ARG = st.one_of(st.sampled_from(TRICKY), st.sampled_from(OPTIONS), st.text(NO_NUL, max_size=10))
ENV_VALUE = st.one_of(st.sampled_from(TRICKY), st.text(NO_NUL, max_size=8))


@st.composite
def environments(draw, base: dict[str, str], trace_dir: str) -> dict[str, str]:
    env = dict(base)
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "COLUMNS",
                    "LINES",
                    "CTRTOOL_TIMEOUT",
                    "CTRTOOL_TRACE",
                    "LANG",
                    "LC_ALL",
                    "CONTAINERD_NAMESPACE",
                    "NO_COLOR",
                    "CTRTOOL_CONFIG",
                    "DOCKER_HOST",
                    "CONTAINERD_ADDRESS",
                    "CRI_CONFIG_FILE",
                ]
            ),
            max_size=4,
            unique=True,
        )
    ):
        if name == "CTRTOOL_TRACE":
            env[name] = draw(
                st.sampled_from([trace_dir, os.path.join(trace_dir, "trace.jsonl"), "/nonexistent/trace", ""])
            )
        elif name in ("LANG", "LC_ALL"):
            env[name] = draw(st.sampled_from(["C", "POSIX", "C.UTF-8", "xx_YY.garbage", ""]))
        else:
            env[name] = draw(ENV_VALUE)
    if draw(st.booleans()):
        env.pop("PYTHONIOENCODING", None)
        env["PYTHONUTF8"] = "0"
    return env


def check_stderr(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode in EXIT_CODES, (proc.returncode, err)
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("ctrtool: error: ")]
    previous = ""
    for line in lines:
        if line.startswith("  hint: "):
            assert previous.startswith("ctrtool: error: "), f"a hint without its error: {err}"
        else:
            # each error, warning or note is one line of its own
            assert line.startswith("ctrtool: "), f"not in the project's format: {line!r} in {err}"
        previous = line
    if proc.returncode not in (0, 141):
        assert errors, f"exit {proc.returncode} without an error line: {err}"
    if proc.returncode == 2:
        assert len(errors) == 1, f"a usage error is one line: {err}"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_command_line_and_environment(tmp_path, data):
    empty_path = tmp_path / "bin"
    empty_path.mkdir(exist_ok=True)
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CTRTOOL_", "DOCKER_", "CONTAINERD_", "CONTAINER_RUNTIME", "IMAGE_SERVICE", "CRI_"))
    }
    base.update(
        {
            "PATH": str(empty_path),
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
            "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
            "CONTAINERD_ADDRESS": f"{tmp_path}/no-ctr.sock",
            "CONTAINER_RUNTIME_ENDPOINT": f"unix://{tmp_path}/no-cri.sock",
        }
    )
    env = data.draw(environments(base, str(tmp_path)))
    before = data.draw(st.lists(ARG, max_size=2))
    command = data.draw(st.sampled_from(COMMANDS))
    after = data.draw(st.lists(ARG, max_size=5))
    argv = [*before, command, *after]
    if "lab" in argv:  # never: lab up/down start and stop daemons and unmount
        return
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    check_stderr(proc)
