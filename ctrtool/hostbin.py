"""Binaries on this host: where they are (PATH, the sbin directories, Go's bin directories) and which
Debian package ships each one. Used by the lab, the image builder and the node image; imports neither."""

from __future__ import annotations

import os
import pathlib
import shutil

from .errors import LabError

BUSYBOX = "/bin/busybox"
CNI_BIN_DIR = "/usr/lib/cni"

APT_INSTALL = "apt-get install -y containerd runc docker.io containernetworking-plugins busybox-static"
CRICTL_INSTALL = "go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0"

# binary -> Debian package that ships it
PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "busybox": "busybox-static",
    "umount": "mount",
}


def _go_bin_dirs() -> list[pathlib.Path]:
    """Where `go install` puts binaries, without running go: $GOBIN, each $GOPATH entry, ~/go/bin."""
    dirs: list[pathlib.Path] = []
    if os.environ.get("GOBIN"):
        dirs.append(pathlib.Path(os.environ["GOBIN"]))
    for entry in (os.environ.get("GOPATH") or "").split(os.pathsep):
        if entry:
            dirs.append(pathlib.Path(entry) / "bin")
    dirs.append(pathlib.Path(os.path.expanduser("~")) / "go" / "bin")
    dirs.append(pathlib.Path("/root/go/bin"))
    seen: list[pathlib.Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def find_crictl() -> str | None:
    """crictl on PATH, else in the Go bin directories ($GOBIN, $GOPATH/bin, ~/go/bin)."""
    found = shutil.which("crictl")
    if found:
        return found
    for d in _go_bin_dirs():
        candidate = d / "crictl"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_binary(name: str) -> str | None:
    """A binary on PATH, or in the sbin directories a non-login root shell may lack on PATH."""
    if name == "crictl":
        return find_crictl()
    if name == "busybox":
        if os.access(BUSYBOX, os.X_OK):
            return BUSYBOX
    found = shutil.which(name)
    if found:
        return found
    for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"):
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_binary_error(name: str) -> LabError:
    if name == "crictl":
        return LabError(
            "crictl not found (looked on PATH and in ~/go/bin)",
            f"install it with `{CRICTL_INSTALL}` (needs Go; lands in $(go env GOPATH)/bin)",
        )
    if name.startswith("cni:"):
        plugin = name[4:]
        return LabError(f"CNI plugin {plugin!r} not found in {CNI_BIN_DIR}", f"install it with `{APT_INSTALL}`")
    package = PACKAGES.get(name, name)
    return LabError(f"{name} not found (package {package})", f"install it with `{APT_INSTALL}`")
