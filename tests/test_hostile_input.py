"""Hostile input, second round (issue 22): files ctrtool must not read blindly, processes it must
not believe, names it must not print raw. No daemon is needed: every backend points at a socket
that does not exist (tests/fault_helpers.py), and the "daemons" here are copies of /bin/sleep
that user nobody starts under a daemon's name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace

import pytest
from fault_helpers import assert_one_error, offline_env, run_ctrtool

from ctrtool import safeio
from ctrtool.errors import ConfigError

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)
DEEP_YAML = "a: " + "[" * 20000 + "]" * 20000 + "\n"
DEEP_MAPPING = "".join("  " * i + f"k{i}:\n" for i in range(200))


@pytest.fixture
def env(tmp_path):
    return offline_env(tmp_path)


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


def hostile_files(tmp_path, fifo) -> dict[str, str]:
    """A FIFO, /dev/zero, a directory, a 50 MB (sparse) file, a file that is not UTF-8."""
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"# caf\xe9\ntimeout: 5\n")
    return {"fifo": str(fifo), "zero": "/dev/zero", "dir": str(tmp_path), "big": str(big), "latin": str(latin)}


# -- safeio ---------------------------------------------------------------------------------------


def test_read_text_refuses_what_is_not_a_regular_file(tmp_path, fifo):
    for path, kind in ((fifo, "a FIFO"), ("/dev/zero", "a character device"), (tmp_path, "a directory")):
        started = time.monotonic()
        with pytest.raises(ConfigError, match=f"not a regular file \\({kind}\\)"):
            safeio.read_text(str(path), safeio.CONFIG_LIMIT, "config file")
        assert time.monotonic() - started < 1


def test_read_text_refuses_a_file_over_its_limit(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1025)
    with pytest.raises(ConfigError, match="too big: 1025 bytes \\(at most 1024\\)"):
        safeio.read_text(str(big), 1024, "config file")
    assert safeio.read_text(str(big), 1025, "config file") == "x" * 1025


def test_read_text_names_the_byte_that_is_not_utf8(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"ok\n\xff\n")
    with pytest.raises(ConfigError, match=f"^config file {bad}:2: not UTF-8 text: byte 0xff at offset 3$"):
        safeio.read_text(str(bad), 100, "config file")


@pytest.mark.parametrize(
    "text, problem",
    [
        (BILLION_LAUGHS, "aliases"),
        (DEEP_YAML, "nested deeper"),
        (DEEP_MAPPING, "nested deeper"),
        ("a: " + "9" * 5000 + "\n", "5000 digits"),
        ("a: *x\n", "aliases"),
    ],
)
def test_load_yaml_bounds_aliases_depth_and_numbers(text, problem):
    started = time.monotonic()
    with pytest.raises(ConfigError, match=problem):
        safeio.load_yaml("f.yaml", text, "config file")
    assert time.monotonic() - started < 5


def test_load_yaml_still_reads_plain_yaml():
    assert safeio.load_yaml("f", "a: [1, {b: c}]\nd: 1.5\n", "x") == {"a": [1, {"b": "c"}], "d": 1.5}


def test_number_refuses_nan_inf_bool_and_out_of_range():
    assert [safeio.number(v, 0, 100) for v in (85, 85.0, float("nan"), float("inf"), True, "85", 101, -1)] == [
        85,
        85,
        None,
        None,
        None,
        None,
        None,
        None,
    ]


# -- ctrtool's config file, crictl's, the trace file: one line, exit 2, at once ------------------


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "big", "latin"])
def test_config_option_file_that_is_hostile(env, tmp_path, fifo, kind):
    path = hostile_files(tmp_path, fifo)[kind]
    proc = run_ctrtool("-c", path, "images", "-b", "docker", env=env, timeout=20)
    line = assert_one_error(proc, 2)
    assert line.startswith(f"ctrtool: error: config file {path}")


@pytest.mark.parametrize("kind", ["fifo", "zero", "big", "latin"])
def test_cri_config_file_that_is_hostile(env, tmp_path, fifo, kind):
    path = hostile_files(tmp_path, fifo)[kind]
    env = {k: v for k, v in env.items() if k != "CONTAINER_RUNTIME_ENDPOINT"}
    proc = run_ctrtool("images", "-b", "crictl", env={**env, "CRI_CONFIG_FILE": path}, timeout=20)
    line = assert_one_error(proc, 2)
    assert f"config file {path}" in line


@pytest.mark.parametrize(
    "text, problem", [(BILLION_LAUGHS, "aliases"), (DEEP_YAML, "nested deeper"), (DEEP_MAPPING, "nested deeper")]
)
def test_cri_config_yaml_that_is_hostile(env, tmp_path, text, problem):
    conf = tmp_path / "crictl.yaml"
    conf.write_text(text)
    env = {k: v for k, v in env.items() if k != "CONTAINER_RUNTIME_ENDPOINT"}
    proc = run_ctrtool("images", "-b", "crictl", env={**env, "CRI_CONFIG_FILE": str(conf)}, timeout=20)
    line = assert_one_error(proc, 2)
    assert problem in line


@pytest.mark.parametrize(
    "text", [BILLION_LAUGHS, DEEP_YAML, "timeout: " + "9" * 5000 + "\n", "? [a, b]\n: 1\n", "{[1]: 2}\n"]
)
def test_ctrtool_config_yaml_that_is_hostile(env, tmp_path, text):
    conf = tmp_path / "config.yaml"
    conf.write_text(text)
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_CONFIG": str(conf)}, timeout=20)
    assert_one_error(proc, 2)


def test_trace_file_that_is_a_fifo(env, fifo):
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_TRACE": str(fifo)}, timeout=20)
    line = assert_one_error(proc, 2)
    assert "CTRTOOL_TRACE" in line


def test_trace_file_that_is_a_fifo_with_a_reader(env, fifo):
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.DEVNULL)
    try:
        proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_TRACE": str(fifo)}, timeout=20)
        line = assert_one_error(proc, 2)
        assert "not a regular file" in line
    finally:
        try:  # let cat see an end, should ctrtool not have opened it
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        reader.kill()
        reader.wait(timeout=10)


def test_trace_to_dev_null_is_still_fine(env):
    proc = run_ctrtool("images", "-b", "docker", env={**env, "CTRTOOL_TRACE": os.devnull}, timeout=20)
    line = assert_one_error(proc, 1)
    assert "cannot reach the daemon" in line


# -- the kubelet's config (doctor's disk check) -----------------------------------------------------


def thresholds_of(path: str):
    from ctrtool.doctor.checks.disk import thresholds

    return thresholds(SimpleNamespace(settings=SimpleNamespace(env={"CTRTOOL_KUBELET_CONFIG": path})))


@pytest.mark.parametrize("kind", ["fifo", "zero", "dir", "big", "latin"])
def test_kubelet_config_that_is_hostile_gives_the_defaults_at_once(tmp_path, fifo, kind):
    path = hostile_files(tmp_path, fifo)[kind]
    started = time.monotonic()
    high, low, evidence, where = thresholds_of(path)
    assert time.monotonic() - started < 2
    assert (high, low, evidence) == (85, 80, None)
    assert path in where and "the kubelet's defaults" in where and "\n" not in where


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        DEEP_YAML,
        "imageGCHighThresholdPercent: .nan\n",
        "imageGCHighThresholdPercent: .inf\n",
        "imageGCHighThresholdPercent: " + "9" * 5000 + "\n",
        "imageGCHighThresholdPercent: [1]\n",
        "imageGCHighThresholdPercent: true\n",
        "imageGCHighThresholdPercent: 150\n",
        "imageGCHighThresholdPercent: 85.5\n",
    ],
)
def test_kubelet_config_values_that_are_hostile(tmp_path, text):
    conf = tmp_path / "config.yaml"
    # a document that is itself refused (aliases, nesting, a 5,000-digit number) gives both defaults
    refused = text in (BILLION_LAUGHS, DEEP_YAML) or "9" * 100 in text
    conf.write_text(text if refused else text + "imageGCLowThresholdPercent: 70\n")
    started = time.monotonic()
    high, low, _evidence, where = thresholds_of(str(conf))
    assert time.monotonic() - started < 5
    assert high == 85
    assert low == (80 if refused else 70)
    assert "\n" not in where


def test_kubelet_config_with_thresholds_is_read(tmp_path):
    conf = tmp_path / "config.yaml"
    conf.write_text("imageGCHighThresholdPercent: 90\nimageGCLowThresholdPercent: 70\n")
    high, low, evidence, _where = thresholds_of(str(conf))
    assert (high, low) == (90, 70)
    assert evidence is not None and "imageGCHighThresholdPercent: 90" in evidence.excerpt


def test_doctor_disk_with_a_kubelet_config_that_is_not_utf8(env, tmp_path):
    conf = tmp_path / "kubelet.yaml"
    conf.write_bytes(b"imageGCHighThresholdPercent: 90 # \xff\n")
    proc = run_ctrtool(
        "doctor", "--check", "disk", "-o", "json", env={**env, "CTRTOOL_KUBELET_CONFIG": str(conf)}, timeout=30
    )
    assert "Traceback" not in proc.stderr.decode()
    assert proc.stdout.strip().startswith(b"{") or proc.stdout.strip().startswith(b"[")


# -- processes another user started ------------------------------------------------------------------


needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")


@pytest.fixture
def nobody_dir():
    """A directory user nobody can use (pytest's tmp_path is root's alone)."""
    path = tempfile.mkdtemp(prefix="ctrtool-h22-nobody-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_as_nobody(directory: str, name: str, *args: str) -> subprocess.Popen:
    """A copy of bash named ``name``, run as user nobody with ``args``, waiting (builtins only: no
    child to leave behind) on a FIFO of its own that never gets a line."""
    exe = os.path.join(directory, name)
    shutil.copy("/bin/bash", exe)
    os.chmod(exe, 0o755)
    wait = os.path.join(directory, f"{name}.wait")
    os.mkfifo(wait)
    os.chmod(wait, 0o666)
    script = os.path.join(directory, f"{name}.sh")
    with open(script, "w") as fh:
        fh.write(f"exec 3<>{wait}\nread -r -t 600 -u 3 line\n")
    os.chmod(script, 0o644)
    proc = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, script, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # setpriv has exec'd the copy
        try:
            with open(f"/proc/{proc.pid}/cmdline", "rb") as fh:
                started = fh.read().startswith(exe.encode())
            if started and os.stat(f"/proc/{proc.pid}").st_uid == 65534:
                break
        except OSError:
            pass
        time.sleep(0.02)
    else:
        raise AssertionError("the process as nobody did not start")
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=10)


def in_child(code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=dict(os.environ)
    )


@needs_root
@pytest.mark.parametrize("target", ["fifo", "/dev/zero"])
def test_another_users_containerd_with_a_hostile_config_is_not_read(nobody_dir, target):
    config = target
    if target == "fifo":
        config = os.path.join(nobody_dir, "fifo")
        os.mkfifo(config)
        os.chmod(config, 0o666)
    proc = start_as_nobody(nobody_dir, "containerd", "--config", config)
    try:
        got = in_child(
            "from ctrtool.doctor import procs\n"
            "print([d.pid for d in procs.containerd_daemons()])\n"
            "print([p for p, _u, _a in procs.claims('containerd')])\n"
            f"print(procs.serving('{nobody_dir}/containerd.sock'))\n",
            timeout=20,
        )
        assert got.returncode == 0, got.stderr
        believed, claimed, serving = got.stdout.splitlines()
        assert str(proc.pid) not in believed
        assert str(proc.pid) in claimed
        assert serving == "None"
    finally:
        stop(proc)


@needs_root
def test_another_users_containerd_claiming_a_socket_is_not_blamed(nobody_dir):
    socket = os.path.join(nobody_dir, "lab.sock")
    config = os.path.join(nobody_dir, "config.toml")
    with open(config, "w") as fh:
        fh.write(f'version = 2\ndisabled_plugins = "io.containerd.grpc.v1.cri"\n[grpc]\naddress = "{socket}"\n')
    os.chown(config, 65534, 65534)
    proc = start_as_nobody(nobody_dir, "containerd", "--config", config)
    try:
        got = in_child(f"from ctrtool.doctor import procs\nprint(procs.serving({socket!r}))\n")
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == "None"
    finally:
        stop(proc)


@needs_root
def test_doctor_cri_plugin_with_another_users_containerd_on_a_fifo_returns(env, nobody_dir):
    fifo = os.path.join(nobody_dir, "fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    proc = start_as_nobody(nobody_dir, "containerd", "--config", fifo)
    try:
        got = run_ctrtool("-t", "3", "doctor", "--check", "cri_plugin", "-o", "json", env=env, timeout=60)
        assert "Traceback" not in got.stderr.decode()
        assert got.returncode in (0, 1, 3), got.stderr
    finally:
        stop(proc)


def test_a_config_whose_values_have_the_wrong_types_is_type_checked():
    from ctrtool.doctor.procs import parse_config

    config = parse_config(
        'version = "2"\ndisabled_plugins = "io.containerd.grpc.v1.cri"\n[grpc]\naddress = 5\n[plugins]\n'
    )
    assert "version" not in config and "disabled_plugins" not in config
    assert config["grpc"] == {}
    assert parse_config('disabled_plugins = ["a", 1]\n').get("disabled_plugins") is None
    assert parse_config('disabled_plugins = ["cri"]\nversion = 2\n') == {"disabled_plugins": ["cri"], "version": 2}


def test_peer_names_the_process_listening_on_a_socket(tmp_path):
    import socket as socket_

    from ctrtool.doctor.procs import peer

    path = str(tmp_path / "s.sock")
    server = socket_.socket(socket_.AF_UNIX, socket_.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    try:
        assert peer(path) == (os.getpid(), os.geteuid())
        assert peer(f"unix://{path}") == (os.getpid(), os.geteuid())
    finally:
        server.close()
    assert peer(path) is None


# -- names with control characters: escaped in tables, lines, prompts, errors, completion ----------

HOSTILE_NAMES = ["esc\x1b]0;owned\x07", "red\x1b[31mtext", "nl\nx", "cr\rx", "c1\x9b31m", "bell\x07"]


def _table(rows) -> str:
    import io

    from rich.console import Console

    from ctrtool.output import Column, Output

    out = Output("table")
    buf = io.StringIO()
    out._out = Console(file=buf, width=200, force_terminal=True, color_system=None)
    out.table([Column("NAME", lambda r: r[0]), Column("STATE", lambda r: r[1])], rows)
    return buf.getvalue()


def _raw_controls(text: str) -> set[str]:
    return {ch for ch in text if (ord(ch) < 32 and ch != "\n") or 0x7F <= ord(ch) < 0xA0}


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_table_shows_control_characters_escaped(name):
    from rich.text import Text

    screen = _table([(name, Text("run\x1b[2Jning", style="green"))])
    assert not _raw_controls(screen), repr(screen)
    assert name.encode("unicode_escape").decode() in screen.replace("\n", "")
    assert "\\x1b[2J" in screen


def test_a_table_still_shows_plain_names_as_they_are():
    assert "localhost/app:1" in _table([("localhost/app:1", "running")])


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_lines_and_prompts_show_control_characters_escaped(name, capsys, monkeypatch):
    from ctrtool import safety
    from ctrtool.output import Output

    Output("table").lines([name])
    assert not _raw_controls(capsys.readouterr().out.rstrip("\n"))
    safety.approve(f"remove image {name}", [["crictl", "rmi", name]], dry_run=True)
    assert not _raw_controls(capsys.readouterr().out.rstrip("\n"))
    monkeypatch.setattr(safety, "interactive", lambda: True)
    asked = []
    with pytest.raises(safety.ConsentRefused):
        safety.approve(f"remove image {name}", [["crictl", "rmi", name]], ask=lambda q: asked.append(q) or False)
    assert not _raw_controls(asked[0].replace("\n", ""))
    assert "crictl rmi" in asked[0]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_completion_shows_control_characters_escaped(name):
    from ctrtool import completion

    got = completion.quietly(lambda: [name, "plain"], "")
    assert "plain" in got and len(got) == 2
    assert not any(_raw_controls(w) or "\n" in w for w in got)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_an_error_naming_a_hostile_name_is_one_line(env, name):
    proc = run_ctrtool("rmi", "--yes", "-b", "docker", name, env=env, timeout=20)
    line = assert_one_error(proc, 2)
    assert not _raw_controls(line)


# -- copy: the check after the change reads the truth ----------------------------------------------


class _Place:
    """Enough of an adapter for base.plan_copy: the pipe runs ``printf | cat``; ``images()`` reads
    its "meta.db" once and keeps it (as the ctr adapter keeps containerd's), until forgotten."""

    name = binary = "ctr"
    cached = ("_metadata",)

    def __init__(self, truth):
        from ctrtool.adapters.base import Adapter

        self.truth = truth
        self.settings = SimpleNamespace(timeout=5.0)
        self.fresh_deadline = Adapter.fresh_deadline.__get__(self)
        self.forget = Adapter.forget.__get__(self)
        self.endpoint = SimpleNamespace(address="/nonexistent.sock")

    def images(self, namespaces=None):
        if "_metadata" not in self.__dict__:
            self.__dict__["_metadata"] = list(self.truth)
        return self.__dict__["_metadata"]

    def export_argv(self, ref, namespace):
        return ["printf", "archive"]

    def import_argv(self, namespace):
        return ["cat"]

    def unset_env(self):
        return ()

    def parse_import(self, stdout):
        return []

    def classify(self, exc):
        return exc


def _record(ref, image_id="sha256:" + "1" * 64):
    from ctrtool.model import ImageRecord

    return ImageRecord("ctr", "new", ref, image_id, None, 1, "content", None)


def test_copy_checks_the_target_after_the_copy_not_a_cached_listing():
    from ctrtool.adapters.base import plan_copy
    from ctrtool.model import ImageTarget

    target = _Place([_record("other:1")])  # the same image under another name, before the copy
    image = ImageTarget("docker", None, "localhost/app:1", "sha256:" + "1" * 64)
    assert target.images(["new"])[0].ref == "other:1"  # read (and kept) before the copy: core does
    target.truth.append(_record("localhost/app:1"))  # what the import did
    plan = plan_copy(target, image, target, "new", target, "new", False, "copy")
    found = plan.execute()
    assert [r.ref for r in found] == ["localhost/app:1"]


def test_copy_that_did_not_arrive_is_not_reported_under_another_name():
    from ctrtool.adapters.base import plan_copy
    from ctrtool.errors import ToolError
    from ctrtool.model import ImageTarget

    target = _Place([_record("other:1")])
    image = ImageTarget("docker", None, "localhost/app:1", "sha256:" + "1" * 64)
    plan = plan_copy(target, image, target, "new", target, "new", False, "copy")
    with pytest.raises(ToolError, match="does not list localhost/app:1"):
        plan.execute()


# -- save -o - | head: the reader going away is its choice -----------------------------------------


def test_an_archive_to_stdout_whose_reader_goes_away_ends_quietly():
    code = (
        "import sys\n"
        "from ctrtool.errors import ArchiveReaderGone\n"
        "from ctrtool.runner import run_to_file\n"
        "try:\n"
        "    run_to_file(['cat', '/dev/zero'], '-')\n"
        "except ArchiveReaderGone as exc:\n"
        "    sys.exit(10 + exc.exit_code + (5 if exc.silent else 0))\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert writer.stdout is not None
    assert len(writer.stdout.read(100)) == 100
    writer.stdout.close()
    _out, err = writer.communicate(timeout=30)
    assert (writer.returncode, err) == (15, b"")


def test_a_tool_failing_into_a_pipe_that_is_read_is_still_an_error():
    code = (
        "from ctrtool.errors import ToolFailed\n"
        "from ctrtool.runner import run_to_file\n"
        "try:\n"
        "    run_to_file(['sh', '-c', 'echo part; exit 3'], '-')\n"
        "except ToolFailed as exc:\n"
        "    print('failed', exc.returncode)\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert got.stdout == "part\nfailed 3\n"


# -- load: an archive's names are input too --------------------------------------------------------


def _archive(tmp_path, files: dict[str, bytes]) -> str:
    import io
    import tarfile

    path = tmp_path / "image.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


HOSTILE_MANIFESTS = [
    b'[{"RepoTags": [["x"]]}]',
    b'[{"RepoTags": [null, 5]}]',
    b'[{"RepoTags": "app:1"}]',
    b'[null, 5, "x"]',
    b'{"RepoTags": ["app:1"]}',
    b'[{"Config": 5, "RepoTags": ["app:1"]}]',
    b"[" * 100000 + b"]" * 100000,
]


@pytest.mark.parametrize("manifest", HOSTILE_MANIFESTS)
def test_archive_names_are_type_checked(tmp_path, manifest):
    from ctrtool.commands.imageops import archive_images

    names = archive_images(_archive(tmp_path, {"manifest.json": manifest}))
    assert names is None or all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in names.items())


@pytest.mark.parametrize(
    "index",
    [
        b'{"manifests": [{"annotations": {"io.containerd.image.name": ["x"]}, "digest": 5}]}',
        b'{"manifests": {"a": 1}}',
        b'{"manifests": [null, {"annotations": null}]}',
        b"[1]",
    ],
)
def test_archive_index_is_type_checked(tmp_path, index):
    from ctrtool.commands.imageops import archive_images

    names = archive_images(_archive(tmp_path, {"index.json": index}))
    assert names is None or all(isinstance(k, str) for k in names)


def test_archive_names_still_read(tmp_path):
    from ctrtool.commands.imageops import archive_images

    manifest = b'[{"Config": "blobs/sha256/' + b"a" * 64 + b'", "RepoTags": ["app:1", 5]}]'
    assert archive_images(_archive(tmp_path, {"manifest.json": manifest})) == {"app:1": "sha256:" + "a" * 64}


@pytest.mark.parametrize("manifest", HOSTILE_MANIFESTS[:2])
def test_load_dry_run_of_an_archive_with_hostile_names_is_one_line(env, tmp_path, manifest):
    path = _archive(tmp_path, {"manifest.json": manifest})
    proc = run_ctrtool("load", "--dry-run", "-b", "docker", path, env=env, timeout=30)
    assert (proc.returncode, b"Traceback" in proc.stderr) == (0, False), proc.stderr
    assert proc.stdout.decode().startswith("docker ")  # the command it would run


# -- rmi -b crictl of an image a CRI container uses --------------------------------------------------


def _crictl_with(containers):
    from ctrtool.adapters import crictl
    from ctrtool.config import Endpoint, Settings

    adapter = crictl.CrictlAdapter(Settings(), Endpoint("crictl", "unix:///nonexistent/cri.sock", "test"))
    adapter.containers = lambda namespaces=None: containers  # type: ignore[method-assign]
    return adapter


def _cri_container(state, image="sha256:" + "2" * 64, name="web"):
    from ctrtool.model import ContainerRecord

    return ContainerRecord("crictl", "k8s.io", "c" * 64, name, image, state, None, "pod-1", "p" * 64, None)


def _image():
    from ctrtool.model import ImageTarget

    return ImageTarget("crictl", "k8s.io", "localhost/app:1", "sha256:" + "2" * 64, ["localhost/app:1"])


@pytest.mark.parametrize("image", ["sha256:" + "2" * 64, "localhost/app:1", "2" * 64])
def test_crictl_rmi_of_an_image_a_running_container_uses_is_refused(image):
    from ctrtool.errors import InvalidState

    adapter = _crictl_with([_cri_container("running", image)])
    with pytest.raises(InvalidState, match="used by running CRI container\\(s\\) web"):
        adapter.plan_rmi(_image())


def test_crictl_rmi_force_names_the_containers_in_the_question():
    adapter = _crictl_with([_cri_container("running"), _cri_container("exited", name="old")])
    plan = adapter.plan_rmi(_image(), force=True)
    assert "web (running, pod pod-1)" in plan.what and "old (exited, pod pod-1)" in plan.what
    assert plan.commands[0][-2:] == ["rmi", "localhost/app:1"]


def test_crictl_rmi_of_an_image_no_container_uses():
    adapter = _crictl_with([_cri_container("running", image="sha256:" + "3" * 64)])
    plan = adapter.plan_rmi(_image())
    assert "containers that use it" not in plan.what


@pytest.mark.parametrize(
    "text",
    [
        "version = 3\nplugins = 5\n",
        "version = 3\n[plugins]\n'io.containerd.cri.v1.images' = 'x'\n",
        "version = 3\n[plugins.'io.containerd.cri.v1.images']\npinned_images = 'x'\n",
        "version = 3\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\nsandbox = 5\n",
    ],
)
def test_sandbox_image_from_a_containerd_config_of_the_wrong_shape(monkeypatch, text):
    from ctrtool.doctor import procs
    from ctrtool.doctor.checks import sandbox_image

    daemon = procs.Daemon(1, ["containerd"], "/etc/containerd/config.toml", text, procs.parse_config(text))
    monkeypatch.setattr(procs, "serving", lambda address: daemon)
    probe = SimpleNamespace(
        cri_info=lambda: {},
        settings=SimpleNamespace(endpoint=lambda name: SimpleNamespace(address="/run/x.sock")),
        sandbox_image=lambda: None,
    )
    assert sandbox_image.configured(probe) == (None, None)


@needs_root
@pytest.mark.lab
def test_on_the_lab_another_users_containerd_claiming_its_socket_is_not_blamed(lab_env, nobody_dir):
    """The issue's probe: nobody's "containerd" whose config claims the lab's socket (and disables
    the CRI, as a string); doctor must name the lab's containerd, or none, never nobody's."""
    socket = lab_env["CONTAINERD_ADDRESS"]
    config = os.path.join(nobody_dir, "config.toml")
    with open(config, "w") as fh:
        fh.write(f'version = 2\ndisabled_plugins = "io.containerd.grpc.v1.cri"\n[grpc]\naddress = "{socket}"\n')
    os.chown(config, 65534, 65534)
    fifo = os.path.join(nobody_dir, "fifo")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    claimer = start_as_nobody(nobody_dir, "containerd", "--config", config)
    other = os.path.join(nobody_dir, "other")
    os.mkdir(other)
    os.chmod(other, 0o755)
    hanger = start_as_nobody(other, "containerd", "--config", fifo)
    try:
        got = in_child(
            "from ctrtool.doctor import procs\n"
            f"d = procs.serving({socket!r})\n"
            f"print(d.pid if d else None, procs.peer({socket!r})[0])\n"
        )
        assert got.returncode == 0, got.stderr
        found, listening = got.stdout.split()
        assert found == listening != str(claimer.pid)
        proc = run_ctrtool("-t", "3", "doctor", "--check", "cri_plugin", "-o", "json", env=lab_env, timeout=60)
        assert "Traceback" not in proc.stderr.decode()
        assert str(claimer.pid) not in proc.stdout.decode() and config not in proc.stdout.decode()
    finally:
        stop(claimer)
        stop(hanger)


@pytest.mark.lab
def test_on_the_lab_a_cri_container_named_with_an_escape_sequence(lab_env, native):
    """The issue's probe: a CRI container named ``esc\\e]0;owned\\a`` (a terminal title sequence).
    `ps` shows it escaped, JSON keeps it (escaped by JSON's rules), and `rmi -b crictl` of its
    image, which it runs from, is refused and names it, escaped."""
    import json

    name = "esc\x1b]0;owned\x07"
    pod_id = native.pod("h22-escapes")
    native.cri_container(pod_id, "h22-escapes", name)
    table = run_ctrtool("ps", "-a", "-b", "crictl", env=lab_env, timeout=60)
    assert table.returncode == 0, table.stderr
    shown = table.stdout.decode()
    assert "\x1b" not in shown and "\x07" not in shown
    assert "esc\\x1b]0;owned\\x07" in shown
    as_json = run_ctrtool("ps", "-a", "-b", "crictl", "-o", "json", env=lab_env, timeout=60)
    assert name in [c["name"] for c in json.loads(as_json.stdout)]
    assert b"\x1b" not in as_json.stdout  # JSON's own escape: \u001b
    refused = run_ctrtool("rmi", "--dry-run", "-b", "crictl", "localhost/ctrtool/demo:1.0", env=lab_env, timeout=60)
    line = assert_one_error(refused, 1)
    assert "used by running CRI container(s) esc\\x1b]0;owned\\x07" in line
    assert refused.stdout == b""  # not even the command: nothing would be removed


def test_read_regular_refuses_a_fifo_at_once_and_bounds_size(tmp_path, fifo):
    import errno

    started = time.monotonic()
    with pytest.raises(OSError) as info:
        safeio.read_regular(str(fifo), 100)
    assert info.value.errno == errno.EINVAL and time.monotonic() - started < 1
    big = tmp_path / "blob"
    big.write_bytes(b"{}" * 100)
    with pytest.raises(OSError) as info:
        safeio.read_regular(str(big), 100)
    assert info.value.errno == errno.EFBIG
    assert safeio.read_regular(str(big), 200) == b"{}" * 100


def test_a_content_store_blob_that_is_a_fifo_or_too_deep_is_not_readable(tmp_path):
    from ctrtool.adapters.ctr import BlobReader

    blobs = tmp_path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    os.mkfifo(blobs / ("a" * 64))
    (blobs / ("b" * 64)).write_bytes(b"[" * 100000 + b"]" * 100000)
    reader = BlobReader(str(tmp_path))
    started = time.monotonic()
    assert reader.manifest("sha256:" + "a" * 64) is None
    assert reader.manifest("sha256:" + "b" * 64) is None
    assert time.monotonic() - started < 2
