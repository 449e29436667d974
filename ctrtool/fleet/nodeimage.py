"""Build ctrtool's node image: ctrtool plus its own Python, for nodes with no registry and no Python.

``ctrtool nodes ...`` runs one privileged pod per node (hostPID, the host's ``/`` at ``/host``,
``imagePullPolicy: Never``) from this image. Its layout (three layers):

1. ``/bin/busybox`` (the host's static busybox; no applet links) and the usual empty top directories;
2. ``/opt/ctrtool/``: a Python runtime copied from the Python running the build: ``bin/python3``,
   the dynamic loader and every shared library the interpreter and its extension modules need
   (``lib/``), and the standard library trimmed of what ctrtool never uses (``lib/python3.X/``, with
   ``lib-dynload/``; ``lib64/python3.X`` for a Python whose ``sys.platlibdir`` is lib64);
3. ``/opt/ctrtool/site/``: the ctrtool package and its runtime dependencies (read from ctrtool's
   ``Requires-Dist``, recursively, extras left out), and ``/opt/ctrtool/bin/ctrtool-node``, the
   entrypoint.

The entrypoint (a busybox sh script) chroots into the host's root and runs the image's loader on
the image's interpreter there, reaching the image's files through ``/proc/<the shell's pid>/root``:
Python from the image runs in the host's root, so the host's ctr, crictl, docker, their sockets
and ``/var/lib/containerd`` are where ctrtool expects them, and the host's own libc and Python (if
any) never matter.

Every ``.py`` file ships with a ``.pyc`` compiled here with unchecked-hash invalidation (the image
is read-only, so checking sources would only cost time); tar entries are reproducible as in
:mod:`ctrtool.imagebuild`.
"""

from __future__ import annotations

import os
import pathlib
import re
import stat
import sys
import time
from dataclasses import dataclass, field

from .. import __version__
from ..errors import CtrtoolError
from ..imagebuild import (
    BuiltImage,
    busybox_layer,
    docker_archive,
    image_config,
    layer_tar,
    platform_arch,
    sha256_digest,
)

NODE_IMAGE = "localhost/ctrtool-node:" + __version__
PREFIX = "opt/ctrtool"  # in the image, without the leading slash (tar member names)
ENTRYPOINT = "/" + PREFIX + "/bin/ctrtool-node"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Top-level standard library entries ctrtool never uses (and the libraries' tests): left out.
STDLIB_DROP = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtle.py",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "distutils",
        "venv",
        "sqlite3",
        "dbm",
        "curses",
        "msilib",
        "site-packages",
        "dist-packages",
        "__phello__",
        "EXTERNALLY-MANAGED",
    }
)
# Anywhere below the standard library: test packages of packages (ctypes/test, unittest/test, ...)
STDLIB_DROP_DIRS = frozenset({"test", "tests", "idle_test", "__pycache__"})
# Extension modules in lib-dynload ctrtool never loads; most would pull big libraries in
# (_ssl and _hashlib libcrypto/libssl, _tkinter Tcl/Tk and X11, readline and _curses ncurses).
# hashlib falls back to its built-in _sha256/_md5/... modules without _hashlib.
DYNLOAD_DROP = frozenset(
    {
        "_tkinter",
        "_ssl",
        "_hashlib",
        "_sqlite3",
        "_dbm",
        "_gdbm",
        "_curses",
        "_curses_panel",
        "readline",
        "_crypt",
        "nis",
        "spwd",
        "ossaudiodev",
        "audioop",
        "_lsprof",
        "_ctypes_test",
        "_xxsubinterpreters",
        "_xxtestfuzz",
        "_xxinterpchannels",
        "xxlimited",
        "xxlimited_35",
        "xxsubtype",
    }
)
DYNLOAD_DROP_PREFIXES = ("_test", "xx")

ENTRY_SCRIPT = """\
#!/bin/busybox sh
# ctrtool-node: the entrypoint of ctrtool's node image. Runs `python -m ctrtool.fleet.onnode ARGS`
# with this image's own Python, but chrooted into the host's root (mounted at $CTRTOOL_HOST_ROOT,
# default /host): the host's ctr, crictl, docker, their sockets and /var/lib/containerd are then
# where ctrtool expects them, and neither the host's libc nor its Python (if it has one) is used.
#
# After the chroot, this image's files are reached through /proc/$$/root: the root of this shell,
# seen in the host's /proc. That needs the host's PID namespace (hostPID: true), and this shell must
# stay alive while Python runs (no exec), or that path would be gone; the `exit $?` after the last
# command also keeps a shell from exec'ing that command in its place. Exit status: Python's.
r=/proc/$$/root/{prefix}
host=${{CTRTOOL_HOST_ROOT:-/host}}
if [ ! -x "$host/proc/$$/root/{prefix}/bin/python3" ]; then
  echo "ctrtool-node: $host/proc/$$/root/{prefix} not found: the pod needs hostPID: true and the host's / mounted at $host (CTRTOOL_HOST_ROOT)" >&2
  exit 125
fi
PATH={host_path}
export PATH
PYTHONHOME=$r PYTHONPATH=$r/site PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUTF8=1 \\
  /bin/busybox chroot "$host" "$r/lib/{loader}" --library-path "$r/lib" "$r/bin/python3" -s -m ctrtool.fleet.onnode "$@"
exit $?
"""


class NodeImageError(CtrtoolError):
    """The node image cannot be built here (something it needs is missing)."""

    default_hint = "build the node image on a Linux machine with a glibc Python, ldd and the static busybox"


@dataclass(frozen=True)
class NodeImage:
    """One node image written as a docker-archive tar (``docker load`` / ``ctr images import``)."""

    ref: str
    path: pathlib.Path
    image_id: str  # sha256 of the config JSON
    layers: int
    archive_bytes: int  # the tar as written (uncompressed)
    gzip_bytes: int  # the same tar gzip-compressed (level 6): about what a registry would move
    files: int  # regular files in the image
    python: str  # the Python version it carries, e.g. "3.11.7"
    loader: str  # the dynamic loader's name in /opt/ctrtool/lib
    libraries: list[str] = field(default_factory=list)  # shared libraries in /opt/ctrtool/lib
    distributions: list[str] = field(default_factory=list)  # "name version" of every dependency shipped
    stripped: bool = False  # ELF files shipped without debug sections (`strip` was there)
    diff_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0  # build time

    def built_image(self) -> BuiltImage:
        return BuiltImage(self.ref, self.path, self.image_id, list(self.diff_ids))


# -- ELF: is it static, which loader ------------------------------------------------------------


def elf_interpreter(path: str | os.PathLike) -> str | None:
    """The program interpreter (PT_INTERP: the dynamic loader) of an ELF file, or None for a static
    one. Raises NodeImageError when the file is not ELF."""
    import struct

    with open(path, "rb") as f:
        ident = f.read(64)
        if len(ident) < 52 or ident[:4] != b"\x7fELF":
            raise NodeImageError(f"{path} is not an ELF binary", "")
        is64, endian = ident[4] == 2, "<" if ident[5] == 1 else ">"
        if is64:
            phoff, phentsize, phnum = (
                struct.unpack(endian + "Q", ident[32:40])[0],
                *struct.unpack(endian + "HH", ident[54:58]),
            )
        else:
            phoff, phentsize, phnum = (
                struct.unpack(endian + "I", ident[28:32])[0],
                *struct.unpack(endian + "HH", ident[42:46]),
            )
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            ph = f.read(phentsize)
            if struct.unpack(endian + "I", ph[:4])[0] != 3:  # PT_INTERP
                continue
            if is64:
                offset, size = struct.unpack(endian + "Q", ph[8:16])[0], struct.unpack(endian + "Q", ph[32:40])[0]
            else:
                offset, size = struct.unpack(endian + "I", ph[4:8])[0], struct.unpack(endian + "I", ph[16:20])[0]
            f.seek(offset)
            return f.read(size).rstrip(b"\0").decode()
    return None


def check_busybox(busybox: str | None = None) -> str:
    """The static busybox to ship, or NodeImageError naming what is wrong."""
    from ..hostbin import find_binary

    found = busybox or find_binary("busybox")
    if not found or not os.access(found, os.X_OK):
        raise NodeImageError("busybox not found", "install busybox-static (apt-get install busybox-static)")
    interp = elf_interpreter(found)
    if interp is not None:
        raise NodeImageError(
            f"{found} is dynamically linked (loader {interp}); the node image needs a static busybox",
            "install busybox-static (apt-get install busybox-static), whose /bin/busybox is static",
        )
    return found


# -- the Python runtime -------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    version: str  # "3.11.7"
    short: str  # "python3.11"
    platlibdir: str  # "lib" ("lib64" on Fedora): Python looks for PYTHONHOME/<this>/python3.X
    executable: str  # realpath of the base interpreter
    stdlib: str  # the standard library directory
    dynload: str | None  # its lib-dynload directory (None when every module is built in)


def python_runtime() -> Runtime:
    """The Python running this build, as it will be copied (its base, never a virtualenv)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    executable = os.path.realpath(base)
    if not os.path.isfile(executable):
        raise NodeImageError(f"cannot find the Python interpreter ({base})", "run the build with a real Python")
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    short = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    dynload = os.path.join(stdlib, "lib-dynload")
    if not os.path.isdir(dynload):
        candidates = [p for p in sys.path if os.path.basename(p) == "lib-dynload" and os.path.isdir(p)]
        dynload = candidates[0] if candidates else ""
    platlibdir = getattr(sys, "platlibdir", "lib")
    return Runtime(sys.version.split()[0], short, platlibdir, executable, stdlib, dynload or None)


def stdlib_keep(relpath: str) -> bool:
    """Whether a file of the standard library (path relative to it, "/"-separated) goes into the image."""
    parts = relpath.split("/")
    if parts[0] in STDLIB_DROP or parts[0].startswith("config-"):
        return False
    if any(p in STDLIB_DROP_DIRS for p in parts[:-1]):
        return False
    if parts[0] == "lib-dynload":
        return len(parts) == 2 and dynload_keep(parts[1])
    return relpath.endswith(".py") or parts[-1] in ("LICENSE.txt",)


def dynload_keep(filename: str) -> bool:
    """Whether an extension module of lib-dynload goes into the image."""
    if not filename.endswith(".so"):
        return False
    module = filename.split(".", 1)[0]
    return module not in DYNLOAD_DROP and not module.startswith(DYNLOAD_DROP_PREFIXES)


def stdlib_files(runtime: Runtime) -> list[tuple[str, str]]:
    """(source path, path relative to lib/python3.X in the image) for every standard library file kept."""
    out: list[tuple[str, str]] = []
    root = runtime.stdlib
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        dirnames[:] = sorted(d for d in dirnames if stdlib_keep(rel_dir + d + "/x.py") or d == "lib-dynload")
        for name in sorted(filenames):
            if stdlib_keep(rel_dir + name):
                out.append((os.path.join(dirpath, name), rel_dir + name))
    if runtime.dynload and os.path.realpath(runtime.dynload) != os.path.join(os.path.realpath(root), "lib-dynload"):
        for name in sorted(os.listdir(runtime.dynload)):  # a lib-dynload elsewhere (some distributions)
            if dynload_keep(name):
                out.append((os.path.join(runtime.dynload, name), "lib-dynload/" + name))
    return out


_LDD_LINE = re.compile(r"^\s*(\S+)(?:\s+=>\s+(\S+|not found))?(?:\s+\(0x[0-9a-fA-F]+\))?\s*$")


def parse_ldd(text: str) -> tuple[dict[str, str], str | None, list[str]]:
    """``ldd`` output for one or more files: (soname -> path, the loader's path, missing sonames).
    The vDSO (no file) is left out."""
    libs: dict[str, str] = {}
    loader: str | None = None
    missing: list[str] = []
    for line in text.splitlines():
        if not line.startswith(("\t", " ")):
            continue  # "file:" headers, "not a dynamic executable"
        m = _LDD_LINE.match(line)
        if not m:
            continue
        name, target = m.group(1), m.group(2)
        if target == "not found":
            missing.append(name)
        elif target:
            libs.setdefault(name, target)
        elif name.startswith("/"):
            loader = name
    return libs, loader, missing


def shared_libraries(binaries: list[str]) -> tuple[dict[str, str], str]:
    """Every shared library the binaries need (soname -> host path) and the loader's host path,
    from ``ldd``."""
    from .. import runner
    from ..errors import ToolError
    from ..hostbin import find_binary

    ldd = find_binary("ldd")
    if not ldd:
        raise NodeImageError("ldd not found: it finds the libraries Python needs", "install libc-bin (glibc's ldd)")
    try:
        result = runner.run([ldd, *binaries], timeout=60, check=False)
    except ToolError as exc:
        raise NodeImageError(f"ldd failed: {exc.message}", "") from None
    libs, loader, missing = parse_ldd(result.stdout)
    if missing:
        raise NodeImageError(
            f"ldd: shared libraries not found: {', '.join(sorted(set(missing)))}",
            "the build's Python or one of its extension modules cannot load here; install those libraries",
        )
    interp = elf_interpreter(binaries[0])
    loader = interp or loader
    if not loader:
        raise NodeImageError(
            f"{binaries[0]} has no dynamic loader (is it static?)",
            "build with a dynamically linked glibc Python (Debian's python3, pyenv, python.org builds)",
        )
    libs.pop(os.path.basename(loader), None)
    return libs, loader


# -- ctrtool and its dependencies ---------------------------------------------------------------

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def parse_requirement(requirement: str) -> tuple[str, str | None]:
    """A Requires-Dist value -> (normalised name, environment marker or None)."""
    spec, _, marker = requirement.partition(";")
    m = _REQ_NAME.match(spec)
    if not m:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalise(m.group(1)), (marker.strip() or None)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _marker_applies(marker: str) -> bool:
    """Whether an environment marker holds here; extras never do. Without the ``packaging`` library
    a marker is taken to hold (the dependency is shipped when it is installed)."""
    if re.search(r"\bextra\b", marker):
        return False
    try:
        from packaging.markers import Marker  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return True
    try:
        return bool(Marker(marker).evaluate())
    except Exception:
        return True


def dependency_closure(root: str = "ctrtool") -> list:
    """The installed distributions ``root`` needs at run time (its Requires-Dist, recursively,
    extras left out), sorted by name; ``root`` itself is not among them."""
    import importlib.metadata as md

    try:
        requires = md.requires(root) or []
    except md.PackageNotFoundError:
        raise NodeImageError(
            f"{root} is not installed: its dependencies cannot be read",
            "install it (pip install -e .) in the Python that builds the image",
        ) from None
    found: dict[str, md.Distribution] = {}
    todo = [(r, root) for r in requires]
    while todo:
        requirement, wanted_by = todo.pop()
        name, marker = parse_requirement(requirement)
        if name in found or name == normalise(root):
            continue
        if marker is not None and not _marker_applies(marker):
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            if marker is not None:
                continue  # a conditional dependency that is not installed: its condition does not hold
            raise NodeImageError(
                f"{name} (needed by {wanted_by}) is not installed", f"pip install {name} in the build's Python"
            ) from None
        found[name] = dist
        todo.extend((r, name) for r in dist.requires or [])
    return [found[k] for k in sorted(found)]


def distribution_files(dist) -> list[tuple[str, str]]:
    """(source path, path relative to site/) of one distribution's files (its RECORD), its
    .dist-info included; compiled files and anything outside its site directory left out."""
    site = os.path.realpath(str(dist.locate_file("")))
    out: list[tuple[str, str]] = []
    if not dist.files:
        raise NodeImageError(
            f"{dist.metadata['Name']} lists no files (no RECORD)", "reinstall it with pip in the build's Python"
        )
    for f in dist.files:
        src = os.path.realpath(str(dist.locate_file(f)))
        rel = os.path.relpath(src, site)
        if rel.startswith("..") or "__pycache__" in rel.split(os.sep) or rel.endswith((".pyc", ".pyo")):
            continue
        if os.path.isfile(src):
            out.append((src, rel.replace(os.sep, "/")))
    return out


def package_files(package_dir: str, name: str = "ctrtool") -> list[tuple[str, str]]:
    """(source path, path relative to site/) of a package directory's files, __pycache__ left out."""
    out: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel_dir = os.path.relpath(dirpath, package_dir)
        for fname in sorted(filenames):
            if fname.endswith((".pyc", ".pyo")):
                continue
            rel = os.path.normpath(os.path.join(name, rel_dir, fname))
            out.append((os.path.join(dirpath, fname), rel.replace(os.sep, "/")))
    return out


# -- layers -------------------------------------------------------------------------------------


# Run in a fresh interpreter (`python -I -c`): marshal's output depends on reference counts, so
# code compiled in a process that has done other work first differs from build to build; a fresh
# process compiling the same files in the same order writes the same bytes.
_COMPILER = """\
import importlib.util, json, sys
from importlib import _bootstrap_external as be
jobs = json.load(open(sys.argv[1]))
for i, (src, name) in enumerate(jobs):
    data = open(src, "rb").read()
    try:
        code = compile(data, name, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        continue
    with open(f"{sys.argv[2]}/{i}.pyc", "wb") as f:
        f.write(be._code_to_hash_pyc(code, importlib.util.source_hash(data), False))
"""


def compile_pycs(jobs: list[tuple[str, str]]) -> list[bytes | None]:
    """The .pyc of each (source file, name in tracebacks), compiled by this Python with
    unchecked-hash invalidation (what ``py_compile`` writes for ``PycInvalidationMode.UNCHECKED_HASH``:
    valid whatever the files' mtimes; the image is read-only, so checking sources would only cost
    time), or None for a file that does not compile (left to Python to report if it is imported)."""
    import json
    import tempfile

    from .. import runner
    from ..errors import ToolError

    if not jobs:
        return []
    with tempfile.TemporaryDirectory(prefix="ctrtool-pyc-") as work:
        listing = os.path.join(work, "jobs.json")
        with open(listing, "w") as f:
            json.dump(jobs, f)
        try:
            runner.run([sys.executable, "-I", "-c", _COMPILER, listing, work], timeout=600)
        except ToolError as exc:
            raise NodeImageError(f"compiling the image's Python files failed: {exc.message}", "") from None
        out: list[bytes | None] = []
        for i in range(len(jobs)):
            try:
                out.append(pathlib.Path(work, f"{i}.pyc").read_bytes())
            except FileNotFoundError:
                out.append(None)
    return out


def _pyc_path(rel: str) -> str:
    import importlib.util

    return importlib.util.cache_from_source(rel)


class _Layer:
    """Entries of one layer: files with their parent directories."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, object]] = {}
        self.files = 0
        self.file_bytes = 0
        self.sources: list[tuple[str, str]] = []  # (host file, path) of .py files to compile

    def _dirs(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.entries.setdefault("/".join(parts[:i]), ("dir", 0o755))

    def add(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._dirs(path)
        if path not in self.entries:
            self.files += 1
            self.file_bytes += len(data)
        self.entries[path] = ("file", (mode, data))

    def copy(self, src: str, path: str, pyc: bool = True) -> None:
        """Add a host file; a .py one also gets its .pyc (see :meth:`compile`)."""
        st = os.stat(src)
        mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
        self.add(path, pathlib.Path(src).read_bytes(), mode)
        if pyc and path.endswith(".py"):
            self.sources.append((src, path))

    def compile(self) -> None:
        """Add the .pyc of every .py file copied (in __pycache__, as Python looks for it)."""
        for (_, path), pyc in zip(self.sources, compile_pycs([(src, "/" + path) for src, path in self.sources])):
            if pyc is not None:
                self.add(_pyc_path(path), pyc)
        self.sources = []

    def tar(self) -> bytes:
        self.compile()
        return layer_tar([(p, kind, payload) for p, (kind, payload) in self.entries.items()])


def strip_debug(paths: list[str], workdir: str) -> dict[str, str] | None:
    """Copies of ELF files without their debug sections (``strip --strip-debug``; a Python built
    with debug info carries ~4x its code in them): host path -> stripped copy in ``workdir``, or
    None when ``strip`` is not installed or fails (the files then ship as they are)."""
    import shutil

    from .. import runner
    from ..errors import ToolError
    from ..hostbin import find_binary

    tool = find_binary("strip")
    if not tool or not paths:
        return None
    copies: dict[str, str] = {}
    for i, path in enumerate(paths):
        copies[path] = os.path.join(workdir, f"{i}-{os.path.basename(path)}")
        shutil.copy(path, copies[path])  # with its mode
    try:
        result = runner.run([tool, "--strip-debug", *copies.values()], timeout=120, check=False)
    except ToolError:
        return None
    return copies if result.returncode == 0 else None


def _runtime_layer(runtime: Runtime, site_extensions: list[str]) -> tuple[bytes, _Layer, str, list[str], bool]:
    """Layer 2: /opt/ctrtool/bin/python3, lib/ (loader and libraries), lib/python3.X/. The libraries
    are those of the interpreter, of lib-dynload and of the extension modules in site/."""
    import tempfile

    layer = _Layer()
    files = stdlib_files(runtime)
    extensions = [src for src, rel in files if rel.startswith("lib-dynload/")]
    libs, loader = shared_libraries([runtime.executable, *extensions, *site_extensions])
    loader_name = os.path.basename(loader)
    elf = [runtime.executable, os.path.realpath(loader), *(os.path.realpath(p) for p in libs.values()), *extensions]
    with tempfile.TemporaryDirectory(prefix="ctrtool-nodeimage-") as work:
        stripped = strip_debug(elf, work)
        use = stripped or {}
        layer.copy(use.get(runtime.executable, runtime.executable), f"{PREFIX}/bin/python3", pyc=False)
        real_loader = os.path.realpath(loader)
        layer.copy(use.get(real_loader, real_loader), f"{PREFIX}/lib/{loader_name}", pyc=False)
        for soname, path in sorted(libs.items()):
            real = os.path.realpath(path)
            layer.add(f"{PREFIX}/lib/{soname}", pathlib.Path(use.get(real, real)).read_bytes(), 0o755)
        for src, rel in files:
            layer.copy(use.get(src, src), f"{PREFIX}/{runtime.platlibdir}/{runtime.short}/{rel}")
    return layer.tar(), layer, loader_name, sorted(libs), stripped is not None


def site_files() -> tuple[list[tuple[str, str]], list[str]]:
    """(source path, path relative to site/) of ctrtool (the package this module belongs to) and of
    every distribution it needs, and those distributions as "name version"."""
    import ctrtool

    files = package_files(os.path.dirname(os.path.realpath(ctrtool.__file__)))
    names: list[str] = []
    for dist in dependency_closure("ctrtool"):
        names.append(f"{dist.metadata['Name']} {dist.version}")
        files += distribution_files(dist)
    return files, names


def _site_layer(files: list[tuple[str, str]], loader_name: str) -> tuple[bytes, _Layer]:
    """Layer 3: /opt/ctrtool/site (ctrtool and its dependencies) and the entrypoint script."""
    layer = _Layer()
    for src, rel in files:
        layer.copy(src, f"{PREFIX}/site/{rel}")
    script = ENTRY_SCRIPT.format(prefix=PREFIX, loader=loader_name, host_path=HOST_PATH)
    layer.add(ENTRYPOINT.lstrip("/"), script.encode(), 0o755)
    return layer.tar(), layer


def _gzip_size(data: bytes) -> int:
    import zlib

    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    size = 0
    view = memoryview(data)
    for i in range(0, len(data), 1 << 20):
        size += len(comp.compress(view[i : i + (1 << 20)]))
    return size + len(comp.flush())


def build(
    out_path: str | os.PathLike, ref: str = NODE_IMAGE, busybox: str | None = None, arch: str | None = None
) -> NodeImage:
    """Build the node image and write it to ``out_path`` as a docker-archive tar (atomically)."""
    started = time.monotonic()
    busybox = check_busybox(busybox)
    runtime = python_runtime()
    base = busybox_layer(busybox, applets=[])
    site, dists = site_files()
    site_extensions = [src for src, rel in site if re.search(r"\.so(\.|$)", rel)]
    runtime_tar, runtime_layer, loader_name, libs, stripped = _runtime_layer(runtime, site_extensions)
    site_tar, site_layer = _site_layer(site, loader_name)
    layers = [base, runtime_tar, site_tar]
    diff_ids = [sha256_digest(layer) for layer in layers]
    config = image_config(
        diff_ids,
        [
            "ctrtool node image: /bin/busybox",
            f"ctrtool node image: Python {runtime.version} in /{PREFIX}",
            f"ctrtool node image: ctrtool {__version__} and its dependencies in /{PREFIX}/site",
        ],
        arch=arch or platform_arch(),
        entrypoint=[ENTRYPOINT],
        labels={
            "org.opencontainers.image.title": "ctrtool node image",
            "org.opencontainers.image.description": "ctrtool with its own Python, run on a node by `ctrtool nodes`",
            "org.opencontainers.image.version": __version__,
            "io.ctrtool.python": runtime.version,
        },
    )
    data, image_id = docker_archive(ref, config, layers)
    out = pathlib.Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return NodeImage(
        ref=ref,
        path=out,
        image_id=image_id,
        layers=len(layers),
        archive_bytes=len(data),
        gzip_bytes=_gzip_size(data),
        files=1 + runtime_layer.files + site_layer.files,
        python=runtime.version,
        loader=loader_name,
        libraries=libs,
        stripped=stripped,
        distributions=dists,
        diff_ids=diff_ids,
        seconds=round(time.monotonic() - started, 2),
    )
