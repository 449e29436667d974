"""Disk: the image filesystem's use against the kubelet's image garbage collection thresholds
(``imageGCHighThresholdPercent``, default 85, and ``imageGCLowThresholdPercent``, default 80, read
from the kubelet's config file when there is one); the bytes unpacked more than once across stores
(what `ctrtool df` counts as duplicated); the blob bytes in containerd's content store that no
image refers to any more."""

from __future__ import annotations

import os
import shlex
from typing import Any

from ...errors import CtrtoolError
from .. import Evidence, Fix, Options, Result, Skip, Status
from ..probe import Probe
from .common import bytes_words, error_evidence

NAME = "disk"
TITLE = "Disk: image filesystem use against the kubelet's image GC thresholds; duplicated and unreferenced bytes"

DEFAULT_HIGH = 85
DEFAULT_LOW = 80
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"


def kubelet_config_path(probe: Probe) -> tuple[str, str]:
    """The kubelet's config file and how it was found: CTRTOOL_KUBELET_CONFIG, the --config of the
    running kubelet that uses this CRI endpoint (several kubelets may run on one host), else the
    kubeadm default."""
    given = probe.settings.env.get("CTRTOOL_KUBELET_CONFIG")
    if given:
        return given, "env CTRTOOL_KUBELET_CONFIG"
    from ..procs import kubelet_for

    try:
        endpoint = probe.settings.endpoint("crictl").address
    except CtrtoolError:
        endpoint = None
    kubelet = kubelet_for(endpoint)
    if kubelet is not None and kubelet.config_file:
        return kubelet.config_file, f"--config of the kubelet (pid {kubelet.pid}) that uses {kubelet.endpoint}"
    return KUBELET_CONFIG, "kubeadm's default location"


def thresholds(probe: Probe) -> tuple[int, int, Evidence | None, str]:
    """The kubelet's image GC thresholds from its config file, read through safeio (a regular file
    of at most 1 MiB, UTF-8, YAML without aliases, bounded nesting); a file that cannot be used, or
    a value that is not a percentage, gives the defaults and says why in one line."""
    from ... import safeio
    from ...errors import ConfigError
    from ...output import one_line

    path, how = kubelet_config_path(probe)
    if not os.path.lexists(path):
        return DEFAULT_HIGH, DEFAULT_LOW, None, f"no kubelet config at {path} ({how}): the kubelet's defaults"
    try:
        text = safeio.read_text(path, safeio.KUBELET_CONFIG_LIMIT, "kubelet config")
        data = safeio.load_yaml(path, text, "kubelet config") or {}
    except ConfigError as exc:
        return DEFAULT_HIGH, DEFAULT_LOW, None, f"{one_line(exc.message)} ({how}): the kubelet's defaults"
    data = data if isinstance(data, dict) else {}
    values = {"imageGCHighThresholdPercent": DEFAULT_HIGH, "imageGCLowThresholdPercent": DEFAULT_LOW}
    lines, bad = [], []
    for key in values:
        if key not in data:
            continue
        number = safeio.number(data[key], 0, 100)
        shown = one_line(repr(data[key]))[:60]
        if number is None or number != data[key]:
            bad.append(f"{key} {shown} is not a whole percentage (0-100)")
            continue
        values[key] = number
        lines.append(f"{key}: {number}")
    ev = Evidence(path, "\n".join(lines) or "(no image GC thresholds: the defaults apply)", kind="file")
    where = f"kubelet config {path} ({how})" + (f"; {'; '.join(bad)}: the default instead" if bad else "")
    return values["imageGCHighThresholdPercent"], values["imageGCLowThresholdPercent"], ev, where


def usage(path: str) -> tuple[int, int, int]:
    """(capacity, available, percent used) of the filesystem holding ``path``, as the kubelet's image
    GC counts it: ``100 - int(available * 100 / capacity)``."""
    st = os.statvfs(path)
    capacity = st.f_blocks * st.f_frsize
    available = st.f_bavail * st.f_frsize
    used = 100 - int(available * 100 / capacity) if capacity else 0
    return capacity, available, used


def run(probe: Probe, options: Options) -> Result:
    try:
        root = probe.cri_imagefs()
    except CtrtoolError as exc:
        root = None
        cri_error: CtrtoolError | None = exc
    else:
        cri_error = None
    if not root:
        try:
            root = probe.docker_info().get("DockerRootDir")
        except CtrtoolError:
            root = None
    if not root:
        raise Skip(
            "no image filesystem found: the CRI did not report one and docker did not answer",
            [error_evidence(cri_error)] if cri_error else [],
        )
    evidence: list[Evidence] = []
    found = probe.evidence("imagefsinfo", "--output", "json", tool="crictl", excerpt=f"fsId.mountpoint: {root}")
    if found:
        evidence.append(found)
    try:
        capacity, available, used = usage(root)
    except OSError as exc:
        raise Skip(f"cannot read the filesystem of {root}: {exc.strerror}") from None
    high, low, config_ev, where = thresholds(probe)
    if config_ev:
        evidence.append(config_ev)
    evidence.append(
        Evidence(
            f"statvfs({root})",
            f"capacity {bytes_words(capacity)}, available {bytes_words(available)}, used {used}% (100 - available * 100 / capacity, as the kubelet counts)",
            kind="system",
        )
    )
    details = [f"image GC thresholds: high {high}%, low {low}% ({where})"]
    dup, unref, extra = _stores(probe)
    details += extra
    status = Status.OK
    fixes: list[Fix] = []
    if used >= high:
        status = Status.FAIL
        summary = (
            f"the image filesystem ({root}) is {used}% full, at or above the kubelet's image GC high "
            f"threshold {high}%: a kubelet deletes unused images down to {low}%, and may evict pods for disk "
            "pressure"
        )
    elif used >= low:
        status = Status.WARN
        summary = (
            f"the image filesystem ({root}) is {used}% full, above the kubelet's image GC low threshold "
            f"{low}% (image GC starts at {high}%)"
        )
    else:
        summary = (
            f"the image filesystem ({root}) is {used}% full, below the kubelet's image GC thresholds ({low}%, {high}%)"
        )
    if status is not Status.OK:
        fixes.append(
            Fix(
                "remove the images no container uses, through the CRI (pinned images, like the sandbox "
                "image, stay); `ctrtool df` shows which store holds what",
                commands=[shlex.join(["ctrtool", "prune", "--backend", "crictl", "--all", "--yes"])],
            )
        )
        if dup:
            fixes.append(
                Fix(
                    f"{bytes_words(dup)} are unpacked more than once across stores: remove the copies the "
                    "kubelet does not need (docker's, namespace default's); `ctrtool explain IMAGE` says which",
                    commands=[shlex.join(["ctrtool", "df"])],
                )
            )
    return Result(NAME, TITLE, status, summary, evidence=evidence, fixes=fixes, details=details)


def _stores(probe: Probe) -> tuple[int, int, list[str]]:
    """Duplicated bytes (core.disk_usage, as `ctrtool df`) and blob bytes no image refers to."""
    from ... import core
    from ...adapters.base import BLOB_COPY

    try:
        got: Any = probe.fact("df", lambda: core.disk_usage(probe.settings, probe.present_backends()))
    except CtrtoolError as exc:
        return 0, 0, [f"store usage not measured: {exc.message}"]
    details = [f"unpacked more than once across stores: {bytes_words(got.could_save)} (`ctrtool df`)"]
    unreferenced = 0
    for row in got.rows:
        if row.kind != BLOB_COPY:
            continue
        referenced = {e.key for e in row.entries}
        blobs = os.path.join(row.path, "blobs", "sha256")
        try:
            names = os.listdir(blobs)
        except OSError:
            continue
        for name in names:
            if f"sha256:{name}" not in referenced:
                try:
                    unreferenced += os.path.getsize(os.path.join(blobs, name))
                except OSError:
                    pass
        details.append(
            f"blobs in {row.path} that no image refers to: {bytes_words(unreferenced)} (containerd's garbage "
            "collector removes them unless a lease holds them: `ctr leases ls`)"
        )
    return got.could_save, unreferenced, details
