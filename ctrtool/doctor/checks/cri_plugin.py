"""CRI plugin: is containerd's CRI plugin loaded and serving? When it is disabled (the containerd
package of docker's repositories ships ``disabled_plugins = ["cri"]``), the config file containerd
was started with (from its command line) and the line to change, with the plugin names of that
config version."""

from __future__ import annotations

import json
import re

from ...errors import CtrtoolError
from ...facts import Plugin
from .. import Evidence, Fix, Options, Result, Skip, Status
from ..probe import Probe
from .common import error_evidence, file_evidence

NAME = "cri_plugin"
TITLE = "CRI plugin: loaded in containerd and serving the kubelet's API"

# the CRI plugins by config version: 1.x (config version 1, 2) has one; 2.x (3 and later) splits it
CRI_PLUGINS_V1 = ("io.containerd.grpc.v1.cri",)
CRI_PLUGINS_V2 = ("io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri")
# the names a disabled_plugins list may use for them ("cri" is the short name 1.x accepts)
CRI_NAMES = {"cri", *CRI_PLUGINS_V1, *CRI_PLUGINS_V2}


def is_cri_row(row: Plugin) -> bool:
    return (row.type, row.id) == ("io.containerd.grpc.v1", "cri") or row.type == "io.containerd.cri.v1"


def run(probe: Probe, options: Options) -> Result:
    evidence: list[Evidence] = []
    rows = None
    ctr_error = cri_error = None
    try:
        rows = probe.ctr_plugins()
    except CtrtoolError as exc:
        ctr_error = exc
    runtime = None
    try:
        runtime = probe.cri_version().runtime
    except CtrtoolError as exc:
        cri_error = exc
    if runtime and runtime != "containerd":  # CRI-O: the CRI is the runtime itself, no plugin of containerd's
        found = probe.evidence("version", tool=probe.cri, pick=lambda line: "Runtime" in line)
        return Result(
            NAME,
            TITLE,
            Status.OK,
            f"the CRI answers: its runtime is {runtime}, which serves the CRI itself (no containerd plugin to check)",
            evidence=[found] if found else [],
        )
    if rows is None and cri_error is not None:
        raise Skip(
            "neither containerd (ctr) nor the CRI (crictl) answered: see the endpoints check",
            [error_evidence(e) for e in (ctr_error, cri_error) if e is not None],
        )
    cri_rows = [r for r in rows or [] if is_cri_row(r)]
    if rows is not None:
        found = probe.evidence(
            "plugins",
            "ls",
            tool=probe.containerd,
            pick=lambda line: "cri" in line,
            header=lambda line: line.startswith("TYPE"),
        )
        if found:
            evidence.append(found)
    not_ok = [r for r in cri_rows if not r.loaded]
    unknown_service = cri_error is not None and "unknown service" in cri_error.message
    if cri_error is not None:
        evidence.append(error_evidence(cri_error))
    else:
        found = probe.evidence("version", tool=probe.cri, pick=lambda line: "Runtime" in line)
        if found:
            evidence.append(found)
    if rows is not None and cri_rows and not not_ok and cri_error is None:
        names = ", ".join(f"{r.type}.{r.id}" for r in cri_rows)
        return Result(NAME, TITLE, Status.OK, f"the CRI plugin is loaded ({names}) and answers", evidence=evidence)
    if rows is None and cri_error is None:
        return Result(
            NAME,
            TITLE,
            Status.OK,
            "the CRI answers (containerd's plugin list was not readable: ctr did not answer)",
            evidence=evidence + ([error_evidence(ctr_error)] if ctr_error else []),
        )
    if cri_error is not None and not unknown_service and cri_rows and not not_ok:
        # the plugin is there; crictl does not reach it: an endpoint problem (the endpoints check
        # reports it and gives its fix), not the plugin's
        return Result(
            NAME,
            TITLE,
            Status.OK,
            "the CRI plugin is loaded in containerd (crictl does not reach it: see the endpoints check)",
            evidence=evidence,
            details=[cri_error.message],
        )
    return _disabled(probe, rows, cri_rows, not_ok, evidence, cri_error)


def _disabled(probe: Probe, rows, cri_rows, not_ok, evidence: list[Evidence], cri_error) -> Result:
    from ..procs import serving

    ctr_address = probe.settings.endpoint(probe.containerd).address
    daemon = serving(ctr_address) or serving(probe.settings.endpoint(probe.cri).address)
    failed = [r for r in not_ok if r.status.lower() == "error"]
    if rows is not None and failed and len(failed) == len(not_ok):
        what = ", ".join(f"{r.type}.{r.id}" for r in failed)
        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            f"the CRI plugin failed to start ({what}): `ctr plugins ls -d` and containerd's log say why",
            evidence=evidence,
            fixes=[Fix("read the plugin's error, fix the CRI section of containerd's config, restart containerd")],
        )
    said = re.search(r"unknown service [\w.]+", cri_error.message) if cri_error is not None else None
    summary = "the CRI plugin is not loaded" + (
        f" (not in `ctr plugins ls`): crictl, and so the kubelet, get '{said[0]}'"
        if said
        else " (not in `ctr plugins ls`)"
        if rows is not None
        else ""
    )
    if daemon is None:
        from ...output import one_line
        from ..procs import claims

        return Result(
            NAME,
            TITLE,
            Status.FAIL,
            summary,
            details=[f"no containerd process serving {ctr_address} was found in /proc to read its config from"]
            + [
                one_line(
                    f"process {pid} (uid {uid}) is named containerd but another user started it: a claim, not "
                    f"believed ({' '.join(argv)[:200]})"
                )
                for pid, uid, argv in claims("containerd")
            ],
            evidence=evidence,
            fixes=[
                Fix(
                    "remove the CRI plugins from disabled_plugins in containerd's config "
                    "(default /etc/containerd/config.toml), then restart containerd",
                    commands=["systemctl restart containerd"],
                )
            ],
        )
    evidence.append(Evidence(f"/proc/{daemon.pid}/cmdline", " ".join(daemon.cmdline), kind="file"))
    disabled = [p for p in daemon.config.get("disabled_plugins") or [] if isinstance(p, str)]
    cri_off = [p for p in disabled if p in CRI_NAMES]
    version = daemon.version
    plugins = CRI_PLUGINS_V2 if version >= 3 else CRI_PLUGINS_V1
    line = daemon.line_of("disabled_plugins")
    if line:
        evidence.append(file_evidence(f"{daemon.config_path}:{line[0]}", [line[1].strip()]))
    keep = [p for p in disabled if p not in CRI_NAMES]
    fixes = [
        Fix(
            f"enable the CRI plugin{'s' if len(plugins) > 1 else ''} ({', '.join(plugins)}; config version "
            f"{version}): in {daemon.config_path}, replace the disabled_plugins line"
            + (f" (line {line[0]})" if line else "")
            + " with the one below, then restart containerd (pid "
            f"{daemon.pid})",
            file=daemon.config_path,
            lines=[f"disabled_plugins = {json.dumps(keep)}"],
            commands=["systemctl restart containerd"],
        )
    ]
    details = [
        f"containerd (pid {daemon.pid}) was started with config {daemon.config_path} (version {version})",
        *([f"its config was not read: {daemon.config_problem}"] if daemon.config_problem else []),
        f"disabled_plugins there: {json.dumps(disabled)}" if cri_off else "its disabled_plugins do not name the CRI",
    ]
    return Result(NAME, TITLE, Status.FAIL, summary, details=details, evidence=evidence, fixes=fixes)
