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
    "/dev/zero",
    "esc\x1b]0;owned\x07",
    "red\x1b[31mx",
    "c1\x9b31m",
    "cr\rx",
    "bell\x07",
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


def check_stderr(proc: subprocess.CompletedProcess, report: bool = False) -> None:
    """``report``: a command whose findings are on stdout (doctor: exit 1 or 3 with no error line)."""
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
    raw = [ch for ch in err if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) < 0xA0]
    assert not raw, f"control characters reached stderr raw: {err!r}"
    if proc.returncode not in (0, 141) and not report:
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


# -- files ctrtool reads: its config (-c), crictl's (CRI_CONFIG_FILE), the kubelet's, the trace
# file and a load archive, drawn hostile: not regular files, too big, not UTF-8, YAML with aliases,
# deep nesting, huge numbers, .nan, values of the wrong type, names with control characters

YAML_FRAGMENTS = [
    "timeout: 5\n",
    "timeout: .nan\n",
    "timeout: .inf\n",
    "timeout: " + "9" * 5000 + "\n",
    "a: &a [x, x, x, x]\nb: [*a, *a, *a, *a]\n",
    "runtime-endpoint: *nope\n",
    "a: " + "[" * 300 + "]" * 300 + "\n",
    "".join("  " * i + f"k{i}:\n" for i in range(60)),
    "runtime-endpoint: unix:///run/x.sock\n",
    "runtime-endpoint: [1, 2]\n",
    "runtime-endpoint: {a: b}\n",
    "imageGCHighThresholdPercent: .nan\n",
    "imageGCHighThresholdPercent: 1e400\n",
    "imageGCLowThresholdPercent: [[1]]\n",
    "imageGCHighThresholdPercent: " + "9" * 5000 + "\n",
    'docker:\n  host: "esc\\e]0;owned\\a"\n',
    "? [a, b]\n: 1\n",
    "!!python/object:os.system x\n",
    "- 1\n- 2\n",
    "%YAML 1.1\n---\na: 1\n",
]
FILE_BYTES = st.one_of(
    st.lists(st.sampled_from(YAML_FRAGMENTS), max_size=4).map(lambda parts: "".join(parts).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"caf\xe9: 1\n", b"\xff\xfe\x00a", b"a: b\x1b]0;owned\x07\n", b"\x00" * 10]),
)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.just("app:1")),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
MANIFESTS = st.one_of(
    JSON_VALUES,
    st.lists(st.fixed_dictionaries({"RepoTags": JSON_VALUES, "Config": JSON_VALUES}), max_size=3),
)


def _make_file(tmp_path, data, kind: str, content: bytes) -> str:
    if kind == "fifo":
        path = tmp_path / f"fifo-{len(os.listdir(tmp_path))}"
        os.mkfifo(path)
        return str(path)
    if kind in ("/dev/zero", "/dev/null", "dir"):
        return str(tmp_path) if kind == "dir" else kind
    if kind == "big":
        path = tmp_path / "big.yaml"
        with open(path, "wb") as fh:
            fh.truncate(3 * 1024 * 1024)
        return str(path)
    path = tmp_path / f"file-{len(os.listdir(tmp_path))}.yaml"
    path.write_bytes(content)
    return str(path)


def _archive(tmp_path, manifest) -> str:
    import io
    import json
    import tarfile

    path = tmp_path / f"archive-{len(os.listdir(tmp_path))}.tar"
    data = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return str(path)


@settings(
    max_examples=max(10, EXAMPLES // 2),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_file_ctrtool_reads(tmp_path, data):
    empty_path = tmp_path / "bin"
    empty_path.mkdir(exist_ok=True)
    files = tmp_path / "files"
    files.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CTRTOOL_", "DOCKER_", "CONTAINERD_", "CONTAINER_RUNTIME", "IMAGE_SERVICE", "CRI_"))
    }
    env.update(
        {
            "PATH": str(empty_path),
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
            "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
            "CONTAINERD_ADDRESS": f"{tmp_path}/no-ctr.sock",
        }
    )
    kind = data.draw(st.sampled_from(["content"] * 6 + ["fifo", "/dev/zero", "/dev/null", "dir", "big"]))
    path = _make_file(files, data, kind, data.draw(FILE_BYTES))
    where = data.draw(st.sampled_from(["-c", "CTRTOOL_CONFIG", "CRI_CONFIG_FILE", "kubelet", "trace", "archive"]))
    argv = ["-t", "2", "images", "-b", "crictl"]
    if where == "-c":
        argv = ["-c", path, *argv]
    elif where == "kubelet":
        env["CTRTOOL_KUBELET_CONFIG"] = path
        argv = ["-t", "2", "doctor", "--check", "disk"]
    elif where == "trace":
        env["CTRTOOL_TRACE"] = path
    elif where == "archive":
        argv = ["load", "--dry-run", "-b", "docker", _archive(files, data.draw(MANIFESTS))]
    else:
        env[where] = path
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        cwd=tmp_path,
    )
    check_stderr(proc, report=where == "kubelet")
