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
        endpoint = probe.settings.endpoint(probe.cri).address
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


def df_percent(path: str) -> int:
    """What ``df -h`` prints as Use%: used / (used + available), rounded up, with used = blocks -
    free. It leaves out the blocks reserved for root and those neither used nor available to anyone
    (a thin volume's), which the kubelet counts as full: the two can differ a lot."""
    st = os.statvfs(path)
    used = st.f_blocks - st.f_bfree
    total = used + st.f_bavail
    return -(-used * 100 // total) if total else 0


def run(probe: Probe, options: Options) -> Result:
    try:
        root = probe.cri_imagefs()
    except CtrtoolError as exc:
        root = None
        cri_error: CtrtoolError | None = exc
    else:
        cri_error = None
    for backend in probe.own_daemons() if not root else ():
        try:
            root = probe.answer(backend).root
        except CtrtoolError:
            root = None
        if root:
            break
    if not root:
        raise Skip(
            "no image filesystem found: the CRI did not report one and docker did not answer",
            [error_evidence(cri_error)] if cri_error else [],
        )
    evidence: list[Evidence] = []
    found = probe.evidence("imagefsinfo", "--output", "json", tool=probe.cri, excerpt=f"fsId.mountpoint: {root}")
    if found:
        evidence.append(found)
    try:
        capacity, available, used = usage(root)
        shown = df_percent(root)
    except OSError as exc:
        raise Skip(f"cannot read the filesystem of {root}: {exc.strerror}") from None
    high, low, config_ev, where = thresholds(probe)
    if config_ev:
        evidence.append(config_ev)
    evidence.append(
        Evidence(
            f"statvfs({root})",
            f"capacity {bytes_words(capacity)}, available {bytes_words(available)}, used {used}% (100 - available * 100 / capacity, as the kubelet counts; df -h says {shown}%: used / (used + available))",
            kind="system",
        )
    )
    details = [
        f"image GC thresholds: high {high}%, low {low}% ({where})",
        f"{used}% is the kubelet's count, 100 - available * 100 / capacity; `df -h` says {shown}%, "
        "used / (used + available), which leaves out reserved blocks",
    ]
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
                "see which bytes nothing needs and free exactly those: `ctrtool df --plan` lists the removals "
                "(never an image of the kubelet's store, a pinned or the sandbox image, or a container), each with the bytes "
                "it frees and the command that asks before it acts"
                + (f"; {bytes_words(dup)} are unpacked more than once across stores" if dup else ""),
                commands=[shlex.join(["ctrtool", "df", "--plan"])],
            )
        )
    return Result(NAME, TITLE, status, summary, evidence=evidence, fixes=fixes, details=details)


def _stores(probe: Probe) -> tuple[int, int, list[str]]:
    """Duplicated bytes (disk_usage, as `ctrtool df`) and, from the byte account, what the
    kubelet's image GC can neither see nor free, with numbers."""
    from ...core.query import cri_namespace
    from ...core.storage import disk_usage

    try:
        got: Any = probe.fact("df", lambda: disk_usage(probe.settings, probe.present_backends()))
    except CtrtoolError as exc:
        return 0, 0, [f"store usage not measured: {exc.message}"]
    details = [f"unpacked more than once across stores: {bytes_words(got.could_save)} (`ctrtool df`)"]
    orphans = 0
    for line in blind_spots(got.account, cri_namespace()):
        details.append(line)
    for root in got.account:
        from ...account import ORPHANS

        orphans += sum(root.of(b) for b in ORPHANS)
    return got.could_save, orphans, details


def blind_spots(roots: list, namespace: str) -> list[str]:
    """Why the kubelet's image GC frees nothing, per storage root, in bytes."""
    from ...adapters.containerd_account import kubelet_blind

    lines = []
    for root in roots:
        blind = kubelet_blind(root, namespace)
        if not blind:
            continue
        lines.append(
            f"under {root.root} the kubelet's image GC can neither see nor free "
            f"{bytes_words(sum(blind.values()))}: images outside {namespace} {bytes_words(blind['outside'])}; "
            f"the content store beside the image filesystem {bytes_words(blind['content_store'])}; "
            f"pinned and in-use images {bytes_words(blind['pinned_or_in_use'])}; "
            f"what nothing needs (orphans, leases) {bytes_words(blind['orphans'])} (`ctrtool df` accounts for every byte)"
        )
    from ...adapters.cstorage_account import TOOL as CSTORAGE
    from ...adapters.cstorage_account import kubelet_blind as cstorage_blind

    for root in roots:
        blind = cstorage_blind(root)
        if blind:
            lines.append(
                f"under {root.root} (the CRI runtime's containers/storage) the kubelet's image GC frees none of "
                f"{bytes_words(sum(blind.values()))}: in-use images {bytes_words(blind['in_use'])}; "
                f"layers nothing needs (orphaned) {bytes_words(blind['orphans'])} (`ctrtool df` accounts for every byte)"
            )
    for root in roots:
        if not root.cri_visible and root.of_needed_layers():
            whose = "docker's own"
            if root.tool == CSTORAGE:
                whose = "a containers/storage store's (podman's, or a user's rootless one)"
            lines.append(
                f"under {root.root} {whose} image layers, {bytes_words(root.of_needed_layers())}: the kubelet "
                "does not see them at all"
            )
    return lines
