"""Endpoints: the socket each tool would use, how it was found, and whether it answers; crictl with
no configuration (it then probes deprecated defaults); docker on another containerd than the CRI's."""

from __future__ import annotations

from typing import Any

from ...errors import CtrtoolError, Unsupported
from .. import Evidence, Fix, Options, Result, Status
from ..probe import Probe
from .common import error_evidence, same_socket

NAME = "endpoints"
TITLE = "Endpoints: which socket each tool uses, and whether it answers"


def run(probe: Probe, options: Options) -> Result:
    from ...adapters import BACKENDS, get_descriptor

    status = Status.OK
    details: list[str] = []
    evidence: list[Evidence] = []
    fixes: list[Fix] = []
    endpoints = {b: probe.settings.endpoint(b) for b in BACKENDS}
    answered: dict[str, bool] = {}
    for backend in BACKENDS:
        ep = endpoints[backend]
        if not probe.installed(backend):
            details.append(f"{backend}: not installed ({probe.settings.binary(backend)} is not on PATH)")
            continue
        if not get_descriptor(backend).needs_endpoint:  # a daemonless tool: nothing to reach
            details.append(f"{backend}: no daemon, so no endpoint to check")
            continue
        if ep.address is None:
            details.append(f"{backend}: no endpoint found (looked at {', '.join(ep.looked_at)})")
            continue
        try:
            answer = probe.answer(backend)  # each adapter's one cheap call, kept by the probe
        except Unsupported as exc:  # a backend that cannot be asked: said, not failed
            details.append(f"{backend}: {ep.address} (from {ep.source}): {exc.message}")
            continue
        except CtrtoolError as exc:
            answered[backend] = False
            status = Status.FAIL
            details.append(f"{backend}: {ep.address} (from {ep.source}) does not answer: {exc.message}")
            evidence.append(error_evidence(exc))
            continue
        answered[backend] = True
        details.append(f"{backend}: {ep.address} (from {ep.source}) answers")
        if answer.excerpt is not None:
            found = probe.evidence(answer.call, tool=backend, excerpt=answer.excerpt)
        else:
            found = probe.evidence(answer.call, tool=backend, pick=_version_lines)
        if found:
            evidence.append(found)

    # crictl without a configuration: by hand it probes the defaults (the dockershim socket is gone
    # since Kubernetes 1.24), warns on every call, and may pick the wrong runtime
    cri = endpoints[probe.cri]
    configured = cri.tool_config or not cri.source.startswith(("default location", "none found"))
    if probe.installed(probe.cri) and not configured:
        target = cri.address or _containerd_socket(probe, endpoints)
        path = _crictl_config_path(probe)
        if cri.address is None:
            status = Status.FAIL
            summary_cri = (
                f"{probe.cri} has no endpoint: no config file, no CONTAINER_RUNTIME_ENDPOINT, no default socket"
            )
        else:
            status = max(status, Status.WARN, key=_rank)
            summary_cri = (
                f"{probe.cri} has no config file ({path} is missing) and no CONTAINER_RUNTIME_ENDPOINT: "
                f"by hand it probes deprecated default sockets (it found {cri.address})"
            )
        details.append(summary_cri)
        evidence.append(
            Evidence(path, "(no such file)", kind="file")
            if not cri.tool_config
            else Evidence(cri.tool_config, "(no runtime-endpoint)", kind="file")
        )
        endpoint = _unix(target) if target else "unix:///run/containerd/containerd.sock"
        fixes.append(
            Fix(
                f"tell crictl which CRI runtime to use: write {path}"
                + ("" if target else " (the socket of your CRI runtime: containerd's default shown)"),
                file=path,
                lines=[f"runtime-endpoint: {endpoint}", f"image-endpoint: {endpoint}", "timeout: 10"],
            )
        )

    # a daemon (docker) on another containerd than the CRI's
    for backend in BACKENDS:
        if get_descriptor(backend).reports_containerd and answered.get(backend) and answered.get(probe.cri):
            _daemon_vs_cri(probe, backend, cri.address, details, evidence, fixes)
            if any(f.summary.startswith(f"make {backend} use") for f in fixes):
                status = max(status, Status.WARN, key=_rank)

    silent = [b for b, ok in answered.items() if not ok]
    daemons = [b for b in BACKENDS if get_descriptor(b).reports_containerd]
    problems = [d for d in details if d.startswith((f"{probe.cri} has no", *(f"{b} works with" for b in daemons)))]
    if silent:
        names = ", ".join(silent[:-1]) + (" and " if len(silent) > 1 else "") + silent[-1]
        problems.insert(
            0,
            f"{names} {'do' if len(silent) > 1 else 'does'} not answer at {'their' if len(silent) > 1 else 'its'} endpoint{'s' if len(silent) > 1 else ''}",
        )
    if status is Status.OK:
        summary = "every installed tool has an endpoint that answers" if answered else "no tool answered"
        if not answered:
            status = Status.FAIL
    else:
        summary = "; ".join(problems) if problems else details[0]
    return Result(NAME, TITLE, status, summary, evidence=evidence, fixes=fixes, details=details)


def _rank(s: Status) -> int:
    return [Status.OK, Status.SKIPPED, Status.WARN, Status.FAIL].index(s)


def _version_lines(line: str) -> bool:
    return line.strip().startswith(("Version", "Runtime", "Server")) and len(line) < 400


def _unix(address: str) -> str:
    return address if "://" in address else f"unix://{address}"


def _crictl_config_path(probe: Probe) -> str:
    from ...adapters.discovery import cri_config_path

    return cri_config_path(probe.settings)


def _containerd_socket(probe: Probe, endpoints: dict[str, Any]) -> str | None:
    """The containerd ctr reaches (the CRI is a plugin of it), if ctr has one."""
    ctr = endpoints.get(probe.containerd)
    return ctr.address if ctr is not None and ctr.address else None


def _daemon_vs_cri(
    probe: Probe,
    backend: str,
    cri_address: str | None,
    details: list[str],
    evidence: list[Evidence],
    fixes: list[Fix],
) -> None:
    answer = probe.answer(backend)
    containerd = answer.containerd
    if not containerd:
        details.append(
            f"{backend} {answer.version} does not say which containerd it uses (docker info has no "
            "Containerd.Address before Docker 23)"
        )
        return
    found = probe.evidence(answer.call, tool=backend, excerpt=f"Containerd.Address: {containerd}")
    if same_socket(containerd, cri_address):
        details.append(f"{backend} works with the CRI's containerd ({containerd})")
        return
    details.append(
        f"{backend} works with the containerd at {containerd}, the kubelet's CRI with the one at {cri_address}: "
        "images and containers of one are invisible to the other"
    )
    if found:
        evidence.append(found)
    from ..procs import DOCKER_CONFIG, dockerd_serving

    daemon = dockerd_serving(probe.settings.endpoint(backend).address)
    config = daemon[2] if daemon else DOCKER_CONFIG
    if daemon:
        evidence.append(Evidence(f"/proc/{daemon[0]}/cmdline", " ".join(daemon[1]), kind="file"))
        if "--containerd" in " ".join(daemon[1]):
            details.append("dockerd's command line sets --containerd: change it there (it wins over daemon.json)")
    target = (cri_address or "").removeprefix("unix://")
    fixes.append(
        Fix(
            f'make {backend} use the CRI\'s containerd: set "containerd" in {config} (the config file dockerd '
            "reads), then restart dockerd",
            file=config,
            lines=[f'"containerd": "{target}"'],
            commands=["systemctl restart docker"],
        )
    )
