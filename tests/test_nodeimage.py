"""ctrtool's node image (ctrtool/fleet/nodeimage.py), built for real from this Python; no daemon needed.
Running it is in test_nodeimage_lab.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile

import pytest

import ctrtool
from ctrtool.fleet import nodeimage
from ctrtool.fleet.nodeimage import NodeImageError

BUSYBOX = "/bin/busybox"
PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the node image tests need {why}", pytrace=False)
    pytest.skip(f"needs {why}")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> nodeimage.NodeImage:
    _need(os.access(BUSYBOX, os.X_OK), "the static busybox (busybox-static)")
    _need(shutil.which("ldd") is not None, "ldd (glibc)")
    return nodeimage.build(tmp_path_factory.mktemp("node") / "node.tar")


def _archive(path) -> tuple[dict, dict, list[dict[str, tuple[tarfile.TarInfo, bytes | None]]]]:
    """(manifest, config, one {name: (info, data)} per layer) of a docker-archive."""
    with tarfile.open(path) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = json.loads(outer.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]
        layers = []
        for name in manifest["Layers"]:
            members: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
            with tarfile.open(fileobj=io.BytesIO(outer.extractfile(name).read())) as layer:  # type: ignore[union-attr]
                for info in layer.getmembers():
                    data = layer.extractfile(info).read() if info.isfile() else None  # type: ignore[union-attr]
                    members[info.name] = (info, data)
            layers.append(members)
    return manifest, config, layers


@pytest.fixture(scope="module")
def archive(built):
    return _archive(built.path)


@pytest.fixture(scope="module")
def files(archive) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    merged: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    for layer in archive[2]:
        merged.update(layer)
    return merged


# -- pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rel, keep",
    [
        ("os.py", True),
        ("json/__init__.py", True),
        ("encodings/utf_8.py", True),
        ("test/test_os.py", False),
        ("idlelib/idle.py", False),
        ("tkinter/__init__.py", False),
        ("turtle.py", False),
        ("turtledemo/__main__.py", False),
        ("ensurepip/__init__.py", False),
        ("lib2to3/main.py", False),
        ("pydoc_data/topics.py", False),
        ("distutils/core.py", False),
        ("venv/__init__.py", False),
        ("site-packages/pip/__init__.py", False),
        ("config-3.11-x86_64-linux-gnu/Makefile", False),
        ("ctypes/test/test_loading.py", False),
        ("unittest/test/test_case.py", False),
        ("__pycache__/os.cpython-311.pyc", False),  # compiled afresh, not copied
        ("lib-dynload/_json.cpython-311-x86_64-linux-gnu.so", True),
        ("lib-dynload/_tkinter.cpython-311-x86_64-linux-gnu.so", False),
        ("lib-dynload/_testcapi.cpython-311-x86_64-linux-gnu.so", False),
        ("lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", False),
        ("lib-dynload/xxlimited.cpython-311-x86_64-linux-gnu.so", False),
        ("README.txt", False),
    ],
)
def test_stdlib_trimming(rel, keep):
    assert nodeimage.stdlib_keep(rel) is keep


@pytest.mark.parametrize(
    "requirement, name, marker",
    [
        ("typer<0.29,>=0.26", "typer", None),
        ("markdown-it-py (>=2.2.0)", "markdown-it-py", None),
        ('ipywidgets (>=7.5.1,<9) ; extra == "jupyter"', "ipywidgets", 'extra == "jupyter"'),
        ('colorama; platform_system == "Windows"', "colorama", 'platform_system == "Windows"'),
        ("typing_extensions>=4", "typing-extensions", None),
        ("PyYAML", "pyyaml", None),
    ],
)
def test_parse_requirement(requirement, name, marker):
    assert nodeimage.parse_requirement(requirement) == (name, marker)


def test_dependency_closure_is_ctrtools_runtime_requirements():
    names = {nodeimage.normalise(d.metadata["Name"]) for d in nodeimage.dependency_closure("ctrtool")}
    # direct (pyproject's dependencies) and what they need in turn
    assert {"typer", "rich", "pexpect", "pyyaml", "markdown-it-py", "mdurl", "pygments", "ptyprocess"} <= names
    assert "shellingham" in names  # typer's
    # extras ("test") and conditional dependencies that do not hold here are left out
    assert not names & {"pytest", "hypothesis", "ruff", "mypy", "types-pyyaml", "colorama", "ipywidgets"}
    assert "ctrtool" not in names


def test_distribution_files_come_from_the_record():
    import importlib.metadata as md

    dist = md.distribution("rich")
    rels = {rel for _, rel in nodeimage.distribution_files(dist)}
    assert "rich/__init__.py" in rels
    assert f"rich-{dist.version}.dist-info/RECORD" in rels
    assert f"rich-{dist.version}.dist-info/METADATA" in rels
    assert not [r for r in rels if r.startswith("..") or r.endswith(".pyc") or "__pycache__" in r]


def test_package_files_are_ctrtools_sources():
    rels = {rel for _, rel in nodeimage.package_files(os.path.dirname(ctrtool.__file__))}
    assert {"ctrtool/__init__.py", "ctrtool/fleet/onnode.py", "ctrtool/fleet/nodeimage.py"} <= rels
    assert "ctrtool/py.typed" in rels
    assert not [r for r in rels if "__pycache__" in r or r.endswith(".pyc")]


def test_elf_interpreter_and_static_busybox(tmp_path):
    _need(os.access(BUSYBOX, os.X_OK), "the static busybox (busybox-static)")
    assert nodeimage.elf_interpreter(BUSYBOX) is None
    assert nodeimage.check_busybox(BUSYBOX) == BUSYBOX
    loader = nodeimage.elf_interpreter(os.path.realpath(sys.executable))
    assert loader and os.path.exists(loader)
    with pytest.raises(NodeImageError, match="dynamically linked"):
        nodeimage.check_busybox(os.path.realpath(sys.executable))
    script = tmp_path / "not-elf"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    with pytest.raises(NodeImageError, match="not an ELF binary"):
        nodeimage.check_busybox(str(script))
    with pytest.raises(NodeImageError, match="busybox not found"):
        nodeimage.check_busybox(str(tmp_path / "missing"))


def test_parse_ldd_on_this_python():
    _need(shutil.which("ldd") is not None, "ldd (glibc)")
    exe = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    out = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs, loader, missing = nodeimage.parse_ldd(out)
    assert missing == []
    assert "libc.so.6" in libs and os.path.exists(libs["libc.so.6"])
    assert loader is not None and os.path.realpath(loader) == os.path.realpath(nodeimage.elf_interpreter(exe) or "")
    assert not [n for n in libs if "vdso" in n]


# -- the image ----------------------------------------------------------------------------------


def test_nodeimage_fields(built, archive):
    manifest, config, layers = archive
    assert built.ref == nodeimage.NODE_IMAGE == f"localhost/ctrtool-node:{ctrtool.__version__}"
    assert manifest["RepoTags"] == [built.ref]
    with tarfile.open(built.path) as outer:
        config_bytes = outer.extractfile(manifest["Config"]).read()  # type: ignore[union-attr]
    assert built.image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert built.layers == len(layers) == 3
    assert built.archive_bytes == built.path.stat().st_size
    assert 0 < built.gzip_bytes < built.archive_bytes
    assert built.files == sum(1 for layer in layers for info, _ in layer.values() if info.isfile())
    assert built.python == platform.python_version()
    assert built.loader == os.path.basename(nodeimage.elf_interpreter(os.path.realpath(sys.executable)) or "")
    assert "libc.so.6" in built.libraries
    assert any(d.startswith("typer ") for d in built.distributions)
    assert [p.name for p in built.path.parent.iterdir()] == ["node.tar"]  # written atomically, no tmp left


def test_config(archive):
    _, config, _ = archive
    assert config["config"]["Entrypoint"] == ["/opt/ctrtool/bin/ctrtool-node"]
    assert "Cmd" not in config["config"]
    assert any(e.startswith("PATH=") and "/usr/local/bin" in e for e in config["config"]["Env"])
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == ctrtool.__version__
    assert labels["io.ctrtool.python"] == platform.python_version()
    assert config["os"] == "linux" and config["architecture"]


def test_layout_has_nothing_outside_it(files):
    base_dirs = {"bin", "dev", "etc", "proc", "root", "sys", "tmp", "var", "opt"}
    outside = [
        name
        for name in files
        if name not in base_dirs and name != "bin/busybox" and not (name + "/").startswith("opt/ctrtool/")
    ]
    assert outside == []
    top = {name.split("/")[2] for name in files if name.startswith("opt/ctrtool/") and name.count("/") >= 2}
    assert top == {"bin", "lib", sys.platlibdir, "site"}
    assert {n for n in files if n.startswith("opt/ctrtool/bin/")} == {
        "opt/ctrtool/bin/python3",
        "opt/ctrtool/bin/ctrtool-node",
    }


def test_python_and_its_loader_are_inside(built, files):
    python = files["opt/ctrtool/bin/python3"]
    assert python[0].mode & 0o111 and python[1] is not None and python[1][:4] == b"\x7fELF"
    loader = files[f"opt/ctrtool/lib/{built.loader}"]
    assert loader[0].mode & 0o111 and loader[1] is not None and loader[1][:4] == b"\x7fELF"
    for soname in built.libraries:
        assert files[f"opt/ctrtool/lib/{soname}"][1][:4] == b"\x7fELF"  # type: ignore[index]
    busybox = files["bin/busybox"]
    assert busybox[1] == open(BUSYBOX, "rb").read()
    assert not [n for n in files if n.startswith("bin/") and n != "bin/busybox"]  # no applet links


def test_stdlib_is_trimmed_and_compiled(files):
    lib = f"opt/ctrtool/{sys.platlibdir}/{PY}/"
    for kept in ("os.py", "json/__init__.py", "subprocess.py", "encodings/utf_8.py", "lib-dynload"):
        assert lib + kept in files
    for dropped in ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "venv"):
        assert lib + dropped not in files
    assert not [n for n in files if n.startswith(lib) and ("/test/" in n or "/tests/" in n)]
    pyc = lib + f"__pycache__/os.{sys.implementation.cache_tag}.pyc"
    data = files[pyc][1]
    assert data is not None and int.from_bytes(data[4:8], "little") == 0b01  # hash-based, unchecked
    assert not [n for n in files if n.endswith(".opt-1.pyc") or n.endswith(".opt-2.pyc")]


def test_site_holds_ctrtool_and_its_dependencies(files):
    site = "opt/ctrtool/site/"
    for module in ("ctrtool/__init__.py", "ctrtool/fleet/onnode.py", "typer/__init__.py", "rich/__init__.py"):
        assert site + module in files
        assert site + module.replace(".py", "").rsplit("/", 1)[0] + "/__pycache__" in files
    for module in ("pexpect/__init__.py", "yaml/__init__.py", "ptyprocess/__init__.py", "pygments/__init__.py"):
        assert site + module in files
    assert [n for n in files if n.startswith(site + "rich-") and n.endswith(".dist-info/RECORD")]
    assert not [n for n in files if n.startswith(site) and ("pytest" in n or "hypothesis" in n)]


def test_entry_script(built, files):
    info, data = files["opt/ctrtool/bin/ctrtool-node"]
    assert info.mode == 0o755 and data is not None
    text = data.decode()
    assert text.startswith("#!/bin/busybox sh\n")
    assert "r=/proc/$$/root/opt/ctrtool" in text
    assert "host=${CTRTOOL_HOST_ROOT:-/host}" in text
    assert f'"$r/lib/{built.loader}" --library-path "$r/lib" "$r/bin/python3" -s -m ctrtool.fleet.onnode "$@"' in text
    assert "\nexec " not in text and " exec " not in text  # the shell stays: /proc/$$/root is the image
    assert text.rstrip().endswith("exit $?")
    check = subprocess.run([BUSYBOX, "sh", "-n", "-c", text], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_two_builds_are_byte_identical(built, tmp_path):
    again = nodeimage.build(tmp_path / "again.tar")
    assert again.image_id == built.image_id
    assert again.path.read_bytes() == built.path.read_bytes()
